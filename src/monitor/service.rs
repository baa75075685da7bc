//! [`Monitor`]: the monitoring API the CLI, the TUI and workflows call.
//!
//! A monitor is opened on a workspace's config. [`Monitor::refresh`] runs one ingestion pass over
//! the inference-log folder (exactly once, see `ingest`), then evaluates the alert rules. The
//! read models — [`Status`], [`WindowDrift`], [`DriftPoint`], [`PredictionDrift`],
//! [`QualityWindow`], [`Alert`], and [`Overview`] of them all for one endpoint — are plain serde
//! structs: the CLI prints them as JSON, the TUI draws them, the HTML report charts them.
//!
//! **Baselines.** A window of model version `m/v` is compared with the training table of the
//! data version `m/v` was trained on (registry version → data version → snapshot → baseline), or
//! with the window before it at the same granularity (`baseline = "previous_window"`). The
//! prediction baseline and the CBPE calibration come from scoring the version's test table with
//! its artifact; the quality baseline is the version's test metrics stored at registration.
//! Baselines are computed once per monitor and version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::alerts::{self, Alert, AlertChanges, Observation};
use super::cbpe::{Calibration, Estimate};
use super::config::{AlertKind, AlertRule, BaselineMode, MonitoringConfig, parse_duration_ms};
use super::drift::{DriftReport, baseline_from_table, raw_baselines, window_drift};
use super::ingest::{
    Baseline, FeatureBaseline, FeatureCounts, IngestReport, Ingestor, PROBA_BINS, Window,
    WindowAggregates, WindowKey,
};
use super::labels::{LabelIngestor, LabelOptions, LabelReport};
use super::multivariate::{MultivariateDrift, domain_classifier};
use super::quality::{self, QualityMetrics};
use super::sample::BaselineValues;
use super::stats::{ColumnDrift, FINE_BINS, NumericBaseline, PSI_BINS, categorical_drift};
use super::values::with_categorical_band;
use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::registry::RegistryStore;
use crate::serve::status::EndpointState;
use crate::store::{SqliteStore, TrackingStore};
use crate::train::artifact::Model;
use crate::workspace::Workspace;

/// The monitoring service of one workspace. See the module documentation.
pub struct Monitor {
    config: MonitoringConfig,
    store_root: PathBuf,
    db: PathBuf,
    log_dir: PathBuf,
    labels_dir: PathBuf,
    conn: Connection,
    ingestor: Ingestor,
    labeller: LabelIngestor,
    baselines: BaselineCache,
    output_baselines: HashMap<(String, i64), Result<Arc<OutputBaseline>, String>>,
}

/// Baselines by model version, shared with the ingestor's loader; `Err` says why there is none.
type BaselineCache = Arc<Mutex<HashMap<(String, i64), Result<Arc<Baseline>, String>>>>;

/// What a model version's outputs are compared with: its test metrics, its positive-class
/// probabilities on its test table, and the CBPE calibration fitted on them.
#[derive(Debug, Clone, Serialize)]
pub struct OutputBaseline {
    pub model: String,
    pub version: i64,
    pub data_version: String,
    /// The test metrics stored with the registered version.
    pub test_metrics: BTreeMap<String, f64>,
    pub test_rows: u64,
    /// Test-set probabilities on the windows' `PROBA_BINS` equal bins.
    pub probabilities: Vec<u64>,
    pub positive_rate: f64,
    /// Probability at or above which the model predicts the positive class.
    pub threshold: f64,
    #[serde(skip)]
    pub calibration: Option<Calibration>,
}

/// What one [`Monitor::refresh`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RefreshReport {
    /// The inference-log pass (`files` = 0 when the folder does not exist yet).
    pub ingest: IngestReport,
    /// The labels pass (`files` = 0 when the folder does not exist yet).
    pub labels: LabelReport,
    /// Alert rules evaluated, and the alerts they opened and resolved.
    pub rules: usize,
    pub alerts: AlertChanges,
}

/// The monitoring overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub log_dir: PathBuf,
    pub labels_dir: PathBuf,
    /// The granularity the totals below are summed over (the finest).
    pub granularity_ms: i64,
    pub granularities_ms: Vec<i64>,
    pub baseline: BaselineMode,
    /// Inference-log files, complete lines and quarantined lines.
    pub files: u64,
    pub lines: u64,
    pub corrupt_lines: u64,
    /// Label files, labels stored and quarantined label lines (wrong columns, no id, ...).
    pub label_files: u64,
    pub label_corrupt_lines: u64,
    pub labels: u64,
    /// Labels whose record id matches no kept prediction.
    pub labels_unmatched: u64,
    pub open_alerts: u64,
    pub endpoints: Vec<EndpointMonitor>,
}

/// One endpoint in [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointMonitor {
    pub endpoint: String,
    /// From the endpoint's heartbeat; `None` if it never registered.
    pub state: Option<EndpointState>,
    /// `model/version` seen in its windows.
    pub versions: Vec<String>,
    /// Requests that failed before a version was chosen (logged with `version: null`, kept in
    /// windows of version 0, which is no version).
    pub failed_before_version: u64,
    pub windows: u64,
    pub first_window: Option<i64>,
    pub last_window: Option<i64>,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub records: u64,
    pub mean_latency_ms: f64,
    pub max_latency_ms: f64,
    /// Predictions kept for the label join, and how many of them have a label.
    pub predictions_kept: u64,
    pub labelled: u64,
    pub labelled_share: f64,
    pub open_alerts: u64,
    /// Dataset drift of its latest window at the finest granularity (`None`: no baseline).
    pub latest_dataset_drift: Option<bool>,
    pub latest_drift_share: Option<f64>,
}

