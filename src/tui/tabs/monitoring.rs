//! Monitoring: what `cerebro::monitor::service::Monitor` knows about one endpoint, for one window
//! length. The per-feature drift table of the latest window (test, value, threshold, status
//! colour), the selected feature's drift across windows, its baseline and current histograms
//! side by side, prediction drift, realised and estimated quality over time, and the alerts.
//!
//! The tab never reads files itself: the runtime refreshes the monitor (one ingestion pass, then
//! the alert rules) off the UI task when the inference-log or labels folder changes (file-watch
//! events in the event loop) and sends the core's [`Overview`]; `w` switches the window length and `e`
//! the endpoint (reads only).

use cerebro::monitor::service::{FeatureDrift, Overview, WindowDrift};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row,
    Wrap,
};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::table::{self, Cursor};

use super::time;

#[derive(Debug, Clone, Default)]
pub struct MonitoringState {
    /// The core's read model of the endpoint and window length shown.
    pub snapshot: Option<Box<Overview>>,
    /// Why the folders are not watched, if they are not.
    pub watch_note: Option<String>,
    pub error: Option<String>,
    /// The window length asked for (None: the finest configured).
    pub granularity: Option<i64>,
    /// The endpoint asked for (None: the first with windows).
    pub endpoint: Option<String>,
    /// Feature rows of the drift table.
    pub cursor: Cursor,
    /// A refresh is in flight.
    pub refreshing: bool,
    /// The watched folders changed since the refresh in flight started (or while one ran).
    pub pending: bool,
    /// Refreshes done, and watch events seen (shown, so a user can tell it is live).
    pub refreshes: u64,
    pub events: u64,
}

impl MonitoringState {
    /// The features of the drift table: the first model version's latest window.
    pub fn features(&self) -> &[FeatureDrift] {
        self.snapshot
            .as_ref()
            .and_then(|s| s.drift.first())
            .map_or(&[], |d| d.features.as_slice())
    }

    pub fn selected_feature(&self) -> Option<&FeatureDrift> {
        self.features().get(self.cursor.selected)
    }

    /// The refresh effect, unless one is in flight (then it runs once that one is back).
    pub fn refresh(&mut self, ingest: bool) -> Option<Effect> {
        if self.refreshing {
            self.pending |= ingest;
            return None;
        }
        self.refreshing = true;
        if ingest {
            self.pending = false;
        }
        Some(Effect::MonitorRefresh {
            ingest,
            granularity: self.granularity,
            endpoint: self.endpoint.clone(),
        })
    }
}

/// The watched folders changed: refresh now, or after the refresh in flight.
pub fn on_watch(state: &mut State) -> Vec<Effect> {
    state.monitoring.events += 1;
    state.monitoring.pending = true;
    state.monitoring.refresh(true).into_iter().collect()
}

/// On every tick: a change seen during the last refresh is ingested now. Bursts of log writes
/// thus cost at most one refresh in flight plus one per tick.
pub fn on_tick(state: &mut State) -> Vec<Effect> {
    if state.monitoring.pending && !state.monitoring.refreshing {
        return state.monitoring.refresh(true).into_iter().collect();
    }
    Vec::new()
}

