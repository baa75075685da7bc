//! Experiments: the runs table (sortable, filterable, live status of running runs), marks and
//! the side-by-side comparison, run detail, the parallel coordinates and param importance of the
//! shown runs, and launching training, tuning or reproduction jobs.

use std::collections::BTreeMap;

use cerebro::store::query::{Query, QueryError, RunColumns, looks_like_expression};
use cerebro::store::{RunDetail, RunStatus, RunSummary};
use cerebro::track::compare::{Comparison, compare, format_metric};
use cerebro::track::importance::ImportanceReport;
use cerebro::track::parallel::{ParallelCoordinates, parallel_coordinates};
use cerebro::track::view::RunCharts;
use cerebro::train::ModelKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use crate::tui::action::Action;
use crate::tui::app::{Dialog, Overlay, State};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::table::{self, Cursor};

use super::{duration, time, value};
use cerebro::store::short_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Started,
    Name,
    Kind,
    Status,
    Duration,
    RocAuc,
    F1,
}

impl SortColumn {
    const ORDER: [SortColumn; 7] = [
        SortColumn::Started,
        SortColumn::Name,
        SortColumn::Kind,
        SortColumn::Status,
        SortColumn::Duration,
        SortColumn::RocAuc,
        SortColumn::F1,
    ];

