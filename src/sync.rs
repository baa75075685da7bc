//! `cerebro sync`: copy a workspace's experiments, runs (params, tags, every metric point,
//! artifacts, data-version records) and registered model versions (with their model artifacts,
//! stages and aliases) to an MLflow server, and back into a local store.
//!
//! Both directions are idempotent, so re-running either copies only what is new:
//! - a run exported to MLflow carries the tag `cerebro.source_run_id` with its local id; a run
//!   imported keeps that id (or MLflow's own id for a run logged elsewhere), so it is found by id
//!   the next time; a local run whose id is an MLflow run id was imported and is not sent back;
//! - an exported model version carries `cerebro.source_version` with its local number, and an
//!   imported version takes that number back (or MLflow's for versions registered elsewhere);
//!   stages and aliases of versions already copied are brought in line on every run.
//!
//! A run still RUNNING is not copied (it is not done yet); an export interrupted half-way leaves a
//! remote run RUNNING, which the next export deletes and sends again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::data::DataVersion;
use crate::error::{Error, Result};
use crate::registry::RegistryStore;
use crate::store::mlflow::registry::{SOURCE_VERSION_TAG, TAG_CREATED_AT, TAG_STAGE, version_tags};
use crate::store::mlflow::tracking::{RemoteRun, TAG_DATA_VERSION_RECORD, tags_of_detail};
use crate::store::mlflow::{MlflowStore, MlflowTarget, SOURCE_RUN_TAG, VersionImport};
use crate::store::{
    Backend, MetricPoint, RunDetail, RunFilter, RunStatus, SqliteStore, TrackingStore,
};

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// `export` or `import`.
    pub direction: String,
    /// The MLflow server.
    pub uri: String,
    pub experiments: usize,
    /// Runs copied by this sync.
    pub runs_copied: usize,
    /// Runs the other side already had.
    pub runs_present: usize,
    /// Runs not copied because they are still RUNNING.
    pub runs_running: usize,
    pub metric_points: usize,
    pub artifacts: usize,
    pub data_versions: usize,
    pub versions_copied: usize,
    /// Versions present on both sides whose stage or aliases were brought in line.
    pub versions_updated: usize,
    pub versions_present: usize,
}

/// Every point of every metric of a run.
fn all_points(
    store: &dyn TrackingStore,
    run_id: &str,
    keys: &[String],
) -> Result<Vec<MetricPoint>> {
    let mut points = Vec::new();
    for key in keys {
        points.extend(store.metric_history(run_id, key)?);
    }
    Ok(points)
}

/// Copies the local store in `root` to the MLflow server `target`.
pub fn export(root: &Path, target: &MlflowTarget, progress: &dyn Fn(&str)) -> Result<SyncReport> {
    let local = SqliteStore::open(root)?;
    let mut remote = MlflowStore::open(root, target)?;
    let mut report = SyncReport {
        direction: "export".into(),
        uri: target.uri.clone(),
        ..SyncReport::default()
    };

    // Oldest first, so the remote lists them in the same order.
    let mut runs = local.list_runs(&RunFilter::default())?;
    runs.reverse();
    let experiments: BTreeSet<String> = runs.iter().map(|r| r.experiment.clone()).collect();
    report.experiments = experiments.len();

    // What the server has: its run ids, and the local ids its exported runs copy.
    let mut experiment_ids = BTreeMap::new();
    let mut remote_ids: HashMap<String, RunStatus> = HashMap::new();
    let mut copies: HashMap<String, (String, RunStatus)> = HashMap::new();
    for name in &experiments {
        let id = remote.get_or_create_experiment(name)?.to_string();
        for run in remote.search_runs_all(std::slice::from_ref(&id), "", None)? {
            if let Some(source) = run.tags.get(SOURCE_RUN_TAG) {
                copies.insert(source.clone(), (run.run_id.clone(), run.status));
            }
            remote_ids.insert(run.run_id.clone(), run.status);
        }
        experiment_ids.insert(name.clone(), id);
    }

    // Local run id -> remote run id, for the versions below.
    let mut run_map: HashMap<String, String> = HashMap::new();
    for (i, summary) in runs.iter().enumerate() {
        let id = &summary.run_id;
        if summary.status == RunStatus::Running {
            report.runs_running += 1;
            continue;
        }
        if remote_ids.contains_key(id) {
            run_map.insert(id.clone(), id.clone());
            report.runs_present += 1;
            continue;
        }
        if let Some((remote_id, status)) = copies.get(id) {
            if *status != RunStatus::Running {
                run_map.insert(id.clone(), remote_id.clone());
                report.runs_present += 1;
                continue;
            }
            // A copy an interrupted export left unfinished: replace it.
            remote
                .client()
                .post("runs/delete", &json!({"run_id": remote_id}))
                .map_err(|e| {
                    Error::invalid(format!("deleting unfinished copy {remote_id}: {e:?}"))
                })?;
        }
        progress(&format!(
            "run {}/{}: {} ({})",
            i + 1,
            runs.len(),
            summary.name,
            &id[..8.min(id.len())]
        ));
        let detail = local.get_run(id)?;
        let remote_id = export_run(&local, &remote, &detail, &experiment_ids, &mut report)?;
        run_map.insert(id.clone(), remote_id);
        report.runs_copied += 1;
    }

    for model in local.list_models()? {
        export_model(
            &local,
            &mut remote,
            &model.name,
            &run_map,
            &mut report,
            progress,
        )?;
    }
    Ok(report)
}

