//! The delivery worker: sends what is due, records how it went.
//!
//! Every round claims up to [`DeliveryOptions::batch`] due deliveries of any
//! tenant, leased for [`DeliveryOptions::lease`] so that no other pod takes
//! them meanwhile (a pod that dies mid-send leaves its lease to run out, and
//! the delivery is claimed again). Then:
//!
//! - an in-app delivery is `Sent` (the inbox row exists; the planner stores
//!   them sent already, this is for any left queued);
//! - an e-mail is laid out ([`crate::email`]) and handed to the [`Mailer`];
//! - e-mail digest deliveries of one person claimed together become *one*
//!   digest e-mail listing every item.
//!
//! Each outcome is recorded in the tenant's transaction: `Sent` when the SMTP
//! server accepted the message; on a transient failure (4xx, timeout, no
//! connection) a retry after an exponential back-off with full jitter
//! ([`retry_outcome`]: base 30 s, doubling, capped at 1 h), until the
//! eighth attempt fails; `Failed` at once on a permanent (5xx) answer or a
//! malformed address. The in-app copy never waits for any of this.
//!
//! A round never outlives its lease: e-mails start only in the first half of
//! it (later ones are left alone, to be claimed again when the lease ends)
//! and a send still running at three quarters is cut off and counts as a
//! transient failure, leaving the last quarter to record outcomes. So another worker
//! never takes a delivery whose SMTP conversation is still going on, even
//! against a server that stalls (lettre's own timeout is per command, so a
//! conversation can take several of them).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use lettre::message::Mailbox;
use platform::{auth::TenantId, error::Result};
use rand::Rng;
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use uuid::Uuid;

use crate::{
    domain::{Category, Channel, Delivery, Notification},
    email::{self, Email, Item, Mailer, SendError, Unsubscribe, UnsubscribeKey},
    store::{NotificationsStore, Outcome},
    upstream::Upstream,
    watch::InboxSignal,
};

/// How the worker runs and retries.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Longest wait between rounds when nothing signals new work.
    pub poll_interval: Duration,
    /// How long a claimed delivery is this worker's alone.
    pub lease: Duration,
    /// Deliveries claimed per round.
    pub batch: i64,
    /// First retry delay ceiling; doubled per attempt.
    pub backoff_base: Duration,
    /// Largest retry delay ceiling.
    pub backoff_cap: Duration,
    /// Attempts before an e-mail is given up as failed.
    pub max_attempts: u32,
    /// E-mails sent at once.
    pub concurrency: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 50,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            max_attempts: 8,
            concurrency: 8,
        }
    }
}

/// The outcome of a failed attempt: `Failed` for a permanent error or when
/// this was the last allowed attempt, else a retry at a random instant
/// between now and `min(cap, base · 2^(attempts_before))` (full jitter: retries
/// of many deliveries that failed together spread out instead of returning
/// in lockstep).
pub fn retry_outcome(
    options: &DeliveryOptions,
    attempts_before: u32,
    error: SendError,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Outcome {
    let attempt = attempts_before + 1;
    match error {
        SendError::Permanent(error) => Outcome::Failed { error },
        SendError::Transient(error) if attempt >= options.max_attempts => Outcome::Failed {
            error: format!("{error} (gave up after {attempt} attempts)"),
        },
        SendError::Transient(error) => {
            let ceiling = options
                .backoff_base
                .saturating_mul(2u32.saturating_pow(attempts_before.min(30)))
                .min(options.backoff_cap);
            let millis = rng.gen_range(0..=ceiling.as_millis() as u64);
            Outcome::Retry {
                at: now + chrono::Duration::milliseconds(millis as i64),
                error,
            }
        }
    }
}

/// When a round may send: sends start in the first half of its lease and
/// end by three quarters of it (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct SendWindow {
    /// No send runs past this.
    pub ends: Instant,
    /// No send starts after this.
    pub last_start: Instant,
}

impl SendWindow {
    pub fn of(claimed: Instant, lease: Duration) -> Self {
        Self {
            ends: claimed + lease * 3 / 4,
            last_start: claimed + lease / 2,
        }
    }

    /// How long a send starting `now` may take; `None` when it is too late
    /// to start one.
    pub fn budget(&self, now: Instant) -> Option<Duration> {
        (now <= self.last_start).then(|| self.ends - now)
    }
}

/// What the worker needs. Cheap to clone.
#[derive(Clone)]
pub struct Courier {
    pub store: Arc<dyn NotificationsStore>,
    pub upstream: Upstream,
    pub mailer: Arc<Mailer>,
    pub from: Mailbox,
    /// The web client's public base URL, without a trailing slash.
    pub public_url: String,
    pub unsubscribe_key: UnsubscribeKey,
    pub options: DeliveryOptions,
}

/// One e-mail to send: a single message or a person's digest.
struct Job {
    tenant: TenantId,
    person: Uuid,
    address: String,
    items: Vec<(Delivery, Notification)>,
    digest: bool,
}

