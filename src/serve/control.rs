//! The endpoint's control loop, on its own thread: polls the registry for new Production and
//! Staging versions (hot reload, swapping the served models atomically) and heartbeats the
//! endpoint's counters and health into the store.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::EndpointOptions;
use super::handlers::{App, served_arms};
use super::payload::InputSchema;
use super::router::{Arm, ArmRole, Served};
use super::status::{EndpointStats, ProcessUsage, StatusTable};
use crate::error::{Error, Result};
use crate::registry::{ModelUri, RegistryStore};
use crate::store::SqliteStore;
use crate::train::Model;

/// How often the endpoint heartbeats.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The control loop: polls the registry for new versions (hot reload) and heartbeats.
pub(super) struct Control {
    app: Arc<App>,
    store: SqliteStore,
    pub(super) status: StatusTable,
    share: f64,
    last_error: Option<String>,
    last_cpu: Option<(Instant, f64)>,
    usage: ProcessUsage,
}

impl Control {
    pub(super) fn open(app: Arc<App>, opts: &EndpointOptions) -> Result<Control> {
        let store = SqliteStore::open(&opts.store_root)?;
        let status = StatusTable::open(store.db_path())?;
        Ok(Control {
            app,
            store,
            status,
            share: opts.serving.challenger_share,
            last_error: None,
            last_cpu: None,
            usage: ProcessUsage::default(),
        })
    }

    /// The store's database file.
    pub(super) fn db_path(&self) -> &std::path::Path {
        self.store.db_path()
    }

    pub(super) fn run(mut self, poll: Duration, stop: mpsc::Receiver<()>) {
        let mut next_beat = Instant::now() + HEARTBEAT;
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(poll) {
            self.poll();
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + HEARTBEAT;
            }
        }
        let stats = self.stats();
        if let Err(e) = self.status.stop(&self.app.endpoint, &stats) {
            tracing::warn!(error = %e, "could not mark the endpoint stopped");
        }
    }

    /// Swaps in new versions if Production or Staging changed.
    pub(super) fn poll(&mut self) {
        let name = &*self.app.model;
        let (production, staging) = match self.store.get_model(name) {
            Ok(m) => (m.production, m.staging),
            Err(Error::NotFound { .. }) => (None, None),
            Err(e) => {
                self.note_error(format!("reading the registry: {e}"));
                return;
            }
        };
        let staging = staging.filter(|_| self.share > 0.0);
        let current = self.app.served.load_full();
        if current.versions() == (production, staging) {
            return;
        }
        let champion = match production {
            None => None,
            Some(v) => match self.arm(&current, ArmRole::Champion, v) {
                Ok(a) => Some(a),
                Err(e) => {
                    // Keep serving what works; retried on the next poll.
                    self.note_error(format!("loading {name}/{v}: {e}"));
                    return;
                }
            },
        };
        let mut note = None;
        let challenger = match (staging, &champion) {
            (Some(v), Some(champ)) => match self.arm(&current, ArmRole::Challenger, v) {
                Ok(a) if a.schema.same_inputs(&champ.schema) => Some(a),
                Ok(_) => {
                    note = Some(format!(
                        "Staging version {v} takes other inputs than Production; not served"
                    ));
                    None
                }
                Err(e) => {
                    note = Some(format!("Staging version {v} could not be loaded: {e}"));
                    None
                }
            },
            _ => None,
        };
        if let Some(n) = &note {
            tracing::warn!(endpoint = %self.app.endpoint, "{n}");
        }
        let next = Served {
            model_name: name.to_string(),
            share: if challenger.is_some() {
                self.share
            } else {
                0.0
            },
            champion,
            challenger,
            challenger_note: note,
        };
        tracing::info!(
            endpoint = %self.app.endpoint,
            from = ?current.versions(),
            to = ?next.versions(),
            "serving new model versions"
        );
        self.app.served.store(Arc::new(next));
        self.app.metrics.reloads_total.fetch_add(1, Relaxed);
        self.last_error = None;
    }

    fn note_error(&mut self, message: String) {
        if self.last_error.as_ref() != Some(&message) {
            tracing::warn!(endpoint = %self.app.endpoint, "{message}");
            self.last_error = Some(message);
        }
    }

    /// The arm for `version`: reused if already loaded in that role, else read from the store.
    fn arm(&self, current: &Served, role: ArmRole, version: i64) -> Result<Arc<Arm>> {
        if let Some(a) = current.arm(role)
            && a.version == version
        {
            return Ok(a.clone());
        }
        let v = self
            .store
            .resolve(&ModelUri::Version(self.app.model.to_string(), version))?;
        let bytes = self.store.artifacts().get(&v.artifact_digest)?;
        let model = Model::from_bytes(&bytes)?;
        let schema = InputSchema::new(&model.preparation.schema);
        Ok(Arc::new(Arm {
            role,
            version,
            stage: v.stage,
            digest: v.artifact_digest,
            model,
            schema,
        }))
    }

    fn stats(&mut self) -> EndpointStats {
        let m = &self.app.metrics;
        let (recent, p50, p99) = m.last_minute();
        let (cpu, rss) = self.usage.sample();
        let now = Instant::now();
        let cpu_percent = match (cpu, self.last_cpu) {
            (Some(c), Some((t, c0))) => {
                let wall = now.duration_since(t).as_secs_f64();
                (wall > 0.0).then(|| ((c - c0) / wall * 100.0).max(0.0))
            }
            _ => None,
        };
        if let Some(c) = cpu {
            self.last_cpu = Some((now, c));
        }
        EndpointStats {
            requests: m.requests_total.load(Relaxed),
            errors: m.errors_total.load(Relaxed),
            records: m.records_total.load(Relaxed),
            unseen_categories: m.unseen_total.load(Relaxed),
            requests_last_minute: recent,
            p50_ms: p50,
            p99_ms: p99,
            in_flight: m.in_flight.load(Relaxed),
            open_connections: m.connections_open.load(Relaxed),
            cpu_percent,
            rss_bytes: rss,
            reloads: m.reloads_total.load(Relaxed),
            note: {
                let notes: Vec<String> = [
                    self.app.served.load().challenger_note.clone(),
                    self.last_error.clone(),
                    self.app.log_health.note(),
                ]
                .into_iter()
                .flatten()
                .collect();
                (!notes.is_empty()).then(|| notes.join("; "))
            },
            log_lines_lost: self.app.log_health.lost.load(Relaxed),
            log_lines_waiting: self.app.log_health.waiting.load(Relaxed),
        }
    }

    pub(super) fn heartbeat(&mut self) {
        let stats = self.stats();
        let served = served_arms(&self.app.served.load());
        if let Err(e) = self.status.heartbeat(&self.app.endpoint, &served, &stats) {
            tracing::warn!(error = %e, "endpoint heartbeat failed");
        }
    }
}
