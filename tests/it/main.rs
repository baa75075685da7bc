//! Integration tests: the real `cerebro` binary on temporary workspaces and real SQLite files.
//! One test binary (modules below) so everything links once.

mod bad_input;
mod common;
mod course;
mod demo;
mod explain;
mod filter;
mod jobs;
mod layers;
mod marvel;
mod mlflow;
mod monitor;
mod monitor_cli;
mod pipeline;
mod registry;
mod reliability;
mod robust;
mod runs;
mod serve_faults;
mod serving;
mod simulate;
mod store_faults;
mod training;
mod tui;
mod tune;
mod webhooks;
mod workflow;