pub fn on_loaded(state: &mut State, result: Result<Box<Overview>, String>) {
    let m = &mut state.monitoring;
    m.refreshing = false;
    m.refreshes += 1;
    match result {
        Ok(s) => {
            let keep = m.selected_feature().map(|f| f.name.clone());
            m.granularity = Some(s.granularity_ms);
            m.endpoint = s.endpoint.clone();
            m.snapshot = Some(s);
            m.error = None;
            if let Some(name) = keep
                && let Some(i) = m.features().iter().position(|f| f.name == name)
            {
                m.cursor.selected = i;
            }
            let len = m.features().len();
            let page = usize::from(state.size.1.saturating_sub(9)).max(1);
            state.monitoring.cursor.clamp(len, page);
        }
        Err(e) => m.error = Some(e),
    }
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    let m = &mut state.monitoring;
    let len = m.features().len();
    if m.cursor.apply(action, len, page) {
        return Vec::new();
    }
    match action {
        Action::Granularity => {
            let Some(s) = &m.snapshot else {
                state.error("nothing monitored yet");
                return Vec::new();
            };
            let all = &s.status.granularities_ms;
            let at = all.iter().position(|g| *g == s.granularity_ms);
            let next = all[at.map_or(0, |i| (i + 1) % all.len())];
            m.granularity = Some(next);
            let effects = m.refresh(false).into_iter().collect();
            state.info(format!("window length {}", span(next)));
            effects
        }
        Action::NextEndpoint => {
            let Some(s) = &m.snapshot else {
                state.error("nothing monitored yet");
                return Vec::new();
            };
            let names: Vec<&str> = s
                .status
                .endpoints
                .iter()
                .map(|e| e.endpoint.as_str())
                .collect();
            if names.len() < 2 {
                state.info("only one endpoint is monitored");
                return Vec::new();
            }
            let at = names.iter().position(|n| Some(*n) == s.endpoint.as_deref());
            m.endpoint = Some(names[at.map_or(0, |i| (i + 1) % names.len())].to_string());
            m.cursor = Cursor::default();
            m.refresh(false).into_iter().collect()
        }
        Action::Refresh => {
            state.info("reading the inference logs…");
            state.monitoring.refresh(true).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// `60000` -> `1m`.
pub fn span(ms: i64) -> String {
    match ms {
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

fn block<'a>(theme: &Theme, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(title)
}

fn verdict(theme: &Theme, drifted: bool) -> Span<'static> {
    if drifted {
        Span::styled("DRIFT", theme.get("fail"))
    } else {
        Span::styled("ok", theme.get("pass"))
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let m = &state.monitoring;
    let Some(s) = &m.snapshot else {
        let mut lines = vec![Line::from(match (&m.error, m.refreshing) {
            (Some(e), _) => Span::styled(format!("monitoring: {e}"), theme.get("error")),
            (None, true) => Span::raw("reading the inference logs…"),
            (None, false) => Span::raw("monitoring not started"),
        })];
        lines.push(Line::from(""));
        lines.push(Line::from(
            "Drift appears here once a served model's inference log is in the watched folder.",
        ));
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(theme, "Monitoring"))
                .wrap(Wrap { trim: false }),
            area,
        );
        return;
    };
    let lines = summary(state, s);
    let [top, body] =
        Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Min(3)]).areas(area);
    frame.render_widget(Paragraph::new(lines), top);

    let Some(endpoint) = &s.endpoint else {
        let text = vec![
            Line::from("No inference logs yet."),
            Line::from(Span::styled(
                format!(
                    "Watching {} (and labels in {}). Serve a model (Endpoints tab, s) and send it \
                     requests; windows appear here as its log lands.",
                    s.status.log_dir.display(),
                    s.status.labels_dir.display()
                ),
                theme.get("dim"),
            )),
        ];
        frame.render_widget(
            Paragraph::new(text)
                .block(block(theme, "Monitoring"))
                .wrap(Wrap { trim: false }),
            body,
        );
        return;
    };
    let _ = endpoint;

    // Rows: drift table and feature charts; prediction and quality; alerts.
    let tall = body.height >= 24;
    let [upper, middle, alerts_area] = if tall {
        Layout::vertical([
            Constraint::Percentage(50),
            Constraint::Percentage(28),
            Constraint::Min(4),
        ])
        .areas(body)
    } else {
        let [u, a] = Layout::vertical([Constraint::Min(6), Constraint::Length(5)]).areas(body);
        [u, Rect::default(), a]
    };
    // Narrow terminals get the table alone; the charts need width to say anything.
    if body.width < 120 {
        render_table(frame, upper, state, s);
        render_alerts(frame, alerts_area, theme, s);
        return;
    }
    // The table gets the width its columns need (test names uncut), the charts the rest.
    let need = table_width(state).max(upper.width * 48 / 100);
    let [table_area, charts] =
        Layout::horizontal([Constraint::Length(need), Constraint::Min(40)]).areas(upper);
    render_table(frame, table_area, state, s);
    if charts.height >= 10 {
        let [over_time, hist] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        render_feature_history(frame, over_time, state, s);
        render_histogram(frame, hist, state);
    } else {
        render_histogram(frame, charts, state);
    }
    if tall {
        let [pred, quality] =
            Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)])
                .areas(middle);
        render_predictions(frame, pred, theme, s);
        render_quality(frame, quality, theme, s);
    }
    render_alerts(frame, alerts_area, theme, s);
}

