//! The headless command line: one module per subcommand group, each a thin shell that calls
//! the core and prints what it returns (a table for people, `--json` for scripts).
//! Progress goes to stderr (bars on a terminal, plain lines otherwise); results to stdout.

mod agent;
mod data;
mod models;
mod monitor;
mod notifications;
mod output;
mod pipeline;
mod predict;
mod runs;
mod serve;
mod simulate;
mod sync;
mod train;
mod tune;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use cerebro::workspace::Workspace;

/// cerebro: the MLOps loop in one terminal. Data, experiments and runs, from one config.toml.
#[derive(Debug, Parser)]
#[command(name = "cerebro", version, about, long_about = None)]
pub struct Cli {
    /// The workspace's config file.
    #[arg(
        long,
        global = true,
        default_value = "config.toml",
        env = "CEREBRO_CONFIG"
    )]
    pub config: PathBuf,

    /// Track runs and models on this MLflow server (http://HOST:PORT) instead of the local
    /// store; default: MLFLOW_TRACKING_URI, then `[tracking] uri` in config.toml.
    #[arg(long, global = true, value_name = "URI")]
    pub tracking_uri: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config.toml (and .gitignore) into DIR.
    Init {
        dir: PathBuf,
        /// Overwrite an existing config.toml.
        #[arg(long)]
        force: bool,
    },
    /// Write the synthetic demo dataset (deterministic) to data/characters.csv.
    DemoData {
        /// Where to write it (default: data/characters.csv beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the demo headless: prepare the data, train every model kind, compare them.
    Demo(JsonFlag),
    /// Inspect and prepare the dataset.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a model (or a sweep of them) as background jobs and track the runs.
    Train(train::TrainArgs),
    /// Search hyper-parameters (random or TPE sampler, budgets, pruning); every trial is a run
    /// nested under a parent run.
    Tune(tune::TuneArgs),
    /// List, show, compare and reproduce runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// The model registry: versions, stages, aliases, the promotion gate, audit, rollback.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Open the full-screen workbench (data, experiments, registry, endpoints, jobs) on this
    /// workspace; also what `cerebro` with no arguments does in a terminal.
    Tui,
    /// Score a file of raw records (CSV, Parquet, JSON lines) with a model version, streamed:
    /// predictions (and probabilities) to Parquet or CSV, keeping the id column.
    Predict(predict::PredictArgs),
    /// Serve the Production model over HTTP (MLflow-compatible) until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Serving endpoints and their state (up, stale, down).
    #[command(subcommand)]
    Endpoints(serve::EndpointsCommand),
    /// Send open-loop traffic from the test set to an endpoint (optionally drifted) and write
    /// the true labels to the labels folder after a delay.
    Simulate(simulate::SimulateArgs),
    /// Copy experiments, runs and registered versions to (export) or from (import) an MLflow
    /// tracking server; re-running copies only what is new.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Workflows: list, run, resume and inspect the config's pipelines and their runs.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Run the pipelines' schedules and triggers headless until SIGTERM (logs to the store).
    Agent(agent::AgentArgs),
    /// Monitoring: ingest the inference log; drift, quality, alerts; the HTML report.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// Webhooks (`[[notifications]]`): their deliveries, and delivering what is pending.
    #[command(subcommand)]
    Notifications(notifications::NotificationsCommand),
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON (stable field names) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<i32> {
    if let Some(uri) = &cli.tracking_uri {
        cerebro::workspace::set_tracking_uri_override(uri);
    }
    let delivers = matches!(
        cli.command,
        Some(Command::Notifications(
            notifications::NotificationsCommand::Deliver { .. }
        ))
    );
    let config = cli.config.clone();
    let result = dispatch(cli);
    // Whatever the command recorded for webhooks is delivered off its path (even after an
    // error: a promotion may have committed before a later step failed).
    if !delivers {
        notifications::kick(&config);
    }
    result
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => {
            crate::tui::run(&cli.config)
        }
        None => {
            eprintln!(
                "cerebro: not a terminal, so running the headless demo (`cerebro demo`); run `cerebro` in a terminal for the workbench"
            );
            train::demo(&cli.config, false)
        }
        Some(Command::Demo(f)) => train::demo(&cli.config, f.json),
        Some(Command::Init { dir, force }) => init(&dir, force),
        Some(Command::DemoData { out }) => {
            let path = match out {
                Some(p) => p,
                None => config_dir(&cli.config).join("data/characters.csv"),
            };
            cerebro::data::demo::write_demo(&path)
                .with_context(|| format!("writing the demo data to {}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(0)
        }
        Some(Command::Data(cmd)) => data::run(&cli.config, cmd),
        Some(Command::Train(args)) => train::run(&cli.config, args),
        Some(Command::Tune(args)) => tune::run(&cli.config, args),
        Some(Command::Runs(cmd)) => runs::run(&cli.config, cmd),
        Some(Command::Models(cmd)) => models::run(&cli.config, cmd),
        Some(Command::Tui) => crate::tui::run(&cli.config),
        Some(Command::Predict(args)) => predict::run(&cli.config, args),
        Some(Command::Serve(args)) => serve::serve(&cli.config, args),
        Some(Command::Endpoints(cmd)) => serve::endpoints(&cli.config, cmd),
        Some(Command::Simulate(args)) => simulate::run(&cli.config, args),
        Some(Command::Sync(cmd)) => sync::run(&cli.config, cmd),
        Some(Command::Pipeline(cmd)) => pipeline::run(&cli.config, cmd),
        Some(Command::Agent(args)) => agent::run(&cli.config, args),
        Some(Command::Monitor(cmd)) => monitor::run(&cli.config, cmd),
        Some(Command::Notifications(cmd)) => notifications::run(&cli.config, cmd),
    }
}

fn config_dir(config: &std::path::Path) -> PathBuf {
    match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(crate) fn open(config: &std::path::Path) -> Result<Workspace> {
    Workspace::open(config).map_err(anyhow::Error::from)
}

fn init(dir: &std::path::Path, force: bool) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("config.toml");
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists (use --force to overwrite it)",
            path.display()
        );
    }
    std::fs::write(&path, cerebro::config::STARTER)
        .with_context(|| format!("writing {}", path.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, ".cerebro/\n")
            .with_context(|| format!("writing {}", ignore.display()))?;
    }
    println!("wrote {}", path.display());
    println!(
        "next: cd {} && cerebro demo-data && cerebro train",
        dir.display()
    );
    Ok(0)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
