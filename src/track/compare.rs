//! Side-by-side comparison of runs: params and metrics per run, and which run holds the best
//! value of each metric. One rule for every front end: higher is better, except for losses,
//! false positives/negatives and timings (`*seconds`), where lower is better.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Direction;
use crate::store::RunSummary;

/// Params and metrics of runs side by side (the `runs compare --json` shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub runs: Vec<String>,
    pub params: BTreeMap<String, Vec<Option<String>>>,
    pub metrics: BTreeMap<String, Vec<Option<f64>>>,
    /// Run with the best value per metric.
    pub best: BTreeMap<String, String>,
}

/// True for metrics where a smaller value is better.
pub fn lower_is_better(metric: &str) -> bool {
    metric.contains("loss") || metric == "fp" || metric == "fn" || metric.ends_with("seconds")
}

/// Metrics that count things (the confusion matrix, unseen categories): shown as integers.
pub fn is_count(metric: &str) -> bool {
    matches!(metric, "tn" | "fp" | "fn" | "tp")
        || metric.ends_with("_count")
        || metric.ends_with("_categories")
        || metric.starts_with("n_")
}

/// A metric value as every front end prints it: counts (see [`is_count`]) and other whole
/// values of 2 or more as integers (`63`, not `63.0000`), everything else with 4 decimals, NaN
/// as `-`.
pub fn format_metric(metric: &str, value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 && (is_count(metric) || value.abs() >= 2.0)
    {
        format!("{}", value as i64)
    } else {
        format!("{value:.4}")
    }
}

/// Compares `runs` in the given order; with `only_diff`, rows whose values are all equal are
/// left out. NaN values never win.
pub fn compare(runs: &[&RunSummary], only_diff: bool) -> Comparison {
    let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    let param_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let metric_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    let mut params = BTreeMap::new();
    for k in param_keys {
        let vals: Vec<Option<String>> = runs.iter().map(|r| r.params.get(k).cloned()).collect();
        if only_diff && vals.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        params.insert(k.clone(), vals);
    }
    let mut metrics = BTreeMap::new();
    let mut best = BTreeMap::new();
    for k in metric_keys {
        let vals: Vec<Option<f64>> = runs.iter().map(|r| r.metrics.get(k).copied()).collect();
        if only_diff && vals.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        let direction = if lower_is_better(k) {
            Direction::Minimize
        } else {
            Direction::Maximize
        };
        let mut best_i: Option<(usize, f64)> = None;
        for (i, v) in vals.iter().enumerate() {
            if let Some(v) = *v
                && direction.better(v, best_i.map(|b| b.1))
            {
                best_i = Some((i, v));
            }
        }
        if let Some((i, _)) = best_i {
            best.insert(k.clone(), ids[i].clone());
        }
        metrics.insert(k.clone(), vals);
    }
    Comparison {
        runs: ids,
        params,
        metrics,
        best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    fn run(id: &str, depth: &str, auc: f64, loss: f64) -> RunSummary {
        RunSummary {
            run_id: id.into(),
            experiment: "e".into(),
            name: id.into(),
            model_kind: "tree".into(),
            status: RunStatus::Finished,
            start_time: 0,
            end_time: Some(1),
            duration_ms: Some(1),
            data_version: None,
            metrics: BTreeMap::from([
                ("roc_auc".into(), auc),
                ("log_loss".into(), loss),
                ("tp".into(), 5.0),
            ]),
            params: BTreeMap::from([
                ("max_depth".into(), depth.into()),
                ("seed".into(), "42".into()),
            ]),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn counts_print_as_integers() {
        assert_eq!(format_metric("tp", 63.0), "63");
        assert_eq!(format_metric("tp", 0.0), "0");
        assert_eq!(format_metric("roc_auc", 1.0), "1.0000");
        assert_eq!(format_metric("roc_auc", 0.71234), "0.7123");
        assert_eq!(format_metric("fit_seconds", 12.0), "12");
        assert_eq!(format_metric("log_loss", f64::NAN), "-");
    }

    #[test]
    fn best_follows_the_direction_of_each_metric_and_diff_drops_equal_rows() {
        let (a, b) = (run("a", "4", 0.8, 0.3), run("b", "8", 0.9, 0.4));
        let all = compare(&[&a, &b], false);
        assert_eq!(all.best["roc_auc"], "b");
        assert_eq!(all.best["log_loss"], "a");
        assert!(all.params.contains_key("seed"));
        let diff = compare(&[&a, &b], true);
        assert!(!diff.params.contains_key("seed"));
        assert!(!diff.metrics.contains_key("tp"));
        assert_eq!(
            diff.params["max_depth"],
            vec![Some("4".into()), Some("8".into())]
        );
    }

    #[test]
    fn nan_never_wins() {
        let (a, b) = (run("a", "4", f64::NAN, 0.3), run("b", "8", 0.1, 0.4));
        assert_eq!(compare(&[&a, &b], false).best["roc_auc"], "b");
    }
}
