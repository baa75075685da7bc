//! The run lifecycle around a fit: create the run (RUNNING, pid, environment, data version),
//! heartbeat while it trains, log params, metrics (per step where the model iterates), the
//! model artifact and feature importance, and close it FINISHED, FAILED or KILLED. Whatever
//! happens, a run this process created is closed before the call returns; a run whose process
//! dies is closed by the next `Workspace::open` (pid and heartbeat).
//!
//! [`reproduce`] retrains a finished run from its recorded data version, params and seed and
//! compares every metric exactly.

pub mod compare;
pub mod importance;
pub mod parallel;
pub mod plan;
pub mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::data::prepare::TrainData;
use crate::error::{Error, Result};
use crate::store::mlflow::MlflowTarget;
use crate::store::{
    Artifact, Backend, Environment, MetricPoint, NewRun, RunDetail, RunStatus, open_backend,
};
use crate::train::{self, Metrics, ModelKind, ModelParams, Progress};

/// The artifact holding a run's test-set ROC and precision-recall curves
/// ([`crate::train::metrics::Curves`]).
pub const CURVES_ARTIFACT: &str = "curves.json";

/// How often a running job refreshes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// Everything one run needs, owned, so a job can take it to another thread.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub experiment: String,
    pub name: String,
    pub params: ModelParams,
    pub seed: u64,
    /// Set when the run reproduces another (`reproduce:<run id>`).
    pub source: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Shared, read-only inputs of the runs of one `train` invocation.
#[derive(Debug, Clone)]
pub struct TrainContext {
    pub store_root: PathBuf,
    /// The MLflow server runs are logged to; `None` logs them to the SQLite store in `store_root`.
    pub tracking: Option<MlflowTarget>,
    pub data: Arc<TrainData>,
    pub environment: Environment,
    /// Threads a single fit may use (forests).
    pub threads: usize,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub run_id: String,
    pub name: String,
    pub model_kind: ModelKind,
    pub params: BTreeMap<String, String>,
    pub metrics: Metrics,
    pub fit_seconds: f64,
    pub data_version: String,
    pub artifact: String,
    pub test_unseen: usize,
}

/// Creates, trains, logs and closes one run.
pub fn execute(ctx: &TrainContext, spec: &RunSpec, progress: &dyn Progress) -> Result<RunResult> {
    let mut store = open_backend(&ctx.store_root, ctx.tracking.as_ref())?;
    let mut params = spec.params.to_map();
    params.insert("seed".into(), spec.seed.to_string());
    let mut tags = spec.tags.clone();
    tags.insert("cerebro.model_kind".into(), spec.params.kind().to_string());
    let mut environment = ctx.environment.clone();
    environment.seed = spec.seed;
    let run_id = store.create_run(&NewRun {
        experiment: spec.experiment.clone(),
        name: spec.name.clone(),
        model_kind: spec.params.kind().to_string(),
        params: params.clone(),
        tags,
        environment,
        data_version: Some(ctx.data.data_version.clone()),
        pid: std::process::id(),
        source: spec.source.clone(),
    })?;
    progress.report("start", 0.0, &format!("run {}", &run_id[..8]));
    let beat = Heartbeat::start(ctx, &run_id);
    let outcome = train_and_log(ctx, spec, store.as_mut(), &run_id, &params, progress);
    beat.stop();
    match outcome {
        Ok(result) => {
            store.finish_run(&run_id, RunStatus::Finished, None)?;
            progress.report(
                "done",
                1.0,
                &format!("roc_auc {:.4}", result.metrics.roc_auc),
            );
            Ok(result)
        }
        Err(e) => {
            if let Error::Pruned(p) = &e
                && let Err(log) = log_pruned(store.as_mut(), &run_id, p)
            {
                tracing::error!(run = %run_id, error = %log, "could not log a pruned run");
            }
            let status = if matches!(e, Error::Cancelled | Error::Pruned(_)) {
                RunStatus::Killed
            } else {
                RunStatus::Failed
            };
            if let Err(close) = store.finish_run(&run_id, status, Some(&e.to_string())) {
                tracing::error!(run = %run_id, error = %close, "could not close a failed run");
            }
            Err(e)
        }
    }
}

/// The tag a pruned run carries (`PRUNED`), as Optuna names the state of such a trial.
pub const TRIAL_STATE_TAG: &str = "cerebro.tune.state";

