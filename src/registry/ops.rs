//! Registry operations that need more than the store: registering a run (its artifact must be
//! present), the promotion gate (re-scores candidate and champion on the candidate's test data
//! version), promotion, rollback, lineage, and export/import for CI/CD hand-off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ModelUri, ModelVersion, NewVersion, Stage, Transition};
use crate::config::Direction;
use crate::data::schema::Signature;
use crate::error::{Error, Result};
use crate::store::{Environment, RunStatus};
use crate::train::Model;
use crate::workspace::Workspace;

/// Registers a finished run as the next version of `name`.
pub fn register(
    ws: &mut Workspace,
    run_ref: &str,
    name: &super::ModelName,
    description: &str,
    tags: BTreeMap<String, String>,
) -> Result<ModelVersion> {
    for (k, v) in &tags {
        crate::names::check_tag_key(k)?;
        crate::names::check_version_tag_value(k, v)?;
    }
    let run = ws.store.get_run(run_ref)?;
    let s = &run.summary;
    if s.status != RunStatus::Finished {
        return Err(Error::invalid(format!(
            "run {} is {}: only FINISHED runs can be registered",
            s.run_id,
            s.status.as_str()
        )));
    }
    let artifact = run
        .artifacts
        .iter()
        .find(|a| a.name == "model.json")
        .ok_or_else(|| Error::invalid(format!("run {} logged no model artifact", s.run_id)))?;
    // On a remote backend this downloads the artifact into the local cache.
    let bytes = ws
        .store
        .artifact_bytes(Some(&s.run_id), &artifact.name, &artifact.digest)
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid(format!(
                "the model artifact of run {} is missing from the store ({} not found at {})",
                s.run_id,
                artifact.digest,
                ws.store.artifacts().path_of(&artifact.digest).display()
            )),
            other => other,
        })?;
    let model = Model::from_bytes(&bytes)?;
    let metrics: BTreeMap<String, f64> = s
        .metrics
        .iter()
        .filter(|(k, _)| !k.ends_with("_by_trees"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    ws.store.create_version(&NewVersion {
        name: name.clone(),
        run_id: Some(s.run_id.clone()),
        artifact_digest: artifact.digest.clone(),
        signature: model.signature.clone(),
        data_version: s.data_version.clone(),
        metrics,
        tags,
        description: description.to_string(),
        source: format!("run:{}", s.run_id),
        actor: crate::env::user_name(),
        action: "register",
    })
}

/// The structured result of a promotion gate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateResult {
    pub model: String,
    pub candidate_version: i64,
    pub champion_version: Option<i64>,
    pub metric: String,
    pub direction: Direction,
    pub data_version: String,
    /// NaN when the metric is undefined on the test data (`null` in JSON).
    #[serde(with = "crate::store::json_f64::value")]
    pub candidate_value: f64,
    pub champion_value: Option<f64>,
    /// candidate - champion (positive = higher).
    pub delta: Option<f64>,
    pub threshold: Option<f64>,
    pub min_improvement: f64,
    pub min_relative_improvement: f64,
    pub signature_compatible: bool,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
}

/// Why the candidate cannot take the champion's traffic. Format-1 models take exactly their
/// columns, so the columns and types must match both ways. A pipeline model reads raw records,
/// and a raw column it does not read is accepted and ignored: the candidate may read fewer
/// columns, but not one the champion does not read (the champion's clients may not send it,
/// and it would silently be missing), nor a shared column with another type.
fn signature_problems(candidate: &Model, champion: &Model) -> Vec<String> {
    let (cs, hs) = (&candidate.signature, &champion.signature);
    let cand: BTreeMap<String, &str> = cs.inputs().into_iter().collect();
    let champ: BTreeMap<String, &str> = hs.inputs().into_iter().collect();
    let lenient = !candidate.preparation.schema.required && !champion.preparation.schema.required;
    let mut problems = Vec::new();
    for (col, ty) in &champ {
        match cand.get(col) {
            None if lenient => {}
            None => problems.push(format!(
                "the candidate's signature lacks column `{col}` ({ty}) that the champion takes"
            )),
            Some(t) if t != ty => problems.push(format!(
                "column `{col}` is {t} for the candidate but {ty} for the champion"
            )),
            _ => {}
        }
    }
    for (col, ty) in &cand {
        if !champ.contains_key(col) {
            problems.push(format!(
                "the candidate needs column `{col}` ({ty}) that the champion's clients do not send"
            ));
        }
    }
    if cs.target != hs.target || cs.positive != hs.positive {
        problems.push(format!(
            "the candidate predicts {}={} but the champion {}={}",
            cs.target, cs.positive, hs.target, hs.positive
        ));
    }
    problems
}

