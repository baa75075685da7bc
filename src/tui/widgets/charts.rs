//! A run's charts as panels: learning curves (metrics logged per step), the test set's ROC and
//! precision-recall curves (braille line charts), the confusion matrix as a grid and the feature
//! importance as bars. The run view lays them out in a grid on a wide terminal and in a strip of
//! as many as fit (the rest one `m` away) on a narrow one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use cerebro::track::view::RunCharts;
use cerebro::train::metrics::Curves;

use crate::tui::theme::Theme;

/// One chart of a run.
#[derive(Debug, Clone, Copy)]
pub enum Panel<'a> {
    /// A metric by step: key and points.
    Series(&'a str, &'a [(f64, f64)]),
    Roc(&'a Curves),
    PrecisionRecall(&'a Curves),
    Confusion([[u64; 2]; 2]),
    Importance(&'a [(String, f64)]),
}

/// The panels a run has, in display order.
pub fn panels(charts: &RunCharts) -> Vec<Panel<'_>> {
    let mut out: Vec<Panel> = charts
        .series
        .iter()
        .map(|(k, points)| Panel::Series(k, points))
        .collect();
    if let Some(c) = &charts.curves {
        if !c.fpr.is_empty() {
            out.push(Panel::Roc(c));
            out.push(Panel::PrecisionRecall(c));
        }
        out.push(Panel::Confusion(c.confusion));
    }
    if !charts.importance.is_empty() {
        out.push(Panel::Importance(&charts.importance));
    }
    out
}

/// Up to six panels in two columns, starting at panel `first` (wrapping).
pub fn draw_grid(frame: &mut Frame, area: Rect, theme: &Theme, panels: &[Panel], first: usize) {
    let shown = rotated(panels, first, 6);
    let rows = shown.len().div_ceil(2).max(1);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, rows as u32); rows]).split(area);
    for (r, pair) in shown.chunks(2).enumerate() {
        let cols = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .split(row_areas[r]);
        for (c, panel) in pair.iter().enumerate() {
            draw(frame, cols[c], theme, panel, panels.len() > 6);
        }
    }
}

/// As many panels side by side as fit at 38 columns each, starting at panel `first`.
pub fn draw_strip(frame: &mut Frame, area: Rect, theme: &Theme, panels: &[Panel], first: usize) {
    let fit = usize::from(area.width / 38).max(1);
    let shown = rotated(panels, first, fit);
    let n = shown.len().max(1) as u32;
    let areas = Layout::horizontal(vec![Constraint::Ratio(1, n); shown.len()]).split(area);
    for (i, panel) in shown.iter().enumerate() {
        draw(frame, areas[i], theme, panel, panels.len() > fit);
    }
}

fn rotated<'a>(panels: &[Panel<'a>], first: usize, max: usize) -> Vec<Panel<'a>> {
    if panels.is_empty() {
        return Vec::new();
    }
    let start = first % panels.len();
    panels
        .iter()
        .cycle()
        .skip(start)
        .take(max.min(panels.len()))
        .copied()
        .collect()
}

fn block(theme: &Theme, title: String, more: bool) -> Block<'static> {
    let title = if more {
        format!("{title} (m: more)")
    } else {
        title
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(Span::styled(title, theme.get("title")))
}

