//! Sending: one attempt is one HTTP POST of the envelope, signed as MLflow signs it; a
//! [`Deliverer`] fans out, claims due deliveries and runs their attempts on their own threads;
//! a [`Worker`] runs a deliverer in the background of a long-lived process.
//!
//! The request is MLflow's (`mlflow/webhooks/delivery.py`, mlflow 3.17):
//! `Content-Type: application/json`, `X-MLflow-Delivery-Id` (a UUID; cerebro keeps it across
//! retries so a receiver can deduplicate, where MLflow draws a new one per call),
//! `X-MLflow-Timestamp` (unix seconds of the attempt) and, with a secret,
//! `X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>`.
//! Retries follow MLflow's policy too: on 429, 5xx, a timeout or a failed connection, at most
//! `max_retries` times (default 3), waiting 1 s, 2 s, 4 s, ... (at most 60 s, or the receiver's
//! `Retry-After` if longer, also capped at 60 s); any other answer but 2xx fails at once.
//! Redirects are not followed (a 3xx fails), as a signed POST should not wander.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rusqlite::Connection;
use sha2::Sha256;

use super::event::envelope;
use super::outbox::{self, Claim, Outcome};
use crate::clock::now_ms;
use crate::config::NotificationConfig;
use crate::error::Result;

/// Attempts in flight at once per deliverer (MLflow's pool: `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS`,
/// default 10).
pub const MAX_IN_FLIGHT: usize = 10;
/// The first retry's wait; each later one doubles (urllib3's `backoff_factor = 1`).
pub const BACKOFF_BASE_MS: i64 = 1_000;
/// The longest wait between attempts (MLflow's `backoff_max`).
pub const BACKOFF_MAX_MS: i64 = 60_000;
/// How often a worker looks for new events and due retries.
pub const POLL: Duration = Duration::from_millis(200);
/// The most of a refusing receiver's answer kept in `last_error`.
const ERROR_BODY_CHARS: usize = 200;

/// MLflow's webhook signature: `v1,` and the base64 of HMAC-SHA256 over
/// `"{delivery_id}.{timestamp}.{body}"` keyed by the secret (`_generate_hmac_signature`).
pub fn signature(secret: &str, delivery_id: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{delivery_id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The wait before retry `n` (1-based): 1 s, 2 s, 4 s, ... capped at [`BACKOFF_MAX_MS`]; a longer
/// `Retry-After` (seconds) wins, within the same cap.
pub fn backoff_ms(n: u32, retry_after_s: Option<u64>) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1i64 << (n.saturating_sub(1)).min(20));
    let asked = retry_after_s.map_or(0, |s| (s as i64).saturating_mul(1000));
    exp.max(asked).min(BACKOFF_MAX_MS)
}

fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// One attempt of `claim` to `target`: POST, then what it came to (never an error: a failure is
/// an [`Outcome`]).
pub fn attempt(agent: &ureq::Agent, claim: &Claim, target: &NotificationConfig) -> Outcome {
    let body = envelope(claim.event, &claim.data, &claim.text, claim.recorded_at).to_string();
    let timestamp = (now_ms() / 1000).to_string();
    let mut request = agent
        .post(&claim.url)
        .config()
        .timeout_global(Some(Duration::from_millis(target.timeout_ms)))
        .build()
        .header("Content-Type", "application/json")
        .header("X-MLflow-Delivery-Id", &claim.delivery_id)
        .header("X-MLflow-Timestamp", &timestamp);
    if let Some(secret) = &target.secret {
        request = request.header(
            "X-MLflow-Signature",
            signature(secret, &claim.delivery_id, &timestamp, &body),
        );
    }
    let (status, error, retry_after) = match request.send(body.as_bytes()) {
        Ok(response) => {
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Outcome::Delivered { status };
            }
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response
                .into_body()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            let snippet: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
            let error = if snippet.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {snippet}")
            };
            (Some(status), error, retry_after)
        }
        Err(e) => (None, e.to_string(), None),
    };
    let can_retry = status.is_none_or(retryable) && claim.attempt <= target.max_retries;
    if can_retry {
        Outcome::Retry {
            status,
            error,
            next_attempt_at: now_ms() + backoff_ms(claim.attempt, retry_after),
        }
    } else {
        let error = if status.is_none_or(retryable) {
            format!("{error} (gave up after {} attempts)", claim.attempt)
        } else {
            error
        };
        Outcome::Failed { status, error }
    }
}

/// Delivers a workspace's outbox to its `[[notifications]]`.
#[derive(Clone)]
pub struct Deliverer {
    db: PathBuf,
    targets: Arc<Vec<NotificationConfig>>,
    agent: ureq::Agent,
    in_flight: Arc<AtomicUsize>,
}

impl Deliverer {
    /// A deliverer of the outbox in the SQLite database `db` (migrated) to `targets`.
    pub fn new(db: &Path, targets: Vec<NotificationConfig>) -> Deliverer {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("cerebro/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Deliverer {
            db: db.to_path_buf(),
            targets: Arc::new(targets),
            agent: ureq::Agent::new_with_config(config),
            in_flight: Arc::default(),
        }
    }

