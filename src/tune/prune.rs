//! Stopping unpromising trials early, on the test `roc_auc` an iterative fit (forest, gbt)
//! reports after so many trees (`roc_auc_by_trees`).
//!
//! A trial is checked at a few rungs of its tree count: `N/64`, `N/16` and `N/4` trees, `N`
//! being the most trees any trial of the tune can have. Two rules, both Optuna's:
//!
//! - `median` (`MedianPruner`, Golovin et al., "Google Vizier", KDD 2017): once 5 trials are
//!   complete, a trial whose best value so far is worse than the median of the complete trials'
//!   values at the same rung stops.
//! - `halving` (`SuccessiveHalvingPruner`, asynchronous successive halving: Li et al., "A System
//!   for Massively Parallel Hyperparameter Tuning", MLSys 2020), reduction factor 4: a trial
//!   goes on past a rung only when its value there is among the best quarter of every value
//!   recorded at that rung (itself included; the best one while fewer than 4 are recorded).
//!
//! A tree model's prefix of `k` trees is itself the model of `k` trees, so a forest is fitted
//! rung by rung at no extra cost; forust-ml's boosting has no per-tree callback nor warm start,
//! so a gbt trial is refitted from scratch to each rung it passes (the same trees, its seed is
//! fixed): at most `N/64 + N/16 + N/4` (a third) more trees for a trial that is not pruned, in
//! exchange for stopping the others at a 64th, a 16th or a quarter of the work.

use std::str::FromStr;

use super::sampler::{TrialRecord, TrialState};
use crate::config::Direction;
use crate::error::{Error, Result};

/// Which pruning rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrunerKind {
    None,
    Median,
    Halving,
}

impl PrunerKind {
    pub const NAMES: [&'static str; 3] = ["none", "median", "halving"];

    pub fn as_str(self) -> &'static str {
        match self {
            PrunerKind::None => "none",
            PrunerKind::Median => "median",
            PrunerKind::Halving => "halving",
        }
    }
}

impl FromStr for PrunerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(PrunerKind::None),
            "median" => Ok(PrunerKind::Median),
            "halving" | "successive_halving" | "asha" => Ok(PrunerKind::Halving),
            other => Err(Error::invalid(format!(
                "unknown pruner `{other}` (one of {})",
                PrunerKind::NAMES.join(", ")
            ))),
        }
    }
}