fn export_run(
    local: &SqliteStore,
    remote: &MlflowStore,
    detail: &RunDetail,
    experiment_ids: &BTreeMap<String, String>,
    report: &mut SyncReport,
) -> Result<String> {
    let s = &detail.summary;
    let mut tags = tags_of_detail(detail)?;
    tags.insert(SOURCE_RUN_TAG.into(), s.run_id.clone());
    if let Some(dv) = &s.data_version
        && let Ok(record) = local.get_data_version(dv)
    {
        tags.insert(
            TAG_DATA_VERSION_RECORD.into(),
            serde_json::to_string(&record)?,
        );
        report.data_versions += 1;
    }
    let experiment = experiment_ids
        .get(&s.experiment)
        .ok_or_else(|| Error::not_found("experiment", s.experiment.as_str()))?;
    let remote_id = remote.create_remote_run(experiment, &s.name, s.start_time, &tags)?;
    let keys: Vec<String> = s.metrics.keys().cloned().collect();
    let points = all_points(local, &s.run_id, &keys)?;
    remote.log_batch(&remote_id, &s.params, &BTreeMap::new(), &points)?;
    report.metric_points += points.len();
    for a in &detail.artifacts {
        match local.artifacts().get(&a.digest) {
            Ok(bytes) => {
                remote.upload_artifact(&remote_id, &a.name, &bytes)?;
                report.artifacts += 1;
            }
            Err(e) => tracing::warn!(run = %s.run_id, artifact = %a.name, error = %e,
                "artifact missing locally, not exported"),
        }
    }
    remote.update_run(&remote_id, s.status, s.end_time.unwrap_or(s.start_time))?;
    Ok(remote_id)
}

fn export_model(
    local: &SqliteStore,
    remote: &mut MlflowStore,
    name: &str,
    run_map: &HashMap<String, String>,
    report: &mut SyncReport,
    progress: &dyn Fn(&str),
) -> Result<()> {
    let mut versions = local.list_versions(name)?;
    // A store written before cerebro followed MLflow's naming rules may hold names the server
    // refuses: say which, before anything is sent.
    name.parse::<crate::names::ModelName>().map_err(|e| {
        Error::invalid(format!(
            "{e}; MLflow may refuse it: register the versions under another name before syncing"
        ))
    })?;
    for v in &versions {
        for a in &v.aliases {
            a.parse::<crate::names::Alias>().map_err(|e| {
                Error::invalid(format!(
                    "{name}@{a}: {e}; delete it (cerebro models alias delete {name} {a}) before syncing"
                ))
            })?;
        }
    }
    remote.ensure_registered_model(name)?;
    let existing = remote.search_versions_with_sources(name)?;
    versions.sort_by_key(|v| v.version);
    for v in &versions {
        let found = existing.iter().find(|(r, source)| {
            *source == Some(v.version)
                || (source.is_none()
                    && r.version == v.version
                    && r.artifact_digest == v.artifact_digest)
        });
        let remote_version = match found {
            Some((r, _)) => {
                report.versions_present += 1;
                r.clone()
            }
            None => {
                progress(&format!("model {name}/{}", v.version));
                let mut tags = version_tags(
                    &v.artifact_digest,
                    &v.signature,
                    v.data_version.as_deref(),
                    &v.metrics,
                    &v.source,
                    &v.created_by,
                    &v.tags,
                )?;
                tags.insert(SOURCE_VERSION_TAG.into(), v.version.to_string());
                tags.insert(TAG_CREATED_AT.into(), v.created_at.to_string());
                tags.insert(TAG_STAGE.into(), v.stage.as_str().into());
                let run = v.run_id.as_ref().and_then(|r| run_map.get(r));
                let created = remote.create_remote_version(
                    name,
                    run.map(String::as_str),
                    &v.source,
                    &v.description,
                    &tags,
                )?;
                report.versions_copied += 1;
                created
            }
        };
        // Stage and aliases as here.
        let mut changed = false;
        for alias in &v.aliases {
            if !remote_version.aliases.contains(alias) {
                remote.point_alias(name, alias, Some(remote_version.version))?;
                changed = true;
            }
        }
        for alias in &remote_version.aliases {
            if !v.aliases.contains(alias) {
                remote.point_alias(name, alias, None)?;
                changed = true;
            }
        }
        if remote_version.stage != v.stage {
            remote.set_version_tag(name, remote_version.version, TAG_STAGE, v.stage.as_str())?;
            changed = true;
        }
        if changed && found.is_some() {
            report.versions_present -= 1;
            report.versions_updated += 1;
        }
    }
    Ok(())
}

