//! Effects are what `update` asks for (read the store, start a job, change the registry); the
//! [`Runtime`] carries them out off the UI task and sends the outcome back as an [`Action`].
//! Store reads, data profiling, gate evaluation and registry writes run on tokio's blocking
//! pool; training runs through `cerebro::jobs::JobRunner`, whose events the event loop receives
//! on their own channel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cerebro::jobs::sweep::Sweep;
use cerebro::jobs::{JobHandle, JobId, JobRunner};
use cerebro::registry::Stage;
use cerebro::registry::ops::{self, PromoteError};
use cerebro::serve::status::StatusTable;
use cerebro::serve::{self, EndpointOptions};
use cerebro::store::{RunFilter, RunSummary, SqliteStore};
use cerebro::track::plan::{self, TrainRequest};
use cerebro::workflow::{self, Agent, AgentEvent, AgentHandle, AgentOptions};
use cerebro::workspace::Workspace;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::action::Action;
use super::tabs::data::{PREVIEW_ROWS, Preview};
use super::tabs::endpoints::LOCAL_ENDPOINT;
use super::tabs::experiments::{FIRST_PAGE, RECENT_RUNS, STEP_METRICS};
use cerebro::monitor::service::Monitor;
use cerebro::monitor::watch::{self, Folder, WatchEvent, WatchOptions, Watcher};
use cerebro::store::short_id;

#[derive(Debug, Clone)]
pub enum Effect {
    /// Every run (start-up and `:refresh`).
    LoadRuns,
    /// Which tracking backend the workspace uses, for the header.
    LoadBackend,
    /// The per-step metric series of these runs (the comparison's chart).
    LoadSeries(Vec<String>),
    /// The newest runs only (live status while jobs run, after a job event).
    LoadRecentRuns,
    /// The first page of the newest runs, at start-up: merged like [`Effect::LoadRecentRuns`].
    LoadFirstPage,
    LoadRun(String),
    /// The webhook deliveries' summary (`[[notifications]]`), for the Registry tab.
    LoadWebhooks,
    /// The charts of a run whose record is loaded (metric histories and two artifacts).
    LoadRunCharts(Box<cerebro::store::RunDetail>),
    /// The param importance of these runs for `metric` (`cerebro::track::importance`), for the
    /// parallel-coordinates view `generation`.
    Importance {
        generation: u64,
        runs: Vec<RunSummary>,
        metric: String,
    },
    LoadModels,
    LoadModel(String),
    LoadProfile {
        prepared: bool,
    },
    LoadDataVersions,
    /// The first rows of the raw file or the prepared train set, as text.
    LoadPreview {
        prepared: bool,
    },
    EvaluateGate {
        name: String,
        version: i64,
    },
    Promote {
        name: String,
        version: i64,
        to: Stage,
        force: bool,
        reason: Option<String>,
    },
    Rollback {
        name: String,
    },
    Archive {
        name: String,
        version: i64,
    },
    /// Score the file `input` of raw records with `model` (a model URI) into `output`, both
    /// relative to the workspace folder, with probabilities (`cerebro::batch`, as `cerebro
    /// predict`).
    Predict {
        model: String,
        input: String,
        output: String,
    },
    Train(TrainRequest),
    /// A tune (`cerebro::tune`): its trials run on the shared job runner as jobs (cancelling
    /// one stops the search), the parent run is closed at the end with the best trial.
    Tune(Box<cerebro::tune::TuneRequest>),
    Reproduce(String),
    /// Compare a reproduction's metrics with the original's.
    CheckReproduction {
        original: String,
        new_run: String,
    },
    CancelJob(JobId),
    /// Read the endpoint status table.
    LoadEndpoints,
    /// (Re)start the local endpoint: stop the running one, if any, then serve `model` on
    /// 127.0.0.1 and a free port with this challenger share.
    StartEndpoint {
        generation: u64,
        model: String,
        share: f64,
    },
    StopEndpoint,
    /// Write the demo data if needed, prepare it and queue the demo's training jobs.
    Demo,
    /// Register the best of these runs as the workspace's model and promote it.
    DemoRegister(Vec<String>),
    /// The demo's traffic: `cerebro::simulate` against this endpoint with a drift scenario,
    /// labels written to the monitoring labels folder; stopped on quit.
    Simulate {
        endpoint: String,
    },
    /// Refresh the monitor (`ingest`: one ingestion pass and the alert rules first; otherwise a
    /// read) and read what the Monitoring tab shows for this window length and endpoint. The
    /// first one opens the monitor and starts watching its folders.
    MonitorRefresh {
        ingest: bool,
        granularity: Option<i64>,
        endpoint: Option<String>,
    },
    /// The pipelines with their DAG and latest run.
    LoadPipelines,
    /// Ask the UI's pipeline agent to run this pipeline now.
    RunPipeline(String),
    /// Turn a pipeline's schedule on or off in the store (the agents pick it up at their poll).
    SetSchedule {
        pipeline: String,
        enabled: bool,
    },
}

