//! Modal dialogs drawn over the tabs: the training form, the promotion dialog (gate result
//! first), and yes/no confirmations.

use cerebro::config::Direction;
use cerebro::registry::ops::GateResult;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::app::{Dialog, GateStatus, State};
use crate::tui::theme::Theme;

/// A centred rectangle of at most `w` x `h` cells inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}

fn frame_block(theme: &Theme, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("title"))
        .title(title)
}

fn keys(theme: &Theme, text: &'static str) -> Line<'static> {
    Line::from(Span::styled(text, theme.get("key")))
}

pub fn gate_lines(theme: &Theme, g: &GateResult) -> Vec<Line<'static>> {
    let dir = match g.direction {
        Direction::Maximize => "higher is better",
        Direction::Minimize => "lower is better",
    };
    let mut lines = vec![
        Line::from(format!(
            "gate metric {} ({dir}) on data version {}",
            g.metric,
            g.data_version.get(..8).unwrap_or(&g.data_version)
        )),
        Line::from(if g.candidate_value.is_nan() {
            format!("  candidate v{:<4} undefined", g.candidate_version)
        } else {
            format!(
                "  candidate v{:<4} {:.4}",
                g.candidate_version, g.candidate_value
            )
        }),
        Line::from(match (g.champion_version, g.champion_value) {
            (Some(v), Some(x)) if x.is_nan() => format!("  champion  v{v:<4} undefined"),
            (Some(v), Some(x)) => format!("  champion  v{v:<4} {x:.4}"),
            (Some(v), None) => format!("  champion  v{v:<4} not comparable"),
            _ => "  champion  none (first Production version)".to_string(),
        }),
    ];
    if let Some(d) = g.delta {
        lines.push(Line::from(format!("  delta          {d:+.4}")));
    }
    let mut needs = Vec::new();
    if let Some(t) = g.threshold {
        needs.push(format!("threshold {t:.4}"));
    }
    if g.min_improvement > 0.0 {
        needs.push(format!("min improvement {:.4}", g.min_improvement));
    }
    if g.min_relative_improvement > 0.0 {
        needs.push(format!(
            "min relative improvement {:.2}%",
            g.min_relative_improvement * 100.0
        ));
    }
    if !needs.is_empty() {
        lines.push(Line::from(format!("  requires       {}", needs.join(", "))));
    }
    lines.push(if g.passed {
        Line::from(Span::styled("GATE PASSED", theme.get("pass")))
    } else {
        Line::from(Span::styled("GATE FAILED", theme.get("fail")))
    });
    for r in &g.reasons {
        lines.push(Line::from(format!("  - {r}")));
    }
    lines
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, dialog: &Dialog) {
    let theme = &state.theme;
    let (title, lines, height) = match dialog {
        Dialog::Train {
            kind,
            params,
            error,
        } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::raw("kind    "),
                    Span::styled(format!("< {kind} >"), theme.get("title")),
                    Span::styled("  (tab: next kind)", theme.get("dim")),
                ]),
                Line::from(format!("params  {params}_")),
                Line::from(Span::styled(
                    "key=value ... ; key=v1,v2 sweeps; seed= name= experiment=",
                    theme.get("dim"),
                )),
            ];
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(e.clone(), theme.get("error"))));
            }
            lines.push(keys(
                theme,
                "enter: launch as a background job   esc: cancel",
            ));
            let h = lines.len() as u16 + 2;
            ("Train a model".to_string(), lines, h)
        }
        Dialog::Tune { kind, text, error } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::raw("kind    "),
                    Span::styled(format!("< {kind} >"), theme.get("title")),
                    Span::styled("  (tab: next kind)", theme.get("dim")),
                ]),
                Line::from(format!("search  {text}_")),
                Line::from(Span::styled(
                    "NAME=int(a,b[,log]) float(a,b[,log]) choice(x,y) searches; key=value fixes",
                    theme.get("dim"),
                )),
                Line::from(Span::styled(super::command::TUNE_OPTIONS, theme.get("dim"))),
            ];
            // What enter would launch, read from the text as it stands.
            let words: Vec<&str> = text.split_whitespace().collect();
            match super::command::tune_request(*kind, &words) {
                Ok(req) => {
                    let space: Vec<String> = req
                        .space
                        .specs()
                        .into_iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect();
                    lines.push(Line::from(vec![
                        Span::styled("space   ", theme.get("key")),
                        Span::raw(space.join(", ")),
                    ]));
                    let fixed: Vec<String> =
                        req.sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    lines.push(Line::from(vec![
                        Span::styled("budget  ", theme.get("key")),
                        Span::raw(format!(
                            "{} trials{}, {} sampler, pruner {}, {}{}",
                            req.trials,
                            req.time_budget
                                .map_or(String::new(), |d| format!(" or {}s", d.as_secs())),
                            req.sampler,
                            req.pruner,
                            req.metric,
                            if fixed.is_empty() {
                                String::new()
                            } else {
                                format!("; fixed {}", fixed.join(" "))
                            }
                        )),
                    ]));
                }
                Err(e) if error.is_none() => {
                    lines.push(Line::from(Span::styled(e, theme.get("dim"))));
                }
                Err(_) => {}
            }
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(e.clone(), theme.get("error"))));
            }
            lines.push(keys(
                theme,
                "enter: launch (trials in the Jobs tab, nested runs in Experiments)   esc: cancel",
            ));
            let h = lines.len() as u16 + 4;
            ("Tune hyper-parameters".to_string(), lines, h)
        }
        Dialog::Promote {
            name,
            version,
            to,
            gate,
            reason,
        } => {
            let mut lines = Vec::new();
            match gate {
                GateStatus::Evaluating => lines.push(Line::from(
                    "evaluating the gate: re-scoring candidate and champion…",
                )),
                GateStatus::Error(e) => {
                    lines.push(Line::from(Span::styled(
                        format!("the gate could not be evaluated: {e}"),
                        theme.get("error"),
                    )));
                    lines.push(keys(theme, "esc: close (nothing changed)"));
                }
                GateStatus::Ready(g) => {
                    lines.extend(gate_lines(theme, g));
                    lines.push(Line::from(""));
                    if g.passed {
                        lines.push(keys(
                            theme,
                            "y/enter: promote   n/esc: cancel (nothing changes until you confirm)",
                        ));
                    } else {
                        lines.push(Line::from(format!("force with a reason: {reason}_")));
                        lines.push(keys(
                            theme,
                            "type a reason, enter: force the promotion   esc: cancel",
                        ));
                    }
                }
            }
            let h = lines.len() as u16 + 2;
            (format!("Promote {name}/{version} to {to}?"), lines, h)
        }
        Dialog::Confirm { title, lines, .. } => {
            let mut out: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
            out.push(Line::from(""));
            out.push(keys(theme, "y/enter: yes   n/esc: no"));
            let h = out.len() as u16 + 2;
            (title.clone(), out, h)
        }
    };
    let width = area.width.saturating_sub(4).min(90);
    // One spare line for wrapping on narrow screens.
    let rect = centered(area, width, height.max(5) + 1);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(frame_block(theme, title)),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate on an undefined metric says so instead of printing NaN.
    #[test]
    fn an_undefined_gate_value_reads_undefined() {
        let mut g = crate::tui::fixtures::gate(false);
        g.candidate_value = f64::NAN;
        g.champion_value = Some(f64::NAN);
        g.delta = None;
        let theme = crate::tui::fixtures::state().theme;
        let text: Vec<String> = gate_lines(&theme, &g)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        let all = text.join("\n");
        assert!(all.contains("candidate v2    undefined"), "{all}");
        assert!(all.contains("champion  v1    undefined"), "{all}");
        assert!(!all.contains("NaN"), "{all}");
    }
}
