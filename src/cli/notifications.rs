//! `cerebro notifications`: the webhook deliveries (`list`) and delivering what is pending
//! (`deliver`), plus [`kick`], which every other command calls on its way out so events it
//! recorded reach their receivers without it waiting for them.

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::output::{Table, print_json, time_ms};
use cerebro::notify::DeliveryStatus;

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Webhook deliveries, newest event first: event, URL, status, attempts, last answer.
    List(ListArgs),
    /// Deliver what is pending now (new events fanned out, due retries), waiting through the
    /// backoff until nothing is pending; other commands start this in the background.
    Deliver {
        /// Print nothing (as when started in the background).
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (stable field names) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// At most this many deliveries.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(config: &Path, cmd: NotificationsCommand) -> Result<i32> {
    let loaded = cerebro::config::Config::load(config)?;
    let deliverer = cerebro::workspace::notifier(&loaded)?;
    match cmd {
        NotificationsCommand::List(args) => {
            let list = deliverer.list(args.limit)?;
            if args.json {
                print_json(&list)?;
                return Ok(0);
            }
            if list.is_empty() {
                if loaded.config.notifications.is_empty() {
                    println!("no webhook deliveries (no [[notifications]] in the config)");
                } else {
                    println!("no webhook deliveries yet");
                }
                return Ok(0);
            }
            let mut t = Table::new([
                "EVENT_TIME",
                "EVENT",
                "URL",
                "STATUS",
                "ATTEMPTS",
                "LAST_ANSWER",
            ]);
            for d in &list {
                let answer = match (d.status, d.last_status, &d.last_error) {
                    (DeliveryStatus::Delivered, Some(s), _) => format!("HTTP {s}"),
                    (_, _, Some(e)) => e.clone(),
                    (_, Some(s), None) => format!("HTTP {s}"),
                    _ => "-".into(),
                };
                let status = match (d.status, d.next_attempt_at) {
                    (DeliveryStatus::Pending, Some(at)) if d.attempts > 0 => {
                        format!("PENDING (retry at {})", time_ms(at))
                    }
                    (s, _) => s.as_str().to_string(),
                };
                t.row([
                    time_ms(d.created_at),
                    d.event.clone(),
                    d.url.clone(),
                    status,
                    d.attempts.to_string(),
                    answer,
                ]);
            }
            t.print();
            Ok(0)
        }
        NotificationsCommand::Deliver { quiet } => {
            if deliverer.targets().is_empty() {
                if !quiet {
                    println!("no [[notifications]] in the config: nothing to deliver");
                }
                return Ok(0);
            }
            let stop = std::sync::atomic::AtomicBool::new(false);
            deliverer.drain(&stop).context("delivering webhooks")?;
            if !quiet {
                let list = deliverer.list(1000)?;
                let count = |s| list.iter().filter(|d| d.status == s).count();
                println!(
                    "{} delivered, {} failed, {} dropped (of the last {})",
                    count(DeliveryStatus::Delivered),
                    count(DeliveryStatus::Failed),
                    count(DeliveryStatus::Dropped),
                    list.len()
                );
            }
            Ok(0)
        }
    }
}

/// After a command: if the workspace has `[[notifications]]` and the outbox holds work, start a
/// detached `cerebro notifications deliver --quiet` (its own process group, no terminal), so the
/// command returns at once and the retries outlive it. Never fails the command: a problem is
/// logged.
pub fn kick(config: &Path) {
    let Ok(loaded) = cerebro::config::Config::load(config) else {
        return;
    };
    if loaded.config.notifications.is_empty() {
        return;
    }
    let work = cerebro::workspace::notifier(&loaded).and_then(|d| d.has_work());
    match work {
        Ok(false) => {}
        Ok(true) => {
            if let Err(e) = spawn_deliverer(config) {
                tracing::warn!("cannot start the webhook deliverer: {e:#}");
            }
        }
        Err(e) => tracing::warn!("cannot read the webhook outbox: {e}"),
    }
}

fn spawn_deliverer(config: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().context("finding the cerebro executable")?;
    let config = std::path::absolute(config).context("resolving the config path")?;
    Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(["notifications", "deliver", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("spawning `cerebro notifications deliver`")?;
    Ok(())
}
