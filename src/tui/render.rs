//! Draws a whole frame from `&State`: header, tab bar, the current tab, status line, footer,
//! and any overlay. Never changes state.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use super::action::Action;
use super::app::{Overlay, State, Tab};
use super::tabs::{data, endpoints, experiments, jobs, monitoring, registry};
use super::widgets::{dialog, footer, help};

pub fn draw(frame: &mut Frame, state: &State) {
    let [header, tabs, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(state)), header);

    let titles: Vec<String> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()))
        .collect();
    frame.render_widget(
        Tabs::new(titles)
            .select(state.tab.index())
            .style(state.theme.get("tab"))
            .highlight_style(state.theme.get("tab_active"))
            .divider("|"),
        tabs,
    );

    match state.tab {
        Tab::Data => data::render(frame, body, state),
        Tab::Experiments => experiments::render(frame, body, state),
        Tab::Registry => registry::render(frame, body, state),
        Tab::Jobs => jobs::render(frame, body, state),
        Tab::Endpoints => endpoints::render(frame, body, state),
        Tab::Monitoring => monitoring::render(frame, body, state),
    }
    footer::render_status(frame, status, state);
    footer::render_footer(frame, keys, state);

    match &state.overlay {
        Some(Overlay::Help { scroll }) => help::render(frame, body, state, *scroll),
        Some(Overlay::Dialog(d)) => dialog::render(frame, body, state, d),
        None => {}
    }
}

/// The tab bar's cells: each title with its one-column padding on both sides, then a divider.
fn tab_spans() -> Vec<(u16, u16, Tab)> {
    let mut x = 0u16;
    let mut out = Vec::new();
    for (i, t) in Tab::ALL.iter().enumerate() {
        let width = u16::try_from(format!("{} {}", i + 1, t.title()).chars().count() + 2)
            .unwrap_or(u16::MAX);
        out.push((x, x + width, *t));
        x = x.saturating_add(width + 1);
    }
    out
}

/// What a mouse event does: a click on the tab bar (row 1) switches tabs, the wheel moves the
/// current list. Overlays and text inputs ignore the mouse.
pub fn mouse(state: &State, m: &MouseEvent) -> Option<Action> {
    if state.overlay.is_some() || state.input != super::app::Input::None {
        return None;
    }
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) if m.row == 1 => tab_spans()
            .into_iter()
            .find(|(from, to, _)| (*from..*to).contains(&m.column))
            .map(|(_, _, tab)| match tab {
                Tab::Data => Action::TabData,
                Tab::Experiments => Action::TabExperiments,
                Tab::Registry => Action::TabRegistry,
                Tab::Endpoints => Action::TabEndpoints,
                Tab::Monitoring => Action::TabMonitoring,
                Tab::Jobs => Action::TabJobs,
            }),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        _ => None,
    }
}

/// `cerebro · WORKSPACE │ MODEL: Production vN ● ENDPOINT up ... │ jobs: N running │ tracking:
/// BACKEND`.
fn header_line(state: &State) -> Line<'static> {
    let theme = &state.theme;
    let mut spans = vec![
        Span::styled(
            format!("cerebro · {}", state.workspace),
            theme.get("header"),
        ),
        Span::styled(" │ ", theme.get("border")),
    ];
    let models = state.production_summary();
    if models.is_empty() {
        spans.push(Span::styled("no registered models", theme.get("dim")));
    }
    for (i, (name, prod)) in models.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(", "));
        }
        spans.push(Span::raw(format!("{name}: ")));
        match prod {
            Some(v) => spans.push(Span::styled(
                format!("Production v{v}"),
                theme.get("production"),
            )),
            None => spans.push(Span::styled("no Production", theme.get("dim"))),
        }
        for (endpoint, endpoint_state) in state.endpoint_lights(name) {
            spans.push(Span::raw(format!(" ● {endpoint} ")));
            spans.push(endpoints::light(state, endpoint_state));
        }
    }
    spans.push(Span::styled(" │ ", theme.get("border")));
    if let Some(phase) = &state.demo {
        spans.push(Span::styled(phase.describe(), theme.get("running")));
        spans.push(Span::styled(" │ ", theme.get("border")));
    } else if super::demo::offered(state) {
        spans.push(Span::styled("D", theme.get("key")));
        spans.push(Span::raw(" runs the demo"));
        spans.push(Span::styled(" │ ", theme.get("border")));
    }
    let running = state.jobs.running();
    spans.push(if running > 0 {
        Span::styled(format!("jobs: {running} running"), theme.get("running"))
    } else {
        Span::styled("jobs: none running", theme.get("dim"))
    });
    // Last, so a narrow terminal cuts it first.
    if let Some(label) = &state.backend {
        spans.push(Span::styled(" │ ", theme.get("border")));
        spans.push(Span::styled(format!("tracking: {label}"), theme.get("dim")));
    }
    Line::from(spans)
}
