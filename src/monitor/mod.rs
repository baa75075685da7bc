//! Monitoring: is the data a served model sees still like the data it was trained on?
//!
//! - [`stats`]: drift statistics (PSI, KS, Wasserstein, chi-square, Jensen–Shannon), the
//!   per-column test choice and the dataset-drift rule, on raw samples and on binned windows.

pub mod stats;
