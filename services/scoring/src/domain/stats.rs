//! Inter-rater agreement statistics for hand-scored portfolios
//! (ETS/NAEP-style reliability monitoring).
//!
//! Every statistic is derived from a [`Matrix`] of paired-read counts, so the
//! database can aggregate `GROUP BY (group, score_a, score_b)` and this module
//! never needs individual scores. Nothing here panics: statistics that are
//! undefined for the given counts are `None`.

use std::error::Error;
use std::fmt;

/// Minimum number of paired reads before quality flags are raised.
pub const MIN_PAIRS_FOR_FLAGS: u64 = 10;
/// Default number of paired reads per drift window.
pub const DRIFT_WINDOW: usize = 20;
/// Default minimum number of full windows needed to assess drift.
pub const DRIFT_MIN_WINDOWS: usize = 3;
/// Default slope (agreement rate lost per window) at which drift warns.
pub const DRIFT_SLOPE_WARNING: f64 = 0.05;
/// Largest score scale a [`Matrix`] can hold (number of score points).
pub const MAX_SCALE_POINTS: usize = 256;

/// ETS-style flag thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Exact agreement below this share is flagged.
    pub exact_min: f64,
    /// Exact-or-adjacent agreement below this share is flagged.
    pub adjacent_min: f64,
    /// Quadratic weighted kappa below this value is flagged.
    pub qwk_min: f64,
    /// An absolute standardised mean difference above this value is flagged.
    pub smd_max: f64,
}

impl Default for Thresholds {
    /// Exact 0.70, adjacent 0.95, QWK 0.70, |SMD| 0.15.
    fn default() -> Self {
        Self {
            exact_min: 0.70,
            adjacent_min: 0.95,
            qwk_min: 0.70,
            smd_max: 0.15,
        }
    }
}

impl Thresholds {
    /// Default thresholds with a programme-specific exact-agreement target.
    pub fn with_exact_target(exact_min: f64) -> Self {
        Self {
            exact_min,
            ..Self::default()
        }
    }
}

/// A score outside the matrix's scale was passed to [`Matrix::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfScale {
    /// The offending score.
    pub value: i32,
}

impl fmt::Display for OutOfScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "score {} is outside the matrix's score scale",
            self.value
        )
    }
}

impl Error for OutOfScale {}

/// Two matrices with different score scales were passed to [`Matrix::merge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleMismatch {
    /// `(min, max)` of the matrix being merged into.
    pub expected: (i32, i32),
    /// `(min, max)` of the matrix that was refused.
    pub found: (i32, i32),
}

impl fmt::Display for ScaleMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ((a, b), (c, d)) = (self.expected, self.found);
        write!(f, "cannot merge a {c}..={d} matrix into a {a}..={b} matrix")
    }
}

impl Error for ScaleMismatch {}

/// Confusion matrix of paired reads on the integer scale `min..=max`:
/// `count(a, b)` is the number of portfolios where read A gave `a` and read B gave `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    min: i32,
    max: i32,
    /// Row-major, `(max - min + 1)^2` cells; rows are read A, columns read B.
    cells: Vec<u64>,
}

impl Matrix {
    /// An empty matrix for `min..=max`, or `None` when `max < min` or the
    /// scale has more than [`MAX_SCALE_POINTS`] points.
    pub fn try_new(min: i32, max: i32) -> Option<Self> {
        let points = i64::from(max) - i64::from(min) + 1;
        let k = usize::try_from(points)
            .ok()
            .filter(|k| (1..=MAX_SCALE_POINTS).contains(k))?;
        Some(Self {
            min,
            max,
            cells: vec![0; k * k],
        })
    }

    /// An empty matrix for `min..=max`. Never panics: reversed bounds are
    /// swapped, and a scale wider than [`MAX_SCALE_POINTS`] is cut to its
    /// first `MAX_SCALE_POINTS` points (later scores are then refused by
    /// [`Matrix::add`]). Use [`Matrix::try_new`] to reject such input instead.
    pub fn new(min: i32, max: i32) -> Self {
        let (lo, hi) = if max < min { (max, min) } else { (min, max) };
        let widest = i64::from(lo) + MAX_SCALE_POINTS as i64 - 1;
        let hi = i32::try_from(widest).map_or(hi, |w| hi.min(w));
        let k = (i64::from(hi) - i64::from(lo) + 1) as usize;
        Self {
            min: lo,
            max: hi,
            cells: vec![0; k * k],
        }
    }

    /// Adds `count` portfolios scored `a` by read A and `b` by read B.
    /// Counts saturate at `u64::MAX`. The matrix is unchanged on error.
    pub fn add(&mut self, a: i32, b: i32, count: u64) -> Result<(), OutOfScale> {
        let i = self.index(a).ok_or(OutOfScale { value: a })?;
        let j = self.index(b).ok_or(OutOfScale { value: b })?;
        let k = self.points();
        let cell = &mut self.cells[i * k + j];
        *cell = cell.saturating_add(count);
        Ok(())
    }

