//! Jobs: training and reproduction jobs started from this UI, with progress gauges and their
//! last messages; `x` cancels the selected one. Jobs report by id (see `cerebro::jobs`).

use cerebro::jobs::{JobEvent, JobId};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, LineGauge, Paragraph};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::effects::Effect;
use crate::tui::widgets::table::Cursor;

use super::short;

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
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Finished | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    fn style_name(self) -> &'static str {
        match self {
            JobStatus::Queued | JobStatus::Running | JobStatus::Cancelling => "running",
            JobStatus::Finished => "finished",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "killed",
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
}

impl JobsState {
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
                short(&result.run_id),
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
            state.info(format!("{label}: finished run {}", short(&result.run_id)));
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
    }
    let page = state.page();
    let len = state.jobs.rows().len();
    state.jobs.cursor.clamp(len, page);
    effects
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    let len = state.jobs.rows().len();
    if state.jobs.cursor.apply(action, len, page) {
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

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let jobs = &state.jobs;
    let rows = jobs.rows();
    let [list_area, log_area] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
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
        .border_style(theme.get("title"))
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
            ]),
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
        let selected = offset + line == jobs.cursor.selected;
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
                .map(|r| format!(" (run {})", short(r)))
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
