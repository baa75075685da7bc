//! The experiment-tracking store: experiments, runs with their parameters, tags, metric series and
//! artifacts, and the data versions runs were trained on. It plays the part of MLflow's tracking
//! store, embedded: [`SqliteStore`] keeps everything in one SQLite file (WAL, versioned migrations)
//! next to a content-addressed artifact folder ([`ArtifactStore`]).
//!
//! Front ends and the run lifecycle talk to the [`TrackingStore`] trait (with the registry's,
//! the [`Backend`]) only, so an MLflow tracking server ([`mlflow::MlflowStore`], over REST) sits
//! behind the same calls as the SQLite store. The types
//! here are also the stable JSON shape of `--json` output: field names are snake_case and must not
//! change without a migration of their consumers.
//!
//! Runs are written to by the process that trains them and read by any number of others. A run
//! whose process died cannot mark itself finished, so [`TrackingStore::reap_dead_runs`] settles
//! such runs from the outside (by pid on the same host, by heartbeat age elsewhere).

mod artifacts;
pub mod json_f64;
mod migrations;
pub mod mlflow;
pub mod open;
pub mod query;
mod registry;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::DataVersion;
use crate::error::{Error, Result};

pub use artifacts::ArtifactStore;
pub use migrations::{SCHEMA_VERSION, create_at_version};
pub use sqlite::SqliteStore;

/// Where a run is in its life. Stored and serialized upper-case, as MLflow spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    /// Every status, in lifecycle order (useful for filters and completion).
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// True once the run can no longer change status.
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;

    /// Accepts any case ("finished", "FINISHED"), since users type these in filters.
    fn from_str(s: &str) -> Result<Self> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown run status {s:?}; expected one of RUNNING, FINISHED, FAILED, KILLED"
                ))
            })
    }
}

/// A named group of runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
    pub run_count: i64,
}

/// Where and with what a run was produced; enough to tell whether a reproduction can match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub cerebro_version: String,
    pub os: String,
    pub arch: String,
    pub host: String,
    pub user: String,
    pub git_commit: Option<String>,
    pub git_branch: Option<String>,
    pub git_dirty: Option<bool>,
    pub config_hash: String,
    pub seed: u64,
}

/// Everything known about a run when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// Experiment name; created if it does not exist yet.
    pub experiment: String,
    pub name: String,
    pub model_kind: String,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub environment: Environment,
    /// Id of the [`DataVersion`] the run trains on, if known.
    pub data_version: Option<String>,
    /// Process that owns the run; used to reap it if that process dies.
    pub pid: u32,
    /// What started the run, e.g. `"reproduce:<run_id>"`.
    pub source: Option<String>,
}

/// One value of a metric series. `timestamp` is unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub key: String,
    /// NaN when undefined (`null` in JSON).
    #[serde(with = "json_f64::value")]
    pub value: f64,
    pub step: i64,
    pub timestamp: i64,
}

/// A run as shown in a list: identity, status, timing and its latest metrics and params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub experiment: String,
    pub name: String,
    pub model_kind: String,
    pub status: RunStatus,
    /// Unix milliseconds.
    pub start_time: i64,
    pub end_time: Option<i64>,
    /// `end_time - start_time`, once the run has ended.
    pub duration_ms: Option<i64>,
    pub data_version: Option<String>,
    /// Latest value per metric key: highest step, then latest timestamp. NaN when undefined
    /// (`null` in JSON).
    #[serde(with = "json_f64::map")]
    pub metrics: BTreeMap<String, f64>,
    pub params: BTreeMap<String, String>,
    /// The run's tags (on an MLflow server without cerebro's `cerebro.run.*` bookkeeping), for
    /// filters such as `tags.mlflow.parentRunId = '...'`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A file logged by a run, stored once by content in the [`ArtifactStore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    /// `"sha256:<hex>"`.
    pub digest: String,
    pub size: u64,
    /// Path relative to the store root, with `/` separators.
    pub path: String,
}

/// Everything about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    pub tags: BTreeMap<String, String>,
    pub environment: Environment,
    /// Sorted by name.
    pub artifacts: Vec<Artifact>,
    /// Why the run failed or was killed.
    pub error: Option<String>,
    pub pid: Option<u32>,
    pub host: String,
    pub last_heartbeat: Option<i64>,
    pub source: Option<String>,
}

/// A data version with the runs that trained on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVersionSummary {
    pub version: DataVersion,
    /// Run ids, oldest first.
    pub runs: Vec<String>,
}

