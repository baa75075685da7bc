//! [`RegistryStore`] on the SQLite store. Every write is one `BEGIN IMMEDIATE` transaction that
//! re-checks its preconditions under the write lock and appends its audit record, so a refused
//! or interrupted call changes nothing. Partial unique indexes make "one Production and one
//! Staging version per model" a property of the database, not only of this code.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::notify::event::Event;
use crate::notify::outbox;
use crate::registry::{
    Alias, AuditRecord, ModelUri, ModelVersion, NewVersion, RegisteredModel, RegistryStore, Stage,
    Transition, check_deletable_alias, check_settable_alias,
};

const VERSION_COLUMNS: &str = "name, version, run_id, stage, artifact_digest, signature, \
    data_version, metrics, tags, description, source, created_by, created_at, updated_at";

fn version_from_row(row: &Row<'_>) -> rusqlite::Result<(ModelVersion, String, String, String)> {
    let stage: String = row.get(3)?;
    Ok((
        ModelVersion {
            name: row.get(0)?,
            version: row.get(1)?,
            run_id: row.get(2)?,
            stage: stage.parse().unwrap_or(Stage::None),
            aliases: Vec::new(),
            artifact_digest: row.get(4)?,
            signature: crate::data::schema::Signature {
                numeric: Vec::new(),
                categorical: Vec::new(),
                id: None,
                target: String::new(),
                positive: String::new(),
                raw_inputs: None,
            },
            data_version: row.get(6)?,
            metrics: BTreeMap::new(),
            tags: BTreeMap::new(),
            description: row.get(9)?,
            source: row.get(10)?,
            created_by: row.get(11)?,
            created_at: row.get(12)?,
            updated_at: row.get(13)?,
        },
        row.get(5)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

/// The `metrics` column: a JSON object whose undefined values are `"NaN"` (or `null`, as
/// versions registered before undefined metrics were handled may hold).
#[derive(serde::Deserialize)]
struct MetricsColumn(#[serde(with = "super::json_f64::map")] BTreeMap<String, f64>);

fn finish_version(
    conn: &Connection,
    raw: (ModelVersion, String, String, String),
) -> Result<ModelVersion> {
    let (mut v, signature, metrics, tags) = raw;
    v.signature = serde_json::from_str(&signature)?;
    v.metrics = serde_json::from_str::<MetricsColumn>(&metrics)?.0;
    v.tags = serde_json::from_str(&tags)?;
    let mut stmt = conn.prepare_cached(
        "SELECT alias FROM model_aliases WHERE name = ?1 AND version = ?2 ORDER BY alias",
    )?;
    v.aliases = stmt
        .query_map(params![v.name, v.version], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn load_version(conn: &Connection, name: &str, version: i64) -> Result<ModelVersion> {
    ensure_model(conn, name)?;
    let raw = conn
        .query_row(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ?1 AND version = ?2"
            ),
            params![name, version],
            version_from_row,
        )
        .optional()?
        .ok_or_else(|| Error::not_found("model version", format!("{name}/{version}")))?;
    finish_version(conn, raw)
}

fn ensure_model(conn: &Connection, name: &str) -> Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM registered_models WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(Error::not_found("registered model", name))
    }
}

fn stage_version(conn: &Connection, name: &str, stage: Stage) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT version FROM model_versions WHERE name = ?1 AND stage = ?2",
            params![name, stage.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

struct Audit<'a> {
    name: &'a str,
    version: Option<i64>,
    action: &'a str,
    from_stage: Option<&'a str>,
    to_stage: Option<&'a str>,
    alias: Option<&'a str>,
    replaced_version: Option<i64>,
    actor: &'a str,
    reason: Option<&'a str>,
    gate: Option<&'a serde_json::Value>,
}

impl<'a> Audit<'a> {
    /// The record of an alias being set or removed: no stage change, reason or gate.
    fn alias_change(
        name: &'a str,
        version: i64,
        action: &'a str,
        alias: &'a str,
        actor: &'a str,
    ) -> Audit<'a> {
        Audit {
            name,
            version: Some(version),
            action,
            from_stage: None,
            to_stage: None,
            alias: Some(alias),
            replaced_version: None,
            actor,
            reason: None,
            gate: None,
        }
    }
}

fn append_audit(conn: &Connection, a: &Audit<'_>) -> Result<AuditRecord> {
    let at = now_ms();
    let gate = a.gate.map(|g| g.to_string());
    conn.execute(
        "INSERT INTO registry_audit (name, version, action, from_stage, to_stage, alias, \
         replaced_version, actor, at, reason, gate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            a.name,
            a.version,
            a.action,
            a.from_stage,
            a.to_stage,
            a.alias,
            a.replaced_version,
            a.actor,
            at,
            a.reason,
            gate
        ],
    )?;
    let record = AuditRecord {
        id: conn.last_insert_rowid(),
        name: a.name.to_string(),
        version: a.version,
        action: a.action.to_string(),
        from_stage: a.from_stage.map(str::to_string),
        to_stage: a.to_stage.map(str::to_string),
        alias: a.alias.map(str::to_string),
        replaced_version: a.replaced_version,
        actor: a.actor.to_string(),
        at,
        reason: a.reason.map(str::to_string),
        gate: a.gate.cloned(),
    };
    // The webhook events of this change commit (or not) with it.
    outbox::enqueue(conn, &crate::notify::audit::from_audit(&record))?;
    Ok(record)
}

fn set_stage(conn: &Connection, name: &str, version: i64, stage: Stage, at: i64) -> Result<()> {
    conn.execute(
        "UPDATE model_versions SET stage = ?3, updated_at = ?4 WHERE name = ?1 AND version = ?2",
        params![name, version, stage.as_str(), at],
    )?;
    Ok(())
}

fn point_alias(conn: &Connection, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
    match version {
        Some(v) => conn.execute(
            "INSERT INTO model_aliases (name, alias, version) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
            params![name, alias, v],
        )?,
        None => conn.execute(
            "DELETE FROM model_aliases WHERE name = ?1 AND alias = ?2",
            params![name, alias],
        )?,
    };
    Ok(())
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<(AuditRecord, Option<String>)> {
    Ok((
        AuditRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            version: row.get(2)?,
            action: row.get(3)?,
            from_stage: row.get(4)?,
            to_stage: row.get(5)?,
            alias: row.get(6)?,
            replaced_version: row.get(7)?,
            actor: row.get(8)?,
            at: row.get(9)?,
            reason: row.get(10)?,
            gate: None,
        },
        row.get(11)?,
    ))
}

impl RegistryStore for SqliteStore {
    fn create_version(&mut self, new: &NewVersion) -> Result<ModelVersion> {
        let tx = self.write_tx()?;
        let now = now_ms();
        if let Some(run) = &new.run_id {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT version FROM model_versions WHERE name = ?1 AND run_id = ?2",
                    params![new.name.as_str(), run],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(v) = existing {
                return Err(Error::invalid(format!(
                    "run {run} is already registered as {}/{v}; register a new run instead",
                    new.name
                )));
            }
        }
        tx.execute(
            "INSERT INTO registered_models (name, created_at, updated_at) VALUES (?1, ?2, ?2) \
             ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
            params![new.name.as_str(), now],
        )?;
        let version: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?1",
            [new.name.as_str()],
            |r| r.get(0),
        )?;
        tx.execute(
            &format!(
                "INSERT INTO model_versions ({VERSION_COLUMNS}) VALUES \
                 (?1, ?2, ?3, 'None', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"
            ),
            params![
                new.name.as_str(),
                version,
                new.run_id,
                new.artifact_digest,
                serde_json::to_string(&new.signature)?,
                new.data_version,
                super::json_f64::to_text(&new.metrics),
                serde_json::to_string(&new.tags)?,
                new.description,
                new.source,
                new.actor,
                now
            ],
        )?;
        append_audit(
            &tx,
            &Audit {
                name: &new.name,
                version: Some(version),
                action: new.action,
                from_stage: None,
                to_stage: Some("None"),
                alias: None,
                replaced_version: None,
                actor: &new.actor,
                reason: None,
                gate: None,
            },
        )?;
        let v = load_version(&tx, &new.name, version)?;
        let mut events = Vec::new();
        if version == 1 {
            events.push(Event::registered_model_created(&new.name, ""));
        }
        events.push(crate::notify::audit::version_created(&v));
        outbox::enqueue(&tx, &events)?;
        tx.commit()?;
        Ok(v)
    }

    fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        let tx = self.read_tx()?;
        let mut aliases: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        {
            let mut stmt = tx.prepare("SELECT name, alias, version FROM model_aliases")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (n, a, v) = row?;
                aliases.entry(n).or_default().insert(a, v);
            }
        }
        let mut stmt = tx.prepare(
            "SELECT m.name, m.description, m.created_at, m.updated_at, \
                    COUNT(v.version), COALESCE(MAX(v.version), 0), \
                    MAX(CASE WHEN v.stage = 'Production' THEN v.version END), \
                    MAX(CASE WHEN v.stage = 'Staging' THEN v.version END) \
             FROM registered_models m LEFT JOIN model_versions v ON v.name = m.name \
             GROUP BY m.name ORDER BY m.name",
        )?;
        let models = stmt
            .query_map([], |r| {
                let name: String = r.get(0)?;
                Ok(RegisteredModel {
                    aliases: BTreeMap::new(),
                    name,
                    description: r.get(1)?,
                    created_at: r.get(2)?,
                    updated_at: r.get(3)?,
                    versions: r.get(4)?,
                    latest_version: r.get(5)?,
                    production: r.get(6)?,
                    staging: r.get(7)?,
                })
            })?
            .map(|m| {
                m.map(|mut m| {
                    m.aliases = aliases.remove(&m.name).unwrap_or_default();
                    m
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(models)
    }

    fn get_model(&self, name: &str) -> Result<RegisteredModel> {
        ensure_model(&self.conn, name)?;
        self.list_models()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::not_found("registered model", name))
    }

    fn list_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let tx = self.read_tx()?;
        ensure_model(&tx, name)?;
        let raws = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ?1 ORDER BY version DESC"
            ))?;
            stmt.query_map([name], version_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        raws.into_iter().map(|r| finish_version(&tx, r)).collect()
    }

    fn get_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let tx = self.read_tx()?;
        load_version(&tx, name, version)
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersion> {
        let tx = self.read_tx()?;
        let name = uri.name();
        ensure_model(&tx, name)?;
        let version = match uri {
            ModelUri::Version(_, v) => *v,
            ModelUri::Alias(_, alias) => tx
                .query_row(
                    "SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::not_found("alias", format!("{name}@{alias}")))?,
            ModelUri::Stage(_, stage) => stage_version(&tx, name, *stage)?.ok_or_else(|| {
                Error::not_found("model version in stage", format!("{name}/{stage}"))
            })?,
            // MLflow's `models:/NAME/latest`: the newest version whatever its stage.
            ModelUri::Latest(_) => tx
                .query_row(
                    "SELECT MAX(version) FROM model_versions WHERE name = ?1",
                    [name],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .ok_or_else(|| Error::not_found("model version", format!("{name}/latest")))?,
        };
        load_version(&tx, name, version)
    }

    fn transition(&mut self, t: &Transition) -> Result<AuditRecord> {
        let tx = self.write_tx()?;
        let current = load_version(&tx, &t.name, t.version)?;
        let production = stage_version(&tx, &t.name, Stage::Production)?;
        t.check(current.stage, production)?;
        let now = now_ms();
        let mut replaced = None;
        // The stage being left loses its alias; the stage being entered takes it over, and its
        // previous holder moves on (Production -> Archived, Staging -> None).
        if let Some(alias) = current.stage.alias() {
            point_alias(&tx, &t.name, alias, None)?;
        }
        if let Some(alias) = t.to.alias() {
            if let Some(previous) = stage_version(&tx, &t.name, t.to)? {
                let demoted = if t.to == Stage::Production {
                    replaced = Some(previous);
                    Stage::Archived
                } else {
                    Stage::None
                };
                set_stage(&tx, &t.name, previous, demoted, now)?;
                append_audit(
                    &tx,
                    &Audit {
                        name: &t.name,
                        version: Some(previous),
                        action: "archive",
                        from_stage: Some(t.to.as_str()),
                        to_stage: Some(demoted.as_str()),
                        alias: Some(alias),
                        replaced_version: None,
                        actor: &t.actor,
                        reason: Some(&format!("replaced by version {}", t.version)),
                        gate: None,
                    },
                )?;
            }
            set_stage(&tx, &t.name, t.version, t.to, now)?;
            point_alias(&tx, &t.name, alias, Some(t.version))?;
        } else {
            set_stage(&tx, &t.name, t.version, t.to, now)?;
        }
        tx.execute(
            "UPDATE registered_models SET updated_at = ?2 WHERE name = ?1",
            params![t.name, now],
        )?;
        let record = append_audit(
            &tx,
            &Audit {
                name: &t.name,
                version: Some(t.version),
                action: t.action,
                from_stage: Some(current.stage.as_str()),
                to_stage: Some(t.to.as_str()),
                alias: t.to.alias(),
                replaced_version: replaced,
                actor: &t.actor,
                reason: t.reason.as_deref(),
                gate: t.gate.as_ref(),
            },
        )?;
        tx.commit()?;
        Ok(record)
    }

    fn set_alias(
        &mut self,
        name: &str,
        alias: &Alias,
        version: i64,
        actor: &str,
    ) -> Result<AuditRecord> {
        check_settable_alias(alias)?;
        let alias = alias.as_str();
        let tx = self.write_tx()?;
        load_version(&tx, name, version)?;
        point_alias(&tx, name, alias, Some(version))?;
        let record = append_audit(
            &tx,
            &Audit::alias_change(name, version, "alias_set", alias, actor),
        )?;
        tx.commit()?;
        Ok(record)
    }

    fn delete_alias(&mut self, name: &str, alias: &str, actor: &str) -> Result<AuditRecord> {
        check_deletable_alias(alias)?;
        let tx = self.write_tx()?;
        ensure_model(&tx, name)?;
        let version: Option<i64> = tx
            .query_row(
                "SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2",
                params![name, alias],
                |r| r.get(0),
            )
            .optional()?;
        let Some(version) = version else {
            return Err(Error::not_found("alias", format!("{name}@{alias}")));
        };
        point_alias(&tx, name, alias, None)?;
        let record = append_audit(
            &tx,
            &Audit::alias_change(name, version, "alias_removed", alias, actor),
        )?;
        tx.commit()?;
        Ok(record)
    }

    fn history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let tx = self.read_tx()?;
        ensure_model(&tx, name)?;
        let mut stmt = tx.prepare(
            "SELECT id, name, version, action, from_stage, to_stage, alias, replaced_version, \
             actor, at, reason, gate FROM registry_audit WHERE name = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([name], audit_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(mut rec, gate)| {
                rec.gate = gate.map(|g| serde_json::from_str(&g)).transpose()?;
                Ok(rec)
            })
            .collect()
    }
}