fn summary<'a>(state: &State, s: &'a Overview) -> Vec<Line<'a>> {
    let theme = &state.theme;
    let m = &state.monitoring;
    let sep = || Span::styled(" · ", theme.get("border"));
    let mut first = vec![Span::styled(
        s.endpoint.clone().unwrap_or_else(|| "no endpoint".into()),
        theme.get("title"),
    )];
    let latest = s.drift.first();
    if let Some(d) = latest {
        first.push(Span::raw(format!(" {}/{}", d.model, d.version)));
    }
    first.push(sep());
    first.push(Span::raw(format!("window {}", span(s.granularity_ms))));
    if s.status.granularities_ms.len() > 1 {
        let all: Vec<String> = s.status.granularities_ms.iter().map(|g| span(*g)).collect();
        first.push(Span::styled(
            format!(" (w: {})", all.join("/")),
            theme.get("dim"),
        ));
    }
    if let Some(d) = latest.filter(|d| d.note.is_none() && d.withheld.is_none()) {
        first.push(sep());
        first.push(if d.dataset_drift {
            Span::styled("DATASET DRIFT", theme.get("fail"))
        } else {
            Span::styled("no dataset drift", theme.get("pass"))
        });
    }
    let open = s.alerts.iter().filter(|a| a.state == "OPEN").count();
    first.push(sep());
    first.push(if open > 0 {
        Span::styled(
            format!("{open} open alert{}", if open == 1 { "" } else { "s" }),
            theme.get("fail"),
        )
    } else {
        Span::styled("no open alerts", theme.get("dim"))
    });
    if s.status.endpoints.len() > 1 {
        first.push(Span::styled(
            format!(" (e: next of {} endpoints)", s.status.endpoints.len()),
            theme.get("dim"),
        ));
    }

    let mut second = Vec::new();
    match latest {
        Some(d) => {
            second.push(Span::raw(format!(
                "latest {} {} records, ",
                time(d.window_start),
                d.records
            )));
            match d.note.as_ref().or(d.withheld.as_ref()) {
                Some(note) => second.push(Span::styled(note.clone(), theme.get("dim"))),
                None => second.push(Span::raw(format!(
                    "{} ({:.0}%, dataset at {:.0}%)",
                    d.drifted_text(),
                    d.share * 100.0,
                    d.threshold * 100.0
                ))),
            }
        }
        None => second.push(Span::styled("no window with inputs yet", theme.get("dim"))),
    }
    second.push(Span::styled(
        format!(
            " · {} lines read{}{}",
            s.status.lines,
            match s.ingested {
                Some(n) if n > 0 => format!(" (+{n})"),
                _ => String::new(),
            },
            if m.refreshing { ", refreshing…" } else { "" }
        ),
        theme.get("dim"),
    ));
    if let Some(note) = &m.watch_note {
        second.push(Span::styled(format!("  {note}"), theme.get("error")));
    }
    let mut lines = vec![Line::from(first), Line::from(second)];
    // The domain classifier's verdict on the latest window, when it ran.
    if let Some(d) = latest
        && let Some(mv) = &d.multivariate
    {
        let (text, style) = match (mv.drifted, &d.withheld) {
            (_, Some(_)) => ("too few records", theme.get("dim")),
            (true, None) => ("MULTIVARIATE DRIFT", theme.get("fail")),
            (false, None) => ("no multivariate drift", theme.get("pass")),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "multivariate: AUC {:.3} {} {:.3} ",
                mv.auc,
                if mv.auc > mv.threshold { ">" } else { "≤" },
                mv.threshold
            )),
            Span::styled(text, style),
            Span::styled(
                format!(
                    " · {} vs {} rows · relied on {}",
                    mv.baseline_rows,
                    mv.window_rows,
                    mv.top_text()
                ),
                theme.get("dim"),
            ),
        ]));
    }
    lines
}

fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

/// Widths of the drift table's columns after the feature name: test (the longest name,
/// `jensen_shannon`), value, drift if, no-drift band top, status, psi.
const TABLE_COLUMNS: [u16; 6] = [14, 9, 11, 9, 7, 6];

/// Columns the drift table needs: the longest feature name, the fixed columns, the spacing
/// between them and the borders.
fn table_width(state: &State) -> u16 {
    let name = state
        .monitoring
        .features()
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 30) as u16;
    name + TABLE_COLUMNS.iter().sum::<u16>() + TABLE_COLUMNS.len() as u16 + 2
}

