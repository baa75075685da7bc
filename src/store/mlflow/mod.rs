//! An MLflow tracking server as cerebro's tracking and registry backend, over its REST API
//! (`/api/2.0/mlflow/...`, the same on the open-source server and on Databricks).
//!
//! How cerebro's records map onto MLflow's:
//! - experiments by name; runs keep MLflow's 32-hex ids, statuses (SCHEDULED reads as RUNNING),
//!   millisecond timestamps, params, tags and metric series with their steps;
//! - what MLflow has no field for rides in run tags under `cerebro.run.` (data version,
//!   environment, pid, host, heartbeat, error, source, artifact digests), which cerebro hides from
//!   a run's tags; the git commit also goes to MLflow's own `mlflow.source.git.commit`;
//! - the model artifact is uploaded through the artifact proxy
//!   (`/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<name>`, a server started
//!   with `--serve-artifacts`, the default since MLflow 2) and downloaded the same way into the
//!   local content-addressed folder, checked against its digest;
//! - registered models and versions are MLflow's; a version's digest, signature, data version and
//!   metrics ride in version tags (`cerebro.*`); the stages follow the aliases (`champion` is
//!   Production, `challenger` Staging; Archived is a `cerebro.stage` tag), so promotion sets the
//!   `champion` alias, with the gate evaluated locally; the audit trail is kept in registered
//!   model tags `cerebro.audit.NNNNNN`.
//!
//! Data versions (the snapshots are local files) and the artifact cache stay in the local store
//! folder. A call that fails with 429, 5xx or a connection error is retried with backoff; a dead
//! server gives an error naming its URI.

mod client;
mod import;
pub use import::VersionImport;
pub mod registry;
pub mod tracking;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};

pub use client::{CallError, Client};

use super::{ArtifactStore, Backend, SqliteStore, host_name};
use crate::error::{Error, Result};
// Doubles cross MLflow's proto JSON as numbers or "NaN" / "Infinity" / "-Infinity".
use super::json_f64::{double, proto as double_json};

/// An MLflow tracking server: its base URI and an optional bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowTarget {
    /// `http://HOST:PORT`, without a trailing slash.
    pub uri: String,
    /// Sent as `Authorization: Bearer <token>` (`MLFLOW_TRACKING_TOKEN`).
    pub token: Option<String>,
}

/// Run tags cerebro writes for what MLflow has no field for; hidden from a run's tags.
pub const RUN_TAG_PREFIX: &str = "cerebro.run.";
/// On a run exported by `cerebro sync export`: the id of the local run it copies.
pub const SOURCE_RUN_TAG: &str = "cerebro.source_run_id";
/// Most metrics in one `log-batch` (MLflow's limit; params and tags count against the 1,000
/// entities of a batch too).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params or tags in one `log-batch`.
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Page size of run searches.
pub const RUNS_PAGE: usize = 1000;

/// The tracking and registry store on an MLflow server. See the module documentation.
pub struct MlflowStore {
    client: Client,
    /// Data versions and the artifact cache.
    local: SqliteStore,
    /// Experiment id -> name, filled as experiments are seen.
    experiments: Mutex<HashMap<String, String>>,
    host: String,
}