impl Courier {
    fn absolute(&self, link: &str) -> String {
        if link.starts_with("http://") || link.starts_with("https://") {
            link.to_string()
        } else if link.is_empty() {
            format!("{}/", self.public_url)
        } else if link.starts_with('/') {
            format!("{}{link}", self.public_url)
        } else {
            format!("{}/{link}", self.public_url)
        }
    }

    /// One round: claims due deliveries and sends them. Returns how many
    /// were claimed.
    pub async fn run_once(&self) -> Result<usize> {
        let now = Utc::now();
        let started = Instant::now();
        let lease = chrono::Duration::from_std(self.options.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let claimed = self
            .store
            .claim_due(now, now + lease, self.options.batch)
            .await?;
        let n = claimed.len();
        let mut singles = Vec::new();
        // (tenant, person, address) → digest items, in claim order.
        let mut digests: BTreeMap<(TenantId, Uuid, String), Vec<(Delivery, Notification)>> =
            BTreeMap::new();
        for (t, d, note) in claimed {
            match (d.channel, d.address.clone()) {
                (Channel::InApp, _) => self.record(t, d.id, Outcome::Sent).await,
                (Channel::Email, None) => {
                    let reason = "no e-mail address on record".to_string();
                    self.record(t, d.id, Outcome::Skipped { reason }).await
                }
                (Channel::Email, Some(address)) if d.digest => digests
                    .entry((t, d.person_id, address))
                    .or_default()
                    .push((d, note)),
                (Channel::Email, Some(address)) => singles.push(Job {
                    tenant: t,
                    person: d.person_id,
                    address,
                    items: vec![(d, note)],
                    digest: false,
                }),
            }
        }
        let mut jobs = singles;
        jobs.extend(
            digests
                .into_iter()
                .map(|((tenant, person, address), items)| Job {
                    tenant,
                    person,
                    address,
                    digest: items.len() > 1,
                    items,
                }),
        );
        if jobs.is_empty() {
            return Ok(n);
        }
        let window = SendWindow::of(started, self.options.lease);
        let names = self.names(&jobs).await;
        futures::stream::iter(jobs)
            .for_each_concurrent(self.options.concurrency.max(1), |job| {
                let name = names
                    .get(&(job.tenant, job.person))
                    .cloned()
                    .unwrap_or_default();
                async move { self.send(job, name, window).await }
            })
            .await;
        Ok(n)
    }

    /// Recipients' names for greetings, asked of membership per tenant; a
    /// failure only costs the greeting its name.
    async fn names(&self, jobs: &[Job]) -> HashMap<(TenantId, Uuid), String> {
        let mut by_tenant: HashMap<TenantId, Vec<Uuid>> = HashMap::new();
        for j in jobs {
            by_tenant.entry(j.tenant).or_default().push(j.person);
        }
        let mut names = HashMap::new();
        for (t, mut people) in by_tenant {
            people.sort();
            people.dedup();
            let cred = self.upstream.service(t);
            match self.upstream.membership.people(&cred, &people).await {
                Ok(found) => names.extend(found.into_iter().map(|r| ((t, r.person_id), r.name))),
                Err(e) => {
                    tracing::debug!(tenant = %t, error = %e, "no names for e-mail greetings")
                }
            }
        }
        names
    }

    async fn unsubscribe_links(&self, job: &Job) -> Result<Vec<Unsubscribe>> {
        let mut categories: Vec<Category> = Vec::new();
        for (_, n) in &job.items {
            if !categories.contains(&n.category) {
                categories.push(n.category);
            }
        }
        let mut links = Vec::with_capacity(categories.len());
        for category in categories {
            let secret = self
                .unsubscribe_key
                .secret(job.tenant, job.person, category);
            let id = self
                .store
                .unsubscribe_token(
                    job.tenant,
                    job.person,
                    category,
                    &email::secret_hash(&secret),
                )
                .await?;
            let token = email::unsubscribe_token(job.tenant, id, &secret);
            links.push(Unsubscribe {
                category,
                url: format!("{}/unsubscribe/{token}", self.public_url),
            });
        }
        Ok(links)
    }

    async fn send(&self, job: Job, name: String, window: SendWindow) {
        let Some(budget) = window.budget(Instant::now()) else {
            // Too late in the lease to start: claimed again when it ends.
            tracing::debug!(tenant = %job.tenant, delivery = %job.items[0].0.id,
                "e-mail left for the next lease");
            return;
        };
        let result = tokio::time::timeout(budget, self.attempt(&job, name))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(
                    "the SMTP conversation outlasted the delivery lease".into(),
                ))
            });
        let now = Utc::now();
        let outcome = match result {
            Ok(()) => Outcome::Sent,
            Err(error) => {
                let attempts = job.items.iter().map(|(d, _)| d.attempts).max().unwrap_or(0);
                tracing::info!(tenant = %job.tenant, delivery = %job.items[0].0.id, attempts,
                    error = ?error, "e-mail not sent");
                retry_outcome(&self.options, attempts, error, now, &mut rand::thread_rng())
            }
        };
        for (d, _) in &job.items {
            self.record(job.tenant, d.id, outcome.clone()).await;
        }
    }

    async fn attempt(&self, job: &Job, name: String) -> std::result::Result<(), SendError> {
        let unsubscribe = self
            .unsubscribe_links(job)
            .await
            .map_err(|e| SendError::Transient(format!("unsubscribe link: {e}")))?;
        let first = job
            .items
            .iter()
            .map(|(d, _)| d.id)
            .min()
            .unwrap_or_else(Uuid::nil);
        // A message's own e-mail parts (rendered from its template when
        // queued) outside digests; a digest lists titles and bodies.
        fn own(n: &Notification, digest: bool) -> Option<&crate::domain::EmailParts> {
            n.email.as_ref().filter(|_| !digest)
        }
        let subject = match job.items.as_slice() {
            [(_, n)] => own(n, job.digest).map_or_else(|| n.title.clone(), |e| e.subject.clone()),
            items => format!("Your Collegium digest: {} messages", items.len()),
        };
        let email = Email {
            message_id: email::message_id(first, &self.from),
            to: job.address.clone(),
            recipient_name: name,
            subject,
            items: job
                .items
                .iter()
                .map(|(_, n)| Item {
                    title: n.title.clone(),
                    body: n.body.clone(),
                    url: self.absolute(&n.link),
                    category: n.category,
                    text: own(n, job.digest).map(|e| e.text.clone()),
                    html: own(n, job.digest).map(|e| e.html.clone()),
                })
                .collect(),
            digest: job.digest,
            unsubscribe,
            settings_url: format!("{}/settings/notifications", self.public_url),
        };
        let message = email.to_message(&self.from)?;
        self.mailer.send(message).await
    }

    async fn record(&self, t: TenantId, delivery: Uuid, outcome: Outcome) {
        if let Err(e) = self.store.record_outcome(t, delivery, outcome).await {
            // The lease runs out and the delivery is claimed again.
            tracing::warn!(tenant = %t, %delivery, error = %e, "cannot record a delivery outcome");
        }
    }
}