    /// Adds every count of `other`, which must have the same scale.
    pub fn merge(&mut self, other: &Matrix) -> Result<(), ScaleMismatch> {
        if (self.min, self.max) != (other.min, other.max) {
            return Err(ScaleMismatch {
                expected: (self.min, self.max),
                found: (other.min, other.max),
            });
        }
        for (cell, &extra) in self.cells.iter_mut().zip(&other.cells) {
            *cell = cell.saturating_add(extra);
        }
        Ok(())
    }

    /// The same reads with the roles of A and B swapped.
    pub fn transposed(&self) -> Matrix {
        let k = self.points();
        let mut cells = vec![0; k * k];
        for i in 0..k {
            for j in 0..k {
                cells[j * k + i] = self.cells[i * k + j];
            }
        }
        Matrix {
            min: self.min,
            max: self.max,
            cells,
        }
    }

    /// Number of pairs scored `(a, b)`; 0 for scores outside the scale.
    pub fn count(&self, a: i32, b: i32) -> u64 {
        match (self.index(a), self.index(b)) {
            (Some(i), Some(j)) => self.cells[i * self.points() + j],
            _ => 0,
        }
    }

    /// Total number of pairs (saturating).
    pub fn total(&self) -> u64 {
        saturating_sum(self.cells.iter().copied())
    }

    /// Lowest score point of the scale.
    pub fn min(&self) -> i32 {
        self.min
    }

    /// Highest score point of the scale.
    pub fn max(&self) -> i32 {
        self.max
    }

    /// The counts as rows (read A, from `min`) of columns (read B, from `min`).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.cells
            .chunks(self.points())
            .map(<[u64]>::to_vec)
            .collect()
    }

    fn points(&self) -> usize {
        (i64::from(self.max) - i64::from(self.min) + 1) as usize
    }

    fn index(&self, score: i32) -> Option<usize> {
        (self.min..=self.max)
            .contains(&score)
            .then(|| (i64::from(score) - i64::from(self.min)) as usize)
    }
}

/// Agreement statistics for one matrix of paired reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Number of paired reads.
    pub pairs: u64,
    /// Share of pairs with `a == b`.
    pub exact: Option<f64>,
    /// Share of pairs with `|a - b| <= 1` (exact OR adjacent, the ETS convention).
    pub adjacent: Option<f64>,
    /// Cohen's quadratically weighted kappa. `None` when there are no pairs,
    /// the scale has a single point, or the expected disagreement is 0 (both
    /// reads always gave the same single score point), where kappa is 0/0.
    pub qwk: Option<f64>,
    /// Standardised mean difference `(mean_a - mean_b) / sqrt((var_a + var_b) / 2)`
    /// with population variances. When the pooled sd is 0 (each read used a
    /// single score point) it is `Some(0.0)` if the means are equal and `None`
    /// if they differ (the difference is then unbounded). `None` without pairs.
    pub smd: Option<f64>,
    /// Mean score given by read A.
    pub mean_a: Option<f64>,
    /// Mean score given by read B.
    pub mean_b: Option<f64>,
    /// Every score point `min..=max` with read A's count for it.
    pub distribution_a: Vec<(i32, u64)>,
    /// Every score point `min..=max` with read B's count for it.
    pub distribution_b: Vec<(i32, u64)>,
    /// The matrix the statistics were computed from.
    pub matrix: Matrix,
    /// Quality flags raised against the thresholds, in declaration order.
    pub flags: Vec<Flag>,
}

/// A reason to review a scorer or scoring group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// Exact agreement is below [`Thresholds::exact_min`].
    ExactBelowTarget,
    /// Exact-or-adjacent agreement is below [`Thresholds::adjacent_min`].
    AdjacentBelowMinimum,
    /// Quadratic weighted kappa is below [`Thresholds::qwk_min`].
    QwkBelowMinimum,
    /// |SMD| is above [`Thresholds::smd_max`].
    SmdAboveMaximum,
    /// Too few paired reads for the other flags to be meaningful.
    TooFewPairs,
}