    fn next(self) -> SortColumn {
        let i = Self::ORDER.iter().position(|c| *c == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Started => "started",
            SortColumn::Name => "name",
            SortColumn::Kind => "kind",
            SortColumn::Status => "status",
            SortColumn::Duration => "duration",
            SortColumn::RocAuc => "roc_auc",
            SortColumn::F1 => "f1",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub enum ExpView {
    #[default]
    List,
    Detail {
        run_id: String,
        detail: Option<Box<RunDetail>>,
        scroll: usize,
        /// Learning curves, ROC and PR curves, confusion matrix and importance, once loaded.
        charts: Option<Box<RunCharts>>,
        /// The first chart panel shown where not all fit (`m` moves on).
        panel: usize,
    },
    Compare(CompareView),
    /// Parallel coordinates and param importance of the shown runs (`p`).
    Params(Box<ParamsView>),
}

/// Most runs the parallel coordinates draw and the importance is computed from: the first
/// shown ones, in the table's order.
pub const PLOT_RUNS: usize = 2_000;

/// Most param axes the parallel coordinates have (the most important first once known).
pub const PLOT_PARAMS: usize = 8;

/// The parallel-coordinates view: the shown runs' params and a metric, and the params'
/// importance for it. The plot is rebuilt when the shown runs change (a filter typed in the
/// view); the importance is of the runs shown when the view opened or the metric changed.
#[derive(Debug, Clone)]
pub struct ParamsView {
    /// The metric lines are coloured by; `m` moves to the next of `metrics`.
    pub metric: String,
    /// Metrics the shown runs have, by name.
    pub metrics: Vec<String>,
    pub plot: ParallelCoordinates,
    /// Shown runs when the plot was built (it draws at most [`PLOT_RUNS`] of them).
    pub shown: usize,
    pub importance: ImportanceState,
    /// Tells this view's importance answer from a stale one.
    pub generation: u64,
}

#[derive(Debug, Clone)]
pub enum ImportanceState {
    Computing,
    Ready(Box<ImportanceReport>),
    /// Why there is none (too few runs, no param varies).
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct CompareView {
    pub runs: Vec<RunSummary>,
    pub diff_only: bool,
    pub comparison: Comparison,
    pub scroll: usize,
    /// Per-step metric series of the compared runs, overlaid in a chart: key -> (run id,
    /// (step, value) points), in run order. Empty until loaded, and for kinds without steps.
    pub series: Series,
    /// Which of `series` the chart shows (`m` cycles).
    pub series_shown: usize,
}

/// Per-step metric series of compared runs: key -> (run id, (step, value) points), in run
/// order.
pub type Series = Vec<(String, Vec<(String, Vec<(f64, f64)>)>)>;

/// Metric series logged per step (iterative kinds), charted in the comparison.
pub const STEP_METRICS: [&str; 2] = ["roc_auc_by_trees", "log_loss_by_trees"];

/// How many of the newest runs the first read and the live reloads fetch. The first frame shows
/// them while the whole list loads; reloads merge them in by id instead of rereading every run.
pub const RECENT_RUNS: usize = 500;

/// How many of the newest runs the start-up read (and `ctrl-r`) fetches first: more than a
/// screenful, few enough that a tracking server answers at once (a search of 500 runs on a
/// local `mlflow server` takes 0.3-0.6 s, one of 100 about 0.1 s).
pub const FIRST_PAGE: usize = 100;

#[derive(Debug, Clone)]
pub struct ExperimentsState {
    pub runs: Vec<RunSummary>,
    /// Per run (same index as `runs`): its searchable fields, lowercased once when loaded, so a
    /// filter keystroke over 100,000 runs allocates nothing per run.
    pub search: Vec<String>,
    /// Every run has been read (not only the newest page).
    pub loaded: bool,
    /// Start-up waits for the first page before reading every run.
    pub awaiting_all: bool,
    /// The last read of runs failed (a tracking server that is down): the title says so
    /// instead of "loading" until a read succeeds or `ctrl-r` retries.
    pub failed: bool,
    running: usize,
    /// Rows grouped by experiment (`e`), each group in the chosen order.
    pub grouped: bool,
    /// Experiments among the shown rows, when grouped.
    pub groups: usize,
    /// Indices into `runs` after filter and sort: what the table shows.
    pub rows: Vec<usize>,
    pub cursor: Cursor,
    pub sort: SortColumn,
    pub descending: bool,
    /// Marked run ids, in marking order.
    pub marked: Vec<String>,
    /// The filter expression in force (the last one of the `/` text that parsed), when the
    /// text is an expression rather than a plain word.
    pub query: Option<Query>,
    /// The fields filters named, read once from `runs` (cleared when the runs change), so a
    /// keystroke evaluates columns rather than looking each field up in every run.
    pub columns: RunColumns,
    /// Why the `/` text does not parse (shown beside it; the last good expression still applies).
    pub filter_error: Option<QueryError>,
    pub view: ExpView,
    /// The kind the training form starts with (`[train] model`).
    pub default_kind: ModelKind,
    /// The last parallel-coordinates view's generation (see [`ParamsView::generation`]).
    pub generation: u64,
}

impl Default for ExperimentsState {
    fn default() -> Self {
        ExperimentsState {
            runs: Vec::new(),
            search: Vec::new(),
            loaded: false,
            awaiting_all: false,
            failed: false,
            running: 0,
            grouped: false,
            groups: 0,
            rows: Vec::new(),
            cursor: Cursor::default(),
            sort: SortColumn::Started,
            descending: true,
            marked: Vec::new(),
            query: None,
            columns: RunColumns::default(),
            filter_error: None,
            view: ExpView::List,
            default_kind: ModelKind::Tree,
            generation: 0,
        }
    }
}

impl ExperimentsState {
    pub fn selected(&self) -> Option<&RunSummary> {
        self.rows
            .get(self.cursor.selected)
            .and_then(|&i| self.runs.get(i))
    }

    /// Runs with status RUNNING (counted when the list changes, not per frame or tick).
    pub fn running(&self) -> usize {
        self.running
    }

    /// Recomputes the visible rows after the runs, filter or sort changed, keeping the selected
    /// run selected when it is still shown.
    pub fn refresh_rows(&mut self, page: usize) {
        let keep = self.selected().map(|r| r.run_id.clone());
        if self.search.len() != self.runs.len() {
            self.search = self.runs.iter().map(haystack).collect();
        }
        // A plain word is a substring match over the searchable fields; an expression (it has a
        // comparison) is the run filter language. While an expression is being typed and does
        // not parse yet, the last one that did stays in force.
        let text = self.cursor.filter.trim();
        let mut needle = String::new();
        if text.is_empty() || !looks_like_expression(text) {
            self.query = None;
            self.filter_error = None;
            needle = text.to_lowercase();
        } else {
            match Query::parse(text) {
                Ok(q) => {
                    self.query = Some(q);
                    self.filter_error = None;
                }
                Err(e) => self.filter_error = Some(e),
            }
        }
        let rows: Vec<usize> = match &self.query {
            Some(q) => self.columns.select(q, &self.runs),
            None => (0..self.runs.len())
                .filter(|&i| needle.is_empty() || self.search[i].contains(&needle))
                .collect(),
        };
        // Each row's sort key and id are gathered once into one contiguous vector and sorted
        // there, instead of chasing two runs per comparison (100,000 runs sort in a few ms).
        let runs = &self.runs;
        let mut rows: Vec<usize> = match self.sort {
            SortColumn::Name | SortColumn::Kind | SortColumn::Status => {
                let sort = self.sort;
                fn text(r: &RunSummary, sort: SortColumn) -> &str {
                    match sort {
                        SortColumn::Name => &r.name,
                        SortColumn::Kind => &r.model_kind,
                        _ => r.status.as_str(),
                    }
                }
                let mut keyed: Vec<(&str, &str, usize)> = rows
                    .iter()
                    .map(|&i| (text(&runs[i], sort), runs[i].run_id.as_str(), i))
                    .collect();
                keyed.sort_unstable_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)));
                keyed.into_iter().map(|k| k.2).collect()
            }
            _ => {
                // Every numeric key as f64: times and durations in ms are exact below 2^53; a
                // missing duration sorts first. A missing or undefined metric (NaN) sorts last
                // either way: `total_cmp` puts +NaN above everything and -NaN below, and the
                // descending order is the ascending one reversed.
                let undefined = if self.descending { -f64::NAN } else { f64::NAN };
                let number = |r: &RunSummary| -> f64 {
                    let metric = |k: &str| {
                        r.metrics
                            .get(k)
                            .copied()
                            .filter(|v| !v.is_nan())
                            .unwrap_or(undefined)
                    };
                    match self.sort {
                        SortColumn::Started => r.start_time as f64,
                        SortColumn::Duration => {
                            r.duration_ms.map_or(f64::NEG_INFINITY, |d| d as f64)
                        }
                        SortColumn::RocAuc => metric("roc_auc"),
                        _ => metric("f1"),
                    }
                };
                let mut keyed: Vec<(f64, &str, usize)> = rows
                    .iter()
                    .map(|&i| (number(&runs[i]), runs[i].run_id.as_str(), i))
                    .collect();
                keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
                keyed.into_iter().map(|k| k.2).collect()
            }
        };
        if self.descending {
            rows.reverse();
        }
        if self.grouped {
            // Stable: the chosen order holds inside each experiment.
            rows.sort_by(|&a, &b| runs[a].experiment.cmp(&runs[b].experiment));
            self.groups = rows
                .windows(2)
                .filter(|w| runs[w[0]].experiment != runs[w[1]].experiment)
                .count()
                + usize::from(!rows.is_empty());
        }
        self.running = runs
            .iter()
            .filter(|r| r.status == RunStatus::Running)
            .count();
        self.rows = rows;
        if let Some(id) = keep
            && let Some(pos) = self.rows.iter().position(|&i| self.runs[i].run_id == id)
        {
            self.cursor.selected = pos;
        }
        self.cursor.clamp(self.rows.len(), page);
        self.rebuild_plot();
    }

    /// The shown runs the parallel coordinates and the importance use (at most [`PLOT_RUNS`]).
    fn plotted(&self) -> impl Iterator<Item = &RunSummary> {
        self.rows.iter().take(PLOT_RUNS).map(|&i| &self.runs[i])
    }

    /// Rebuilds the parallel coordinates (if that view is open) from the shown runs, the most
    /// important params first once the importance is known.
    fn rebuild_plot(&mut self) {
        let ExpView::Params(view) = &mut self.view else {
            return;
        };
        let order: Vec<String> = match &view.importance {
            ImportanceState::Ready(r) => r.params.iter().map(|p| p.param.clone()).collect(),
            _ => Vec::new(),
        };
        let runs: Vec<&RunSummary> = self
            .rows
            .iter()
            .take(PLOT_RUNS)
            .map(|&i| &self.runs[i])
            .collect();
        view.plot = parallel_coordinates(&runs, &view.metric, &order, PLOT_PARAMS);
        view.shown = self.rows.len();
    }

    /// Opens the parallel coordinates of the shown runs for `metric` (or the first metric they
    /// have, `roc_auc` when they have it) and asks for the importance.
    fn open_params(&mut self, metric: Option<String>) -> Result<Vec<Effect>, String> {
        let metrics: Vec<String> = self
            .plotted()
            .flat_map(|r| r.metrics.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let metric = match metric {
            Some(m) => m,
            None if metrics.iter().any(|m| m == "roc_auc") => "roc_auc".to_string(),
            None => metrics
                .first()
                .cloned()
                .ok_or("no shown run has a metric: nothing to plot")?,
        };
        self.generation += 1;
        let generation = self.generation;
        let runs: Vec<RunSummary> = self.plotted().cloned().collect();
        self.view = ExpView::Params(Box::new(ParamsView {
            plot: parallel_coordinates(&[], &metric, &[], 0),
            metric: metric.clone(),
            metrics,
            shown: 0,
            importance: ImportanceState::Computing,
            generation,
        }));
        self.rebuild_plot();
        Ok(vec![Effect::Importance {
            generation,
            runs,
            metric,
        }])
    }

    fn open_compare(&mut self, diff_only: bool) -> Result<(), String> {
        let runs: Vec<RunSummary> = self
            .marked
            .iter()
            .filter_map(|id| self.runs.iter().find(|r| &r.run_id == id).cloned())
            .collect();
        if runs.len() < 2 {
            return Err("mark at least two runs with space, then press c to compare".into());
        }
        let refs: Vec<&RunSummary> = runs.iter().collect();
        let comparison = compare(&refs, diff_only);
        self.view = ExpView::Compare(CompareView {
            runs,
            diff_only,
            comparison,
            scroll: 0,
            series: Vec::new(),
            series_shown: 0,
        });
        Ok(())
    }
}

/// What a run filter matches: id, name, kind, status, experiment and data version, lowercased.
fn haystack(r: &RunSummary) -> String {
    [
        r.run_id.as_str(),
        &r.name,
        &r.model_kind,
        r.status.as_str(),
        &r.experiment,
        r.data_version.as_deref().unwrap_or(""),
    ]
    .join("\u{1}")
    .to_lowercase()
}

/// Every run from the store.
pub fn on_runs(state: &mut State, runs: Vec<RunSummary>) {
    let page = state.page();
    let e = &mut state.experiments;
    e.search = runs.iter().map(haystack).collect();
    e.runs = runs;
    e.columns.clear();
    e.loaded = true;
    e.failed = false;
    let known: std::collections::HashSet<&str> = e.runs.iter().map(|r| r.run_id.as_str()).collect();
    e.marked.retain(|id| known.contains(id.as_str()));
    e.refresh_rows(page);
}

/// The newest runs from the store (at most [`RECENT_RUNS`]): they replace the rows with the same
/// id and new ones are added, so a live reload during training costs one page, not every run.
pub fn on_recent_runs(state: &mut State, recent: Vec<RunSummary>) {
    let page = state.page();
    let e = &mut state.experiments;
    let fresh: std::collections::HashMap<&str, usize> = recent
        .iter()
        .enumerate()
        .map(|(i, r)| (r.run_id.as_str(), i))
        .collect();
    let mut taken = vec![false; recent.len()];
    e.columns.clear();
    for (run, search) in e.runs.iter_mut().zip(e.search.iter_mut()) {
        if let Some(&i) = fresh.get(run.run_id.as_str()) {
            *run = recent[i].clone();
            *search = haystack(run);
            taken[i] = true;
        }
    }
    let new: Vec<RunSummary> = recent
        .iter()
        .zip(&taken)
        .filter(|(_, t)| !**t)
        .map(|(r, _)| r.clone())
        .collect();
    if !new.is_empty() {
        // Newest first, as the store lists them.
        let mut search: Vec<String> = new.iter().map(haystack).collect();
        search.append(&mut e.search);
        let mut runs = new;
        runs.append(&mut e.runs);
        e.runs = runs;
        e.search = search;
    }
    e.refresh_rows(page);
}

/// Per-step series of compared runs: kept if the comparison is still of exactly these runs.
pub fn on_series(state: &mut State, runs: Vec<String>, series: Series) {
    if let ExpView::Compare(view) = &mut state.experiments.view
        && view.runs.iter().map(|r| &r.run_id).eq(runs.iter())
    {
        view.series = series;
        view.series_shown = 0;
    }
}

/// A run's record arrived: keep it if its view is still open, and load its charts (they need
/// the record's artifact list).
pub fn on_run(state: &mut State, detail: Box<RunDetail>) -> Vec<Effect> {
    if let ExpView::Detail {
        run_id, detail: d, ..
    } = &mut state.experiments.view
        && *run_id == detail.summary.run_id
    {
        *d = Some(detail.clone());
        return vec![Effect::LoadRunCharts(detail)];
    }
    Vec::new()
}

/// A run's charts arrived: kept if that run's view is still open.
pub fn on_charts(state: &mut State, loaded: Box<RunCharts>) {
    if let ExpView::Detail { run_id, charts, .. } = &mut state.experiments.view
        && *run_id == loaded.run_id
    {
        *charts = Some(loaded);
    }
}

/// The param importance for the parallel-coordinates view `generation`: kept (and the plot's
/// axes ordered by it) if that view is still open.
pub fn on_importance(
    state: &mut State,
    generation: u64,
    result: Result<Box<ImportanceReport>, String>,
) {
    let e = &mut state.experiments;
    if let ExpView::Params(view) = &mut e.view
        && view.generation == generation
    {
        view.importance = match result {
            Ok(r) => ImportanceState::Ready(r),
            Err(why) => ImportanceState::Failed(why),
        };
        e.rebuild_plot();
    }
}

/// Keys on the Experiments tab (no overlay or input open).
pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    match &mut state.experiments.view {
        ExpView::Params(view) => {
            let next = view
                .metrics
                .iter()
                .position(|m| *m == view.metric)
                .map(|i| view.metrics[(i + 1) % view.metrics.len()].clone())
                .filter(|m| *m != view.metric);
            let e = &mut state.experiments;
            match action {
                Action::Back => e.view = ExpView::List,
                Action::NextSeries => {
                    if let Some(next) = next {
                        return e.open_params(Some(next)).unwrap_or_default();
                    }
                }
                other => {
                    let len = e.rows.len();
                    e.cursor.apply(other, len, page);
                }
            }
            return Vec::new();
        }
        ExpView::Detail { scroll, panel, .. } => {
            match action {
                Action::Back => state.experiments.view = ExpView::List,
                Action::NextSeries => *panel += 1,
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll += 1,
                Action::PageUp => *scroll = scroll.saturating_sub(page),
                Action::PageDown => *scroll += page,
                Action::Top => *scroll = 0,
                _ => {}
            }
            return Vec::new();
        }
        ExpView::Compare(view) => {
            match action {
                Action::Back => state.experiments.view = ExpView::List,
                Action::Up => view.scroll = view.scroll.saturating_sub(1),
                Action::Down => view.scroll += 1,
                Action::Top => view.scroll = 0,
                Action::NextSeries if !view.series.is_empty() => {
                    view.series_shown = (view.series_shown + 1) % view.series.len();
                }
                Action::ToggleDiff => {
                    view.diff_only = !view.diff_only;
                    let refs: Vec<&RunSummary> = view.runs.iter().collect();
                    view.comparison = compare(&refs, view.diff_only);
                    view.scroll = 0;
                }
                _ => {}
            }
            return Vec::new();
        }
        ExpView::List => {}
    }
    let e = &mut state.experiments;
    let len = e.rows.len();
    if e.cursor.apply(action, len, page) {
        return Vec::new();
    }
    match action {
        Action::Sort => {
            e.sort = e.sort.next();
            e.descending = matches!(
                e.sort,
                SortColumn::Started | SortColumn::RocAuc | SortColumn::F1
            );
            e.refresh_rows(page);
            let label = e.sort.label();
            state.info(format!("sorted by {label}"));
        }
        Action::SortReverse => {
            e.descending = !e.descending;
            e.refresh_rows(page);
        }
        Action::GroupByExperiment => {
            e.grouped = !e.grouped;
            e.refresh_rows(page);
            let msg = if e.grouped {
                format!("grouped by experiment ({})", e.groups)
            } else {
                "not grouped".to_string()
            };
            state.info(msg);
        }
        Action::Mark => {
            if let Some(id) = e.selected().map(|r| r.run_id.clone()) {
                if let Some(pos) = e.marked.iter().position(|m| *m == id) {
                    e.marked.remove(pos);
                } else {
                    e.marked.push(id);
                }
                e.cursor.apply(&Action::Down, len, page);
            }
        }
        Action::Compare => match e.open_compare(false) {
            Ok(()) => return vec![Effect::LoadSeries(e.marked.clone())],
            Err(msg) => state.error(msg),
        },
        Action::Open => {
            if let Some(id) = e.selected().map(|r| r.run_id.clone()) {
                e.view = ExpView::Detail {
                    run_id: id.clone(),
                    detail: None,
                    scroll: 0,
                    charts: None,
                    panel: 0,
                };
                return vec![Effect::LoadRun(id)];
            }
        }
        Action::ParallelCoordinates => match e.open_params(None) {
            Ok(effects) => return effects,
            Err(msg) => state.error(msg),
        },
        Action::Tune => {
            state.overlay = Some(Overlay::Dialog(Dialog::Tune {
                kind: e.default_kind,
                text: crate::tui::widgets::command::tune_defaults(e.default_kind),
                error: None,
            }));
        }
        Action::Train => {
            state.overlay = Some(Overlay::Dialog(Dialog::Train {
                kind: e.default_kind,
                params: String::new(),
                error: None,
            }));
        }
        Action::Reproduce => match e.selected() {
            Some(r) if r.status == RunStatus::Finished => {
                let id = r.run_id.clone();
                state.info(format!(
                    "reproducing run {} as a job (Jobs tab shows it)",
                    short_id(&id)
                ));
                return vec![Effect::Reproduce(id)];
            }
            Some(r) => {
                let msg = format!(
                    "run {} is {}: only FINISHED runs can be reproduced",
                    short_id(&r.run_id),
                    r.status
                );
                state.error(msg);
            }
            None => state.error("no run selected"),
        },
        Action::Back if !e.marked.is_empty() => {
            e.marked.clear();
            state.info("marks cleared");
        }
        _ => {}
    }
    Vec::new()
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    match &state.experiments.view {
        ExpView::List => render_list(frame, area, state),
        ExpView::Detail {
            run_id,
            detail,
            scroll,
            charts,
            panel,
        } => render_detail(
            frame,
            area,
            state,
            run_id,
            detail.as_deref(),
            *scroll,
            charts.as_deref(),
            *panel,
        ),
        ExpView::Params(view) => render_params(frame, area, state, view),
        ExpView::Compare(view) => {
            if view.series.is_empty() || area.height < 24 {
                render_compare(frame, area, &state.theme, view);
            } else {
                let [table, chart] =
                    Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)])
                        .areas(area);
                render_compare(frame, table, &state.theme, view);
                render_series(frame, chart, &state.theme, view);
            }
        }
    }
}