/// A page of runs (see [`TrackingStore::list_runs_page`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Pass it back for the next page; `None` after the last.
    pub next_page_token: Option<String>,
}

/// Which runs [`TrackingStore::list_runs`] returns. The default is every run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    /// Experiment name.
    pub experiment: Option<String>,
    pub status: Option<RunStatus>,
    /// At most this many runs (the newest, or the first in `order_by`).
    pub limit: Option<usize>,
    /// A filter expression in the language of [`query`] (`metrics.roc_auc > 0.7 or ...`);
    /// a malformed one is [`Error::Invalid`] naming the column.
    pub filter: Option<String>,
    /// An ordering (`metrics.roc_auc DESC, params.max_depth`); default: newest first.
    pub order_by: Option<String>,
}

impl RunFilter {
    /// The parsed filter and ordering (errors name the column).
    pub fn parsed(&self) -> Result<(Option<query::Query>, Option<query::OrderBy>)> {
        let filter = self
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(query::parse_filter)
            .transpose()?;
        let order = self
            .order_by
            .as_deref()
            .filter(|o| !o.trim().is_empty())
            .map(query::parse_order_by)
            .transpose()?;
        Ok((filter, order))
    }
}

/// The tracking store as the rest of cerebro sees it. Writes take `&mut self`, reads `&self`.
///
/// Run ids are 32 lowercase hex characters. Lookups that say `id_or_prefix` also accept a unique
/// prefix of at least [`MIN_PREFIX_LEN`] characters; an ambiguous prefix is [`Error::Invalid`]
/// naming the candidates, an unknown one [`Error::NotFound`].
pub trait TrackingStore: Send {
    /// The id of the experiment called `name`, creating it if needed.
    fn get_or_create_experiment(&mut self, name: &str) -> Result<i64>;

    /// All experiments, oldest first, with their run counts.
    fn list_experiments(&self) -> Result<Vec<Experiment>>;

    /// Starts a run (status RUNNING, heartbeat now) and returns its new id.
    fn create_run(&mut self, new: &NewRun) -> Result<String>;

    /// Records that the run's process is still alive. Fails with [`Error::Invalid`] if the run is
    /// no longer RUNNING (for instance because it was reaped), so the owner can notice.
    fn heartbeat(&mut self, run_id: &str) -> Result<()>;

    /// Adds parameters. Parameters are write-once, as in MLflow: logging a key again with the same
    /// value is a no-op, with a different value an [`Error::Invalid`].
    fn log_params(&mut self, run_id: &str, params: &BTreeMap<String, String>) -> Result<()>;

