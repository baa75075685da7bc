//! The one vocabulary of the UI: everything that can change [`State`](super::app::State) is an
//! [`Action`]. Key presses become actions through the keymap (by name, see [`BINDABLE`]);
//! background work (store reads, job events, registry operations) reports back as actions too,
//! so [`update`](super::update::update) is the only place state changes.

use cerebro::data::profile::Profile;
use cerebro::jobs::{JobEvent, JobId};
use cerebro::monitor::watch::WatchEvent;
use cerebro::registry::ops::GateResult;
use cerebro::registry::{AuditRecord, ModelVersion, RegisteredModel};
use cerebro::serve::status::EndpointStatus;
use cerebro::store::{DataVersionSummary, RunDetail, RunSummary};
use cerebro::workflow::{AgentEvent, PipelineView};

#[derive(Debug, Clone)]
pub enum Action {
    // Global and navigation (bindable).
    Quit,
    Help,
    Command,
    Filter,
    Back,
    NextTab,
    PrevTab,
    TabData,
    TabExperiments,
    TabRegistry,
    TabEndpoints,
    TabMonitoring,
    TabJobs,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    FocusLeft,
    FocusRight,
    Open,
    Refresh,
    // Tab commands (bindable).
    Mark,
    Compare,
    ToggleDiff,
    NextSeries,
    Sort,
    SortReverse,
    GroupByExperiment,
    Train,
    Reproduce,
    /// The parallel coordinates and param importance of the shown runs.
    ParallelCoordinates,
    /// Open the tune form.
    Tune,
    CancelJob,
    RunPipeline,
    ToggleSchedule,
    Promote,
    Rollback,
    Archive,
    /// Score a file with the selected version: opens `:predict NAME/VERSION `.
    Score,
    TogglePrepared,
    TogglePreview,
    StartEndpoint,
    StopEndpoint,
    ShareUp,
    ShareDown,
    Granularity,
    NextEndpoint,
    Demo,
    // Dialogs and text input (bindable).
    Confirm,
    Submit,
    Complete,
    Backspace,
    /// A printable key typed into the focused text input.
    Input(char),

    // Terminal.
    Resize(u16, u16),
    Tick,

    // Background results.
    RunsLoaded(Vec<RunSummary>),
    /// Per-step metric series of compared runs: key -> (run id, (step, value) points).
    SeriesLoaded {
        runs: Vec<String>,
        series: crate::tui::tabs::experiments::Series,
    },
    /// The tracking backend's label (`sqlite .cerebro/cerebro.db`, `mlflow http://...`).
    BackendLoaded(String),
    /// The newest runs (at most `experiments::RECENT_RUNS`; `FIRST_PAGE` at start-up), merged
    /// into the list by id.
    RecentRunsLoaded(Vec<RunSummary>),
    /// Reading runs failed (the first page, every run or a live reload): the status message.
    RunsFailed(String),
    RunLoaded(Box<RunDetail>),
    /// A run's charts (see `cerebro::track::view`).
    RunChartsLoaded(Box<cerebro::track::view::RunCharts>),
    /// The param importance asked for by the parallel-coordinates view `generation`.
    ImportanceLoaded {
        generation: u64,
        result: Result<Box<cerebro::track::importance::ImportanceReport>, String>,
    },
    ModelsLoaded(Vec<RegisteredModel>),
    /// Webhook deliveries by state (None: no `[[notifications]]`).
    WebhooksLoaded(Option<cerebro::notify::outbox::Summary>),
    ModelLoaded {
        name: String,
        versions: Vec<ModelVersion>,
        history: Vec<AuditRecord>,
    },
    GateEvaluated {
        name: String,
        version: i64,
        result: Result<Box<GateResult>, String>,
    },
    ProfileLoaded {
        prepared: bool,
        result: Result<Profile, String>,
    },
    DataVersionsLoaded(Vec<DataVersionSummary>),
    PreviewLoaded {
        prepared: bool,
        result: Result<crate::tui::tabs::data::Preview, String>,
    },
    /// A job was submitted by the UI; `reproduces` names the run it retrains.
    JobSubmitted {
        job: JobId,
        reproduces: Option<String>,
    },
    Job(JobEvent),
    /// A registry change (promote, rollback, archive) was applied or refused.
    RegistryChanged(Result<String, String>),
    /// The store's endpoint status rows (read on every tick).
    EndpointsLoaded(Vec<EndpointStatus>),
    /// The local endpoint of start request `generation` listens on `address`.
    EndpointStarted {
        generation: u64,
        address: String,
    },
    /// The local endpoint of start request `generation` stopped (or failed to start).
    EndpointStopped {
        generation: u64,
        result: Result<String, String>,
    },
    /// The demo's training jobs were queued (or the demo could not start).
    DemoQueued(Result<Vec<JobId>, String>),
    /// The demo's best run was registered and promoted: model and version.
    DemoRegistered(Result<(String, i64), String>),
    /// The monitor was refreshed (or read) for the Monitoring tab.
    MonitorLoaded(Result<Box<cerebro::monitor::service::Overview>, String>),
    /// The monitor opened: why its folders are not watched, if they are not.
    MonitorWatching(Option<String>),
    /// A watched folder (inference logs, labels) changed.
    Watch(WatchEvent),
    /// The workspace's pipelines with their DAG and latest run (`cerebro::workflow::pipelines`).
    PipelinesLoaded(Result<Vec<PipelineView>, String>),
    /// The pipeline agent the UI runs reported a run starting or ending, or a problem.
    Agent(AgentEvent),
    /// A pipeline's schedule was switched on or off (or the switch was refused).
    PipelineChanged(Result<String, String>),
    /// Background work finished: a message for the status line, and whether it was an error.
    Done {
        message: String,
        error: bool,
    },
}

