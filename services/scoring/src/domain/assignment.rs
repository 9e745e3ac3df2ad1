//! Assigning portfolios to scorers.
//!
//! A scoring session has a set of portfolios (each from one school) and a set
//! of scorers (each optionally belonging to a school). [`plan`] decides who
//! reads what:
//!
//! * **Every portfolio gets a first read.**
//! * **A share of portfolios also gets a blind second read** (default 20%),
//!   always by a *different* scorer than the first read. Which portfolios are
//!   sampled is decided by [`second_read_sample`].
//! * **No scorer reads a portfolio from their own school**, unless
//!   [`Options::allow_own_school`] is set. A scorer without a school never has
//!   a school conflict.
//! * **Load balancing:** each read goes to the permitted scorer with the least
//!   current load (the reads they already had in the session plus the reads
//!   planned so far), ties broken by scorer id ascending.
//! * Portfolios are processed in the order given, the first read before the
//!   second. A portfolio that cannot get a first read is listed as
//!   unassignable and gets no second read either; one that gets a first read
//!   but no second read lists just the second read as unassignable.
//!
//! # Sampling
//!
//! Samples are deterministic given their inputs: the same portfolios, share
//! and seed (the session id) always give the same set, in any input order.
//! Items are ordered by a stable 64-bit hash of the seed's 16 bytes followed
//! by the item id's 16 bytes (FNV-1a 64 over the 32 bytes, then the
//! MurmurHash3 64-bit finaliser to spread the bits), ties broken by id, and
//! the first `ceil(share * n)` are taken. Because each item's position
//! depends only on the seed and its own id, a larger share always selects a
//! superset of a smaller one.
//!
//! The count `ceil(share * n)` is computed so that floating-point noise does
//! not push an exact product up (`0.7 * 10` is 7, not 8). Shares that are not
//! positive (or NaN) select nothing; shares above 1 select everything.
//!
//! [`backread_sample`] uses the same ordering to pick, per scorer, the scored
//! items a supervisor should still backread to meet a quota.
//!
//! Everything here is pure: no I/O, no OS randomness, no panics.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use uuid::Uuid;

/// A portfolio to be read, and the school it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioSlot {
    /// The portfolio.
    pub portfolio: Uuid,
    /// The school the portfolio comes from.
    pub school: Uuid,
}

/// A scorer available in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScorerSlot {
    /// The scorer.
    pub scorer: Uuid,
    /// The scorer's own school, if any; `None` means no school conflict is
    /// possible.
    pub school: Option<Uuid>,
    /// Reads already assigned to this scorer in the session.
    pub load: u32,
}

/// Which read of a portfolio an assignment is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// The first read every portfolio gets.
    First,
    /// The blind second read a sampled portfolio gets.
    Second,
    /// A cluster lead's third read resolving a disagreement.
    Third,
    /// A supervisor's backread checking a scorer's work.
    Backread,
}

impl ReadKind {
    /// The stable string form: `"first"`, `"second"`, `"third"` or
    /// `"backread"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::First => "first",
            ReadKind::Second => "second",
            ReadKind::Third => "third",
            ReadKind::Backread => "backread",
        }
    }

    /// Parses the string form produced by [`ReadKind::as_str`]; any other
    /// input gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "first" => Some(ReadKind::First),
            "second" => Some(ReadKind::Second),
            "third" => Some(ReadKind::Third),
            "backread" => Some(ReadKind::Backread),
            _ => None,
        }
    }
}

/// One planned read: `scorer` reads `portfolio` as its `kind` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The portfolio to read.
    pub portfolio: Uuid,
    /// Who reads it.
    pub scorer: Uuid,
    /// Which read this is.
    pub kind: ReadKind,
}

/// A read that could not be assigned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unassignable {
    /// The portfolio that could not be assigned.
    pub portfolio: Uuid,
    /// Which read could not be assigned.
    pub kind: ReadKind,
    /// Why, e.g. "no eligible scorer outside the portfolio's school".
    pub reason: String,
}

