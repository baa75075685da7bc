//! The built-in steps (prepare, train, evaluate, register, promote, deploy, monitor, predict),
//! executed by [`execute`] in a process of their own (`cerebro pipeline step RUN STEP`, started
//! by the runner) so that a crash, a hang or a timeout kills the step and never the runner.
//!
//! A step reads its definition and its upstream steps' outputs from the store and returns its
//! own [`StepOutputs`]; the runner records them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::config::{PipelineConfig, StepConfig, StepKind, nearest_upstream};
use super::store::WorkflowStore;
use crate::error::{Error, Result};
use crate::jobs::sweep::{JobOutcome, Sweep};
use crate::registry::ops::{self, PromoteError};
use crate::registry::{ModelUri, Stage};
use crate::serve::status::EndpointState;
use crate::store::{RunStatus, short_id};
use crate::track::plan::{self, TrainRequest};
use crate::workspace::Workspace;

/// Tag naming the pipeline on every training run a pipeline starts.
pub const PIPELINE_TAG: &str = "cerebro.pipeline";
/// Tag naming the pipeline run.
pub const PIPELINE_RUN_TAG: &str = "cerebro.pipeline_run";

/// What a step produced. Fields absent for kinds that do not produce them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepOutputs {
    /// Training runs started (train).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
    /// The best finished run by the gate metric (train): what register takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version: Option<String>,
    /// Registered model and version (register, evaluate, promote, deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The gate's result (evaluate, promote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<serde_json::Value>,
    /// The endpoint serving the model (deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The predictions file written (predict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<String>,
    /// Exit code (command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// A one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl StepOutputs {
    /// (kind, reference) links for the store: runs, data versions, model versions.
    pub fn links(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .runs
            .iter()
            .map(|r| ("run".to_string(), r.clone()))
            .collect();
        if let Some(d) = &self.data_version {
            out.push(("data_version".into(), d.clone()));
        }
        if let (Some(m), Some(v)) = (&self.model, self.version) {
            out.push(("model_version".into(), format!("{m}/{v}")));
        }
        out
    }
}

/// What the step process prints as its last stdout line, after [`RESULT_MARKER`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub ok: bool,
    pub outputs: StepOutputs,
    pub error: Option<String>,
}

/// Prefix of the result line a step process prints.
pub const RESULT_MARKER: &str = "cerebro-step-result ";

/// The registered model a step works on.
pub fn registered_model(ws: &Workspace, step: &StepConfig) -> String {
    step.registered_model
        .clone()
        .or_else(|| ws.config.config.serving.model.clone())
        .unwrap_or_else(|| crate::demo::model_name(&ws.config.config.workspace.name))
}

/// Runs step `step` of pipeline run `run_id`. A failed step returns its outputs so far with
/// the error (a refused gate keeps the gate's result).
pub fn execute(ws: &mut Workspace, run_id: &str, step: &str) -> StepResult {
    let mut outputs = StepOutputs::default();
    match execute_inner(ws, run_id, step, &mut outputs) {
        Ok(()) => StepResult {
            ok: true,
            outputs,
            error: None,
        },
        Err(e) => StepResult {
            ok: false,
            outputs,
            error: Some(e.to_string()),
        },
    }
}

