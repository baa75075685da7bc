//! A workspace: a folder with a `config.toml` and its store (default `.cerebro/` beside it).
//!
//! Opening one loads and validates the config, opens the tracking backend and reaps runs left
//! RUNNING by processes that died, so no run stays RUNNING forever.
//!
//! The backend (runs, metrics, registered models) is the local SQLite store unless a tracking
//! server is named: `--tracking-uri` (see [`set_tracking_uri_override`]), then the
//! `MLFLOW_TRACKING_URI` environment variable (with `MLFLOW_TRACKING_TOKEN` as a bearer token),
//! then `[tracking] uri` in `config.toml`. Data versions, the artifact cache and the tables of
//! monitoring, serving and workflows stay in the local store folder on either backend.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::{Config, LoadedConfig};
use crate::data::{self, DataVersion, Prepared};
use crate::error::{Error, Result};
use crate::store::mlflow::MlflowTarget;
use crate::store::{Backend, RunStatus, open_backend};

/// Runs whose heartbeat is older than this are failed even if their pid looks alive
/// (pid reuse, or a process on another host sharing the folder).
pub const STALE_HEARTBEAT_MS: i64 = 120_000;

/// The file name of the local SQLite database inside the store folder.
const DB_FILE: &str = "cerebro.db";

static TRACKING_URI_OVERRIDE: OnceLock<String> = OnceLock::new();

/// Sets the tracking URI every later [`Workspace::open`] of this process uses, ahead of the
/// environment and the config (the CLI's `--tracking-uri`). Only the first call counts.
pub fn set_tracking_uri_override(uri: &str) {
    let _ = TRACKING_URI_OVERRIDE.set(uri.to_string());
}

pub struct Workspace {
    pub config: LoadedConfig,
    /// Runs and the registry: the local SQLite store or an MLflow server.
    pub store: Box<dyn Backend>,
    /// The MLflow server behind `store`, if it is one.
    pub tracking: Option<MlflowTarget>,
    /// Runs this open found dead and closed.
    pub reaped: Vec<(String, RunStatus)>,
}

impl Workspace {
    pub fn open(config_path: &Path) -> Result<Workspace> {
        let config = Config::load(config_path)?;
        let tracking = tracking_target(&config)?;
        let mut store = open_backend(&config.store_path(), tracking.as_ref())?;
        let reaped = store.reap_dead_runs(STALE_HEARTBEAT_MS)?;
        for (run, status) in &reaped {
            tracing::warn!(run = %run, status = status.as_str(), "closed a run whose process died");
        }
        Ok(Workspace {
            config,
            store,
            tracking,
            reaped,
        })
    }

    /// Whether the local store can only be read (its file, folder or mount is read-only; see
    /// `store::open`): read commands work, writes fail naming the file.
    pub fn read_only(&self) -> bool {
        self.store.read_only()
    }

    pub fn store_root(&self) -> PathBuf {
        self.config.store_path()
    }

    /// The local SQLite database (monitoring, serving and workflow tables live here on either
    /// backend; on the SQLite backend, runs and the registry too).
    pub fn db_path(&self) -> PathBuf {
        self.store_root().join(DB_FILE)
    }

    /// A short name of the backend for headers: `sqlite .cerebro/cerebro.db` (relative to the
    /// config's folder) or `mlflow http://127.0.0.1:5000`.
    pub fn backend_label(&self) -> String {
        match &self.tracking {
            Some(t) => format!("mlflow {}", t.uri),
            None => {
                let db = self.db_path();
                let dir = self.config.dir();
                let shown = db.strip_prefix(&dir).unwrap_or(&db);
                format!("sqlite {}", shown.display())
            }
        }
    }

    /// Prepares the configured data, snapshots the version once and records it.
    pub fn prepare_data(&mut self) -> Result<(Prepared, DataVersion, bool)> {
        let prepared = data::prepare(&self.config)?;
        let (version, created) = data::snapshot(&self.store_root(), &self.config, &prepared)?;
        let recorded = self.store.record_data_version(&version)?;
        Ok((prepared, version, created || recorded))
    }
}

/// The local SQLite database of the workspace `config` describes (created and migrated if
/// needed), without opening the tracking backend: what the outbox, monitoring and serving
/// tables live in.
pub fn local_db(config: &LoadedConfig) -> Result<PathBuf> {
    Ok(crate::store::SqliteStore::open(&config.store_path())?
        .db_path()
        .to_path_buf())
}

/// The webhook deliverer of the workspace `config` describes, over its local database (see
/// [`crate::notify`]).
pub fn notifier(config: &LoadedConfig) -> Result<crate::notify::Deliverer> {
    Ok(crate::notify::Deliverer::new(
        &local_db(config)?,
        config.config.notifications.clone(),
    ))
}

/// The tracking server this workspace uses, if any: `--tracking-uri`, then
/// `MLFLOW_TRACKING_URI`, then `[tracking] uri`.
fn tracking_target(config: &LoadedConfig) -> Result<Option<MlflowTarget>> {
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let (uri, origin) = if let Some(uri) = TRACKING_URI_OVERRIDE.get() {
        (uri.clone(), "--tracking-uri")
    } else if let Some(uri) = env("MLFLOW_TRACKING_URI") {
        (uri, "MLFLOW_TRACKING_URI")
    } else if let Some(uri) = &config.config.tracking.uri {
        (uri.clone(), "[tracking] uri")
    } else {
        return Ok(None);
    };
    let uri = uri.trim().trim_end_matches('/').to_string();
    if uri.is_empty() || uri == "local" || uri == "sqlite" {
        return Ok(None);
    }
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        let message = format!(
            "tracking URI `{uri}` (from {origin}) is not an MLflow server: write http://HOST:PORT or https://HOST, or `local` for the SQLite store"
        );
        return Err(if origin == "[tracking] uri" {
            config.error_at("tracking.uri", message, None)
        } else {
            Error::invalid(message)
        });
    }
    Ok(Some(MlflowTarget {
        uri,
        token: env("MLFLOW_TRACKING_TOKEN"),
    }))
}