impl MlflowStore {
    /// Opens the backend; `root` is the local store folder (data versions, artifact cache). No
    /// request is made until the first call.
    pub fn open(root: &Path, target: &MlflowTarget) -> Result<MlflowStore> {
        Ok(MlflowStore {
            client: Client::new(target),
            local: SqliteStore::open(root)?,
            experiments: Mutex::new(HashMap::new()),
            host: host_name(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The local store (data versions, artifact cache).
    pub fn local(&self) -> &SqliteStore {
        &self.local
    }

    fn err(&self, what: &'static str, name: &str, e: CallError) -> Error {
        client::to_error(self.client.uri(), what, name, e)
    }

    /// Downloads artifact `name` of MLflow run `run_id` (its raw bytes).
    pub fn download_artifact(&self, run_id: &str, name: &str) -> Result<Vec<u8>> {
        let root = self.artifact_root(run_id)?;
        self.client
            .download(&format!("{root}/{name}"))
            .map_err(|e| self.err("artifact", &format!("{run_id}/{name}"), e))
    }

    /// Uploads `bytes` as artifact `name` of MLflow run `run_id`.
    pub fn upload_artifact(&self, run_id: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let root = self.artifact_root(run_id)?;
        self.client
            .upload(&format!("{root}/{name}"), bytes)
            .map_err(|e| self.err("artifact", &format!("{run_id}/{name}"), e))
    }

    /// The proxy path of a run's artifact folder, from its `artifact_uri`
    /// (`mlflow-artifacts:/1/<run>/artifacts` -> `1/<run>/artifacts`).
    fn artifact_root(&self, run_id: &str) -> Result<String> {
        let run = self
            .client
            .get("runs/get", &[("run_id", run_id)])
            .map_err(|e| self.err("run", run_id, e))?;
        let uri = run["run"]["info"]["artifact_uri"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        proxy_path(&uri).ok_or_else(|| {
            Error::invalid(format!(
                "MLflow server {} does not proxy the artifacts of run {run_id} (artifact_uri `{uri}`): start it with `mlflow server --serve-artifacts`",
                self.client.uri()
            ))
        })
    }
}

/// `mlflow-artifacts:/a/b` or `mlflow-artifacts://host:port/a/b` -> `a/b`.
fn proxy_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(with_host) => &with_host[with_host.find('/')?..],
        None => rest,
    };
    Some(rest.trim_matches('/').to_string())
}

impl Backend for MlflowStore {
    fn read_only(&self) -> bool {
        self.local.read_only()
    }

    fn label(&self) -> String {
        format!("mlflow {}", self.client.uri())
    }

    fn artifacts(&self) -> &ArtifactStore {
        self.local.artifacts()
    }

    fn artifact_bytes(&self, run_id: Option<&str>, name: &str, digest: &str) -> Result<Vec<u8>> {
        let cache = self.local.artifacts();
        if !digest.is_empty() && cache.exists(digest) {
            return cache.get(digest);
        }
        let run_id = run_id.ok_or_else(|| {
            Error::invalid(format!(
                "artifact {name} ({digest}) is not in the local cache and names no run to download it from"
            ))
        })?;
        let bytes = self.download_artifact(run_id, name)?;
        let (stored, _) = cache.put_bytes(&bytes)?;
        if !digest.is_empty() && stored != digest {
            return Err(Error::invalid(format!(
                "artifact {name} of run {run_id} on {} has digest {stored}, not the recorded {digest}",
                self.client.uri()
            )));
        }
        Ok(bytes)
    }
}

/// `[{key, value}, ...]` -> map.
fn key_values(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|kv| {
                    Some((
                        kv.get("key")?.as_str()?.to_string(),
                        kv.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Map -> `[{key, value}, ...]`.
fn key_value_list<'a>(items: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// An integer MLflow sends as a number or a string (int64 fields are strings in proto JSON).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string for an MLflow search filter: `'...'` with quotes escaped.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_come_from_artifact_uris() {
        assert_eq!(
            proxy_path("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxy_path("mlflow-artifacts://127.0.0.1:5000/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(proxy_path("/tmp/mlruns/1/abc/artifacts"), None);
        assert_eq!(proxy_path("s3://bucket/1/abc"), None);
    }

    #[test]
    fn doubles_cross_proto_json_both_ways() {
        for x in [1.5, -0.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(double(&double_json(x)).to_bits(), x.to_bits());
        }
        assert!(double(&double_json(f64::NAN)).is_nan());
        assert_eq!(int(&json!("17")), Some(17));
        assert_eq!(int(&json!(17)), Some(17));
        assert_eq!(quoted("it's"), "'it\\'s'");
    }
}
