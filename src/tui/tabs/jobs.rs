//! Jobs: training and reproduction jobs started from this UI, with progress gauges and their
//! last messages; `x` cancels the selected one. Jobs report by id (see `cerebro::jobs`).
//!
//! When the config has pipelines, the left half lists them (schedule, on or off, last run) with
//! the selected one's DAG below: steps in execution order, indented under the dependency that
//! runs last, coloured by their state in the latest run. `r` runs it now through the agent the
//! UI runs, `s` turns its schedule on or off; `h`/`l` move the focus between pipelines and jobs.

use std::collections::{BTreeMap, BTreeSet};

use cerebro::jobs::{JobEvent, JobId};
use cerebro::workflow::{AgentEvent, PipelineView};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, LineGauge, Paragraph, Row, Wrap};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::effects::Effect;
use crate::tui::widgets::table::{self, Cursor};

use cerebro::store::short_id;

/// While no pipeline runs, pipelines are re-read every this many ticks (runs started by
/// another runner, a `cerebro agent`, show up); while one runs, every tick.
pub const PIPELINE_POLL_TICKS: u64 = 5;

/// Which list the movement keys move on the Jobs tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Pipelines,
    Jobs,
}

/// Messages kept per job.
const KEEP_MESSAGES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelling,
    Cancelled,
    /// Stopped early by a tune's pruner.
    Pruned,
}

impl JobStatus {
    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Finished => "FINISHED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Cancelled => "KILLED",
            JobStatus::Pruned => "PRUNED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Finished | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Pruned
        )
    }

    fn style_name(self) -> &'static str {
        match self {
            JobStatus::Queued | JobStatus::Running | JobStatus::Cancelling => "running",
            JobStatus::Finished => "finished",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "killed",
            JobStatus::Pruned => "killed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: JobId,
    pub label: String,
    pub status: JobStatus,
    pub fraction: f64,
    pub stage: String,
    pub messages: Vec<String>,
    /// The run this job created: its 8-character prefix once started, the full id when done.
    pub run: Option<String>,
    /// The run this job reproduces.
    pub reproduces: Option<String>,
}

impl JobRow {
    fn new(id: JobId) -> JobRow {
        JobRow {
            id,
            label: format!("job {id}"),
            status: JobStatus::Queued,
            fraction: 0.0,
            stage: String::new(),
            messages: Vec::new(),
            run: None,
            reproduces: None,
        }
    }

    fn say(&mut self, message: String) {
        if self.messages.last() != Some(&message) {
            self.messages.push(message);
        }
        let excess = self.messages.len().saturating_sub(KEEP_MESSAGES);
        self.messages.drain(..excess);
    }
}

#[derive(Debug, Clone, Default)]
pub struct JobsState {
    /// Oldest first; shown newest first.
    pub jobs: Vec<JobRow>,
    pub cursor: Cursor,
    /// The config's pipelines, in name order, with their DAG and latest run.
    pub pipelines: Vec<PipelineView>,
    pub pipelines_cursor: Cursor,
    pub pipelines_error: Option<String>,
    /// A pipelines read is in flight (ticks do not stack them).
    pub pipelines_pending: bool,
    /// Pipelines whose run the UI's agent started and has not reported ended.
    pub agent_running: BTreeSet<String>,
    /// The UI runs a pipeline agent (the config has pipelines).
    pub agent: bool,
    pub focus: Focus,
}

impl JobsState {
    /// Indices into `pipelines` as shown, filtered.
    pub fn pipeline_rows(&self) -> Vec<usize> {
        (0..self.pipelines.len())
            .filter(|&i| {
                let p = &self.pipelines[i];
                self.pipelines_cursor.matches(&[
                    &p.name,
                    p.last_run.as_ref().map_or("", |r| r.status.as_str()),
                ])
            })
            .collect()
    }

    pub fn selected_pipeline(&self) -> Option<&PipelineView> {
        self.pipeline_rows()
            .get(self.pipelines_cursor.selected)
            .map(|&i| &self.pipelines[i])
    }

