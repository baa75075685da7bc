//! Reusable pieces: a list cursor with selection, scroll and filter (and the table it draws),
//! the status and footer bars, dialogs, the help overlay, the command line and a run's charts.

pub mod charts;
pub mod command;
pub mod dialog;
pub mod footer;
pub mod help;
pub mod table;
