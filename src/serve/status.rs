//! Endpoint status in the store (`endpoints` table, migration 3). A running endpoint registers
//! itself (name, address, pid, host, model, served versions and split, start time) and
//! heartbeats every second with its counters and system health; `cerebro endpoints` reads them.
//!
//! State, from the heartbeat: **up** if it is under [`STALE_AFTER_MS`] old; **down** if the
//! endpoint stopped cleanly or its pid is gone (same host); otherwise **stale** (alive but not
//! heartbeating: stuck, or on another host that stopped reporting).
//!
//! The table is written through its own SQLite connection (WAL; the store's busy timeout), so
//! heartbeats never wait on the registry reads of the same process.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::store::{host_name, pid_alive};

/// A heartbeat older than this makes an endpoint stale.
pub const STALE_AFTER_MS: i64 = 5_000;

/// One served version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServedArm {
    /// `champion` or `challenger`.
    pub arm: String,
    pub version: i64,
    pub stage: String,
    /// Share of records it receives.
    pub share: f64,
}

/// Counters and health reported with each heartbeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointStats {
    pub requests: u64,
    pub errors: u64,
    pub records: u64,
    pub unseen_categories: u64,
    pub requests_last_minute: u64,
    /// Latency percentiles over the last minute, milliseconds (upper bounds of ~25 % buckets).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub in_flight: i64,
    pub open_connections: i64,
    /// CPU use since the previous heartbeat, percent of one core.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub reloads: u64,
    /// Why a Staging version is not served, if it is not; a failing or lossy inference log.
    pub note: Option<String>,
    /// Inference-log lines given up (never written) after write failures.
    #[serde(default)]
    pub log_lines_lost: u64,
    /// Inference-log lines waiting in memory for a retry after a failed write.
    #[serde(default)]
    pub log_lines_waiting: u64,
}

/// An endpoint's state, from its heartbeat.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// Heartbeating.
    Up,
    /// Alive as far as this host can tell, but its heartbeat is older than [`STALE_AFTER_MS`].
    Stale,
    /// Stopped cleanly, or its process is gone.
    Down,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Up => "up",
            EndpointState::Stale => "stale",
            EndpointState::Down => "down",
        }
    }
}

impl std::str::FromStr for EndpointState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "up" => Ok(EndpointState::Up),
            "stale" => Ok(EndpointState::Stale),
            "down" => Ok(EndpointState::Down),
            other => Err(Error::invalid(format!(
                "unknown endpoint state `{other}`: up, stale or down"
            ))),
        }
    }
}

impl fmt::Display for EndpointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint as `cerebro endpoints` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointStatus {
    pub name: String,
    pub state: EndpointState,
    pub address: String,
    pub pid: u32,
    pub host: String,
    pub model: String,
    pub served: Vec<ServedArm>,
    pub started_at: i64,
    pub last_heartbeat: i64,
    pub heartbeat_age_ms: i64,
    pub stopped_at: Option<i64>,
    pub stats: EndpointStats,
}

/// The lock that makes an endpoint name one endpoint's: an exclusive lock on
/// `<store>/endpoints/<name>.lock`, held for the endpoint's life and released by the system
/// when its process ends, however it ends. Unlike the heartbeat it cannot go stale: a stuck
/// endpoint still holds its name.
#[derive(Debug)]
pub struct NameLock {
    _file: std::fs::File,
    path: std::path::PathBuf,
}