impl EndpointMonitor {
    /// The versions it served, and the requests that failed before one was chosen:
    /// `characters/1, 3 failed before a version was chosen` (`-` for none).
    pub fn versions_text(&self) -> String {
        let mut parts = self.versions.clone();
        if self.failed_before_version > 0 {
            parts.push(format!(
                "{} failed before a version was chosen",
                self.failed_before_version
            ));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Drift of one window of one endpoint's model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowDrift {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub granularity_ms: i64,
    pub window_start: i64,
    pub records: u64,
    pub baseline: BaselineMode,
    /// The window compared with in `previous_window` mode.
    pub baseline_window_start: Option<i64>,
    pub drifted: usize,
    /// Features with values in this window: the denominator of `share`. A feature whose
    /// values are all missing in the window is listed with `rows` 0 and not tested.
    pub tested: usize,
    pub share: f64,
    pub threshold: f64,
    pub dataset_drift: bool,
    pub features: Vec<FeatureDrift>,
    /// Why there is no drift to show (no baseline, no earlier window), if so.
    pub note: Option<String>,
    /// Why the statistics below carry no verdict (too few records in the window), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
    /// The domain classifier's verdict on the window's rows against the baseline's rows
    /// (`multivariate`): `None` when not computed (drift history, alerts), when either side
    /// has too few rows, or for windows stored before rows were kept. Withheld with the rest
    /// when the window has too few records.
    pub multivariate: Option<MultivariateDrift>,
}

impl WindowDrift {
    /// Features with no values in this window (not tested, not in the share).
    pub fn no_data(&self) -> Vec<&str> {
        self.features
            .iter()
            .filter(|f| !f.has_data())
            .map(|f| f.name.as_str())
            .collect()
    }

    /// `7 of 9 features drifted` with the share's denominator, and `(1 with no data: age)`
    /// when a feature had no values, so the count and the share read alike.
    pub fn drifted_text(&self) -> String {
        let none = self.no_data();
        let mut text = format!("{} of {} features drifted", self.drifted, self.tested);
        if !none.is_empty() {
            text.push_str(&format!(
                " ({} with no data in this window: {})",
                none.len(),
                none.join(", ")
            ));
        }
        text
    }
}

impl FeatureDrift {
    /// False when the window holds no value of this feature (all missing): not tested.
    pub fn has_data(&self) -> bool {
        self.drift.rows > 0
    }
}

/// One feature of a [`WindowDrift`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub name: String,
    #[serde(flatten)]
    pub drift: ColumnDrift,
    pub histogram: Histogram,
}

/// Baseline and current shares on the same bins (deciles of the baseline for a numeric feature,
/// categories plus `(unseen)` for a categorical one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub labels: Vec<String>,
    pub baseline: Vec<f64>,
    pub current: Vec<f64>,
}

/// One window in a feature's (or the dataset's) drift over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftPoint {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub window_start: i64,
    pub records: u64,
    pub share: f64,
    pub dataset_drift: bool,
    pub features: BTreeMap<String, FeaturePoint>,
}

/// A feature's verdict in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeaturePoint {
    pub test: String,
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
    pub psi: f64,
}

/// A window's prediction distribution against the version's predictions on its test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionDrift {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub window_start: i64,
    pub records: u64,
    pub positive_rate: f64,
    pub baseline_positive_rate: f64,
    /// The test on the probability histogram (chi-square or Jensen–Shannon by test-set size);
    /// a Jensen–Shannon verdict carries its no-drift band (`values::categorical_band`) and
    /// flags only above it.
    pub drift: ColumnDrift,
    pub histogram: Histogram,
    /// Why the test carries no verdict (fewer scored records than
    /// `[monitoring] min_window_records`), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
}

/// Model quality of one window: realised once labels arrive, estimated (CBPE) before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityWindow {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub window_start: i64,
    pub records: u64,
    /// Records kept for the label join (only when a labels folder is configured and exists).
    pub predictions_kept: u64,
    pub labelled: u64,
    pub realised: Option<QualityMetrics>,
    pub estimated: Option<Estimate>,
    /// `records` (per-record probabilities) or `histogram` (the window's probability bins).
    pub estimated_from: Option<String>,
    /// The version's test metrics.
    pub test: BTreeMap<String, f64>,
    /// Test accuracy minus realised accuracy (estimated when unlabelled).
    pub accuracy_drop: Option<f64>,
    pub note: Option<String>,
}

/// One endpoint at one window length, read in one go: what a dashboard (the TUI's Monitoring
/// tab) shows. Built by [`Monitor::overview`].
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub status: Status,
    /// The window length (ms) all series below use.
    pub granularity_ms: i64,
    /// The endpoint shown (none before any inference log was ingested).
    pub endpoint: Option<String>,
    /// Its latest window's drift, per model version served in it.
    pub drift: Vec<WindowDrift>,
    /// Drift of each of its windows, oldest first.
    pub history: Vec<DriftPoint>,
    pub predictions: Vec<PredictionDrift>,
    pub quality: Vec<QualityWindow>,
    /// Alerts of every endpoint, newest first (open and resolved), at most [`OVERVIEW_ALERTS`].
    pub alerts: Vec<Alert>,
    /// Log lines the refresh that produced this overview ingested (None: a read only).
    pub ingested: Option<u64>,
}

/// How many of the newest alerts an [`Overview`] carries.
pub const OVERVIEW_ALERTS: usize = 100;

impl Monitor {
    /// Opens the monitor of a workspace.
    pub fn open(ws: &Workspace) -> Result<Monitor> {
        Monitor::open_config(&ws.config)
    }

