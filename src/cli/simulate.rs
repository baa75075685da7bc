//! `cerebro simulate`: open-loop traffic from the test set to an endpoint, optionally drifted,
//! with the true labels written to the labels folder after a delay (core: `cerebro::simulate`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::output::print_json;
use cerebro::config::Config;
use cerebro::simulate::{self, Scenario, SimData, SimOptions, SimReport};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The endpoint: its base URL (http://127.0.0.1:5000) or its invocations URL.
    #[arg(long)]
    pub endpoint: String,
    /// Requests per second (one record each), sent on schedule whatever the replies.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// none | scale:FEATURE=FACTOR | skew:FEATURE=VALUE:SHARE | concept.
    #[arg(long, default_value = "none")]
    pub drift: String,
    /// Seconds after each request before its true label is written.
    #[arg(long, default_value_t = 0.0)]
    pub labels_after: f64,
    /// Where the labels go (default: `[monitoring] labels_dir` of the workspace).
    #[arg(long)]
    pub labels_dir: Option<PathBuf>,
    /// Write no labels.
    #[arg(long, conflicts_with = "labels_dir")]
    pub no_labels: bool,
    /// Seed of the record draws (the same seed sends the same records).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Sender threads (open loop: enough to keep up with the rate and the endpoint's latency).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Path, args: SimulateArgs) -> Result<i32> {
    if !(args.duration > 0.0 && args.duration.is_finite()) {
        bail!(
            "--duration must be a positive number of seconds, got {}",
            args.duration
        );
    }
    if !(args.labels_after >= 0.0 && args.labels_after.is_finite()) {
        bail!(
            "--labels-after must be zero or more seconds, got {}",
            args.labels_after
        );
    }
    let scenario: Scenario = args.drift.parse()?;
    let loaded = Config::load(config)?;
    let data =
        SimData::from_config(&loaded).context("reading the test set to draw records from")?;
    let labels_dir = if args.no_labels {
        None
    } else {
        Some(
            args.labels_dir
                .clone()
                .unwrap_or_else(|| loaded.dir().join(&loaded.config.monitoring.labels_dir)),
        )
    };
    let options = SimOptions {
        endpoint: args.endpoint.clone(),
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        scenario,
        labels_dir,
        labels_after: Duration::from_secs_f64(args.labels_after),
        seed: args.seed,
        concurrency: args.concurrency,
        token: std::env::var(cerebro::serve::TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    // Ctrl-C stops sending; pending labels are still written.
    let _ = ctrlc_hook(move || flag.store(true, Ordering::Relaxed));
    let json = args.json;
    let mut progress = |r: &SimReport| {
        if !json {
            eprintln!(
                "sent {}/{} ok {} errors {} late {} labels {} ({:.0} req/s)",
                r.sent, r.planned, r.ok, r.errors, r.late, r.labels_written, r.achieved_rate
            );
        }
    };
    let report = simulate::run(&options, &data, &mut progress, &cancel)?;
    if json {
        print_json(&report)?;
    } else {
        println!("run          {}", report.run);
        println!("scenario     {}", report.scenario);
        println!("endpoint     {}", report.endpoint);
        println!("sent         {} of {} planned", report.sent, report.planned);
        println!("ok           {}", report.ok);
        println!("errors       {}", report.errors);
        println!(
            "late         {} (sent > {} ms after due)",
            report.late,
            simulate::LATE_AFTER.as_millis()
        );
        println!(
            "rate         {:.1} req/s achieved, {:.1} target",
            report.achieved_rate, report.target_rate
        );
        if let (Some(p50), Some(p99)) = (report.latency_p50_ms, report.latency_p99_ms) {
            println!("latency      p50 {p50:.2} ms, p99 {p99:.2} ms");
        }
        match &report.labels_file {
            Some(f) => println!(
                "labels       {} written to {f}{}",
                report.labels_written,
                if report.labels_flipped > 0 {
                    format!(" ({} flipped by the concept shift)", report.labels_flipped)
                } else {
                    String::new()
                }
            ),
            None => println!("labels       none written"),
        }
    }
    Ok(if report.errors > 0 { 1 } else { 0 })
}

/// Sets `on` to run at SIGINT, through a small thread waiting on the signal.
fn ctrlc_hook(on: impl Fn() + Send + 'static) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("simulate-sigint".into())
        .spawn(move || {
            rt.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    on();
                }
            })
        })?;
    Ok(())
}
