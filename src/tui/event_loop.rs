//! The one loop: a single `tokio::select!` over key presses (crossterm's `EventStream`), job
//! events, effect results, file-watch events of the monitored folders, the pipeline agent's
//! events, a one-second tick and SIGTERM. Each input becomes an action, goes
//! through `update`, and its effects go to the runtime. A frame is drawn only when state is
//! dirty, so an idle session writes nothing to the terminal.

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use cerebro::jobs::JobEvent;
use cerebro::monitor::watch::WatchEvent;
use cerebro::workflow::AgentEvent;

use super::action::Action;
use super::app::State;
use super::effects::Runtime;
use super::render;
use super::terminal::Term;
use super::update::{startup, update};

pub const TICK: Duration = Duration::from_secs(1);

/// How long quitting waits for cancelled jobs to close their runs. A fit checks for
/// cancellation between units of work; one that does not answer in time is closed KILLED by
/// the next `Workspace::open` (its pid is gone).
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// The channels the loop listens on besides the terminal, the tick and SIGTERM.
pub struct Inputs {
    /// Training job events from `cerebro::jobs::JobRunner`.
    pub jobs: UnboundedReceiver<JobEvent>,
    /// What the effects runtime reports back.
    pub results: UnboundedReceiver<Action>,
    /// Changes in the monitored folders (inference logs, labels), from `monitor::watch`.
    pub watch: UnboundedReceiver<WatchEvent>,
    /// What the pipeline agent reports (runs started and ended), when the config has pipelines.
    pub agent: Option<UnboundedReceiver<AgentEvent>>,
}

/// The next message of a channel that may not exist (then never).
async fn recv_maybe<T>(rx: &mut Option<UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

pub async fn run(
    terminal: &mut Term,
    state: &mut State,
    runtime: &Runtime,
    inputs: Inputs,
) -> anyhow::Result<()> {
    let Inputs {
        mut jobs,
        mut results,
        mut watch,
        mut agent,
    } = inputs;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    #[cfg(unix)]
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;

    let size = terminal.size()?;
    update(state, Action::Resize(size.width, size.height));
    for effect in startup(state) {
        runtime.run(effect);
    }

    loop {
        if state.dirty {
            terminal.draw(|frame| render::draw(frame, state))?;
            state.dirty = false;
        }
        if state.quit {
            break;
        }
        #[cfg(unix)]
        let terminate = sigterm.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    state.keymap.translate(&state.contexts(), &key)
                }
                Some(Ok(Event::Resize(w, h))) => Some(Action::Resize(w, h)),
                Some(Ok(Event::Mouse(m))) => super::render::mouse(state, &m),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e.into()),
                None => Some(Action::Quit),
            },
            Some(event) = jobs.recv() => Some(Action::Job(event)),
            Some(action) = results.recv() => Some(action),
            Some(event) = watch.recv() => Some(Action::Watch(event)),
            Some(event) = recv_maybe(&mut agent) => Some(Action::Agent(event)),
            _ = tick.tick() => Some(Action::Tick),
            _ = terminate => {
                tracing::info!("SIGTERM: quitting");
                Some(Action::Quit)
            }
        };
        if let Some(action) = action {
            for effect in update(state, action) {
                runtime.run(effect);
            }
        }
    }

    runtime.stop_simulator();
    // Stop the pipeline agent: running steps are killed, their runs left INTERRUPTED.
    if state.jobs.pipelines_running() > 0 {
        state.info(format!(
            "stopping {} running pipeline(s); their runs are left INTERRUPTED (resumable)…",
            state.jobs.pipelines_running()
        ));
        terminal.draw(|frame| render::draw(frame, state))?;
    }
    let _ = tokio::time::timeout(QUIT_GRACE, runtime.stop_agent()).await;
    // Stop the local endpoint: it drains and marks itself stopped in the store.
    if state.endpoints.local_running() {
        state.info("stopping the local endpoint…");
        terminal.draw(|frame| render::draw(frame, state))?;
    }
    let _ = tokio::time::timeout(QUIT_GRACE, runtime.stop_endpoint()).await;

    // Cancel what still runs and give the jobs a moment to close their runs as KILLED.
    if state.jobs.running() > 0 {
        runtime.cancel_all();
        state.info(format!(
            "cancelling {} running job(s); their runs close as KILLED…",
            state.jobs.running()
        ));
        terminal.draw(|frame| render::draw(frame, state))?;
        let deadline = tokio::time::Instant::now() + QUIT_GRACE;
        while state.jobs.running() > 0 {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(event)) => {
                    update(state, Action::Job(event));
                }
                _ => break,
            }
        }
    }
    Ok(())
}
