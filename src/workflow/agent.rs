//! The scheduler: a tokio task that starts pipeline runs when their schedule comes due or a
//! trigger fires, and runs each on a thread of its own. `cerebro agent` runs it headless; the
//! TUI runs it while it is open, through an [`AgentHandle`] (run now) and [`AgentEvent`]s.
//!
//! It sleeps until the earliest of the next scheduled slot and the next poll of the store
//! (triggers, schedule switches, config changes), so an idle agent costs almost nothing. Every
//! start goes through [`WorkflowStore::claim`]: a slot or an event is claimed by exactly one
//! process, and a pipeline never runs twice at once; a trigger that fires while its pipeline
//! runs is kept (its cursor does not move) and starts one run when the lock is free.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::config::{Schedule, TriggerConfig};
use super::runner::{RunOutcome, RunnerEnv};
use super::store::{Claim, CursorUpdate, Firing, WorkflowStore};
use crate::config::{Config, LoadedConfig};
use crate::error::{Error, Result};
use crate::store::now_ms;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The workspace's config file.
    pub config_path: PathBuf,
    /// The `cerebro` executable that runs built-in steps (the running binary, usually).
    pub exe: PathBuf,
    /// How often the store is polled for triggers, schedule switches and config changes.
    pub poll: Duration,
}

/// What the agent reports.
#[derive(Debug, Clone)]
pub enum AgentEvent {
    RunStarted {
        pipeline: String,
        run_id: String,
        fired_by: String,
    },
    RunEnded(RunOutcome),
    /// A run could not start or failed to record; the agent carries on.
    Problem {
        pipeline: Option<String>,
        message: String,
    },
}

enum AgentCommand {
    RunNow(String),
}

/// Talks to a running agent.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    tx: mpsc::UnboundedSender<AgentCommand>,
}

impl std::fmt::Debug for AgentCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentCommand::RunNow(p) => write!(f, "RunNow({p})"),
        }
    }
}

impl AgentHandle {
    /// Starts a run of `pipeline` now (refused, with an [`AgentEvent::Problem`], if it is
    /// already running). False when the agent has stopped.
    pub fn run_now(&self, pipeline: &str) -> bool {
        self.tx
            .send(AgentCommand::RunNow(pipeline.to_string()))
            .is_ok()
    }
}

/// The scheduler. See the module documentation.
pub struct Agent {
    opts: AgentOptions,
    commands: mpsc::UnboundedReceiver<AgentCommand>,
    events: mpsc::UnboundedSender<AgentEvent>,
}

/// What a stopped agent did.
#[derive(Debug, Clone, Default)]
pub struct AgentSummary {
    pub runs_started: usize,
    /// Runs of dead runners marked INTERRUPTED at start.
    pub interrupted_found: Vec<String>,
}

