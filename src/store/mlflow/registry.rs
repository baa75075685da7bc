//! [`RegistryStore`] on an MLflow server's model registry. Stages follow the aliases
//! (`champion` = Production, `challenger` = Staging, Archived a version tag); the audit trail is
//! kept in registered-model tags. MLflow has no transactions, so a transition re-reads the
//! `champion` alias just before writing and refuses if it moved (a narrower window than the
//! SQLite store's, where the check and the write are one transaction).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{MlflowStore, double, int, key_value_list, key_values, quoted};
use crate::clock::now_ms;
use crate::data::schema::Signature;
use crate::error::{Error, Result};
use crate::notify::event::Event;
use crate::registry::{
    Alias, AuditRecord, CHALLENGER, CHAMPION, ModelUri, ModelVersion, NewVersion, RegisteredModel,
    RegistryStore, Stage, Transition, check_deletable_alias, check_settable_alias,
};

pub(crate) const TAG_DIGEST: &str = "cerebro.artifact_digest";
pub(crate) const TAG_SIGNATURE: &str = "cerebro.signature";
pub(crate) const TAG_DATA_VERSION: &str = "cerebro.data_version";
pub(crate) const TAG_METRICS: &str = "cerebro.metrics";
pub(crate) const TAG_SOURCE: &str = "cerebro.source";
pub(crate) const TAG_CREATED_BY: &str = "cerebro.created_by";
pub(crate) const TAG_STAGE: &str = "cerebro.stage";
/// When the version was registered in cerebro (kept across `sync export`).
pub(crate) const TAG_CREATED_AT: &str = "cerebro.created_at";
/// On a version exported by `cerebro sync export`: the local version number it copies.
pub const SOURCE_VERSION_TAG: &str = "cerebro.source_version";
const AUDIT_PREFIX: &str = "cerebro.audit.";

const VERSION_TAGS: [&str; 9] = [
    TAG_CREATED_AT,
    TAG_DIGEST,
    TAG_SIGNATURE,
    TAG_DATA_VERSION,
    TAG_METRICS,
    TAG_SOURCE,
    TAG_CREATED_BY,
    TAG_STAGE,
    SOURCE_VERSION_TAG,
];

fn empty_signature() -> Signature {
    Signature {
        numeric: Vec::new(),
        categorical: Vec::new(),
        id: None,
        target: String::new(),
        positive: String::new(),
        raw_inputs: None,
    }
}