    /// Sets tags, overwriting existing values.
    fn set_tags(&mut self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<()>;

    /// Appends metric points, all or none. Built for batches of thousands of points.
    fn log_metrics(&mut self, run_id: &str, points: &[MetricPoint]) -> Result<()>;

    /// Attaches an artifact (already stored by content) to a run; a second artifact with the same
    /// name replaces the first.
    fn log_artifact(&mut self, run_id: &str, artifact: &Artifact) -> Result<()>;

    /// Ends a RUNNING run with a terminal status and an optional error message.
    fn finish_run(&mut self, run_id: &str, status: RunStatus, error: Option<&str>) -> Result<()>;

    fn get_run(&self, id_or_prefix: &str) -> Result<RunDetail>;

    /// Runs matching `filter`, newest first.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>>;

    /// One page of [`list_runs`](Self::list_runs): at most `page_size` runs after `page_token`
    /// (`None` for the first page), and the token of the next page while there is one.
    /// `filter.limit` caps the whole listing. Front ends page through a remote store with this
    /// instead of waiting for every run.
    fn list_runs_page(
        &self,
        filter: &RunFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<RunPage> {
        let offset: usize = match page_token {
            None => 0,
            Some(t) => t
                .parse()
                .map_err(|_| Error::invalid(format!("not a page token of this store: `{t}`")))?,
        };
        let cap = filter.limit.unwrap_or(usize::MAX);
        let want = offset.saturating_add(page_size.max(1)).min(cap);
        let mut all = self.list_runs(&RunFilter {
            limit: Some(want),
            ..filter.clone()
        })?;
        let got = all.len();
        let runs = all.split_off(offset.min(got));
        let next_page_token = (got == want && want < cap).then(|| want.to_string());
        Ok(RunPage {
            runs,
            next_page_token,
        })
    }

    /// The whole series of one metric, by step then timestamp. Empty if the key was never logged.
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>>;

    /// Records a data version; returns false (and changes nothing) if its id is already known.
    fn record_data_version(&mut self, dv: &DataVersion) -> Result<bool>;

    fn get_data_version(&self, id_or_prefix: &str) -> Result<DataVersion>;

    /// All data versions, newest first, each with the runs that used it.
    fn list_data_versions(&self) -> Result<Vec<DataVersionSummary>>;

    /// Settles RUNNING runs whose process is gone: on this host, a dead pid makes the run KILLED;
    /// otherwise a heartbeat older than `stale_after_ms` makes it FAILED. Returns what changed.
    fn reap_dead_runs(&mut self, stale_after_ms: i64) -> Result<Vec<(String, RunStatus)>>;
}

/// Tracking and registry together, as a workspace holds them: the local [`SqliteStore`] or an
/// MLflow tracking server ([`mlflow::MlflowStore`]). Monitoring, serving and workflows keep their
/// own tables in the local SQLite file whichever backend this is.
pub trait Backend: TrackingStore + crate::registry::RegistryStore {
    /// Which backend this is, for headers and errors: `sqlite .cerebro/cerebro.db` or
    /// `mlflow http://127.0.0.1:5000`.
    fn label(&self) -> String;

    /// The local content-addressed artifact folder (for a remote backend, where downloaded
    /// artifacts are kept and new ones are staged before upload).
    fn artifacts(&self) -> &ArtifactStore;

    /// The bytes of artifact `name` of run `run_id` whose digest is `digest`: read from the local
    /// folder, downloaded first (and checked against the digest) on a remote backend.
    fn artifact_bytes(&self, run_id: Option<&str>, name: &str, digest: &str) -> Result<Vec<u8>>;

    /// Whether the local SQLite store was opened read-only (see `store::open`).
    fn read_only(&self) -> bool;
}

impl Backend for SqliteStore {
    fn read_only(&self) -> bool {
        self.access() == open::Access::ReadOnly
    }

    fn label(&self) -> String {
        format!("sqlite {}", self.db_path().display())
    }

    fn artifacts(&self) -> &ArtifactStore {
        SqliteStore::artifacts(self)
    }

    fn artifact_bytes(&self, _run_id: Option<&str>, _name: &str, digest: &str) -> Result<Vec<u8>> {
        SqliteStore::artifacts(self).get(digest)
    }
}

/// Opens the backend of a store folder: the SQLite store in `root`, or the MLflow server of
/// `remote` (which still keeps its data versions and artifact cache in `root`).
pub fn open_backend(
    root: &Path,
    remote: Option<&mlflow::MlflowTarget>,
) -> Result<Box<dyn Backend>> {
    match remote {
        None => Ok(Box::new(SqliteStore::open(root)?)),
        Some(target) => Ok(Box::new(mlflow::MlflowStore::open(root, target)?)),
    }
}

/// Shortest run or data-version id prefix accepted by lookups.
pub const MIN_PREFIX_LEN: usize = 4;

/// How every front end shows an id (defined in `names`, below `data`, which shows ids too).
pub use crate::names::short_id;

/// This machine's host name, as recorded on runs to decide whether their pid can be checked.
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates unless the
        // name is truncated, which the search for NUL below tolerates.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            let name = String::from_utf8_lossy(&buf[..len]).trim().to_string();
            if !name.is_empty() {
                return name;
            }
        }
        "localhost".to_string()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".to_string())
    }
}

/// Whether a process with this pid exists on this machine. Only a definite "no such process"
/// counts as dead: a process we may not signal (EPERM) is alive.
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // pid 0 and negative pids address process groups, never a single process.
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 performs the existence and permission checks without sending anything.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        // Without a cheap check, assume alive and let the heartbeat rule decide.
        let _ = pid;
        true
    }
}

/// A fresh run id: 128 random bits as 32 lowercase hex characters, like MLflow's `uuid4().hex`.
pub(crate) fn new_run_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_text_and_json() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(
            "finished".parse::<RunStatus>().unwrap(),
            RunStatus::Finished
        );
        assert!(matches!(
            "done".parse::<RunStatus>(),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn run_ids_are_32_lowercase_hex() {
        let id = new_run_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(id, new_run_id());
    }

    #[test]
    fn own_process_is_alive_and_host_has_a_name() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!host_name().is_empty());
    }
}
