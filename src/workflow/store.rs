//! Pipeline history, locks, schedule switches and trigger cursors in the workspace's SQLite
//! database (migration 6). Every write that must be atomic runs in one `BEGIN IMMEDIATE`
//! transaction: claiming a run checks the scheduled slot, takes the pipeline's lock, inserts the
//! run with its steps and moves the trigger's cursor together, so two processes never both start
//! a run for one slot or one event, and never run one pipeline twice at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::config::PipelineConfig;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::store::{MIN_PREFIX_LEN, host_name, new_run_id, pid_alive};

/// A pipeline run whose process has not heartbeat for this long is taken for dead even when a
/// process with its pid exists (pid reuse, another host sharing the folder).
pub const STALE_HEARTBEAT_MS: i64 = 120_000;

/// A pipeline run as listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineRun {
    pub run_id: String,
    pub pipeline: String,
    /// RUNNING, SUCCEEDED, FAILED or INTERRUPTED.
    pub status: String,
    /// manual, schedule, file, alert, production or resume.
    pub fired_by: String,
    pub detail: Option<String>,
    pub slot: Option<i64>,
    pub pid: u32,
    pub host: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub resumes: i64,
    pub error: Option<String>,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRun {
    pub step: String,
    pub position: i64,
    pub kind: String,
    /// PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED or INTERRUPTED.
    pub status: String,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub outputs: Option<serde_json::Value>,
    pub log: String,
}

/// A link from a step to what it produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub step: String,
    /// run, data_version or model_version.
    pub kind: String,
    pub reference: String,
}

/// What an attempt to start a run found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Started(String),
    /// Another run of the pipeline holds the lock.
    Busy {
        run_id: String,
        pid: u32,
    },
    /// The scheduled slot was already claimed (by this or another process).
    SlotTaken,
}

/// A change to a trigger's state made in the same transaction as the run it starts.
#[derive(Debug, Clone, Default)]
pub struct CursorUpdate {
    pub key: String,
    /// The cursor value the decision to fire was made on; if another process moved it since,
    /// the event was handled there and the claim is refused.
    pub expected: Option<i64>,
    pub cursor: Option<i64>,
    /// Files now seen: path, size, mtime (ms).
    pub files: Vec<(String, i64, i64)>,
}

/// What fired a run.
#[derive(Debug, Clone)]
pub struct Firing {
    pub fired_by: String,
    pub detail: Option<String>,
    pub slot: Option<i64>,
    pub cursor: Option<CursorUpdate>,
}

impl Firing {
    pub fn manual() -> Firing {
        Firing {
            fired_by: "manual".into(),
            detail: None,
            slot: None,
            cursor: None,
        }
    }
}

/// The workflow tables of one store.
pub struct WorkflowStore {
    conn: Connection,
    host: String,
}

const RUN_COLUMNS: &str = "run_id, pipeline, status, fired_by, detail, slot, pid, host, \
                           started_at, ended_at, resumes, error";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineRun> {
    Ok(PipelineRun {
        run_id: r.get(0)?,
        pipeline: r.get(1)?,
        status: r.get(2)?,
        fired_by: r.get(3)?,
        detail: r.get(4)?,
        slot: r.get(5)?,
        pid: r.get::<_, i64>(6)? as u32,
        host: r.get(7)?,
        started_at: r.get(8)?,
        ended_at: r.get(9)?,
        resumes: r.get(10)?,
        error: r.get(11)?,
    })
}

