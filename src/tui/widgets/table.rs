//! Lists with selection, scroll and a filter. [`Cursor`] is the state (it lives in the tab's
//! state and changes in `update`); [`draw`] renders a ratatui table from a copy of it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Row, Table, TableState};

use crate::tui::action::Action;
use crate::tui::theme::Theme;

/// Selection and scroll position in a list of `len` visible rows, and its filter text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub selected: usize,
    pub offset: usize,
    pub filter: String,
}

impl Cursor {
    /// Applies a movement action; returns whether it was one.
    pub fn apply(&mut self, action: &Action, len: usize, page: usize) -> bool {
        let page = page.max(1);
        match action {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = self.selected.saturating_add(1),
            Action::PageUp => self.selected = self.selected.saturating_sub(page),
            Action::PageDown => self.selected = self.selected.saturating_add(page),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = len.saturating_sub(1),
            _ => return false,
        }
        self.clamp(len, page);
        true
    }

    /// Keeps the selection inside the list and on screen.
    pub fn clamp(&mut self, len: usize, page: usize) {
        let page = page.max(1);
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(len.saturating_sub(1));
    }

    /// Case-insensitive match of the filter against any of `fields`.
    pub fn matches(&self, fields: &[&str]) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        fields.iter().any(|f| f.to_lowercase().contains(&needle))
    }
}

/// The rows of a list of `len` that a bordered table with a header in `area` shows, from
/// `cursor`'s scroll offset: build only these for long lists and draw them with [`draw_window`].
pub fn visible(area: Rect, cursor: &Cursor, len: usize) -> std::ops::Range<usize> {
    let start = cursor.offset.min(len);
    let shown = usize::from(area.height.saturating_sub(3));
    start..len.min(start + shown)
}

/// Draws `rows` as a bordered table with `cursor`'s selection; `focused` shows the selection.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    header: Row,
    rows: Vec<Row>,
    widths: &[Constraint],
    cursor: &Cursor,
    focused: bool,
) {
    let window = visible(area, cursor, rows.len());
    let rows: Vec<Row> = rows
        .into_iter()
        .skip(window.start)
        .take(window.len())
        .collect();
    draw_window(
        frame, area, theme, title, header, rows, widths, cursor, focused,
    );
}

/// Like [`draw`], for `rows` that are only the [`visible`] ones (the list starts at
/// `cursor.offset`), so a frame costs the same for ten runs and for 100,000.
#[allow(clippy::too_many_arguments)]
pub fn draw_window(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    header: Row,
    rows: Vec<Row>,
    widths: &[Constraint],
    cursor: &Cursor,
    focused: bool,
) {
    let title = if cursor.filter.is_empty() {
        title
    } else {
        format!("{title} [/{}]", cursor.filter)
    };
    let empty = rows.is_empty();
    let border = if focused {
        theme.get("title")
    } else {
        theme.get("border")
    };
    let table = Table::new(rows, widths.to_vec())
        .header(header.style(theme.get("title")))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(title),
        )
        .row_highlight_style(if focused {
            theme.get("selected")
        } else {
            Style::default()
        })
        .column_spacing(1);
    let selected = cursor.selected.checked_sub(cursor.offset);
    let mut state = TableState::default()
        .with_offset(0)
        .with_selected(if empty { None } else { selected });
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_stays_in_the_list_and_on_the_page() {
        let mut c = Cursor::default();
        c.apply(&Action::Down, 10, 3);
        c.apply(&Action::Down, 10, 3);
        c.apply(&Action::Down, 10, 3);
        assert_eq!((c.selected, c.offset), (3, 1));
        c.apply(&Action::Bottom, 10, 3);
        assert_eq!((c.selected, c.offset), (9, 7));
        c.apply(&Action::PageDown, 10, 3);
        assert_eq!(c.selected, 9);
        c.apply(&Action::Top, 10, 3);
        assert_eq!((c.selected, c.offset), (0, 0));
        c.apply(&Action::Up, 0, 3);
        assert_eq!(c.selected, 0);
        assert!(!c.apply(&Action::Mark, 10, 3));
    }

    #[test]
    fn filters_match_any_field_ignoring_case() {
        let c = Cursor {
            filter: "TRE".into(),
            ..Cursor::default()
        };
        assert!(c.matches(&["forest", "tree"]));
        assert!(!c.matches(&["gbt"]));
    }
}
