//! The full-screen terminal workbench (`cerebro tui`): a front end beside `cli`, over the same
//! core calls.
//!
//! The architecture is a small Elm loop. [`app::State`] is the one state tree (a sub-state per
//! tab); key presses and background results are [`action::Action`]s; [`update::update`] is
//! the only place state changes and returns [`effects::Effect`]s instead of doing I/O; the
//! [`effects::Runtime`] carries effects out off the UI task (store reads on the blocking pool,
//! training through `cerebro::jobs::JobRunner`) and reports back as actions;
//! [`event_loop`] merges terminal keys, job events, effect results, the pipeline agent's events
//! (the UI runs the workspace's schedules and triggers while it is open), a tick and SIGTERM in
//! one `tokio::select!` and redraws only when something changed; rendering reads `&State` only.
//! Key bindings ([`keymap`]) and colours ([`theme`]) are data in `assets/`.

pub mod action;
pub mod app;
pub mod demo;
pub mod effects;
pub mod event_loop;
pub mod keymap;
pub mod render;
pub mod tabs;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod widgets;

#[cfg(test)]
pub mod fixtures;
#[cfg(test)]
mod render_tests;

use std::path::Path;

use anyhow::{Context, Result};

use cerebro::train::ModelKind;

/// How often the UI's pipeline agent looks for triggers, schedule switches and config changes.
const AGENT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the workbench on the workspace of `config` until the user quits. Returns the exit code.
pub fn run(config: &Path) -> Result<i32> {
    let loaded = cerebro::config::Config::load(config).with_context(|| {
        format!(
            "cerebro tui needs a workspace: {} (create one with `cerebro init DIR`)",
            config.display()
        )
    })?;
    let tui = &loaded.config.tui;
    let keymap = keymap::Keymap::with_overrides(&tui.keys)
        .map_err(|e| anyhow::anyhow!("{}: [tui.keys]: {e}", config.display()))?;
    let theme = theme::Theme::with_overrides(&tui.theme)
        .map_err(|e| anyhow::anyhow!("{}: [tui.theme]: {e}", config.display()))?;
    let mut state = app::State::new(loaded.config.workspace.name.clone(), keymap, theme);
    state.experiments.default_kind = loaded
        .config
        .train
        .model
        .parse::<ModelKind>()
        .unwrap_or(ModelKind::Tree);
    state.endpoints.share = loaded.config.serving.challenger_share;
    let max_parallel = cerebro::jobs::sweep::parallelism(loaded.config.train.max_parallel);
    // Webhooks of the promotions and alerts made here are delivered while the UI is open (and
    // what remains, by the detached deliverer the CLI starts on the way out).
    let _webhooks = if loaded.config.notifications.is_empty() {
        None
    } else {
        cerebro::workspace::notifier(&loaded)
            .map(cerebro::notify::Worker::start)
            .map_err(|e| tracing::warn!("webhooks off: {e}"))
            .ok()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (runner, job_events) = cerebro::jobs::JobRunner::new(max_parallel);
        let (tx, results) = tokio::sync::mpsc::unbounded_channel();
        let (watch_tx, watch_events) = tokio::sync::mpsc::unbounded_channel();
        let rt = effects::Runtime::new(config.to_path_buf(), tx, runner, max_parallel, watch_tx);
        // While the UI is open it runs the workspace's schedules and triggers (safe beside a
        // `cerebro agent`: the store's per-pipeline lock means no pipeline runs twice).
        let agent = if loaded.config.pipelines.is_empty() {
            None
        } else {
            match std::env::current_exe() {
                Ok(exe) => {
                    state.jobs.agent = true;
                    Some(rt.start_agent(cerebro::workflow::AgentOptions {
                        config_path: config.to_path_buf(),
                        exe,
                        poll: AGENT_POLL,
                    }))
                }
                Err(e) => {
                    state.error(format!(
                        "pipelines do not run from this window: the cerebro executable was not found ({e})"
                    ));
                    None
                }
            }
        };
        let mut term = terminal::init().context("setting up the terminal")?;
        let outcome = event_loop::run(
            &mut term,
            &mut state,
            &rt,
            event_loop::Inputs {
                jobs: job_events,
                results,
                watch: watch_events,
                agent,
            },
        )
        .await;
        terminal::restore();
        outcome
    })?;
    // Blocking work still in flight (a profile, a store read) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(0)
}