/// Runs the worker until `shutdown` turns true: a round whenever there may
/// be work (a full batch, an enqueue in this process) or every poll interval.
pub fn spawn(
    courier: Courier,
    signal: InboxSignal,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wake = signal.subscribe();
        let mut backoff = Duration::ZERO;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = match courier.run_once().await {
                Ok(n) if n as i64 >= courier.options.batch => Duration::ZERO,
                Ok(_) => {
                    backoff = Duration::ZERO;
                    courier.options.poll_interval
                }
                Err(e) => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(250), Duration::from_secs(30));
                    tracing::warn!(error = %e, retry_in = ?backoff, "delivery worker: cannot claim work");
                    backoff
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.changed(), if backoff.is_zero() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_start_in_the_first_half_of_the_lease_and_end_by_three_quarters() {
        let claimed = Instant::now();
        let w = SendWindow::of(claimed, Duration::from_secs(60));
        assert_eq!(w.budget(claimed), Some(Duration::from_secs(45)));
        assert_eq!(
            w.budget(claimed + Duration::from_secs(30)),
            Some(Duration::from_secs(15)),
            "the last start still ends by three quarters"
        );
        assert_eq!(w.budget(claimed + Duration::from_secs(31)), None);
    }

    #[test]
    fn retries_back_off_exponentially_with_full_jitter_until_the_last_attempt() {
        let options = DeliveryOptions::default();
        let now = Utc::now();
        let mut rng = rand::thread_rng();
        for attempts_before in 0..7u32 {
            let ceiling = (30i64 << attempts_before).min(3600);
            for _ in 0..50 {
                match retry_outcome(
                    &options,
                    attempts_before,
                    SendError::Transient("451".into()),
                    now,
                    &mut rng,
                ) {
                    Outcome::Retry { at, error } => {
                        assert_eq!(error, "451");
                        assert!(at >= now && at <= now + chrono::Duration::seconds(ceiling));
                    }
                    other => panic!("attempt {}: {other:?}", attempts_before + 1),
                }
            }
        }
        // The eighth failure is the last.
        assert!(matches!(
            retry_outcome(&options, 7, SendError::Transient("451".into()), now, &mut rng),
            Outcome::Failed { error } if error.contains("gave up after 8 attempts")
        ));
        // Permanent errors are not retried.
        assert_eq!(
            retry_outcome(
                &options,
                0,
                SendError::Permanent("550".into()),
                now,
                &mut rng
            ),
            Outcome::Failed {
                error: "550".into()
            }
        );
    }

    #[test]
    fn the_delay_ceiling_is_capped() {
        let options = DeliveryOptions::default();
        let now = Utc::now();
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let Outcome::Retry { at, .. } =
                retry_outcome(&options, 6, SendError::Transient("x".into()), now, &mut rng)
            else {
                panic!("a retry")
            };
            assert!(at <= now + chrono::Duration::hours(1));
        }
    }
}
