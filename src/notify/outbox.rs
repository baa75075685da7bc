//! The outbox in the store's SQLite database: `notification_events` (one row per event, written
//! by [`enqueue`] inside the caller's transaction), `notification_targets` (how far each
//! configured URL has been fanned out) and `notification_deliveries` (one row per event and URL:
//! its state, attempts and last outcome).
//!
//! Every function takes a connection; the ones that write several rows run one `IMMEDIATE`
//! transaction, so concurrent deliverers (the TUI, `monitor watch`, a detached
//! `notifications deliver`) fan out each event once and never claim the same delivery at once:
//! a claim holds a lease until the attempt's outcome is recorded or the lease expires (the
//! deliverer died), after which another deliverer retries it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::event::{Event, EventName};
use crate::clock::now_ms;
use crate::config::NotificationConfig;
use crate::error::Result;

/// Opens the store's database at `db` (already migrated by the store) for the outbox, waiting
/// up to 10 s for another writer.
pub fn open(db: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Appends `events` to the outbox on `conn`, inside whatever transaction the caller holds (the
/// registry change's or the alert's), so the events commit if and only if the change does.
pub fn enqueue(conn: &Connection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let at = now_ms();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO notification_events (event, data, text, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for e in events {
        stmt.execute(params![e.name.as_str(), e.data.to_string(), e.text, at])?;
    }
    Ok(())
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt (or in flight).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Refused (a 4xx other than 408 and 429) or out of retries.
    Failed,
    /// Its URL left `[[notifications]]` before it was delivered.
    Dropped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Dropped => "DROPPED",
        }
    }

    fn parse(s: &str) -> DeliveryStatus {
        match s {
            "DELIVERED" => DeliveryStatus::Delivered,
            "FAILED" => DeliveryStatus::Failed,
            "DROPPED" => DeliveryStatus::Dropped,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// A row of `notification_deliveries` with its event, as `notifications list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Sent as `X-MLflow-Delivery-Id`, the same on every attempt (a receiver can deduplicate).
    pub delivery_id: String,
    pub event_id: i64,
    /// The event name (`model_version.created`, ...).
    pub event: String,
    pub url: String,
    pub status: DeliveryStatus,
    /// Attempts made (or started) so far.
    pub attempts: u32,
    /// HTTP status of the last answered attempt.
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver (refused connection, timeout, `HTTP 500: ...`).
    pub last_error: Option<String>,
    /// Unix ms: when the event was recorded, when the delivery last changed, and (pending) when
    /// the next attempt is due.
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: Option<i64>,
    /// One line for people (the Slack text).
    pub text: String,
}

/// Deliveries, newest event first, at most `limit`.
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<Delivery>> {
    let mut stmt = conn.prepare(
        "SELECT d.delivery_id, d.event_id, e.event, d.url, d.status, d.attempts, d.last_status,
                d.last_error, e.created_at, d.updated_at, d.next_attempt_at, e.text
         FROM notification_deliveries d JOIN notification_events e ON e.event_id = d.event_id
         ORDER BY d.event_id DESC, d.url LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        let status = DeliveryStatus::parse(&r.get::<_, String>(4)?);
        Ok(Delivery {
            delivery_id: r.get(0)?,
            event_id: r.get(1)?,
            event: r.get(2)?,
            url: r.get(3)?,
            status,
            attempts: r.get(5)?,
            last_status: r.get(6)?,
            last_error: r.get(7)?,
            created_at: r.get(8)?,
            updated_at: r.get(9)?,
            next_attempt_at: (status == DeliveryStatus::Pending)
                .then(|| r.get(10))
                .transpose()?,
            text: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deliveries by state, and the newest problem: what a status line shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub delivered: u64,
    pub pending: u64,
    pub failed: u64,
    pub dropped: u64,
    /// The newest delivery that failed, or is pending after a failed attempt:
    /// `<event> to <url>: <error>`.
    pub last_problem: Option<String>,
}

/// Counts deliveries by state and finds the newest problem.
pub fn summary(conn: &Connection) -> Result<Summary> {
    let mut s = Summary::default();
    let mut stmt =
        conn.prepare("SELECT status, COUNT(*) FROM notification_deliveries GROUP BY status")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    for row in rows {
        let (status, n) = row?;
        match DeliveryStatus::parse(&status) {
            DeliveryStatus::Delivered => s.delivered = n,
            DeliveryStatus::Pending => s.pending = n,
            DeliveryStatus::Failed => s.failed = n,
            DeliveryStatus::Dropped => s.dropped = n,
        }
    }
    s.last_problem = conn
        .query_row(
            "SELECT e.event, d.url, d.last_error
             FROM notification_deliveries d JOIN notification_events e ON e.event_id = d.event_id
             WHERE d.status IN ('FAILED', 'PENDING') AND d.last_error IS NOT NULL
             ORDER BY d.updated_at DESC LIMIT 1",
            [],
            |r| {
                Ok(format!(
                    "{} to {}: {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?
                ))
            },
        )
        .optional()?;
    Ok(s)
}

/// An RFC 9562 version-4 UUID (random), the form MLflow's delivery ids take.
fn new_delivery_id() -> String {
    let mut b = rand::random::<u128>();
    b = (b & !(0xF << 76)) | (0x4 << 76);
    b = (b & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Turns new events into deliveries for `targets`, in one transaction: each URL gets every
/// event it subscribes to that was recorded after it was first seen here (a newly configured
/// URL starts from now, not from the history). A URL no longer configured is forgotten and its
/// pending deliveries are dropped, so re-adding it later starts afresh too. Returns how many
/// deliveries were created.
pub fn fan_out(conn: &mut Connection, targets: &[NotificationConfig]) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let known: Vec<String> = {
        let mut stmt = tx.prepare("SELECT url FROM notification_targets")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for url in known
        .iter()
        .filter(|u| !targets.iter().any(|t| &t.url == *u))
    {
        tx.execute("DELETE FROM notification_targets WHERE url = ?1", [url])?;
        tx.execute(
            "UPDATE notification_deliveries SET status = 'DROPPED', lease_until = NULL,
                    updated_at = ?2, last_error = 'the URL is no longer in [[notifications]]'
             WHERE url = ?1 AND status = 'PENDING'",
            params![url, now],
        )?;
    }
    let newest: i64 = tx.query_row(
        "SELECT COALESCE(MAX(event_id), 0) FROM notification_events",
        [],
        |r| r.get(0),
    )?;
    let mut created = 0;
    for t in targets {
        let cursor: Option<i64> = tx
            .query_row(
                "SELECT cursor FROM notification_targets WHERE url = ?1",
                [&t.url],
                |r| r.get(0),
            )
            .optional()?;
        let Some(cursor) = cursor else {
            tx.execute(
                "INSERT INTO notification_targets (url, cursor) VALUES (?1, ?2)",
                params![t.url, newest],
            )?;
            continue;
        };
        if cursor >= newest {
            continue;
        }
        let events: Vec<(i64, String)> = {
            let mut stmt = tx.prepare(
                "SELECT event_id, event FROM notification_events
                 WHERE event_id > ?1 AND event_id <= ?2 ORDER BY event_id",
            )?;
            stmt.query_map(params![cursor, newest], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        for (id, name) in events.iter().filter(|(_, n)| t.wants(n)) {
            created += tx.execute(
                "INSERT OR IGNORE INTO notification_deliveries
                   (delivery_id, event_id, url, status, attempts, next_attempt_at, created_at,
                    updated_at)
                 VALUES (?1, ?2, ?3, 'PENDING', 0, ?4, ?4, ?4)",
                params![new_delivery_id(), id, t.url, now],
            )?;
            tracing::debug!(event = %name, url = %t.url, "webhook delivery queued");
        }
        tx.execute(
            "UPDATE notification_targets SET cursor = ?2 WHERE url = ?1",
            params![t.url, newest],
        )?;
    }
    tx.commit()?;
    Ok(created)
}

/// A delivery claimed for one attempt, with what to send.
#[derive(Debug, Clone)]
pub struct Claim {
    pub delivery_id: String,
    pub url: String,
    /// Attempts including this one.
    pub attempt: u32,
    pub event: EventName,
    pub data: serde_json::Value,
    pub text: String,
    /// When the event was recorded (unix ms): the envelope's `timestamp`.
    pub recorded_at: i64,
}

/// Claims up to `limit` due deliveries for one attempt each, leasing them for `lease_ms`.
pub fn claim_due(conn: &mut Connection, limit: usize, lease_ms: i64) -> Result<Vec<Claim>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let rows: Vec<(String, String, u32, String, String, String, i64)> = {
        let mut stmt = tx.prepare(
            "SELECT d.delivery_id, d.url, d.attempts, e.event, e.data, e.text, e.created_at
             FROM notification_deliveries d JOIN notification_events e ON e.event_id = d.event_id
             WHERE d.status = 'PENDING' AND d.next_attempt_at <= ?1
               AND (d.lease_until IS NULL OR d.lease_until < ?1)
             ORDER BY d.next_attempt_at, d.event_id LIMIT ?2",
        )?;
        stmt.query_map(params![now, limit as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut claims = Vec::new();
    for (delivery_id, url, attempts, event, data, text, recorded_at) in rows {
        tx.execute(
            "UPDATE notification_deliveries SET attempts = attempts + 1, lease_until = ?2,
                    updated_at = ?3
             WHERE delivery_id = ?1",
            params![delivery_id, now + lease_ms, now],
        )?;
        let event = match event.parse::<EventName>() {
            Ok(e) => e,
            Err(e) => {
                // Written by a newer cerebro: leave it to that version.
                tracing::warn!("skipping an outbox event: {e}");
                continue;
            }
        };
        claims.push(Claim {
            delivery_id,
            url,
            attempt: attempts + 1,
            event,
            data: serde_json::from_str(&data)?,
            text,
            recorded_at,
        });
    }
    tx.commit()?;
    Ok(claims)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// Try again at `next_attempt_at` (unix ms).
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: i64,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// Records the outcome of a claimed attempt and releases its lease.
pub fn record(conn: &Connection, delivery_id: &str, outcome: &Outcome) -> Result<()> {
    let now = now_ms();
    let (status, code, error, next) = match outcome {
        Outcome::Delivered { status } => (DeliveryStatus::Delivered, Some(*status), None, now),
        Outcome::Retry {
            status,
            error,
            next_attempt_at,
        } => (
            DeliveryStatus::Pending,
            *status,
            Some(error.as_str()),
            *next_attempt_at,
        ),
        Outcome::Failed { status, error } => {
            (DeliveryStatus::Failed, *status, Some(error.as_str()), now)
        }
    };
    conn.execute(
        "UPDATE notification_deliveries SET status = ?2, last_status = ?3, last_error = ?4,
                next_attempt_at = ?5, lease_until = NULL, updated_at = ?6
         WHERE delivery_id = ?1",
        params![delivery_id, status.as_str(), code, error, next, now],
    )?;
    Ok(())
}

/// True while some event awaits fan-out to a configured URL or some delivery is pending.
pub fn has_work(conn: &Connection, targets: &[NotificationConfig]) -> Result<bool> {
    if targets.is_empty() {
        return Ok(false);
    }
    let pending: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM notification_deliveries WHERE status = 'PENDING')",
        [],
        |r| r.get(0),
    )?;
    if pending {
        return Ok(true);
    }
    let newest: i64 = conn.query_row(
        "SELECT COALESCE(MAX(event_id), 0) FROM notification_events",
        [],
        |r| r.get(0),
    )?;
    for t in targets {
        let cursor: Option<i64> = conn
            .query_row(
                "SELECT cursor FROM notification_targets WHERE url = ?1",
                [&t.url],
                |r| r.get(0),
            )
            .optional()?;
        if cursor.is_none_or(|c| c < newest) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// When the earliest pending delivery is due (unix ms), if any.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0)))
         FROM notification_deliveries WHERE status = 'PENDING'",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, events: &[&str]) -> NotificationConfig {
        NotificationConfig {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret: None,
            max_retries: 3,
            timeout_ms: 1000,
        }
    }

    fn event(name: EventName) -> Event {
        Event::new(name, serde_json::json!({"name": "m"}), "t".into())
    }

    #[test]
    fn fan_out_starts_from_now_delivers_each_event_once_and_forgets_removed_urls() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        let mut conn = Connection::open(store.db_path()).unwrap();
        enqueue(&conn, &[event(EventName::AlertOpened)]).unwrap();
        let a = target("http://a/", &["*"]);
        let b = target("http://b/", &["model_version.created"]);
        // First sight: history before it is not sent.
        assert_eq!(fan_out(&mut conn, &[a.clone(), b.clone()]).unwrap(), 0);
        assert!(!has_work(&conn, &[a.clone(), b.clone()]).unwrap());
        enqueue(
            &conn,
            &[
                event(EventName::ModelVersionCreated),
                event(EventName::AlertResolved),
            ],
        )
        .unwrap();
        assert!(has_work(&conn, std::slice::from_ref(&a)).unwrap());
        assert_eq!(fan_out(&mut conn, &[a.clone(), b.clone()]).unwrap(), 3);
        assert_eq!(fan_out(&mut conn, &[a.clone(), b.clone()]).unwrap(), 0);
        let claims = claim_due(&mut conn, 10, 60_000).unwrap();
        assert_eq!(claims.len(), 3);
        // Leased: a second deliverer gets nothing.
        assert!(claim_due(&mut conn, 10, 60_000).unwrap().is_empty());
        let first = claims.iter().find(|c| c.url == "http://a/").unwrap();
        record(
            &conn,
            &first.delivery_id,
            &Outcome::Delivered { status: 204 },
        )
        .unwrap();
        // b leaves the config: its pending delivery is dropped, a's stay.
        fan_out(&mut conn, std::slice::from_ref(&a)).unwrap();
        let listed = list(&conn, 10).unwrap();
        let of = |url: &str, s: DeliveryStatus| {
            listed
                .iter()
                .filter(|d| d.url == url && d.status == s)
                .count()
        };
        assert_eq!(of("http://b/", DeliveryStatus::Dropped), 1);
        assert_eq!(
            of("http://a/", DeliveryStatus::Delivered) + of("http://a/", DeliveryStatus::Pending),
            2
        );
        assert!(listed.iter().all(|d| d.attempts == 1));
        let sum = summary(&conn).unwrap();
        assert_eq!(
            (sum.delivered, sum.pending, sum.failed, sum.dropped),
            (1, 1, 0, 1)
        );
        assert_eq!(sum.last_problem, None);
        let pending = listed
            .iter()
            .find(|d| d.status == DeliveryStatus::Pending)
            .unwrap();
        let retry = Outcome::Retry {
            status: Some(500),
            error: "HTTP 500".into(),
            next_attempt_at: 0,
        };
        record(&conn, &pending.delivery_id, &retry).unwrap();
        assert_eq!(
            summary(&conn).unwrap().last_problem.as_deref(),
            Some(format!("{} to http://a/: HTTP 500", pending.event).as_str())
        );
    }

    #[test]
    fn delivery_ids_are_version_4_uuids() {
        let id = new_delivery_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