impl WorkflowStore {
    /// Opens the database at `db_path`, which the workspace has already migrated.
    pub fn open(db_path: &Path) -> Result<WorkflowStore> {
        // Read-only when the store cannot be written: reads work, writes fail naming the file.
        let (conn, _) = crate::store::open::connect(db_path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(WorkflowStore {
            conn,
            host: host_name(),
        })
    }

    /// Marks RUNNING runs whose process died INTERRUPTED (and their unfinished steps), kills
    /// any step process they left behind on this host, and releases their locks. Returns the
    /// runs marked.
    pub fn reap(&mut self) -> Result<Vec<PipelineRun>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let candidates: Vec<(PipelineRun, i64)> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {RUN_COLUMNS}, heartbeat FROM pipeline_runs WHERE status = 'RUNNING'"
            ))?;
            stmt.query_map([], |r| Ok((run_from_row(r)?, r.get(12)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut reaped = Vec::new();
        for (run, heartbeat) in candidates {
            if !holder_dead(&self.host, run.pid, &run.host, heartbeat) {
                continue;
            }
            interrupt(&tx, &self.host, &run.run_id, &run.host)?;
            tracing::warn!(run = %run.run_id, pipeline = %run.pipeline, "marked a pipeline run whose runner died INTERRUPTED");
            reaped.push(run);
        }
        // Locks whose run is no longer RUNNING (released by a crash between two statements).
        tx.execute(
            "DELETE FROM pipeline_locks WHERE run_id NOT IN
                 (SELECT run_id FROM pipeline_runs WHERE status = 'RUNNING')",
            [],
        )?;
        tx.commit()?;
        Ok(reaped)
    }

    /// Takes the lock on `pipeline` inside `tx`: Ok(None) when taken, Ok(Some(busy)) when a live
    /// run holds it. A dead holder's run is marked INTERRUPTED and its lock taken over.
    fn take_lock(
        host_here: &str,
        tx: &rusqlite::Transaction<'_>,
        pipeline: &str,
        run_id: &str,
    ) -> Result<Option<Claim>> {
        let holder: Option<(String, i64, String, i64)> = tx
            .query_row(
                "SELECT l.run_id, l.pid, l.host, coalesce(r.heartbeat, 0) FROM pipeline_locks l
                 LEFT JOIN pipeline_runs r ON r.run_id = l.run_id AND r.status = 'RUNNING'
                 WHERE l.pipeline = ?1",
                [pipeline],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((holder, pid, host, heartbeat)) = holder {
            if !holder_dead(host_here, pid as u32, &host, heartbeat) {
                return Ok(Some(Claim::Busy {
                    run_id: holder,
                    pid: pid as u32,
                }));
            }
            interrupt(tx, host_here, &holder, &host)?;
            tracing::warn!(run = %holder, pipeline, "took over the lock of a pipeline run whose runner died; marked it INTERRUPTED");
        }
        tx.execute(
            "INSERT INTO pipeline_locks (pipeline, run_id, pid, host, acquired_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pipeline) DO UPDATE SET run_id = excluded.run_id, pid = excluded.pid,
                 host = excluded.host, acquired_at = excluded.acquired_at",
            params![pipeline, run_id, std::process::id(), host_here, now_ms()],
        )?;
        Ok(None)
    }

    /// Starts a run of `pipeline` if its lock is free (and its slot, if any, unclaimed):
    /// inserts the run and its steps (PENDING, in execution order) and applies `firing.cursor`,
    /// all in one transaction.
    pub fn claim(
        &mut self,
        pipeline: &str,
        def: &PipelineConfig,
        config_hash: &str,
        firing: &Firing,
    ) -> Result<Claim> {
        let run_id = new_run_id();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(slot) = firing.slot {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM pipeline_runs WHERE pipeline = ?1 AND slot = ?2)",
                params![pipeline, slot],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(Claim::SlotTaken);
            }
        }
        if let Some(c) = &firing.cursor
            && !cursor_unmoved(&tx, pipeline, c)?
        {
            return Ok(Claim::SlotTaken);
        }
        if let Some(busy) = Self::take_lock(&self.host, &tx, pipeline, &run_id)? {
            return Ok(busy);
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO pipeline_runs (run_id, pipeline, status, fired_by, detail, slot, pid,
                 host, started_at, heartbeat, config_hash, definition)
             VALUES (?1, ?2, 'RUNNING', ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
            params![
                run_id,
                pipeline,
                firing.fired_by,
                firing.detail,
                firing.slot,
                std::process::id(),
                self.host,
                now,
                config_hash,
                serde_json::to_string(def)?
            ],
        )?;
        for (pos, i) in super::config::topo_order(def).into_iter().enumerate() {
            let s = &def.steps[i];
            tx.execute(
                "INSERT INTO pipeline_steps (run_id, step, position, kind, status)
                 VALUES (?1, ?2, ?3, ?4, 'PENDING')",
                params![run_id, s.name, pos as i64, s.kind.as_str()],
            )?;
        }
        if let Some(c) = &firing.cursor {
            apply_cursor(&tx, pipeline, c)?;
        }
        tx.commit()?;
        Ok(Claim::Started(run_id))
    }

    /// Takes an INTERRUPTED or FAILED run up again: its unfinished steps go back to PENDING
    /// (finished ones keep their results) and the run is RUNNING under this process.
    pub fn claim_resume(&mut self, run_ref: &str) -> Result<Claim> {
        let run = self.get_run(run_ref)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: String = tx.query_row(
            "SELECT status FROM pipeline_runs WHERE run_id = ?1",
            [&run.run_id],
            |r| r.get(0),
        )?;
        if status == "SUCCEEDED" {
            return Err(Error::invalid(format!(
                "pipeline run {} already SUCCEEDED: nothing to resume",
                run.run_id
            )));
        }
        if status == "RUNNING" {
            return Err(Error::invalid(format!(
                "pipeline run {} is RUNNING (pid {} on {}); resume it once it stops",
                run.run_id, run.pid, run.host
            )));
        }
        if let Some(busy) = Self::take_lock(&self.host, &tx, &run.pipeline, &run.run_id)? {
            return Ok(busy);
        }
        let now = now_ms();
        tx.execute(
            "UPDATE pipeline_steps SET status = 'PENDING', error = NULL, child_pid = NULL
             WHERE run_id = ?1 AND status <> 'SUCCEEDED'",
            [&run.run_id],
        )?;
        tx.execute(
            "UPDATE pipeline_runs SET status = 'RUNNING', pid = ?2, host = ?3, heartbeat = ?4,
                 ended_at = NULL, error = NULL, resumes = resumes + 1
             WHERE run_id = ?1",
            params![run.run_id, std::process::id(), self.host, now],
        )?;
        tx.commit()?;
        Ok(Claim::Started(run.run_id))
    }

    pub fn heartbeat(&self, run_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE pipeline_runs SET heartbeat = ?2 WHERE run_id = ?1",
            params![run_id, now_ms()],
        )?;
        Ok(())
    }

    /// The definition the run was started with.
    pub fn definition(&self, run_id: &str) -> Result<PipelineConfig> {
        let text: String = self
            .conn
            .query_row(
                "SELECT definition FROM pipeline_runs WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("pipeline run", run_id))?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn step_started(&self, run_id: &str, step: &str, attempt: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE pipeline_steps SET status = 'RUNNING', attempts = ?3,
                 started_at = coalesce(started_at, ?4), child_pid = NULL
             WHERE run_id = ?1 AND step = ?2",
            params![run_id, step, attempt, now_ms()],
        )?;
        Ok(())
    }

    pub fn step_child(&self, run_id: &str, step: &str, pid: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE pipeline_steps SET child_pid = ?3 WHERE run_id = ?1 AND step = ?2",
            params![run_id, step, pid],
        )?;
        Ok(())
    }

    /// Appends to a step's log (kept to its last 256 KiB).
    pub fn step_log(&self, run_id: &str, step: &str, text: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE pipeline_steps SET log = substr(log || ?3, -262144)
             WHERE run_id = ?1 AND step = ?2",
            params![run_id, step, text],
        )?;
        Ok(())
    }

    /// Records a step's end, its outputs and what it produced, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn step_finished(
        &mut self,
        run_id: &str,
        step: &str,
        status: &str,
        duration_ms: Option<i64>,
        error: Option<&str>,
        outputs: Option<&serde_json::Value>,
        links: &[(String, String)],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE pipeline_steps SET status = ?3, ended_at = ?4,
                 duration_ms = coalesce(duration_ms, 0) + coalesce(?5, 0),
                 error = ?6, outputs = coalesce(?7, outputs), child_pid = NULL
             WHERE run_id = ?1 AND step = ?2",
            params![
                run_id,
                step,
                status,
                now_ms(),
                duration_ms,
                error,
                outputs.map(|o| o.to_string())
            ],
        )?;
        for (kind, reference) in links {
            tx.execute(
                "INSERT OR IGNORE INTO pipeline_links (run_id, step, kind, ref)
                 VALUES (?1, ?2, ?3, ?4)",
                params![run_id, step, kind, reference],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Ends a run and releases its pipeline's lock.
    pub fn finish_run(&mut self, run_id: &str, status: &str, error: Option<&str>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE pipeline_runs SET status = ?2, ended_at = ?3, error = ?4 WHERE run_id = ?1",
            params![run_id, status, now_ms(), error],
        )?;
        tx.execute("DELETE FROM pipeline_locks WHERE run_id = ?1", [run_id])?;
        tx.commit()?;
        Ok(())
    }

    /// A run by full id or unique prefix.
    pub fn get_run(&self, run_ref: &str) -> Result<PipelineRun> {
        let r = run_ref.trim();
        if r.len() < MIN_PREFIX_LEN {
            return Err(Error::invalid(format!(
                "pipeline run id prefix {r:?} is too short; give at least {MIN_PREFIX_LEN} characters"
            )));
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id >= ?1 AND run_id < ?2 LIMIT 2"
        ))?;
        let found: Vec<PipelineRun> = stmt
            .query_map(params![r, format!("{r}\u{10ffff}")], run_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        match found.len() {
            0 => Err(Error::not_found("pipeline run", r)),
            1 => Ok(found.into_iter().next().expect("one")),
            _ => Err(Error::invalid(format!(
                "pipeline run id prefix {r:?} is ambiguous; give more characters"
            ))),
        }
    }

    /// Runs, newest first, optionally of one pipeline.
    pub fn list_runs(&self, pipeline: Option<&str>, limit: usize) -> Result<Vec<PipelineRun>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE ?1 IS NULL OR pipeline = ?1
             ORDER BY started_at DESC, rowid DESC LIMIT ?2"
        ))?;
        let runs = stmt
            .query_map(params![pipeline, limit as i64], run_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(runs)
    }

    /// The latest run of each pipeline.
    pub fn latest_runs(&self) -> Result<BTreeMap<String, PipelineRun>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs r WHERE started_at =
                 (SELECT max(started_at) FROM pipeline_runs o WHERE o.pipeline = r.pipeline)"
        ))?;
        let runs: Vec<PipelineRun> = stmt
            .query_map([], run_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(runs.into_iter().map(|r| (r.pipeline.clone(), r)).collect())
    }

    pub fn steps(&self, run_id: &str) -> Result<Vec<StepRun>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, position, kind, status, attempts, started_at, ended_at, duration_ms,
                    error, outputs, log
             FROM pipeline_steps WHERE run_id = ?1 ORDER BY position",
        )?;
        let steps = stmt
            .query_map([run_id], |r| {
                let outputs: Option<String> = r.get(9)?;
                Ok(StepRun {
                    step: r.get(0)?,
                    position: r.get(1)?,
                    kind: r.get(2)?,
                    status: r.get(3)?,
                    attempts: r.get(4)?,
                    started_at: r.get(5)?,
                    ended_at: r.get(6)?,
                    duration_ms: r.get(7)?,
                    error: r.get(8)?,
                    outputs: outputs.and_then(|o| serde_json::from_str(&o).ok()),
                    log: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(steps)
    }

    pub fn links(&self, run_id: &str) -> Result<Vec<Link>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, kind, ref FROM pipeline_links WHERE run_id = ?1 ORDER BY step, kind, ref",
        )?;
        let links = stmt
            .query_map([run_id], |r| {
                Ok(Link {
                    step: r.get(0)?,
                    kind: r.get(1)?,
                    reference: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(links)
    }

    /// The latest slot claimed for `pipeline`.
    pub fn last_slot(&self, pipeline: &str) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT max(slot) FROM pipeline_runs WHERE pipeline = ?1",
            [pipeline],
            |r| r.get(0),
        )?)
    }

    /// Stored schedule switches, by pipeline.
    pub fn schedule_switches(&self) -> Result<BTreeMap<String, bool>> {
        let mut stmt = self
            .conn
            .prepare("SELECT pipeline, enabled FROM pipeline_schedules")?;
        let m = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(m)
    }

    pub fn set_schedule_enabled(&self, pipeline: &str, enabled: bool) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pipeline_schedules (pipeline, enabled, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (pipeline) DO UPDATE SET enabled = excluded.enabled,
                 updated_at = excluded.updated_at",
            params![pipeline, enabled as i64, now_ms()],
        )?;
        Ok(())
    }

    pub fn cursor(&self, pipeline: &str, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor FROM pipeline_cursors WHERE pipeline = ?1 AND trigger_key = ?2",
                params![pipeline, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records a trigger's starting point (without starting a run); a no-op if it has one.
    pub fn baseline(&mut self, pipeline: &str, update: &CursorUpdate) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM pipeline_cursors WHERE pipeline = ?1 AND trigger_key = ?2)",
            params![pipeline, update.key],
            |r| r.get(0),
        )?;
        if !known {
            apply_cursor(&tx, pipeline, update)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves a trigger's cursor past events that concern no run (compare-and-set: a no-op if
    /// another process moved it first).
    pub fn baseline_move(&mut self, pipeline: &str, update: &CursorUpdate) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if cursor_unmoved(&tx, pipeline, update)? {
            apply_cursor(&tx, pipeline, update)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Files of a file trigger already seen: path -> (size, mtime).
    pub fn seen_files(&self, pipeline: &str, key: &str) -> Result<BTreeMap<String, (i64, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, size, mtime_ms FROM pipeline_seen_files
             WHERE pipeline = ?1 AND trigger_key = ?2",
        )?;
        let m = stmt
            .query_map(params![pipeline, key], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(m)
    }

    /// New alert openings after `cursor`: (alert id, kind, endpoint, message).
    pub fn alerts_after(&self, cursor: i64) -> Result<Vec<(i64, String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT alert_id, kind, endpoint, message FROM monitor_alerts
             WHERE alert_id > ?1 ORDER BY alert_id",
        )?;
        let rows = stmt
            .query_map([cursor], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn max_alert_id(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(alert_id), 0) FROM monitor_alerts",
            [],
            |r| r.get(0),
        )?)
    }

    /// Moves to Production after `cursor`: (audit id, model, version). Only what happened
    /// counts: promotions and rollbacks; a `gate_refused` record names Production as the stage
    /// asked for, but nothing moved.
    pub fn production_after(&self, cursor: i64) -> Result<Vec<(i64, String, Option<i64>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, version FROM registry_audit
             WHERE id > ?1 AND to_stage = 'Production' AND action IN ('promote', 'rollback')
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map([cursor], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn max_audit_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM registry_audit", [], |r| {
                r.get(0)
            })?)
    }

    /// Appends a `gate_refused` record to the registry's audit trail, so a pipeline's refused
    /// promotion is on the model's record next to the promotions.
    pub fn audit_refusal(
        &self,
        model: &str,
        version: i64,
        from_stage: &str,
        to_stage: &str,
        reason: &str,
        gate: &serde_json::Value,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO registry_audit (name, version, action, from_stage, to_stage, actor, at,
                 reason, gate)
             VALUES (?1, ?2, 'gate_refused', ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                model,
                version,
                from_stage,
                to_stage,
                crate::env::user_name(),
                now_ms(),
                reason,
                gate.to_string()
            ],
        )?;
        Ok(())
    }
}