fn execute_inner(
    ws: &mut Workspace,
    run_id: &str,
    step_name: &str,
    out: &mut StepOutputs,
) -> Result<()> {
    let wf = WorkflowStore::open(&ws.db_path())?;
    let run = wf.get_run(run_id)?;
    let def = wf.definition(&run.run_id)?;
    let step = def
        .steps
        .iter()
        .find(|s| s.name == step_name)
        .cloned()
        .ok_or_else(|| Error::not_found("pipeline step", step_name))?;
    let upstream = |kind: StepKind| -> Result<StepOutputs> {
        let from = step
            .from
            .clone()
            .or_else(|| nearest_upstream(&def, &step.name, kind).map(str::to_string))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "step `{}` needs a {} step before it",
                    step.name,
                    kind.as_str()
                ))
            })?;
        let steps = wf.steps(&run.run_id)?;
        let s = steps
            .iter()
            .find(|s| s.step == from)
            .ok_or_else(|| Error::not_found("pipeline step", from.clone()))?;
        if s.status != "SUCCEEDED" {
            return Err(Error::invalid(format!(
                "step `{}` takes its input from `{from}`, which is {}",
                step.name, s.status
            )));
        }
        let o = s.outputs.clone().unwrap_or(serde_json::Value::Null);
        Ok(serde_json::from_value(o)?)
    };
    match step.kind {
        StepKind::Prepare => {
            let (prepared, version, created) = ws.prepare_data()?;
            let _ = prepared;
            out.data_version = Some(version.id.clone());
            out.summary = Some(format!(
                "data version {} ({} train / {} test rows){}",
                short_id(&version.id),
                version.train_rows,
                version.test_rows,
                if created { ", new" } else { "" }
            ));
        }
        StepKind::Train => train(ws, &def, &run.pipeline, &run.run_id, &step, out)?,
        StepKind::Register => {
            let input = upstream(StepKind::Train)?;
            let best = input.best_run.ok_or_else(|| {
                Error::invalid(format!(
                    "step `{}`: the train step produced no finished run",
                    step.name
                ))
            })?;
            let name: crate::names::ModelName = registered_model(ws, &step).parse()?;
            // A resumed step whose earlier attempt registered before it was killed finds its
            // version by (run, pipeline-run tag) and takes it as its result.
            let v = match registered_by(ws, &name, &best, &run.run_id)? {
                Some(v) => v,
                None => {
                    let tags = BTreeMap::from([
                        (PIPELINE_TAG.to_string(), run.pipeline.clone()),
                        (PIPELINE_RUN_TAG.to_string(), run.run_id.clone()),
                    ]);
                    ops::register(
                        ws,
                        &best,
                        &name,
                        &format!("pipeline {} run {}", run.pipeline, short_id(&run.run_id)),
                        tags,
                    )?
                }
            };
            out.runs = vec![best.clone()];
            out.data_version = v.data_version.clone();
            out.model = Some(v.name.clone());
            out.version = Some(v.version);
            out.stage = Some(v.stage.to_string());
            out.summary = Some(format!(
                "registered run {} as {}/{}",
                short_id(&best),
                v.name,
                v.version
            ));
        }
        StepKind::Evaluate => {
            let input = upstream(StepKind::Register)?;
            let (name, version) = model_version(&input, &step)?;
            let gate = ops::evaluate_gate(ws, &name, version)?;
            out.model = Some(name.clone());
            out.version = Some(version);
            out.gate = Some(serde_json::to_value(&gate)?);
            if !gate.passed {
                return Err(Error::invalid(format!(
                    "the gate would refuse {name}/{version}: {}",
                    gate.reasons.join("; ")
                )));
            }
            out.summary = Some(format!(
                "{name}/{version} passes the gate: {} {:.4}",
                gate.metric, gate.candidate_value
            ));
        }
        StepKind::Promote => {
            let input = upstream(StepKind::Register)?;
            let (name, version) = model_version(&input, &step)?;
            let to = match step
                .stage
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("staging") => Stage::Staging,
                _ => Stage::Production,
            };
            out.model = Some(name.clone());
            out.version = Some(version);
            // A resumed step whose earlier attempt promoted before it was killed: the version
            // is in the stage by a promotion of it; that promotion is this step's result.
            if let Some(record) = promoted_already(ws, &name, version, to)? {
                out.stage = Some(to.to_string());
                out.gate = record.as_ref().and_then(|r| r.gate.clone());
                out.summary = Some(format!(
                    "{name}/{version} is already in {to}{}",
                    record.map_or(String::new(), |r| format!(
                        " (promoted by audit record {}, an earlier attempt)",
                        r.id
                    ))
                ));
                return Ok(());
            }
            match ops::promote(ws, &name, version, to, false, None) {
                Ok(p) => {
                    out.stage = Some(to.to_string());
                    out.gate = Some(serde_json::to_value(&p.gate)?);
                    out.summary = Some(format!(
                        "promoted {name}/{version} to {to} ({} {:.4})",
                        p.gate.metric, p.gate.candidate_value
                    ));
                }
                Err(PromoteError::GateFailed(g)) => {
                    let gate = serde_json::to_value(&*g)?;
                    let current = ws.store.get_version(&name, version)?.stage;
                    let reason = g.reasons.join("; ");
                    wf.audit_refusal(
                        &name,
                        version,
                        current.as_str(),
                        to.as_str(),
                        &format!("pipeline {} run {}: {reason}", run.pipeline, run.run_id),
                        &gate,
                    )?;
                    out.gate = Some(gate);
                    return Err(Error::invalid(format!(
                        "the gate refused {name}/{version}: {reason}"
                    )));
                }
                Err(PromoteError::Other(e)) => return Err(e),
            }
        }
        StepKind::Deploy => deploy(ws, &step, out)?,
        StepKind::Predict => predict(ws, &run.run_id, &step, out)?,
        StepKind::Monitor => {
            let mut monitor = crate::monitor::service::Monitor::open(ws)?;
            let r = monitor.refresh()?;
            out.summary = Some(format!(
                "ingested {} line(s) from {} file(s); {} rule(s): {} alert(s) opened, {} resolved",
                r.ingest.lines,
                r.ingest.files,
                r.rules,
                r.alerts.opened.len(),
                r.alerts.resolved.len()
            ));
        }
        StepKind::Command => {
            return Err(Error::invalid(format!(
                "step `{}` is a command step: the runner runs it directly",
                step.name
            )));
        }
    }
    Ok(())
}

