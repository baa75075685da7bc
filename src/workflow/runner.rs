//! Runs a claimed pipeline run to its end on the calling thread: steps in dependency order, each
//! attempt in a child process (a command step's program, or `cerebro pipeline step RUN STEP` for
//! the built-in kinds) with retries, backoff and a timeout, everything recorded in the store as
//! it happens. A step that crashes, hangs or times out is killed with its process group and
//! counts as a failed attempt; the runner carries on.
//!
//! Step processes lead their own process group and are killed when the runner thread dies
//! (`PR_SET_PDEATHSIG`), so a runner killed with SIGKILL leaves nothing running; the next start
//! marks its run INTERRUPTED and `cerebro pipeline resume` continues from the first unfinished
//! step.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::{RunIf, StepConfig, StepKind};
use super::steps::{RESULT_MARKER, StepOutputs, StepResult};
use super::store::WorkflowStore;
use crate::error::{Error, Result};

/// How a runner starts step processes and when it stops.
#[derive(Debug, Clone)]
pub struct RunnerEnv {
    /// The workspace's config file (absolute).
    pub config_path: PathBuf,
    /// The `cerebro` executable that runs built-in steps.
    pub exe: PathBuf,
    /// Set to stop: the running step is killed and the run left INTERRUPTED (resumable).
    pub cancel: Arc<AtomicBool>,
    /// The MLflow tracking server (URI, token) the workspace was opened with, if any: handed to
    /// step processes so they use the same backend however it was chosen.
    pub tracking: Option<(String, Option<String>)>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunOutcome {
    pub run_id: String,
    pub pipeline: String,
    /// SUCCEEDED, FAILED or INTERRUPTED.
    pub status: String,
    pub steps: Vec<StepOutcome>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepOutcome {
    pub step: String,
    pub status: String,
    pub attempts: u32,
    pub error: Option<String>,
}

/// How often a waiting runner refreshes its run's heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Most output kept per attempt, from its end.
const LOG_TAIL: usize = 64 * 1024;

/// Runs `run_id` (claimed, RUNNING) to its end.
pub fn execute(env: &RunnerEnv, db: &Path, run_id: &str) -> Result<RunOutcome> {
    let mut store = WorkflowStore::open(db)?;
    let run = store.get_run(run_id)?;
    let def = store.definition(&run.run_id)?;
    let mut status: BTreeMap<String, String> = store
        .steps(&run.run_id)?
        .into_iter()
        .map(|s| (s.step, s.status))
        .collect();
    let mut outcomes = Vec::new();
    let mut interrupted = false;
    for i in super::config::topo_order(&def) {
        let step = &def.steps[i];
        let current = status.get(&step.name).cloned().unwrap_or_default();
        if current == "SUCCEEDED" {
            continue; // finished before a resume: never run again
        }
        if interrupted || env.cancel.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let deps: Vec<&str> = step
            .after
            .iter()
            .map(|d| status.get(d).map(String::as_str).unwrap_or("PENDING"))
            .collect();
        let go = match step.run_if {
            RunIf::AllSucceeded => deps.iter().all(|s| *s == "SUCCEEDED"),
            RunIf::AnyFailed => deps.contains(&"FAILED"),
            RunIf::Always => true,
        };
        if !go {
            let why = format!(
                "skipped: run_if = {} and the steps before it are {}",
                step.run_if.as_str(),
                deps.join(", ")
            );
            store.step_finished(
                &run.run_id,
                &step.name,
                "SKIPPED",
                None,
                Some(&why),
                None,
                &[],
            )?;
            status.insert(step.name.clone(), "SKIPPED".into());
            outcomes.push(StepOutcome {
                step: step.name.clone(),
                status: "SKIPPED".into(),
                attempts: 0,
                error: None,
            });
            continue;
        }
        let o = run_step(env, &mut store, &run.run_id, &run.pipeline, step)?;
        if o.status == "INTERRUPTED" {
            interrupted = true;
        }
        status.insert(step.name.clone(), o.status.clone());
        outcomes.push(o);
    }
    let final_status = if interrupted {
        "INTERRUPTED"
    } else if status.values().any(|s| s == "FAILED") {
        "FAILED"
    } else {
        "SUCCEEDED"
    };
    let error = match final_status {
        "FAILED" => {
            let failed: Vec<&str> = status
                .iter()
                .filter(|(_, s)| *s == "FAILED")
                .map(|(n, _)| n.as_str())
                .collect();
            Some(format!("failed steps: {}", failed.join(", ")))
        }
        "INTERRUPTED" => Some(format!(
            "stopped before the end; resume it with `cerebro pipeline resume {}`",
            run.run_id
        )),
        _ => None,
    };
    store.finish_run(&run.run_id, final_status, error.as_deref())?;
    tracing::info!(run = %run.run_id, pipeline = %run.pipeline, status = final_status, "pipeline run ended");
    Ok(RunOutcome {
        run_id: run.run_id,
        pipeline: run.pipeline,
        status: final_status.into(),
        steps: outcomes,
    })
}

/// One step with its retries.
fn run_step(
    env: &RunnerEnv,
    store: &mut WorkflowStore,
    run_id: &str,
    pipeline: &str,
    step: &StepConfig,
) -> Result<StepOutcome> {
    let started = Instant::now();
    let attempts_allowed = step.retries + 1;
    let mut backoff = step.backoff();
    let mut last_error = None;
    let mut last_outputs: Option<StepOutputs> = None;
    let previous_attempts = store
        .steps(run_id)?
        .into_iter()
        .find(|s| s.step == step.name)
        .map_or(0, |s| s.attempts as u32);
    for attempt in 1..=attempts_allowed {
        let number = previous_attempts + attempt;
        store.step_started(run_id, &step.name, number)?;
        tracing::info!(run = %run_id, step = %step.name, attempt = number, "step attempt");
        let result = attempt_once(env, store, run_id, pipeline, step, number)?;
        match result {
            Attempt::Done(r) if r.ok => {
                let outputs = serde_json::to_value(&r.outputs)?;
                store.step_finished(
                    run_id,
                    &step.name,
                    "SUCCEEDED",
                    Some(started.elapsed().as_millis() as i64),
                    None,
                    Some(&outputs),
                    &r.outputs.links(),
                )?;
                return Ok(StepOutcome {
                    step: step.name.clone(),
                    status: "SUCCEEDED".into(),
                    attempts: number,
                    error: None,
                });
            }
            Attempt::Done(r) => {
                store.step_log(
                    run_id,
                    &step.name,
                    &format!(
                        "[attempt {number} failed: {}]\n",
                        r.error.as_deref().unwrap_or("")
                    ),
                )?;
                let r = *r;
                last_error = r.error;
                last_outputs = Some(r.outputs);
            }
            Attempt::Cancelled => {
                store.step_finished(
                    run_id,
                    &step.name,
                    "INTERRUPTED",
                    Some(started.elapsed().as_millis() as i64),
                    Some("the runner was stopped"),
                    None,
                    &[],
                )?;
                return Ok(StepOutcome {
                    step: step.name.clone(),
                    status: "INTERRUPTED".into(),
                    attempts: number,
                    error: Some("the runner was stopped".into()),
                });
            }
        }
        if attempt < attempts_allowed {
            if !sleep_unless_cancelled(env, store, run_id, backoff) {
                store.step_finished(
                    run_id,
                    &step.name,
                    "INTERRUPTED",
                    Some(started.elapsed().as_millis() as i64),
                    Some("the runner was stopped between attempts"),
                    None,
                    &[],
                )?;
                return Ok(StepOutcome {
                    step: step.name.clone(),
                    status: "INTERRUPTED".into(),
                    attempts: number,
                    error: None,
                });
            }
            backoff = backoff.saturating_mul(2);
        }
    }
    let outputs = last_outputs
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let links = last_outputs.map(|o| o.links()).unwrap_or_default();
    let total = previous_attempts + attempts_allowed;
    let error = format!(
        "failed after {attempts_allowed} attempt(s): {}",
        last_error.as_deref().unwrap_or("unknown error")
    );
    store.step_finished(
        run_id,
        &step.name,
        "FAILED",
        Some(started.elapsed().as_millis() as i64),
        Some(&error),
        outputs.as_ref(),
        &links,
    )?;
    Ok(StepOutcome {
        step: step.name.clone(),
        status: "FAILED".into(),
        attempts: total,
        error: Some(error),
    })
}

fn sleep_unless_cancelled(
    env: &RunnerEnv,
    store: &WorkflowStore,
    run_id: &str,
    d: Duration,
) -> bool {
    let end = Instant::now() + d;
    let mut last_beat = Instant::now();
    while Instant::now() < end {
        if env.cancel.load(Ordering::SeqCst) {
            return false;
        }
        if last_beat.elapsed() >= HEARTBEAT_EVERY {
            let _ = store.heartbeat(run_id);
            last_beat = Instant::now();
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
    !env.cancel.load(Ordering::SeqCst)
}

enum Attempt {
    Done(Box<StepResult>),
    Cancelled,
}

/// Runs one attempt in a child process and waits for it (with the step's timeout).
fn attempt_once(
    env: &RunnerEnv,
    store: &WorkflowStore,
    run_id: &str,
    pipeline: &str,
    step: &StepConfig,
    attempt: u32,
) -> Result<Attempt> {
    let config_dir = env
        .config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cmd = if step.kind == StepKind::Command {
        let mut c = Command::new(step.program.as_deref().unwrap_or_default());
        c.args(&step.args)
            .current_dir(config_dir.join(step.dir.as_deref().unwrap_or(Path::new("."))))
            .envs(&step.env);
        c
    } else {
        let mut c = Command::new(&env.exe);
        c.arg("--config")
            .arg(&env.config_path)
            .args(["pipeline", "step", run_id, &step.name])
            .current_dir(&config_dir);
        c
    };
    let inputs = upstream_outputs(store, run_id)?;
    cmd.env("CEREBRO_CONFIG", &env.config_path)
        .env("CEREBRO_PIPELINE", pipeline)
        .env("CEREBRO_PIPELINE_RUN", run_id)
        .env("CEREBRO_STEP", &step.name)
        .env("CEREBRO_ATTEMPT", attempt.to_string())
        .env("CEREBRO_STEP_INPUTS", inputs);
    if let Some((uri, token)) = &env.tracking {
        cmd.env("MLFLOW_TRACKING_URI", uri);
        if let Some(t) = token {
            cmd.env("MLFLOW_TRACKING_TOKEN", t);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let what = if step.kind == StepKind::Command {
                step.program.clone().unwrap_or_default()
            } else {
                env.exe.display().to_string()
            };
            return Ok(Attempt::Done(Box::new(StepResult {
                ok: false,
                outputs: StepOutputs::default(),
                error: Some(format!("could not start `{what}`: {e}")),
            })));
        }
    };
    let pid = child.id();
    store.step_child(run_id, &step.name, pid)?;
    let out_buf = Arc::new(Mutex::new(Vec::new()));
    let err_buf = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        spawn_reader(
            child.stdout.take().map(|s| Box::new(s) as _),
            out_buf.clone(),
        ),
        spawn_reader(
            child.stderr.take().map(|s| Box::new(s) as _),
            err_buf.clone(),
        ),
    ];
    let timeout = step.timeout();
    let mut last_beat = Instant::now();
    let mut timed_out = false;
    let mut cancelled = false;
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                return Err(Error::io(format!("step {} (pid {pid})", step.name), e));
            }
        }
        if env.cancel.load(Ordering::SeqCst) {
            cancelled = true;
            super::store::kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            timed_out = true;
            super::store::kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if last_beat.elapsed() >= HEARTBEAT_EVERY {
            let _ = store.heartbeat(run_id);
            last_beat = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A killed group closes the pipes; a step that left a grandchild holding them open would
    // keep the readers waiting, so they are joined only when the step ended on its own.
    if exit.is_some() {
        for r in readers.into_iter().flatten() {
            let _ = r.join();
        }
    }
    let stdout = String::from_utf8_lossy(&out_buf.lock().expect("not poisoned")).into_owned();
    let stderr = String::from_utf8_lossy(&err_buf.lock().expect("not poisoned")).into_owned();
    let mut log = String::new();
    log.push_str(&format!("[attempt {attempt}]\n"));
    for line in stdout.lines().filter(|l| !l.starts_with(RESULT_MARKER)) {
        log.push_str(line);
        log.push('\n');
    }
    if !stderr.is_empty() {
        log.push_str(&stderr);
        if !stderr.ends_with('\n') {
            log.push('\n');
        }
    }
    store.step_log(run_id, &step.name, &log)?;
    if cancelled {
        return Ok(Attempt::Cancelled);
    }
    if timed_out {
        let t = timeout.unwrap_or_default();
        return Ok(Attempt::Done(Box::new(StepResult {
            ok: false,
            outputs: StepOutputs::default(),
            error: Some(format!(
                "timed out after {:.1}s and was killed",
                t.as_secs_f64()
            )),
        })));
    }
    let status = exit.expect("exited");
    if step.kind == StepKind::Command {
        let code = status.code();
        let outputs = StepOutputs {
            exit_code: code,
            summary: code.map(|c| format!("exit status {c}")),
            ..StepOutputs::default()
        };
        return Ok(Attempt::Done(Box::new(if status.success() {
            StepResult {
                ok: true,
                outputs,
                error: None,
            }
        } else {
            StepResult {
                ok: false,
                outputs,
                error: Some(exit_text(&status, &stderr)),
            }
        })));
    }
    let parsed = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT_MARKER))
        .and_then(|j| serde_json::from_str::<StepResult>(j).ok());
    Ok(Attempt::Done(Box::new(match parsed {
        Some(r) => r,
        None => StepResult {
            ok: false,
            outputs: StepOutputs::default(),
            error: Some(format!(
                "the step process ended without a result: {}",
                exit_text(&status, &stderr)
            )),
        },
    })))
}

fn exit_text(status: &std::process::ExitStatus, stderr: &str) -> String {
    let how = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                format!("killed by signal {}", status.signal().unwrap_or(0))
            }
            #[cfg(not(unix))]
            {
                "killed".to_string()
            }
        }
    };
    match stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(last) => format!("{how}: {}", last.trim()),
        None => how,
    }
}

type Reader = Box<dyn Read + Send>;

fn spawn_reader(
    src: Option<Reader>,
    buf: Arc<Mutex<Vec<u8>>>,
) -> Option<std::thread::JoinHandle<()>> {
    let mut src = src?;
    Some(std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match src.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut b = buf.lock().expect("not poisoned");
                    b.extend_from_slice(&chunk[..n]);
                    if b.len() > 2 * LOG_TAIL {
                        let cut = b.len() - LOG_TAIL;
                        b.drain(..cut);
                    }
                }
            }
        }
    }))
}

/// The outputs of the run's finished steps, as a JSON object by step name (handed to command
/// steps in `CEREBRO_STEP_INPUTS`).
fn upstream_outputs(store: &WorkflowStore, run_id: &str) -> Result<String> {
    let mut m = serde_json::Map::new();
    for s in store.steps(run_id)? {
        if let (true, Some(o)) = (s.status == "SUCCEEDED", s.outputs) {
            m.insert(s.step, o);
        }
    }
    Ok(serde_json::Value::Object(m).to_string())
}
