//! Data: the schema of the raw or prepared dataset (from `cerebro::data::profile`), a
//! histogram (numeric) or top values (text) of the selected column, and the data versions with
//! the runs that trained on each. `r` toggles raw and prepared.

use cerebro::data::profile::{ColumnProfile, Profile};
use cerebro::store::DataVersionSummary;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Cell, Paragraph, Row};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::effects::Effect;
use crate::tui::widgets::table::{self, Cursor};

use super::time;
use cerebro::store::short_id;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Schema,
    Versions,
}

/// A profile being loaded, loaded, or failed.
#[derive(Debug, Clone, Default)]
pub enum Load<T> {
    #[default]
    NotAsked,
    Loading,
    Ready(T),
    Failed(String),
}

/// The first rows of the raw file or the prepared train set, as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preview {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows in the table (the preview holds at most [`PREVIEW_ROWS`] of them).
    pub total: usize,
}

/// Rows a preview reads.
pub const PREVIEW_ROWS: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct DataState {
    pub prepared: bool,
    /// `v`: the rows instead of the schema.
    pub preview_on: bool,
    /// The preview and whether it is of the prepared train set.
    pub preview: Load<(bool, Preview)>,
    pub preview_cursor: Cursor,
    /// First column shown (`h`/`l` scroll sideways).
    pub preview_column: usize,
    pub raw: Load<Profile>,
    pub prepared_profile: Load<Profile>,
    pub columns_cursor: Cursor,
    pub versions: Vec<DataVersionSummary>,
    pub versions_loaded: bool,
    pub versions_cursor: Cursor,
    pub focus: Focus,
}

impl DataState {
    pub fn profile(&self) -> &Load<Profile> {
        if self.prepared {
            &self.prepared_profile
        } else {
            &self.raw
        }
    }