/// The pipeline agent this runtime hosts while the UI is open: how to reach it, stop it and
/// wait for it.
struct AgentHost {
    handle: AgentHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The workspace's monitor, opened once (its baselines are cached inside), and the watcher of
/// its folders, kept alive as long as the runtime.
struct MonitorHost {
    monitor: Monitor,
    _watcher: Option<Watcher>,
}

/// The endpoint this runtime hosts: how to stop it and the task that serves it.
struct LocalServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Carries out effects. Cheap to share; every method returns at once.
pub struct Runtime {
    config: PathBuf,
    tx: UnboundedSender<Action>,
    runner: Arc<JobRunner>,
    handles: Arc<Mutex<HashMap<JobId, JobHandle>>>,
    max_parallel: usize,
    local: Arc<Mutex<Option<LocalServer>>>,
    /// The store database, once known (endpoint status is read every tick).
    status_db: Arc<std::sync::OnceLock<PathBuf>>,
    monitor: Arc<Mutex<Option<MonitorHost>>>,
    /// Set to stop the demo's simulator.
    simulator: Arc<std::sync::atomic::AtomicBool>,
    /// Where the watcher of the monitored folders sends its events (the event loop).
    watch_tx: UnboundedSender<WatchEvent>,
    agent: Arc<Mutex<Option<AgentHost>>>,
}

/// The charts of a run ([`cerebro::track::view::run_charts`]).
fn load_run_charts(config: &Path, detail: &cerebro::store::RunDetail) -> Action {
    let id = detail.summary.run_id.clone();
    match with_workspace(config, |ws| {
        cerebro::track::view::run_charts(ws.store.as_ref(), detail)
    }) {
        Ok(charts) => Action::RunChartsLoaded(Box::new(charts)),
        Err(e) => failed(format!("loading the charts of run {}: {e}", short_id(&id))),
    }
}

fn open(config: &Path) -> Result<Workspace, String> {
    Workspace::open(config).map_err(|e| e.to_string())
}

/// Opens the workspace and runs `work` on it; either error as text, for an action.
fn with_workspace<T>(
    config: &Path,
    work: impl FnOnce(&mut Workspace) -> cerebro::Result<T>,
) -> Result<T, String> {
    work(&mut open(config)?).map_err(|e| e.to_string())
}

/// The raw dataset, or the prepared training table, of the workspace's config.
fn data_frame(config: &Path, prepared: bool) -> cerebro::Result<polars::prelude::DataFrame> {
    let cfg = cerebro::config::Config::load(config)?;
    Ok(if prepared {
        cerebro::data::prepare(&cfg)?.prepared_train()?
    } else {
        cerebro::data::load_raw(&cfg)?.df
    })
}

/// Opens the workspace's monitor and starts watching its inference-log and labels folders; a
/// watcher that cannot start is reported in the tab (ingestion then runs on `ctrl-r`): the
/// second value says why.
fn open_monitor(
    config: &Path,
    watch_tx: UnboundedSender<WatchEvent>,
) -> Result<(MonitorHost, Option<String>), String> {
    let ws = open(config)?;
    let monitor = Monitor::open(&ws).map_err(|e| format!("opening the monitor: {e}"))?;
    let folders = [
        (Folder::Logs, monitor.log_dir().to_path_buf()),
        (Folder::Labels, monitor.labels_dir().to_path_buf()),
    ];
    let options = WatchOptions {
        poll_interval: std::time::Duration::from_millis(monitor.config().poll_ms.max(50)),
        ..WatchOptions::default()
    };
    let (watcher, watch_note) = match watch::watch(&folders, options, watch_tx) {
        Ok(w) => (Some(w), None),
        Err(e) => {
            tracing::warn!(error = %e, "not watching the monitored folders");
            (
                None,
                Some(format!("not watching the folders ({e}); ctrl-r reads them")),
            )
        }
    };
    Ok((
        MonitorHost {
            monitor,
            _watcher: watcher,
        },
        watch_note,
    ))
}

/// The first [`PREVIEW_ROWS`] rows of `df`, every value as text (missing values empty).
fn preview(df: &polars::prelude::DataFrame) -> cerebro::Result<Preview> {
    use polars::prelude::DataType;
    let head = df.head(Some(PREVIEW_ROWS));
    let mut columns = Vec::new();
    let mut cells: Vec<Vec<String>> = Vec::new();
    for col in head.columns() {
        columns.push(col.name().to_string());
        let text = col.cast(&DataType::String)?;
        cells.push(
            text.str()?
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect(),
        );
    }
    let rows = (0..head.height())
        .map(|i| cells.iter().map(|c| c[i].clone()).collect())
        .collect();
    Ok(Preview {
        columns,
        rows,
        total: df.height(),
    })
}

/// Sends the demo's traffic to `endpoint`: records from the test set, the first numeric feature
/// scaled (drift for the Monitoring tab), labels after five seconds.
fn simulate_demo(
    config: &Path,
    endpoint: String,
    cancel: &std::sync::atomic::AtomicBool,
) -> cerebro::Result<cerebro::simulate::SimReport> {
    use cerebro::simulate::{self, Scenario, SimData, SimOptions};
    let loaded = cerebro::config::Config::load(config)?;
    let data = SimData::from_config(&loaded)?;
    // The first numeric feature that is also a raw column of the records.
    let numeric = data.columns.iter().find(|c| {
        c.ty == cerebro::data::RawType::Double && loaded.config.dataset.numeric.contains(&c.name)
    });
    let scenario = match numeric {
        Some(c) => Scenario::Scale {
            feature: c.name.clone(),
            factor: super::demo::TRAFFIC_SCALE,
        },
        None => Scenario::None,
    };
    let options = SimOptions {
        endpoint,
        rate: super::demo::TRAFFIC_RATE,
        duration: std::time::Duration::from_secs(super::demo::TRAFFIC_SECONDS),
        scenario,
        labels_dir: Some(loaded.dir().join(&loaded.config.monitoring.labels_dir)),
        labels_after: std::time::Duration::from_secs(5),
        seed: 42,
        concurrency: 2,
        token: None,
    };
    simulate::run(&options, &data, &mut |_| {}, cancel)
}

fn failed(message: impl Into<String>) -> Action {
    Action::Done {
        message: message.into(),
        error: true,
    }
}

impl Runtime {
    pub fn new(
        config: PathBuf,
        tx: UnboundedSender<Action>,
        runner: JobRunner,
        max_parallel: usize,
        watch_tx: UnboundedSender<WatchEvent>,
    ) -> Runtime {
        Runtime {
            config,
            tx,
            runner: Arc::new(runner),
            handles: Arc::new(Mutex::new(HashMap::new())),
            max_parallel,
            local: Arc::new(Mutex::new(None)),
            status_db: Arc::new(std::sync::OnceLock::new()),
            monitor: Arc::new(Mutex::new(None)),
            simulator: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            watch_tx,
            agent: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `work` on the blocking pool and sends its action back.
    fn blocking(&self, work: impl FnOnce(&Path) -> Action + Send + 'static) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(work(&config));
        });
    }

