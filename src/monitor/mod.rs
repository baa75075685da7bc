//! Monitoring: is the data a served model sees still like the data it was trained on?
//!
//! - [`stats`]: drift statistics (PSI, KS, Wasserstein, chi-square, Jensen–Shannon), the
//!   per-column test choice and the dataset-drift rule, on raw samples and on binned windows.
//! - [`ingest`]: exactly-once ingestion of the inference log into per-window aggregates in the
//!   store.
//! - [`drift`]: a window's drift against the served model version's training data.

pub mod drift;
pub mod ingest;
pub mod stats;