/// The outcome of [`plan`]: reads to create, and reads that could not be
/// assigned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Planned reads, in the order portfolios were given (first read, then
    /// second read, per portfolio).
    pub reads: Vec<Planned>,
    /// Reads that could not be assigned, in the same order.
    pub unassignable: Vec<Unassignable>,
}

/// Settings for [`plan`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Share of portfolios that get a second read, `0.0..=1.0` (values outside
    /// are clamped; NaN counts as 0). Default 0.2.
    pub second_read_share: f64,
    /// Whether scorers may read portfolios from their own school. Default
    /// `false`.
    pub allow_own_school: bool,
    /// Seed for the second-read sample; pass the session id so the sample is
    /// reproducible. Default: the nil UUID.
    pub seed: Uuid,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            second_read_share: 0.2,
            allow_own_school: false,
            seed: Uuid::nil(),
        }
    }
}

/// FNV-1a 64-bit hash of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// MurmurHash3's 64-bit finaliser: spreads the influence of every input bit
/// over the whole output, which FNV-1a alone does poorly for the last bytes.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The stable sampling hash of `id` under `seed`.
fn seeded_hash(seed: Uuid, id: Uuid) -> u64 {
    let mut bytes = [0u8; 32];
    let (head, tail) = bytes.split_at_mut(16);
    head.copy_from_slice(seed.as_bytes());
    tail.copy_from_slice(id.as_bytes());
    fmix64(fnv1a64(&bytes))
}

/// Sorts distinct ids into the seeded sampling order.
fn sampling_order(ids: impl IntoIterator<Item = Uuid>, seed: Uuid) -> Vec<Uuid> {
    let distinct: BTreeSet<Uuid> = ids.into_iter().collect();
    let mut ordered: Vec<Uuid> = distinct.into_iter().collect();
    ordered.sort_by_key(|id| (seeded_hash(seed, *id), *id));
    ordered
}

/// `ceil(share * n)`, clamped to `0..=n`, robust to floating-point noise
/// (the size of a sample, and a scorer's backread quota).
pub fn quota(share: f64, n: usize) -> usize {
    if n == 0 || share.is_nan() || share <= 0.0 {
        return 0;
    }
    let exact = share.min(1.0) * n as f64;
    let nearest = exact.round();
    // A product within a relative 1e-12 of a whole number is that number:
    // 0.7 * 10 evaluates to 7.000000000000001 and must not round up to 8.
    let count = if (exact - nearest).abs() <= nearest * 1e-12 {
        nearest
    } else {
        exact.ceil()
    };
    // Float-to-int `as` saturates; the clamp keeps the result within n.
    (count as usize).min(n)
}

/// The portfolios that get a second read: exactly `ceil(share * n)` of the
/// `n` distinct ids given (none if `share <= 0`, all if `share >= 1`),
/// chosen by the seeded hash ordering described in the module docs.
///
/// The result depends only on the set of ids, `share` and `seed`: input order
/// and repeated ids make no difference.
pub fn second_read_sample(portfolios: &[Uuid], share: f64, seed: Uuid) -> HashSet<Uuid> {
    let ordered = sampling_order(portfolios.iter().copied(), seed);
    let take = quota(share, ordered.len());
    ordered.into_iter().take(take).collect()
}

/// A scorer as tracked during planning.
struct Candidate {
    scorer: Uuid,
    school: Option<Uuid>,
    load: u32,
}

/// Index of the least-loaded candidate satisfying `allowed`, ties by id.
fn least_loaded(pool: &[Candidate], allowed: impl Fn(&Candidate) -> bool) -> Option<usize> {
    pool.iter()
        .enumerate()
        .filter(|(_, c)| allowed(c))
        .min_by_key(|(_, c)| (c.load, c.scorer))
        .map(|(i, _)| i)
}

