//! The `?` overlay: every binding of the keymap, by context, with what it does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::keymap::Context;

use super::dialog::centered;

/// The overlay's lines (also what the help test reads).
pub fn lines(state: &State) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let mut out = Vec::new();
    for ctx in Context::ALL {
        let bindings = state.keymap.bindings(ctx);
        if bindings.is_empty() {
            continue;
        }
        out.push(Line::from(Span::styled(
            format!("[{}]", ctx.name()),
            theme.get("title"),
        )));
        for b in bindings {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<10}", b.key.to_string()), theme.get("key")),
                Span::raw(format!("{:<16} {}", b.action, Action::describe(&b.action))),
            ]));
        }
    }
    out.push(Line::from(Span::styled(
        "[command line]",
        theme.get("title"),
    )));
    for (cmd, usage) in super::command::COMMANDS {
        out.push(Line::from(format!("  :{cmd:<9} {usage}")));
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, scroll: usize) {
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines(state))
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(state.theme.get("title"))
                    .title("Key bindings (assets/keymap.toml) — j/k scroll, esc close"),
            ),
        rect,
    );
}