    pub fn column_rows(&self) -> Vec<usize> {
        match self.profile() {
            Load::Ready(p) => (0..p.columns.len())
                .filter(|&i| {
                    let c = &p.columns[i];
                    self.columns_cursor.matches(&[&c.name, &c.dtype])
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn selected_column(&self) -> Option<&ColumnProfile> {
        match self.profile() {
            Load::Ready(p) => self
                .column_rows()
                .get(self.columns_cursor.selected)
                .map(|&i| &p.columns[i]),
            _ => None,
        }
    }

    pub fn version_rows(&self) -> Vec<usize> {
        (0..self.versions.len())
            .filter(|&i| {
                let v = &self.versions[i];
                self.versions_cursor
                    .matches(&[&v.version.id, &v.runs.join(" ")])
            })
            .collect()
    }

    /// The profile to load for the current raw/prepared choice, if not loaded yet.
    pub fn wanted(&mut self) -> Option<Effect> {
        let prepared = self.prepared;
        let slot = if prepared {
            &mut self.prepared_profile
        } else {
            &mut self.raw
        };
        if matches!(slot, Load::NotAsked) {
            *slot = Load::Loading;
            Some(Effect::LoadProfile { prepared })
        } else {
            None
        }
    }
}

pub fn on_profile(state: &mut State, prepared: bool, result: Result<Profile, String>) {
    let slot = if prepared {
        &mut state.data.prepared_profile
    } else {
        &mut state.data.raw
    };
    *slot = match result {
        Ok(p) => Load::Ready(p),
        Err(e) => Load::Failed(e),
    };
    let page = state.page();
    let len = state.data.column_rows().len();
    state.data.columns_cursor.clamp(len, page);
}

pub fn on_versions(state: &mut State, versions: Vec<DataVersionSummary>) {
    state.data.versions = versions;
    state.data.versions_loaded = true;
    let page = state.page();
    let len = state.data.version_rows().len();
    state.data.versions_cursor.clamp(len, page);
}

pub fn on_preview(state: &mut State, prepared: bool, result: Result<Preview, String>) {
    let d = &mut state.data;
    d.preview = match result {
        Ok(p) => Load::Ready((prepared, p)),
        Err(e) => Load::Failed(e),
    };
    d.preview_cursor = Cursor::default();
    d.preview_column = 0;
}

/// The preview to load for the raw/prepared choice, if it is not the one held.
fn wanted_preview(d: &mut DataState) -> Option<Effect> {
    let held = match &d.preview {
        Load::Ready((p, _)) => Some(*p == d.prepared),
        Load::Loading => Some(true),
        _ => None,
    };
    if held == Some(true) {
        return None;
    }
    d.preview = Load::Loading;
    Some(Effect::LoadPreview {
        prepared: d.prepared,
    })
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    let d = &mut state.data;
    if d.preview_on {
        let len = match &d.preview {
            Load::Ready((_, p)) => p.rows.len(),
            _ => 0,
        };
        let columns = match &d.preview {
            Load::Ready((_, p)) => p.columns.len(),
            _ => 0,
        };
        match action {
            Action::TogglePreview | Action::Back => d.preview_on = false,
            Action::FocusLeft => d.preview_column = d.preview_column.saturating_sub(1),
            Action::FocusRight => {
                d.preview_column = (d.preview_column + 1).min(columns.saturating_sub(1));
            }
            Action::TogglePrepared => {
                d.prepared = !d.prepared;
                let mut effects: Vec<Effect> = d.wanted().into_iter().collect();
                effects.extend(wanted_preview(d));
                return effects;
            }
            other => {
                d.preview_cursor.apply(other, len, page);
            }
        }
        return Vec::new();
    }
    match action {
        Action::TogglePreview => {
            d.preview_on = true;
            return wanted_preview(d).into_iter().collect();
        }
        Action::TogglePrepared => {
            d.prepared = !d.prepared;
            d.columns_cursor = Cursor::default();
            let which = if d.prepared {
                "prepared train set"
            } else {
                "raw file"
            };
            let effect = d.wanted();
            state.info(format!("showing the {which}"));
            return effect.into_iter().collect();
        }
        Action::FocusLeft | Action::Back if d.focus == Focus::Versions => d.focus = Focus::Schema,
        Action::FocusRight | Action::Open => d.focus = Focus::Versions,
        Action::Refresh => {
            if d.prepared {
                d.prepared_profile = Load::NotAsked;
            } else {
                d.raw = Load::NotAsked;
            }
            return d
                .wanted()
                .into_iter()
                .chain([Effect::LoadDataVersions])
                .collect();
        }
        _ => match d.focus {
            Focus::Schema => {
                let len = d.column_rows().len();
                d.columns_cursor.apply(action, len, page);
            }
            Focus::Versions => {
                let len = d.version_rows().len();
                d.versions_cursor.apply(action, len, page);
            }
        },
    }
    Vec::new()
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn summary(c: &ColumnProfile) -> String {
    match &c.numeric {
        Some(n) => format!("{} / {} / {}", num(n.min), num(n.mean), num(n.max)),
        None => c.top_values(3),
    }
}

/// The rows of the raw file or the prepared train set, scrolled with `j`/`k` and `h`/`l`.
fn render_preview(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let d = &state.data;
    let which = if d.prepared {
        "prepared train set"
    } else {
        "raw"
    };
    let p = match &d.preview {
        Load::Ready((_, p)) => p,
        Load::Failed(e) => {
            frame.render_widget(
                Paragraph::new(e.clone())
                    .style(theme.get("error"))
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(format!("Rows, {which}: could not load")),
                    ),
                area,
            );
            return;
        }
        _ => {
            frame.render_widget(
                Paragraph::new("loading…").block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!("Rows, {which} (loading…)")),
                ),
                area,
            );
            return;
        }
    };
    // As many columns as fit at 14 cells each, from the first one scrolled to.
    let fit = usize::from(area.width.saturating_sub(2) / 15).max(1);
    let shown: Vec<usize> = (d.preview_column..p.columns.len()).take(fit).collect();
    // The selection stays on screen even where the table is shorter than a page.
    let mut cursor = d.preview_cursor.clone();
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    if cursor.selected >= cursor.offset + height {
        cursor.offset = cursor.selected + 1 - height;
    }
    let window = table::visible(area, &cursor, p.rows.len());
    let rows: Vec<Row> = p.rows[window]
        .iter()
        .map(|r| {
            Row::new(
                shown
                    .iter()
                    .map(|&c| Cell::from(r.get(c).cloned().unwrap_or_default())),
            )
        })
        .collect();
    let header = Row::new(shown.iter().map(|&c| Cell::from(p.columns[c].clone())));
    let widths: Vec<Constraint> = shown.iter().map(|_| Constraint::Length(14)).collect();
    let title = format!(
        "Rows, {which}: {} of {} shown, columns {}-{} of {} (j/k rows, h/l columns, v schema)",
        p.rows.len(),
        p.total,
        d.preview_column + 1,
        d.preview_column + shown.len(),
        p.columns.len()
    );
    table::draw_window(
        frame, area, theme, title, header, rows, &widths, &cursor, true,
    );
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let d = &state.data;
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    let hist_w = if area.width >= 120 {
        area.width * 2 / 5
    } else {
        24
    };
    let [schema_area, hist_area] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(hist_w)]).areas(top);
    if d.preview_on {
        render_preview(frame, area, state);
        return;
    }
    let which = if d.prepared {
        "prepared train set"
    } else {
        "raw"
    };

