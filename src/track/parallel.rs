//! Parallel coordinates of a set of runs: one vertical axis per varying param and a last axis
//! for a metric, each run a polyline through its values (Inselberg's parallel coordinates, the
//! plot W&B sweeps and Optuna's `plot_parallel_coordinate` draw). This module only computes the
//! axes and every run's position on them, in [0, 1]; the TUI draws them.
//!
//! Axes: a param whose values are all numbers is a numeric axis from its smallest to its
//! largest value, on a log scale when every value is positive and the largest is at least 100
//! times the smallest (`min_samples_leaf` 1..200, a learning rate 0.005..0.3), as Optuna does for
//! log-distributed params; any other param is a level axis, its distinct values in text order,
//! evenly spaced. Params with one value across the runs are left out (they explain nothing).
//! Runs without the metric (or with NaN there) are left out: a line is coloured by its metric.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::RunSummary;
use crate::store::query::read_number;

/// How an axis maps values to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    /// `min..max` linearly, or of `ln` when `log`.
    Numeric { min: f64, max: f64, log: bool },
    /// Text levels in this order, evenly spaced from 0 to 1.
    Levels(Vec<String>),
}

/// One vertical axis: a param (`params.KEY` named by its key) or the metric (the last axis).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    pub scale: Scale,
}

impl Axis {
    /// The position of `value` on this axis in [0, 1] (0.5 for an axis with one value), or
    /// `None` for a value it does not hold (a text on a numeric axis, an unknown level).
    pub fn position(&self, value: &str) -> Option<f64> {
        match &self.scale {
            Scale::Numeric { min, max, log } => {
                let v = read_number(value)?;
                let (v, lo, hi) = if *log {
                    (v.ln(), min.ln(), max.ln())
                } else {
                    (v, *min, *max)
                };
                Some(if hi > lo {
                    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.5
                })
            }
            Scale::Levels(levels) => {
                let i = levels.iter().position(|l| l == value)?;
                Some(if levels.len() > 1 {
                    i as f64 / (levels.len() - 1) as f64
                } else {
                    0.5
                })
            }
        }
    }

    /// The labels at the bottom and top of the axis: the smallest and largest value (4
    /// significant digits), or the first and last level.
    pub fn ends(&self) -> (String, String) {
        match &self.scale {
            Scale::Numeric { min, max, .. } => (short_number(*min), short_number(*max)),
            Scale::Levels(l) => (
                l.first().cloned().unwrap_or_default(),
                l.last().cloned().unwrap_or_default(),
            ),
        }
    }
}

/// A number in at most about 6 characters: integers as they are, others with 4 significant
/// digits.
pub fn short_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e6 {
        format!("{x:.0}")
    } else if x.abs() >= 1e-3 && x.abs() < 1e4 {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{x:.digits$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.2e}")
    }
}

/// One run's polyline.
#[derive(Debug, Clone, PartialEq)]
pub struct Polyline {
    /// Index of the run in the slice given to [`parallel_coordinates`].
    pub run: usize,
    /// Position on each axis in [0, 1] (the metric's last); `None` where the run lacks the param.
    pub points: Vec<Option<f64>>,
    /// The run's metric value.
    pub metric: f64,
}

/// The axes and lines of a parallel-coordinates plot (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelCoordinates {
    pub metric: String,
    /// The param axes in the order asked for, then the metric's.
    pub axes: Vec<Axis>,
    pub lines: Vec<Polyline>,
    /// Smallest and largest metric value among the lines.
    pub metric_range: (f64, f64),
}

impl ParallelCoordinates {
    /// `run`'s position on each axis (as its line's `points`), or `None` when it lacks a finite
    /// metric: what the TUI highlights for the selected run, drawn or not.
    pub fn points_of(&self, run: &RunSummary) -> Option<Vec<Option<f64>>> {
        let m = run
            .metrics
            .get(&self.metric)
            .copied()
            .filter(|v| v.is_finite())?;
        let (params, metric) = self.axes.split_at(self.axes.len().saturating_sub(1));
        let mut points: Vec<Option<f64>> = params
            .iter()
            .map(|a| run.params.get(&a.name).and_then(|v| a.position(v)))
            .collect();
        points.push(metric.first().map(|_| self.rank(m)));
        Some(points)
    }