    pub fn run(&self, effect: Effect) {
        tracing::debug!(?effect, "effect");
        match effect {
            Effect::LoadRuns => self.blocking(|c| {
                match with_workspace(c, |ws| ws.store.list_runs(&RunFilter::default())) {
                    Ok(runs) => Action::RunsLoaded(runs),
                    Err(e) => Action::RunsFailed(format!("loading runs: {e}")),
                }
            }),
            Effect::LoadSeries(runs) => self.blocking(move |c| {
                let loaded = with_workspace(c, |ws| {
                    let mut series = Vec::new();
                    for key in STEP_METRICS {
                        let mut per_run = Vec::new();
                        for run in &runs {
                            let points = ws.store.metric_history(run, key)?;
                            if !points.is_empty() {
                                let xy = points.iter().map(|p| (p.step as f64, p.value)).collect();
                                per_run.push((run.clone(), xy));
                            }
                        }
                        if !per_run.is_empty() {
                            series.push((key.to_string(), per_run));
                        }
                    }
                    Ok(series)
                });
                match loaded {
                    Ok(series) => Action::SeriesLoaded { runs, series },
                    Err(e) => failed(format!("loading metric series: {e}")),
                }
            }),
            Effect::Importance {
                generation,
                runs,
                metric,
            } => self.blocking(move |_| Action::ImportanceLoaded {
                generation,
                result: cerebro::track::importance::param_importance(&runs, &metric)
                    .map(Box::new)
                    .map_err(|e| e.to_string()),
            }),
            Effect::LoadBackend => self.blocking(|c| match open(c) {
                Ok(ws) => Action::BackendLoaded(ws.backend_label()),
                Err(e) => failed(format!("opening the workspace: {e}")),
            }),
            Effect::LoadRecentRuns | Effect::LoadFirstPage => {
                let filter = RunFilter {
                    limit: Some(match effect {
                        Effect::LoadFirstPage => FIRST_PAGE,
                        _ => RECENT_RUNS,
                    }),
                    ..RunFilter::default()
                };
                self.blocking(
                    move |c| match with_workspace(c, |ws| ws.store.list_runs(&filter)) {
                        Ok(runs) => Action::RecentRunsLoaded(runs),
                        Err(e) => Action::RunsFailed(format!("loading runs: {e}")),
                    },
                )
            }
            Effect::LoadRun(id) => {
                self.blocking(
                    move |c| match with_workspace(c, |ws| ws.store.get_run(&id)) {
                        Ok(d) => Action::RunLoaded(Box::new(d)),
                        Err(e) => failed(format!("loading run {}: {e}", short_id(&id))),
                    },
                )
            }
            Effect::LoadRunCharts(detail) => self.blocking(move |c| load_run_charts(c, &detail)),
            Effect::LoadModels => {
                self.blocking(|c| match with_workspace(c, |ws| ws.store.list_models()) {
                    Ok(m) => Action::ModelsLoaded(m),
                    Err(e) => failed(format!("loading the registry: {e}")),
                })
            }
            Effect::LoadWebhooks => self.blocking(|c| {
                let summary = cerebro::config::Config::load(c).and_then(|cfg| {
                    if cfg.config.notifications.is_empty() {
                        return Ok(None);
                    }
                    cerebro::workspace::notifier(&cfg)?.summary().map(Some)
                });
                match summary {
                    Ok(s) => Action::WebhooksLoaded(s),
                    Err(e) => failed(format!("reading the webhook deliveries: {e}")),
                }
            }),
            Effect::LoadModel(name) => self.blocking(move |c| {
                let loaded = with_workspace(c, |ws| {
                    Ok((ws.store.list_versions(&name)?, ws.store.history(&name)?))
                });
                match loaded {
                    Ok((versions, history)) => Action::ModelLoaded {
                        name,
                        versions,
                        history,
                    },
                    Err(e) => failed(format!("loading model {name}: {e}")),
                }
            }),
            Effect::LoadProfile { prepared } => self.blocking(move |c| {
                let result =
                    data_frame(c, prepared).and_then(|df| cerebro::data::profile::profile(&df));
                Action::ProfileLoaded {
                    prepared,
                    result: result.map_err(|e| e.to_string()),
                }
            }),
            Effect::LoadPreview { prepared } => self.blocking(move |c| {
                let result = data_frame(c, prepared).and_then(|df| preview(&df));
                Action::PreviewLoaded {
                    prepared,
                    result: result.map_err(|e| e.to_string()),
                }
            }),
            Effect::LoadDataVersions => {
                self.blocking(
                    |c| match with_workspace(c, |ws| ws.store.list_data_versions()) {
                        Ok(v) => Action::DataVersionsLoaded(v),
                        Err(e) => failed(format!("loading data versions: {e}")),
                    },
                )
            }
            Effect::EvaluateGate { name, version } => self.blocking(move |c| {
                let result = with_workspace(c, |ws| ops::evaluate_gate(ws, &name, version));
                Action::GateEvaluated {
                    name,
                    version,
                    result: result.map(Box::new),
                }
            }),
            Effect::Promote {
                name,
                version,
                to,
                force,
                reason,
            } => self.blocking(move |c| {
                let result = open(c).and_then(|mut ws| {
                    match ops::promote(&mut ws, &name, version, to, force, reason.as_deref()) {
                        Ok(p) => Ok(format!(
                            "{name}/{version} is now {to}{}",
                            if p.forced { " (gate overridden)" } else { "" }
                        )),
                        Err(PromoteError::GateFailed(g)) => Err(format!(
                            "the gate refused {name}/{version}: {}",
                            g.reasons.join("; ")
                        )),
                        Err(PromoteError::Other(e)) => Err(e.to_string()),
                    }
                });
                Action::RegistryChanged(result)
            }),
            Effect::Rollback { name } => self.blocking(move |c| {
                Action::RegistryChanged(with_workspace(c, |ws| {
                    ops::rollback(ws, &name, None).map(|r| {
                        format!(
                            "{name}: version {} is Production again",
                            r.version.unwrap_or_default()
                        )
                    })
                }))
            }),
            Effect::Archive { name, version } => self.blocking(move |c| {
                Action::RegistryChanged(with_workspace(c, |ws| {
                    ops::archive(ws, &name, version, None)
                        .map(|_| format!("{name}/{version} archived"))
                }))
            }),
            Effect::Predict {
                model,
                input,
                output,
            } => self.blocking(move |c| {
                let result = with_workspace(c, |ws| {
                    use cerebro::batch::{self, BatchOptions, OnError};
                    let (m, name) = batch::load_model(ws, &model.parse()?)?;
                    let dir = ws.config.dir();
                    let opts = BatchOptions {
                        input: dir.join(&input),
                        output: dir.join(&output),
                        probabilities: true,
                        explain: false,
                        on_error: OnError::Fail,
                        chunk_rows: batch::CHUNK_ROWS,
                    };
                    let cancel = std::sync::atomic::AtomicBool::new(false);
                    batch::score_file(&m, &name, &opts, &mut |_| {}, &cancel)
                });
                match result {
                    Ok(r) => Action::Done {
                        message: format!(
                            "scored {} record(s) of {input} with {} into {output} ({} positive, {:.0} records/s)",
                            r.scored, r.model, r.positives, r.records_per_second
                        ),
                        error: false,
                    },
                    Err(e) => Action::Done {
                        message: format!("scoring {input} with {model}: {e}"),
                        error: true,
                    },
                }
            }),
            Effect::Train(req) => self.train(req),
            Effect::Tune(req) => self.tune(*req),
            Effect::Reproduce(run) => self.reproduce(run),
            Effect::CheckReproduction { original, new_run } => self.blocking(move |c| {
                let result = with_workspace(c, |ws| {
                    let a = ws.store.get_run(&original)?;
                    let b = ws.store.get_run(&new_run)?;
                    Ok(cerebro::track::compare_metrics(
                        &a.summary.metrics,
                        &b.summary.metrics,
                    ))
                });
                match result {
                    Ok(m) => {
                        let differ: Vec<&str> = m
                            .iter()
                            .filter(|m| !m.exact)
                            .map(|m| m.key.as_str())
                            .collect();
                        Action::Done {
                            message: if differ.is_empty() {
                                format!(
                                    "reproduction of {} as {}: every metric matches exactly",
                                    short_id(&original),
                                    short_id(&new_run)
                                )
                            } else {
                                format!(
                                    "reproduction of {} as {}: MISMATCH in {}",
                                    short_id(&original),
                                    short_id(&new_run),
                                    differ.join(", ")
                                )
                            },
                            error: !differ.is_empty(),
                        }
                    }
                    Err(e) => failed(format!("checking the reproduction: {e}")),
                }
            }),
            Effect::LoadEndpoints => {
                let db = self.status_db.clone();
                self.blocking(move |c| {
                    // Read every tick: the config once, then only the local database (the
                    // tracking backend is not opened: a tracking server that is down must not
                    // hide the endpoints). The first read opens the local store, which creates
                    // or migrates it: on a fresh clone, or a store of an older schema, the
                    // `endpoints` table may not exist yet, and this can run before any other
                    // effect opened the workspace.
                    let path = match db.get() {
                        Some(p) => Ok(p.clone()),
                        None => cerebro::config::Config::load(c)
                            .map_err(|e| e.to_string())
                            .and_then(|cfg| {
                                let store = SqliteStore::open(&cfg.store_path())
                                    .map_err(|e| format!("opening the store: {e}"))?;
                                Ok(db.get_or_init(|| store.db_path().to_path_buf()).clone())
                            }),
                    };
                    let listed = path.and_then(|p| {
                        StatusTable::open(&p)
                            .and_then(|t| t.list())
                            .map_err(|e| e.to_string())
                    });
                    match listed {
                        Ok(list) => Action::EndpointsLoaded(list),
                        Err(e) => failed(format!("reading endpoint status: {e}")),
                    }
                })
            }
            Effect::StartEndpoint {
                generation,
                model,
                share,
            } => self.start_endpoint(generation, model, share),
            Effect::StopEndpoint => {
                if let Some(server) = self.local.lock().expect("not poisoned").take() {
                    let _ = server.stop.send(());
                }
            }
            Effect::MonitorRefresh {
                ingest,
                granularity,
                endpoint,
            } => {
                let host = self.monitor.clone();
                let watch_tx = self.watch_tx.clone();
                let tx = self.tx.clone();
                self.blocking(move |c| {
                    let mut guard = host.lock().expect("not poisoned");
                    if guard.is_none() {
                        match open_monitor(c, watch_tx) {
                            Ok((h, note)) => {
                                let _ = tx.send(Action::MonitorWatching(note));
                                *guard = Some(h);
                            }
                            Err(e) => return Action::MonitorLoaded(Err(e)),
                        }
                    }
                    let Some(h) = guard.as_mut() else {
                        return Action::MonitorLoaded(Err("the monitor is not open".into()));
                    };
                    Action::MonitorLoaded(
                        h.monitor
                            .overview(ingest, granularity, endpoint.as_deref())
                            .map(Box::new)
                            .map_err(|e| e.to_string()),
                    )
                })
            }
            Effect::Simulate { endpoint } => {
                let cancel = self.simulator.clone();
                self.blocking(move |c| match simulate_demo(c, endpoint, &cancel) {
                    Ok(r) => Action::Done {
                        message: format!(
                            "demo traffic done: {} requests sent ({} errors), {} labels written",
                            r.sent, r.errors, r.labels_written
                        ),
                        error: false,
                    },
                    Err(e) => failed(format!("demo traffic: {e}")),
                })
            }
            Effect::Demo => self.demo(),
            Effect::DemoRegister(runs) => self.blocking(move |c| {
                Action::DemoRegistered(with_workspace(c, |ws| {
                    cerebro::demo::register_best(ws, &runs).map(|v| (v.name, v.version))
                }))
            }),
            Effect::CancelJob(id) => {
                if let Some(h) = self.handles.lock().expect("not poisoned").get(&id) {
                    h.cancel();
                }
            }
            Effect::LoadPipelines => self.blocking(|c| {
                Action::PipelinesLoaded(with_workspace(c, |ws| workflow::pipelines(ws)))
            }),
            Effect::RunPipeline(name) => {
                let sent = self
                    .agent
                    .lock()
                    .expect("not poisoned")
                    .as_ref()
                    .is_some_and(|a| a.handle.run_now(&name));
                if !sent {
                    let _ = self.tx.send(failed(format!(
                        "cannot run pipeline {name}: the pipeline agent is not running"
                    )));
                }
            }
            Effect::SetSchedule { pipeline, enabled } => self.blocking(move |c| {
                Action::PipelineChanged(with_workspace(c, |ws| {
                    workflow::set_schedule_enabled(ws, &pipeline, enabled).map(|()| {
                        format!(
                            "pipeline {pipeline}: schedule {}",
                            if enabled { "on" } else { "off" }
                        )
                    })
                }))
            }),
        }
    }

