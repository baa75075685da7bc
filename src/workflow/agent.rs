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
use crate::clock::now_ms;
use crate::config::{Config, LoadedConfig};
use crate::error::{Error, Result};

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
        // Opening the workspace migrates the store and reaps dead training runs; then the
        // pipeline runs whose runner died are marked INTERRUPTED.
        let (mut scheduler, interrupted, tracking) = {
            let p = config_path.clone();
            blocking(move || {
                let ws = crate::workspace::Workspace::open(&p)?;
                let tracking = ws
                    .tracking
                    .as_ref()
                    .map(|t| (t.uri.clone(), t.token.clone()));
                drop(ws);
                let mut s = Scheduler::new(&p)?;
                let reaped = s.store.reap()?;
                Ok((s, reaped, tracking))
            })
            .await?
        };
        let mut summary = AgentSummary {
            interrupted_found: interrupted.into_iter().map(|r| r.run_id).collect(),
            ..AgentSummary::default()
        };
        tracing::info!(
            pipelines = scheduler.loaded.config.config.pipelines.len(),
            scheduled = scheduler.loaded.schedules.len(),
            "agent started"
        );
        let db = scheduler.db.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let env = RunnerEnv {
            config_path: config_path.clone(),
            exe: self.opts.exe.clone(),
            cancel: cancel.clone(),
            tracking,
        };
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Result<RunOutcome>)>();
        let mut running: BTreeSet<String> = BTreeSet::new();
        tokio::pin!(shutdown);
        let poll = self.opts.poll;
        loop {
            // The store work runs on a blocking thread (SQLite may wait for another writer).
            let (s, tick) = tokio::task::spawn_blocking(move || {
                let t = scheduler.tick(poll);
                (scheduler, t)
            })
            .await
            .map_err(|e| Error::invalid(format!("the scheduler task failed: {e}")))?;
            scheduler = s;
            let wake_in = match tick {
                Ok(t) => {
                    for (pipeline, message) in t.problems {
                        self.problem(pipeline.as_deref(), message);
                    }
                    for (pipeline, run_id, fired_by) in t.started {
                        summary.runs_started += 1;
                        self.spawn_run(&env, &db, &pipeline, &run_id, &fired_by, &done_tx);
                        running.insert(run_id);
                    }
                    t.wake_in
                }
                Err(e) => {
                    self.problem(None, format!("the scheduler could not read the store: {e}"));
                    poll
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wake_in) => {}
                cmd = self.commands.recv() => {
                    if let Some(AgentCommand::RunNow(name)) = cmd {
                        let (s, r) = tokio::task::spawn_blocking(move || {
                            let r = scheduler.run_now(&name);
                            (scheduler, (name, r))
                        })
                        .await
                        .map_err(|e| Error::invalid(format!("the scheduler task failed: {e}")))?;
                        scheduler = s;
                        match r {
                            (name, Ok(Ok(run_id))) => {
                                summary.runs_started += 1;
                                self.spawn_run(&env, &db, &name, &run_id, "manual", &done_tx);
                                running.insert(run_id);
                            }
                            (name, Ok(Err(why))) => self.problem(Some(&name), why),
                            (name, Err(e)) => self.problem(Some(&name), e.to_string()),
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
}

/// The agent's state between wakes; all its work is blocking store access.
struct Scheduler {
    config_path: PathBuf,
    loaded: Loaded,
    db: PathBuf,
    store: WorkflowStore,
    started_at: i64,
    /// Latest slot claimed (here or elsewhere), per pipeline.
    last_slot: BTreeMap<String, i64>,
}

/// What one wake did.
struct Tick {
    /// (pipeline, run id, fired by) of the runs claimed, to be started.
    started: Vec<(String, String, String)>,
    problems: Vec<(Option<String>, String)>,
    wake_in: Duration,
}

impl Scheduler {
    fn new(config_path: &Path) -> Result<Scheduler> {
        let loaded = load(config_path)?;
        let db = loaded.config.store_path().join("cerebro.db");
        Ok(Scheduler {
            config_path: config_path.to_path_buf(),
            store: WorkflowStore::open(&db)?,
            db,
            loaded,
            started_at: now_ms(),
            last_slot: BTreeMap::new(),
        })
    }

    /// Reloads a changed config, claims due slots and fired triggers, and says how long to
    /// sleep: until the next slot, or the next poll.
    fn tick(&mut self, poll: Duration) -> Result<Tick> {
        let mut t = Tick {
            started: Vec::new(),
            problems: Vec::new(),
            wake_in: poll,
        };
        if mtime(&self.config_path) != self.loaded.mtime {
            match load(&self.config_path) {
                Ok(l) => {
                    tracing::info!("config changed: pipelines reloaded");
                    self.loaded = l;
                }
                Err(e) => {
                    self.loaded.mtime = mtime(&self.config_path);
                    t.problems.push((
                        None,
                        format!("config not reloaded (the old one stays): {e}"),
                    ));
                }
            }
        }
        let switches = self.store.schedule_switches()?;
        let now = now_ms();
        let mut retry_soon = false;
        let hash = self.loaded.config.hash.clone();
        for (name, schedule) in &self.loaded.schedules {
            let def = &self.loaded.config.config.pipelines[name];
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
            if due < self.started_at {
                continue;
            }
            let last = match self.last_slot.get(name) {
                Some(l) => *l,
                None => self.store.last_slot(name)?.unwrap_or(i64::MIN),
            };
            if due <= last {
                self.last_slot.insert(name.clone(), last);
                continue;
            }
            let firing = Firing {
                fired_by: "schedule".into(),
                detail: Some(format!("slot {}", crate::workflow::format_ms(due))),
                slot: Some(due),
                cursor: None,
            };
            match self.store.claim(name, def, &hash, &firing)? {
                Claim::Started(run_id) => {
                    self.last_slot.insert(name.clone(), due);
                    t.started.push((name.clone(), run_id, "schedule".into()));
                }
                Claim::SlotTaken => {
                    self.last_slot.insert(name.clone(), due);
                }
                // The previous run still holds the lock: try again at the next poll (a later
                // slot coming due first replaces this one).
                Claim::Busy { .. } => retry_soon = true,
            }
        }
        for (name, def) in &self.loaded.config.config.pipelines {
            for trig in &def.triggers {
                match Self::check_trigger(&mut self.store, &self.loaded.config, name, trig) {
                    Ok(Some(firing)) => match self.store.claim(name, def, &hash, &firing)? {
                        Claim::Started(run_id) => {
                            t.started
                                .push((name.clone(), run_id, firing.fired_by.clone()));
                        }
                        // Kept: the cursor did not move, so it fires again once the lock frees.
                        Claim::Busy { .. } | Claim::SlotTaken => {}
                    },
                    Ok(None) => {}
                    Err(e) => t
                        .problems
                        .push((Some(name.clone()), format!("trigger {}: {e}", trig.key()))),
                }
            }
        }
        if !retry_soon {
            for (name, schedule) in &self.loaded.schedules {
                let after = self.last_slot.get(name).copied().unwrap_or(now).max(now);
                if let Some(n) = schedule.next_after(after) {
                    t.wake_in = t
                        .wake_in
                        .min(Duration::from_millis((n - now).max(1) as u64));
                }
            }
        }
        Ok(t)
    }

    /// Claims a manual run of `name`: the run id, or why it cannot start.
    fn run_now(&mut self, name: &str) -> Result<std::result::Result<String, String>> {
        let Some(def) = self.loaded.config.config.pipelines.get(name) else {
            return Ok(Err(format!("no pipeline `{name}` in the config")));
        };
        Ok(
            match self
                .store
                .claim(name, def, &self.loaded.config.hash, &Firing::manual())?
            {
                Claim::Started(run_id) => Ok(run_id),
                Claim::Busy { run_id, pid } => Err(format!(
                    "pipeline `{name}` is already running (run {run_id}, pid {pid})"
                )),
                Claim::SlotTaken => {
                    Err(format!("pipeline `{name}`: the run was claimed elsewhere"))
                }
            },
        )
    }

    /// Whether `trig` has fired for `pipeline` since its cursor; the first look records the
    /// starting point and fires nothing.
    fn check_trigger(
        store: &mut WorkflowStore,
        config: &LoadedConfig,
        pipeline: &str,
        trig: &TriggerConfig,
    ) -> Result<Option<Firing>> {
        let key = trig.key();
        match trig {
            TriggerConfig::Alert { kinds, endpoint } => fire_on_new_rows(
                store,
                pipeline,
                key,
                "alert",
                WorkflowStore::max_alert_id,
                |store, cursor| {
                    let rows = store.alerts_after(cursor)?;
                    let hits = rows
                        .iter()
                        .filter(|(_, kind, ep, _)| {
                            (kinds.is_empty() || kinds.contains(kind))
                                && endpoint.as_ref().is_none_or(|e| e == ep)
                        })
                        .map(|(id, kind, ep, msg)| format!("alert {id} {kind} on {ep}: {msg}"))
                        .collect();
                    Ok((rows.last().map(|r| r.0), hits))
                },
            ),
            TriggerConfig::Production { model } => fire_on_new_rows(
                store,
                pipeline,
                key,
                "production",
                WorkflowStore::max_audit_id,
                |store, cursor| {
                    let rows = store.production_after(cursor)?;
                    let hits = rows
                        .iter()
                        .filter(|(_, name, _)| model.as_ref().is_none_or(|m| m == name))
                        .map(|(id, name, v)| {
                            format!(
                                "audit {id}: {name}/{} to Production",
                                v.map_or("?".into(), |v| v.to_string())
                            )
                        })
                        .collect();
                    Ok((rows.last().map(|r| r.0), hits))
                },
            ),
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

/// A trigger over an append-only id sequence (alert rows, registry audit records). The first
/// look records where the sequence is and fires nothing; later looks take the rows after the
/// cursor (`rows_after` gives the last id seen and descriptions of the rows that match) and fire
/// on the matching ones, moving the cursor past every row seen either way.
fn fire_on_new_rows(
    store: &mut WorkflowStore,
    pipeline: &str,
    key: String,
    fired_by: &str,
    max_id: impl FnOnce(&WorkflowStore) -> Result<i64>,
    rows_after: impl FnOnce(&WorkflowStore, i64) -> Result<(Option<i64>, Vec<String>)>,
) -> Result<Option<Firing>> {
    let Some(cursor) = store.cursor(pipeline, &key)? else {
        let max = max_id(store)?;
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
    let (last, hits) = rows_after(store, cursor)?;
    let Some(last) = last else {
        return Ok(None);
    };
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
        fired_by: fired_by.into(),
        detail: Some(hits.join("; ")),
        slot: None,
        cursor: Some(update),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API the TUI uses: run now through the handle, events back, the DAG with step states.
    #[test]
    fn run_now_through_the_handle_reports_the_run_and_the_dag_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[dataset]\npath = \"d.csv\"\ntarget = \"y\"\npositive = \"1\"\nnumeric = [\"x\"]\n\
             [pipelines.p]\n\
             [[pipelines.p.steps]]\nname = \"a\"\nkind = \"command\"\nprogram = \"true\"\n\
             [[pipelines.p.steps]]\nname = \"b\"\nkind = \"command\"\nprogram = \"false\"\n\
             after = [\"a\"]\n\
             [[pipelines.p.steps]]\nname = \"c\"\nkind = \"command\"\nprogram = \"true\"\n\
             after = [\"b\"]\n",
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let (agent, handle, mut events) = Agent::new(AgentOptions {
                config_path: config.clone(),
                exe: PathBuf::from("/nonexistent/cerebro"),
                poll: Duration::from_millis(50),
            });
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(agent.run(async {
                let _ = stop_rx.await;
            }));
            assert!(handle.run_now("p"));
            assert!(handle.run_now("nope"));
            let mut started = None;
            let mut problem = None;
            let outcome = loop {
                match tokio::time::timeout(Duration::from_secs(60), events.recv())
                    .await
                    .expect("an event within a minute")
                    .expect("the agent runs")
                {
                    AgentEvent::RunStarted {
                        run_id, fired_by, ..
                    } => {
                        assert_eq!(fired_by, "manual");
                        started = Some(run_id);
                    }
                    AgentEvent::Problem { message, .. } => problem = Some(message),
                    AgentEvent::RunEnded(o) => break o,
                }
            };
            let _ = stop_tx.send(());
            task.await.unwrap().unwrap();
            assert_eq!(started.as_deref(), Some(outcome.run_id.as_str()));
            if problem.is_none() {
                // The unknown pipeline's refusal may come after the run ended.
                problem = loop {
                    match events.recv().await {
                        Some(AgentEvent::Problem { message, .. }) => break Some(message),
                        Some(_) => continue,
                        None => break None,
                    }
                };
            }
            assert_eq!(problem.as_deref(), Some("no pipeline `nope` in the config"));
            outcome
        });
        assert_eq!(outcome.status, "FAILED");
        let states: Vec<(&str, &str)> = outcome
            .steps
            .iter()
            .map(|s| (s.step.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(
            states,
            [("a", "SUCCEEDED"), ("b", "FAILED"), ("c", "SKIPPED")]
        );
        let ws = crate::workspace::Workspace::open(&config).unwrap();
        let views = crate::workflow::pipelines(&ws).unwrap();
        assert_eq!(views.len(), 1);
        let steps: Vec<(String, Option<String>)> = views[0]
            .steps
            .iter()
            .map(|s| (s.name.clone(), s.status.clone()))
            .collect();
        assert_eq!(
            steps,
            [
                ("a".to_string(), Some("SUCCEEDED".to_string())),
                ("b".to_string(), Some("FAILED".to_string())),
                ("c".to_string(), Some("SKIPPED".to_string()))
            ]
        );
        assert_eq!(views[0].steps[2].after, ["b"]);
        assert_eq!(
            views[0].last_run.as_ref().map(|r| r.status.as_str()),
            Some("FAILED")
        );
    }
}
