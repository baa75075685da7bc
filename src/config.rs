//! The typed `config.toml` of a workspace.
//!
//! Parsing is strict: unknown keys, wrong types and impossible values are errors that name the
//! file, line and column, with a hint (the closest known key for a typo). Checks that need the
//! data (a feature naming a column the file lacks) happen when the data is loaded, and also point
//! back into this file through [`Config::locate`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The whole `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub workspace: WorkspaceConfig,
    pub dataset: DatasetConfig,
    /// Preparation steps, applied in order to the raw table before the split.
    #[serde(default)]
    pub prepare: Vec<PrepareStep>,
    #[serde(default)]
    pub split: SplitConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// Default hyper-parameters per model kind (`[models.tree]`, `[models.gbt]`, ...).
    #[serde(default)]
    pub models: BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub serving: ServingConfig,
    /// Drift and quality monitoring of the served models (see `monitor::config`).
    #[serde(default)]
    pub monitoring: crate::monitor::config::MonitoringConfig,
    #[serde(default)]
    pub tracking: TrackingConfig,
    /// Named pipelines of steps, their schedules and triggers (see `workflow::config`).
    #[serde(default)]
    pub pipelines: BTreeMap<String, crate::workflow::config::PipelineConfig>,
    /// Key binding and colour overrides of the terminal UI.
    #[serde(default)]
    pub tui: TuiConfig,
    /// Webhooks: registry and alert events POSTed to these URLs (see `notify`).
    #[serde(default)]
    pub notifications: Vec<NotificationConfig>,
}

/// One `[[notifications]]` entry: a webhook receiver and the events it subscribes to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// Where events are POSTed: `http://` or `https://` with a host (a Slack incoming-webhook
    /// URL works as is). Unique among the entries: deliveries are recorded per URL.
    pub url: String,
    /// MLflow webhook event names (`model_version.created`, `model_version_alias.created`, ...)
    /// or cerebro's own (`alert.opened`, ...), or `"*"` for every event; see
    /// `notify::EventName`.
    pub events: Vec<String>,
    /// HMAC-SHA256 key: with it, every request carries MLflow's `X-MLflow-Signature` header.
    #[serde(default)]
    pub secret: Option<String>,
    /// Retries after a failed attempt (429, 5xx, timeout, refused connection), with
    /// exponential backoff; default 3, MLflow's `MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES`.
    #[serde(default = "default_notification_retries")]
    pub max_retries: u32,
    /// One attempt's timeout in milliseconds; default 30000, MLflow's
    /// `MLFLOW_WEBHOOK_REQUEST_TIMEOUT`.
    #[serde(default = "default_notification_timeout_ms")]
    pub timeout_ms: u64,
}

impl NotificationConfig {
    /// True if this receiver subscribes to the event named `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

fn default_notification_retries() -> u32 {
    3
}
fn default_notification_timeout_ms() -> u64 {
    30_000
}

/// `[tui]`: overrides on top of the embedded `assets/keymap.toml` and `assets/theme.toml`, in
/// their format: `[tui.keys.<context>]` maps a key to an action name, `[tui.theme.<style>]`
/// sets `fg`, `bg` and `modifiers`. The TUI checks names when it starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    #[serde(default)]
    pub keys: toml::Table,
    #[serde(default)]
    pub theme: toml::Table,
}

/// `[tracking]`: where runs and registered models live. Without `uri` (and without
/// `--tracking-uri` or `MLFLOW_TRACKING_URI`), the local SQLite store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrackingConfig {
    /// An MLflow tracking server, `http://HOST:PORT` (or `https://...`).
    #[serde(default)]
    pub uri: Option<String>,
}

