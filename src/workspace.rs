//! A workspace: a folder with a `config.toml` and its store (default `.cerebro/` beside it).
//!
//! Opening one loads and validates the config, opens (and migrates) the store, and reaps runs
//! left RUNNING by processes that died, so no run stays RUNNING forever.

use std::path::{Path, PathBuf};

use crate::config::{Config, LoadedConfig};
use crate::data::{self, Prepared};
use crate::error::Result;
use crate::store::{DataVersion, RunStatus, SqliteStore, TrackingStore};

/// Runs whose heartbeat is older than this are failed even if their pid looks alive
/// (pid reuse, or a process on another host sharing the folder).
pub const STALE_HEARTBEAT_MS: i64 = 120_000;

pub struct Workspace {
    pub config: LoadedConfig,
    pub store: SqliteStore,
    /// Runs this open found dead and closed.
    pub reaped: Vec<(String, RunStatus)>,
}

impl Workspace {
    pub fn open(config_path: &Path) -> Result<Workspace> {
        let config = Config::load(config_path)?;
        let mut store = SqliteStore::open(&config.store_path())?;
        let reaped = store.reap_dead_runs(STALE_HEARTBEAT_MS)?;
        for (run, status) in &reaped {
            tracing::warn!(run = %run, status = status.as_str(), "closed a run whose process died");
        }
        Ok(Workspace {
            config,
            store,
            reaped,
        })
    }

    pub fn store_root(&self) -> PathBuf {
        self.config.store_path()
    }

    /// Prepares the configured data, snapshots the version once and records it.
    pub fn prepare_data(&mut self) -> Result<(Prepared, DataVersion, bool)> {
        let prepared = data::prepare(&self.config)?;
        let (version, created) = data::snapshot(&self.store_root(), &self.config, &prepared)?;
        let recorded = self.store.record_data_version(&version)?;
        Ok((prepared, version, created || recorded))
    }
}