fn render_table(frame: &mut Frame, area: Rect, state: &State, s: &Overview) {
    let theme = &state.theme;
    let m = &state.monitoring;
    let features = m.features();
    let window = table::visible(area, &m.cursor, features.len());
    let rows: Vec<Row> = features[window]
        .iter()
        .map(|f| {
            let d = &f.drift;
            let rule = if d.test.is_p_value() { "p <" } else { ">=" };
            Row::new(vec![
                Cell::from(f.name.clone()),
                Cell::from(d.test.as_str()),
                Cell::from(number(d.score)),
                Cell::from(format!("{rule} {}", number(d.threshold))),
                Cell::from(match d.band {
                    Some([_, hi]) => number(hi),
                    None => "-".to_string(),
                }),
                Cell::from(Line::from(if f.has_data() {
                    verdict(theme, d.drifted)
                } else {
                    Span::styled("no data", theme.get("dim"))
                })),
                Cell::from(format!("{:.3}", d.psi)),
            ])
            .style(if d.drifted {
                theme.get("fail")
            } else {
                Style::default()
            })
        })
        .collect();
    let header = Row::new(vec![
        "feature",
        "test",
        "value",
        "drift if",
        "noise ≤",
        "status",
        "psi",
    ]);
    let mut widths = vec![Constraint::Min(7)];
    widths.extend(TABLE_COLUMNS.map(Constraint::Length));
    let title = match s.drift.first() {
        Some(d) if d.note.is_none() => format!("Feature drift vs {}", baseline_name(d)),
        Some(_) => "Feature drift".to_string(),
        None => "Feature drift: no window yet".to_string(),
    };
    table::draw_window(
        frame, area, theme, title, header, rows, &widths, &m.cursor, true,
    );
}

fn baseline_name(d: &WindowDrift) -> String {
    match d.baseline_window_start {
        Some(t) => format!("window {}", time(t)),
        None => "training data".to_string(),
    }
}

/// x = window index, so gaps between windows do not squeeze the chart.
fn bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.1).max(1e-3);
    [(lo - pad).max(0.0).min(lo), hi + pad]
}

fn axis_labels<'a>(b: [f64; 2]) -> Vec<Span<'a>> {
    vec![Span::raw(number(b[0])), Span::raw(number(b[1]))]
}

fn render_feature_history(frame: &mut Frame, area: Rect, state: &State, s: &Overview) {
    let theme = &state.theme;
    let Some(f) = state.monitoring.selected_feature() else {
        frame.render_widget(block(theme, "Drift across windows"), area);
        return;
    };
    let points: Vec<(f64, f64)> = s
        .history
        .iter()
        .filter_map(|p| p.features.get(&f.name))
        .enumerate()
        .map(|(i, p)| (i as f64, p.score))
        .collect();
    let threshold: Vec<(f64, f64)> = if points.is_empty() {
        Vec::new()
    } else {
        vec![
            (0.0, f.drift.threshold),
            ((points.len() - 1) as f64, f.drift.threshold),
        ]
    };
    let y = bounds(
        points
            .iter()
            .map(|p| p.1)
            .chain(std::iter::once(f.drift.threshold)),
    );
    let n = points.len();
    let chart = Chart::new(vec![
        Dataset::default()
            .name(format!("{} {}", f.name, f.drift.test.as_str()))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.get("running"))
            .data(&points),
        Dataset::default()
            .name("threshold")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.get("fail"))
            .data(&threshold),
    ])
    .block(block(
        theme,
        format!(
            "{} across {n} windows of {}",
            f.name,
            span(s.granularity_ms)
        ),
    ))
    .x_axis(Axis::default().bounds([0.0, (n.max(2) - 1) as f64]))
    .y_axis(Axis::default().bounds(y).labels(axis_labels(y)));
    frame.render_widget(chart, area);
}

fn render_histogram(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let Some(f) = state.monitoring.selected_feature() else {
        frame.render_widget(block(theme, "Baseline vs current"), area);
        return;
    };
    let h = &f.histogram;
    let pct = |x: f64| (x * 100.0).round().max(0.0) as u64;
    let groups: Vec<BarGroup> = h
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let b = h.baseline.get(i).copied().unwrap_or(0.0);
            let c = h.current.get(i).copied().unwrap_or(0.0);
            BarGroup::default()
                .label(Line::from(label.chars().take(6).collect::<String>()))
                .bars(&[
                    Bar::default()
                        .value(pct(b))
                        .text_value(String::new())
                        .style(theme.get("dim")),
                    Bar::default()
                        .value(pct(c))
                        .text_value(String::new())
                        .style(theme.get("running")),
                ])
        })
        .collect();
    let inner_w = area.width.saturating_sub(2);
    let n = h.labels.len().max(1) as u16;
    // Two bars and a gap per bin.
    let bar_width = (inner_w / n).saturating_sub(1).max(2) / 2;
    let mut chart = BarChart::default()
        .block(block(
            theme,
            Line::from(vec![
                Span::raw(format!("{}: ", f.name)),
                Span::styled("baseline", theme.get("dim")),
                Span::raw(" vs "),
                Span::styled("current", theme.get("running")),
                Span::raw(" (% of rows)"),
            ]),
        ))
        .bar_width(bar_width.max(1))
        .bar_gap(0)
        .group_gap(1);
    for g in groups {
        chart = chart.data(g);
    }
    frame.render_widget(chart, area);
}