/// `[serving]`: the HTTP endpoint of `cerebro serve` (see `serve` for the API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    /// Address to listen on. Anything but a loopback address needs a bearer token.
    #[serde(default = "default_serving_bind")]
    pub bind: String,
    /// Registered model to serve; `--model` overrides it. Without either, the only registered
    /// model is served.
    #[serde(default)]
    pub model: Option<String>,
    /// Endpoint name (in URLs, the inference log and the store); default: the model name.
    #[serde(default)]
    pub name: Option<String>,
    /// Share of records routed to the Staging (challenger) version, in [0, 1]; 0 serves
    /// Production only.
    #[serde(default)]
    pub challenger_share: f64,
    /// Most records accepted in one request.
    #[serde(default = "default_serving_max_rows")]
    pub max_rows: usize,
    /// Largest request body accepted, in bytes (larger ones get 413).
    #[serde(default = "default_serving_max_body")]
    pub max_body_bytes: usize,
    /// Bearer token required on every route but `/ping` and `/health`
    /// (`CEREBRO_SERVING_TOKEN` overrides it).
    #[serde(default)]
    pub token: Option<String>,
    /// Inference log folder, relative to the config; each endpoint writes `<log_dir>/<name>/`.
    #[serde(default = "default_serving_log_dir")]
    pub log_dir: PathBuf,
    /// The log writer flushes buffered lines at least this often, in milliseconds.
    #[serde(default = "default_serving_flush_ms")]
    pub log_flush_ms: u64,
    /// A log file is closed and a new one started past this size, in bytes.
    #[serde(default = "default_serving_rotate_bytes")]
    pub log_rotate_bytes: u64,
    /// ... or past this age, in seconds.
    #[serde(default = "default_serving_rotate_seconds")]
    pub log_rotate_seconds: u64,
    /// How often the registry is polled for a new Production or Staging version, in ms.
    #[serde(default = "default_serving_reload_ms")]
    pub reload_poll_ms: u64,
    /// A request whose body has not fully arrived after this many ms is answered 408, so a
    /// slow or stalled client cannot hold a request (or a graceful shutdown) open.
    #[serde(default = "default_serving_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// A connection must complete a request head within this many ms of opening (or of the
    /// first byte of a later request on it); otherwise it is closed.
    #[serde(default = "default_serving_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// A keep-alive connection idle (no request, or a response its client does not read) this
    /// many ms is closed.
    #[serde(default = "default_serving_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Most connections open at once (also capped below the process's file-descriptor limit);
    /// one more is answered 503 and closed.
    #[serde(default = "default_serving_max_connections")]
    pub max_connections: usize,
    /// What the endpoint does while the inference log cannot be written: `degrade` (answer
    /// requests, keep their lines in memory to retry, report the loss) or `refuse` (answer 503
    /// to prediction requests until the log can be written again).
    #[serde(default)]
    pub log_failure: LogFailure,
}

/// `serving.log_failure`: the policy while the inference log cannot be written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFailure {
    /// Keep answering; retry the unwritten lines; report what could not be kept.
    #[default]
    Degrade,
    /// Answer prediction requests 503 while the log is failing.
    Refuse,
}

impl Default for ServingConfig {
    fn default() -> Self {
        Self {
            bind: default_serving_bind(),
            model: None,
            name: None,
            challenger_share: 0.0,
            max_rows: default_serving_max_rows(),
            max_body_bytes: default_serving_max_body(),
            token: None,
            log_dir: default_serving_log_dir(),
            log_flush_ms: default_serving_flush_ms(),
            log_rotate_bytes: default_serving_rotate_bytes(),
            log_rotate_seconds: default_serving_rotate_seconds(),
            reload_poll_ms: default_serving_reload_ms(),
            body_timeout_ms: default_serving_body_timeout_ms(),
            header_timeout_ms: default_serving_header_timeout_ms(),
            idle_timeout_ms: default_serving_idle_timeout_ms(),
            max_connections: default_serving_max_connections(),
            log_failure: LogFailure::default(),
        }
    }
}

