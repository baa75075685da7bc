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

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
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
    /// Why a Staging version is not served, if it is not.
    pub note: Option<String>,
}

/// An endpoint as `cerebro endpoints` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointStatus {
    pub name: String,
    /// `up`, `stale` or `down`.
    pub state: String,
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

/// The `endpoints` table.
pub struct StatusTable {
    conn: Connection,
    host: String,
}

impl StatusTable {
    /// Opens the store's database (already migrated by `SqliteStore::open`).
    pub fn open(db_path: &Path) -> Result<StatusTable> {
        let conn =
            Connection::open(db_path).map_err(|e| Error::io(db_path, std::io::Error::other(e)))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(StatusTable {
            conn,
            host: host_name(),
        })
    }

    /// Registers a starting endpoint. Refused if an endpoint of that name is up.
    pub fn register(&self, name: &str, address: &str, model: &str) -> Result<()> {
        if let Some(existing) = self.get(name)?
            && existing.state == "up"
            && !(existing.pid == std::process::id() && existing.host == self.host)
        {
            return Err(Error::invalid(format!(
                "endpoint `{name}` is already running at {} (pid {} on {}); stop it or pass another --name",
                existing.address, existing.pid, existing.host
            )));
        }
        let now = now_ms();
        self.conn.execute(
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
        rows.into_iter().map(|r| self.finish(r)).collect()
    }

    pub fn get(&self, name: &str) -> Result<Option<EndpointStatus>> {
        let raw = self
            .conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], raw_from_row)
            .optional()?;
        raw.map(|r| self.finish(r)).transpose()
    }

    fn finish(&self, r: Raw) -> Result<EndpointStatus> {
        let now = now_ms();
        let age = now - r.last_heartbeat;
        let pid_dead = r.host == self.host && !pid_alive(r.pid);
        let state = if r.stopped_at.is_some() || pid_dead {
            "down"
        } else if age <= STALE_AFTER_MS {
            "up"
        } else {
            "stale"
        };
        Ok(EndpointStatus {
            name: r.name,
            state: state.into(),
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

/// CPU time used by this process so far (seconds) and its resident memory (bytes), from
/// `/proc/self`; `None` where that is not available.
pub fn process_usage() -> (Option<f64>, Option<u64>) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let cpu = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // Fields after the command name, which is in parentheses and may hold spaces.
                let rest = &s[s.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here (0-based 11, 12).
                let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                (tick > 0).then(|| ticks as f64 / tick as f64)
            });
        let rss = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| {
                let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
                (page > 0).then(|| pages * page as u64)
            });
        (cpu, rss)
    }
    #[cfg(not(target_os = "linux"))]
    {
        (None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_usage_is_read_on_linux() {
        let (cpu, rss) = process_usage();
        if cfg!(target_os = "linux") {
            assert!(cpu.unwrap() >= 0.0);
            assert!(rss.unwrap() > 1024 * 1024);
        }
    }
}