    let title = match d.profile() {
        Load::Ready(p) => format!(
            "Schema, {which}: {} rows, {} columns (r: {})",
            p.rows,
            p.columns.len(),
            if d.prepared { "raw" } else { "prepared" }
        ),
        Load::Failed(_) => format!("Schema, {which}: could not load"),
        _ => format!("Schema, {which} (loading…)"),
    };
    match d.profile() {
        Load::Failed(e) => {
            frame.render_widget(
                Paragraph::new(e.clone())
                    .style(theme.get("error"))
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(title)),
                schema_area,
            );
        }
        profile => {
            let rows: Vec<Row> = match profile {
                Load::Ready(p) => d
                    .column_rows()
                    .into_iter()
                    .map(|i| {
                        let c = &p.columns[i];
                        Row::new(vec![
                            Cell::from(c.name.clone()),
                            Cell::from(c.dtype.clone()),
                            Cell::from(c.nulls.to_string()),
                            Cell::from(c.distinct.to_string()),
                            Cell::from(summary(c)),
                        ])
                    })
                    .collect(),
                _ => Vec::new(),
            };
            table::draw(
                frame,
                schema_area,
                theme,
                title,
                Row::new(vec![
                    "column",
                    "type",
                    "nulls",
                    "dist.",
                    "min/mean/max or top",
                ]),
                rows,
                &[
                    Constraint::Length(12),
                    Constraint::Length(4),
                    Constraint::Length(5),
                    Constraint::Length(5),
                    Constraint::Min(10),
                ],
                &d.columns_cursor,
                d.focus == Focus::Schema,
            );
        }
    }
    render_histogram(frame, hist_area, state);
    render_versions(frame, bottom, state);
}

fn render_versions(frame: &mut Frame, bottom: Rect, state: &State) {
    let theme = &state.theme;
    let d = &state.data;
    let version_rows: Vec<Row> = d
        .version_rows()
        .into_iter()
        .map(|i| {
            let v = &d.versions[i];
            let runs: Vec<&str> = v.runs.iter().map(|r| short_id(r)).collect();
            Row::new(vec![
                Cell::from(short_id(&v.version.id).to_string()),
                Cell::from(time(v.version.created_at)),
                Cell::from(v.version.train_rows.to_string()),
                Cell::from(v.version.test_rows.to_string()),
                Cell::from(if runs.is_empty() {
                    "-".to_string()
                } else {
                    format!("{}: {}", runs.len(), runs.join(" "))
                }),
            ])
        })
        .collect();
    let versions_title = if !d.versions_loaded {
        "Data versions (loading…)".to_string()
    } else if d.versions.is_empty() {
        "Data versions: none yet (training or `cerebro data prepare` snapshots one)".to_string()
    } else {
        format!(
            "Data versions ({}) and the runs that used them",
            d.versions.len()
        )
    };
    table::draw(
        frame,
        bottom,
        theme,
        versions_title,
        Row::new(vec!["version", "created", "train", "test", "runs"]),
        version_rows,
        &[
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
        &d.versions_cursor,
        d.focus == Focus::Versions,
    );
}

fn render_histogram(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let Some(c) = state.data.selected_column() else {
        frame.render_widget(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.get("border"))
                .title("Histogram"),
            area,
        );
        return;
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"));
    if !c.histogram.is_empty() {
        let n = c.histogram.len() as u16;
        let inner_w = area.width.saturating_sub(2).max(1);
        let bar_w = (inner_w / n.max(1)).clamp(1, 6);
        let gap = u16::from(bar_w > 2);
        let bars: Vec<Bar> = c
            .histogram
            .iter()
            .map(|(_, count)| {
                Bar::default()
                    .value(*count as u64)
                    .text_value(String::new())
            })
            .collect();
        let (lo, hi) = (
            c.histogram.first().map_or(0.0, |h| h.0),
            c.numeric.as_ref().map_or(0.0, |n| n.max),
        );
        frame.render_widget(
            BarChart::default()
                .block(block.title(format!("{}: {} to {}", c.name, num(lo), num(hi))))
                .data(BarGroup::default().bars(&bars))
                .bar_width(bar_w.saturating_sub(gap).max(1))
                .bar_gap(gap)
                .bar_style(theme.get("bar")),
            area,
        );
    } else {
        let bars: Vec<Bar> = c
            .top
            .iter()
            .map(|(v, count)| {
                Bar::default()
                    .value(*count as u64)
                    .label(ratatui::text::Line::from(v.clone()))
            })
            .collect();
        frame.render_widget(
            BarChart::default()
                .block(block.title(format!("{}: top values", c.name)))
                .direction(Direction::Horizontal)
                .data(BarGroup::default().bars(&bars))
                .bar_width(1)
                .bar_gap(0)
                .bar_style(theme.get("bar")),
            area,
        );
    }
}
