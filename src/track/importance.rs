//! Which params matter for a metric, over a set of runs (an experiment, a filter): the view W&B
//! and Optuna give of a sweep.
//!
//! Method: each param becomes one column (numbers as they are; text values as codes ordered by
//! their mean metric, so one split can group levels; a run without the param is missing), the
//! metric is the target, and a gradient-boosted regression tree ensemble (forust-ml, squared
//! loss, 100 trees of depth 3, learning rate 0.1, fixed seed) is fitted on the runs. A param's
//! importance is its share of the ensemble's total split gain: the mean-decrease-in-impurity
//! idea of Optuna's `MeanDecreaseImpurityImportanceEvaluator` (there on a random forest) and of
//! W&B's parameter-importance panel. Next to it, the Spearman rank correlation of numeric params
//! with the metric (W&B shows both): importance catches non-monotone effects, correlation says
//! which way a monotone one goes. Params with one value across the runs are left out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::RunSummary;
use crate::store::query::read_number;

/// One param's importance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamImportance {
    pub param: String,
    /// Share of the total split gain, in [0, 1]; the shares of all params sum to 1 (or are all
    /// 0 when no split helped).
    pub importance: f64,
    /// Spearman rank correlation with the metric, for params whose values are all numbers.
    pub correlation: Option<f64>,
    /// Distinct values among the runs.
    pub distinct: usize,
}

/// The importance of every varying param for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportanceReport {
    pub metric: String,
    /// Runs that have the metric (and so were used).
    pub runs: usize,
    /// Largest importance first.
    pub params: Vec<ParamImportance>,
    pub method: &'static str,
}

/// Fewest runs an importance is computed from.
pub const MIN_RUNS: usize = 4;

/// Importance of each param of `runs` for `metric` (see the module documentation). Runs without
/// the metric (or with NaN) are skipped; fewer than [`MIN_RUNS`] left, or no param that varies,
/// is [`Error::Invalid`] saying so.
pub fn param_importance(runs: &[RunSummary], metric: &str) -> Result<ImportanceReport> {
    let used: Vec<(&RunSummary, f64)> = runs
        .iter()
        .filter_map(|r| {
            r.metrics
                .get(metric)
                .copied()
                .filter(|v| v.is_finite())
                .map(|v| (r, v))
        })
        .collect();
    if used.len() < MIN_RUNS {
        return Err(Error::invalid(format!(
            "{} run(s) have the metric `{metric}`; importance needs at least {MIN_RUNS}",
            used.len()
        )));
    }
    let y: Vec<f64> = used.iter().map(|(_, v)| *v).collect();
    let keys: BTreeSet<&String> = used.iter().flat_map(|(r, _)| r.params.keys()).collect();
    let mut columns: Vec<(String, Vec<f64>, bool, usize)> = Vec::new();
    for key in keys {
        let values: Vec<Option<&str>> = used
            .iter()
            .map(|(r, _)| r.params.get(key).map(String::as_str))
            .collect();
        let distinct: BTreeSet<Option<&str>> = values.iter().copied().collect();
        if distinct.len() < 2 {
            continue;
        }
        let numeric = values.iter().flatten().all(|v| read_number(v).is_some());
        let column: Vec<f64> = if numeric {
            values
                .iter()
                .map(|v| v.and_then(read_number).unwrap_or(f64::NAN))
                .collect()
        } else {
            // Levels ordered by their mean metric.
            let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
            for (v, m) in values.iter().zip(&y) {
                if let Some(v) = v {
                    let e = sums.entry(v).or_default();
                    e.0 += m;
                    e.1 += 1.0;
                }
            }
            let mut levels: Vec<(&str, f64)> =
                sums.into_iter().map(|(k, (s, n))| (k, s / n)).collect();
            levels.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            let code: BTreeMap<&str, f64> = levels
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (*k, i as f64))
                .collect();
            values
                .iter()
                .map(|v| v.and_then(|v| code.get(v).copied()).unwrap_or(f64::NAN))
                .collect()
        };
        columns.push((key.clone(), column, numeric, distinct.len()));
    }
    if columns.is_empty() {
        return Err(Error::invalid(format!(
            "no param varies across the {} runs with `{metric}`",
            used.len()
        )));
    }
    let gains = ensemble_gain(&columns.iter().map(|c| &c.1).collect::<Vec<_>>(), &y)?;
    let total: f64 = gains.iter().sum();
    let mut params: Vec<ParamImportance> = columns
        .iter()
        .zip(&gains)
        .map(
            |((name, column, numeric, distinct), gain)| ParamImportance {
                param: name.clone(),
                importance: if total > 0.0 { gain / total } else { 0.0 },
                correlation: numeric.then(|| spearman(column, &y)).flatten(),
                distinct: *distinct,
            },
        )
        .collect();
    params.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then_with(|| a.param.cmp(&b.param))
    });
    Ok(ImportanceReport {
        metric: metric.to_string(),
        runs: used.len(),
        params,
        method: "share of split gain in a gradient-boosted regression of the metric on the params (forust-ml, 100 trees, depth 3)",
    })
}

