//! The two bottom lines: the status line (messages, or the filter / command line being typed,
//! with completions) and the footer of keys that work here, read from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{Input, State};
use crate::tui::keymap::Context;

pub fn render_status(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let line = match &state.input {
        Input::Filter => {
            let mut spans = vec![
                Span::styled("/", theme.get("key")),
                Span::raw(format!("{}_", current_filter(state))),
            ];
            // A run filter expression that does not parse says where and why, beside it.
            if state.tab == crate::tui::app::Tab::Experiments
                && let Some(e) = &state.experiments.filter_error
            {
                spans.push(Span::styled(format!("   {e}"), theme.get("error")));
            }
            Line::from(spans)
        }
        Input::Command { text, completions } => {
            let mut spans = vec![
                Span::styled(":", theme.get("key")),
                Span::raw(format!("{text}_")),
            ];
            if !completions.is_empty() {
                spans.push(Span::styled(
                    format!("   {}", completions.join(" ")),
                    theme.get("dim"),
                ));
            }
            Line::from(spans)
        }
        Input::None => match &state.status {
            Some(s) => Line::from(Span::styled(
                s.text.clone(),
                theme.get(if s.error { "error" } else { "info" }),
            )),
            None => Line::from(""),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn current_filter(state: &State) -> String {
    use crate::tui::app::Tab;
    match state.tab {
        Tab::Data => match state.data.focus {
            crate::tui::tabs::data::Focus::Schema => state.data.columns_cursor.filter.clone(),
            crate::tui::tabs::data::Focus::Versions => state.data.versions_cursor.filter.clone(),
        },
        Tab::Experiments => state.experiments.cursor.filter.clone(),
        Tab::Registry => match state.registry.focus {
            crate::tui::tabs::registry::Focus::Models => {
                state.registry.models_cursor.filter.clone()
            }
            crate::tui::tabs::registry::Focus::Versions => {
                state.registry.versions_cursor.filter.clone()
            }
        },
        Tab::Jobs => match state.jobs.focus {
            crate::tui::tabs::jobs::Focus::Pipelines if state.jobs.has_pipelines() => {
                state.jobs.pipelines_cursor.filter.clone()
            }
            _ => state.jobs.cursor.filter.clone(),
        },
        Tab::Endpoints => state.endpoints.cursor.filter.clone(),
        _ => String::new(),
    }
}

/// `key action` pairs for the contexts in effect: the specific ones first, then a few globals.
pub fn hints(state: &State) -> Vec<(String, String)> {
    let contexts = state.contexts();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for ctx in &contexts {
        let bindings = state.keymap.bindings(*ctx);
        let wanted: Vec<&str> = if *ctx == Context::Global {
            vec!["help", "command", "filter", "open", "back", "quit"]
        } else {
            bindings.iter().map(|b| b.action.as_str()).collect()
        };
        for action in wanted {
            if seen.iter().any(|s| s == action) {
                continue;
            }
            if let Some(key) = state.keymap.key_for(*ctx, action) {
                seen.push(action.to_string());
                out.push((key.to_string(), action.replace('_', " ")));
            }
        }
    }
    out
}

pub fn render_footer(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let mut spans = Vec::new();
    for (key, action) in hints(state) {
        spans.push(Span::styled(key, theme.get("key")));
        spans.push(Span::styled(format!(" {action}  "), theme.get("dim")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
