//! `cerebro pipeline list|run|runs|show|resume|enable|disable`: the workflows of the config and
//! their history. `run` and `resume` run in the foreground and exit non-zero when a step (or the
//! promotion gate) fails, for CI.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;

use super::JsonFlag;
use super::output::{Table, duration_ms, print_json, time_ms};
use cerebro::store::short_id;
use cerebro::workflow::{self, RunOutcome, WorkflowStore};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Every pipeline of the config: steps, schedule, triggers, latest run.
    List(JsonFlag),
    /// Run a pipeline now, in the foreground; exits 1 if a step or the gate fails.
    Run {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Pipeline runs, newest first.
    Runs {
        /// Only this pipeline's runs.
        #[arg(long)]
        pipeline: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One run: its steps with status, attempts, durations, outputs, links and logs.
    Show {
        run: String,
        /// Print each step's full log.
        #[arg(long)]
        logs: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Continue an interrupted (or failed) run from its first unfinished step.
    Resume {
        run: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Turn a pipeline's schedule on (stored; agents pick it up at their next poll).
    Enable { name: String },
    /// Turn a pipeline's schedule off.
    Disable { name: String },
    /// Run one built-in step of a run in this process (what the runner starts; internal).
    #[command(hide = true)]
    Step { run: String, step: String },
}

pub fn run(config: &Path, cmd: PipelineCommand) -> Result<i32> {
    match cmd {
        PipelineCommand::List(f) => list(config, f.json),
        PipelineCommand::Run { name, json } => foreground(config, &name, false, json.json),
        PipelineCommand::Resume { run, json } => foreground(config, &run, true, json.json),
        PipelineCommand::Runs {
            pipeline,
            limit,
            json,
        } => runs(config, pipeline.as_deref(), limit, json.json),
        PipelineCommand::Show { run, logs, json } => show(config, &run, logs, json.json),
        PipelineCommand::Enable { name } => switch(config, &name, true),
        PipelineCommand::Disable { name } => switch(config, &name, false),
        PipelineCommand::Step { run, step } => step_here(config, &run, &step),
    }
}

fn list(config: &Path, json: bool) -> Result<i32> {
    let ws = super::open(config)?;
    workflow::reap(&ws)?;
    let views = workflow::pipelines(&ws)?;
    if json {
        print_json(&views)?;
        return Ok(0);
    }
    if views.is_empty() {
        println!(
            "no pipelines: define one under [pipelines.NAME] in the config (see README, Workflows)"
        );
        return Ok(0);
    }
    let mut t = Table::new([
        "pipeline", "steps", "schedule", "triggers", "last run", "status",
    ]);
    for v in &views {
        let schedule = match &v.schedule {
            Some(s) if v.schedule_enabled => s.clone(),
            Some(s) => format!("{s} (off)"),
            None => "-".into(),
        };
        let steps: Vec<String> = v
            .steps
            .iter()
            .map(|s| format!("{}:{}", s.name, s.kind))
            .collect();
        t.row([
            v.name.clone(),
            steps.join(" "),
            schedule,
            if v.triggers.is_empty() {
                "-".into()
            } else {
                v.triggers.join("; ")
            },
            v.last_run
                .as_ref()
                .map_or("-".into(), |r| time_ms(r.started_at)),
            v.last_run.as_ref().map_or("-".into(), |r| r.status.clone()),
        ]);
    }
    t.print();
    Ok(0)
}

/// Runs (or resumes) in the foreground; Ctrl-C or SIGTERM stops the running step and leaves the
/// run INTERRUPTED.
fn foreground(config: &Path, target: &str, resume: bool, json: bool) -> Result<i32> {
    let ws = super::open(config)?;
    let exe = std::env::current_exe().context("finding the cerebro executable")?;
    let cancel = Arc::new(AtomicBool::new(false));
    let env = workflow::foreground_env(&ws, exe, cancel.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let target = target.to_string();
    let outcome: RunOutcome = runtime.block_on(async move {
        let mut work = tokio::task::spawn_blocking(move || {
            if resume {
                workflow::resume(&ws, &env, &target)
            } else {
                workflow::run(&ws, &env, &target)
            }
        });
        tokio::select! {
            r = &mut work => r,
            _ = super::shutdown_signal() => {
                cancel.store(true, Ordering::SeqCst);
                work.await
            }
        }
    })??;
    print_outcome(config, &outcome, json)?;
    Ok(if outcome.status == "SUCCEEDED" { 0 } else { 1 })
}

fn print_outcome(config: &Path, o: &RunOutcome, json: bool) -> Result<()> {
    if json {
        let ws = super::open(config)?;
        let store = WorkflowStore::open(&ws.db_path())?;
        return print_json(&detail(&store, &o.run_id)?);
    }
    let mut t = Table::new(["step", "status", "attempts", "error"]);
    for s in &o.steps {
        t.row([
            s.step.clone(),
            s.status.clone(),
            s.attempts.to_string(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    t.print();
    println!(
        "pipeline {} run {}: {}",
        o.pipeline,
        short_id(&o.run_id),
        o.status
    );
    if o.status == "INTERRUPTED" {
        println!("resume it with: cerebro pipeline resume {}", o.run_id);
    }
    Ok(())
}

fn runs(config: &Path, pipeline: Option<&str>, limit: usize, json: bool) -> Result<i32> {
    let ws = super::open(config)?;
    workflow::reap(&ws)?;
    let store = WorkflowStore::open(&ws.db_path())?;
    let runs = store.list_runs(pipeline, limit)?;
    if json {
        print_json(&runs)?;
        return Ok(0);
    }
    let mut t = Table::new(["run", "pipeline", "status", "fired by", "started", "took"]);
    for r in &runs {
        t.row([
            short_id(&r.run_id).to_string(),
            r.pipeline.clone(),
            r.status.clone(),
            r.fired_by.clone(),
            time_ms(r.started_at),
            duration_ms(r.ended_at.map(|e| e - r.started_at)),
        ]);
    }
    t.print();
    Ok(0)
}

#[derive(Debug, Serialize)]
struct RunDetail {
    #[serde(flatten)]
    run: workflow::PipelineRun,
    steps: Vec<workflow::StepRun>,
    links: Vec<workflow::store::Link>,
}

fn detail(store: &WorkflowStore, run_ref: &str) -> Result<RunDetail> {
    let run = store.get_run(run_ref)?;
    Ok(RunDetail {
        steps: store.steps(&run.run_id)?,
        links: store.links(&run.run_id)?,
        run,
    })
}

fn show(config: &Path, run_ref: &str, logs: bool, json: bool) -> Result<i32> {
    let ws = super::open(config)?;
    workflow::reap(&ws)?;
    let store = WorkflowStore::open(&ws.db_path())?;
    let d = detail(&store, run_ref)?;
    if json {
        print_json(&d)?;
        return Ok(0);
    }
    let r = &d.run;
    println!("run       {}", r.run_id);
    println!("pipeline  {}", r.pipeline);
    println!("status    {}", r.status);
    println!(
        "fired by  {}{}",
        r.fired_by,
        r.detail
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    println!(
        "started   {} (pid {} on {})",
        time_ms(r.started_at),
        r.pid,
        r.host
    );
    if let Some(e) = r.ended_at {
        println!(
            "ended     {} after {}",
            time_ms(e),
            duration_ms(Some(e - r.started_at))
        );
    }
    if r.resumes > 0 {
        println!("resumed   {} time(s)", r.resumes);
    }
    if let Some(e) = &r.error {
        println!("error     {e}");
    }
    println!();
    let mut t = Table::new(["step", "kind", "status", "attempts", "took", "result"]);
    for s in &d.steps {
        let result = s
            .error
            .clone()
            .or_else(|| {
                s.outputs
                    .as_ref()
                    .and_then(|o| o.get("summary"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        t.row([
            s.step.clone(),
            s.kind.clone(),
            s.status.clone(),
            s.attempts.to_string(),
            duration_ms(s.duration_ms),
            result,
        ]);
    }
    t.print();
    if !d.links.is_empty() {
        println!("\nproduced:");
        for l in &d.links {
            println!("  {:<10} {:<14} {}", l.step, l.kind, l.reference);
        }
    }
    if logs {
        for s in &d.steps {
            if !s.log.is_empty() {
                println!("\n--- {} ---\n{}", s.step, s.log.trim_end());
            }
        }
    }
    Ok(0)
}

fn switch(config: &Path, name: &str, on: bool) -> Result<i32> {
    let ws = super::open(config)?;
    workflow::set_schedule_enabled(&ws, name, on)?;
    println!(
        "schedule of pipeline {name} {}",
        if on { "enabled" } else { "disabled" }
    );
    Ok(0)
}

/// The step process: run the step, print its result line (its stderr is the step's log).
fn step_here(config: &Path, run_id: &str, step: &str) -> Result<i32> {
    let mut ws = super::open(config)?;
    let result = workflow::steps::execute(&mut ws, run_id, step);
    if let Some(e) = &result.error {
        eprintln!("error: {e}");
    } else if let Some(s) = &result.outputs.summary {
        eprintln!("{s}");
    }
    println!(
        "{}{}",
        workflow::steps::RESULT_MARKER,
        serde_json::to_string(&result)?
    );
    Ok(if result.ok { 0 } else { 1 })
}
