//! The parallel-coordinates plot of runs (`cerebro::track::parallel`) drawn in braille on a
//! canvas: one vertical axis per param and the metric last, with its smallest and largest value
//! under and over it; each run a line coloured by where its metric falls (lower, middle or upper
//! third of the range: `metric_low`, `metric_mid`, `metric_high` in the theme), better runs drawn
//! over worse ones; the selected run over all of them in `highlight` with a `●` on each axis
//! (visible without colour too). Beside or under it, the params' importance as bars.

use cerebro::track::importance::ImportanceReport;
use cerebro::track::parallel::ParallelCoordinates;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::theme::Theme;

/// Columns each axis needs for its labels; fewer param axes are drawn on a narrow terminal.
const AXIS_COLUMNS: u16 = 12;

/// The axes shown in `width` columns: the first param axes that fit, then the metric's (indices
/// into `plot.axes`).
pub fn shown_axes(plot: &ParallelCoordinates, width: u16) -> Vec<usize> {
    let n = plot.axes.len();
    let fit = usize::from((width / AXIS_COLUMNS).max(2));
    let params = (n.saturating_sub(1)).min(fit - 1);
    let mut out: Vec<usize> = (0..params).collect();
    out.push(n - 1);
    out
}

/// The column of axis `i` of `k` in `width` columns.
fn column(i: usize, k: usize, width: u16) -> u16 {
    if k <= 1 {
        return width / 2;
    }
    let w = f64::from(width.saturating_sub(1));
    (i as f64 * w / (k - 1) as f64).round() as u16
}

/// `text` centred on column `at` of a line `width` wide, cut to `room` characters, written into
/// `line` (a row of cells as chars).
fn place(line: &mut [char], at: u16, text: &str, room: usize) {
    let text: Vec<char> = text.chars().take(room.max(1)).collect();
    let width = line.len();
    let start = usize::from(at)
        .saturating_sub(text.len() / 2)
        .min(width.saturating_sub(text.len()));
    for (j, c) in text.into_iter().enumerate() {
        if let Some(cell) = line.get_mut(start + j) {
            *cell = c;
        }
    }
}

/// Draws `plot` in `area` with `title`; `selected` is the selected run's points (see
/// `ParallelCoordinates::points_of`), highlighted.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    plot: &ParallelCoordinates,
    selected: Option<&[Option<f64>]>,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(Span::styled(title, theme.get("title")));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if plot.lines.is_empty() {
        frame.render_widget(
            Paragraph::new(format!(
                "no shown run has the metric {} and a param that varies",
                plot.metric
            )),
            inner,
        );
        return;
    }
    if inner.height < 5 || inner.width < 2 * AXIS_COLUMNS {
        frame.render_widget(Paragraph::new("too small for the plot"), inner);
        return;
    }
    let axes = shown_axes(plot, inner.width);
    let k = axes.len();
    let [top, canvas_area, bottom, names] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    // Labels: the largest value over each axis, the smallest under it, the name below.
    let room = usize::from(inner.width) / k.max(1);
    let mut hi = vec![' '; usize::from(inner.width)];
    let mut lo = hi.clone();
    let mut name_line = hi.clone();
    for (i, &a) in axes.iter().enumerate() {
        let at = column(i, k, inner.width);
        let (low, high) = plot.axes[a].ends();
        place(&mut hi, at, &high, room.saturating_sub(1));
        place(&mut lo, at, &low, room.saturating_sub(1));
        place(
            &mut name_line,
            at,
            &plot.axes[a].name,
            room.saturating_sub(1),
        );
    }
    let text = |cs: Vec<char>| cs.into_iter().collect::<String>();
    frame.render_widget(Paragraph::new(text(hi)).style(theme.get("dim")), top);
    frame.render_widget(Paragraph::new(text(lo)).style(theme.get("dim")), bottom);
    frame.render_widget(
        Paragraph::new(text(name_line)).style(theme.get("title")),
        names,
    );

    let colour = |name: &str| theme.get(name).fg.unwrap_or(Color::Reset);
    let bands = [
        colour("metric_low"),
        colour("metric_mid"),
        colour("metric_high"),
    ];
    let axis_colour = colour("border");
    let highlight = theme.get("highlight");
    // Worse runs first so the better ones are drawn over them.
    let mut order: Vec<usize> = (0..plot.lines.len()).collect();
    order.sort_by(|&a, &b| plot.lines[a].metric.total_cmp(&plot.lines[b].metric));
    let x_max = (k - 1).max(1) as f64;
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, x_max])
        .y_bounds([0.0, 1.0])
        .paint(|ctx| {
            for i in 0..k {
                ctx.draw(&CanvasLine::new(i as f64, 0.0, i as f64, 1.0, axis_colour));
            }
            ctx.layer();
            for &l in &order {
                let line = &plot.lines[l];
                let band = ((plot.rank(line.metric) * 3.0) as usize).min(2);
                segments(ctx, &axes, &line.points, bands[band]);
            }
            if let Some(points) = selected {
                ctx.layer();
                segments(ctx, &axes, points, highlight.fg.unwrap_or(Color::Reset));
                for (i, &a) in axes.iter().enumerate() {
                    if let Some(Some(y)) = points.get(a) {
                        ctx.print(i as f64, *y, Span::styled("●", highlight));
                    }
                }
            }
        });
    frame.render_widget(canvas, canvas_area);
}

/// A run's line between each pair of neighbouring shown axes where it has both values.
fn segments(
    ctx: &mut ratatui::widgets::canvas::Context<'_>,
    axes: &[usize],
    points: &[Option<f64>],
    color: Color,
) {
    for (w, pair) in axes.windows(2).enumerate() {
        if let (Some(Some(y1)), Some(Some(y2))) = (points.get(pair[0]), points.get(pair[1])) {
            ctx.draw(&CanvasLine::new(w as f64, *y1, (w + 1) as f64, *y2, color));
        }
    }
}

/// The importance of each param as bars, with its Spearman correlation; `status` replaces the
/// bars while there are none (computing, or why there are none).
pub fn draw_importance(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    report: Option<&ImportanceReport>,
    status: &str,
) {
    let title = match report {
        Some(r) => format!("Param importance for {} ({} runs)", r.metric, r.runs),
        None => "Param importance".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(Span::styled(title, theme.get("title")));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(r) = report else {
        frame.render_widget(Paragraph::new(status.to_string()), inner);
        return;
    };
    let name_w = r
        .params
        .iter()
        .map(|p| p.param.chars().count())
        .max()
        .unwrap_or(0)
        .min(16);
    // name, bar, " 62.0%", " ρ +0.41"
    let bar_w = usize::from(inner.width)
        .saturating_sub(name_w + 1 + 7 + 8)
        .max(1);
    let top = r
        .params
        .first()
        .map_or(1.0, |p| p.importance)
        .max(f64::MIN_POSITIVE);
    let lines: Vec<Line> = r
        .params
        .iter()
        .take(usize::from(inner.height))
        .map(|p| {
            let name: String = p.param.chars().take(name_w).collect();
            Line::from(vec![
                Span::raw(format!("{name:<name_w$} ")),
                Span::styled(
                    super::charts::bar(p.importance / top, bar_w),
                    theme.get("bar"),
                ),
                Span::raw(format!(" {:>5.1}%", p.importance * 100.0)),
                Span::styled(
                    p.correlation
                        .map_or(String::new(), |c| format!(" ρ {c:+.2}")),
                    theme.get("dim"),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