    /// Opens the monitor of the workspace `config` describes (its store must exist or is
    /// created).
    pub fn open_config(loaded: &LoadedConfig) -> Result<Monitor> {
        let config = loaded.config.monitoring.clone();
        let dir = loaded.dir();
        let log_dir = dir.join(
            config
                .log_dir
                .as_ref()
                .unwrap_or(&loaded.config.serving.log_dir),
        );
        let labels_dir = dir.join(&config.labels_dir);
        let store_root = loaded.store_path();
        let store = SqliteStore::open(&store_root)?;
        let db = store.db_path().to_path_buf();
        drop(store);
        let (conn, _) = crate::store::open::connect(&db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let baselines: BaselineCache = Arc::default();
        let loader = {
            let baselines = baselines.clone();
            let root = store_root.clone();
            Box::new(move |model: &str, version: i64| {
                cached_baseline(&baselines, &root, model, version).ok()
            })
        };
        // Predictions are kept for the label join whether or not labels have arrived yet.
        let ingestor = Ingestor::open(&db, &config.granularities_ms(), loader)?
            .with_predictions(loaded.config.dataset.id.as_deref())
            .with_limits(config.max_line_bytes, config.max_clock_skew_ms());
        let labeller =
            LabelIngestor::open(&db, LabelOptions::from_dataset(&loaded.config.dataset))?
                .with_max_line(config.max_line_bytes);
        Ok(Monitor {
            config,
            store_root,
            db,
            log_dir,
            labels_dir,
            conn,
            ingestor,
            labeller,
            baselines,
            output_baselines: HashMap::new(),
        })
    }

    pub fn config(&self) -> &MonitoringConfig {
        &self.config
    }

    /// The inference-log folder watched.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The ground-truth folder watched.
    pub fn labels_dir(&self) -> &Path {
        &self.labels_dir
    }

    /// Configured window lengths in milliseconds, finest first.
    pub fn granularities(&self) -> Vec<i64> {
        let mut g = self.config.granularities_ms();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// A window length (`"5m"`), or the finest configured one; an unconfigured one is an error.
    pub fn granularity(&self, name: Option<&str>) -> Result<i64> {
        let all = self.granularities();
        match name {
            None => Ok(all[0]),
            Some(n) => match parse_duration_ms(n) {
                Some(ms) if all.contains(&ms) => Ok(ms),
                _ => Err(Error::invalid(format!(
                    "window `{n}` is not one of the configured granularities ({})",
                    self.config.granularities.join(", ")
                ))),
            },
        }
    }

    /// One ingestion pass over the inference log, without evaluating alerts.
    pub fn ingest(&mut self) -> Result<IngestReport> {
        if !self.log_dir.exists() {
            return Ok(IngestReport::default());
        }
        self.ingestor.ingest_dir(&self.log_dir)
    }

    /// One pass over the labels folder.
    pub fn ingest_labels(&mut self) -> Result<LabelReport> {
        if !self.labels_dir.exists() {
            return Ok(LabelReport::default());
        }
        self.labeller.ingest_dir(&self.labels_dir)
    }

    /// One ingestion pass over the inference log, then over the labels, then the alert rules.
    pub fn refresh(&mut self) -> Result<RefreshReport> {
        let ingest = self.ingest()?;
        let labels = self.ingest_labels()?;
        let alerts = self.evaluate_alerts()?;
        Ok(RefreshReport {
            ingest,
            labels,
            rules: self.config.alerts.len(),
            alerts,
        })
    }

    /// Quarantined lines (path, 1-based line, error) of the log and the labels folders.
    pub fn quarantine(&self) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, line, error FROM monitor_quarantine ORDER BY path, line")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The overview of every endpoint (or one).
    pub fn status(&mut self, endpoint: Option<&str>) -> Result<Status> {
        let g = self.granularities()[0];
        let windows = load_windows(&self.conn, endpoint, g)?;
        let states: HashMap<String, EndpointState> =
            crate::serve::status::StatusTable::open(&self.db)
                .and_then(|t| t.list())
                .map(|l| l.into_iter().map(|e| (e.name, e.state)).collect())
                .unwrap_or_default();
        let mut by_endpoint: BTreeMap<String, Vec<&(WindowKey, Window)>> = BTreeMap::new();
        for w in &windows {
            by_endpoint.entry(w.0.endpoint.clone()).or_default().push(w);
        }
        if let Some(e) = endpoint {
            by_endpoint.entry(e.to_string()).or_default();
        } else {
            for name in states.keys() {
                by_endpoint.entry(name.clone()).or_default();
            }
        }
        let open = alerts::list(&self.conn, true, endpoint)?;
        let mut endpoints = Vec::new();
        for (name, ws) in by_endpoint {
            let mut versions = BTreeSet::new();
            let mut starts = BTreeSet::new();
            let (mut req, mut err, mut rec, mut lat_sum, mut lat_max) = (0, 0, 0, 0, 0);
            let mut unversioned = 0;
            for (k, w) in &ws {
                if k.version == 0 {
                    unversioned += w.requests;
                } else {
                    versions.insert(format!("{}/{}", k.model, k.version));
                }
                starts.insert(k.window_start);
                req += w.requests;
                err += w.errors;
                rec += w.records;
                lat_sum += w.latency_sum_us;
                lat_max = lat_max.max(w.latency_max_us);
            }
            let (labelled, kept) = quality::labelled_counts(&self.conn, Some(&name))?;
            let latest = self.drift(Some(&name), g, None)?;
            let main = latest.iter().max_by_key(|d| d.records);
            let has = |d: &&WindowDrift| d.note.is_none();
            endpoints.push(EndpointMonitor {
                state: states.get(&name).cloned(),
                versions: versions.into_iter().collect(),
                failed_before_version: unversioned,
                windows: starts.len() as u64,
                first_window: starts.first().copied(),
                last_window: starts.last().copied(),
                requests: req,
                errors: err,
                error_rate: ratio(err, req),
                records: rec,
                mean_latency_ms: ratio(lat_sum, req) / 1000.0,
                max_latency_ms: lat_max as f64 / 1000.0,
                predictions_kept: kept,
                labelled,
                labelled_share: ratio(labelled, kept),
                open_alerts: open.iter().filter(|a| a.endpoint == name).count() as u64,
                latest_dataset_drift: main.filter(has).map(|d| d.dataset_drift),
                latest_drift_share: main.filter(has).map(|d| d.share),
                endpoint: name,
            });
        }
        let labels_root = self
            .labels_dir
            .canonicalize()
            .unwrap_or_else(|_| self.labels_dir.clone());
        let prefix = format!("{}/%", labels_root.to_string_lossy());
        let files_of = |labels: bool| -> Result<(i64, i64, i64)> {
            Ok(self.conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(lines), 0), COALESCE(SUM(corrupt), 0)
                 FROM monitor_files WHERE (path LIKE ?1) = ?2",
                params![prefix, labels],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        };
        let (files, lines, corrupt) = files_of(false)?;
        let (label_files, _, label_corrupt) = files_of(true)?;
        let labels: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM monitor_labels", [], |r| r.get(0))?;
        Ok(Status {
            log_dir: self.log_dir.clone(),
            labels_dir: self.labels_dir.clone(),
            granularity_ms: g,
            granularities_ms: self.granularities(),
            baseline: self.config.baseline,
            files: files as u64,
            lines: lines as u64,
            corrupt_lines: corrupt as u64,
            label_files: label_files as u64,
            label_corrupt_lines: label_corrupt as u64,
            labels: labels as u64,
            labels_unmatched: quality::unmatched_labels(&self.conn)?,
            open_alerts: open.len() as u64,
            endpoints,
        })
    }

    /// Windows of one granularity (of one endpoint), oldest first.
    pub fn windows(
        &self,
        endpoint: Option<&str>,
        granularity_ms: i64,
    ) -> Result<Vec<(WindowKey, Window)>> {
        load_windows(&self.conn, endpoint, granularity_ms)
    }

    /// Drift of each endpoint's model versions in one window: the latest window of each endpoint
    /// when `window_start` is `None`. Versions without inputs (version 0) are left out.
    pub fn drift(
        &mut self,
        endpoint: Option<&str>,
        granularity_ms: i64,
        window_start: Option<i64>,
    ) -> Result<Vec<WindowDrift>> {
        let windows = load_windows(&self.conn, endpoint, granularity_ms)?;
        let mut latest: HashMap<&str, i64> = HashMap::new();
        for (k, _) in &windows {
            let e = latest.entry(&k.endpoint).or_insert(k.window_start);
            *e = (*e).max(k.window_start);
        }
        let mut out = Vec::new();
        for (i, (k, w)) in windows.iter().enumerate() {
            let wanted = window_start.unwrap_or(latest[k.endpoint.as_str()]);
            if k.version == 0 || k.window_start != wanted {
                continue;
            }
            let prev = previous(&windows[..i], k);
            out.push(self.window_drift(k, w, prev, true)?);
        }
        Ok(out)
    }

    /// Drift of every window of one granularity, oldest first; `feature` keeps only that
    /// feature's points.
    pub fn drift_history(
        &mut self,
        endpoint: Option<&str>,
        granularity_ms: i64,
        feature: Option<&str>,
    ) -> Result<Vec<DriftPoint>> {
        let windows = load_windows(&self.conn, endpoint, granularity_ms)?;
        let mut out = Vec::new();
        for (i, (k, w)) in windows.iter().enumerate() {
            if k.version == 0 {
                continue;
            }
            let d = self.window_drift(k, w, previous(&windows[..i], k), false)?;
            if d.note.is_some() {
                continue;
            }
            out.push(DriftPoint {
                endpoint: k.endpoint.clone(),
                model: k.model.clone(),
                version: k.version,
                window_start: k.window_start,
                records: w.records,
                share: d.share,
                dataset_drift: d.dataset_drift,
                features: d
                    .features
                    .iter()
                    .filter(|f| feature.is_none_or(|n| n == f.name))
                    .map(|f| {
                        (
                            f.name.clone(),
                            FeaturePoint {
                                test: f.drift.test.as_str().to_string(),
                                score: f.drift.score,
                                threshold: f.drift.threshold,
                                drifted: f.drift.drifted,
                                psi: f.drift.psi,
                            },
                        )
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Prediction drift of every window of one granularity, oldest first (versions whose
    /// output baseline cannot be built are left out).
    pub fn prediction_drift(
        &mut self,
        endpoint: Option<&str>,
        granularity_ms: i64,
    ) -> Result<Vec<PredictionDrift>> {
        let windows = load_windows(&self.conn, endpoint, granularity_ms)?;
        let mut out = Vec::new();
        for (k, w) in &windows {
            if k.version == 0 {
                continue;
            }
            let Ok(r) = self.output_baseline(&k.model, k.version) else {
                continue;
            };
            if let Some(p) = prediction_drift(k, w, &r, self.config.min_window_records) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Quality of every window of one granularity, oldest first.
    pub fn quality(
        &mut self,
        endpoint: Option<&str>,
        granularity_ms: i64,
    ) -> Result<Vec<QualityWindow>> {
        let windows = load_windows(&self.conn, endpoint, granularity_ms)?;
        let mut out = Vec::new();
        for (k, w) in &windows {
            if k.version == 0 {
                continue;
            }
            out.push(self.window_quality(k, w)?);
        }
        Ok(out)
    }

    /// The [`Overview`] of `endpoint` (or, when it has no windows or is not given, the first
    /// endpoint with windows) at `granularity` ms (or, when it is not a configured window
    /// length, the finest one). With `ingest`, one [`Monitor::refresh`] (ingestion pass and
    /// alert rules) runs first; otherwise it only reads.
    pub fn overview(
        &mut self,
        ingest: bool,
        granularity: Option<i64>,
        endpoint: Option<&str>,
    ) -> Result<Overview> {
        let ingested = if ingest {
            Some(self.refresh()?.ingest.lines)
        } else {
            None
        };
        let granularity = match granularity {
            Some(g) if self.granularities().contains(&g) => g,
            _ => self.granularity(None)?,
        };
        let status = self.status(None)?;
        let endpoint = endpoint
            .filter(|e| status.endpoints.iter().any(|x| x.endpoint == *e))
            .map(str::to_string)
            .or_else(|| {
                status
                    .endpoints
                    .iter()
                    .find(|e| e.windows > 0)
                    .map(|e| e.endpoint.clone())
            });
        let mut overview = Overview {
            status,
            granularity_ms: granularity,
            endpoint: endpoint.clone(),
            drift: Vec::new(),
            history: Vec::new(),
            predictions: Vec::new(),
            quality: Vec::new(),
            alerts: Vec::new(),
            ingested,
        };
        if let Some(ep) = endpoint.as_deref() {
            overview.drift = self.drift(Some(ep), granularity, None)?;
            overview.history = self.drift_history(Some(ep), granularity, None)?;
            overview.predictions = self.prediction_drift(Some(ep), granularity)?;
            overview.quality = self.quality(Some(ep), granularity)?;
        }
        overview.alerts = self.alerts(false, None)?;
        overview.alerts.truncate(OVERVIEW_ALERTS);
        Ok(overview)
    }

    /// Alerts, newest first.
    pub fn alerts(&self, open_only: bool, endpoint: Option<&str>) -> Result<Vec<Alert>> {
        alerts::list(&self.conn, open_only, endpoint)
    }

    /// The output baseline of a model version (test metrics, test-set probabilities, calibration).
    pub fn output_baseline(&mut self, model: &str, version: i64) -> Result<Arc<OutputBaseline>> {
        let key = (model.to_string(), version);
        if !self.output_baselines.contains_key(&key) {
            let r = load_output_baseline(&self.store_root, model, version)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if let Err(e) = &r {
                tracing::warn!(model, version, "no prediction baseline: {e}");
            }
            self.output_baselines.insert(key.clone(), r);
        }
        self.output_baselines[&key].clone().map_err(Error::invalid)
    }

    /// The training baseline of a model version.
    pub fn baseline(&self, model: &str, version: i64) -> Result<Arc<Baseline>> {
        cached_baseline(&self.baselines, &self.store_root, model, version).map_err(Error::invalid)
    }

    /// Drift of one window; with `multivariate`, also the domain classifier (a few hundred ms
    /// in a release build, so only for the windows shown, not for histories and alerts).
    fn window_drift(
        &mut self,
        k: &WindowKey,
        w: &Window,
        prev: Option<&(WindowKey, Window)>,
        multivariate: bool,
    ) -> Result<WindowDrift> {
        let mut out = WindowDrift {
            endpoint: k.endpoint.clone(),
            model: k.model.clone(),
            version: k.version,
            granularity_ms: k.granularity_ms,
            window_start: k.window_start,
            records: w.records,
            baseline: self.config.baseline,
            baseline_window_start: None,
            drifted: 0,
            tested: 0,
            share: 0.0,
            threshold: self.config.drift_share,
            dataset_drift: false,
            features: Vec::new(),
            note: None,
            withheld: None,
            multivariate: None,
        };
        let training = match self.baseline(&k.model, k.version) {
            Ok(p) => p,
            Err(e) => {
                out.note = Some(format!("no baseline: {e}"));
                return Ok(out);
            }
        };
        let baseline = match self.config.baseline {
            BaselineMode::Training => training,
            BaselineMode::PreviousWindow => match prev {
                Some((pk, pw)) => {
                    out.baseline_window_start = Some(pk.window_start);
                    Arc::new(baseline_from_window(&training, &pw.aggregates))
                }
                None => {
                    out.note = Some("no earlier window to compare with".into());
                    return Ok(out);
                }
            },
        };
        let mut report: DriftReport = window_drift(
            &baseline,
            &w.aggregates,
            &self.config.overrides(),
            self.config.drift_share,
        );
        out.withheld = report.hold_if_too_few(w.records, self.config.min_window_records);
        if multivariate {
            let names: Vec<String> = baseline
                .row_features()
                .iter()
                .map(|&i| baseline.features[i].name().to_string())
                .collect();
            out.multivariate =
                domain_classifier(&names, &baseline.rows.rows, &w.aggregates.rows.rows);
            if let (Some(m), Some(_)) = (&mut out.multivariate, &out.withheld) {
                m.drifted = false;
            }
        }
        out.drifted = report.drifted;
        out.tested = report.tested;
        out.share = report.share;
        out.dataset_drift = report.dataset_drift;
        for (name, drift) in report.features {
            let histogram = match (
                baseline.features.iter().find(|f| f.name() == name),
                w.aggregates.features.get(&name),
            ) {
                (Some(f), Some(c)) => histogram(f, c),
                _ => Histogram {
                    labels: vec![],
                    baseline: vec![],
                    current: vec![],
                },
            };
            out.features.push(FeatureDrift {
                name,
                drift,
                histogram,
            });
        }
        Ok(out)
    }

    fn window_quality(&mut self, k: &WindowKey, w: &Window) -> Result<QualityWindow> {
        let records = quality::window_records(
            &self.conn,
            &k.endpoint,
            &k.model,
            k.version,
            k.window_start,
            k.window_start + k.granularity_ms,
        )?;
        let realised = records.realised();
        let mut out = QualityWindow {
            endpoint: k.endpoint.clone(),
            model: k.model.clone(),
            version: k.version,
            window_start: k.window_start,
            records: w.records,
            predictions_kept: records.scores.len() as u64,
            labelled: records.labelled.len() as u64,
            realised,
            estimated: None,
            estimated_from: None,
            test: BTreeMap::new(),
            accuracy_drop: None,
            note: None,
        };
        match self.output_baseline(&k.model, k.version) {
            Ok(r) => {
                out.test = r
                    .test_metrics
                    .iter()
                    .filter(|(k, _)| super::config::QUALITY_METRICS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                if let Some(cal) = &r.calibration {
                    if !records.scores.is_empty() {
                        out.estimated = cal.estimate(&records.scores, r.threshold);
                        out.estimated_from = Some("records".into());
                    } else {
                        let bins = &w.aggregates.probabilities;
                        let scored: Vec<(f64, f64)> = bins
                            .iter()
                            .enumerate()
                            .map(|(i, c)| ((i as f64 + 0.5) / bins.len() as f64, *c as f64))
                            .collect();
                        out.estimated = cal.estimate_weighted(&scored, r.threshold);
                        out.estimated_from = out.estimated.map(|_| "histogram".into());
                    }
                }
                let current = realised
                    .map(|q| q.accuracy)
                    .or(out.estimated.map(|e| e.accuracy));
                if let (Some(t), Some(c)) = (r.test_metrics.get("accuracy"), current) {
                    out.accuracy_drop = Some(t - c);
                }
            }
            Err(e) => out.note = Some(format!("no output baseline: {e}")),
        }
        Ok(out)
    }

    /// Evaluates every alert rule on the latest windows and opens/resolves alerts.
    pub fn evaluate_alerts(&mut self) -> Result<AlertChanges> {
        if self.config.alerts.is_empty() {
            return Ok(AlertChanges::default());
        }
        let rules = self.config.alerts.clone();
        let mut observations = Vec::new();
        let mut evaluated = BTreeSet::new();
        for rule in &rules {
            for o in self.observe(rule)? {
                evaluated.insert((o.rule.clone(), o.endpoint.clone()));
                observations.push(o);
            }
        }
        alerts::apply(
            &self.conn,
            &rules,
            &observations,
            &evaluated,
            Duration::from_millis(self.config.hook_timeout_ms),
            chrono::Utc::now().timestamp_millis(),
        )
    }

    /// A rule's observations, one per endpoint (and subject) it has something to say about.
    fn observe(&mut self, rule: &AlertRule) -> Result<Vec<Observation>> {
        let g = self.granularity(rule.granularity.as_deref())?;
        let threshold = rule
            .threshold
            .or(rule.kind.default_threshold(self.config.drift_share));
        let base = |endpoint: &str, subject: &str, window: Option<i64>| Observation {
            rule: rule.name.clone(),
            kind: rule.kind,
            endpoint: endpoint.to_string(),
            subject: subject.to_string(),
            firing: false,
            value: f64::NAN,
            threshold: threshold.unwrap_or(f64::NAN),
            granularity_ms: Some(g),
            window_start: window,
            message: String::new(),
        };
        let mut out = Vec::new();
        if rule.kind == AlertKind::EndpointDown {
            let table = crate::serve::status::StatusTable::open(&self.db)?;
            let limit = threshold.unwrap_or(30.0);
            for e in table.list()? {
                if rule.endpoint.as_ref().is_some_and(|n| *n != e.name) {
                    continue;
                }
                let age = e.heartbeat_age_ms as f64 / 1000.0;
                let mut o = base(&e.name, "", None);
                o.granularity_ms = None;
                o.value = age;
                o.firing = e.state == EndpointState::Down || age >= limit;
                o.message = format!(
                    "endpoint {} is {} (last heartbeat {age:.0} s ago)",
                    e.name, e.state
                );
                out.push(o);
            }
            return Ok(out);
        }
        let windows = load_windows(&self.conn, rule.endpoint.as_deref(), g)?;
        let mut latest: BTreeMap<String, i64> = BTreeMap::new();
        for (k, _) in &windows {
            let e = latest.entry(k.endpoint.clone()).or_insert(k.window_start);
            *e = (*e).max(k.window_start);
        }
        for (endpoint, start) in latest {
            let in_window: Vec<usize> = (0..windows.len())
                .filter(|i| {
                    windows[*i].0.endpoint == endpoint && windows[*i].0.window_start == start
                })
                .collect();
            // The version that served most records in the window speaks for the endpoint.
            let main = in_window
                .iter()
                .copied()
                .filter(|i| windows[*i].0.version != 0)
                .max_by_key(|i| windows[*i].1.records);
            match rule.kind {
                AlertKind::ErrorRate | AlertKind::Latency => {
                    let (mut req, mut err, mut lat) = (0u64, 0u64, 0u64);
                    for i in &in_window {
                        req += windows[*i].1.requests;
                        err += windows[*i].1.errors;
                        lat += windows[*i].1.latency_sum_us;
                    }
                    let mut o = base(&endpoint, "", Some(start));
                    let t = threshold.unwrap_or(f64::INFINITY);
                    if rule.kind == AlertKind::ErrorRate {
                        o.value = ratio(err, req);
                        o.message = format!(
                            "error rate {:.1}% ({err} of {req} requests) reached {:.1}%",
                            o.value * 100.0,
                            t * 100.0
                        );
                    } else {
                        o.value = ratio(lat, req) / 1000.0;
                        o.message = format!("mean latency {:.1} ms reached {t:.1} ms", o.value);
                    }
                    o.firing = req > 0 && o.value >= t;
                    out.push(o);
                }
                AlertKind::FeatureDrift | AlertKind::DatasetDrift => {
                    let Some(i) = main else { continue };
                    let (k, w) = &windows[i];
                    let d = self.window_drift(k, w, previous(&windows[..i], k), false)?;
                    if d.note.is_some() {
                        continue;
                    }
                    if rule.kind == AlertKind::DatasetDrift {
                        let mut o = base(&endpoint, "", Some(start));
                        o.value = d.share;
                        o.firing = d.share >= threshold.unwrap_or(d.threshold) && d.drifted > 0;
                        o.message = format!(
                            "{} in {}/{} (share {:.2})",
                            d.drifted_text(),
                            k.model,
                            k.version,
                            d.share
                        );
                        out.push(o);
                    } else {
                        for f in &d.features {
                            if rule.feature.as_ref().is_some_and(|n| *n != f.name) {
                                continue;
                            }
                            let mut o = base(&endpoint, &f.name, Some(start));
                            o.value = f.drift.score;
                            o.threshold = threshold.unwrap_or(f.drift.threshold);
                            o.firing = f.drift.rows > 0
                                && match threshold {
                                    None => f.drift.drifted,
                                    Some(t) if f.drift.test.is_p_value() => f.drift.score < t,
                                    Some(t) => f.drift.score >= t,
                                };
                            o.message = format!(
                                "feature {} drifted: {} {:.4} (threshold {:.4})",
                                f.name,
                                f.drift.test.as_str(),
                                f.drift.score,
                                o.threshold
                            );
                            out.push(o);
                        }
                    }
                }
                AlertKind::PredictionDrift => {
                    let Some(i) = main else { continue };
                    let (k, w) = &windows[i];
                    let Ok(r) = self.output_baseline(&k.model, k.version) else {
                        continue;
                    };
                    let Some(p) = prediction_drift(k, w, &r, self.config.min_window_records) else {
                        continue;
                    };
                    let mut o = base(&endpoint, "", Some(start));
                    o.value = p.drift.score;
                    o.threshold = threshold.unwrap_or(p.drift.threshold);
                    o.firing = p.withheld.is_none()
                        && match threshold {
                            None => p.drift.drifted,
                            Some(t) if p.drift.test.is_p_value() => p.drift.score < t,
                            Some(t) => p.drift.score >= t,
                        };
                    o.message = format!(
                        "predictions drifted: {} {:.4}; positive rate {:.3} vs {:.3} on the test set",
                        p.drift.test.as_str(),
                        p.drift.score,
                        p.positive_rate,
                        p.baseline_positive_rate
                    );
                    out.push(o);
                }
                AlertKind::QualityDrop => {
                    let Some(i) = main else { continue };
                    let (k, w) = &windows[i];
                    let q = self.window_quality(k, w)?;
                    let metric = rule.metric.as_deref().unwrap_or("accuracy");
                    let Some(test) = q.test.get(metric).copied() else {
                        continue;
                    };
                    let (current, source) = match (&q.realised, &q.estimated, metric) {
                        (Some(r), _, _) => (r.get(metric), "realised"),
                        (None, Some(e), "accuracy") => (Some(e.accuracy), "estimated"),
                        (None, Some(e), "roc_auc") => (Some(e.roc_auc), "estimated"),
                        _ => (None, ""),
                    };
                    let Some(current) = current.filter(|c| c.is_finite()) else {
                        continue;
                    };
                    let mut o = base(&endpoint, metric, Some(start));
                    o.value = test - current;
                    o.firing = o.value >= threshold.unwrap_or(0.1);
                    o.message = format!(
                        "{metric} {current:.4} ({source}) is {:.4} below the test value {test:.4}",
                        o.value
                    );
                    out.push(o);
                }
                AlertKind::EndpointDown => unreachable!("handled above"),
            }
        }
        Ok(out)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The window before `k` (same endpoint, model and version) among `earlier`.
fn previous<'a>(
    earlier: &'a [(WindowKey, Window)],
    k: &WindowKey,
) -> Option<&'a (WindowKey, Window)> {
    earlier.iter().rev().find(|(p, _)| {
        p.endpoint == k.endpoint
            && p.model == k.model
            && p.version == k.version
            && p.window_start < k.window_start
    })
}

fn cached_baseline(
    cache: &BaselineCache,
    root: &Path,
    model: &str,
    version: i64,
) -> Result<Arc<Baseline>, String> {
    let key = (model.to_string(), version);
    if let Some(p) = cache.lock().map_err(|e| e.to_string())?.get(&key) {
        return p.clone();
    }
    let p = load_baseline(root, model, version)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    if let Err(e) = &p {
        tracing::warn!(model, version, "no drift baseline: {e}");
    }
    cache
        .lock()
        .map_err(|e| e.to_string())?
        .insert(key, p.clone());
    p
}

/// The training baseline of `model/version`: registry version → data version → snapshot.
pub fn load_baseline(store_root: &Path, model: &str, version: i64) -> Result<Baseline> {
    let store = SqliteStore::open(store_root)?;
    let v = store.get_version(model, version)?;
    let id = v.data_version.clone().ok_or_else(|| {
        Error::invalid(format!(
            "{model}/{version} has no data version to build a baseline from"
        ))
    })?;
    let dv = store.get_data_version(&id)?;
    let data = crate::data::load_version(store_root, &dv)?;
    let m = Model::from_bytes(&store.artifacts().get(&v.artifact_digest)?)?;
    // The features the model was trained on, made of the raw rows by its own preparation.
    let table = m.preparation.transform_frame(&data.train)?;
    let mut baseline = baseline_from_table(&m.signature, &table);
    if !m.preparation.is_identity() {
        baseline
            .features
            .extend(raw_baselines(&m.preparation, &data.train, &table)?);
        baseline.preparation = Some(Arc::new(m.preparation));
    }
    Ok(baseline)
}

/// The prediction and quality baseline of `model/version`: its test table scored by its
/// artifact.
pub fn load_output_baseline(
    store_root: &Path,
    model: &str,
    version: i64,
) -> Result<OutputBaseline> {
    let store = SqliteStore::open(store_root)?;
    let v = store.get_version(model, version)?;
    let id = v
        .data_version
        .clone()
        .ok_or_else(|| Error::invalid(format!("{model}/{version} has no data version to score")))?;
    let dv = store.get_data_version(&id)?;
    let data = crate::data::load_version(store_root, &dv)?;
    let m = Model::from_bytes(&store.artifacts().get(&v.artifact_digest)?)?;
    let truth = data.labels(&data.test, &m.signature.features_only())?;
    let proba = m.score_frame(&data.test)?.probabilities;
    let mut bins = vec![0u64; PROBA_BINS];
    let mut positive = 0u64;
    for p in &proba {
        if p.is_finite() {
            bins[proba_bin(*p)] += 1;
            positive += u64::from(*p >= m.threshold);
        }
    }
    Ok(OutputBaseline {
        model: model.to_string(),
        version,
        data_version: id,
        test_metrics: v.metrics.clone(),
        test_rows: proba.len() as u64,
        positive_rate: ratio(positive, proba.len() as u64),
        probabilities: bins,
        threshold: m.threshold,
        calibration: Calibration::fit(&truth, &proba),
    })
}

/// The equal-width bin of a probability, as ingestion bins them.
fn proba_bin(p: f64) -> usize {
    ((p.clamp(0.0, 1.0) * PROBA_BINS as f64) as usize).min(PROBA_BINS - 1)
}

/// Prediction drift of one window: the test on its probability histogram with the no-drift
/// band of a distance test, and no verdict under `min` scored records (as for features).
fn prediction_drift(
    k: &WindowKey,
    w: &Window,
    r: &OutputBaseline,
    min: u64,
) -> Option<PredictionDrift> {
    let cur = &w.aggregates.probabilities;
    let n: u64 = cur.iter().sum();
    if n == 0 {
        return None;
    }
    let [neg, pos] = w.aggregates.predictions;
    let mut drift = with_categorical_band(
        categorical_drift(&r.probabilities, cur, 0, None, None),
        &r.probabilities,
    );
    let withheld = (n < min).then(|| {
        drift.drifted = false;
        format!(
            "too few records: {n} scored in this window, {min} needed for a verdict \
             ([monitoring] min_window_records)"
        )
    });
    let share = |v: &[u64]| -> Vec<f64> {
        let t: u64 = v.iter().sum();
        v.iter().map(|c| ratio(*c, t)).collect()
    };
    Some(PredictionDrift {
        endpoint: k.endpoint.clone(),
        model: k.model.clone(),
        version: k.version,
        window_start: k.window_start,
        records: n,
        positive_rate: ratio(pos, pos + neg),
        baseline_positive_rate: r.positive_rate,
        drift,
        histogram: Histogram {
            labels: (0..PROBA_BINS)
                .map(|i| format!("{:.2}", i as f64 / PROBA_BINS as f64))
                .collect(),
            baseline: share(&r.probabilities),
            current: share(cur),
        },
        withheld,
    })
}

/// A baseline made of a window's counts on the training baseline's bins (`previous_window`
/// mode). The numeric spread (for the Wasserstein normalisation) and the distinct count (for the
/// test choice) stay the training table's.
fn baseline_from_window(training: &Baseline, w: &WindowAggregates) -> Baseline {
    let features = training
        .features
        .iter()
        .map(|f| match (f, w.features.get(f.name())) {
            (
                FeatureBaseline::Numeric { name, baseline },
                Some(FeatureCounts::Numeric {
                    counts,
                    nulls,
                    min,
                    max,
                    sample,
                }),
            ) => {
                let mut counts = counts.clone();
                counts.resize(FINE_BINS, 0);
                // The window's own values when it kept them, with the training spread.
                let exact = sample.as_ref().map(|s| {
                    let mut b = BaselineValues::from_weighted(&s.weighted(), s.nulls());
                    b.std = baseline.std;
                    Arc::new(b)
                });
                FeatureBaseline::Numeric {
                    name: name.clone(),
                    baseline: NumericBaseline {
                        edges: baseline.edges.clone(),
                        rows: counts.iter().sum(),
                        counts,
                        nulls: *nulls,
                        min: min.unwrap_or(baseline.min),
                        max: max.unwrap_or(baseline.max),
                        std: baseline.std,
                        distinct: baseline.distinct,
                        exact,
                    },
                }
            }
            (
                FeatureBaseline::Categorical {
                    name, categories, ..
                },
                Some(FeatureCounts::Categorical { counts, nulls, .. }),
            ) => {
                let mut counts = counts.clone();
                counts.resize(categories.len(), 0);
                FeatureBaseline::Categorical {
                    name: name.clone(),
                    categories: categories.clone(),
                    counts,
                    nulls: *nulls,
                }
            }
            (FeatureBaseline::Numeric { name, baseline }, _) => FeatureBaseline::Numeric {
                name: name.clone(),
                baseline: NumericBaseline {
                    counts: vec![0; FINE_BINS],
                    rows: 0,
                    exact: Some(Arc::new(BaselineValues::from_values(&[]))),
                    ..baseline.clone()
                },
            },
            (
                FeatureBaseline::Categorical {
                    name, categories, ..
                },
                _,
            ) => FeatureBaseline::Categorical {
                name: name.clone(),
                categories: categories.clone(),
                counts: vec![0; categories.len()],
                nulls: 0,
            },
        })
        .collect();
    Baseline {
        features,
        preparation: training.preparation.clone(),
        rows: w.rows.clone(),
    }
}

/// Most categories a histogram shows; the rest are summed into `(other)`.
const MAX_CATEGORIES: usize = 12;

fn histogram(baseline: &FeatureBaseline, counts: &FeatureCounts) -> Histogram {
    let shares = |v: &[f64]| -> Vec<f64> {
        let t: f64 = v.iter().sum();
        v.iter()
            .map(|c| if t > 0.0 { c / t } else { 0.0 })
            .collect()
    };
    match (baseline, counts) {
        // A few-valued column (a flag, a small count): one bar per baseline value, however rare.
        (
            FeatureBaseline::Numeric { baseline, .. },
            FeatureCounts::Numeric {
                sample: Some(sample),
                ..
            },
        ) if baseline.exact.as_ref().is_some_and(|e| e.few_valued()) => {
            let exact = baseline.exact.as_ref().expect("checked");
            let mut labels: Vec<String> = exact
                .weighted
                .iter()
                .map(|(v, _)| super::values::edge_label(*v))
                .collect();
            let b: Vec<f64> = exact.weighted.iter().map(|(_, c)| *c as f64).collect();
            let mut c = vec![0.0; b.len()];
            let mut other = 0.0;
            for (x, w) in sample.weighted() {
                match exact.weighted.binary_search_by(|p| p.0.total_cmp(&x)) {
                    Ok(i) => c[i] += w as f64,
                    Err(_) => other += w as f64,
                }
            }
            labels.push("(unseen)".into());
            let mut b = b;
            b.push(0.0);
            c.push(other);
            Histogram {
                labels,
                baseline: shares(&b),
                current: shares(&c),
            }
        }
        (FeatureBaseline::Numeric { baseline, .. }, FeatureCounts::Numeric { counts, .. }) => {
            let step = FINE_BINS / PSI_BINS;
            let coarse = |v: &[u64]| -> Vec<f64> {
                (0..PSI_BINS)
                    .map(|i| v.iter().skip(i * step).take(step).map(|c| *c as f64).sum())
                    .collect()
            };
            let edge = |i: usize| {
                baseline
                    .edges
                    .get(i * step - 1)
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            // Bins between equal deciles can hold nothing: left out, so labels are distinct.
            let edges: Vec<f64> = (1..PSI_BINS).map(edge).collect();
            let keep = super::values::bin_labels(&edges);
            let pick = |v: Vec<f64>| -> Vec<f64> {
                v.into_iter()
                    .zip(&keep)
                    .filter(|(_, l)| l.is_some())
                    .map(|(x, _)| x)
                    .collect()
            };
            Histogram {
                labels: keep.iter().flatten().cloned().collect(),
                baseline: pick(shares(&coarse(&baseline.counts))),
                current: pick(shares(&coarse(counts))),
            }
        }
        (
            FeatureBaseline::Categorical {
                categories,
                counts: base,
                ..
            },
            FeatureCounts::Categorical {
                counts: cur,
                unseen,
                ..
            },
        ) => {
            let shown = categories.len().min(MAX_CATEGORIES);
            let mut labels: Vec<String> = categories[..shown].to_vec();
            let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0) as f64;
            let mut b: Vec<f64> = (0..shown).map(|i| get(base, i)).collect();
            let mut c: Vec<f64> = (0..shown).map(|i| get(cur, i)).collect();
            if categories.len() > shown {
                labels.push("(other)".into());
                b.push((shown..categories.len()).map(|i| get(base, i)).sum());
                c.push((shown..categories.len()).map(|i| get(cur, i)).sum());
            }
            labels.push("(unseen)".into());
            b.push(0.0);
            c.push(*unseen as f64);
            let total_c: f64 = c.iter().sum();
            let mut current = shares(&c);
            if total_c == 0.0 {
                current = vec![0.0; c.len()];
            }
            Histogram {
                labels,
                baseline: shares(&b),
                current,
            }
        }
        _ => Histogram {
            labels: vec![],
            baseline: vec![],
            current: vec![],
        },
    }
}

/// Window rows of one granularity (and endpoint), oldest first.
fn load_windows(
    conn: &Connection,
    endpoint: Option<&str>,
    granularity_ms: i64,
) -> Result<Vec<(WindowKey, Window)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT endpoint, model, version, window_start, requests, errors, records,
                latency_sum_us, latency_max_us, aggregates
         FROM monitor_windows WHERE granularity_ms = ?1 AND (?2 IS NULL OR endpoint = ?2)
         ORDER BY window_start, endpoint, model, version",
    )?;
    let mut rows = stmt.query(params![granularity_ms, endpoint])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let key = WindowKey {
            endpoint: r.get(0)?,
            model: r.get(1)?,
            version: r.get(2)?,
            granularity_ms,
            window_start: r.get(3)?,
        };
        let json: String = r.get(9)?;
        let aggregates: WindowAggregates = serde_json::from_str(&json)
            .map_err(|e| Error::invalid(format!("monitor_windows row {key:?}: {e}")))?;
        out.push((
            key,
            Window {
                requests: r.get::<_, i64>(4)? as u64,
                errors: r.get::<_, i64>(5)? as u64,
                records: r.get::<_, i64>(6)? as u64,
                latency_sum_us: r.get::<_, i64>(7)? as u64,
                latency_max_us: r.get::<_, i64>(8)? as u64,
                aggregates,
            },
        ));
    }
    Ok(out)
}