fn artifact_bytes(ws: &Workspace, v: &ModelVersion) -> Result<Vec<u8>> {
    ws.store
        .artifact_bytes(v.run_id.as_deref(), "model.json", &v.artifact_digest)
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid(format!(
                "the artifact of {}/{} is missing from the store ({} not found)",
                v.name, v.version, v.artifact_digest
            )),
            other => other,
        })
}

fn load_model(ws: &Workspace, v: &ModelVersion) -> Result<Model> {
    Model::from_bytes(&artifact_bytes(ws, v)?)
}

/// Why a metric is undefined on a test set with labels `truth`: the usual cause is one class.
fn undefined_why(truth: &[u8]) -> String {
    let c = crate::data::ClassCounts::of(truth);
    if c.positive == 0 || c.negative == 0 {
        format!(
            "its test set has {} positive and {} negative rows, and the metric needs both classes",
            c.positive, c.negative
        )
    } else {
        "the model's scores are not finite".to_string()
    }
}

/// The version `uri` names and its model artifact.
pub fn load_model_at(ws: &Workspace, uri: &ModelUri) -> Result<(ModelVersion, Model)> {
    let v = ws.store.resolve(uri)?;
    let m = load_model(ws, &v)?;
    Ok((v, m))
}

fn metric_value(metrics: &crate::train::Metrics, name: &str) -> Result<f64> {
    metrics
        .scalars()
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .ok_or_else(|| Error::invalid(format!("unknown gate metric `{name}`")))
}

