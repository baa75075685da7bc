//! `cerebro agent`: runs the pipelines' schedules and triggers headless, in the foreground, until
//! SIGTERM or Ctrl-C (a systemd unit ships in `assets/systemd/`). It logs to the store's
//! `cerebro.log`; on stop the running steps are killed and their runs left INTERRUPTED, to be
//! continued with `cerebro pipeline resume RUN`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use cerebro::workflow::{Agent, AgentEvent, AgentOptions};

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// How often to look for triggers, schedule switches and config changes, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub poll_ms: u64,
}

pub fn run(config: &Path, args: AgentArgs) -> Result<i32> {
    // Fail early, on the terminal, when the workspace cannot be opened.
    let ws = super::open(config)?;
    let pipelines = ws.config.config.pipelines.len();
    let scheduled = ws
        .config
        .config
        .pipelines
        .values()
        .filter(|p| p.schedule.is_some() || !p.triggers.is_empty())
        .count();
    let log = ws.store_root().join("cerebro.log");
    // Webhooks of the alerts and promotions the agent's pipelines make, delivered as they come.
    let _webhooks = if ws.config.config.notifications.is_empty() {
        None
    } else {
        Some(cerebro::notify::Worker::start(
            cerebro::workspace::notifier(&ws.config)?,
        ))
    };
    drop(ws);
    let exe = std::env::current_exe().context("finding the cerebro executable")?;
    let (agent, _handle, mut events) = Agent::new(AgentOptions {
        config_path: config.to_path_buf(),
        exe,
        poll: Duration::from_millis(args.poll_ms.max(50)),
    });
    eprintln!(
        "cerebro agent: {pipelines} pipeline(s), {scheduled} with a schedule or trigger; logging to {}; stop with Ctrl-C or SIGTERM",
        log.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async move {
        // Events are in the log already; drain them so the channel does not grow.
        let drain = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let AgentEvent::Problem { message, .. } = e {
                    tracing::debug!("{message}");
                }
            }
        });
        let r = agent.run(super::shutdown_signal()).await;
        drain.abort();
        r
    })?;
    if !summary.interrupted_found.is_empty() {
        eprintln!(
            "marked {} run(s) of a runner that had died INTERRUPTED at start",
            summary.interrupted_found.len()
        );
    }
    eprintln!(
        "cerebro agent stopped ({} run(s) started)",
        summary.runs_started
    );
    Ok(0)
}