fn default_serving_bind() -> String {
    "127.0.0.1:5000".into()
}
fn default_serving_max_rows() -> usize {
    10_000
}
fn default_serving_max_body() -> usize {
    10 * 1024 * 1024
}
fn default_serving_log_dir() -> PathBuf {
    PathBuf::from("data/inference")
}
fn default_serving_flush_ms() -> u64 {
    100
}
fn default_serving_rotate_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_serving_rotate_seconds() -> u64 {
    3600
}
fn default_serving_reload_ms() -> u64 {
    250
}
fn default_serving_body_timeout_ms() -> u64 {
    10_000
}
fn default_serving_header_timeout_ms() -> u64 {
    10_000
}
fn default_serving_idle_timeout_ms() -> u64 {
    60_000
}
fn default_serving_max_connections() -> usize {
    1024
}

/// `[registry]`: the promotion gate, by default and per registered model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Gate of every model without its own.
    #[serde(default)]
    pub gate: GateConfig,
    /// Per-model gates (`[registry.gates.<model name>]`), replacing the default.
    #[serde(default)]
    pub gates: BTreeMap<String, GateConfig>,
}

impl RegistryConfig {
    pub fn gate_for(&self, model: &str) -> &GateConfig {
        self.gates.get(model).unwrap_or(&self.gate)
    }
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// True when `candidate` beats `best` (None: nothing yet) in this direction. An undefined
    /// value (NaN) never wins and loses to any defined one, so picking "the best run" cannot
    /// land on a run whose metric is undefined.
    pub fn better(self, candidate: f64, best: Option<f64>) -> bool {
        if candidate.is_nan() {
            return false;
        }
        match best {
            None => true,
            Some(b) if b.is_nan() => true,
            Some(b) => match self {
                Direction::Maximize => candidate > b,
                Direction::Minimize => candidate < b,
            },
        }
    }
}

/// A promotion gate: the candidate must reach `threshold` and beat the current Production
/// version by `min_improvement` (absolute) and `min_relative_improvement` (a share of the
/// champion's value), both measured on the candidate's test data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    #[serde(default = "default_gate_metric")]
    pub metric: String,
    #[serde(default = "default_direction")]
    pub direction: Direction,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub min_improvement: f64,
    #[serde(default)]
    pub min_relative_improvement: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            metric: default_gate_metric(),
            direction: default_direction(),
            threshold: None,
            min_improvement: 0.0,
            min_relative_improvement: 0.0,
        }
    }
}

fn default_gate_metric() -> String {
    "roc_auc".into()
}
fn default_direction() -> Direction {
    Direction::Maximize
}

/// Metrics a gate can use (computed on the test data by `train::metrics::evaluate`).
pub const GATE_METRICS: &[&str] = &[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Shown in headers and reports.
    #[serde(default = "default_workspace_name")]
    pub name: String,
    /// The store folder, relative to the config file.
    #[serde(default = "default_store")]
    pub store: PathBuf,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            name: default_workspace_name(),
            store: default_store(),
        }
    }
}

fn default_workspace_name() -> String {
    "cerebro".into()
}
fn default_store() -> PathBuf {
    PathBuf::from(".cerebro")
}

/// File format of the dataset.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    Csv,
    Parquet,
}

/// Column type overrides for schema inference.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Str,
    Int,
    Float,
    Bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// CSV or Parquet file, relative to the config file.
    pub path: PathBuf,
    /// Defaults to the file extension.
    #[serde(default)]
    pub format: Option<DataFormat>,
    /// A column that identifies a record (kept through preparation, used to join labels later).
    #[serde(default)]
    pub id: Option<String>,
    /// The column to predict.
    pub target: String,
    /// The value of `target` (after preparation) that counts as the positive class (1).
    /// Every other non-missing value is the negative class (0).
    pub positive: String,
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Type overrides for schema inference, column name -> str|int|float|bool.
    #[serde(default)]
    pub schema: BTreeMap<String, ColumnType>,
    /// CSV field separator; sniffed from the first lines when unset.
    #[serde(default)]
    pub delimiter: Option<Delimiter>,
    /// CSV text encoding.
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Decimal separator of numbers in a CSV file; unset: `,` when the delimiter is `;` (the
    /// spreadsheet convention where the comma is the decimal mark), else `.`.
    #[serde(default)]
    pub decimal: Option<Decimal>,
}