pub fn status_style(theme: &Theme, status: RunStatus) -> Style {
    theme.get(match status {
        RunStatus::Running => "running",
        RunStatus::Finished => "finished",
        RunStatus::Failed => "failed",
        RunStatus::Killed => "killed",
    })
}

fn render_list(frame: &mut Frame, area: Rect, state: &State) {
    // From 160 columns the selected run's params, metrics and tags sit beside the table.
    let area = if area.width >= 160 {
        let [table, side] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .areas(area);
        render_selected(frame, side, state);
        table
    } else {
        area
    };
    let e = &state.experiments;
    let theme = &state.theme;
    let arrow = if e.descending { "↓" } else { "↑" };
    let head = |label: &'static str, col: Option<SortColumn>| -> Cell<'static> {
        if col == Some(e.sort) {
            Cell::from(format!("{label}{arrow}"))
        } else {
            Cell::from(label)
        }
    };
    let wide = area.width >= 110;
    let mut header = vec![Cell::from(" ")];
    if e.grouped {
        header.push(Cell::from("experiment"));
    }
    header.extend([
        head("run", None),
        head("name", Some(SortColumn::Name)),
        head("kind", Some(SortColumn::Kind)),
        head("status", Some(SortColumn::Status)),
        head("started", Some(SortColumn::Started)),
        head("dur", Some(SortColumn::Duration)),
        head("roc_auc", Some(SortColumn::RocAuc)),
        head("f1", Some(SortColumn::F1)),
    ]);
    if wide && !e.grouped {
        header.push(Cell::from("experiment"));
        header.push(Cell::from("data"));
    } else if wide {
        header.push(Cell::from("data"));
    }
    let window = table::visible(area, &e.cursor, e.rows.len());
    let first = window.start;
    let rows: Vec<Row> = e.rows[window]
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let r = &e.runs[i];
            let marked = e.marked.contains(&r.run_id);
            let status = match state.jobs.progress_of(&r.run_id) {
                Some(f) if r.status == RunStatus::Running => format!("RUN {:>3.0}%", f * 100.0),
                _ => r.status.as_str().to_string(),
            };
            let mut cells =
                vec![Cell::from(if marked { "*" } else { " " }).style(theme.get("marked"))];
            if e.grouped {
                // The experiment's name on its first row (and on the first row shown).
                let at = first + k;
                let opens = at == first || e.runs[e.rows[at - 1]].experiment != r.experiment;
                cells.push(if opens {
                    Cell::from(r.experiment.clone()).style(theme.get("title"))
                } else {
                    Cell::from("")
                });
            }
            cells.extend([
                Cell::from(short_id(&r.run_id).to_string()),
                Cell::from(r.name.clone()),
                Cell::from(r.model_kind.clone()),
                Cell::from(status).style(status_style(theme, r.status)),
                Cell::from(time(r.start_time)),
                Cell::from(duration(r.duration_ms)),
                Cell::from(value(r.metrics.get("roc_auc").copied())),
                Cell::from(value(r.metrics.get("f1").copied())),
            ]);
            if wide && !e.grouped {
                cells.push(Cell::from(r.experiment.clone()));
            }
            if wide {
                cells.push(Cell::from(
                    r.data_version.as_deref().map_or("-", short_id).to_string(),
                ));
            }
            let row = Row::new(cells);
            if marked {
                row.style(theme.get("marked"))
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![Constraint::Length(1)];
    if e.grouped {
        widths.push(Constraint::Length(12));
    }
    widths.extend([
        Constraint::Length(8),
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(6),
    ]);
    if wide && !e.grouped {
        widths.push(Constraint::Length(12));
    }
    if wide {
        widths.push(Constraint::Length(8));
    }
    let title = if !e.loaded && e.runs.is_empty() && e.failed {
        "Runs: could not be read (the error is below; ctrl-r retries)".to_string()
    } else if !e.loaded && e.runs.is_empty() {
        "Runs (loading…)".to_string()
    } else if !e.loaded && e.failed {
        format!(
            "Runs: the newest {} (could not read every run; ctrl-r retries)",
            e.runs.len()
        )
    } else if !e.loaded {
        format!("Runs: the newest {} (reading every run…)", e.runs.len())
    } else if e.runs.is_empty() {
        "Runs: none yet (press D for the demo, t to train)".to_string()
    } else {
        format!(
            "Runs {}/{}{}{}{}",
            e.rows.len(),
            e.runs.len(),
            if e.grouped {
                format!(" in {} experiments", e.groups)
            } else {
                String::new()
            },
            if e.running() > 0 {
                format!(", {} running", e.running())
            } else {
                String::new()
            },
            if e.marked.is_empty() {
                String::new()
            } else {
                format!(", {} marked", e.marked.len())
            }
        )
    };
    table::draw_window(
        frame,
        area,
        theme,
        title,
        Row::new(header),
        rows,
        &widths,
        &e.cursor,
        true,
    );
}

/// The selected run's summary (what the list already holds; Enter opens the full view).
fn render_selected(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"));
    let Some(r) = state.experiments.selected() else {
        frame.render_widget(Paragraph::new("no run selected").block(block), area);
        return;
    };
    let block = block.title(Span::styled(
        format!("{} {} (enter: charts)", short_id(&r.run_id), r.name),
        theme.get("title"),
    ));
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!("  {:<14} ", "status")),
            Span::styled(r.status.as_str(), status_style(theme, r.status)),
        ]),
        kv("experiment", r.experiment.clone()),
        kv("kind", r.model_kind.clone()),
    ];
    if let Some(parent) = r.tags.get(PARENT_RUN_TAG) {
        lines.push(kv("parent run", short_id(parent).to_string()));
    }
    lines.push(section(theme, "Metrics"));
    lines.extend(r.metrics.iter().map(|(k, v)| kv(k, format_metric(k, *v))));
    lines.push(section(theme, "Params"));
    lines.extend(r.params.iter().map(|(k, v)| kv(k, v.clone())));
    if !r.tags.is_empty() {
        lines.push(section(theme, "Tags"));
        lines.extend(r.tags.iter().map(|(k, v)| kv(k, v.clone())));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The parallel coordinates of the shown runs with the selected run highlighted, and the params'
/// importance: side by side from 120 columns, the importance under the plot on a narrower
/// terminal.
fn render_params(frame: &mut Frame, area: Rect, state: &State, view: &ParamsView) {
    use crate::tui::widgets::parallel;
    let e = &state.experiments;
    let selected = e.selected();
    let points = selected.and_then(|r| view.plot.points_of(r));
    let drawn = view.shown.min(PLOT_RUNS);
    let mut title = if drawn < view.shown {
        format!(
            "Parallel coordinates: the first {drawn} of {} shown runs by {}",
            view.shown, view.metric
        )
    } else {
        format!(
            "Parallel coordinates: {} runs by {}",
            view.plot.lines.len(),
            view.metric
        )
    };
    if let Some(r) = selected {
        let value = r
            .metrics
            .get(&view.metric)
            .map_or("-".to_string(), |v| format_metric(&view.metric, *v));
        title.push_str(&format!(", ● {} {} = {value}", short_id(&r.run_id), r.name));
    }
    title.push_str(" (j/k run, m metric, esc back)");
    let (report, status) = match &view.importance {
        ImportanceState::Computing => (None, "computing…".to_string()),
        ImportanceState::Ready(r) => (Some(r.as_ref()), String::new()),
        ImportanceState::Failed(why) => (None, why.clone()),
    };
    let params = report.map_or(1, |r| r.params.len()) as u16;
    if area.width >= 120 {
        let [plot, side] =
            Layout::horizontal([Constraint::Min(60), Constraint::Length(44)]).areas(area);
        parallel::draw(
            frame,
            plot,
            &state.theme,
            title,
            &view.plot,
            points.as_deref(),
        );
        parallel::draw_importance(frame, side, &state.theme, report, &status);
    } else {
        let below = (params + 2).clamp(3, 7);
        let [plot, side] =
            Layout::vertical([Constraint::Min(8), Constraint::Length(below)]).areas(area);
        parallel::draw(
            frame,
            plot,
            &state.theme,
            title,
            &view.plot,
            points.as_deref(),
        );
        parallel::draw_importance(frame, side, &state.theme, report, &status);
    }
}

/// The tag MLflow nests runs by (a trial under its tuning run).
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";

fn section<'a>(theme: &Theme, title: &'a str) -> Line<'a> {
    Line::from(Span::styled(title, theme.get("title")))
}

