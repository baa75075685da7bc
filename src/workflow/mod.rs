//! Workflows: named pipelines of steps (a DAG in `config.toml`), run now, on a schedule or when
//! a trigger fires, with their history in the store.
//!
//! - [`config`]: `[pipelines.NAME]`: steps, dependencies, retries, timeouts, run-if,
//!   schedules and triggers, and their validation (unknown steps, cycles).
//! - [`store`]: pipeline runs, step runs, links to what they produced, per-pipeline locks,
//!   claimed schedule slots, schedule switches and trigger cursors (migration 6).
//! - [`runner`]: runs one pipeline run, each step attempt in a child process.
//! - [`steps`]: the built-in steps (prepare, train, evaluate, register, promote, deploy,
//!   monitor) as the child process executes them.
//! - [`agent`]: the scheduler the TUI and `cerebro agent` run.
//!
//! This module also holds the small API the front ends share: [`pipelines`] (each pipeline with
//! its DAG and the state of its latest run), [`run`] / [`resume`] in the foreground, and
//! [`set_schedule_enabled`].

pub mod agent;
pub mod config;
pub mod runner;
pub mod steps;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

pub use agent::{Agent, AgentEvent, AgentHandle, AgentOptions, AgentSummary};
pub use runner::{RunOutcome, RunnerEnv};
pub use store::{Claim, Firing, PipelineRun, StepRun, WorkflowStore};

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// One step of a pipeline as the TUI's Jobs tab draws it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepView {
    pub name: String,
    pub kind: String,
    pub after: Vec<String>,
    pub run_if: String,
    pub retries: u32,
    /// The step's state in the pipeline's latest run (PENDING, RUNNING, SUCCEEDED, FAILED,
    /// SKIPPED, INTERRUPTED); None when the pipeline never ran.
    pub status: Option<String>,
    pub attempts: Option<i64>,
}

/// A pipeline with its DAG, schedule and latest run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PipelineView {
    pub name: String,
    pub description: String,
    /// Steps in execution order.
    pub steps: Vec<StepView>,
    /// `every 6h` or `cron 0 3 * * *`.
    pub schedule: Option<String>,
    /// Whether the schedule is on (the stored switch, else the config's `enabled`).
    pub schedule_enabled: bool,
    /// Next slot (unix ms) if the schedule is on.
    pub next_slot: Option<i64>,
    pub triggers: Vec<String>,
    pub last_run: Option<PipelineRun>,
}

/// Every pipeline of the workspace's config, with its latest run.
pub fn pipelines(ws: &Workspace) -> Result<Vec<PipelineView>> {
    let store = WorkflowStore::open(&ws.db_path())?;
    let latest = store.latest_runs()?;
    let switches = store.schedule_switches()?;
    let now = crate::clock::now_ms();
    let mut out = Vec::new();
    for (name, p) in &ws.config.config.pipelines {
        let last_run = latest.get(name).cloned();
        let step_states: Vec<StepRun> = match &last_run {
            Some(r) => store.steps(&r.run_id)?,
            None => Vec::new(),
        };
        let steps = config::topo_order(p)
            .into_iter()
            .map(|i| {
                let s = &p.steps[i];
                let st = step_states.iter().find(|x| x.step == s.name);
                StepView {
                    name: s.name.clone(),
                    kind: s.kind.as_str().to_string(),
                    after: s.after.clone(),
                    run_if: s.run_if.as_str().to_string(),
                    retries: s.retries,
                    status: st.map(|x| x.status.clone()),
                    attempts: st.map(|x| x.attempts),
                }
            })
            .collect();
        let enabled = switches
            .get(name)
            .copied()
            .unwrap_or(p.schedule.as_ref().is_some_and(|s| s.enabled));
        let (schedule, next_slot) = match &p.schedule {
            Some(sc) => {
                let text = match (&sc.every, &sc.cron) {
                    (Some(e), _) => format!("every {e}"),
                    (_, Some(c)) => format!("cron {c}"),
                    _ => String::new(),
                };
                let next = config::Schedule::parse(sc)
                    .ok()
                    .filter(|_| enabled)
                    .and_then(|s| s.next_after(now));
                (Some(text), next)
            }
            None => (None, None),
        };
        out.push(PipelineView {
            name: name.clone(),
            description: p.description.clone(),
            steps,
            schedule,
            schedule_enabled: enabled,
            next_slot,
            triggers: p.triggers.iter().map(trigger_text).collect(),
            last_run,
        });
    }
    Ok(out)
}