/// A CSV field separator: `,`, `;`, a tab (`"\t"` or `"tab"`) or `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Delimiter(pub u8);

impl Delimiter {
    /// The separators the sniffer tries, in order of preference on a tie.
    pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

    /// How messages show it: `,` `;` `|` or `tab`.
    pub fn name(self) -> &'static str {
        match self.0 {
            b',' => ",",
            b';' => ";",
            b'\t' => "tab",
            _ => "|",
        }
    }
}

impl TryFrom<String> for Delimiter {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.as_str() {
            "," => Ok(Delimiter(b',')),
            ";" => Ok(Delimiter(b';')),
            "\t" | "\\t" | "tab" => Ok(Delimiter(b'\t')),
            "|" => Ok(Delimiter(b'|')),
            other => Err(format!(
                "delimiter `{other}` is not supported: use \",\", \";\", \"\\t\" (tab) or \"|\""
            )),
        }
    }
}

impl From<Delimiter> for String {
    fn from(d: Delimiter) -> String {
        match d.0 {
            b'\t' => "\t".into(),
            b => char::from(b).to_string(),
        }
    }
}

/// The text encoding of a CSV file. Latin-1 is read as its superset Windows-1252, as browsers
/// do (the WHATWG Encoding Standard maps the `latin1` label to `windows-1252`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(
        rename = "latin-1",
        alias = "latin1",
        alias = "iso-8859-1",
        alias = "ISO-8859-1"
    )]
    Latin1,
    #[serde(rename = "cp1252", alias = "windows-1252", alias = "CP1252")]
    Cp1252,
}

/// The decimal separator of numbers in a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decimal {
    #[serde(rename = ".")]
    Point,
    #[serde(rename = ",")]
    Comma,
}

impl DatasetConfig {
    pub fn features(&self) -> impl Iterator<Item = &String> {
        self.numeric.iter().chain(self.categorical.iter())
    }
}

pub use crate::data::steps::{Bucket, FitStatisticsOn, PrepareStep};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of rows held out for the test set, strictly between 0 and 1.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Keep the class balance equal in train and test.
    #[serde(default = "default_true")]
    pub stratify: bool,
    /// Which rows the preparation steps learn their statistics (medians, frequent levels) from.
    #[serde(default)]
    pub fit_statistics_on: FitStatisticsOn,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            test_fraction: default_test_fraction(),
            seed: default_seed(),
            stratify: true,
            fit_statistics_on: FitStatisticsOn::default(),
        }
    }
}

fn default_test_fraction() -> f64 {
    0.2
}
fn default_seed() -> u64 {
    42
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Experiment that runs are logged to unless `--experiment` says otherwise.
    #[serde(default = "default_experiment")]
    pub experiment: String,
    /// Model kind trained by `cerebro train` without `--model`.
    #[serde(default = "default_model")]
    pub model: String,
    /// Seed for model randomness (bootstrap samples, feature sampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Sweeps run at most this many jobs at once; 0 means the number of cores.
    #[serde(default)]
    pub max_parallel: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            experiment: default_experiment(),
            model: default_model(),
            seed: default_seed(),
            max_parallel: 0,
        }
    }
}

fn default_experiment() -> String {
    "default".into()
}
fn default_model() -> String {
    "gbt".into()
}

/// A config file as loaded: the typed value plus where it came from, for error messages.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    pub source: String,
    /// sha256 of the file's bytes, recorded with every run.
    pub hash: String,
}