    /// Pipelines running now: started by this UI's agent, or RUNNING in the store.
    pub fn pipelines_running(&self) -> usize {
        let mut names: BTreeSet<&str> = self.agent_running.iter().map(String::as_str).collect();
        for p in &self.pipelines {
            if p.last_run.as_ref().is_some_and(|r| r.status == "RUNNING") {
                names.insert(&p.name);
            }
        }
        names.len()
    }

    /// The Pipelines section is shown (the config has pipelines).
    pub fn has_pipelines(&self) -> bool {
        !self.pipelines.is_empty()
    }

    /// The cursor the movement keys and `/` act on.
    pub fn focused_cursor(&mut self) -> &mut Cursor {
        match self.focus {
            Focus::Pipelines if self.has_pipelines() => &mut self.pipelines_cursor,
            _ => &mut self.cursor,
        }
    }

    pub fn running(&self) -> usize {
        self.jobs.iter().filter(|j| !j.status.is_terminal()).count()
    }

    /// Indices into `jobs` as shown: newest first, filtered.
    pub fn rows(&self) -> Vec<usize> {
        (0..self.jobs.len())
            .rev()
            .filter(|&i| {
                let j = &self.jobs[i];
                self.cursor
                    .matches(&[&j.label, j.status.label(), j.run.as_deref().unwrap_or("")])
            })
            .collect()
    }

    pub fn selected(&self) -> Option<&JobRow> {
        self.rows()
            .get(self.cursor.selected)
            .map(|&i| &self.jobs[i])
    }

    /// Progress of the live job training `run_id`, if any.
    pub fn progress_of(&self, run_id: &str) -> Option<f64> {
        self.jobs
            .iter()
            .find(|j| {
                !j.status.is_terminal() && j.run.as_deref().is_some_and(|p| run_id.starts_with(p))
            })
            .map(|j| j.fraction)
    }

    fn row(&mut self, id: JobId) -> &mut JobRow {
        if let Some(i) = self.jobs.iter().position(|j| j.id == id) {
            &mut self.jobs[i]
        } else {
            self.jobs.push(JobRow::new(id));
            self.jobs.last_mut().expect("just pushed")
        }
    }
}

pub fn on_submitted(state: &mut State, job: JobId, reproduces: Option<String>) {
    state.jobs.row(job).reproduces = reproduces;
}

/// A job event: update the row; reload runs when a run appears or ends.
pub fn on_event(state: &mut State, event: JobEvent) -> Vec<Effect> {
    let row = state.jobs.row(event.job());
    let mut effects = Vec::new();
    match event {
        JobEvent::Queued { label, .. } => {
            row.label = label;
            row.say("queued".into());
        }
        JobEvent::Started { .. } => {
            row.status = JobStatus::Running;
            row.say("started".into());
        }
        JobEvent::Progress {
            stage,
            fraction,
            message,
            ..
        } => {
            if row.status == JobStatus::Queued {
                row.status = JobStatus::Running;
            }
            if stage == "start"
                && let Some(prefix) = message.strip_prefix("run ")
            {
                row.run = Some(prefix.trim().to_string());
                effects.push(Effect::LoadRecentRuns);
            }
            row.fraction = fraction.clamp(0.0, 1.0);
            row.say(format!("{stage}: {message}"));
            row.stage = stage;
        }
        JobEvent::Finished { result, .. } => {
            row.status = JobStatus::Finished;
            row.fraction = 1.0;
            row.run = Some(result.run_id.clone());
            row.say(format!(
                "finished run {} roc_auc {:.4}",
                short_id(&result.run_id),
                result.metrics.roc_auc
            ));
            if let Some(original) = row.reproduces.clone() {
                effects.push(Effect::CheckReproduction {
                    original,
                    new_run: result.run_id.clone(),
                });
            }
            let label = row.label.clone();
            effects.extend([Effect::LoadRecentRuns, Effect::LoadDataVersions]);
            state.info(format!(
                "{label}: finished run {}",
                short_id(&result.run_id)
            ));
        }
        JobEvent::Failed { error, .. } => {
            row.status = JobStatus::Failed;
            row.say(format!("FAILED: {error}"));
            let label = row.label.clone();
            effects.push(Effect::LoadRecentRuns);
            state.error(format!("{label} failed: {error}"));
        }
        JobEvent::Cancelled { .. } => {
            row.status = JobStatus::Cancelled;
            row.say("cancelled: the run is KILLED".into());
            effects.push(Effect::LoadRecentRuns);
        }
        JobEvent::Pruned { trees, reason, .. } => {
            row.status = JobStatus::Pruned;
            row.say(format!("pruned at {trees} trees: {reason}"));
            effects.push(Effect::LoadRecentRuns);
        }
    }
    let page = state.page();
    let len = state.jobs.rows().len();
    state.jobs.cursor.clamp(len, page);
    effects
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    match action {
        Action::FocusLeft if state.jobs.has_pipelines() => {
            state.jobs.focus = Focus::Pipelines;
            return Vec::new();
        }
        Action::FocusRight => {
            state.jobs.focus = Focus::Jobs;
            return Vec::new();
        }
        Action::RunPipeline => return run_now(state),
        Action::ToggleSchedule => return toggle_schedule(state),
        _ => {}
    }
    let moved = if state.jobs.focus == Focus::Pipelines && state.jobs.has_pipelines() {
        let len = state.jobs.pipeline_rows().len();
        state.jobs.pipelines_cursor.apply(action, len, page)
    } else {
        let len = state.jobs.rows().len();
        state.jobs.cursor.apply(action, len, page)
    };
    if moved {
        return Vec::new();
    }
    if let Action::CancelJob = action {
        match state
            .jobs
            .selected()
            .map(|j| (j.id, j.status, j.label.clone()))
        {
            Some((id, status, label)) if !status.is_terminal() => {
                state.jobs.row(id).status = JobStatus::Cancelling;
                state.info(format!("cancelling {label}…"));
                return vec![Effect::CancelJob(id)];
            }
            Some((_, status, label)) => {
                state.error(format!("{label} is already {}", status.label()))
            }
            None => state.error("no job selected"),
        }
    }
    Vec::new()
}