    fn conn(&self) -> Result<Connection> {
        outbox::open(&self.db)
    }

    /// The receivers it delivers to.
    pub fn targets(&self) -> &[NotificationConfig] {
        &self.targets
    }

    /// True while an event awaits fan-out or a delivery is pending.
    pub fn has_work(&self) -> Result<bool> {
        outbox::has_work(&self.conn()?, &self.targets)
    }

    /// Deliveries by state and the newest problem.
    pub fn summary(&self) -> Result<outbox::Summary> {
        outbox::summary(&self.conn()?)
    }

    /// Deliveries, newest event first, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<outbox::Delivery>> {
        outbox::list(&self.conn()?, limit)
    }

    /// The longest any attempt may take, plus a margin: the lease of a claim.
    fn lease_ms(&self) -> i64 {
        let longest = self.targets.iter().map(|t| t.timeout_ms).max().unwrap_or(0);
        longest as i64 + 30_000
    }

    /// Attempts currently running.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// One pass: fans new events out, claims what is due (up to [`MAX_IN_FLIGHT`] running at
    /// once) and starts each attempt on its own thread, which records the outcome. Returns the
    /// attempts started.
    pub fn pass(&self) -> Result<usize> {
        let mut conn = self.conn()?;
        outbox::fan_out(&mut conn, &self.targets)?;
        let free = MAX_IN_FLIGHT.saturating_sub(self.in_flight());
        let claims = outbox::claim_due(&mut conn, free, self.lease_ms())?;
        let started = claims.len();
        for claim in claims {
            let Some(target) = self.targets.iter().find(|t| t.url == claim.url).cloned() else {
                continue;
            };
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let me = self.clone();
            std::thread::spawn(move || {
                let outcome = attempt(&me.agent, &claim, &target);
                match &outcome {
                    Outcome::Delivered { status } => {
                        tracing::info!(event = %claim.event, url = %claim.url, status, "webhook delivered")
                    }
                    Outcome::Retry { error, .. } => {
                        tracing::warn!(event = %claim.event, url = %claim.url, attempt = claim.attempt, "webhook attempt failed, will retry: {error}")
                    }
                    Outcome::Failed { error, .. } => {
                        tracing::warn!(event = %claim.event, url = %claim.url, attempt = claim.attempt, "webhook delivery failed: {error}")
                    }
                }
                if let Err(e) = me
                    .conn()
                    .and_then(|c| outbox::record(&c, &claim.delivery_id, &outcome))
                {
                    // The lease expires and another pass retries it.
                    tracing::warn!(url = %claim.url, "cannot record a webhook outcome: {e}");
                }
                me.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
        Ok(started)
    }

    /// Passes until nothing is pending (every delivery delivered, failed or dropped) and no
    /// attempt runs, or until `stop`; sleeps until the next retry is due in between.
    pub fn drain(&self, stop: &AtomicBool) -> Result<()> {
        loop {
            self.pass()?;
            let conn = self.conn()?;
            if self.in_flight() == 0 && !outbox::has_work(&conn, &self.targets)? {
                return Ok(());
            }
            let wait = outbox::next_due(&conn)?
                .map(|due| (due - now_ms()).clamp(0, POLL.as_millis() as i64))
                .unwrap_or(POLL.as_millis() as i64);
            drop(conn);
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(wait.max(10) as u64));
        }
    }
}

/// A deliverer running in the background of a long-lived process (the TUI, `monitor watch`,
/// the agent) until dropped. Attempts still running at the drop keep their lease until it
/// expires, then another deliverer retries them.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a worker for `deliverer`, passing every [`POLL`].
    pub fn start(deliverer: Deliverer) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cerebro-webhooks".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    if let Err(e) = deliverer.pass() {
                        tracing::warn!("webhook pass failed: {e}");
                    }
                    std::thread::sleep(POLL);
                }
            })
            .ok();
        Worker { stop, thread }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_mlflow_does() {
        // mlflow 3.17.2: mlflow.webhooks.delivery._generate_hmac_signature(
        //   "s3cret-key", "0b9d1c2e-6f4a-4c3b-9e8d-7a6b5c4d3e2f", "1700000000",
        //   '{"action":"created","data":{"name":"m"}}')
        assert_eq!(
            signature(
                "s3cret-key",
                "0b9d1c2e-6f4a-4c3b-9e8d-7a6b5c4d3e2f",
                "1700000000",
                r#"{"action":"created","data":{"name":"m"}}"#
            ),
            "v1,2dgNMplublQQKG3XY/YJ4A/5bXjM3bq6d1w+iE44tQc="
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_minute_and_honours_retry_after() {
        let waits: Vec<i64> = (1..=8).map(|n| backoff_ms(n, None)).collect();
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(backoff_ms(1, Some(5)), 5_000);
        assert_eq!(backoff_ms(1, Some(3600)), 60_000);
    }
}