/// `key value`, keys padded to 14 columns; a longer key keeps one space before its value
/// (and is cut with `…` past 28 columns) so values never run into keys.
fn kv(key: &str, value: impl Into<String>) -> Line<'static> {
    let key = if key.chars().count() > 28 {
        format!("{}…", key.chars().take(27).collect::<String>())
    } else {
        key.to_string()
    };
    Line::from(format!("  {key:<14} {}", value.into()))
}

#[allow(clippy::too_many_arguments)]
fn render_detail(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    run_id: &str,
    detail: Option<&RunDetail>,
    scroll: usize,
    charts: Option<&RunCharts>,
    panel: usize,
) {
    let theme = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("title"))
        .title(format!("Run {} (esc back)", short_id(run_id)));
    let Some(d) = detail else {
        frame.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let s = &d.summary;
    let mut left = vec![
        section(theme, "Run"),
        kv("id", s.run_id.clone()),
        kv("name", s.name.clone()),
        kv("experiment", s.experiment.clone()),
        kv("kind", s.model_kind.clone()),
        Line::from(vec![
            Span::raw(format!("  {:<14} ", "status")),
            Span::styled(s.status.as_str(), status_style(theme, s.status)),
        ]),
        kv("started", time(s.start_time)),
        kv("duration", duration(s.duration_ms)),
    ];
    if let Some(src) = &d.source {
        left.push(kv("source", src.clone()));
    }
    if let Some(err) = &d.error {
        left.push(Line::from(Span::styled(
            format!("  {:<14} {err}", "error"),
            theme.get("error"),
        )));
    }
    left.push(section(theme, "Params"));
    left.extend(s.params.iter().map(|(k, v)| kv(k, v.clone())));
    if !d.tags.is_empty() {
        left.push(section(theme, "Tags"));
        left.extend(d.tags.iter().map(|(k, v)| kv(k, v.clone())));
    }
    let mut right = vec![section(theme, "Metrics")];
    right.extend(s.metrics.iter().map(|(k, v)| kv(k, format_metric(k, *v))));
    let env = &d.environment;
    right.push(section(theme, "Lineage and environment"));
    right.push(kv(
        "data version",
        s.data_version.clone().unwrap_or_else(|| "-".into()),
    ));
    right.push(kv(
        "git",
        format!(
            "{} {}{}",
            env.git_commit.as_deref().map_or("-", short_id),
            env.git_branch.as_deref().unwrap_or(""),
            if env.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        ),
    ));
    right.push(kv(
        "config",
        format!("sha256:{}", short_id(&env.config_hash)),
    ));
    right.push(kv(
        "cerebro",
        format!("{} {}/{}", env.cerebro_version, env.os, env.arch),
    ));
    right.push(kv("host / user", format!("{} / {}", env.host, env.user)));
    right.push(kv("seed", env.seed.to_string()));
    right.push(section(theme, "Artifacts"));
    right.extend(d.artifacts.iter().map(|a| {
        kv(
            &a.name,
            format!(
                "{} bytes {}",
                a.size,
                short_id(a.digest.trim_start_matches("sha256:"))
            ),
        )
    }));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    let panels = charts
        .map(crate::tui::widgets::charts::panels)
        .unwrap_or_default();
    if panels.is_empty() || inner.height < 14 {
        render_text(frame, inner, left, right, scroll);
        return;
    }
    if inner.width >= 160 && inner.height >= 30 {
        // Wide: the record on the left, every chart in a grid on the right.
        let [text, grid] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(inner);
        left.extend(right);
        frame.render_widget(Paragraph::new(left).scroll((scroll, 0)), text);
        crate::tui::widgets::charts::draw_grid(frame, grid, &state.theme, &panels, panel);
        return;
    }
    // Narrow: the record above, as many charts as fit side by side below (`m` shows the next).
    let chart_height = (inner.height / 2).max(10);
    let [text, strip] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(chart_height)]).areas(inner);
    render_text(frame, text, left, right, scroll);
    crate::tui::widgets::charts::draw_strip(frame, strip, &state.theme, &panels, panel);
}