/// A model version as MLflow returns it, in cerebro's shape. `model_aliases` are the registered
/// model's `[{alias, version}]`, for answers that leave a version's aliases out
/// (`model-versions/search` does).
pub(crate) fn version_from_json(v: &Value, model_aliases: Option<&Value>) -> ModelVersion {
    let tags = key_values(&v["tags"]);
    let number = int(&v["version"]).unwrap_or(0);
    let mut aliases: Vec<String> = match model_aliases {
        Some(all) => all
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| int(&a["version"]) == Some(number))
            .filter_map(|a| a["alias"].as_str().map(str::to_string))
            .collect(),
        None => v["aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    };
    aliases.sort();
    let stage = if aliases.iter().any(|a| a == CHAMPION) {
        Stage::Production
    } else if aliases.iter().any(|a| a == CHALLENGER) {
        Stage::Staging
    } else {
        match tags.get(TAG_STAGE).map(String::as_str) {
            Some("Archived") => Stage::Archived,
            Some(_) => Stage::None,
            // A version staged by MLflow's own (deprecated) stages.
            None => v["current_stage"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(Stage::None),
        }
    };
    let metrics: BTreeMap<String, f64> = tags
        .get(TAG_METRICS)
        .and_then(|m| serde_json::from_str::<BTreeMap<String, Value>>(m).ok())
        .map(|m| m.into_iter().map(|(k, v)| (k, double(&v))).collect())
        .unwrap_or_default();
    ModelVersion {
        name: v["name"].as_str().unwrap_or_default().to_string(),
        version: number,
        run_id: v["run_id"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        stage,
        aliases,
        artifact_digest: tags.get(TAG_DIGEST).cloned().unwrap_or_default(),
        signature: tags
            .get(TAG_SIGNATURE)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(empty_signature),
        data_version: tags.get(TAG_DATA_VERSION).cloned(),
        metrics,
        tags: tags
            .iter()
            .filter(|(k, _)| !VERSION_TAGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        description: v["description"].as_str().unwrap_or_default().to_string(),
        source: tags
            .get(TAG_SOURCE)
            .cloned()
            .or_else(|| v["source"].as_str().map(str::to_string))
            .unwrap_or_default(),
        created_by: tags
            .get(TAG_CREATED_BY)
            .cloned()
            .or_else(|| v["user_id"].as_str().map(str::to_string))
            .unwrap_or_default(),
        created_at: tags
            .get(TAG_CREATED_AT)
            .and_then(|t| t.parse().ok())
            .or_else(|| int(&v["creation_timestamp"]))
            .unwrap_or(0),
        updated_at: int(&v["last_updated_timestamp"]).unwrap_or(0),
    }
}

/// The local version number a remote version copies (`cerebro sync export`), if it is one.
fn source_version(v: &Value) -> Option<i64> {
    key_values(&v["tags"])
        .get(SOURCE_VERSION_TAG)
        .and_then(|s| s.parse().ok())
}

/// The version tags that carry what MLflow has no field for.
pub(crate) fn version_tags(
    digest: &str,
    signature: &Signature,
    data_version: Option<&str>,
    metrics: &BTreeMap<String, f64>,
    source: &str,
    created_by: &str,
    user_tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut tags = user_tags.clone();
    tags.insert(TAG_DIGEST.into(), digest.to_string());
    tags.insert(TAG_SIGNATURE.into(), serde_json::to_string(signature)?);
    tags.insert(TAG_METRICS.into(), crate::store::json_f64::to_text(metrics));
    tags.insert(TAG_SOURCE.into(), source.to_string());
    tags.insert(TAG_CREATED_BY.into(), created_by.to_string());
    if let Some(dv) = data_version {
        tags.insert(TAG_DATA_VERSION.into(), dv.to_string());
    }
    Ok(tags)
}

impl MlflowStore {
    fn registered_model(&self, name: &str) -> Result<Value> {
        self.client
            .get("registered-models/get", &[("name", name)])
            .map(|v| v["registered_model"].clone())
            .map_err(|e| self.err("registered model", name, e))
    }

    /// Creates the registered model unless it exists.
    pub(crate) fn ensure_registered_model(&self, name: &str) -> Result<bool> {
        match self
            .client
            .post("registered-models/create", &json!({"name": name}))
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_already_exists() => Ok(false),
            Err(e) => Err(self.err("registered model", name, e)),
        }
    }

    /// Every version of a model, oldest first, paged.
    pub(crate) fn search_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        Ok(self
            .search_versions_with_sources(name)?
            .into_iter()
            .map(|(v, _)| v)
            .collect())
    }

    /// Every version of a model, oldest first, each with the local version number it copies
    /// when `cerebro sync export` created it.
    pub fn search_versions_with_sources(
        &self,
        name: &str,
    ) -> Result<Vec<(ModelVersion, Option<i64>)>> {
        let model_aliases = self.registered_model(name)?["aliases"].clone();
        let filter = format!("name = {}", quoted(name));
        let mut out: Vec<(ModelVersion, Option<i64>)> = self
            .client
            .get_all(
                "model-versions/search",
                &[("filter", filter.as_str()), ("max_results", "10000")],
                "model_versions",
            )
            .map_err(|e| self.err("registered model", name, e))?
            .iter()
            .map(|v| {
                (
                    version_from_json(v, Some(&model_aliases)),
                    source_version(v),
                )
            })
            .collect();
        out.sort_by_key(|(v, _)| v.version);
        Ok(out)
    }

    fn version_json(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let v = version.to_string();
        self.client
            .get("model-versions/get", &[("name", name), ("version", &v)])
            .map(|r| version_from_json(&r["model_version"], None))
            .map_err(|e| self.err("model version", &format!("{name}/{version}"), e))
    }

    fn alias_version(&self, name: &str, alias: &str) -> Result<Option<i64>> {
        match self.client.get(
            "registered-models/alias",
            &[("name", name), ("alias", alias)],
        ) {
            Ok(v) => Ok(int(&v["model_version"]["version"])),
            Err(e) if e.is_not_found() || e.code() == Some("INVALID_PARAMETER_VALUE") => {
                // Tell a missing model from a missing alias.
                self.registered_model(name)?;
                Ok(None)
            }
            Err(e) => Err(self.err("alias", &format!("{name}@{alias}"), e)),
        }
    }

    pub(crate) fn point_alias(&self, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
        let result = match version {
            Some(v) => self.client.post(
                "registered-models/alias",
                &json!({"name": name, "alias": alias, "version": v.to_string()}),
            ),
            None => match self.client.delete(
                "registered-models/alias",
                &json!({"name": name, "alias": alias}),
            ) {
                Err(e) if e.is_not_found() => Ok(Value::Null),
                other => other,
            },
        };
        result
            .map(|_| ())
            .map_err(|e| self.err("alias", &format!("{name}@{alias}"), e))
    }

    pub(crate) fn set_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.client
            .post(
                "model-versions/set-tag",
                &json!({"name": name, "version": version.to_string(), "key": key, "value": value}),
            )
            .map(|_| ())
            .map_err(|e| self.err("model version", &format!("{name}/{version}"), e))
    }

    fn set_stage(&self, name: &str, version: i64, stage: Stage) -> Result<()> {
        self.set_version_tag(name, version, TAG_STAGE, stage.as_str())
    }

    /// Appends an audit record to the model's tags; returns it with its id.
    pub(crate) fn append_audit(&self, mut record: AuditRecord) -> Result<AuditRecord> {
        let last = self
            .history(&record.name)?
            .last()
            .map(|r| r.id)
            .unwrap_or(0);
        record.id = last + 1;
        let key = format!("{AUDIT_PREFIX}{:06}", record.id);
        self.client
            .post(
                "registered-models/set-tag",
                &json!({"name": record.name, "key": key,
                        "value": serde_json::to_string(&record)?}),
            )
            .map_err(|e| self.err("registered model", &record.name, e))?;
        // The server has no transaction to share: the events are recorded once it accepted.
        crate::notify::outbox::enqueue(
            &self.local.conn,
            &crate::notify::audit::from_audit(&record),
        )?;
        Ok(record)
    }

    /// `model-versions/create`: the next version of `name` (which must exist), from run `run_id`
    /// of this server if given.
    pub(crate) fn create_remote_version(
        &self,
        name: &str,
        run_id: Option<&str>,
        cerebro_source: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ModelVersion> {
        // MLflow wants a source URI: the run's artifact folder when there is a run on this server.
        let source = match run_id.map(|run| self.artifact_root(run)) {
            Some(Ok(root)) => format!("mlflow-artifacts:/{root}/model.json"),
            _ => format!("cerebro:{cerebro_source}"),
        };
        let mut body = json!({
            "name": name,
            "source": source,
            "description": description,
            "tags": key_value_list(tags.iter()),
        });
        if let Some(run) = run_id {
            body["run_id"] = json!(run);
        }
        let created = self
            .client
            .post("model-versions/create", &body)
            .map_err(|e| self.err("registered model", name, e))?;
        Ok(version_from_json(&created["model_version"], None))
    }

    fn model_from_json(&self, m: &Value) -> Result<RegisteredModel> {
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let versions = self.search_versions(&name)?;
        let mut aliases = BTreeMap::new();
        for a in m["aliases"].as_array().into_iter().flatten() {
            if let (Some(alias), Some(v)) = (a["alias"].as_str(), int(&a["version"])) {
                aliases.insert(alias.to_string(), v);
            }
        }
        let in_stage = |s: Stage| versions.iter().find(|v| v.stage == s).map(|v| v.version);
        Ok(RegisteredModel {
            description: m["description"].as_str().unwrap_or_default().to_string(),
            created_at: int(&m["creation_timestamp"]).unwrap_or(0),
            updated_at: int(&m["last_updated_timestamp"]).unwrap_or(0),
            versions: versions.len() as i64,
            latest_version: versions.iter().map(|v| v.version).max().unwrap_or(0),
            production: in_stage(Stage::Production),
            staging: in_stage(Stage::Staging),
            aliases,
            name,
        })
    }
}

fn audit(name: &str, version: Option<i64>, action: &str, actor: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        name: name.to_string(),
        version,
        action: action.to_string(),
        from_stage: None,
        to_stage: None,
        alias: None,
        replaced_version: None,
        actor: actor.to_string(),
        at: now_ms(),
        reason: None,
        gate: None,
    }
}

impl RegistryStore for MlflowStore {
    fn create_version(&mut self, new: &NewVersion) -> Result<ModelVersion> {
        let created_model = self.ensure_registered_model(&new.name)?;
        if let Some(run) = &new.run_id
            && let Some(v) = self
                .search_versions(&new.name)?
                .into_iter()
                .find(|v| v.run_id.as_deref() == Some(run))
        {
            return Err(Error::invalid(format!(
                "run {run} is already registered as {}/{}; register a new run instead",
                new.name, v.version
            )));
        }
        let tags = version_tags(
            &new.artifact_digest,
            &new.signature,
            new.data_version.as_deref(),
            &new.metrics,
            &new.source,
            &new.actor,
            &new.tags,
        )?;
        let v = self.create_remote_version(
            &new.name,
            new.run_id.as_deref(),
            &new.source,
            &new.description,
            &tags,
        )?;
        let mut record = audit(&new.name, Some(v.version), new.action, &new.actor);
        record.to_stage = Some("None".into());
        self.append_audit(record)?;
        let v = self.version_json(&new.name, v.version)?;
        let mut events = Vec::new();
        if created_model {
            events.push(Event::registered_model_created(&new.name, ""));
        }
        events.push(crate::notify::audit::version_created(&v));
        crate::notify::outbox::enqueue(&self.local.conn, &events)?;
        Ok(v)
    }

    fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        let mut out = self
            .client
            .get_all(
                "registered-models/search",
                &[("max_results", "1000")],
                "registered_models",
            )
            .map_err(|e| self.err("registered models", "search", e))?
            .iter()
            .map(|m| self.model_from_json(m))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn get_model(&self, name: &str) -> Result<RegisteredModel> {
        let m = self.registered_model(name)?;
        self.model_from_json(&m)
    }

    fn list_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.registered_model(name)?;
        let mut versions = self.search_versions(name)?;
        versions.reverse();
        Ok(versions)
    }

    fn get_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        self.registered_model(name)?;
        self.version_json(name, version)
    }

    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersion> {
        let name = uri.name();
        let version = match uri {
            ModelUri::Version(_, v) => *v,
            ModelUri::Alias(_, alias) => self
                .alias_version(name, alias)?
                .ok_or_else(|| Error::not_found("alias", format!("{name}@{alias}")))?,
            ModelUri::Stage(_, stage) => {
                let found = match stage.alias() {
                    Some(alias) => self.alias_version(name, alias)?,
                    None => self
                        .search_versions(name)?
                        .into_iter()
                        .rev()
                        .find(|v| v.stage == *stage)
                        .map(|v| v.version),
                };
                found.ok_or_else(|| {
                    Error::not_found("model version in stage", format!("{name}/{stage}"))
                })?
            }
            ModelUri::Latest(_) => {
                self.registered_model(name)?;
                self.search_versions(name)?
                    .iter()
                    .map(|v| v.version)
                    .max()
                    .ok_or_else(|| Error::not_found("model version", format!("{name}/latest")))?
            }
        };
        self.get_version(name, version)
    }

    fn transition(&mut self, t: &Transition) -> Result<AuditRecord> {
        let current = self.get_version(&t.name, t.version)?;
        let production = self.alias_version(&t.name, CHAMPION)?;
        t.check(current.stage, production)?;
        let mut replaced = None;
        if let Some(alias) = current.stage.alias() {
            self.point_alias(&t.name, alias, None)?;
        }
        if let Some(alias) = t.to.alias() {
            let previous = self.alias_version(&t.name, alias)?;
            // The new holder first: the alias moves in one call, so Production is never empty.
            self.set_stage(&t.name, t.version, t.to)?;
            self.point_alias(&t.name, alias, Some(t.version))?;
            if let Some(previous) = previous.filter(|&p| p != t.version) {
                let demoted = if t.to == Stage::Production {
                    replaced = Some(previous);
                    Stage::Archived
                } else {
                    Stage::None
                };
                self.set_stage(&t.name, previous, demoted)?;
                let mut record = audit(&t.name, Some(previous), "archive", &t.actor);
                record.from_stage = Some(t.to.as_str().into());
                record.to_stage = Some(demoted.as_str().into());
                record.alias = Some(alias.into());
                record.reason = Some(format!("replaced by version {}", t.version));
                self.append_audit(record)?;
            }
        } else {
            self.set_stage(&t.name, t.version, t.to)?;
        }
        let mut record = audit(&t.name, Some(t.version), t.action, &t.actor);
        record.from_stage = Some(current.stage.as_str().into());
        record.to_stage = Some(t.to.as_str().into());
        record.alias = t.to.alias().map(str::to_string);
        record.replaced_version = replaced;
        record.reason = t.reason.clone();
        record.gate = t.gate.clone();
        self.append_audit(record)
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
        self.get_version(name, version)?;
        self.point_alias(name, alias, Some(version))?;
        let mut record = audit(name, Some(version), "alias_set", actor);
        record.alias = Some(alias.into());
        self.append_audit(record)
    }

    fn delete_alias(&mut self, name: &str, alias: &str, actor: &str) -> Result<AuditRecord> {
        check_deletable_alias(alias)?;
        let version = self
            .alias_version(name, alias)?
            .ok_or_else(|| Error::not_found("alias", format!("{name}@{alias}")))?;
        self.point_alias(name, alias, None)?;
        let mut record = audit(name, Some(version), "alias_removed", actor);
        record.alias = Some(alias.into());
        self.append_audit(record)
    }

    fn history(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let m = self.registered_model(name)?;
        let mut records: Vec<AuditRecord> = key_values(&m["tags"])
            .into_iter()
            .filter(|(k, _)| k.starts_with(AUDIT_PREFIX))
            .filter_map(|(_, v)| serde_json::from_str(&v).ok())
            .collect();
        records.sort_by_key(|r| r.id);
        Ok(records)
    }
}