impl Flag {
    /// Stable snake_case identifier, e.g. `"exact_below_target"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::ExactBelowTarget => "exact_below_target",
            Flag::AdjacentBelowMinimum => "adjacent_below_minimum",
            Flag::QwkBelowMinimum => "qwk_below_minimum",
            Flag::SmdAboveMaximum => "smd_above_maximum",
            Flag::TooFewPairs => "too_few_pairs",
        }
    }

    /// Human-readable reason, e.g. "exact agreement 62.5% is below the 70% target".
    pub fn describe(self, a: &Agreement, t: &Thresholds) -> String {
        match self {
            Flag::ExactBelowTarget => format!(
                "exact agreement {} is below the {} target",
                percent(a.exact),
                percent(Some(t.exact_min))
            ),
            Flag::AdjacentBelowMinimum => format!(
                "exact-or-adjacent agreement {} is below the {} minimum",
                percent(a.adjacent),
                percent(Some(t.adjacent_min))
            ),
            Flag::QwkBelowMinimum => format!(
                "quadratic weighted kappa {} is below the {:.2} minimum",
                a.qwk.map_or("n/a".into(), |q| format!("{q:.3}")),
                t.qwk_min
            ),
            Flag::SmdAboveMaximum => format!(
                "standardised mean difference {} exceeds the ±{:.2} maximum",
                a.smd.map_or("n/a".into(), |s| format!("{s:+.3}")),
                t.smd_max
            ),
            Flag::TooFewPairs if a.pairs == 0 => "no paired reads yet".to_string(),
            Flag::TooFewPairs => {
                format!("only {} paired reads, too few to judge agreement", a.pairs)
            }
        }
    }
}

/// Formats a share as a percentage with at most one decimal ("62.5%", "70%").
fn percent(share: Option<f64>) -> String {
    let Some(share) = share else {
        return "n/a".to_string();
    };
    let text = format!("{:.1}", share * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

/// Computes every agreement statistic from `matrix` and flags it.
///
/// When `pairs == 0` or `pairs < min_pairs` the only flag is
/// [`Flag::TooFewPairs`]. Otherwise each statistic is compared strictly —
/// `exact < exact_min`, `adjacent < adjacent_min`, `qwk < qwk_min`,
/// `|smd| > smd_max` — so a value exactly at a threshold is not flagged, and a
/// statistic that is `None` raises no flag.
pub fn agreement(matrix: &Matrix, thresholds: &Thresholds, min_pairs: u64) -> Agreement {
    let rows = matrix.rows();
    let row_totals: Vec<u64> = rows
        .iter()
        .map(|row| saturating_sum(row.iter().copied()))
        .collect();
    let col_totals: Vec<u64> = (0..rows.len())
        .map(|j| saturating_sum(rows.iter().map(|row| row[j])))
        .collect();
    let pairs = matrix.total();
    let n = pairs as f64;

    let share_within = |gap: usize| {
        let hits: f64 = (rows.iter().enumerate())
            .flat_map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(move |(j, &c)| (i.abs_diff(j), c))
            })
            .filter(|&(d, _)| d <= gap)
            .map(|(_, c)| c as f64)
            .sum();
        (pairs > 0).then(|| hits / n)
    };
    let (exact, adjacent) = (share_within(0), share_within(1));

    let distribution_a: Vec<(i32, u64)> = (matrix.min..=matrix.max).zip(row_totals).collect();
    let distribution_b: Vec<(i32, u64)> = (matrix.min..=matrix.max).zip(col_totals).collect();
    let moments_a = (pairs > 0).then(|| moments(&distribution_a, n));
    let moments_b = (pairs > 0).then(|| moments(&distribution_b, n));
    let smd = moments_a.zip(moments_b).and_then(|((ma, va), (mb, vb))| {
        let pooled_sd = ((va + vb) / 2.0).sqrt();
        if pooled_sd > 0.0 {
            Some((ma - mb) / pooled_sd)
        } else {
            (ma == mb).then_some(0.0)
        }
    });
    let qwk = quadratic_weighted_kappa(&rows, &distribution_a, &distribution_b, n);

    let below = |stat: Option<f64>, min: f64| stat.is_some_and(|x| x < min);
    let t = thresholds;
    let flags = if pairs == 0 || pairs < min_pairs {
        vec![Flag::TooFewPairs]
    } else {
        [
            (Flag::ExactBelowTarget, below(exact, t.exact_min)),
            (Flag::AdjacentBelowMinimum, below(adjacent, t.adjacent_min)),
            (Flag::QwkBelowMinimum, below(qwk, t.qwk_min)),
            (
                Flag::SmdAboveMaximum,
                smd.is_some_and(|x| x.abs() > t.smd_max),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, raised)| raised.then_some(flag))
        .collect()
    };

    Agreement {
        pairs,
        exact,
        adjacent,
        qwk,
        smd,
        mean_a: moments_a.map(|(mean, _)| mean),
        mean_b: moments_b.map(|(mean, _)| mean),
        distribution_a,
        distribution_b,
        matrix: matrix.clone(),
        flags,
    }
}