/// The record as text: two columns from 100 wide, else one.
fn render_text(
    frame: &mut Frame,
    inner: Rect,
    mut left: Vec<Line<'static>>,
    right: Vec<Line<'static>>,
    scroll: u16,
) {
    if inner.width >= 100 {
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(inner);
        frame.render_widget(Paragraph::new(left).scroll((scroll, 0)), l);
        frame.render_widget(Paragraph::new(right).scroll((scroll, 0)), r);
    } else {
        left.extend(right);
        frame.render_widget(Paragraph::new(left).scroll((scroll, 0)), inner);
    }
}

fn render_compare(frame: &mut Frame, area: Rect, theme: &Theme, view: &CompareView) {
    let c = &view.comparison;
    let names: BTreeMap<&str, &str> = view
        .runs
        .iter()
        .map(|r| (r.run_id.as_str(), r.name.as_str()))
        .collect();
    let mut header = vec![Cell::from("")];
    header.extend(c.runs.iter().map(|id| {
        Cell::from(format!(
            "{} {}",
            short_id(id),
            names.get(id.as_str()).unwrap_or(&"")
        ))
    }));
    let mut rows: Vec<Row> = Vec::new();
    for (k, vals) in &c.params {
        let mut cells = vec![Cell::from(format!("param {k}"))];
        cells.extend(
            vals.iter()
                .map(|v| Cell::from(v.clone().unwrap_or_else(|| "-".into()))),
        );
        rows.push(Row::new(cells));
    }
    for (k, vals) in &c.metrics {
        let best = c.best.get(k);
        let mut cells = vec![Cell::from(format!("metric {k}"))];
        cells.extend(vals.iter().enumerate().map(|(i, v)| {
            let text = v.map_or("-".to_string(), |x| format!("{x:.4}"));
            if best == Some(&c.runs[i]) {
                Cell::from(format!("{text} *")).style(theme.get("best"))
            } else {
                Cell::from(text)
            }
        }));
        rows.push(Row::new(cells));
    }
    let n = c.runs.len().max(1) as u32;
    let mut widths = vec![Constraint::Length(26)];
    widths.extend((0..n).map(|_| Constraint::Ratio(1, n)));
    let title = format!(
        "Compare {} runs{} (* best, d: {}, esc back)",
        c.runs.len(),
        if view.diff_only {
            ", differences only"
        } else {
            ""
        },
        if view.diff_only {
            "show all"
        } else {
            "differences only"
        }
    );
    let rows: Vec<Row> = rows.into_iter().skip(view.scroll).collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.get("title")))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.get("title"))
                .title(title),
        );
    frame.render_widget(table, area);
}