impl std::fmt::Display for PrunerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Complete trials the median rule waits for (Optuna's `n_startup_trials`).
pub const MEDIAN_STARTUP_TRIALS: usize = 5;
/// Successive halving's reduction factor (Optuna's default).
pub const REDUCTION_FACTOR: usize = 4;

/// The rungs (tree counts) of a tune whose trials have at most `max_steps` trees: `N/64`,
/// `N/16` and `N/4`, rounded, at least 1, without repeats, ascending.
pub fn rungs(max_steps: usize) -> Vec<usize> {
    let mut out: Vec<usize> = [64usize, 16, 4]
        .iter()
        .map(|d| ((max_steps as f64 / *d as f64).round() as usize).max(1))
        .filter(|&r| r < max_steps)
        .collect();
    out.dedup();
    out
}

/// Whether a trial that reached `value` at rung `step` (its best so far being `best`) stops,
/// judged against the `visible` trials; `Some(reason)` when it does.
pub fn decide(
    kind: PrunerKind,
    direction: Direction,
    visible: &[TrialRecord],
    step: usize,
    value: f64,
    best: f64,
) -> Option<String> {
    let better = |a: f64, b: f64| match direction {
        Direction::Maximize => a > b,
        Direction::Minimize => a < b,
    };
    match kind {
        PrunerKind::None => None,
        PrunerKind::Median => {
            let complete: Vec<&TrialRecord> = visible
                .iter()
                .filter(|t| t.state == TrialState::Complete)
                .collect();
            if complete.len() < MEDIAN_STARTUP_TRIALS {
                return None;
            }
            if best.is_nan() {
                return Some(format!("roc_auc is NaN at {step} trees"));
            }
            let mut at: Vec<f64> = complete
                .iter()
                .filter_map(|t| t.intermediate.get(&step).copied())
                .filter(|v| !v.is_nan())
                .collect();
            if at.is_empty() {
                return None;
            }
            let median = percentile_50(&mut at);
            better(median, best).then(|| {
                format!(
                    "roc_auc {best:.4} by {step} trees is worse than the median {median:.4} of {} \
                     complete trials",
                    at.len()
                )
            })
        }
        PrunerKind::Halving => {
            let mut competing: Vec<f64> = visible
                .iter()
                .filter_map(|t| t.intermediate.get(&step).copied())
                .filter(|v| !v.is_nan())
                .collect();
            if value.is_nan() {
                return Some(format!("roc_auc is NaN at {step} trees"));
            }
            competing.push(value);
            let idx = (competing.len() / REDUCTION_FACTOR).saturating_sub(1);
            // Best first.
            competing.sort_by(|a, b| match direction {
                Direction::Maximize => b.total_cmp(a),
                Direction::Minimize => a.total_cmp(b),
            });
            let bar = competing[idx];
            better(bar, value).then(|| {
                format!(
                    "roc_auc {value:.4} at {step} trees is not among the best {} of {} trials \
                     at that rung (needs {bar:.4})",
                    idx + 1,
                    competing.len()
                )
            })
        }
    }
}

/// numpy's `percentile(values, 50)` (linear interpolation).
fn percentile_50(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = 0.5 * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn trial(number: usize, state: TrialState, at: &[(usize, f64)]) -> TrialRecord {
        TrialRecord {
            number,
            params: Vec::new(),
            state,
            value: None,
            intermediate: at.iter().copied().collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn rungs_are_a_64th_a_16th_and_a_quarter() {
        assert_eq!(rungs(1000), vec![16, 63, 250]);
        assert_eq!(rungs(100), vec![2, 6, 25]);
        assert_eq!(rungs(8), vec![1, 2]);
        assert_eq!(rungs(1), Vec::<usize>::new());
    }

    #[test]
    fn the_median_rule_waits_for_five_complete_trials_then_prunes_below_the_median() {
        let done: Vec<TrialRecord> = (0..5)
            .map(|i| trial(i, TrialState::Complete, &[(10, 0.70 + 0.01 * i as f64)]))
            .collect();
        let m = |v: &[TrialRecord], value: f64| {
            decide(PrunerKind::Median, Direction::Maximize, v, 10, value, value)
        };
        assert_eq!(m(&done[..4], 0.1), None, "fewer than 5 complete trials");
        assert_eq!(m(&done, 0.72), None, "the median itself goes on");
        let reason = m(&done, 0.715).unwrap();
        assert!(reason.contains("median 0.7200 of 5"), "{reason}");
        // Pruned and running trials do not count towards the median.
        let mut more = done.clone();
        more.push(trial(5, TrialState::Pruned, &[(10, 0.99)]));
        assert!(m(&more, 0.715).is_some());
        // Its best value so far is what counts.
        assert_eq!(
            decide(PrunerKind::Median, Direction::Maximize, &done, 10, 0.6, 0.8),
            None
        );
    }

    #[test]
    fn halving_keeps_the_best_quarter_of_a_rung() {
        let seen: Vec<TrialRecord> = (0..7)
            .map(|i| trial(i, TrialState::Pruned, &[(16, 0.60 + 0.01 * i as f64)]))
            .collect();
        let h = |v: &[TrialRecord], value: f64| {
            decide(
                PrunerKind::Halving,
                Direction::Maximize,
                v,
                16,
                value,
                value,
            )
        };
        // 8 values: the best 2 go on; the bar is the second best.
        assert_eq!(h(&seen, 0.655), None);
        assert!(h(&seen, 0.645).is_some());
        // Fewer than 4 values: only the best goes on; the first trial always does.
        assert_eq!(h(&[], 0.5), None);
        assert!(h(&seen[..2], 0.605).is_some());
    }
}