fn trigger_text(t: &config::TriggerConfig) -> String {
    match t {
        config::TriggerConfig::File { dir, suffix } => format!(
            "new file in {}{}",
            dir.display(),
            suffix
                .as_ref()
                .map(|s| format!(" (*{s})"))
                .unwrap_or_default()
        ),
        config::TriggerConfig::Alert { kinds, endpoint } => format!(
            "alert {}{}",
            if kinds.is_empty() {
                "of any kind".to_string()
            } else {
                kinds.join("|")
            },
            endpoint
                .as_ref()
                .map(|e| format!(" on {e}"))
                .unwrap_or_default()
        ),
        config::TriggerConfig::Production { model } => format!(
            "new Production version of {}",
            model.as_deref().unwrap_or("any model")
        ),
    }
}

/// Turns a pipeline's schedule on or off (stored; the agents pick it up at their next poll).
pub fn set_schedule_enabled(ws: &Workspace, pipeline: &str, enabled: bool) -> Result<()> {
    let p = ws
        .config
        .config
        .pipelines
        .get(pipeline)
        .ok_or_else(|| Error::not_found("pipeline", pipeline))?;
    if p.schedule.is_none() {
        return Err(Error::invalid(format!(
            "pipeline `{pipeline}` has no schedule to turn on or off"
        )));
    }
    WorkflowStore::open(&ws.db_path())?.set_schedule_enabled(pipeline, enabled)
}

/// A runner environment for front ends running a pipeline in the foreground.
pub fn foreground_env(ws: &Workspace, exe: PathBuf, cancel: Arc<AtomicBool>) -> RunnerEnv {
    RunnerEnv {
        config_path: steps::absolute(&ws.config.path),
        exe,
        cancel,
        tracking: ws
            .tracking
            .as_ref()
            .map(|t| (t.uri.clone(), t.token.clone())),
    }
}

/// Runs `pipeline` now on this thread (steps in child processes) and returns how it ended.
/// Refused if the pipeline is running elsewhere.
pub fn run(ws: &Workspace, env: &RunnerEnv, pipeline: &str) -> Result<RunOutcome> {
    let def = ws.config.config.pipelines.get(pipeline).ok_or_else(|| {
        let names: Vec<&str> = ws
            .config
            .config
            .pipelines
            .keys()
            .map(String::as_str)
            .collect();
        match crate::error::closest(pipeline, &names) {
            Some(c) => Error::invalid(format!("no pipeline `{pipeline}` (did you mean `{c}`?)")),
            None if names.is_empty() => Error::invalid(format!(
                "no pipeline `{pipeline}`: the config defines none ([pipelines.NAME])"
            )),
            None => Error::invalid(format!(
                "no pipeline `{pipeline}`; the config defines {}",
                names.join(", ")
            )),
        }
    })?;
    let mut store = WorkflowStore::open(&ws.db_path())?;
    store.reap()?;
    match store.claim(pipeline, def, &ws.config.hash, &Firing::manual())? {
        Claim::Started(run_id) => runner::execute(env, &ws.db_path(), &run_id),
        Claim::Busy { run_id, pid } => Err(busy(pipeline, &run_id, pid)),
        Claim::SlotTaken => Err(Error::invalid("the run was claimed elsewhere")),
    }
}

/// Continues an INTERRUPTED (or FAILED) run from its first unfinished step.
pub fn resume(ws: &Workspace, env: &RunnerEnv, run_ref: &str) -> Result<RunOutcome> {
    let mut store = WorkflowStore::open(&ws.db_path())?;
    store.reap()?;
    match store.claim_resume(run_ref)? {
        Claim::Started(run_id) => runner::execute(env, &ws.db_path(), &run_id),
        Claim::Busy { run_id, pid } => {
            let run = store.get_run(run_ref)?;
            Err(busy(&run.pipeline, &run_id, pid))
        }
        Claim::SlotTaken => Err(Error::invalid("the run was claimed elsewhere")),
    }
}

fn busy(pipeline: &str, run_id: &str, pid: u32) -> Error {
    Error::invalid(format!(
        "pipeline `{pipeline}` is already running (run {run_id}, pid {pid}); one run at a time"
    ))
}

/// Marks runs of dead runners INTERRUPTED; returns them.
pub fn reap(ws: &Workspace) -> Result<Vec<PipelineRun>> {
    if ws.read_only() {
        // A read-only store cannot be changed; the next writable open reaps them.
        return Ok(Vec::new());
    }
    WorkflowStore::open(&ws.db_path())?.reap()
}

/// `2026-01-31 12:00:00` (UTC) for a unix-ms time.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}
