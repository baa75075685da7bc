//! Monitoring: is the data a served model sees still like the data it was trained on?
//!
//! - [`stats`]: drift statistics (PSI, KS, Wasserstein, chi-square, Jensen–Shannon), the
//!   per-column test choice and the dataset-drift rule, on raw samples and on binned windows;
//!   [`ks`]: the exact and finite-n KS p-value; [`special`]: ln Γ, incomplete gamma, chi-square
//!   and Kolmogorov survival functions.
//! - [`sample`]: a window's numeric values, exact up to a cap, then a KLL sketch; [`values`]:
//!   drift of those values against the exact training baseline, the few-distinct-values rule,
//!   and the no-drift bands of each score.
//! - [`ingest`]: exactly-once ingestion of the inference log into per-window aggregates in the
//!   store; [`tail`]: exactly-once tailing of a folder of line files (the log, the labels);
//!   [`line`]: one log line parsed into hits per baseline feature; [`window`]: the baseline
//!   and window types; [`multivariate`]: the domain classifier on whole rows.
//! - [`labels`]: exactly-once ingestion of late ground truth (CSV or JSON lines) by record id.
//! - [`watch`]: events when the log or labels folder changes (notify, with a polling fallback).
//! - [`drift`]: a window's drift against the served model version's training data.
//! - [`quality`]: realised quality from kept predictions joined with late labels; [`cbpe`]:
//!   quality estimated from the model's calibrated probabilities before labels arrive.
//! - [`alerts`]: alert rules' open/resolve state and hooks; [`config`]: `[monitoring]`.
//! - [`report`]: the self-contained HTML report.
//! - [`service`]: [`service::Monitor`], the API the CLI, the TUI and workflows call.

pub mod alerts;
pub mod cbpe;
pub mod config;
pub mod drift;
pub mod ingest;
pub mod ks;
pub mod labels;
pub mod line;
pub mod multivariate;
pub mod quality;
pub mod report;
pub mod sample;
pub mod service;
pub mod special;
pub mod stats;
pub mod tail;
pub mod values;
pub mod watch;
pub mod window;

/// Test helper: asserts that `got` is within relative tolerance `rel` of `want` (absolute below
/// 1e-300), the check every scipy-quoted value in this module's tests uses.
#[cfg(test)]
pub(crate) fn assert_close(got: f64, want: f64, rel: f64) {
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol,
        "got {got:e}, want {want:e} (rel {rel:e})"
    );
}
