//! Writes into the local SQLite store that `cerebro sync import` needs and the
//! [`TrackingStore`](crate::store::TrackingStore) API does not offer: a run inserted whole with
//! its own id, times and status, and a model version with its own number, stage and aliases.
//! Each is one transaction, so an interrupted import leaves nothing half-written.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::registry::ModelVersion;
use crate::store::{MetricPoint, RunDetail, SqliteStore};

/// What importing one model version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionImport {
    Inserted,
    /// The version existed; its stage, aliases or tags were brought in line.
    Updated,
    Unchanged,
}

impl SqliteStore {
    /// Whether a run with exactly this id exists.
    pub fn has_run(&self, run_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM runs WHERE run_id = ?1)")?
            .query_row([run_id], |r| r.get(0))?)
    }

    /// Inserts a run of another store whole (its id, times, status, params, tags, artifacts and
    /// every metric point). Returns false, changing nothing, if the id is already here.
    pub fn import_run(&mut self, run: &RunDetail, points: &[MetricPoint]) -> Result<bool> {
        let s = &run.summary;
        let tx = self.write_tx()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM runs WHERE run_id = ?1)",
            [&s.run_id],
            |r| r.get(0),
        )?;
        if exists {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO experiments (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![s.experiment, now_ms()],
        )?;
        let experiment: i64 = tx.query_row(
            "SELECT experiment_id FROM experiments WHERE name = ?1",
            [&s.experiment],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO runs (run_id, experiment_id, name, model_kind, status, start_time,
                               end_time, pid, host, last_heartbeat, data_version, source, error,
                               environment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                s.run_id,
                experiment,
                s.name,
                s.model_kind,
                s.status.as_str(),
                s.start_time,
                s.end_time,
                run.pid,
                run.host,
                run.last_heartbeat,
                s.data_version,
                run.source,
                run.error,
                serde_json::to_string(&run.environment)?
            ],
        )?;
        for (k, v) in &s.params {
            tx.execute(
                "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)",
                params![s.run_id, k, v],
            )?;
        }
        for (k, v) in &run.tags {
            tx.execute(
                "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)",
                params![s.run_id, k, v],
            )?;
        }
        for a in &run.artifacts {
            tx.execute(
                "INSERT INTO artifacts (run_id, name, digest, size, path) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.run_id, a.name, a.digest, a.size as i64, a.path],
            )?;
        }
        if !points.is_empty() {
            let first_seq: i64 = tx.query_row(
                "UPDATE metric_seq SET next = next + ?1 WHERE id = 0 RETURNING next - ?1",
                [points.len() as i64],
                |r| r.get(0),
            )?;
            let mut latest: HashMap<&str, &MetricPoint> = HashMap::new();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO metrics (run_id, key, step, timestamp, seq, value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (i, p) in points.iter().enumerate() {
                    insert.execute(params![
                        s.run_id,
                        p.key,
                        p.step,
                        p.timestamp,
                        first_seq + i as i64,
                        (!p.value.is_nan()).then_some(p.value)
                    ])?;
                    latest
                        .entry(p.key.as_str())
                        .and_modify(|cur| {
                            if (p.step, p.timestamp) >= (cur.step, cur.timestamp) {
                                *cur = p;
                            }
                        })
                        .or_insert(p);
                }
            }
            for p in latest.values() {
                tx.execute(
                    "INSERT INTO latest_metrics (run_id, key, value, step, timestamp)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        s.run_id,
                        p.key,
                        (!p.value.is_nan()).then_some(p.value),
                        p.step,
                        p.timestamp
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    /// Brings model version `v` (number, stage, aliases, tags and all) into this store: inserts
    /// it, or updates the stage, aliases, tags and description of the version already here. A
    /// version here with the same number but another artifact is a conflict and changes nothing.
    /// Stage and alias holders it displaces lose them, as a transition would do.
    pub fn import_version(&mut self, v: &ModelVersion, actor: &str) -> Result<VersionImport> {
        let tx = self.write_tx()?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO registered_models (name, created_at, updated_at) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO NOTHING",
            params![v.name, v.created_at],
        )?;
        let existing: Option<(String, String, String, String, String)> = tx
            .query_row(
                "SELECT artifact_digest, stage, tags, description,
                        (SELECT COALESCE(json_group_array(alias), '[]') FROM
                           (SELECT alias FROM model_aliases WHERE name = ?1 AND version = ?2
                            ORDER BY alias))
                 FROM model_versions WHERE name = ?1 AND version = ?2",
                params![v.name, v.version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let tags = serde_json::to_string(&v.tags)?;
        let aliases = serde_json::to_string(&v.aliases)?;
        let outcome = match &existing {
            Some((digest, _, _, _, _)) if *digest != v.artifact_digest => {
                return Err(Error::invalid(format!(
                    "{}/{} here has artifact {digest}, the imported one {}: not importing over it",
                    v.name, v.version, v.artifact_digest
                )));
            }
            Some((_, stage, t, d, a))
                if *stage == v.stage.as_str()
                    && *t == tags
                    && *d == v.description
                    && *a == aliases =>
            {
                return Ok(VersionImport::Unchanged);
            }
            Some(_) => VersionImport::Updated,
            None => VersionImport::Inserted,
        };
        // Whoever holds the incoming stage (Production, Staging) gives it up first.
        if v.stage.alias().is_some() {
            tx.execute(
                "UPDATE model_versions SET stage = CASE WHEN ?2 = 'Production' THEN 'Archived' ELSE 'None' END,
                        updated_at = ?4
                 WHERE name = ?1 AND stage = ?2 AND version != ?3",
                params![v.name, v.stage.as_str(), v.version, now],
            )?;
        }
        if outcome == VersionImport::Inserted {
            tx.execute(
                "INSERT INTO model_versions (name, version, run_id, stage, artifact_digest,
                     signature, data_version, metrics, tags, description, source, created_by,
                     created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    v.name,
                    v.version,
                    v.run_id,
                    v.stage.as_str(),
                    v.artifact_digest,
                    serde_json::to_string(&v.signature)?,
                    v.data_version,
                    serde_json::to_string(&v.metrics)?,
                    tags,
                    v.description,
                    v.source,
                    v.created_by,
                    v.created_at,
                    v.updated_at
                ],
            )?;
        } else {
            tx.execute(
                "UPDATE model_versions SET stage = ?3, tags = ?4, description = ?5, updated_at = ?6
                 WHERE name = ?1 AND version = ?2",
                params![
                    v.name,
                    v.version,
                    v.stage.as_str(),
                    tags,
                    v.description,
                    v.updated_at
                ],
            )?;
        }
        tx.execute(
            "DELETE FROM model_aliases WHERE name = ?1 AND version = ?2",
            params![v.name, v.version],
        )?;
        for alias in &v.aliases {
            tx.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                params![v.name, alias, v.version],
            )?;
        }
        tx.execute(
            "INSERT INTO registry_audit (name, version, action, from_stage, to_stage, actor, at, reason)
             VALUES (?1, ?2, 'import', ?3, ?4, ?5, ?6, ?7)",
            params![
                v.name,
                v.version,
                existing.as_ref().map(|e| e.1.clone()),
                v.stage.as_str(),
                actor,
                now,
                format!("sync import ({})", v.source)
            ],
        )?;
        tx.execute(
            "UPDATE registered_models SET updated_at = max(updated_at, ?2) WHERE name = ?1",
            params![v.name, v.updated_at],
        )?;
        tx.commit()?;
        Ok(outcome)
    }
}