/// The shown per-step metric of the compared runs, one line per run on shared axes.
fn render_series(frame: &mut Frame, area: Rect, theme: &Theme, view: &CompareView) {
    use ratatui::symbols::Marker;
    use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
    let Some((key, runs)) = view.series.get(view.series_shown) else {
        return;
    };
    // Distinct styles per run; with NO_COLOR the legend's names still tell them apart.
    let styles = [
        "running",
        "pass",
        "fail",
        "best",
        "info",
        "staging",
        "production",
    ];
    let names: BTreeMap<&str, &str> = view
        .runs
        .iter()
        .map(|r| (r.run_id.as_str(), r.name.as_str()))
        .collect();
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (_, points) in runs {
        for &(x, y) in points {
            x_max = x_max.max(x);
            if y.is_finite() {
                y_min = y_min.min(y);
                y_max = y_max.max(y);
            }
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let (y_min, y_max) = (y_min - pad, y_max + pad);
    let datasets: Vec<Dataset> = runs
        .iter()
        .enumerate()
        .map(|(i, (id, points))| {
            Dataset::default()
                .name(format!(
                    "{} {}",
                    short_id(id),
                    names.get(id.as_str()).unwrap_or(&"")
                ))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.get(styles[i % styles.len()]))
                .data(points)
        })
        .collect();
    let more = if view.series.len() > 1 {
        ", m: next metric"
    } else {
        ""
    };
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.get("border"))
                .title(format!("{key} by step{more}")),
        )
        .x_axis(
            Axis::default()
                .bounds([0.0, x_max])
                .labels(vec![Span::raw("0"), Span::raw(format!("{x_max:.0}"))]),
        )
        .y_axis(Axis::default().bounds([y_min, y_max]).labels(vec![
            Span::raw(format!("{y_min:.3}")),
            Span::raw(format!("{y_max:.3}")),
        ]))
        .legend_position(Some(ratatui::widgets::LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)));
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod nan_sort_tests {
    use super::*;
    use crate::tui::fixtures::run;
    use cerebro::store::RunStatus;

    /// An undefined ROC AUC (NaN: a test set with one class) sorts last whether the column is
    /// sorted ascending or descending.
    #[test]
    fn undefined_metrics_sort_last_both_ways() {
        let mut e = ExperimentsState {
            runs: vec![
                run("a", "low", 0.6, RunStatus::Finished),
                run("b", "undefined", f64::NAN, RunStatus::Finished),
                run("c", "high", 0.9, RunStatus::Finished),
            ],
            sort: SortColumn::RocAuc,
            ..ExperimentsState::default()
        };
        let names = |e: &ExperimentsState| -> Vec<String> {
            e.rows.iter().map(|&i| e.runs[i].name.clone()).collect()
        };
        for (descending, want) in [
            (true, ["high", "low", "undefined"]),
            (false, ["low", "high", "undefined"]),
        ] {
            e.descending = descending;
            e.refresh_rows(10);
            assert_eq!(names(&e), want, "descending {descending}");
        }
    }
}