/// Total split gain per column of a squared-loss boosted ensemble fitted on `columns` -> `y`.
fn ensemble_gain(columns: &[&Vec<f64>], y: &[f64]) -> Result<Vec<f64>> {
    let rows = y.len();
    let flat: Vec<f64> = columns.iter().flat_map(|c| c.iter().copied()).collect();
    let data = forust_ml::Matrix::new(&flat, rows, columns.len());
    let mut booster = forust_ml::GradientBooster::default()
        .set_objective_type(forust_ml::objective::ObjectiveType::SquaredLoss)
        .set_iterations(100)
        .set_learning_rate(0.1)
        .set_max_depth(3)
        .set_min_leaf_weight(1.0)
        .set_seed(0)
        .set_parallel(false);
    booster
        .fit_unweighted(&data, y, None)
        .map_err(|e| Error::model(format!("importance regression: {e}")))?;
    let map = booster.calculate_feature_importance(
        forust_ml::gradientbooster::ImportanceMethod::TotalGain,
        false,
    );
    Ok((0..columns.len())
        .map(|i| f64::from(map.get(&i).copied().unwrap_or(0.0)).max(0.0))
        .collect())
}

/// Spearman's rank correlation over the pairs where `x` is present; `None` when either side is
/// constant or fewer than 3 pairs remain.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, _)| a.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    let rx = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let ry = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    pearson(&rx, &ry)
}

/// Average ranks (1-based), ties sharing their mean rank, as `scipy.stats.rankdata`.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    fn run(i: usize, depth: f64, lr: f64, criterion: &str, noise: &str, auc: f64) -> RunSummary {
        RunSummary {
            run_id: format!("{i:032x}"),
            experiment: "e".into(),
            name: format!("r{i}"),
            model_kind: "gbt".into(),
            status: RunStatus::Finished,
            start_time: i as i64,
            end_time: None,
            duration_ms: None,
            data_version: None,
            metrics: BTreeMap::from([("roc_auc".into(), auc)]),
            params: BTreeMap::from([
                ("max_depth".into(), depth.to_string()),
                ("learning_rate".into(), lr.to_string()),
                ("criterion".into(), criterion.into()),
                ("noise".into(), noise.into()),
                ("seed".into(), "42".into()),
            ]),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_param_that_drives_the_metric_ranks_first() {
        // roc_auc rises with max_depth and dips for entropy; learning_rate and noise do nothing.
        let mut runs = Vec::new();
        for i in 0..40 {
            let depth = (i % 8 + 2) as f64;
            let lr = [0.01, 0.05, 0.1][i % 3];
            let criterion = ["gini", "entropy"][i % 2];
            let noise = ["x", "y", "z", "w", "v"][(i * 7) % 5];
            let auc = 0.6 + depth / 100.0 - if criterion == "entropy" { 0.02 } else { 0.0 };
            runs.push(run(i, depth, lr, criterion, noise, auc));
        }
        let r = param_importance(&runs, "roc_auc").unwrap();
        assert_eq!(r.runs, 40);
        let names: Vec<&str> = r.params.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(&names[..2], ["max_depth", "criterion"], "{r:?}");
        // seed is constant: left out.
        assert!(!names.contains(&"seed"));
        let total: f64 = r.params.iter().map(|p| p.importance).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(r.params[0].importance > 0.6, "{r:?}");
        let depth = &r.params[0];
        assert!(depth.correlation.unwrap() > 0.9);
        assert!(
            r.params
                .iter()
                .find(|p| p.param == "criterion")
                .unwrap()
                .correlation
                .is_none()
        );
    }

    #[test]
    fn too_few_runs_or_nothing_varying_is_an_error() {
        let runs: Vec<RunSummary> = (0..3).map(|i| run(i, 4.0, 0.1, "gini", "x", 0.7)).collect();
        let e = param_importance(&runs, "roc_auc").unwrap_err();
        assert!(e.to_string().contains("at least 4"), "{e}");
        let runs: Vec<RunSummary> = (0..5).map(|i| run(i, 4.0, 0.1, "gini", "x", 0.7)).collect();
        let e = param_importance(&runs, "roc_auc").unwrap_err();
        assert!(e.to_string().contains("no param varies"), "{e}");
    }

    #[test]
    fn spearman_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).statistic == 0.8207826816681233
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((r - 0.820_782_681_668_123_3).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}