impl NameLock {
    /// Takes the lock of endpoint `name` in the store whose database is `db_path` (in a folder
    /// `endpoints/` beside it), or says who holds it.
    pub fn acquire(db_path: &Path, name: &str) -> Result<NameLock> {
        let dir = db_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("endpoints");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = crate::paths::child(&dir, &format!("{name}.lock"), "endpoint name")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(NameLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = StatusTable::open(db_path)
                    .ok()
                    .and_then(|t| t.get(name).ok().flatten())
                    .map(|e| format!(" at {} (pid {} on {})", e.address, e.pid, e.host))
                    .unwrap_or_default();
                Err(Error::invalid(format!(
                    "endpoint `{name}` is already running{holder}: it holds {}; stop it or pass another --name",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `endpoints` table.
pub struct StatusTable {
    conn: Connection,
    host: String,
}

impl StatusTable {
    /// Opens the store's database (already migrated by `SqliteStore::open`).
    pub fn open(db_path: &Path) -> Result<StatusTable> {
        // Read-only when the store cannot be written: reads work, writes fail naming the file.
        let (conn, _) = crate::store::open::connect(db_path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(StatusTable {
            conn,
            host: host_name(),
        })
    }

    /// Registers a starting endpoint. Refused if an endpoint of that name is up: the check
    /// and the insert are one write transaction, so of two endpoints started at once under
    /// one name exactly one registers.
    pub fn register(&mut self, name: &str, address: &str, model: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], raw_from_row)
            .optional()?
            .map(|r| finish(&self.host, r))
            .transpose()?;
        if let Some(existing) = existing
            && existing.state == EndpointState::Up
            && !(existing.pid == std::process::id() && existing.host == self.host)
        {
            return Err(Error::invalid(format!(
                "endpoint `{name}` is already running at {} (pid {} on {}); stop it or pass another --name",
                existing.address, existing.pid, existing.host
            )));
        }
        let now = now_ms();
        tx.execute(
            "INSERT OR REPLACE INTO endpoints
               (name, address, pid, host, model, served, started_at, last_heartbeat, stopped_at, stats)
             VALUES (?1, ?2, ?3, ?4, ?5, '[]', ?6, ?6, NULL, ?7)",
            params![
                name,
                address,
                std::process::id(),
                self.host,
                model,
                now,
                serde_json::to_string(&EndpointStats::default())?
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn heartbeat(&self, name: &str, served: &[ServedArm], stats: &EndpointStats) -> Result<()> {
        self.conn.execute(
            "UPDATE endpoints SET last_heartbeat = ?2, served = ?3, stats = ?4 WHERE name = ?1",
            params![
                name,
                now_ms(),
                serde_json::to_string(served)?,
                serde_json::to_string(stats)?
            ],
        )?;
        Ok(())
    }

    /// Marks a clean stop.
    pub fn stop(&self, name: &str, stats: &EndpointStats) -> Result<()> {
        let now = now_ms();
        self.conn.execute(
            "UPDATE endpoints SET stopped_at = ?2, last_heartbeat = ?2, stats = ?3
             WHERE name = ?1 AND pid = ?4",
            params![name, now, serde_json::to_string(stats)?, std::process::id()],
        )?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<EndpointStatus>> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY name"))?;
        let rows = stmt
            .query_map([], raw_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|r| finish(&self.host, r)).collect()
    }

    pub fn get(&self, name: &str) -> Result<Option<EndpointStatus>> {
        let raw = self
            .conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], raw_from_row)
            .optional()?;
        raw.map(|r| finish(&self.host, r)).transpose()
    }
}

/// A row with its state, as seen from `host`.
fn finish(host: &str, r: Raw) -> Result<EndpointStatus> {
    let now = now_ms();
    let age = now - r.last_heartbeat;
    let pid_dead = r.host == host && !pid_alive(r.pid);
    let state = if r.stopped_at.is_some() || pid_dead {
        EndpointState::Down
    } else if age <= STALE_AFTER_MS {
        EndpointState::Up
    } else {
        EndpointState::Stale
    };
    Ok(EndpointStatus {
        name: r.name,
        state,
        address: r.address,
        pid: r.pid,
        host: r.host,
        model: r.model,
        served: serde_json::from_str(&r.served)?,
        started_at: r.started_at,
        last_heartbeat: r.last_heartbeat,
        heartbeat_age_ms: age,
        stopped_at: r.stopped_at,
        stats: serde_json::from_str(&r.stats)?,
    })
}

const SELECT: &str = "SELECT name, address, pid, host, model, served, started_at, last_heartbeat, \
                      stopped_at, stats FROM endpoints";

struct Raw {
    name: String,
    address: String,
    pid: u32,
    host: String,
    model: String,
    served: String,
    started_at: i64,
    last_heartbeat: i64,
    stopped_at: Option<i64>,
    stats: String,
}

fn raw_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        name: r.get(0)?,
        address: r.get(1)?,
        pid: r.get(2)?,
        host: r.get(3)?,
        model: r.get(4)?,
        served: r.get(5)?,
        started_at: r.get(6)?,
        last_heartbeat: r.get(7)?,
        stopped_at: r.get(8)?,
        stats: r.get(9)?,
    })
}

/// This process's CPU use and resident memory, read with `sysinfo` (the version polars
/// already depends on) rather than by parsing `/proc`.
pub struct ProcessUsage {
    system: sysinfo::System,
    pid: sysinfo::Pid,
}

impl Default for ProcessUsage {
    fn default() -> Self {
        ProcessUsage {
            system: sysinfo::System::new(),
            pid: sysinfo::Pid::from_u32(std::process::id()),
        }
    }
}

impl ProcessUsage {
    /// CPU time used so far (seconds) and resident memory (bytes); `None` where the platform
    /// does not tell.
    pub fn sample(&mut self) -> (Option<f64>, Option<u64>) {
        use sysinfo::{ProcessRefreshKind, ProcessesToUpdate};
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        match self.system.process(self.pid) {
            Some(p) => (
                Some(p.accumulated_cpu_time() as f64 / 1000.0),
                Some(p.memory()).filter(|m| *m > 0),
            ),
            None => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_usage_is_read_on_linux() {
        let (cpu, rss) = ProcessUsage::default().sample();
        if cfg!(target_os = "linux") {
            assert!(cpu.unwrap() >= 0.0);
            assert!(rss.unwrap() > 1024 * 1024);
        }
    }
}