/// Copies what the MLflow server `target` holds into the local store in `root`.
pub fn import(root: &Path, target: &MlflowTarget, progress: &dyn Fn(&str)) -> Result<SyncReport> {
    let mut local = SqliteStore::open(root)?;
    let remote = MlflowStore::open(root, target)?;
    let mut report = SyncReport {
        direction: "import".into(),
        uri: target.uri.clone(),
        ..SyncReport::default()
    };
    // Remote run id -> local run id.
    let mut run_map: HashMap<String, String> = HashMap::new();
    for (experiment_id, experiment, _) in remote.search_experiments()? {
        let mut runs = remote.search_runs_all(std::slice::from_ref(&experiment_id), "", None)?;
        if runs.is_empty() {
            continue;
        }
        report.experiments += 1;
        runs.reverse();
        let total = runs.len();
        for (i, run) in runs.into_iter().enumerate() {
            let local_id = run
                .tags
                .get(SOURCE_RUN_TAG)
                .cloned()
                .unwrap_or_else(|| run.run_id.clone());
            run_map.insert(run.run_id.clone(), local_id.clone());
            if run.status == RunStatus::Running {
                report.runs_running += 1;
                continue;
            }
            if local.has_run(&local_id)? {
                report.runs_present += 1;
                continue;
            }
            progress(&format!(
                "run {}/{total}: {} ({experiment})",
                i + 1,
                run.name
            ));
            import_run(
                &mut local,
                &remote,
                run,
                &local_id,
                &experiment,
                &mut report,
            )?;
            report.runs_copied += 1;
        }
    }

    for model in remote.list_models()? {
        for (v, source) in remote.search_versions_with_sources(&model.name)? {
            let remote_run = v.run_id.clone();
            let mut mine = v.clone();
            mine.version = source.unwrap_or(v.version);
            mine.run_id = v
                .run_id
                .as_ref()
                .map(|r| run_map.get(r).cloned().unwrap_or_else(|| r.clone()));
            if !mine.artifact_digest.is_empty()
                && !local.artifacts().exists(&mine.artifact_digest)
                && let Some(run) = &remote_run
            {
                remote.artifact_bytes(Some(run), "model.json", &mine.artifact_digest)?;
                report.artifacts += 1;
            }
            match local.import_version(&mine, &crate::env::user_name())? {
                VersionImport::Inserted => {
                    progress(&format!("model {}/{}", mine.name, mine.version));
                    report.versions_copied += 1;
                }
                VersionImport::Updated => report.versions_updated += 1,
                VersionImport::Unchanged => report.versions_present += 1,
            }
        }
    }
    Ok(report)
}

fn import_run(
    local: &mut SqliteStore,
    remote: &MlflowStore,
    run: RemoteRun,
    local_id: &str,
    experiment: &str,
    report: &mut SyncReport,
) -> Result<()> {
    let mut detail = run.detail(experiment.to_string());
    detail.summary.run_id = local_id.to_string();
    let keys: Vec<String> = run.metrics.keys().cloned().collect();
    let points = all_points(remote, &run.run_id, &keys)?;
    for a in &detail.artifacts {
        remote.artifact_bytes(Some(&run.run_id), &a.name, &a.digest)?;
        report.artifacts += 1;
    }
    if let Some(record) = run.tags.get(TAG_DATA_VERSION_RECORD)
        && let Ok(dv) = serde_json::from_str::<DataVersion>(record)
        && local.record_data_version(&dv)?
    {
        report.data_versions += 1;
    }
    report.metric_points += points.len();
    local.import_run(&detail, &points)?;
    Ok(())
}
