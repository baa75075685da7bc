//! `cerebro serve` (run an endpoint until SIGINT/SIGTERM) and `cerebro endpoints` (their status).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::JsonFlag;
use super::output::{Table, print_json, time_ms};
use cerebro::names::{EndpointName, ModelName};
use cerebro::serve::status::{EndpointStatus, StatusTable};
use cerebro::serve::{self, EndpointOptions, TOKEN_ENV};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Registered model to serve (its Production version; Staging as challenger if configured).
    #[arg(long)]
    pub model: Option<String>,
    /// Address to listen on (default `serving.bind`, 127.0.0.1:5000); port 0 picks a free one.
    #[arg(long)]
    pub bind: Option<String>,
    /// Endpoint name (default `serving.name`, else the model name).
    #[arg(long)]
    pub name: Option<String>,
    /// Share of records sent to the Staging version, overriding `serving.challenger_share`.
    #[arg(long)]
    pub challenger_share: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Every endpoint this store has seen, with its state (up, stale, down).
    List(JsonFlag),
    /// One endpoint: served versions, counters, latency, CPU and memory.
    Status {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub fn serve(config: &Path, args: ServeArgs) -> Result<i32> {
    let ws = super::open(config)?;
    let mut serving = ws.config.config.serving.clone();
    if let Some(share) = args.challenger_share {
        if !(0.0..=1.0).contains(&share) {
            bail!("--challenger-share must be between 0 and 1, got {share}");
        }
        serving.challenger_share = share;
    }
    let model = match args.model.or_else(|| serving.model.clone()) {
        Some(m) => m,
        None => {
            let models = ws.store.list_models()?;
            match models.as_slice() {
                [only] => only.name.clone(),
                [] => bail!(
                    "no registered model to serve: register one (cerebro models register RUN --name NAME) or pass --model NAME"
                ),
                _ => bail!(
                    "several registered models ({}): choose one with --model or `serving.model`",
                    models
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    // The endpoint name becomes a folder under log_dir: parse it (and the model name it
    // defaults to) so `.` or `..` cannot escape that folder.
    let model = ModelName::parse_as("model name", &model)?;
    let endpoint = match args.name.or_else(|| serving.name.clone()) {
        Some(name) => EndpointName::parse_as("endpoint name", &name)?,
        None => model.clone(),
    };
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| serving.token.clone());
    let bind = args.bind.unwrap_or_else(|| serving.bind.clone());
    let log_dir = cerebro::paths::child(
        &ws.config.dir().join(&serving.log_dir),
        endpoint.as_str(),
        "endpoint name",
    )?;
    let opts = EndpointOptions {
        endpoint: endpoint.to_string(),
        model: model.to_string(),
        store_root: ws.store_root(),
        log_dir: log_dir.clone(),
        serving,
        token: token.clone(),
    };
    drop(ws);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&bind)
            .await
            .with_context(|| format!("resolving --bind `{bind}` (write HOST:PORT)"))?
            .collect();
        serve::check_bind(&addrs, token.as_deref())?;
        let listener = tokio::net::TcpListener::bind(addrs.as_slice())
            .await
            .with_context(|| format!("binding {bind}"))?;
        let local = listener.local_addr()?;
        // The first line of stdout, flushed at once: scripts and tests read the port from it.
        println!("listening on http://{local}");
        use std::io::Write as _;
        std::io::stdout().flush().ok();
        eprintln!(
            "endpoint `{endpoint}` serving model `{model}` (Production; hot reload on); inference log in {}; Ctrl-C or SIGTERM stops it",
            log_dir.display()
        );
        let summary = serve::run(listener, opts, super::shutdown_signal()).await?;
        let log = &summary.log;
        eprintln!(
            "stopped: {} requests ({} errors); {} log lines in {} files",
            summary.requests, summary.errors, log.lines, log.files
        );
        if log.lost > 0 {
            eprintln!(
                "error: {} inference-log line(s) LOST, never written ({} failed writes; last: {}); monitoring will not see those requests",
                log.lost,
                log.write_errors,
                log.last_error.as_deref().unwrap_or("unknown")
            );
            return Ok(1);
        }
        if log.write_errors > 0 {
            eprintln!(
                "warning: the inference log failed {} time(s) (last: {}) and recovered; nothing was lost",
                log.write_errors,
                log.last_error.as_deref().unwrap_or("unknown")
            );
        }
        Ok::<_, anyhow::Error>(0)
    })
}

pub fn endpoints(config: &Path, cmd: EndpointsCommand) -> Result<i32> {
    let ws = super::open(config)?;
    let table = StatusTable::open(&ws.db_path())?;
    match cmd {
        EndpointsCommand::List(json) => {
            let all = table.list()?;
            if json.json {
                return print_json(&all).map(|_| 0);
            }
            let mut t = Table::new([
                "endpoint",
                "state",
                "address",
                "model",
                "serving",
                "requests",
                "errors",
                "p99 ms",
                "heartbeat",
            ]);
            for e in &all {
                t.row([
                    e.name.clone(),
                    e.state.to_string(),
                    e.address.clone(),
                    e.model.clone(),
                    served_cell(e),
                    e.stats.requests.to_string(),
                    e.stats.errors.to_string(),
                    opt_ms(e.stats.p99_ms),
                    age(e.heartbeat_age_ms),
                ]);
            }
            t.print();
            Ok(0)
        }
        EndpointsCommand::Status { name, json } => {
            let Some(e) = table.get(&name)? else {
                bail!("endpoint not found: {name} (see `cerebro endpoints list`)");
            };
            if json.json {
                return print_json(&e).map(|_| 0);
            }
            let s = &e.stats;
            println!("endpoint   {} ({})", e.name, e.state);
            println!(
                "address    http://{}  pid {} on {}",
                e.address, e.pid, e.host
            );
            println!("model      {}  serving {}", e.model, served_cell(&e));
            println!(
                "started    {}  heartbeat {} ago",
                time_ms(e.started_at),
                age(e.heartbeat_age_ms)
            );
            println!(
                "requests   {} total, {} errors, {} records, {} unseen categories",
                s.requests, s.errors, s.records, s.unseen_categories
            );
            println!(
                "last min   {} requests, p50 {} ms, p99 {} ms",
                s.requests_last_minute,
                opt_ms(s.p50_ms),
                opt_ms(s.p99_ms)
            );
            println!(
                "system     cpu {}, rss {}, {} open connections, {} in flight",
                s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
                s.rss_bytes
                    .map_or("-".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
                s.open_connections,
                s.in_flight
            );
            if let Some(n) = &s.note {
                println!("note       {n}");
            }
            Ok(0)
        }
    }
}

fn served_cell(e: &EndpointStatus) -> String {
    if e.served.is_empty() {
        return "-".into();
    }
    e.served
        .iter()
        .map(|a| format!("v{} {} {:.0}%", a.version, a.arm, a.share * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

fn age(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m", ms / 60_000)
    }
}