    /// Starts the workspace's pipeline agent (schedules, triggers, run now) on this runtime
    /// until [`Runtime::stop_agent`]; its events come back on the returned channel.
    pub fn start_agent(&self, opts: AgentOptions) -> UnboundedReceiver<AgentEvent> {
        let (agent, handle, events) = Agent::new(opts);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let result = agent
                .run(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "the pipeline agent stopped");
                let _ = tx.send(failed(format!("the pipeline agent stopped: {e}")));
            }
        });
        *self.agent.lock().expect("not poisoned") = Some(AgentHost { handle, stop, task });
        events
    }

    /// Stops the pipeline agent, if any, and waits for it: running steps are killed and their
    /// runs left INTERRUPTED, resumable with `cerebro pipeline resume` (on quit).
    pub async fn stop_agent(&self) {
        let host = self.agent.lock().expect("not poisoned").take();
        if let Some(host) = host {
            let _ = host.stop.send(());
            let _ = host.task.await;
        }
    }

    /// Prepares the data on the blocking pool, then queues one job per sweep combination.
    fn train(&self, req: TrainRequest) {
        let max_parallel = self.max_parallel;
        self.submit(
            move |ws| {
                let specs = plan::specs(&ws.config, &req)?;
                let sweep = Sweep::prepare(ws, specs, max_parallel)?;
                Ok((sweep, None))
            },
            |queued| {
                Some(match queued {
                    Ok(jobs) => Action::Done {
                        message: format!(
                            "queued {} training job{}",
                            jobs.len(),
                            if jobs.len() == 1 { "" } else { "s" }
                        ),
                        error: false,
                    },
                    Err(e) => failed(format!("train: {e}")),
                })
            },
        );
    }

    /// Prepares a tune on the blocking pool (data, parent run), drives its trials on the shared
    /// runner (each reported as [`Action::JobSubmitted`] and kept for cancelling: a cancelled
    /// trial stops the search), then closes the parent run and reports the best trial.
    fn tune(&self, mut req: cerebro::tune::TuneRequest) {
        if req.max_parallel == 0 {
            req.max_parallel = self.max_parallel;
        }
        let config = self.config.clone();
        let tx = self.tx.clone();
        let runner = self.runner.clone();
        let handles = self.handles.clone();
        tokio::spawn(async move {
            let prepared = tokio::task::spawn_blocking(move || {
                with_workspace(&config, |ws| cerebro::tune::Tune::prepare(ws, req))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let tune = match prepared {
                Ok(t) => t,
                Err(e) => {
                    let _ = tx.send(failed(format!("tune: {e}")));
                    return;
                }
            };
            let _ = tx.send(Action::Done {
                message: format!(
                    "tuning: parent run {}, {} trial(s) at once (x on a trial stops the search)",
                    short_id(&tune.parent_run),
                    tune.parallel
                ),
                error: false,
            });
            let mut source = tune.source();
            let outcomes = cerebro::jobs::sweep::drive(
                &runner,
                tune.context.clone(),
                tune.parallel,
                &mut source,
                |handle| {
                    handles
                        .lock()
                        .expect("not poisoned")
                        .insert(handle.id, handle.clone());
                    let _ = tx.send(Action::JobSubmitted {
                        job: handle.id,
                        reproduces: None,
                    });
                },
                std::future::pending::<()>(),
            )
            .await;
            let finished = tokio::task::spawn_blocking(move || tune.finish(&outcomes, false))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let _ = tx.send(match finished {
                Ok(r) => match &r.best {
                    Some(b) => Action::Done {
                        message: format!(
                            "tune {} done: best {} {} in trial {} of {} (run {})",
                            short_id(&r.parent_run),
                            r.metric,
                            b.value.map_or("-".into(), |v| format!("{v:.4}")),
                            b.number,
                            r.trials.len(),
                            b.run_id.as_deref().map_or("-", short_id)
                        ),
                        error: false,
                    },
                    None => failed(format!(
                        "tune {}: no trial completed",
                        short_id(&r.parent_run)
                    )),
                },
                Err(e) => failed(format!("tune: {e}")),
            });
        });
    }

    /// Queues the demo's jobs (see `cerebro::demo`) and reports their ids.
    fn demo(&self) {
        let max_parallel = self.max_parallel;
        self.submit(
            move |ws| {
                cerebro::demo::ensure_data(ws)?;
                let specs = cerebro::demo::specs(&ws.config, &cerebro::demo::requests())?;
                let sweep = Sweep::prepare(ws, specs, max_parallel)?;
                Ok((sweep, None))
            },
            |queued| Some(Action::DemoQueued(queued)),
        );
    }

    /// Retrains `run` from its recorded data version, params and seed as one job.
    fn reproduce(&self, run: String) {
        self.submit(
            move |ws| {
                let detail = ws.store.get_run(&run)?;
                let (spec, ctx) = plan::reproduction(ws, &detail)?;
                Ok((Sweep::single(spec, ctx), Some(detail.summary.run_id)))
            },
            |queued| queued.err().map(|e| failed(format!("reproduce: {e}"))),
        );
    }

    /// The one way the UI starts training: `prepare` builds the sweep on the blocking pool (and
    /// names the run it reproduces, if any), its jobs are queued on the shared runner, each
    /// reported as [`Action::JobSubmitted`] and kept for cancelling; then `report` turns the
    /// queued job ids (or the error) into the action to send, if any.
    fn submit(
        &self,
        prepare: impl FnOnce(&mut Workspace) -> cerebro::Result<(Sweep, Option<String>)>
        + Send
        + 'static,
        report: impl FnOnce(Result<Vec<JobId>, String>) -> Option<Action> + Send + 'static,
    ) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        let runner = self.runner.clone();
        let handles = self.handles.clone();
        tokio::spawn(async move {
            let prepared = tokio::task::spawn_blocking(move || with_workspace(&config, prepare))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            let queued = prepared.map(|(sweep, reproduces)| {
                sweep
                    .spawn(&runner)
                    .into_iter()
                    .map(|handle| {
                        let job = handle.id;
                        handles.lock().expect("not poisoned").insert(job, handle);
                        let _ = tx.send(Action::JobSubmitted {
                            job,
                            reproduces: reproduces.clone(),
                        });
                        job
                    })
                    .collect()
            });
            if let Some(action) = report(queued) {
                let _ = tx.send(action);
            }
        });
    }

    /// Serves `model` in this process until [`Effect::StopEndpoint`], a restart or quit. The
    /// previous local endpoint, if any, is stopped and drained first.
    fn start_endpoint(&self, generation: u64, model: String, share: f64) {
        let previous = self.local.lock().expect("not poisoned").take();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = self.config.clone();
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            if let Some(p) = previous {
                let _ = p.stop.send(());
                let _ = p.task.await;
            }
            let stopped_with = |result| Action::EndpointStopped { generation, result };
            let opts = tokio::task::spawn_blocking(move || {
                let ws = open(&config)?;
                let mut serving = ws.config.config.serving.clone();
                serving.challenger_share = share;
                Ok::<_, String>(EndpointOptions {
                    endpoint: LOCAL_ENDPOINT.into(),
                    model,
                    store_root: ws.store_root(),
                    log_dir: ws.config.dir().join(&serving.log_dir).join(LOCAL_ENDPOINT),
                    serving,
                    token: None,
                })
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let opts = match opts {
                Ok(o) => o,
                Err(e) => {
                    let _ = tx.send(stopped_with(Err(e)));
                    return;
                }
            };
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(stopped_with(Err(format!("binding 127.0.0.1:0: {e}"))));
                    return;
                }
            };
            let address = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let _ = tx.send(Action::EndpointStarted {
                generation,
                address,
            });
            let result = serve::run(listener, opts, async move {
                let _ = stopped.await;
            })
            .await;
            let _ = tx.send(stopped_with(
                result
                    .map(|s| {
                        format!(
                            "local endpoint stopped: {} requests ({} errors), {} log lines{}",
                            s.requests,
                            s.errors,
                            s.log.lines,
                            if s.log.lost > 0 {
                                format!(", {} LOST (inference log not writable)", s.log.lost)
                            } else {
                                String::new()
                            }
                        )
                    })
                    .map_err(|e| e.to_string()),
            ));
        });
        *self.local.lock().expect("not poisoned") = Some(LocalServer { stop, task });
    }

    /// Stops the local endpoint, if any, and waits until it has drained and marked itself
    /// stopped in the store (on quit).
    pub async fn stop_endpoint(&self) {
        let server = self.local.lock().expect("not poisoned").take();
        if let Some(server) = server {
            let _ = server.stop.send(());
            let _ = server.task.await;
        }
    }

    /// Stops the demo's simulator, if it runs (its pending labels are still written).
    pub fn stop_simulator(&self) {
        self.simulator
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asks every job to stop (on quit); their runs close as KILLED.
    pub fn cancel_all(&self) {
        for h in self.handles.lock().expect("not poisoned").values() {
            h.cancel();
        }
    }
}