/// Whether the trigger state `c` was decided on is still the stored one: the cursor has not
/// moved and none of its files has been recorded since.
fn cursor_unmoved(
    tx: &rusqlite::Transaction<'_>,
    pipeline: &str,
    c: &CursorUpdate,
) -> Result<bool> {
    let current: Option<i64> = tx
        .query_row(
            "SELECT cursor FROM pipeline_cursors WHERE pipeline = ?1 AND trigger_key = ?2",
            params![pipeline, c.key],
            |r| r.get(0),
        )
        .optional()?;
    if c.expected.is_some() && current != c.expected {
        return Ok(false);
    }
    for (path, size, mtime) in &c.files {
        let seen: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM pipeline_seen_files WHERE pipeline = ?1
                 AND trigger_key = ?2 AND path = ?3 AND size = ?4 AND mtime_ms = ?5)",
            params![pipeline, c.key, path, size, mtime],
            |r| r.get(0),
        )?;
        if seen {
            return Ok(false);
        }
    }
    Ok(true)
}

fn apply_cursor(tx: &rusqlite::Transaction<'_>, pipeline: &str, c: &CursorUpdate) -> Result<()> {
    let current: Option<i64> = tx
        .query_row(
            "SELECT cursor FROM pipeline_cursors WHERE pipeline = ?1 AND trigger_key = ?2",
            params![pipeline, c.key],
            |r| r.get(0),
        )
        .optional()?;
    let value = c.cursor.or(current).unwrap_or(0);
    tx.execute(
        "INSERT INTO pipeline_cursors (pipeline, trigger_key, cursor) VALUES (?1, ?2, ?3)
         ON CONFLICT (pipeline, trigger_key) DO UPDATE SET cursor = excluded.cursor",
        params![pipeline, c.key, value],
    )?;
    for (path, size, mtime) in &c.files {
        tx.execute(
            "INSERT INTO pipeline_seen_files (pipeline, trigger_key, path, size, mtime_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pipeline, trigger_key, path) DO UPDATE SET size = excluded.size,
                 mtime_ms = excluded.mtime_ms",
            params![pipeline, c.key, path, size, mtime],
        )?;
    }
    Ok(())
}