/// The version of `name` registered from `training_run` by pipeline run `pipeline_run` (its
/// `cerebro.pipeline_run` tag), if any.
fn registered_by(
    ws: &Workspace,
    name: &str,
    training_run: &str,
    pipeline_run: &str,
) -> Result<Option<crate::registry::ModelVersion>> {
    let versions = match ws.store.list_versions(name) {
        Ok(v) => v,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(versions.into_iter().find(|v| {
        v.run_id.as_deref() == Some(training_run)
            && v.tags.get(PIPELINE_RUN_TAG).map(String::as_str) == Some(pipeline_run)
    }))
}

/// `Some` when `name/version` is in `to` already, with the promotion that put it there (its
/// audit record) when the trail has it.
fn promoted_already(
    ws: &Workspace,
    name: &str,
    version: i64,
    to: Stage,
) -> Result<Option<Option<crate::registry::AuditRecord>>> {
    if ws.store.get_version(name, version)?.stage != to {
        return Ok(None);
    }
    Ok(Some(ws.store.history(name)?.into_iter().rev().find(|r| {
        r.action == "promote"
            && r.version == Some(version)
            && r.to_stage.as_deref() == Some(to.as_str())
    })))
}

fn model_version(input: &StepOutputs, step: &StepConfig) -> Result<(String, i64)> {
    match (&input.model, input.version) {
        (Some(m), Some(v)) => Ok((m.clone(), v)),
        _ => Err(Error::invalid(format!(
            "step `{}`: the register step it takes its input from produced no version",
            step.name
        ))),
    }
}

fn train(
    ws: &mut Workspace,
    def: &PipelineConfig,
    pipeline: &str,
    run_id: &str,
    step: &StepConfig,
    out: &mut StepOutputs,
) -> Result<()> {
    let _ = def;
    let kind: crate::train::ModelKind = step
        .model
        .as_deref()
        .unwrap_or(&ws.config.config.train.model)
        .parse()?;
    let mut errors = Vec::new();
    if !step.space.is_empty() {
        tune(ws, kind, pipeline, run_id, step, out, &mut errors)?;
    } else {
        sweep(ws, kind, pipeline, run_id, step, out, &mut errors)?;
    }
    let gate = ws
        .config
        .config
        .registry
        .gate_for(&registered_model(ws, step))
        .clone();
    let mut best: Option<(f64, String)> = None;
    for id in &out.runs {
        let r = ws.store.get_run(id)?;
        if r.summary.status != RunStatus::Finished {
            continue;
        }
        let Some(&v) = r.summary.metrics.get(&gate.metric) else {
            continue;
        };
        if gate.direction.better(v, best.as_ref().map(|b| b.0)) {
            best = Some((v, id.clone()));
        }
    }
    out.best_run = best.as_ref().map(|(_, id)| id.clone());
    if !errors.is_empty() {
        return Err(Error::model(format!(
            "{} of {} training jobs failed: {}",
            errors.len(),
            errors.len() + out.runs.len(),
            errors.join("; ")
        )));
    }
    if let Some((v, id)) = &best {
        out.summary = Some(format!(
            "{} run(s); best {} {} {v:.4}",
            out.runs.len(),
            short_id(id),
            gate.metric
        ));
    }
    Ok(())
}

/// Scores the step's `input` file of raw records with its model into `output` (batch
/// inference through `batch::score_file`, as `cerebro predict`). The model is `model_uri`, by
/// default the registered model's champion.
fn predict(ws: &Workspace, run_id: &str, step: &StepConfig, out: &mut StepOutputs) -> Result<()> {
    use crate::batch::{self, BatchOptions, ModelSource};
    let uri = step
        .model_uri
        .clone()
        .unwrap_or_else(|| format!("{}@champion", registered_model(ws, step)));
    let source: ModelSource = uri.parse()?;
    let (model, name) = match &source {
        ModelSource::Registry(u) => {
            let (v, model) = ops::load_model_at(ws, u)?;
            out.model = Some(v.name.clone());
            out.version = Some(v.version);
            (model, format!("{}/{}", v.name, v.version))
        }
        ModelSource::Run(id) => {
            out.runs = vec![id.clone()];
            batch::load_model(ws, &source)?
        }
    };
    let need = |key: &str| Error::invalid(format!("step `{}` needs `{key}`", step.name));
    let dir = ws.config.dir();
    let input = dir.join(step.input.as_ref().ok_or_else(|| need("input"))?);
    let output = dir.join(
        step.output
            .as_deref()
            .ok_or_else(|| need("output"))?
            .replace("{run}", short_id(run_id)),
    );
    let opts = BatchOptions {
        input,
        output,
        probabilities: step.probabilities.unwrap_or(false),
        explain: false,
        on_error: step.on_error.as_deref().unwrap_or("fail").parse()?,
        chunk_rows: batch::CHUNK_ROWS,
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let report = batch::score_file(&model, &name, &opts, &mut |_| {}, &cancel)?;
    out.predictions = Some(report.output.clone());
    out.summary = Some(format!(
        "scored {} record(s) with {name} into {} ({} positive, {} skipped)",
        report.scored, report.output, report.positives, report.skipped
    ));
    Ok(())
}

/// A train step's grid (one fit without `sweep`); failed jobs go to `errors`.
fn sweep(
    ws: &mut Workspace,
    kind: crate::train::ModelKind,
    pipeline: &str,
    run_id: &str,
    step: &StepConfig,
    out: &mut StepOutputs,
    errors: &mut Vec<String>,
) -> Result<()> {
    let request = TrainRequest {
        kind,
        sets: step.sets(),
        sweeps: step.sweeps(),
        name: Some(format!("{pipeline}/{}", step.name)),
        experiment: step.experiment.clone(),
        seed: None,
    };
    let mut specs = plan::specs(&ws.config, &request)?;
    for s in &mut specs {
        s.tags.insert(PIPELINE_TAG.into(), pipeline.into());
        s.tags.insert(PIPELINE_RUN_TAG.into(), run_id.into());
    }
    let max_parallel = step
        .max_parallel
        .unwrap_or(ws.config.config.train.max_parallel);
    let sweep = Sweep::prepare(ws, specs, max_parallel)?;
    out.data_version = Some(sweep.context.data.data_version.clone());
    for outcome in sweep.run(|_, _| {}, std::future::pending())? {
        match outcome {
            JobOutcome::Finished(result) => out.runs.push(result.run_id),
            JobOutcome::Failed(error) => errors.push(error),
            JobOutcome::Cancelled => errors.push("cancelled".to_string()),
            JobOutcome::Pruned { trees, .. } => errors.push(format!("pruned at {trees} trees")),
        }
    }
    Ok(())
}

/// A train step with a `space`: a tune ([`crate::tune`]) whose complete trials are the step's
/// runs (the best of them by the gate metric is what a register step takes).
fn tune(
    ws: &mut Workspace,
    kind: crate::train::ModelKind,
    pipeline: &str,
    run_id: &str,
    step: &StepConfig,
    out: &mut StepOutputs,
    errors: &mut Vec<String>,
) -> Result<()> {
    use crate::tune::space::{Param, Space};
    let mut space = Space::default();
    for (name, text) in &step.space {
        let distribution = Space::parse_distribution(text).map_err(|e| {
            Error::invalid(format!("step `{}`: space.{name} `{text}`: {e}", step.name))
        })?;
        space.params.push(Param {
            name: name.clone(),
            distribution,
        });
    }
    let mut req = crate::tune::TuneRequest::new(kind, space, step.trials.unwrap_or(20));
    req.sets = step.sets();
    if let Some(v) = &step.sampler {
        req.sampler = v.parse()?;
    }
    if let Some(v) = &step.pruner {
        req.pruner = v.parse()?;
    }
    req.time_budget = step
        .time_budget
        .as_deref()
        .map(super::config::parse_duration)
        .transpose()
        .map_err(|m| Error::invalid(format!("step `{}`: time_budget: {m}", step.name)))?;
    req.max_parallel = step
        .max_parallel
        .unwrap_or(ws.config.config.train.max_parallel);
    req.seed = step.seed;
    req.experiment = step.experiment.clone();
    req.name = Some(format!("{pipeline}/{}", step.name));
    req.tags = BTreeMap::from([
        (PIPELINE_TAG.to_string(), pipeline.to_string()),
        (PIPELINE_RUN_TAG.to_string(), run_id.to_string()),
    ]);
    let result = crate::tune::Tune::run(ws, req, |_, _| {}, std::future::pending())?;
    out.data_version = Some(result.data_version.clone());
    // As in Optuna, a failed or pruned trial is part of the search; only a search without
    // any complete trial fails the step.
    out.runs.extend(
        result
            .trials
            .iter()
            .filter(|t| t.state == "COMPLETE")
            .filter_map(|t| t.run_id.clone()),
    );
    if result.best.is_none() {
        errors.push(format!(
            "none of {} trials completed (parent run {})",
            result.trials.len(),
            short_id(&result.parent_run)
        ));
    }
    Ok(())
}

/// Waits until an endpoint serving `model` is up with its Production version; starts one
/// (a detached `cerebro serve`) when none is up and the step allows it.
fn deploy(ws: &mut Workspace, step: &StepConfig, out: &mut StepOutputs) -> Result<()> {
    let model = registered_model(ws, step);
    let production = ws
        .store
        .resolve(&ModelUri::Stage(model.clone(), Stage::Production))?;
    out.model = Some(model.clone());
    out.version = Some(production.version);
    let table = crate::serve::status::StatusTable::open(&ws.db_path())?;
    let up = |t: &crate::serve::status::StatusTable| -> Result<Option<_>> {
        Ok(t.list()?
            .into_iter()
            .find(|e| e.model == model && e.state == EndpointState::Up))
    };
    if up(&table)?.is_none() {
        if step.start == Some(false) {
            return Err(Error::invalid(format!(
                "no endpoint serves {model} and the step may not start one (start = false)"
            )));
        }
        start_endpoint(ws, &model)?;
    }
    let deadline = Instant::now()
        + step
            .timeout()
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(600));
    loop {
        if let Some(e) = up(&table)?
            && e.served
                .iter()
                .any(|a| a.version == production.version && a.arm == "champion")
        {
            out.endpoint = Some(e.name.clone());
            out.address = Some(e.address.clone());
            out.summary = Some(format!(
                "{} at {} serves {model}/{}",
                e.name, e.address, production.version
            ));
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::invalid(format!(
                "no endpoint served {model}/{} in time",
                production.version
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_endpoint(ws: &Workspace, model: &str) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let log_path = ws.store_root().join(format!("serve-{model}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(&log_path, e))?;
    let err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--config")
        .arg(absolute(&ws.config.path))
        .args(["serve", "--model", model])
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own session: the endpoint outlives this step and the pipeline.
        cmd.process_group(0);
    }
    cmd.spawn().map_err(|e| Error::io("cerebro serve", e))?;
    Ok(())
}

pub(crate) fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
