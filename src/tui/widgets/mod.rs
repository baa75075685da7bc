//! Reusable pieces: a list cursor with selection, scroll and filter (and the table it draws),
//! the status and footer bars, dialogs, the help overlay, the command line, a run's charts and
//! the parallel coordinates of runs.

pub mod charts;
pub mod command;
pub mod dialog;
pub mod footer;
pub mod help;
pub mod parallel;
pub mod table;