fn saturating_sum(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// Population mean and variance of a score distribution holding `n` reads.
fn moments(distribution: &[(i32, u64)], n: f64) -> (f64, f64) {
    let weighted = |f: &dyn Fn(f64) -> f64| {
        distribution
            .iter()
            .map(|&(score, c)| f(f64::from(score)) * c as f64)
            .sum::<f64>()
            / n
    };
    let mean = weighted(&|x| x);
    (mean, weighted(&|x| (x - mean).powi(2)))
}

/// kappa = 1 - sum(w * O) / sum(w * E) with w_ij = (i - j)^2 / (k - 1)^2,
/// O_ij = count_ij / N and E_ij = (rowtotal_i / N) * (coltotal_j / N).
/// `None` when k < 2, N = 0 or sum(w * E) = 0.
fn quadratic_weighted_kappa(
    rows: &[Vec<u64>],
    dist_a: &[(i32, u64)],
    dist_b: &[(i32, u64)],
    n: f64,
) -> Option<f64> {
    let k = rows.len();
    if k < 2 || n == 0.0 {
        return None;
    }
    let scale = ((k - 1) * (k - 1)) as f64;
    let (mut observed, mut expected) = (0.0, 0.0);
    for (i, (row, &(_, r))) in rows.iter().zip(dist_a).enumerate() {
        for (j, (&count, &(_, c))) in row.iter().zip(dist_b).enumerate() {
            let w = (i.abs_diff(j) * i.abs_diff(j)) as f64 / scale;
            observed += w * count as f64 / n;
            expected += w * (r as f64 / n) * (c as f64 / n);
        }
    }
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// Drift: a scorer's agreement trending down over their scoring history.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Exact-agreement rate per full window, oldest first.
    pub windows: Vec<f64>,
    /// Ordinary least-squares slope of the window rates against window index.
    pub slope_per_window: f64,
    /// `slope_per_window <= -slope_warning` and the last window is below the first.
    pub warning: bool,
}

/// Assesses drift from whether each of a scorer's paired reads (in submission
/// order) agreed exactly.
///
/// The reads are split into consecutive full windows of `window` reads; a
/// trailing partial window is ignored. Returns `None` when `window == 0` or
/// there are fewer than `min_windows` full windows — and always when there
/// are fewer than two, since a slope needs two points. `slope_warning` is a
/// positive rate, e.g. [`DRIFT_SLOPE_WARNING`]; the slope test is inclusive.
pub fn drift(
    exact_in_order: &[bool],
    window: usize,
    min_windows: usize,
    slope_warning: f64,
) -> Option<Drift> {
    if window == 0 {
        return None;
    }
    let windows: Vec<f64> = exact_in_order
        .chunks_exact(window)
        .map(|w| w.iter().filter(|&&agreed| agreed).count() as f64 / window as f64)
        .collect();
    drift_of_windows(windows, min_windows, slope_warning)
}

/// [`drift`] from the exact-agreement rate of each full window, oldest
/// first, as the store aggregates them in SQL (so a scorer's reads need not
/// leave the database one by one).
pub fn drift_of_windows(
    windows: Vec<f64>,
    min_windows: usize,
    slope_warning: f64,
) -> Option<Drift> {
    if windows.len() < min_windows.max(2) {
        return None;
    }
    // Since sum(x - mean_x) = 0, sum((x - mean_x) * y) equals the usual
    // sum((x - mean_x) * (y - mean_y)) and avoids rounding in mean_y.
    let mean_x = (windows.len() - 1) as f64 / 2.0;
    let (sxy, sxx) = windows
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(sxy, sxx), (x, y)| {
            let dx = x as f64 - mean_x;
            (sxy + dx * y, sxx + dx * dx)
        });
    let slope_per_window = sxy / sxx;
    let (first, last) = (*windows.first()?, *windows.last()?);
    let warning = slope_per_window <= -slope_warning && last < first;
    Some(Drift {
        windows,
        slope_per_window,
        warning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a matrix on `min..` from a text grid: one line per read-A score,
    /// one column per read-B score.
    fn matrix(min: i32, grid: &str) -> Matrix {
        let rows: Vec<Vec<u64>> = (grid.lines())
            .map(|line| {
                line.split_whitespace()
                    .map(|c| c.parse().unwrap())
                    .collect()
            })
            .filter(|row: &Vec<u64>| !row.is_empty())
            .collect();
        let mut m = Matrix::new(min, min + rows.len() as i32 - 1);
        for (i, row) in rows.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                m.add(min + i as i32, min + j as i32, c).unwrap();
            }
        }
        m
    }

    fn close(actual: Option<f64>, expected: f64) {
        let a = actual.unwrap_or_else(|| panic!("expected {expected}, got None"));
        assert!((a - expected).abs() < 1e-9, "expected {expected}, got {a}");
    }

    /// Thresholds that never flag, to isolate one threshold per test.
    const OFF: Thresholds = Thresholds {
        exact_min: f64::NEG_INFINITY,
        adjacent_min: f64::NEG_INFINITY,
        qwk_min: f64::NEG_INFINITY,
        smd_max: f64::INFINITY,
    };

    /// 1..=4, 100 pairs: `shift` pairs moved from (2,2) to (3,2), i.e. read A
    /// one point higher. shift = 0 has 70 exact and 30 adjacent, symmetric.
    fn shifted(shift: u64) -> Matrix {
        let (stay, moved) = (25 - shift, 5 + shift);
        matrix(
            1,
            &format!("10 5 0 0 \n 5 {stay} 5 0 \n 0 {moved} 25 5 \n 0 0 5 10"),
        )
    }

    #[test]
    fn perfect_agreement_with_spread() {
        let m = matrix(1, "2 0 0 0 \n 0 3 0 0 \n 0 0 3 0 \n 0 0 0 2");
        let a = agreement(&m, &Thresholds::default(), MIN_PAIRS_FOR_FLAGS);
        assert_eq!(a.pairs, 10);
        // sum(w*O) = 0 while sum(w*E) > 0, so kappa = 1 - 0 = 1.
        close(a.exact, 1.0);
        close(a.adjacent, 1.0);
        close(a.qwk, 1.0);
        close(a.smd, 0.0);
        // means: (1*2 + 2*3 + 3*3 + 4*2) / 10 = 2.5
        close(a.mean_a, 2.5);
        close(a.mean_b, 2.5);
        assert_eq!(a.distribution_a, vec![(1, 2), (2, 3), (3, 3), (4, 2)]);
        assert!(a.flags.is_empty());
    }

    #[test]
    fn hand_worked_qwk_on_three_points() {
        // A\B  1 2 3 | row     10 pairs; exact = (2+3+1)/10 = 0.6, adjacent = 1.
        //  1   2 1 0 | 3       Marginals A = B = (3, 5, 2). w = d^2/4, d = |i-j|.
        //  2   1 3 1 | 5       sum(w*O) = 4 pairs at d=1 -> (4 * 1/4) / 10 = 0.1.
        //  3   0 1 1 | 2       sum(w*E) = sum(d^2 r_i c_j) / (4 * 100), where
        // i=1: 1*3*5 + 4*3*2 = 39; i=2: 5*3 + 5*2 = 25; i=3: 4*2*3 + 2*5 = 34;
        // 98 / 400 = 0.245, so kappa = 1 - 0.1/0.245 = 1 - 40/98 = 29/49.
        let m = matrix(1, "2 1 0 \n 1 3 1 \n 0 1 1");
        let a = agreement(&m, &Thresholds::default(), 10);
        close(a.exact, 0.6);
        close(a.adjacent, 1.0);
        close(a.qwk, 29.0 / 49.0);
        // Both means are (1*3 + 2*5 + 3*2) / 10 = 1.9.
        close(a.smd, 0.0);
        assert_eq!(a.flags, [Flag::ExactBelowTarget, Flag::QwkBelowMinimum]);
        let qwk = Flag::QwkBelowMinimum.describe(&a, &Thresholds::default());
        assert_eq!(
            qwk,
            "quadratic weighted kappa 0.592 is below the 0.70 minimum"
        );
    }

    #[test]
    fn matches_scikit_learn_reference_values() {
        // References: python3 + scikit-learn 1.9.1, expanding each matrix into
        // score lists a, b: cohen_kappa_score(a, b, weights="quadratic"), and
        // SMD from statistics.fmean/pvariance. Every score point occurs in both
        // lists, so sklearn's label indices coincide with the scale.
        let cases = [
            (
                matrix(1, "9 5 1 0 \n 5 5 5 0 \n 0 4 9 1 \n 0 1 5 4"),
                0.7046735167384819,
                0.054658502240913044,
            ),
            (
                matrix(
                    0,
                    "9 1 0 0 0 \n 3 5 0 0 1 \n 1 6 6 3 1 \n 2 2 5 6 3 \n 2 0 2 9 4",
                ),
                0.5946546758955186,
                0.36324569708367654,
            ),
            (
                matrix(
                    1,
                    "5 4 1 0 0 2 \n 2 6 0 2 1 0 \n 1 8 6 5 0 2
                     1 2 7 5 0 0 \n 2 2 0 0 4 5 \n 2 0 2 0 5 8",
                ),
                0.4860480207657365,
                0.1454658723824272,
            ),
        ];
        for (m, qwk, smd) in cases {
            let a = agreement(&m, &Thresholds::default(), 10);
            close(a.qwk, qwk);
            close(a.smd, smd);
        }
    }

    #[test]
    fn smd_sign_and_magnitude_when_a_scores_one_point_higher() {
        // Pairs (2,1), (3,2), (4,3) twice each. A: 2,3,4 -> mean 3, var 2/3;
        // B: 1,2,3 -> mean 2, var 2/3. SMD = 1 / sqrt(2/3) = sqrt(1.5).
        let m = matrix(1, "0 0 0 0 \n 2 0 0 0 \n 0 2 0 0 \n 0 0 2 0");
        let a = agreement(&m, &Thresholds::default(), 6);
        close(a.mean_a, 3.0);
        close(a.mean_b, 2.0);
        close(a.smd, 1.5f64.sqrt());
        close(a.exact, 0.0);
        close(a.adjacent, 1.0);
        // r = (0,2,2,2), c = (2,2,2,0): sum d^2 r_i c_j = 4 * (2 + 5 + 14) = 84,
        // sum d^2 count = 6; the 1/(k-1)^2 weight factor cancels, so
        // kappa = 1 - (6/6) / (84/36) = 4/7
        // (cohen_kappa_score agrees: 0.5714285714285714).
        close(a.qwk, 4.0 / 7.0);
        let flags = [
            Flag::ExactBelowTarget,
            Flag::QwkBelowMinimum,
            Flag::SmdAboveMaximum,
        ];
        assert_eq!(a.flags, flags);
        let smd = Flag::SmdAboveMaximum.describe(&a, &Thresholds::default());
        assert_eq!(
            smd,
            "standardised mean difference +1.225 exceeds the ±0.15 maximum"
        );
    }

    #[test]
    fn exact_threshold_is_strict() {
        let at = agreement(&shifted(0), &Thresholds::default(), 10);
        close(at.exact, 0.70);
        close(at.qwk, 14.0 / 17.0);
        assert!(
            at.flags.is_empty(),
            "0.70 is not below 0.70: {:?}",
            at.flags
        );

        // 69 exact; qwk 0.818 and |smd| 0.011 stay within their limits.
        let below = agreement(&shifted(1), &Thresholds::default(), 10);
        close(below.exact, 0.69);
        assert_eq!(below.flags, [Flag::ExactBelowTarget]);
        let reason = Flag::ExactBelowTarget.describe(&below, &Thresholds::default());
        assert_eq!(reason, "exact agreement 69% is below the 70% target");
        let lenient = Thresholds::with_exact_target(0.65);
        assert!(agreement(&shifted(1), &lenient, 10).flags.is_empty());
    }

    #[test]
    fn adjacent_threshold_is_strict() {
        let t = Thresholds {
            adjacent_min: 0.95,
            ..OFF
        };
        // 100 pairs, 5 of them two or more points apart: adjacent = 95/100.
        let at = matrix(1, "20 5 1 1 \n 5 20 5 1 \n 1 5 20 5 \n 0 1 5 5");
        close(agreement(&at, &t, 10).adjacent, 0.95);
        assert!(agreement(&at, &t, 10).flags.is_empty());
        // One (1,1) pair moved to (1,3): adjacent = 94/100.
        let below = matrix(1, "19 5 2 1 \n 5 20 5 1 \n 1 5 20 5 \n 0 1 5 5");
        let a = agreement(&below, &t, 10);
        assert_eq!(a.flags, [Flag::AdjacentBelowMinimum]);
        let reason = Flag::AdjacentBelowMinimum.describe(&a, &t);
        assert_eq!(
            reason,
            "exact-or-adjacent agreement 94% is below the 95% minimum"
        );
    }

    #[test]
    fn qwk_and_smd_thresholds_around_defaults() {
        // Reference values from the same formulas in plain Python.
        let qwk = Thresholds {
            qwk_min: 0.70,
            ..OFF
        };
        close(agreement(&shifted(20), &qwk, 10).qwk, 0.7058823529411764);
        assert!(agreement(&shifted(20), &qwk, 10).flags.is_empty());
        close(agreement(&shifted(22), &qwk, 10).qwk, 0.6941176470588235);
        assert_eq!(
            agreement(&shifted(22), &qwk, 10).flags,
            [Flag::QwkBelowMinimum]
        );

        let smd = Thresholds {
            smd_max: 0.15,
            ..OFF
        };
        close(agreement(&shifted(13), &smd, 10).smd, 0.14171094369591553);
        assert!(agreement(&shifted(13), &smd, 10).flags.is_empty());
        close(agreement(&shifted(14), &smd, 10).smd, 0.15273434158765434);
        assert_eq!(
            agreement(&shifted(14), &smd, 10).flags,
            [Flag::SmdAboveMaximum]
        );
        let negative = agreement(&shifted(14).transposed(), &smd, 10);
        assert_eq!(negative.flags, [Flag::SmdAboveMaximum], "flagged on |smd|");
    }

    #[test]
    fn smd_boundary_is_strict_and_uses_absolute_value() {
        // Scale 1..=6, pairs (1,2) x5 and (5,6) x5. A: {1,5}, mean 3, var 4;
        // B: {2,6}, mean 4, var 4. SMD = -1 / sqrt(4) = -0.5 exactly.
        let mut m = Matrix::new(1, 6);
        m.add(1, 2, 5).unwrap();
        m.add(5, 6, 5).unwrap();
        let at = agreement(
            &m,
            &Thresholds {
                smd_max: 0.5,
                ..OFF
            },
            10,
        );
        assert_eq!(at.smd, Some(-0.5));
        assert!(at.flags.is_empty());
        let over = agreement(
            &m,
            &Thresholds {
                smd_max: 0.49,
                ..OFF
            },
            10,
        );
        assert_eq!(over.flags, [Flag::SmdAboveMaximum]);
    }

    #[test]
    fn out_of_scale_add_and_mismatched_merge_are_refused() {
        let mut m = Matrix::new(1, 4);
        assert_eq!(m.add(0, 2, 1), Err(OutOfScale { value: 0 }));
        assert_eq!(m.add(2, 5, 1), Err(OutOfScale { value: 5 }));
        assert_eq!(m.total(), 0, "a refused add changes nothing");
        let msg = OutOfScale { value: 5 }.to_string();
        assert_eq!(msg, "score 5 is outside the matrix's score scale");

        m.add(2, 3, 4).unwrap();
        let err = m.merge(&matrix(0, "1 0 \n 0 1")).unwrap_err();
        assert_eq!(
            err,
            ScaleMismatch {
                expected: (1, 4),
                found: (0, 1)
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot merge a 0..=1 matrix into a 1..=4 matrix"
        );
        assert_eq!(m.total(), 4);

        let mut same = Matrix::new(1, 4);
        same.add(2, 3, 1).unwrap();
        same.add(4, 4, 2).unwrap();
        m.merge(&same).unwrap();
        let counts = (m.count(2, 3), m.count(4, 4), m.count(9, 9), m.total());
        assert_eq!(counts, (5, 2, 0, 7));
    }

    #[test]
    fn transposed_swaps_distributions_and_negates_smd() {
        let m = shifted(14);
        let (a, b) = (
            agreement(&m, &OFF, 10),
            agreement(&m.transposed(), &OFF, 10),
        );
        // Rows of shifted(14): 10+5, 5+11+5, 19+25+5, 5+10; columns 15, 35, 35, 15.
        assert_eq!(a.distribution_a, [(1, 15), (2, 21), (3, 49), (4, 15)]);
        assert_eq!(a.distribution_b, [(1, 15), (2, 35), (3, 35), (4, 15)]);
        assert_eq!(b.distribution_a, a.distribution_b);
        assert_eq!(b.distribution_b, a.distribution_a);
        close(b.smd, -a.smd.unwrap());
        close(b.qwk, a.qwk.unwrap());
        assert_eq!(m.transposed().transposed(), m);
        let small = matrix(1, "1 2 \n 3 4").transposed();
        assert_eq!(small.rows(), [[1, 3], [2, 4]]);
    }

    #[test]
    fn empty_matrix_has_no_statistics_and_only_too_few_pairs() {
        for min_pairs in [0, 10] {
            let a = agreement(&Matrix::new(1, 4), &Thresholds::default(), min_pairs);
            assert_eq!(a.pairs, 0);
            assert_eq!(
                (a.exact, a.adjacent, a.qwk, a.smd),
                (None, None, None, None)
            );
            assert_eq!((a.mean_a, a.mean_b), (None, None));
            assert_eq!(a.distribution_b, [(1, 0), (2, 0), (3, 0), (4, 0)]);
            assert_eq!(a.flags, [Flag::TooFewPairs]);
            let reason = Flag::TooFewPairs.describe(&a, &Thresholds::default());
            assert_eq!(reason, "no paired reads yet");
        }
    }

    #[test]
    fn too_few_pairs_suppresses_other_flags() {
        // 9 pairs, all one point apart: exact 0 would otherwise be flagged.
        let m = matrix(1, "0 9 \n 0 0");
        let a = agreement(&m, &Thresholds::default(), MIN_PAIRS_FOR_FLAGS);
        assert_eq!(a.flags, [Flag::TooFewPairs]);
        assert_eq!(Flag::TooFewPairs.as_str(), "too_few_pairs");
        let reason = Flag::TooFewPairs.describe(&a, &Thresholds::default());
        assert_eq!(reason, "only 9 paired reads, too few to judge agreement");
        let enough = agreement(&m, &Thresholds::default(), 9);
        assert!(enough.flags.contains(&Flag::ExactBelowTarget));
    }

    #[test]
    fn all_reads_at_one_score_point() {
        let mut m = Matrix::new(1, 4);
        m.add(3, 3, 12).unwrap();
        let a = agreement(&m, &Thresholds::default(), 10);
        assert_eq!(a.qwk, None, "expected disagreement is 0, kappa is 0/0");
        close(a.exact, 1.0);
        assert_eq!(a.smd, Some(0.0));
        assert!(a.flags.is_empty());

        // A always 3, B always 2: pooled sd 0 but the means differ.
        let mut apart = Matrix::new(1, 4);
        apart.add(3, 2, 12).unwrap();
        let a = agreement(&apart, &Thresholds::default(), 10);
        assert_eq!(a.smd, None);
        close(a.qwk, 0.0);
        assert_eq!(a.flags, [Flag::ExactBelowTarget, Flag::QwkBelowMinimum]);

        let mut single_point_scale = Matrix::new(2, 2);
        single_point_scale.add(2, 2, 12).unwrap();
        assert_eq!(agreement(&single_point_scale, &OFF, 10).qwk, None);
    }

    #[test]
    fn constructors_never_panic() {
        assert_eq!(Matrix::try_new(4, 1), None);
        assert_eq!(Matrix::try_new(0, MAX_SCALE_POINTS as i32), None);
        assert_eq!(Matrix::new(4, 1), Matrix::try_new(1, 4).unwrap());
        let wide = Matrix::new(i32::MIN, i32::MAX);
        let widest = i32::MIN + MAX_SCALE_POINTS as i32 - 1;
        assert_eq!((wide.min(), wide.max()), (i32::MIN, widest));
        let top = Matrix::new(i32::MAX - 1, i32::MAX);
        assert_eq!(top.rows(), [[0, 0], [0, 0]]);
        assert_eq!(Thresholds::default().smd_max, 0.15);
    }

    #[test]
    fn declining_scorer_warns() {
        // Window 4, rates 1, 0.75, 0.5, 0.25. mean x = 1.5;
        // sum dx*y = -1.5*1 - 0.5*0.75 + 0.5*0.5 + 1.5*0.25 = -1.25; sum dx^2 = 5.
        let reads = [[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 0]].concat();
        let reads: Vec<bool> = reads.iter().map(|&r| r == 1).collect();
        let d = drift(&reads, 4, 3, DRIFT_SLOPE_WARNING).unwrap();
        assert_eq!(d.windows, [1.0, 0.75, 0.5, 0.25]);
        assert_eq!(d.slope_per_window, -0.25);
        assert!(d.warning);
        // A trailing partial window (3 misses) is ignored.
        let with_tail = [reads, vec![false; 3]].concat();
        assert_eq!(drift(&with_tail, 4, 3, DRIFT_SLOPE_WARNING), Some(d));
    }

    #[test]
    fn flat_improving_or_recovering_scorers_do_not_warn() {
        let flat: Vec<bool> = (0..60).map(|i| i % 4 != 0).collect();
        let d = drift(&flat, DRIFT_WINDOW, DRIFT_MIN_WINDOWS, DRIFT_SLOPE_WARNING).unwrap();
        assert_eq!(
            (d.windows, d.slope_per_window, d.warning),
            (vec![0.75; 3], 0.0, false)
        );

        // Rates 0.25, 1, 1: sum dx*y = -0.25 + 1 = 0.75, sum dx^2 = 2.
        let improving: Vec<bool> = (0..12).map(|i| i >= 3).collect();
        let d = drift(&improving, 4, 3, DRIFT_SLOPE_WARNING).unwrap();
        assert_eq!(d.slope_per_window, 0.375);
        assert!(!d.warning);

        // Rates 0.25, 1, 0.75, 0.5, 0.25: sum dx*y = -0.5 - 1 + 0 + 0.5 + 0.5
        // = -0.5, sum dx^2 = 10, slope -0.05 meets the (inclusive) slope test,
        // but the last window is not below the first, so no warning.
        let reads: Vec<bool> = [1, 4, 3, 2, 1]
            .iter()
            .flat_map(|&r| (0..4).map(move |i| i < r))
            .collect();
        let d = drift(&reads, 4, 3, 0.05).unwrap();
        assert_eq!(d.slope_per_window, -0.05);
        assert!(!d.warning);
    }

    #[test]
    fn drift_needs_enough_full_windows() {
        let reads = vec![true; 11];
        assert_eq!(drift(&reads, 4, 3, 0.05), None, "only 2 full windows");
        assert_eq!(drift(&reads, 0, 3, 0.05), None);
        assert_eq!(drift(&reads, 8, 0, 0.05), None, "a slope needs 2 windows");
        assert!(drift(&reads, 4, 2, 0.05).is_some());
        assert_eq!(drift(&[], 4, 0, 0.05), None);
    }
}