/// Every action a key can be bound to: keymap name, the action, what it does (for `?`).
pub const BINDABLE: &[(&str, Action, &str)] = &[
    ("quit", Action::Quit, "quit cerebro"),
    ("help", Action::Help, "show every key binding"),
    (
        "command",
        Action::Command,
        "open the command line (:train, :promote, :q)",
    ),
    ("filter", Action::Filter, "filter the current list"),
    ("back", Action::Back, "close, cancel or go back"),
    ("next_tab", Action::NextTab, "next tab"),
    ("prev_tab", Action::PrevTab, "previous tab"),
    ("tab_data", Action::TabData, "Data tab"),
    ("tab_experiments", Action::TabExperiments, "Experiments tab"),
    ("tab_registry", Action::TabRegistry, "Registry tab"),
    ("tab_endpoints", Action::TabEndpoints, "Endpoints tab"),
    ("tab_monitoring", Action::TabMonitoring, "Monitoring tab"),
    ("tab_jobs", Action::TabJobs, "Jobs tab"),
    ("up", Action::Up, "move up"),
    ("down", Action::Down, "move down"),
    ("page_up", Action::PageUp, "page up"),
    ("page_down", Action::PageDown, "page down"),
    ("top", Action::Top, "first row"),
    ("bottom", Action::Bottom, "last row"),
    ("focus_left", Action::FocusLeft, "focus the left pane"),
    ("focus_right", Action::FocusRight, "focus the right pane"),
    ("open", Action::Open, "open the selected item"),
    ("refresh", Action::Refresh, "reload from the store"),
    ("mark", Action::Mark, "mark a run for comparison"),
    ("compare", Action::Compare, "compare the marked runs"),
    ("toggle_diff", Action::ToggleDiff, "only rows that differ"),
    (
        "next_series",
        Action::NextSeries,
        "compare: chart the next per-step metric",
    ),
    ("sort", Action::Sort, "sort by the next column"),
    (
        "sort_reverse",
        Action::SortReverse,
        "reverse the sort order",
    ),
    (
        "group_by_experiment",
        Action::GroupByExperiment,
        "group runs by experiment",
    ),
    ("train", Action::Train, "launch a training job or sweep"),
    (
        "tune",
        Action::Tune,
        "tune hyper-parameters: a search (random, TPE) with nested trials",
    ),
    (
        "parallel_coordinates",
        Action::ParallelCoordinates,
        "parallel coordinates and param importance of the shown runs",
    ),
    (
        "reproduce",
        Action::Reproduce,
        "reproduce the selected run as a job",
    ),
    ("cancel_job", Action::CancelJob, "cancel the selected job"),
    (
        "run_pipeline",
        Action::RunPipeline,
        "run the selected pipeline now",
    ),
    (
        "toggle_schedule",
        Action::ToggleSchedule,
        "turn the selected pipeline's schedule on or off",
    ),
    ("promote", Action::Promote, "promote through the gate"),
    ("rollback", Action::Rollback, "roll back Production"),
    ("archive", Action::Archive, "archive the selected version"),
    (
        "score",
        Action::Score,
        "score a file of raw records with the selected version (:predict)",
    ),
    (
        "toggle_prepared",
        Action::TogglePrepared,
        "raw or prepared data",
    ),
    (
        "toggle_preview",
        Action::TogglePreview,
        "data: the rows instead of the schema",
    ),
    (
        "start_endpoint",
        Action::StartEndpoint,
        "serve the Production model locally",
    ),
    (
        "stop_endpoint",
        Action::StopEndpoint,
        "stop the local endpoint",
    ),
    (
        "share_up",
        Action::ShareUp,
        "challenger share +10% (restarts it)",
    ),
    (
        "share_down",
        Action::ShareDown,
        "challenger share -10% (restarts it)",
    ),
    (
        "granularity",
        Action::Granularity,
        "monitoring: next window length",
    ),
    (
        "next_endpoint",
        Action::NextEndpoint,
        "monitoring: next endpoint",
    ),
    (
        "demo",
        Action::Demo,
        "empty workspace: train, register, promote and serve a demo model",
    ),
    ("confirm", Action::Confirm, "confirm"),
    ("submit", Action::Submit, "submit the input"),
    (
        "complete",
        Action::Complete,
        "complete (or cycle the model kind)",
    ),
    ("backspace", Action::Backspace, "delete a character"),
];

impl Action {
    /// The action a keymap name stands for.
    pub fn from_name(name: &str) -> Option<Action> {
        BINDABLE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, a, _)| a.clone())
    }

    /// What a bindable action does, by its keymap name.
    pub fn describe(name: &str) -> &'static str {
        BINDABLE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or("", |(_, _, d)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bindable_name_is_unique_and_round_trips() {
        let mut names: Vec<&str> = BINDABLE.iter().map(|(n, _, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), BINDABLE.len());
        assert!(matches!(
            Action::from_name("promote"),
            Some(Action::Promote)
        ));
        assert!(Action::from_name("nope").is_none());
        assert!(!Action::describe("quit").is_empty());
    }
}