impl LoadedConfig {
    /// Folder the config file lives in; relative paths in the config are resolved against it.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub fn dataset_path(&self) -> PathBuf {
        self.dir().join(&self.config.dataset.path)
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir().join(&self.config.workspace.store)
    }

    /// An error pointing at `path` (dotted, e.g. `dataset.numeric` or `prepare.2.column`) in the
    /// config file; falls back to line 1 when the key is absent (a default was used).
    pub fn error_at(&self, path: &str, message: impl Into<String>, hint: Option<String>) -> Error {
        let (line, column) = locate(&self.source, path).unwrap_or((1, 1));
        Error::Config {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
            hint,
        }
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<LoadedConfig> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let source = String::from_utf8(bytes).map_err(|e| {
            let (line, column) = line_col(e.as_bytes(), e.utf8_error().valid_up_to());
            Error::Config {
                file: path.to_path_buf(),
                line,
                column,
                message: "config is not valid UTF-8".into(),
                hint: None,
            }
        })?;
        Self::parse(path, source)
    }

    /// Parses `source` as if read from `path`.
    pub fn parse(path: &Path, source: String) -> Result<LoadedConfig> {
        let config: Config = toml::from_str(&source).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_col(source.as_bytes(), s.start))
                .unwrap_or((1, 1));
            let message = e.message().trim().to_string();
            let hint = hint_for(&message);
            Error::Config {
                file: path.to_path_buf(),
                line,
                column,
                message,
                hint,
            }
        })?;
        let hash = format!("{:x}", Sha256::digest(source.as_bytes()));
        let loaded = LoadedConfig {
            config,
            path: path.to_path_buf(),
            source,
            hash,
        };
        loaded.validate()?;
        Ok(loaded)
    }
}

