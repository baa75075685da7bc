//! The one state tree of the UI: which tab is shown, what overlays and inputs are open, the
//! status line, and one sub-state per tab. It changes only in [`update`](super::update);
//! rendering reads it.

use cerebro::registry::Stage;
use cerebro::registry::ops::GateResult;
use cerebro::serve::status::EndpointState;
use cerebro::train::ModelKind;

use super::effects::Effect;
use super::keymap::{Context, Keymap};
use super::tabs::data::DataState;
use super::tabs::endpoints::EndpointsState;
use super::tabs::experiments::{ExpView, ExperimentsState};
use super::tabs::jobs::JobsState;
use super::tabs::monitoring::MonitoringState;
use super::tabs::registry::RegistryState;
use super::theme::Theme;

/// Endpoint status lights shown per model in the header.
pub const HEADER_LIGHTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Data,
    Experiments,
    Registry,
    Endpoints,
    Monitoring,
    Jobs,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Data,
        Tab::Experiments,
        Tab::Registry,
        Tab::Endpoints,
        Tab::Monitoring,
        Tab::Jobs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Experiments => "Experiments",
            Tab::Registry => "Registry",
            Tab::Endpoints => "Endpoints",
            Tab::Monitoring => "Monitoring",
            Tab::Jobs => "Jobs",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn context(self) -> Context {
        match self {
            Tab::Data => Context::Data,
            Tab::Experiments => Context::Experiments,
            Tab::Registry => Context::Registry,
            Tab::Endpoints => Context::Endpoints,
            Tab::Monitoring => Context::Monitoring,
            Tab::Jobs => Context::Jobs,
        }
    }
}

/// A modal layer over the tabs.
#[derive(Debug, Clone)]
pub enum Overlay {
    Help { scroll: usize },
    Dialog(Dialog),
}

#[derive(Debug, Clone)]
pub enum Dialog {
    /// Launch a training job or sweep: the kind (cycled with Tab) and `key=value` params, where
    /// `key=v1,v2` sweeps.
    Train {
        kind: ModelKind,
        params: String,
        error: Option<String>,
    },
    /// Launch a tune (`cerebro tune`): the kind (cycled with Tab, which resets `text` to the
    /// kind's defaults while it is unedited) and the words of `widgets::command::tune_request`.
    Tune {
        kind: ModelKind,
        text: String,
        error: Option<String>,
    },
    /// Promotion: the gate is evaluated first and shown; a failed gate needs a typed reason.
    Promote {
        name: String,
        version: i64,
        to: Stage,
        gate: GateStatus,
        reason: String,
    },
    /// A yes/no question; `effect` runs on yes.
    Confirm {
        title: String,
        lines: Vec<String>,
        effect: Effect,
    },
}

#[derive(Debug, Clone)]
pub enum GateStatus {
    Evaluating,
    Ready(Box<GateResult>),
    Error(String),
}

/// The text input on the status line, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Input {
    #[default]
    None,
    /// Typing into the current list's filter.
    Filter,
    /// The `:` command line and the completions offered for its last word.
    Command {
        text: String,
        completions: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

pub struct State {
    pub workspace: String,
    /// The tracking backend's label, once read.
    pub backend: Option<String>,
    pub tab: Tab,
    pub overlay: Option<Overlay>,
    pub input: Input,
    pub status: Option<Status>,
    /// Terminal size, for page sizes.
    pub size: (u16, u16),
    /// Something changed since the last frame.
    pub dirty: bool,
    pub quit: bool,
    pub ticks: u64,
    pub keymap: Keymap,
    pub theme: Theme,
    pub data: DataState,
    pub experiments: ExperimentsState,
    pub registry: RegistryState,
    pub endpoints: EndpointsState,
    pub jobs: JobsState,
    pub monitoring: MonitoringState,
    /// The demo under way, if any.
    pub demo: Option<super::demo::DemoPhase>,
    /// The demo's endpoint is starting: once it listens, the simulator sends it traffic.
    pub demo_traffic: bool,
}

impl State {
    pub fn new(workspace: impl Into<String>, keymap: Keymap, theme: Theme) -> State {
        State {
            workspace: workspace.into(),
            backend: None,
            tab: Tab::Experiments,
            overlay: None,
            input: Input::None,
            status: None,
            size: (80, 24),
            dirty: true,
            quit: false,
            ticks: 0,
            keymap,
            theme,
            data: DataState::default(),
            experiments: ExperimentsState::default(),
            registry: RegistryState::default(),
            endpoints: EndpointsState::default(),
            jobs: JobsState::default(),
            monitoring: MonitoringState::default(),
            demo: None,
            demo_traffic: false,
        }
    }

    /// Rows a list shows per page (terminal height minus the frame and a table header).
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(9)).max(1)
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
        });
    }

    /// Keymap contexts in effect, most specific first. Text inputs and dialogs hide the tab and
    /// global bindings so typed letters never trigger commands.
    pub fn contexts(&self) -> Vec<Context> {
        if self.input != Input::None {
            return vec![Context::Input];
        }
        match &self.overlay {
            Some(Overlay::Help { .. }) => return vec![Context::Help],
            Some(Overlay::Dialog(d)) => {
                return match d {
                    Dialog::Train { .. } | Dialog::Tune { .. } => vec![Context::Input],
                    Dialog::Promote {
                        gate: GateStatus::Ready(g),
                        ..
                    } if !g.passed => vec![Context::Input],
                    _ => vec![Context::Dialog],
                };
            }
            None => {}
        }
        let mut out = Vec::new();
        // `[compare]` (d, m) also serves the run view (m: next charts) and the parallel
        // coordinates (m: next metric).
        if self.tab == Tab::Experiments && !matches!(self.experiments.view, ExpView::List) {
            out.push(Context::Compare);
        }
        out.push(self.tab.context());
        out.push(Context::Global);
        out
    }

    /// The endpoints serving `model`, for the header's status lights: up ones first, then
    /// stale, then down, at most [`HEADER_LIGHTS`].
    pub fn endpoint_lights(&self, model: &str) -> Vec<(String, EndpointState)> {
        let mut out: Vec<(String, EndpointState)> = self
            .endpoints
            .endpoints
            .iter()
            .filter(|e| e.model == model)
            .map(|e| (e.name.clone(), e.state))
            .collect();
        // Up, then stale, then down: the enum's order.
        out.sort_by_key(|(_, s)| *s);
        out.truncate(HEADER_LIGHTS);
        out
    }

    /// Production version per model, for the header.
    pub fn production_summary(&self) -> Vec<(String, Option<i64>)> {
        self.registry
            .models
            .iter()
            .map(|m| (m.name.clone(), m.production))
            .collect()
    }
}