fn render_predictions(frame: &mut Frame, area: Rect, theme: &Theme, s: &Overview) {
    let mut lines = Vec::new();
    match s.predictions.last() {
        Some(p) => {
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "latest window {}: positive rate {:.3} vs {:.3} on test data, {} {} ",
                    time(p.window_start),
                    p.positive_rate,
                    p.baseline_positive_rate,
                    p.drift.test.as_str(),
                    number(p.drift.score),
                )),
                verdict(theme, p.drift.drifted),
            ]));
            let rates: Vec<String> = s
                .predictions
                .iter()
                .rev()
                .take(8)
                .rev()
                .map(|p| format!("{:.2}", p.positive_rate))
                .collect();
            lines.push(Line::from(Span::styled(
                format!("positive rate by window: {}", rates.join(" ")),
                theme.get("dim"),
            )));
        }
        None => lines.push(Line::from(Span::styled(
            "no prediction drift yet (needs a window and the version's test data)",
            theme.get("dim"),
        ))),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(theme, "Prediction drift"))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn render_quality(frame: &mut Frame, area: Rect, theme: &Theme, s: &Overview) {
    let realised: Vec<(f64, f64)> = s
        .quality
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.realised.as_ref().map(|r| (i as f64, r.accuracy)))
        .collect();
    let estimated: Vec<(f64, f64)> = s
        .quality
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.estimated.as_ref().map(|e| (i as f64, e.accuracy)))
        .collect();
    let test = s
        .quality
        .last()
        .and_then(|q| q.test.get("accuracy").copied());
    let n = s.quality.len();
    let test_line: Vec<(f64, f64)> = test
        .map(|t| vec![(0.0, t), ((n.max(2) - 1) as f64, t)])
        .unwrap_or_default();
    let title = if s.quality.is_empty() {
        "Quality: no window yet".to_string()
    } else {
        format!(
            "Accuracy by window: realised ({} labelled) vs estimated ({}), test",
            s.quality.iter().map(|q| q.labelled).sum::<u64>(),
            cerebro::monitor::cbpe::ASSUMPTION_SHORT
        )
    };
    if realised.is_empty() && estimated.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no realised or estimated quality yet (labels join on the record id)",
                theme.get("dim"),
            ))
            .block(block(theme, title))
            .wrap(Wrap { trim: false }),
            area,
        );
        return;
    }
    let y = bounds(
        realised
            .iter()
            .chain(&estimated)
            .chain(&test_line)
            .map(|p| p.1),
    );
    let chart = Chart::new(vec![
        Dataset::default()
            .name("realised")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.get("pass"))
            .data(&realised),
        Dataset::default()
            .name("estimated")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.get("running"))
            .data(&estimated),
        Dataset::default()
            .name("test")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.get("dim"))
            .data(&test_line),
    ])
    .block(block(theme, title))
    .x_axis(Axis::default().bounds([0.0, (n.max(2) - 1) as f64]))
    .y_axis(Axis::default().bounds(y).labels(axis_labels(y)));
    frame.render_widget(chart, area);
}

fn render_alerts(frame: &mut Frame, area: Rect, theme: &Theme, s: &Overview) {
    let open = s.alerts.iter().filter(|a| a.state == "OPEN").count();
    let lines: Vec<Line> = if s.alerts.is_empty() {
        vec![Line::from(Span::styled(
            "no alerts (rules are [[monitoring.alerts]] in config.toml)",
            theme.get("dim"),
        ))]
    } else {
        s.alerts
            .iter()
            .map(|a| {
                let state = if a.state == "OPEN" {
                    Span::styled("OPEN    ", theme.get("fail"))
                } else {
                    Span::styled("RESOLVED", theme.get("pass"))
                };
                Line::from(vec![
                    state,
                    Span::raw(format!(
                        " {} {} {} {}{}: {}",
                        time(a.opened_at),
                        a.rule,
                        a.endpoint,
                        a.subject,
                        a.value
                            .map(|v| format!(" {}", number(v)))
                            .unwrap_or_default(),
                        a.message
                    )),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(block(
            theme,
            format!("Alerts ({open} open, {} total)", s.alerts.len()),
        )),
        area,
    );
}