/// Plans first and second reads for `portfolios` among `scorers` (see the
/// module docs for the rules).
///
/// A portfolio listed more than once is planned once, at its first
/// occurrence. A scorer listed more than once counts once, with the school
/// and load of their first occurrence. The plan is deterministic given its
/// inputs.
pub fn plan(portfolios: &[PortfolioSlot], scorers: &[ScorerSlot], opts: &Options) -> Plan {
    let ids: Vec<Uuid> = portfolios.iter().map(|p| p.portfolio).collect();
    let sample = second_read_sample(&ids, opts.second_read_share, opts.seed);

    let mut pool: Vec<Candidate> = Vec::with_capacity(scorers.len());
    for s in scorers {
        if !pool.iter().any(|c| c.scorer == s.scorer) {
            pool.push(Candidate {
                scorer: s.scorer,
                school: s.school,
                load: s.load,
            });
        }
    }

    let mut out = Plan::default();
    let mut seen: HashSet<Uuid> = HashSet::new();
    for p in portfolios {
        if !seen.insert(p.portfolio) {
            continue;
        }
        let permitted = |c: &Candidate| opts.allow_own_school || c.school != Some(p.school);

        let Some(first_idx) = least_loaded(&pool, permitted) else {
            let reason = if pool.is_empty() {
                "no scorers in the session"
            } else {
                "no eligible scorer outside the portfolio's school"
            };
            out.unassignable.push(Unassignable {
                portfolio: p.portfolio,
                kind: ReadKind::First,
                reason: reason.to_string(),
            });
            continue;
        };
        let first_reader = assign(&mut pool, first_idx, p.portfolio, ReadKind::First, &mut out);

        if !sample.contains(&p.portfolio) {
            continue;
        }
        match least_loaded(&pool, |c| permitted(c) && c.scorer != first_reader) {
            Some(idx) => {
                assign(&mut pool, idx, p.portfolio, ReadKind::Second, &mut out);
            }
            None => {
                let reason = if opts.allow_own_school {
                    "no second scorer in the session other than the first reader"
                } else {
                    "no second eligible scorer outside the portfolio's school other than the first reader"
                };
                out.unassignable.push(Unassignable {
                    portfolio: p.portfolio,
                    kind: ReadKind::Second,
                    reason: reason.to_string(),
                });
            }
        }
    }
    out
}

/// Records a planned read for `pool[idx]`, bumps their load and returns
/// their id. An out-of-range index (never produced by `least_loaded`) plans
/// nothing and returns the nil id.
fn assign(
    pool: &mut [Candidate],
    idx: usize,
    portfolio: Uuid,
    kind: ReadKind,
    out: &mut Plan,
) -> Uuid {
    let Some(c) = pool.get_mut(idx) else {
        return Uuid::nil();
    };
    c.load = c.load.saturating_add(1);
    out.reads.push(Planned {
        portfolio,
        scorer: c.scorer,
        kind,
    });
    c.scorer
}