/// Marks `run_id` (whose runner died) INTERRUPTED with its running steps, kills the step
/// processes it left on this host, and releases its lock.
fn interrupt(
    tx: &rusqlite::Transaction<'_>,
    host_here: &str,
    run_id: &str,
    run_host: &str,
) -> Result<()> {
    if run_host == host_here {
        let children: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT child_pid FROM pipeline_steps
                 WHERE run_id = ?1 AND status = 'RUNNING' AND child_pid IS NOT NULL",
            )?;
            stmt.query_map([run_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for pid in children {
            kill_group(pid as u32);
        }
    }
    let now = now_ms();
    tx.execute(
        "UPDATE pipeline_steps SET status = 'INTERRUPTED', ended_at = ?2,
             error = coalesce(error, 'the runner stopped while this step ran')
         WHERE run_id = ?1 AND status = 'RUNNING'",
        params![run_id, now],
    )?;
    tx.execute(
        "UPDATE pipeline_runs SET status = 'INTERRUPTED', ended_at = ?2,
             error = 'the runner (pid ' || pid || ') stopped mid-pipeline; resume it with `cerebro pipeline resume ' || run_id || '`'
         WHERE run_id = ?1 AND status = 'RUNNING'",
        params![run_id, now],
    )?;
    tx.execute("DELETE FROM pipeline_locks WHERE run_id = ?1", [run_id])?;
    Ok(())
}

/// Whether the process that wrote `pid`/`host`/`heartbeat` is gone.
fn holder_dead(host_here: &str, pid: u32, host: &str, heartbeat: i64) -> bool {
    if now_ms() - heartbeat > STALE_HEARTBEAT_MS {
        return true;
    }
    host == host_here && !pid_alive(pid)
}

/// Kills the process group led by `pid` (step processes lead their own group).
pub fn kill_group(pid: u32) {
    crate::process::kill_group(pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_production_trigger_sees_promotions_and_rollbacks_not_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        let wf = WorkflowStore::open(store.db_path()).unwrap();
        let add = |version: i64, action: &str, to: Option<&str>| {
            wf.conn
                .execute(
                    "INSERT INTO registry_audit (name, version, action, from_stage, to_stage, actor, at)
                     VALUES ('m', ?1, ?2, 'None', ?3, 'me', 0)",
                    params![version, action, to],
                )
                .unwrap();
        };
        add(1, "register", None);
        add(1, "promote", Some("Production"));
        add(2, "gate_refused", Some("Production"));
        add(2, "promote", Some("Staging"));
        add(3, "gate_refused", Some("Production"));
        add(1, "archive", Some("Archived"));
        add(1, "rollback", Some("Production"));
        let fired: Vec<(i64, Option<i64>)> = wf
            .production_after(0)
            .unwrap()
            .into_iter()
            .map(|(id, _, v)| (id, v))
            .collect();
        assert_eq!(fired, [(2, Some(1)), (7, Some(1))]);
        assert_eq!(wf.production_after(2).unwrap().len(), 1);
    }
}