/// Evaluates the gate for promoting `name/version`. Changes nothing.
pub fn evaluate_gate(ws: &Workspace, name: &str, version: i64) -> Result<GateResult> {
    let gate = ws.config.config.registry.gate_for(name).clone();
    let candidate = ws.store.get_version(name, version)?;
    let champion = ws
        .store
        .resolve(&ModelUri::Stage(name.to_string(), Stage::Production))
        .ok()
        .filter(|c| c.version != version);
    let data_version = candidate.data_version.clone().ok_or_else(|| {
        Error::invalid(format!(
            "{name}/{version} has no data version to evaluate on"
        ))
    })?;
    let dv = ws.store.get_data_version(&data_version)?;
    let data = crate::data::load_version(&ws.store_root(), &dv)?;
    let cand_model = load_model(ws, &candidate)?;
    // The labels come from the data version; each model scores its raw rows through its own
    // preparation (the one scoring path).
    let truth = data.labels(&data.test, &cand_model.signature.features_only())?;
    let score = |model: &Model| -> Result<f64> {
        let proba = model.score_frame(&data.test)?.probabilities;
        metric_value(
            &crate::train::metrics::evaluate(&truth, &proba),
            &gate.metric,
        )
    };
    let candidate_value = score(&cand_model)?;
    let mut reasons = Vec::new();
    // An undefined metric (NaN: ROC AUC on a test set with one class) can be compared with
    // nothing: the gate refuses it outright, as no threshold or improvement can be checked.
    let undefined = !candidate_value.is_finite();
    if undefined {
        reasons.push(format!(
            "metric {} is undefined for this version (on data version {}: {})",
            gate.metric,
            &data_version[..12.min(data_version.len())],
            undefined_why(&truth)
        ));
    }
    let mut signature_compatible = true;
    let (mut champion_value, mut delta) = (None, None);
    if let Some(champ) = &champion {
        let champ_model = load_model(ws, champ)?;
        let problems = signature_problems(&cand_model, &champ_model);
        if problems.is_empty() {
            let cv = score(&champ_model)?;
            champion_value = Some(cv);
            // A champion whose value is undefined sets no bar to beat.
            if !undefined && cv.is_finite() {
                let d = candidate_value - cv;
                delta = Some(d);
                let gain = match gate.direction {
                    Direction::Maximize => d,
                    Direction::Minimize => -d,
                };
                if gain < gate.min_improvement {
                    reasons.push(format!(
                        "{} {:.4} vs champion {}'s {:.4}: improvement {:+.4} is below the required {:.4}",
                        gate.metric, candidate_value, champ.version, cv, gain, gate.min_improvement
                    ));
                }
                let relative_needed = gate.min_relative_improvement * cv.abs();
                if gate.min_relative_improvement > 0.0 && gain < relative_needed {
                    reasons.push(format!(
                        "{} improvement {:+.4} is below {:.2}% of the champion's value ({:.4})",
                        gate.metric,
                        gain,
                        gate.min_relative_improvement * 100.0,
                        relative_needed
                    ));
                }
            }
        } else {
            signature_compatible = false;
            reasons.extend(problems);
        }
    }
    if let Some(t) = gate.threshold
        && !undefined
    {
        let ok = match gate.direction {
            Direction::Maximize => candidate_value >= t,
            Direction::Minimize => candidate_value <= t,
        };
        if !ok {
            reasons.push(format!(
                "{} {:.4} does not reach the threshold {:.4}",
                gate.metric, candidate_value, t
            ));
        }
    }
    Ok(GateResult {
        model: name.to_string(),
        candidate_version: version,
        champion_version: champion.map(|c| c.version),
        metric: gate.metric,
        direction: gate.direction,
        data_version,
        candidate_value,
        champion_value,
        delta,
        threshold: gate.threshold,
        min_improvement: gate.min_improvement,
        min_relative_improvement: gate.min_relative_improvement,
        signature_compatible,
        passed: reasons.is_empty(),
        reasons,
    })
}

/// What a promotion did.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub gate: GateResult,
    pub forced: bool,
    pub record: super::AuditRecord,
}

/// Why a promotion did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("the gate refused {}/{}: {}", .0.model, .0.candidate_version, .0.reasons.join("; "))]
    GateFailed(Box<GateResult>),
    #[error(transparent)]
    Other(#[from] Error),
}