fn run_now(state: &mut State) -> Vec<Effect> {
    let Some(p) = state.jobs.selected_pipeline() else {
        state.error("no pipeline selected (the config defines them as [pipelines.NAME])");
        return Vec::new();
    };
    let name = p.name.clone();
    if !state.jobs.agent {
        state.error(format!(
            "cannot run pipeline {name}: the pipeline agent is not running"
        ));
        return Vec::new();
    }
    if p.last_run.as_ref().is_some_and(|r| r.status == "RUNNING")
        || state.jobs.agent_running.contains(&name)
    {
        state.error(format!(
            "pipeline {name} is already running; one run at a time"
        ));
        return Vec::new();
    }
    state.info(format!("starting pipeline {name}…"));
    vec![Effect::RunPipeline(name)]
}

fn toggle_schedule(state: &mut State) -> Vec<Effect> {
    let Some(p) = state.jobs.selected_pipeline() else {
        state.error("no pipeline selected (the config defines them as [pipelines.NAME])");
        return Vec::new();
    };
    let name = p.name.clone();
    if p.schedule.is_none() {
        state.error(format!(
            "pipeline {name} has no schedule to turn on or off (add schedule = {{ every = \"6h\" }})"
        ));
        return Vec::new();
    }
    let enabled = !p.schedule_enabled;
    state.info(format!(
        "turning the schedule of {name} {}…",
        if enabled { "on" } else { "off" }
    ));
    vec![Effect::SetSchedule {
        pipeline: name,
        enabled,
    }]
}

/// A fresh read of the pipelines: keep the selected one selected. Returns whether anything
/// changed (an unchanged read is not redrawn).
pub fn on_pipelines(state: &mut State, result: Result<Vec<PipelineView>, String>) -> bool {
    let jobs = &mut state.jobs;
    jobs.pipelines_pending = false;
    match result {
        Ok(list) => {
            let changed = list != jobs.pipelines || jobs.pipelines_error.is_some();
            if !changed {
                return false;
            }
            let selected = jobs.selected_pipeline().map(|p| p.name.clone());
            let first = jobs.pipelines.is_empty();
            jobs.pipelines = list;
            jobs.pipelines_error = None;
            let rows = jobs.pipeline_rows();
            if let Some(name) = selected
                && let Some(pos) = rows.iter().position(|&i| jobs.pipelines[i].name == name)
            {
                jobs.pipelines_cursor.selected = pos;
            }
            if first && jobs.has_pipelines() {
                jobs.focus = Focus::Pipelines;
            }
            let page = state.page();
            let len = state.jobs.pipeline_rows().len();
            state.jobs.pipelines_cursor.clamp(len, page);
            true
        }
        Err(e) => {
            let changed = jobs.pipelines_error.as_deref() != Some(e.as_str());
            jobs.pipelines_error = Some(e);
            changed
        }
    }
}