struct Loaded {
    config: LoadedConfig,
    mtime: Option<SystemTime>,
    schedules: BTreeMap<String, Schedule>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn load(path: &Path) -> Result<Loaded> {
    let config = Config::load(path)?;
    let mut schedules = BTreeMap::new();
    for (name, p) in &config.config.pipelines {
        if let Some(s) = &p.schedule {
            schedules.insert(
                name.clone(),
                Schedule::parse(s)
                    .map_err(|m| Error::invalid(format!("pipeline `{name}`: {m}")))?,
            );
        }
    }
    Ok(Loaded {
        mtime: mtime(path),
        config,
        schedules,
    })
}

impl Agent {
    pub fn new(opts: AgentOptions) -> (Agent, AgentHandle, mpsc::UnboundedReceiver<AgentEvent>) {
        let (ctx, crx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::unbounded_channel();
        (
            Agent {
                opts,
                commands: crx,
                events: etx,
            },
            AgentHandle { tx: ctx },
            erx,
        )
    }

    /// Runs until `shutdown` completes; then stops the running pipelines (their running steps
    /// are killed and the runs left INTERRUPTED, resumable) and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<AgentSummary> {
        let config_path = super::steps::absolute(&self.opts.config_path);
        let mut loaded = {
            let p = config_path.clone();
            blocking(move || load(&p)).await?
        };
        let db = loaded.config.store_path().join("cerebro.db");
        // Opening the workspace migrates the store and reaps dead training runs.
        {
            let p = config_path.clone();
            blocking(move || crate::workspace::Workspace::open(&p).map(|_| ())).await?;
        }
        let mut store = WorkflowStore::open(&db)?;
        let mut summary = AgentSummary {
            interrupted_found: store.reap()?.into_iter().map(|r| r.run_id).collect(),
            ..AgentSummary::default()
        };
        let started_at = now_ms();
        tracing::info!(
            pipelines = loaded.config.config.pipelines.len(),
            scheduled = loaded.schedules.len(),
            "agent started"
        );
        let cancel = Arc::new(AtomicBool::new(false));
        let env = RunnerEnv {
            config_path: config_path.clone(),
            exe: self.opts.exe.clone(),
            cancel: cancel.clone(),
        };
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Result<RunOutcome>)>();
        let mut running: BTreeSet<String> = BTreeSet::new();
        // Latest slot claimed or seen claimed, per pipeline.
        let mut last_slot: BTreeMap<String, i64> = BTreeMap::new();
        tokio::pin!(shutdown);
        let mut retry_soon;
        loop {
            if mtime(&config_path) != loaded.mtime {
                match load(&config_path) {
                    Ok(l) => {
                        tracing::info!("config changed: pipelines reloaded");
                        loaded = l;
                    }
                    Err(e) => {
                        loaded.mtime = mtime(&config_path);
                        self.problem(None, format!("config not reloaded: {e}"));
                    }
                }
            }
            let switches = store.schedule_switches()?;
            let now = now_ms();
            retry_soon = false;
            let hash = loaded.config.hash.clone();
            for (name, schedule) in &loaded.schedules {
                let def = &loaded.config.config.pipelines[name];
                let enabled = switches
                    .get(name)
                    .copied()
                    .unwrap_or(def.schedule.as_ref().is_some_and(|s| s.enabled));
                if !enabled {
                    continue;
                }
                let Some(due) = schedule.latest_at_or_before(now) else {
                    continue;
                };
                if due < started_at {
                    continue;
                }
                let last = match last_slot.get(name) {
                    Some(l) => *l,
                    None => store.last_slot(name)?.unwrap_or(i64::MIN),
                };
                if due <= last {
                    last_slot.insert(name.clone(), last);
                    continue;
                }
                let firing = Firing {
                    fired_by: "schedule".into(),
                    detail: Some(format!("slot {}", crate::workflow::format_ms(due))),
                    slot: Some(due),
                    cursor: None,
                };
                match store.claim(name, def, &hash, &firing)? {
                    Claim::Started(run_id) => {
                        last_slot.insert(name.clone(), due);
                        summary.runs_started += 1;
                        self.spawn_run(&env, &db, name, &run_id, "schedule", &done_tx);
                        running.insert(run_id);
                    }
                    Claim::SlotTaken => {
                        last_slot.insert(name.clone(), due);
                    }
                    Claim::Busy { .. } => retry_soon = true,
                }
            }
            for (name, def) in &loaded.config.config.pipelines {
                for trig in &def.triggers {
                    match self.check_trigger(&mut store, &loaded.config, name, trig) {
                        Ok(Some(firing)) => match store.claim(name, def, &hash, &firing)? {
                            Claim::Started(run_id) => {
                                summary.runs_started += 1;
                                self.spawn_run(
                                    &env,
                                    &db,
                                    name,
                                    &run_id,
                                    &firing.fired_by,
                                    &done_tx,
                                );
                                running.insert(run_id);
                            }
                            Claim::Busy { .. } | Claim::SlotTaken => {}
                        },
                        Ok(None) => {}
                        Err(e) => self.problem(Some(name), format!("trigger {}: {e}", trig.key())),
                    }
                }
            }
            // Sleep until the next slot, the next poll, a command, a finished run or shutdown.
            let now = now_ms();
            let mut wake = now + self.opts.poll.as_millis() as i64;
            if !retry_soon {
                for (name, schedule) in &loaded.schedules {
                    let after = last_slot.get(name).copied().unwrap_or(now).max(now);
                    if let Some(n) = schedule.next_after(after) {
                        wake = wake.min(n);
                    }
                }
            }
            let sleep = Duration::from_millis((wake - now).max(1) as u64);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                cmd = self.commands.recv() => {
                    if let Some(AgentCommand::RunNow(name)) = cmd {
                        match loaded.config.config.pipelines.get(&name) {
                            None => self.problem(Some(&name), format!("no pipeline `{name}` in the config")),
                            Some(def) => match store.claim(&name, def, &hash, &Firing::manual())? {
                                Claim::Started(run_id) => {
                                    summary.runs_started += 1;
                                    self.spawn_run(&env, &db, &name, &run_id, "manual", &done_tx);
                                    running.insert(run_id);
                                }
                                Claim::Busy { run_id, pid } => self.problem(
                                    Some(&name),
                                    format!("pipeline `{name}` is already running (run {run_id}, pid {pid})"),
                                ),
                                Claim::SlotTaken => {}
                            },
                        }
                    }
                }
                done = done_rx.recv() => {
                    if let Some((run_id, result)) = done {
                        running.remove(&run_id);
                        self.report(result);
                    }
                }
                _ = &mut shutdown => break,
            }
        }
        // Stop: kill running steps, leave their runs INTERRUPTED, wait for the threads.
        tracing::info!(running = running.len(), "agent stopping");
        cancel.store(true, Ordering::SeqCst);
        while !running.is_empty() {
            match done_rx.recv().await {
                Some((run_id, result)) => {
                    running.remove(&run_id);
                    self.report(result);
                }
                None => break,
            }
        }
        tracing::info!("agent stopped");
        Ok(summary)
    }

    fn problem(&self, pipeline: Option<&str>, message: String) {
        tracing::warn!(pipeline = pipeline.unwrap_or(""), "{message}");
        let _ = self.events.send(AgentEvent::Problem {
            pipeline: pipeline.map(str::to_string),
            message,
        });
    }

    fn report(&self, result: Result<RunOutcome>) {
        match result {
            Ok(o) => {
                let _ = self.events.send(AgentEvent::RunEnded(o));
            }
            Err(e) => self.problem(None, format!("a pipeline run could not be recorded: {e}")),
        }
    }

    fn spawn_run(
        &self,
        env: &RunnerEnv,
        db: &Path,
        pipeline: &str,
        run_id: &str,
        fired_by: &str,
        done: &mpsc::UnboundedSender<(String, Result<RunOutcome>)>,
    ) {
        tracing::info!(pipeline, run = run_id, fired_by, "pipeline run started");
        let _ = self.events.send(AgentEvent::RunStarted {
            pipeline: pipeline.to_string(),
            run_id: run_id.to_string(),
            fired_by: fired_by.to_string(),
        });
        let (env, db, run_id, done) = (
            env.clone(),
            db.to_path_buf(),
            run_id.to_string(),
            done.clone(),
        );
        // A thread per run: it starts and waits on the step processes, which die with it.
        let spawned = std::thread::Builder::new()
            .name(format!("pipeline-{pipeline}"))
            .spawn(move || {
                let result = super::runner::execute(&env, &db, &run_id);
                let _ = done.send((run_id, result));
            });
        if let Err(e) = spawned {
            self.problem(
                Some(pipeline),
                format!("could not start a runner thread: {e}"),
            );
        }
    }

    /// Whether `trig` has fired for `pipeline` since its cursor; the first look records the
    /// starting point and fires nothing.
    fn check_trigger(
        &self,
        store: &mut WorkflowStore,
        config: &LoadedConfig,
        pipeline: &str,
        trig: &TriggerConfig,
    ) -> Result<Option<Firing>> {
        let key = trig.key();
        match trig {
            TriggerConfig::Alert { kinds, endpoint } => {
                let Some(cursor) = store.cursor(pipeline, &key)? else {
                    let max = store.max_alert_id()?;
                    store.baseline(
                        pipeline,
                        &CursorUpdate {
                            key,
                            cursor: Some(max),
                            ..CursorUpdate::default()
                        },
                    )?;
                    return Ok(None);
                };
                let rows = store.alerts_after(cursor)?;
                let Some(last) = rows.last().map(|r| r.0) else {
                    return Ok(None);
                };
                let hits: Vec<String> = rows
                    .iter()
                    .filter(|(_, kind, ep, _)| {
                        (kinds.is_empty() || kinds.contains(kind))
                            && endpoint.as_ref().is_none_or(|e| e == ep)
                    })
                    .map(|(id, kind, ep, msg)| format!("alert {id} {kind} on {ep}: {msg}"))
                    .collect();
                let update = CursorUpdate {
                    key,
                    expected: Some(cursor),
                    cursor: Some(last),
                    files: Vec::new(),
                };
                if hits.is_empty() {
                    // Nothing for this pipeline: move past the rows without a run.
                    store.baseline_move(pipeline, &update)?;
                    return Ok(None);
                }
                Ok(Some(Firing {
                    fired_by: "alert".into(),
                    detail: Some(hits.join("; ")),
                    slot: None,
                    cursor: Some(update),
                }))
            }
            TriggerConfig::Production { model } => {
                let Some(cursor) = store.cursor(pipeline, &key)? else {
                    let max = store.max_audit_id()?;
                    store.baseline(
                        pipeline,
                        &CursorUpdate {
                            key,
                            cursor: Some(max),
                            ..CursorUpdate::default()
                        },
                    )?;
                    return Ok(None);
                };
                let rows = store.production_after(cursor)?;
                let Some(last) = rows.last().map(|r| r.0) else {
                    return Ok(None);
                };
                let hits: Vec<String> = rows
                    .iter()
                    .filter(|(_, name, _)| model.as_ref().is_none_or(|m| m == name))
                    .map(|(id, name, v)| {
                        format!(
                            "audit {id}: {name}/{} to Production",
                            v.map_or("?".into(), |v| v.to_string())
                        )
                    })
                    .collect();
                let update = CursorUpdate {
                    key,
                    expected: Some(cursor),
                    cursor: Some(last),
                    files: Vec::new(),
                };
                if hits.is_empty() {
                    store.baseline_move(pipeline, &update)?;
                    return Ok(None);
                }
                Ok(Some(Firing {
                    fired_by: "production".into(),
                    detail: Some(hits.join("; ")),
                    slot: None,
                    cursor: Some(update),
                }))
            }
            TriggerConfig::File { dir, suffix } => {
                let dir = config.dir().join(dir);
                let mut files = Vec::new();
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        let Ok(meta) = e.metadata() else { continue };
                        if !meta.is_file() {
                            continue;
                        }
                        let name = e.file_name().to_string_lossy().into_owned();
                        if name.starts_with('.')
                            || suffix.as_ref().is_some_and(|s| !name.ends_with(s.as_str()))
                        {
                            continue;
                        }
                        let mtime = meta
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_millis() as i64);
                        files.push((e.path().display().to_string(), meta.len() as i64, mtime));
                    }
                }
                files.sort();
                if store.cursor(pipeline, &key)?.is_none() {
                    store.baseline(
                        pipeline,
                        &CursorUpdate {
                            key,
                            cursor: Some(0),
                            expected: None,
                            files,
                        },
                    )?;
                    return Ok(None);
                }
                let seen = store.seen_files(pipeline, &key)?;
                // A file still being written (modified within the last second) waits.
                let settled = now_ms() - 1000;
                let new: Vec<(String, i64, i64)> = files
                    .into_iter()
                    .filter(|(p, size, m)| {
                        *m <= settled && seen.get(p).is_none_or(|(s, sm)| s != size || sm != m)
                    })
                    .collect();
                if new.is_empty() {
                    return Ok(None);
                }
                let names: Vec<String> = new.iter().map(|(p, _, _)| p.clone()).collect();
                Ok(Some(Firing {
                    fired_by: "file".into(),
                    detail: Some(names.join(", ")),
                    slot: None,
                    cursor: Some(CursorUpdate {
                        key,
                        expected: None,
                        cursor: None,
                        files: new,
                    }),
                }))
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::invalid(format!("a background task failed: {e}")))?
}