/// The scored items still to be backread so that every scorer meets their
/// backread quota.
///
/// `scored` pairs each scorer with the id of something they scored (a score
/// or portfolio id); repeated pairs count once. For each scorer,
/// `required = ceil(share * distinct items scored)` and the scorer still
/// needs `required - already[scorer]` backreads (none if they are at or above
/// quota; a scorer missing from `already` has done none). Those items are the
/// first ones in the seeded hash ordering of that scorer's items.
///
/// The result lists scorers in ascending id order, each scorer's items in
/// sampling order; it does not depend on the order of `scored`. Only counts of
/// completed backreads are known here, so an item already backread may be
/// picked again; and an id scored by two scorers may appear once for each.
pub fn backread_sample(
    scored: &[(Uuid, Uuid)],
    share: f64,
    already: &HashMap<Uuid, u32>,
    seed: Uuid,
) -> Vec<Uuid> {
    let mut by_scorer: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (scorer, id) in scored {
        by_scorer.entry(*scorer).or_default().push(*id);
    }
    let mut out = Vec::new();
    for (scorer, ids) in by_scorer {
        let ordered = sampling_order(ids, seed);
        let required = quota(share, ordered.len());
        let done = already
            .get(&scorer)
            .map_or(0, |d| usize::try_from(*d).unwrap_or(usize::MAX));
        let need = required.saturating_sub(done);
        out.extend(ordered.into_iter().take(need));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Realistic time-ordered ids: v7 UUIDs built from fixed inputs.
    fn v7(n: u64) -> Uuid {
        let mut rand = [0u8; 10];
        rand[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(1_780_000_000_000 + n * 1000, &rand).into_uuid()
    }

    fn ids(range: std::ops::Range<u128>) -> Vec<Uuid> {
        range.map(id).collect()
    }

    fn portfolio(n: u128, school: u128) -> PortfolioSlot {
        PortfolioSlot {
            portfolio: id(n),
            school: id(school),
        }
    }

    fn scorer(n: u128, school: Option<u128>, load: u32) -> ScorerSlot {
        ScorerSlot {
            scorer: id(n),
            school: school.map(id),
            load,
        }
    }

    fn opts(share: f64) -> Options {
        Options {
            second_read_share: share,
            allow_own_school: false,
            seed: id(0xabc),
        }
    }

    fn loads(plan: &Plan) -> BTreeMap<Uuid, u32> {
        let mut m = BTreeMap::new();
        for r in &plan.reads {
            *m.entry(r.scorer).or_insert(0) += 1;
        }
        m
    }

    fn reader(plan: &Plan, portfolio: Uuid, kind: ReadKind) -> Option<Uuid> {
        plan.reads
            .iter()
            .find(|r| r.portfolio == portfolio && r.kind == kind)
            .map(|r| r.scorer)
    }

    const SEED: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

    #[test]
    fn read_kind_strings_round_trip() {
        for (k, text) in [
            (ReadKind::First, "first"),
            (ReadKind::Second, "second"),
            (ReadKind::Third, "third"),
            (ReadKind::Backread, "backread"),
        ] {
            assert_eq!(k.as_str(), text);
            assert_eq!(ReadKind::parse(text), Some(k));
        }
        assert_eq!(ReadKind::parse("First"), None);
        assert_eq!(ReadKind::parse(""), None);
    }

    #[test]
    fn options_default() {
        let o = Options::default();
        assert_eq!(o.second_read_share, 0.2);
        assert!(!o.allow_own_school);
        assert_eq!(o.seed, Uuid::nil());
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn seeded_hash_is_pinned() {
        // Stored samples must stay reproducible: changing the hash (or the
        // byte layout) changes every sample, so these values are fixed.
        assert_eq!(seeded_hash(SEED, id(7)), 0xd462_b003_befb_88fc);
        assert_eq!(seeded_hash(SEED, id(8)), 0xc231_0ee4_abfc_81f8);
    }

    #[test]
    fn seeded_hash_depends_on_seed_and_id() {
        assert_eq!(seeded_hash(SEED, id(7)), seeded_hash(SEED, id(7)));
        assert_ne!(seeded_hash(SEED, id(7)), seeded_hash(SEED, id(8)));
        assert_ne!(seeded_hash(SEED, id(7)), seeded_hash(id(1), id(7)));
    }

    #[test]
    fn share_math() {
        let ten = ids(1..11);
        let eleven = ids(1..12);
        assert_eq!(second_read_sample(&ten, 0.0, SEED).len(), 0);
        assert_eq!(second_read_sample(&ten, 0.2, SEED).len(), 2);
        assert_eq!(second_read_sample(&eleven, 0.2, SEED).len(), 3);
        assert_eq!(second_read_sample(&ten, 1.0, SEED).len(), 10);
        assert_eq!(
            second_read_sample(&ten, 1.0, SEED),
            ten.iter().copied().collect()
        );
        // Exact products are not pushed up by floating-point noise.
        assert_eq!(second_read_sample(&ten, 0.7, SEED).len(), 7);
        assert_eq!(second_read_sample(&ten, 0.3, SEED).len(), 3);
        assert_eq!(second_read_sample(&ids(1..101), 0.07, SEED).len(), 7);
        // Anything positive selects at least one.
        assert_eq!(second_read_sample(&ten, 1e-9, SEED).len(), 1);
        assert_eq!(second_read_sample(&ten, 0.01, SEED).len(), 1);
    }

    #[test]
    fn out_of_range_shares_are_clamped() {
        let ten = ids(1..11);
        assert!(second_read_sample(&ten, -0.5, SEED).is_empty());
        assert!(second_read_sample(&ten, f64::NAN, SEED).is_empty());
        assert_eq!(second_read_sample(&ten, 1.5, SEED).len(), 10);
        assert_eq!(second_read_sample(&ten, f64::INFINITY, SEED).len(), 10);
        assert!(second_read_sample(&[], 0.5, SEED).is_empty());
    }

    #[test]
    fn sample_takes_the_lowest_hashes() {
        let all = ids(1..51);
        let sample = second_read_sample(&all, 0.2, SEED);
        let mut hashes: Vec<(u64, Uuid)> =
            all.iter().map(|p| (seeded_hash(SEED, *p), *p)).collect();
        hashes.sort();
        let expected: HashSet<Uuid> = hashes.iter().take(10).map(|(_, p)| *p).collect();
        assert_eq!(sample, expected);
    }

    #[test]
    fn sample_is_deterministic_and_order_independent() {
        let all: Vec<Uuid> = (0..40).map(v7).collect();
        let a = second_read_sample(&all, 0.25, SEED);
        assert_eq!(a.len(), 10);
        assert_eq!(a, second_read_sample(&all, 0.25, SEED));
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(a, second_read_sample(&reversed, 0.25, SEED));
        let mut shuffled: Vec<Uuid> = all
            .iter()
            .skip(13)
            .chain(all.iter().take(13))
            .copied()
            .collect();
        shuffled.swap(0, 20);
        assert_eq!(a, second_read_sample(&shuffled, 0.25, SEED));
        // Repeated ids do not change the sample.
        let mut doubled = all.clone();
        doubled.extend(all.iter().take(5));
        assert_eq!(a, second_read_sample(&doubled, 0.25, SEED));
        // Every sampled id is an input id.
        assert!(a.iter().all(|p| all.contains(p)));
    }

    #[test]
    fn sample_depends_on_the_seed() {
        let all: Vec<Uuid> = (0..100).map(v7).collect();
        let a = second_read_sample(&all, 0.2, SEED);
        let b = second_read_sample(&all, 0.2, id(42));
        assert_eq!(a.len(), 20);
        assert_eq!(b.len(), 20);
        assert_ne!(a, b);
    }

    #[test]
    fn sample_is_not_just_the_smallest_or_latest_ids() {
        // Time-ordered ids must not make the sample the earliest/latest ones.
        let all: Vec<Uuid> = (0..100).map(v7).collect();
        let sample = second_read_sample(&all, 0.2, SEED);
        let early = all.iter().take(50).filter(|p| sample.contains(p)).count();
        assert!((4..=16).contains(&early), "{early} of 20 in the first half");
    }

    #[test]
    fn larger_share_is_a_superset() {
        let all = ids(1..61);
        let small = second_read_sample(&all, 0.1, SEED);
        let large = second_read_sample(&all, 0.5, SEED);
        assert_eq!(small.len(), 6);
        assert_eq!(large.len(), 30);
        assert!(small.is_subset(&large));
    }

    #[test]
    fn own_school_is_excluded() {
        // Portfolio from school 100; scorer 1 is from 100 with no load,
        // scorer 2 is from 200 with a heavy load: scorer 2 must get it.
        let ps = [portfolio(10, 100)];
        let ss = [scorer(1, Some(100), 0), scorer(2, Some(200), 9)];
        let p = plan(&ps, &ss, &opts(0.0));
        assert_eq!(
            p.reads,
            vec![Planned {
                portfolio: id(10),
                scorer: id(2),
                kind: ReadKind::First
            }]
        );
        assert!(p.unassignable.is_empty());
    }

    #[test]
    fn allow_own_school_permits_own_school() {
        let ps = [portfolio(10, 100)];
        let ss = [scorer(1, Some(100), 0), scorer(2, Some(200), 9)];
        let o = Options {
            allow_own_school: true,
            ..opts(0.0)
        };
        let p = plan(&ps, &ss, &o);
        assert_eq!(reader(&p, id(10), ReadKind::First), Some(id(1)));
    }

    #[test]
    fn scorer_without_school_has_no_conflict() {
        let ps = [portfolio(10, 100), portfolio(11, 100)];
        let ss = [scorer(1, None, 0), scorer(2, Some(100), 0)];
        let p = plan(&ps, &ss, &opts(0.0));
        assert_eq!(reader(&p, id(10), ReadKind::First), Some(id(1)));
        assert_eq!(reader(&p, id(11), ReadKind::First), Some(id(1)));
        assert!(p.unassignable.is_empty());
    }

    #[test]
    fn second_reader_never_equals_first_reader() {
        let ps: Vec<PortfolioSlot> = (0..30).map(|n| portfolio(1000 + n, 100 + n % 3)).collect();
        let ss = [
            scorer(1, Some(100), 0),
            scorer(2, Some(101), 0),
            scorer(3, Some(102), 0),
            scorer(4, None, 0),
        ];
        let p = plan(&ps, &ss, &opts(1.0));
        assert!(p.unassignable.is_empty(), "{:?}", p.unassignable);
        assert_eq!(p.reads.len(), 60);
        for slot in &ps {
            let first = reader(&p, slot.portfolio, ReadKind::First).unwrap();
            let second = reader(&p, slot.portfolio, ReadKind::Second).unwrap();
            assert_ne!(first, second);
            for s in [first, second] {
                let school = ss.iter().find(|x| x.scorer == s).unwrap().school;
                assert_ne!(school, Some(slot.school));
            }
        }
    }

    #[test]
    fn loads_are_balanced() {
        let ps: Vec<PortfolioSlot> = (0..10).map(|n| portfolio(100 + n, 9)).collect();
        let ss = [scorer(3, None, 0), scorer(1, None, 0), scorer(2, None, 0)];
        let p = plan(&ps, &ss, &opts(0.0));
        let l = loads(&p);
        // Ties go to the lowest id, so scorer 1 takes the extra read.
        assert_eq!(l, BTreeMap::from([(id(1), 4), (id(2), 3), (id(3), 3)]));
        // Round-robin by id: 1, 2, 3, 1, 2, 3, ...
        let order: Vec<Uuid> = p.reads.iter().map(|r| r.scorer).collect();
        assert_eq!(order[..4], [id(1), id(2), id(3), id(1)]);
        // Portfolios are processed in the order given.
        let ported: Vec<Uuid> = p.reads.iter().map(|r| r.portfolio).collect();
        assert_eq!(ported, ps.iter().map(|s| s.portfolio).collect::<Vec<_>>());
    }

    #[test]
    fn second_reads_count_towards_load() {
        // 10 portfolios with 20% second reads = 12 reads over 3 scorers.
        let ps: Vec<PortfolioSlot> = (0..10).map(|n| portfolio(100 + n, 9)).collect();
        let ss = [scorer(1, None, 0), scorer(2, None, 0), scorer(3, None, 0)];
        let p = plan(&ps, &ss, &opts(0.2));
        assert_eq!(p.reads.len(), 12);
        assert_eq!(
            p.reads
                .iter()
                .filter(|r| r.kind == ReadKind::Second)
                .count(),
            2
        );
        assert_eq!(
            loads(&p),
            BTreeMap::from([(id(1), 4), (id(2), 4), (id(3), 4)])
        );
        // The second reads are exactly the sampled portfolios.
        let sampled = second_read_sample(
            &ps.iter().map(|s| s.portfolio).collect::<Vec<_>>(),
            0.2,
            id(0xabc),
        );
        let seconds: HashSet<Uuid> = p
            .reads
            .iter()
            .filter(|r| r.kind == ReadKind::Second)
            .map(|r| r.portfolio)
            .collect();
        assert_eq!(seconds, sampled);
        // A second read immediately follows its portfolio's first read.
        for (i, r) in p.reads.iter().enumerate() {
            if r.kind == ReadKind::Second {
                assert_eq!(p.reads[i - 1].portfolio, r.portfolio);
                assert_eq!(p.reads[i - 1].kind, ReadKind::First);
            }
        }
    }

    #[test]
    fn existing_load_is_respected() {
        // Starting loads 5 / 0 / 1. Scorer 1 gets nothing until the others
        // catch up to 5; the tenth read then goes to scorer 1 (all at 5,
        // lowest id wins).
        let ps: Vec<PortfolioSlot> = (0..10).map(|n| portfolio(100 + n, 9)).collect();
        let ss = [scorer(1, None, 5), scorer(2, None, 0), scorer(3, None, 1)];
        let p = plan(&ps, &ss, &opts(0.0));
        assert_eq!(
            loads(&p),
            BTreeMap::from([(id(1), 1), (id(2), 5), (id(3), 4)])
        );
        assert_eq!(reader(&p, id(100), ReadKind::First), Some(id(2)));
        assert_eq!(reader(&p, id(109), ReadKind::First), Some(id(1)));
        // Only the first six: scorer 1 untouched.
        let p = plan(&ps[..6], &ss, &opts(0.0));
        assert_eq!(loads(&p), BTreeMap::from([(id(2), 4), (id(3), 2)]));
    }

    #[test]
    fn first_read_unassignable_gets_no_second_read() {
        let ps = [portfolio(10, 100), portfolio(11, 200)];
        let ss = [scorer(1, Some(100), 0), scorer(2, Some(100), 0)];
        let p = plan(&ps, &ss, &opts(1.0));
        assert_eq!(
            p.unassignable,
            vec![Unassignable {
                portfolio: id(10),
                kind: ReadKind::First,
                reason: "no eligible scorer outside the portfolio's school".into(),
            }]
        );
        // The other portfolio still gets both reads.
        assert_eq!(reader(&p, id(11), ReadKind::First), Some(id(1)));
        assert_eq!(reader(&p, id(11), ReadKind::Second), Some(id(2)));
        assert_eq!(p.reads.len(), 2);
    }

    #[test]
    fn second_read_unassignable_keeps_the_first_read() {
        let ps = [portfolio(10, 100)];
        let ss = [scorer(1, Some(100), 0), scorer(2, Some(200), 0)];
        let p = plan(&ps, &ss, &opts(1.0));
        assert_eq!(reader(&p, id(10), ReadKind::First), Some(id(2)));
        assert_eq!(p.reads.len(), 1);
        assert_eq!(
            p.unassignable,
            vec![Unassignable {
                portfolio: id(10),
                kind: ReadKind::Second,
                reason: "no second eligible scorer outside the portfolio's school other than the first reader".into(),
            }]
        );
    }

    #[test]
    fn single_scorer_cannot_give_a_second_read_even_in_own_school_mode() {
        let ps = [portfolio(10, 100)];
        let ss = [scorer(1, Some(100), 0)];
        let o = Options {
            allow_own_school: true,
            ..opts(1.0)
        };
        let p = plan(&ps, &ss, &o);
        assert_eq!(reader(&p, id(10), ReadKind::First), Some(id(1)));
        assert_eq!(p.unassignable.len(), 1);
        assert_eq!(p.unassignable[0].kind, ReadKind::Second);
        assert_eq!(
            p.unassignable[0].reason,
            "no second scorer in the session other than the first reader"
        );
    }

    #[test]
    fn no_scorers_at_all() {
        let ps = [portfolio(10, 100), portfolio(11, 100)];
        let p = plan(&ps, &[], &opts(1.0));
        assert!(p.reads.is_empty());
        assert_eq!(p.unassignable.len(), 2);
        assert!(
            p.unassignable
                .iter()
                .all(|u| u.kind == ReadKind::First && u.reason == "no scorers in the session")
        );
    }

    #[test]
    fn duplicates_are_planned_once() {
        let ps = [portfolio(10, 100), portfolio(10, 100), portfolio(11, 100)];
        let ss = [scorer(1, None, 0), scorer(1, None, 0), scorer(2, None, 0)];
        let p = plan(&ps, &ss, &opts(0.0));
        assert_eq!(p.reads.len(), 2);
        assert_eq!(reader(&p, id(10), ReadKind::First), Some(id(1)));
        assert_eq!(reader(&p, id(11), ReadKind::First), Some(id(2)));
    }

    #[test]
    fn plan_is_deterministic() {
        let ps: Vec<PortfolioSlot> = (0..25).map(|n| portfolio(500 + n, 100 + n % 4)).collect();
        let ss: Vec<ScorerSlot> = (0..5)
            .map(|n| scorer(n + 1, Some(100 + n), n as u32))
            .collect();
        let o = Options {
            seed: SEED,
            ..Options::default()
        };
        let a = plan(&ps, &ss, &o);
        assert_eq!(a, plan(&ps, &ss, &o));
        // Scorer order does not matter either.
        let mut rev = ss.clone();
        rev.reverse();
        assert_eq!(a, plan(&ps, &rev, &o));
    }

    #[test]
    fn empty_plan() {
        assert_eq!(
            plan(&[], &[scorer(1, None, 0)], &opts(1.0)),
            Plan::default()
        );
    }

    fn scored_by(scorer_n: u128, items: std::ops::Range<u128>) -> Vec<(Uuid, Uuid)> {
        items.map(|i| (id(scorer_n), id(i))).collect()
    }

    #[test]
    fn backread_quotas() {
        let mut scored = scored_by(1, 100..110); // 10 items -> 2 required
        scored.extend(scored_by(2, 200..205)); // 5 items -> 1 required
        let none = HashMap::new();
        let picks = backread_sample(&scored, 0.2, &none, SEED);
        assert_eq!(picks.len(), 3);
        let for_1: Vec<Uuid> = picks
            .iter()
            .copied()
            .filter(|p| (id(100)..id(110)).contains(p))
            .collect();
        let for_2: Vec<Uuid> = picks
            .iter()
            .copied()
            .filter(|p| (id(200)..id(205)).contains(p))
            .collect();
        assert_eq!(for_1.len(), 2);
        assert_eq!(for_2.len(), 1);
        // Scorer 1's items come first (ascending scorer id).
        assert_eq!(picks[..2], for_1[..]);

        // One backread already done for scorer 1: one still to do, and it is
        // the first of the two picked before.
        let one = HashMap::from([(id(1), 1)]);
        let picks = backread_sample(&scored, 0.2, &one, SEED);
        assert_eq!(picks, vec![for_1[0], for_2[0]]);

        // At or above quota contributes nothing.
        let done = HashMap::from([(id(1), 2), (id(2), 7)]);
        assert!(backread_sample(&scored, 0.2, &done, SEED).is_empty());

        // Scorer 3 scored 11 -> 3 required.
        let eleven = scored_by(3, 300..311);
        assert_eq!(backread_sample(&eleven, 0.2, &none, SEED).len(), 3);
    }

    #[test]
    fn backread_uses_the_seeded_ordering() {
        let scored = scored_by(1, 100..120);
        let picks = backread_sample(&scored, 0.25, &HashMap::new(), SEED);
        let mut expected: Vec<(u64, Uuid)> = (100..120)
            .map(|i| (seeded_hash(SEED, id(i)), id(i)))
            .collect();
        expected.sort();
        let expected: Vec<Uuid> = expected.into_iter().take(5).map(|(_, i)| i).collect();
        assert_eq!(picks, expected);
    }

    #[test]
    fn backread_is_order_independent_and_ignores_repeats() {
        let mut scored = scored_by(1, 100..110);
        scored.extend(scored_by(2, 200..220));
        let a = backread_sample(&scored, 0.3, &HashMap::new(), SEED);
        assert_eq!(a.len(), 3 + 6);
        let mut rev = scored.clone();
        rev.reverse();
        rev.extend(scored_by(1, 100..105)); // repeats count once
        assert_eq!(a, backread_sample(&rev, 0.3, &HashMap::new(), SEED));
    }

    #[test]
    fn backread_with_zero_share_or_nothing_scored() {
        let scored = scored_by(1, 100..110);
        assert!(backread_sample(&scored, 0.0, &HashMap::new(), SEED).is_empty());
        assert!(backread_sample(&[], 0.5, &HashMap::new(), SEED).is_empty());
        assert_eq!(
            backread_sample(&scored, 1.0, &HashMap::new(), SEED).len(),
            10
        );
    }
}
