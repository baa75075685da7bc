//! Monitoring: its core is still being built, so this tab says plainly what will appear and how
//! to get it. It shows no numbers until the core provides real ones.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::tui::app::{State, Tab};

pub fn render(frame: &mut Frame, area: Rect, state: &State, tab: Tab) {
    let theme = &state.theme;
    let (headline, what, how): (&str, &[&str], &[&str]) = (
        "No inference logs monitored yet.",
        &[
            "This tab will show per-feature drift (test, value, threshold, status), the",
            "selected feature's drift across windows, baseline vs current histograms,",
            "prediction drift, realised and estimated quality over time, and the alerts.",
        ],
        &[
            "It needs a running endpoint (`cerebro serve`) writing inference logs, or the",
            "monitoring simulator; both arrive with the monitoring milestone.",
        ],
    );
    let mut lines = vec![
        Line::from(Span::styled(headline, theme.get("title"))),
        Line::from(""),
    ];
    lines.extend(what.iter().map(|l| Line::from(*l)));
    lines.push(Line::from(""));
    lines.extend(
        how.iter()
            .map(|l| Line::from(Span::styled(*l, theme.get("info")))),
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(tab.title());
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