fn draw(frame: &mut Frame, area: Rect, theme: &Theme, panel: &Panel, more: bool) {
    match panel {
        Panel::Series(key, points) => {
            let (x0, x1) = bounds(points.iter().map(|p| p.0));
            let (y0, y1) = padded(bounds(points.iter().map(|p| p.1)));
            line_chart(
                frame,
                area,
                theme,
                block(theme, format!("{key} by step"), more),
                vec![(points.to_vec(), "running")],
                ([x0, x1], "step"),
                ([y0, y1], ""),
            );
        }
        Panel::Roc(c) => {
            let roc: Vec<(f64, f64)> = c.fpr.iter().copied().zip(c.tpr.iter().copied()).collect();
            let auc: f64 = roc
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
                .sum();
            line_chart(
                frame,
                area,
                theme,
                block(theme, format!("ROC, test set (AUC {auc:.4})"), more),
                vec![(vec![(0.0, 0.0), (1.0, 1.0)], "dim"), (roc, "pass")],
                ([0.0, 1.0], "false positive rate"),
                ([0.0, 1.0], "true positive rate"),
            );
        }
        Panel::PrecisionRecall(c) => {
            let pr: Vec<(f64, f64)> = c
                .recall
                .iter()
                .copied()
                .zip(c.precision.iter().copied())
                .collect();
            line_chart(
                frame,
                area,
                theme,
                block(theme, "Precision-recall, test set".into(), more),
                vec![(pr, "info")],
                ([0.0, 1.0], "recall"),
                ([0.0, 1.0], "precision"),
            );
        }
        Panel::Confusion(m) => {
            let [[tn, fp], [fn_, tp]] = *m;
            let total = (tn + fp + fn_ + tp).max(1) as f64;
            let cell = |v: u64| format!("{v:>7} {:>5.1}%", 100.0 * v as f64 / total);
            let ok = theme.get("pass");
            let bad = theme.get("fail");
            let lines = vec![
                Line::from(Span::styled(
                    "            predicted 0   predicted 1",
                    theme.get("header"),
                )),
                Line::from(vec![
                    Span::styled("  actual 0 ", theme.get("header")),
                    Span::styled(cell(tn), ok),
                    Span::raw(" "),
                    Span::styled(cell(fp), bad),
                ]),
                Line::from(vec![
                    Span::styled("  actual 1 ", theme.get("header")),
                    Span::styled(cell(fn_), bad),
                    Span::raw(" "),
                    Span::styled(cell(tp), ok),
                ]),
                Line::from(""),
                Line::from(Span::styled(
                    format!("  threshold 0.5, {} test rows", total as u64),
                    theme.get("dim"),
                )),
            ];
            frame.render_widget(
                Paragraph::new(lines).block(block(theme, "Confusion matrix".into(), more)),
                area,
            );
        }
        Panel::Importance(items) => {
            let b = block(theme, "Feature importance".into(), more);
            let inner = b.inner(area);
            let name_w = items
                .iter()
                .map(|(n, _)| n.chars().count())
                .max()
                .unwrap_or(0)
                .min(16);
            let bar_w = usize::from(inner.width).saturating_sub(name_w + 9).max(1);
            let top = items.first().map_or(1.0, |i| i.1).max(f64::MIN_POSITIVE);
            let lines: Vec<Line> = items
                .iter()
                .take(usize::from(inner.height))
                .map(|(name, v)| {
                    let name: String = name.chars().take(name_w).collect();
                    Line::from(vec![
                        Span::raw(format!("{name:<name_w$} ")),
                        Span::styled(bar(v / top, bar_w), theme.get("bar")),
                        Span::raw(format!(" {:>5.1}%", v * 100.0)),
                    ])
                })
                .collect();
            frame.render_widget(b, area);
            frame.render_widget(Paragraph::new(lines), inner);
        }
    }
}

/// A bar of `share` (0..=1) of `width` cells, in eighths.
pub fn bar(share: f64, width: usize) -> String {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let eighths = (share.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    s.push_str(EIGHTHS[eighths % 8]);
    let used = eighths / 8 + usize::from(!eighths.is_multiple_of(8));
    s.push_str(&" ".repeat(width.saturating_sub(used)));
    s
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

fn padded((lo, hi): (f64, f64)) -> (f64, f64) {
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

/// A braille line chart of `lines` (points, style name) on the given axes.
fn line_chart(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    block: Block<'static>,
    lines: Vec<(Vec<(f64, f64)>, &str)>,
    (x, x_name): ([f64; 2], &str),
    (y, y_name): ([f64; 2], &str),
) {
    let datasets: Vec<Dataset> = lines
        .iter()
        .map(|(points, style)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.get(style))
                .data(points)
        })
        .collect();
    let label = |v: f64| {
        if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .title(Span::styled(x_name.to_string(), theme.get("dim")))
                .bounds(x)
                .labels(vec![Span::raw(label(x[0])), Span::raw(label(x[1]))]),
        )
        .y_axis(
            Axis::default()
                .title(Span::styled(y_name.to_string(), theme.get("dim")))
                .bounds(y)
                .labels(vec![Span::raw(label(y[0])), Span::raw(label(y[1]))]),
        );
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(0.0, 3), "   ");
        assert_eq!(bar(1.0 / 32.0, 4), "▏   ");
    }
}