/// Promotes `name/version` to `to` (Staging or Production) through the gate. A failed gate
/// refuses unless `force` with a non-empty `reason`, which is recorded.
pub fn promote(
    ws: &mut Workspace,
    name: &str,
    version: i64,
    to: Stage,
    force: bool,
    reason: Option<&str>,
) -> Result<Promotion, PromoteError> {
    if !matches!(to, Stage::Staging | Stage::Production) {
        return Err(Error::invalid(format!(
            "promote moves a version to Staging or Production, not {to}; use `models archive` to archive"
        ))
        .into());
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if force && reason.is_none() {
        return Err(
            Error::invalid("--force needs --reason TEXT: say why the gate is overridden").into(),
        );
    }
    let gate = evaluate_gate(ws, name, version)?;
    if !gate.passed && !force {
        return Err(PromoteError::GateFailed(Box::new(gate)));
    }
    // The gate compared against `champion_version`; the transition must still find it there.
    let expected_production = if ws.store.get_version(name, version)?.stage == Stage::Production {
        Some(version)
    } else {
        gate.champion_version
    };
    let record = ws.store.transition(&Transition {
        name: name.to_string(),
        version,
        to,
        expected_production,
        actor: crate::env::user_name(),
        reason: reason.map(str::to_string),
        gate: Some(serde_json::to_value(&gate).map_err(Error::from)?),
        action: "promote",
    })?;
    Ok(Promotion {
        forced: !gate.passed,
        gate,
        record,
    })
}

fn current_production(ws: &Workspace, name: &str) -> Result<Option<i64>> {
    match ws
        .store
        .resolve(&ModelUri::Stage(name.to_string(), Stage::Production))
    {
        Ok(v) => Ok(Some(v.version)),
        Err(Error::NotFound { .. }) => {
            ws.store.get_model(name)?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Archives a version (leaving Production or Staging empty if it held them).
pub fn archive(
    ws: &mut Workspace,
    name: &str,
    version: i64,
    reason: Option<&str>,
) -> Result<super::AuditRecord> {
    let expected = current_production(ws, name)?;
    ws.store.transition(&Transition {
        name: name.to_string(),
        version,
        to: Stage::Archived,
        expected_production: expected,
        actor: crate::env::user_name(),
        reason: reason.map(str::to_string),
        gate: None,
        action: "archive",
    })
}

/// Restores the Production version the current one replaced.
pub fn rollback(
    ws: &mut Workspace,
    name: &str,
    reason: Option<&str>,
) -> Result<super::AuditRecord> {
    let current = current_production(ws, name)?.ok_or_else(|| {
        Error::invalid(format!("`{name}` has no Production version to roll back"))
    })?;
    let history = ws.store.history(name)?;
    let previous = history
        .iter()
        .rev()
        .find(|r| r.version == Some(current) && r.to_stage.as_deref() == Some("Production"))
        .and_then(|r| r.replaced_version)
        .ok_or_else(|| {
            Error::invalid(format!(
                "{name}/{current} did not replace another Production version: nothing to roll back to"
            ))
        })?;
    ws.store.transition(&Transition {
        name: name.to_string(),
        version: previous,
        to: Stage::Production,
        expected_production: Some(current),
        actor: crate::env::user_name(),
        reason: Some(
            reason
                .map(str::to_string)
                .unwrap_or_else(|| format!("rollback from version {current}")),
        ),
        gate: None,
        action: "rollback",
    })
}

/// Version -> run -> data version -> git commit -> config hash -> environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lineage {
    pub model: String,
    pub version: i64,
    pub stage: Stage,
    pub aliases: Vec<String>,
    pub run_id: Option<String>,
    pub run_status: Option<String>,
    pub experiment: Option<String>,
    pub data_version: Option<String>,
    pub data_snapshot_present: bool,
    pub artifact_digest: String,
    pub artifact_present: bool,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    pub git_dirty: Option<bool>,
    pub config_hash: Option<String>,
    pub environment: Option<Environment>,
    pub params: BTreeMap<String, String>,
    /// The version's signature: its features and, for a pipeline model, the raw input schema
    /// (the dataset columns it reads). Absent from manifests written before it was recorded.
    #[serde(default)]
    pub signature: Option<Signature>,
}

pub fn lineage(ws: &Workspace, uri: &ModelUri) -> Result<Lineage> {
    let v = ws.store.resolve(uri)?;
    let run = v.run_id.as_deref().and_then(|r| ws.store.get_run(r).ok());
    let snapshot_present = match &v.data_version {
        Some(id) => match ws.store.get_data_version(id) {
            Ok(dv) => ws
                .store_root()
                .join(&dv.snapshot_dir)
                .join("test.parquet")
                .exists(),
            Err(_) => false,
        },
        None => false,
    };
    let env = run.as_ref().map(|r| r.environment.clone());
    Ok(Lineage {
        model: v.name.clone(),
        version: v.version,
        stage: v.stage,
        aliases: v.aliases.clone(),
        run_id: v.run_id.clone(),
        run_status: run.as_ref().map(|r| r.summary.status.as_str().to_string()),
        experiment: run.as_ref().map(|r| r.summary.experiment.clone()),
        data_version: v.data_version.clone(),
        data_snapshot_present: snapshot_present,
        artifact_present: ws.store.artifacts().exists(&v.artifact_digest),
        artifact_digest: v.artifact_digest.clone(),
        git_commit: env.as_ref().and_then(|e| e.git_commit.clone()),
        git_branch: env.as_ref().and_then(|e| e.git_branch.clone()),
        git_dirty: env.as_ref().and_then(|e| e.git_dirty),
        config_hash: env.as_ref().map(|e| e.config_hash.clone()),
        params: run
            .as_ref()
            .map(|r| r.summary.params.clone())
            .unwrap_or_default(),
        environment: env,
        signature: Some(v.signature.clone()),
    })
}

/// The manifest written next to an exported artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub model: String,
    pub version: i64,
    pub stage: Stage,
    pub aliases: Vec<String>,
    pub artifact: String,
    pub digest: String,
    pub signature: Signature,
    #[serde(with = "crate::store::json_f64::map")]
    pub metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
    pub description: String,
    pub lineage: Lineage,
    pub exported_at: i64,
    pub exported_by: String,
}

pub const MANIFEST_FORMAT: &str = "cerebro-model-export";

/// Writes `model.json` and `manifest.json` into `dir`.
pub fn export(ws: &Workspace, uri: &ModelUri, dir: &Path) -> Result<Vec<PathBuf>> {
    let v = ws.store.resolve(uri)?;
    let bytes = artifact_bytes(ws, &v)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        format_version: 1,
        model: v.name.clone(),
        version: v.version,
        stage: v.stage,
        aliases: v.aliases.clone(),
        artifact: "model.json".into(),
        digest: v.artifact_digest.clone(),
        signature: v.signature.clone(),
        metrics: v.metrics.clone(),
        tags: v.tags.clone(),
        description: v.description.clone(),
        lineage: lineage(ws, uri)?,
        exported_at: chrono::Utc::now().timestamp_millis(),
        exported_by: crate::env::user_name(),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let model_path = dir.join("model.json");
    std::fs::write(&model_path, &bytes).map_err(|e| Error::io(&model_path, e))?;
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)
        .map_err(|e| Error::io(&manifest_path, e))?;
    Ok(vec![model_path, manifest_path])
}

/// Reads an export and registers it as the next version of `name` (default: the manifest's).
pub fn import(
    ws: &mut Workspace,
    dir: &Path,
    name: Option<&super::ModelName>,
) -> Result<ModelVersion> {
    let manifest_path = dir.join("manifest.json");
    let bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::data_at(
            &manifest_path,
            e.line(),
            Some(e.column()),
            format!("not a cerebro export manifest: {e}"),
        )
    })?;
    if manifest.format != MANIFEST_FORMAT || manifest.format_version > 1 {
        return Err(Error::data(
            &manifest_path,
            format!(
                "unsupported export format `{}` v{}",
                manifest.format, manifest.format_version
            ),
        ));
    }
    let artifact_path = dir.join(&manifest.artifact);
    let artifact = std::fs::read(&artifact_path).map_err(|e| Error::io(&artifact_path, e))?;
    use sha2::Digest as _;
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(&artifact));
    if digest != manifest.digest {
        return Err(Error::data(
            &artifact_path,
            format!(
                "digest {digest} does not match the manifest's {}",
                manifest.digest
            ),
        ));
    }
    let model = Model::from_bytes(&artifact)?;
    let (stored, _) = ws.store.artifacts().put_bytes(&artifact)?;
    debug_assert_eq!(stored, digest);
    let mut tags = manifest.tags.clone();
    tags.insert(
        "cerebro.imported_from".into(),
        format!("{}/{}", manifest.model, manifest.version),
    );
    let name = match name {
        Some(n) => n.clone(),
        None => manifest.model.parse().map_err(|e| {
            Error::data(
                &manifest_path,
                format!("{e}; register it under another name with --name"),
            )
        })?,
    };
    ws.store.create_version(&NewVersion {
        name,
        run_id: manifest.lineage.run_id.clone(),
        artifact_digest: digest,
        signature: model.signature,
        data_version: manifest.lineage.data_version.clone(),
        metrics: manifest.metrics.clone(),
        tags,
        description: manifest.description.clone(),
        source: format!("import:{}", manifest_path.display()),
        actor: crate::env::user_name(),
        action: "import",
    })
}