/// A pruned run keeps the per-step metrics it reached and says it was pruned; it is then
/// closed KILLED with the pruner's reason.
fn log_pruned(store: &mut dyn Backend, run_id: &str, p: &crate::error::Pruned) -> Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let points: Vec<MetricPoint> = p
        .steps
        .iter()
        .map(|(step, key, value)| MetricPoint {
            key: format!("{key}_by_trees"),
            value: *value,
            step: *step,
            timestamp: now,
        })
        .collect();
    store.log_metrics(run_id, &points)?;
    store.set_tags(
        run_id,
        &BTreeMap::from([(TRIAL_STATE_TAG.to_string(), "PRUNED".to_string())]),
    )
}

fn train_and_log(
    ctx: &TrainContext,
    spec: &RunSpec,
    store: &mut dyn Backend,
    run_id: &str,
    params: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<RunResult> {
    let outcome = train::fit(&ctx.data, &spec.params, spec.seed, ctx.threads, progress)?;
    progress.report("log", 0.96, "saving the model artifact and metrics");
    let now = chrono::Utc::now().timestamp_millis();
    let mut points: Vec<MetricPoint> = outcome
        .metrics
        .scalars()
        .into_iter()
        .map(|(k, v)| MetricPoint {
            key: k.to_string(),
            value: v,
            step: 0,
            timestamp: now,
        })
        .collect();
    points.push(MetricPoint {
        key: "fit_seconds".into(),
        value: outcome.fit_ms / 1e3,
        step: 0,
        timestamp: now,
    });
    points.push(MetricPoint {
        key: "test_unseen_categories".into(),
        value: outcome.test_unseen as f64,
        step: 0,
        timestamp: now,
    });
    for (step, key, value) in &outcome.steps {
        points.push(MetricPoint {
            key: format!("{key}_by_trees"),
            value: *value,
            step: *step,
            timestamp: now,
        });
    }
    store.log_metrics(run_id, &points)?;

    let bytes = outcome.model.to_bytes()?;
    let (digest, path) = store.artifacts().put_bytes(&bytes)?;
    store.log_artifact(
        run_id,
        &Artifact {
            name: "model.json".into(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            path,
        },
    )?;
    // MLflow's model metadata beside it, so MLflow tools (the UI's schema view, the model
    // version page, `mlflow.models.get_model_info`) show the raw input schema.
    let mlmodel = mlmodel(&outcome.model, run_id, now);
    let (ml_digest, ml_path) = store.artifacts().put_bytes(mlmodel.as_bytes())?;
    store.log_artifact(
        run_id,
        &Artifact {
            name: "MLmodel".into(),
            digest: ml_digest,
            size: mlmodel.len() as u64,
            path: ml_path,
        },
    )?;
    let importance = serde_json::to_vec_pretty(&outcome.model.feature_importance)?;
    let (imp_digest, imp_path) = store.artifacts().put_bytes(&importance)?;
    store.log_artifact(
        run_id,
        &Artifact {
            name: "feature_importance.json".into(),
            digest: imp_digest,
            size: importance.len() as u64,
            path: imp_path,
        },
    )?;
    let curves = serde_json::to_vec(&outcome.curves)?;
    let (curves_digest, curves_path) = store.artifacts().put_bytes(&curves)?;
    store.log_artifact(
        run_id,
        &Artifact {
            name: CURVES_ARTIFACT.into(),
            digest: curves_digest,
            size: curves.len() as u64,
            path: curves_path,
        },
    )?;
    Ok(RunResult {
        run_id: run_id.to_string(),
        name: spec.name.clone(),
        model_kind: spec.params.kind(),
        params: params.clone(),
        metrics: outcome.metrics,
        fit_seconds: outcome.fit_ms / 1e3,
        data_version: ctx.data.data_version.clone(),
        artifact: digest,
        test_unseen: outcome.test_unseen,
    })
}

/// An `MLmodel` file (MLflow's model metadata, YAML) for a run's model: a `cerebro` flavor
/// pointing at `model.json`, and the model signature (the raw input schema as `inputs`, the
/// predicted class as `outputs`), as MLflow writes them (JSON strings are valid YAML scalars).
pub fn mlmodel(model: &crate::train::Model, run_id: &str, now_ms: i64) -> String {
    let sig = model.mlflow_signature();
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let created = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_default();
    format!(
        "artifact_path: model\nflavors:\n  cerebro:\n    data: model.json\n    format_version: {}\n    cerebro_version: {}\n    kind: {}\nrun_id: {}\nsignature:\n  inputs: {}\n  outputs: {}\n  params: null\nutc_time_created: {}\n",
        model.format_version,
        q(&model.cerebro_version),
        model.kind,
        q(run_id),
        q(&sig.inputs),
        q(&sig.outputs),
        q(&created),
    )
}

/// A thread that refreshes a run's heartbeat every [`HEARTBEAT_EVERY`] until stopped (a
/// training run while it fits; a tune's parent run while its trials run).
pub struct Heartbeat {
    stop: mpsc::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl Heartbeat {
    /// Starts refreshing `run_id` in the store of `ctx`.
    pub fn start(ctx: &TrainContext, run_id: &str) -> Heartbeat {
        let (stop, rx) = mpsc::channel::<()>();
        let root = ctx.store_root.clone();
        let tracking = ctx.tracking.clone();
        let run = run_id.to_string();
        let handle = std::thread::spawn(move || {
            let Ok(mut store) = open_backend(&root, tracking.as_ref()) else {
                return;
            };
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HEARTBEAT_EVERY) {
                if let Err(e) = store.heartbeat(&run) {
                    tracing::warn!(run = %run, error = %e, "heartbeat failed");
                }
            }
        });
        Heartbeat { stop, handle }
    }

    /// Stops refreshing and waits for the thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}

/// The spec that reproduces a recorded run.
pub fn reproduce_spec(run: &RunDetail) -> Result<RunSpec> {
    let s = &run.summary;
    if s.status != RunStatus::Finished {
        return Err(Error::invalid(format!(
            "run {} is {}: only finished runs can be reproduced",
            s.run_id,
            s.status.as_str()
        )));
    }
    let kind: ModelKind = s.model_kind.parse()?;
    let mut params = s.params.clone();
    let seed = params
        .remove("seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(run.environment.seed);
    let params = ModelParams::from_map(kind, &params)?;
    let mut tags = BTreeMap::new();
    tags.insert("cerebro.reproduces".into(), s.run_id.clone());
    Ok(RunSpec {
        experiment: s.experiment.clone(),
        name: format!("reproduce-{}", &s.run_id[..8]),
        params,
        seed,
        source: Some(format!("reproduce:{}", s.run_id)),
        tags,
    })
}

/// One metric of a reproduction.
#[derive(Debug, Clone, Serialize)]
pub struct MetricMatch {
    pub key: String,
    pub original: f64,
    pub reproduced: f64,
    pub exact: bool,
}

/// Result of `cerebro runs reproduce`.
#[derive(Debug, Clone, Serialize)]
pub struct Reproduction {
    pub original_run: String,
    pub new_run: String,
    pub data_version: String,
    pub exact_match: bool,
    pub metrics: Vec<MetricMatch>,
}

/// Compares the deterministic metrics of two runs (timing metrics are excluded).
pub fn compare_metrics(
    original: &BTreeMap<String, f64>,
    reproduced: &BTreeMap<String, f64>,
) -> Vec<MetricMatch> {
    original
        .iter()
        .filter(|(k, _)| k.as_str() != "fit_seconds")
        .map(|(k, &o)| {
            let r = reproduced.get(k).copied().unwrap_or(f64::NAN);
            MetricMatch {
                key: k.clone(),
                original: o,
                reproduced: r,
                exact: o.to_bits() == r.to_bits() || (o.is_nan() && r.is_nan()),
            }
        })
        .collect()
}

/// Loads the model artifact a run logged.
pub fn load_model(store: &dyn Backend, run: &RunDetail) -> Result<crate::train::Model> {
    let artifact = run
        .artifacts
        .iter()
        .find(|a| a.name == "model.json")
        .ok_or_else(|| Error::not_found("model artifact of run", run.summary.run_id.clone()))?;
    let bytes =
        store.artifact_bytes(Some(&run.summary.run_id), &artifact.name, &artifact.digest)?;
    crate::train::Model::from_bytes(&bytes)
}

/// Retrains run `run_ref` from its data version snapshot, params and seed (as a new run that
/// names its source) and compares every metric bit for bit.
pub fn reproduce(
    ws: &crate::workspace::Workspace,
    run_ref: &str,
    progress: &dyn Progress,
) -> Result<Reproduction> {
    let original = ws.store.get_run(run_ref)?;
    let (spec, ctx) = plan::reproduction(ws, &original)?;
    let result = execute(&ctx, &spec, progress)?;
    let new = ws.store.get_run(&result.run_id)?;
    let metrics = compare_metrics(&original.summary.metrics, &new.summary.metrics);
    Ok(Reproduction {
        original_run: original.summary.run_id.clone(),
        new_run: result.run_id,
        data_version: ctx.data.data_version.clone(),
        exact_match: metrics.iter().all(|m| m.exact),
        metrics,
    })
}