impl LoadedConfig {
    /// Checks values that parse but make no sense.
    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let f = c.split.test_fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(self.error_at(
                "split.test_fraction",
                format!("test_fraction must be strictly between 0 and 1, got {f}"),
                Some("0.2 holds out a fifth of the rows".into()),
            ));
        }
        if c.dataset.target.trim().is_empty() {
            return Err(self.error_at("dataset.target", "target must name a column", None));
        }
        if c.dataset.numeric.is_empty() && c.dataset.categorical.is_empty() {
            return Err(self.error_at(
                "dataset",
                "no features: list at least one column in `numeric` or `categorical`",
                None,
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (key, list) in [
            ("dataset.numeric", &c.dataset.numeric),
            ("dataset.categorical", &c.dataset.categorical),
        ] {
            for col in list {
                if col == &c.dataset.target {
                    return Err(self.error_at(
                        key,
                        format!("the target `{col}` cannot also be a feature"),
                        None,
                    ));
                }
                if !seen.insert(col) {
                    return Err(self.error_at(
                        key,
                        format!("column `{col}` is listed twice among the features"),
                        None,
                    ));
                }
            }
        }
        for (i, step) in c.prepare.iter().enumerate() {
            let at = format!("prepare.{i}");
            match step {
                PrepareStep::GroupRare { min_count: 0, .. } => {
                    return Err(self.error_at(
                        &format!("{at}.min_count"),
                        "min_count must be at least 1",
                        None,
                    ));
                }
                PrepareStep::KeywordBucket { buckets, .. } if buckets.is_empty() => {
                    return Err(self.error_at(
                        &format!("{at}.buckets"),
                        "keyword_bucket needs at least one bucket",
                        None,
                    ));
                }
                PrepareStep::ContainsFlag { substring, .. } if substring.is_empty() => {
                    return Err(self.error_at(
                        &format!("{at}.substring"),
                        "substring must not be empty",
                        None,
                    ));
                }
                _ => {}
            }
            for input in step.inputs() {
                if input.trim().is_empty() {
                    return Err(self.error_at(&at, "a step names an empty column", None));
                }
            }
        }
        if !crate::train::ModelKind::NAMES.contains(&c.train.model.as_str()) {
            return Err(self.error_at(
                "train.model",
                format!("unknown model kind `{}`", c.train.model),
                Some(format!(
                    "one of {}",
                    crate::train::ModelKind::NAMES.join(", ")
                )),
            ));
        }
        let gates = std::iter::once(("registry.gate".to_string(), &c.registry.gate)).chain(
            c.registry
                .gates
                .iter()
                .map(|(name, g)| (format!("registry.gates.{name}"), g)),
        );
        for (at, gate) in gates {
            if !GATE_METRICS.contains(&gate.metric.as_str()) {
                return Err(self.error_at(
                    &format!("{at}.metric"),
                    format!("unknown gate metric `{}`", gate.metric),
                    Some(format!("one of {}", GATE_METRICS.join(", "))),
                ));
            }
            if gate.min_improvement < 0.0 || gate.min_relative_improvement < 0.0 {
                return Err(self.error_at(
                    &at,
                    "min_improvement and min_relative_improvement must be >= 0",
                    None,
                ));
            }
        }
        let s = &c.serving;
        if !(0.0..=1.0).contains(&s.challenger_share) {
            return Err(self.error_at(
                "serving.challenger_share",
                format!(
                    "challenger_share must be between 0 and 1, got {}",
                    s.challenger_share
                ),
                Some("0.1 sends a tenth of the records to the Staging version".into()),
            ));
        }
        for (key, value) in [
            ("serving.max_rows", s.max_rows as u64),
            ("serving.max_body_bytes", s.max_body_bytes as u64),
            ("serving.log_flush_ms", s.log_flush_ms),
            ("serving.log_rotate_bytes", s.log_rotate_bytes),
            ("serving.log_rotate_seconds", s.log_rotate_seconds),
            ("serving.reload_poll_ms", s.reload_poll_ms),
            ("serving.body_timeout_ms", s.body_timeout_ms),
            ("serving.header_timeout_ms", s.header_timeout_ms),
            ("serving.idle_timeout_ms", s.idle_timeout_ms),
            ("serving.max_connections", s.max_connections as u64),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1", None));
            }
        }
        if s.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(self.error_at(
                "serving.token",
                "an empty token would let anyone in",
                Some("remove the key or set a long random string".into()),
            ));
        }
        self.validate_notifications()?;
        if let Some((key, message, hint)) = c.monitoring.problem() {
            return Err(self.error_at(&key, message, hint));
        }
        if let Err(p) = crate::workflow::config::validate(&c.pipelines) {
            return Err(self.error_at(&p.at, p.message, p.hint));
        }
        for (kind, table) in &c.models {
            let Ok(k) = kind.parse::<crate::train::ModelKind>() else {
                return Err(self.error_at(
                    &format!("models.{kind}"),
                    format!("unknown model kind `{kind}`"),
                    Some(format!(
                        "one of {}",
                        crate::train::ModelKind::NAMES.join(", ")
                    )),
                ));
            };
            if let Err(e) = crate::train::ModelParams::from_table(k, table) {
                return Err(self.error_at(&format!("models.{kind}"), e.to_string(), None));
            }
        }
        Ok(())
    }
}