/// The agent's news: say it on the status line and re-read the pipelines (and what a run may
/// have produced: runs, models).
pub fn on_agent(state: &mut State, event: AgentEvent) -> Vec<Effect> {
    match event {
        AgentEvent::RunStarted {
            pipeline,
            run_id,
            fired_by,
        } => {
            state.info(format!(
                "pipeline {pipeline}: run {} started ({fired_by})",
                short_id(&run_id)
            ));
            state.jobs.agent_running.insert(pipeline);
            vec![Effect::LoadPipelines]
        }
        AgentEvent::RunEnded(outcome) => {
            state.jobs.agent_running.remove(&outcome.pipeline);
            let run = short_id(&outcome.run_id).to_string();
            if outcome.status == "SUCCEEDED" {
                state.info(format!(
                    "pipeline {}: run {run} SUCCEEDED",
                    outcome.pipeline
                ));
            } else {
                let why = outcome
                    .steps
                    .iter()
                    .find(|s| s.error.is_some())
                    .map(|s| {
                        format!(
                            ": step {}: {}",
                            s.step,
                            s.error.as_deref().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                state.error(format!(
                    "pipeline {}: run {run} {}{why}",
                    outcome.pipeline, outcome.status
                ));
            }
            vec![
                Effect::LoadPipelines,
                Effect::LoadRecentRuns,
                Effect::LoadModels,
            ]
        }
        AgentEvent::Problem { pipeline, message } => {
            match pipeline {
                Some(p) => state.error(format!("pipeline {p}: {message}")),
                None => state.error(format!("pipeline agent: {message}")),
            }
            vec![Effect::LoadPipelines]
        }
    }
}

/// The tick's pipelines read, if one is due: every tick while a pipeline runs (its steps move),
/// else every [`PIPELINE_POLL_TICKS`]; never two at once.
pub fn on_tick(state: &mut State) -> Option<Effect> {
    let jobs = &mut state.jobs;
    if (!jobs.agent && !jobs.has_pipelines()) || jobs.pipelines_pending {
        return None;
    }
    let due = jobs.pipelines_running() > 0 || state.ticks.is_multiple_of(PIPELINE_POLL_TICKS);
    if !due {
        return None;
    }
    state.jobs.pipelines_pending = true;
    Some(Effect::LoadPipelines)
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    if !state.jobs.has_pipelines() {
        let [list_area, log_area] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
        render_jobs(frame, list_area, log_area, state, true);
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let rows = u16::try_from(state.jobs.pipeline_rows().len()).unwrap_or(u16::MAX);
    let list_height = rows.saturating_add(3).clamp(4, (left.height / 2).max(4));
    let [list_area, dag_area] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Min(3)]).areas(left);
    let [jobs_area, log_area] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
    let pipelines_focused = state.jobs.focus == Focus::Pipelines;
    render_pipelines(frame, list_area, state, pipelines_focused);
    render_dag(frame, dag_area, state);
    render_jobs(frame, jobs_area, log_area, state, !pipelines_focused);
}

/// The theme style of a pipeline or step state.
fn status_style(status: Option<&str>) -> &'static str {
    match status {
        Some("SUCCEEDED") => "finished",
        Some("FAILED") => "failed",
        Some("RUNNING") => "running",
        Some("INTERRUPTED") => "killed",
        _ => "dim",
    }
}

fn render_pipelines(frame: &mut Frame, area: Rect, state: &State, focused: bool) {
    let theme = &state.theme;
    let jobs = &state.jobs;
    let wide = area.width >= 70;
    let mut header = vec!["pipeline", "schedule", "on", "last run"];
    let mut widths = vec![
        Constraint::Min(8),
        Constraint::Length(13),
        Constraint::Length(3),
        Constraint::Length(11),
    ];
    if wide {
        header.extend(["started", "by"]);
        widths.extend([Constraint::Length(11), Constraint::Length(10)]);
    }
    let rows: Vec<Row> = jobs
        .pipeline_rows()
        .into_iter()
        .map(|i| {
            let p = &jobs.pipelines[i];
            let schedule = match (&p.schedule, p.triggers.len()) {
                (Some(s), _) => s.clone(),
                (None, 0) => "manual".to_string(),
                (None, n) => format!("{n} trigger{}", if n == 1 { "" } else { "s" }),
            };
            let on = match (&p.schedule, p.schedule_enabled) {
                (None, _) => Cell::from(Span::styled("-", theme.get("dim"))),
                (Some(_), true) => Cell::from(Span::styled("on", theme.get("finished"))),
                (Some(_), false) => Cell::from(Span::styled("off", theme.get("dim"))),
            };
            let status = p.last_run.as_ref().map(|r| r.status.as_str());
            let mut cells = vec![
                Cell::from(p.name.clone()),
                Cell::from(schedule),
                on,
                Cell::from(Span::styled(
                    status.unwrap_or("never").to_string(),
                    theme.get(status_style(status)),
                )),
            ];
            if wide {
                cells.push(Cell::from(
                    p.last_run
                        .as_ref()
                        .map_or("-".into(), |r| super::time(r.started_at)),
                ));
                cells.push(Cell::from(
                    p.last_run
                        .as_ref()
                        .map_or("-".into(), |r| r.fired_by.clone()),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let running = jobs.pipelines_running();
    let mut title = format!("Pipelines ({}", jobs.pipelines.len());
    if running > 0 {
        title.push_str(&format!(", {running} running"));
    }
    title.push(')');
    if jobs.agent {
        title.push_str(" · scheduler running");
    }
    table::draw(
        frame,
        area,
        theme,
        title,
        Row::new(header),
        rows,
        &widths,
        &jobs.pipelines_cursor,
        focused,
    );
}

/// Each step's depth in the DAG: 0 without dependencies, else one more than its deepest one.
/// `steps` are in execution order, so every dependency comes first.
fn depths(p: &PipelineView) -> Vec<usize> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(p.steps.len());
    for s in &p.steps {
        let d = s
            .after
            .iter()
            .filter_map(|a| by_name.get(a.as_str()))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        by_name.insert(&s.name, d);
        out.push(d);
    }
    out
}

/// The selected pipeline's DAG: one line per step in execution order, indented under the
/// dependency that runs last (`└▶`), with its state in the latest run, its kind and, for a step
/// with dependencies, all of them (`← a, b`).
fn render_dag(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"));
    let Some(p) = state.jobs.selected_pipeline() else {
        let text = match &state.jobs.pipelines_error {
            Some(e) => Line::from(Span::styled(format!("pipelines: {e}"), theme.get("error"))),
            None => Line::from(Span::styled("No pipeline selected.", theme.get("dim"))),
        };
        frame.render_widget(Paragraph::new(text).block(block.title("DAG")), area);
        return;
    };
    let title = match &p.last_run {
        Some(r) => format!(
            "DAG: {} · run {} {} ({})",
            p.name,
            short_id(&r.run_id),
            r.status,
            r.fired_by
        ),
        None => format!("DAG: {} · never run", p.name),
    };
    let depths = depths(p);
    let heads: Vec<String> = p
        .steps
        .iter()
        .zip(&depths)
        .map(|(s, &d)| match d {
            0 => s.name.clone(),
            d => format!("{}└▶ {}", "   ".repeat(d - 1), s.name),
        })
        .collect();
    let head_w = heads.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let states: Vec<String> = p
        .steps
        .iter()
        .map(|s| match s.attempts {
            Some(n) if n > 1 => format!("{} ×{n}", s.status.as_deref().unwrap_or("-")),
            _ => s.status.clone().unwrap_or_else(|| "-".into()),
        })
        .collect();
    let state_w = states.iter().map(|t| t.chars().count()).max().unwrap_or(0);
    let kind_w = p.steps.iter().map(|s| s.kind.len()).max().unwrap_or(0);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &state.jobs.pipelines_error {
        lines.push(Line::from(Span::styled(e.clone(), theme.get("error"))));
    }
    if !p.description.is_empty() {
        lines.push(Line::from(Span::styled(
            p.description.clone(),
            theme.get("dim"),
        )));
    }
    for ((s, head), text) in p.steps.iter().zip(&heads).zip(&states) {
        let style = theme.get(status_style(s.status.as_deref()));
        let mut spans = vec![
            Span::styled(format!("{head:<head_w$}  "), style),
            Span::styled(format!("{text:<state_w$}"), style),
            Span::styled(format!("  {:<kind_w$}", s.kind), theme.get("dim")),
        ];
        if !s.after.is_empty() {
            spans.push(Span::styled(
                format!("  ← {}", s.after.join(", ")),
                theme.get("dim"),
            ));
        }
        lines.push(Line::from(spans));
    }
    let mut footer = Vec::new();
    if let Some(next) = p.next_slot {
        footer.push(format!("next run {}", super::time(next)));
    }
    if !p.triggers.is_empty() {
        footer.push(format!("on {}", p.triggers.join("; ")));
    }
    if let Some(e) = p.last_run.as_ref().and_then(|r| r.error.as_ref()) {
        lines.push(Line::from(Span::styled(e.clone(), theme.get("error"))));
    }
    if !footer.is_empty() {
        lines.push(Line::from(Span::styled(
            footer.join(" · "),
            theme.get("dim"),
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block.title(title)), area);
}

/// The jobs list and the selected job's messages.
fn render_jobs(frame: &mut Frame, list_area: Rect, log_area: Rect, state: &State, focused: bool) {
    let theme = &state.theme;
    let jobs = &state.jobs;
    let rows = jobs.rows();
    let title = if jobs.cursor.filter.is_empty() {
        format!(
            "Jobs ({} running, {} total)",
            jobs.running(),
            jobs.jobs.len()
        )
    } else {
        format!("Jobs [/{}]", jobs.cursor.filter)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get(if focused { "title" } else { "border" }))
        .title(title);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    if jobs.jobs.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::from("No jobs yet."),
                Line::from(Span::styled(
                    "Launch one with t on the Experiments tab, :train KIND key=value, or R to reproduce a run.",
                    theme.get("dim"),
                )),
            ])
            .wrap(Wrap { trim: true }),
            inner,
        );
    }
    let height = usize::from(inner.height);
    let offset = jobs.cursor.offset.min(rows.len().saturating_sub(1));
    for (line, &i) in rows.iter().skip(offset).take(height).enumerate() {
        let j = &jobs.jobs[i];
        let y = inner.y + u16::try_from(line).unwrap_or(0);
        let row_area = Rect::new(inner.x, y, inner.width, 1);
        let label_w = (inner.width / 3).clamp(12, 40);
        let [label_area, status_area, gauge_area] = Layout::horizontal([
            Constraint::Length(label_w),
            Constraint::Length(11),
            Constraint::Min(10),
        ])
        .areas(row_area);
        let selected = focused && offset + line == jobs.cursor.selected;
        let mut label_style = theme.get("tab");
        if selected {
            label_style = theme.get("selected");
        }
        frame.render_widget(
            Paragraph::new(format!("{:>3} {}", j.id, j.label)).style(label_style),
            label_area,
        );
        frame.render_widget(
            Paragraph::new(j.status.label()).style(theme.get(j.status.style_name())),
            status_area,
        );
        frame.render_widget(
            LineGauge::default()
                .ratio(j.fraction)
                .label(format!("{:>3.0}% {}", j.fraction * 100.0, j.stage))
                .filled_style(theme.get("gauge")),
            gauge_area,
        );
    }
    let log_title = match jobs.selected() {
        Some(j) => format!(
            "Job {} {}{}",
            j.id,
            j.label,
            j.run
                .as_deref()
                .map(|r| format!(" (run {})", short_id(r)))
                .unwrap_or_default()
        ),
        None => "Messages".into(),
    };
    let lines: Vec<Line> = jobs
        .selected()
        .map(|j| j.messages.iter().map(|m| Line::from(m.clone())).collect())
        .unwrap_or_default();
    let skip = lines
        .len()
        .saturating_sub(usize::from(log_area.height.saturating_sub(2)));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.get("border"))
                .title(log_title),
        ),
        log_area,
    );
}
