//! cerebro's core: everything the terminal UI and the headless CLI share. The core never touches
//! the terminal; `src/cli` and `src/tui` are thin front ends over these modules. Layers point
//! down and no two core files import each other around a loop (`tests/it/layers.rs` checks both);
//! `ARCHITECTURE.md` has the map.
//!
//! - [`clock`]: wall-clock time as the store keeps it (unix milliseconds).
//! - [`config`]: the typed `config.toml` of a workspace, with errors that name file, line and column.
//! - [`names`]: model, endpoint and alias names, experiment and run names, param and tag keys,
//!   parsed once into types that follow MLflow's rules.
//! - [`workspace`]: a folder with a `config.toml` and its store; opening one reaps dead runs.
//! - [`data`]: load (CSV, Parquet), profile, prepare, split, fingerprint and snapshot datasets;
//!   the demo data generator.
//! - [`train`]: model kinds, encoders, fitting, metrics and the versioned model artifact.
//! - [`store`]: the tracking store (SQLite, WAL, migrations) and content-addressed artifacts.
//! - [`batch`]: batch scoring of a file of raw records (`cerebro predict`), streamed in chunks.
//! - [`registry`]: registered models, versions, stages and aliases, the promotion gate, audit
//!   trail, rollback, lineage, export and import.
//! - [`track`]: the run lifecycle around a fit: lineage, environment, heartbeat, reproduction.
//! - [`jobs`]: background jobs with progress events, cancellation and bounded sweeps.
//! - [`tune`]: hyper-parameter search (random, TPE) with budgets, pruning and nested runs.
//! - [`demo`]: the workbench demo on an empty workspace: demo data, a few modest training
//!   requests, and registering and promoting the best run.
//! - [`process`]: child processes in their own process group, killed with everything they started.
//! - [`paths`]: user-supplied names and relative paths joined under their root, never outside.
//! - [`env`]: the environment recorded with each run (versions, host, user, git state).
//! - [`serve`]: the serving endpoint: MLflow-compatible REST API, A/B traffic split, hot reload,
//!   inference log, Prometheus metrics and endpoint status in the store.
//! - [`simulate`]: open-loop traffic to an endpoint from the test set, drift scenarios, late labels.
//! - [`monitor`]: inference-log monitoring: drift statistics over windows against the training data.
//! - [`sync`]: copy experiments, runs and registered versions to and from an MLflow server.
//! - [`notify`]: webhooks: registry and alert events in MLflow 3's webhook format, recorded in
//!   an outbox in the same transaction as the change and delivered (signed, retried) off the
//!   caller's path.
//! - [`workflow`]: pipelines of steps (a DAG in the config) run now, on a schedule or on a
//!   trigger (new file, monitoring alert, new Production version), with their history in the store.

pub mod batch;
pub mod clock;
pub mod config;
pub mod data;
pub mod demo;
pub mod env;
pub mod error;
pub mod jobs;
pub mod monitor;
pub mod names;
pub mod notify;
pub mod paths;
pub mod process;
pub mod registry;
pub mod serve;
pub mod simulate;
pub mod store;
pub mod sync;
pub mod track;
pub mod train;
pub mod tune;
pub mod workflow;
pub mod workspace;

pub use error::{Error, Result};