impl LoadedConfig {
    /// `[[notifications]]`: a usable URL (unique), known event names, a non-empty secret.
    fn validate_notifications(&self) -> Result<()> {
        let mut urls = std::collections::BTreeSet::new();
        for (i, n) in self.config.notifications.iter().enumerate() {
            let at = |key: &str| format!("notifications.{i}.{key}");
            let url = n.url.trim();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
            match host {
                None => {
                    return Err(self.error_at(
                        &at("url"),
                        format!("webhook url `{url}` is not http:// or https://"),
                        Some("e.g. https://hooks.slack.com/services/... or http://127.0.0.1:8080/hook".into()),
                    ));
                }
                Some(h) if h.is_empty() || h.starts_with(':') || url != n.url => {
                    return Err(self.error_at(
                        &at("url"),
                        format!(
                            "webhook url `{}` has no host (or surrounding spaces)",
                            n.url
                        ),
                        None,
                    ));
                }
                _ => {}
            }
            if !urls.insert(url) {
                return Err(self.error_at(
                    &at("url"),
                    format!("webhook url `{url}` is listed twice in [[notifications]]"),
                    Some("list its events in one entry".into()),
                ));
            }
            if n.events.is_empty() {
                return Err(self.error_at(
                    &at("events"),
                    "events is empty: this webhook would receive nothing",
                    Some(format!(
                        "one or more of {}, or \"*\" for all",
                        crate::notify::event::EventName::NAMES.join(", ")
                    )),
                ));
            }
            for e in &n.events {
                if e != "*" && e.parse::<crate::notify::event::EventName>().is_err() {
                    let hint = crate::error::closest(e, crate::notify::event::EventName::NAMES)
                        .map(|c| format!("did you mean `{c}`?"))
                        .unwrap_or_else(|| {
                            format!(
                                "one of {}, or \"*\" for all",
                                crate::notify::event::EventName::NAMES.join(", ")
                            )
                        });
                    return Err(self.error_at(
                        &at("events"),
                        format!("unknown webhook event `{e}`"),
                        Some(hint),
                    ));
                }
            }
            if n.secret.as_deref().is_some_and(|s| s.is_empty()) {
                return Err(self.error_at(
                    &at("secret"),
                    "an empty secret signs nothing",
                    Some("remove the key, or set a long random string".into()),
                ));
            }
            if n.timeout_ms == 0 {
                return Err(self.error_at(&at("timeout_ms"), "must be at least 1", None));
            }
            if n.max_retries > 10 {
                return Err(self.error_at(
                    &at("max_retries"),
                    format!(
                        "max_retries is {}; at most 10 (backoff doubles each time, up to 60 s)",
                        n.max_retries
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
pub fn line_col(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Line and column of a dotted key path (`split.test_fraction`, `prepare.2.column`) in a TOML
/// document, from the parser's spans. Numeric segments index arrays (of tables).
pub fn locate(source: &str, path: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(source).ok()?;
    let mut table = doc.get_ref();
    let mut span = None;
    let mut segments = path.split('.').peekable();
    let mut current: Option<&toml::Spanned<DeValue>> = None;
    while let Some(seg) = segments.next() {
        let value = match current {
            None => {
                let (k, v) = table.iter().find(|(k, _)| k.get_ref() == seg)?;
                span = Some(k.span());
                v
            }
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => {
                    table = t;
                    let (k, v) = table.iter().find(|(k, _)| k.get_ref() == seg)?;
                    span = Some(k.span());
                    v
                }
                DeValue::Array(items) => {
                    let i: usize = seg.parse().ok()?;
                    let item = items.get(i)?;
                    span = Some(item.span());
                    item
                }
                _ => return None,
            },
        };
        current = Some(value);
        if segments.peek().is_none() {
            break;
        }
    }
    let span = span?;
    Some(line_col(source.as_bytes(), span.start))
}

/// Every key the config accepts, by section, for "did you mean" hints on typos.
const KNOWN_KEYS: &[&str] = &[
    "workspace",
    "dataset",
    "prepare",
    "split",
    "train",
    "models",
    "name",
    "store",
    "path",
    "format",
    "id",
    "target",
    "positive",
    "numeric",
    "categorical",
    "schema",
    "test_fraction",
    "seed",
    "stratify",
    "experiment",
    "model",
    "max_parallel",
    "step",
    "columns",
    "column",
    "suffix",
    "value",
    "values",
    "min_count",
    "other",
    "output",
    "buckets",
    "label",
    "keywords",
    "default",
    "substring",
    "case_sensitive",
    "mapping",
    "missing",
    "registry",
    "gate",
    "gates",
    "metric",
    "direction",
    "threshold",
    "min_improvement",
    "min_relative_improvement",
    "serving",
    "bind",
    "challenger_share",
    "max_rows",
    "max_body_bytes",
    "token",
    "log_dir",
    "log_flush_ms",
    "log_rotate_bytes",
    "log_rotate_seconds",
    "reload_poll_ms",
    "body_timeout_ms",
    "header_timeout_ms",
    "idle_timeout_ms",
    "max_connections",
    "log_failure",
    "notifications",
    "url",
    "events",
    "secret",
    "max_retries",
    "timeout_ms",
];

/// A "did you mean" for serde's `unknown field `x`` and `unknown variant `x`` messages.
fn hint_for(message: &str) -> Option<String> {
    let unknown = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let name = unknown.split('`').next()?;
    // serde lists the expected names after "expected"; prefer those, then the global list.
    let expected: Vec<&str> = message
        .split("expected")
        .nth(1)
        .map(|rest| rest.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    let candidates: Vec<&str> = if expected.is_empty() {
        KNOWN_KEYS.to_vec()
    } else {
        expected
    };
    crate::error::closest(name, &candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The commented starter config written by `cerebro init`.
pub const STARTER: &str = include_str!("../assets/starter-config.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undefined_value_never_wins() {
        let nan = f64::NAN;
        assert!(Direction::Maximize.better(0.6, None));
        assert!(Direction::Maximize.better(0.6, Some(nan)));
        assert!(!Direction::Maximize.better(nan, Some(0.1)));
        assert!(!Direction::Maximize.better(nan, None));
        assert!(!Direction::Minimize.better(nan, Some(0.9)));
        assert!(Direction::Minimize.better(0.2, Some(0.3)));
        assert!(!Direction::Maximize.better(0.2, Some(0.3)));
        assert!(
            !Direction::Maximize.better(0.3, Some(0.3)),
            "ties keep the first"
        );
    }

    fn parse(src: &str) -> Result<LoadedConfig> {
        Config::parse(Path::new("config.toml"), src.to_string())
    }

    const MINIMAL: &str = r#"
[dataset]
path = "data.csv"
target = "y"
positive = "yes"
numeric = ["a"]
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap().config;
        assert_eq!(c.split.test_fraction, 0.2);
        assert!(c.split.stratify);
        assert_eq!(c.workspace.store, PathBuf::from(".cerebro"));
    }

    #[test]
    fn typo_names_line_column_and_hint() {
        let src = format!("{MINIMAL}\n[split]\ntset_fraction = 0.3\n");
        let err = parse(&src).unwrap_err().to_string();
        assert!(err.starts_with("config.toml:9:1:"), "{err}");
        assert!(err.contains("tset_fraction"), "{err}");
        assert!(err.contains("did you mean `test_fraction`?"), "{err}");
    }

    #[test]
    fn impossible_value_is_located() {
        let src = format!("{MINIMAL}\n[split]\ntest_fraction = 1.5\n");
        let err = parse(&src).unwrap_err().to_string();
        assert!(err.starts_with("config.toml:9:1:"), "{err}");
        assert!(err.contains("between 0 and 1"), "{err}");
    }

    #[test]
    fn wrong_type_is_located() {
        let src = format!("{MINIMAL}\n[split]\nseed = \"forty-two\"\n");
        let err = parse(&src).unwrap_err().to_string();
        assert!(err.starts_with("config.toml:9:8:"), "{err}");
    }

    #[test]
    fn locate_finds_array_of_tables() {
        let src = format!(
            "{MINIMAL}\n[[prepare]]\nstep = \"fill_median\"\ncolumns = [\"a\"]\n\n[[prepare]]\nstep = \"drop_rows\"\ncolumn = \"y\"\n"
        );
        assert_eq!(locate(&src, "prepare.1.column"), Some((14, 1)));
        assert_eq!(locate(&src, "dataset.numeric"), Some((6, 1)));
    }

    #[test]
    fn starter_config_parses() {
        parse(STARTER).unwrap();
    }
}
