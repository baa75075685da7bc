//! The terminal's lifecycle in one place: raw mode and the alternate screen on the way in; on
//! the way out (normal exit, error, panic or SIGTERM) both are undone before anything else is
//! printed, so the user's shell is never left broken.

use std::io::{self, Stdout};

use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Enters raw mode, the alternate screen and mouse reporting (click a tab, scroll a list), and
/// installs a panic hook that restores the
/// terminal before the panic message is printed.
pub fn init() -> io::Result<Term> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    // Cleared here rather than with `Terminal::clear`, which queries the cursor position
    // (a round trip that slow links and some pseudo-terminals never answer).
    if let Err(e) = execute!(
        stdout,
        EnterAlternateScreen,
        crossterm::event::EnableMouseCapture,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    ) {
        restore();
        return Err(e);
    }
    match Terminal::new(CrosstermBackend::new(stdout)) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Stops mouse reporting, leaves the alternate screen and raw mode, and shows the cursor. Safe
/// to call twice.
pub fn restore() {
    let _ = execute!(
        io::stdout(),
        crossterm::event::DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}