    /// Where `metric` falls between the smallest and largest metric of the lines, in [0, 1]
    /// (0.5 when they are all equal): what a line's colour is chosen by.
    pub fn rank(&self, metric: f64) -> f64 {
        let (lo, hi) = self.metric_range;
        if hi > lo {
            ((metric - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }
}

/// The parallel coordinates of `runs` for `metric`. `order` lists params to put first, in that
/// order (an importance ranking); the other varying params follow by name. At most
/// `max_params` param axes are kept (the first in that order). Runs without a finite `metric`
/// are left out; with none left the plot has no lines and only the metric's axis is empty
/// (range 0..0).
pub fn parallel_coordinates(
    runs: &[&RunSummary],
    metric: &str,
    order: &[String],
    max_params: usize,
) -> ParallelCoordinates {
    let used: Vec<(usize, &RunSummary, f64)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.metrics
                .get(metric)
                .copied()
                .filter(|v| v.is_finite())
                .map(|v| (i, *r, v))
        })
        .collect();
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, r, _) in &used {
        for (k, v) in &r.params {
            values.entry(k).or_default().insert(v);
        }
    }
    // A param some runs lack varies too (present vs missing), but an axis needs two values.
    values.retain(|_, vs| vs.len() > 1);
    let mut names: Vec<&str> = order
        .iter()
        .map(String::as_str)
        .filter(|n| values.contains_key(n))
        .collect();
    for n in values.keys() {
        if !names.contains(n) {
            names.push(n);
        }
    }
    names.truncate(max_params);
    let mut axes: Vec<Axis> = names
        .iter()
        .map(|name| {
            let vs = &values[name];
            let numbers: Option<Vec<f64>> = vs.iter().map(|v| read_number(v)).collect();
            let scale = match numbers {
                Some(ns) => {
                    let min = ns.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = ns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    Scale::Numeric {
                        min,
                        max,
                        log: min > 0.0 && max >= 100.0 * min,
                    }
                }
                None => Scale::Levels(vs.iter().map(|v| v.to_string()).collect()),
            };
            Axis {
                name: name.to_string(),
                scale,
            }
        })
        .collect();
    let (lo, hi) = used
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, u| {
            (a.0.min(u.2), a.1.max(u.2))
        });
    let metric_range = if used.is_empty() {
        (0.0, 0.0)
    } else {
        (lo, hi)
    };
    axes.push(Axis {
        name: metric.to_string(),
        scale: Scale::Numeric {
            min: metric_range.0,
            max: metric_range.1,
            log: false,
        },
    });
    let mut plot = ParallelCoordinates {
        metric: metric.to_string(),
        axes,
        lines: Vec::new(),
        metric_range,
    };
    plot.lines = used
        .iter()
        .filter_map(|(i, r, m)| {
            Some(Polyline {
                run: *i,
                points: plot.points_of(r)?,
                metric: *m,
            })
        })
        .collect();
    plot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    fn run(id: &str, params: &[(&str, &str)], auc: Option<f64>) -> RunSummary {
        RunSummary {
            run_id: id.into(),
            name: id.into(),
            experiment: "e".into(),
            model_kind: "tree".into(),
            status: RunStatus::Finished,
            start_time: 0,
            end_time: None,
            duration_ms: None,
            data_version: None,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metrics: auc
                .map(|a| ("roc_auc".to_string(), a))
                .into_iter()
                .collect(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn axes_scale_numbers_log_and_levels_and_lines_sit_on_them() {
        let runs = [
            run(
                "a",
                &[
                    ("max_depth", "2"),
                    ("leaf", "1"),
                    ("criterion", "gini"),
                    ("k", "x"),
                ],
                Some(0.6),
            ),
            run(
                "b",
                &[
                    ("max_depth", "10"),
                    ("leaf", "100"),
                    ("criterion", "entropy"),
                    ("k", "x"),
                ],
                Some(0.8),
            ),
            run(
                "c",
                &[("max_depth", "6"), ("leaf", "10"), ("k", "x")],
                Some(0.7),
            ),
            run("d", &[("max_depth", "4")], None),
        ];
        let refs: Vec<&RunSummary> = runs.iter().collect();
        let pc = parallel_coordinates(&refs, "roc_auc", &["leaf".to_string()], 8);
        let names: Vec<&str> = pc.axes.iter().map(|a| a.name.as_str()).collect();
        // `k` has one value; the ranked `leaf` first, then by name; the metric last.
        assert_eq!(names, ["leaf", "criterion", "max_depth", "roc_auc"]);
        assert_eq!(
            pc.axes[0].scale,
            Scale::Numeric {
                min: 1.0,
                max: 100.0,
                log: true
            }
        );
        assert_eq!(
            pc.axes[1].scale,
            Scale::Levels(vec!["entropy".into(), "gini".into()])
        );
        assert_eq!(pc.lines.len(), 3, "d has no roc_auc");
        let c = &pc.lines[2];
        assert_eq!(c.run, 2);
        // leaf 10 is halfway between 1 and 100 on a log scale; c lacks criterion.
        assert!((c.points[0].unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(c.points[1], None);
        assert!((c.points[2].unwrap() - 0.5).abs() < 1e-12);
        assert!((c.points[3].unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(
            pc.lines[1].points[1],
            Some(0.0),
            "entropy is the first level"
        );
        assert_eq!(pc.metric_range, (0.6, 0.8));
        assert!((pc.rank(0.7) - 0.5).abs() < 1e-12);
        assert_eq!(pc.axes[0].ends(), ("1".to_string(), "100".to_string()));
        assert_eq!(pc.points_of(&runs[2]).as_ref(), Some(&c.points));
        assert_eq!(pc.points_of(&runs[3]), None);
        let pc = parallel_coordinates(&refs, "roc_auc", &[], 1);
        assert_eq!(pc.axes.len(), 2, "one param axis kept, then the metric");
    }

    #[test]
    fn short_numbers_keep_four_significant_digits() {
        assert_eq!(short_number(200.0), "200");
        assert_eq!(short_number(0.00512345), "0.005123");
        assert_eq!(short_number(0.65423), "0.6542");
        assert_eq!(short_number(12.3456), "12.35");
        assert_eq!(short_number(1.5e-6), "1.50e-6");
    }
}
