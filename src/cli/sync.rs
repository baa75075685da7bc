//! `cerebro sync export --to URI` and `cerebro sync import --from URI`: copy the local store to
//! and from an MLflow tracking server (see `cerebro::sync`). Re-running either copies only what
//! is new.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::JsonFlag;
use super::output::{Table, print_json};
use cerebro::config::Config;
use cerebro::store::mlflow::MlflowTarget;
use cerebro::sync::{self, SyncReport};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Push local experiments, runs (params, tags, metric histories, artifacts) and registered
    /// versions (stages, aliases) to an MLflow server.
    Export {
        /// The MLflow server, http://HOST:PORT (MLFLOW_TRACKING_TOKEN is sent as a bearer token).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Pull an MLflow server's experiments, runs and registered versions into the local store.
    Import {
        /// The MLflow server, http://HOST:PORT.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub fn run(config: &Path, cmd: SyncCommand) -> Result<i32> {
    let loaded = Config::load(config)?;
    let root = loaded.store_path();
    let progress = |line: &str| eprintln!("{line}");
    let (report, json) = match cmd {
        SyncCommand::Export { to, json } => {
            let target = target(&to)?;
            let report = sync::export(&root, &target, &progress)
                .with_context(|| format!("exporting {} to {}", root.display(), target.uri))?;
            (report, json.json)
        }
        SyncCommand::Import { from, json } => {
            let target = target(&from)?;
            let report = sync::import(&root, &target, &progress)
                .with_context(|| format!("importing {} into {}", target.uri, root.display()))?;
            (report, json.json)
        }
    };
    if json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(0)
}

fn target(uri: &str) -> Result<MlflowTarget> {
    let uri = uri.trim().trim_end_matches('/');
    anyhow::ensure!(
        uri.starts_with("http://") || uri.starts_with("https://"),
        "`{uri}` is not an MLflow server URI: write http://HOST:PORT"
    );
    Ok(MlflowTarget {
        uri: uri.to_string(),
        token: std::env::var("MLFLOW_TRACKING_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty()),
    })
}

fn print_report(r: &SyncReport) {
    let mut t = Table::new([
        "",
        "copied",
        "already there",
        "updated",
        "skipped (running)",
    ]);
    t.row([
        "runs".to_string(),
        r.runs_copied.to_string(),
        r.runs_present.to_string(),
        "-".into(),
        r.runs_running.to_string(),
    ]);
    t.row([
        "model versions".to_string(),
        r.versions_copied.to_string(),
        r.versions_present.to_string(),
        r.versions_updated.to_string(),
        "-".into(),
    ]);
    println!("sync {} {}", r.direction, r.uri);
    t.print();
    println!(
        "{} experiments, {} metric points, {} artifacts, {} data-version records",
        r.experiments, r.metric_points, r.artifacts, r.data_versions
    );
}
