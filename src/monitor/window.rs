//! A window's types: the [`Baseline`] a model version's inputs are compared with, and what a
//! window of its traffic accumulates ([`FeatureCounts`] per feature, [`WindowAggregates`],
//! [`Window`], keyed by [`WindowKey`]), with the merge of two windows' aggregates. Ingestion
//! (`ingest`) fills them; drift (`drift`, `service`) reads them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::multivariate::{MAX_WINDOW_ROWS, RowSample};
use super::sample::NumericSample;
use super::stats::{NumericBaseline, NumericCounts};

/// What a model version's inputs are compared with: one entry per feature, and for a pipeline
/// model also one per raw column that differs from the feature made of it, named
/// [`RAW_PREFIX`]`COLUMN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Baseline {
    pub features: Vec<FeatureBaseline>,
    /// The model's fitted preparation when its log records hold raw inputs: each record's
    /// features are derived through it, the way the model derived them. `None`: the records
    /// hold the features (format-1 models).
    #[serde(skip)]
    pub preparation: Option<Arc<crate::data::prepare::Preparation>>,
    /// A seeded sample of whole training rows of the model's features (see [`row_features`]),
    /// for the multivariate domain classifier (`multivariate`); empty when not built.
    #[serde(skip)]
    pub rows: RowSample,
}

impl Baseline {
    /// Positions of the model's features among `features` (the raw columns left out): the
    /// columns of a row in [`Baseline::rows`] and in a window's row sample.
    pub fn row_features(&self) -> Vec<usize> {
        (0..self.features.len())
            .filter(|&i| !self.features[i].name().starts_with(RAW_PREFIX))
            .collect()
    }
}

/// Names the baseline entry of a raw input column (`raw:ALIGN`), read from the record as
/// received, beside the feature derived from it.
pub const RAW_PREFIX: &str = "raw:";

/// The baseline of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureBaseline {
    Numeric {
        name: String,
        baseline: NumericBaseline,
    },
    Categorical {
        name: String,
        categories: Vec<String>,
        counts: Vec<u64>,
        nulls: u64,
    },
}

impl FeatureBaseline {
    pub fn name(&self) -> &str {
        match self {
            FeatureBaseline::Numeric { name, .. } | FeatureBaseline::Categorical { name, .. } => {
                name
            }
        }
    }

    /// A categorical baseline from raw values (`None` is null); categories most frequent first.
    pub fn categorical(name: &str, values: &[Option<&str>]) -> FeatureBaseline {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        let mut nulls = 0;
        for v in values {
            match v {
                Some(s) => *counts.entry(s).or_default() += 1,
                None => nulls += 1,
            }
        }
        let mut pairs: Vec<(&str, u64)> = counts.into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        FeatureBaseline::Categorical {
            name: name.to_string(),
            categories: pairs.iter().map(|p| p.0.to_string()).collect(),
            counts: pairs.iter().map(|p| p.1).collect(),
            nulls,
        }
    }

    /// A numeric baseline from raw values (NaN is null).
    pub fn numeric(name: &str, values: &[f64]) -> FeatureBaseline {
        FeatureBaseline::Numeric {
            name: name.to_string(),
            baseline: NumericBaseline::from_values(values),
        }
    }
}

/// One feature's counts in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureCounts {
    /// Counts on the baseline's `FINE_BINS` percentile bins, and the values themselves (exact up
    /// to `sample::EXACT_CAP`, then a KLL sketch), which drift is computed on. Windows stored
    /// before the values were kept have no `sample`: their drift is computed on the bins.
    Numeric {
        counts: Vec<u64>,
        nulls: u64,
        min: Option<f64>,
        max: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample: Option<NumericSample>,
    },
    /// Counts per baseline category, in the baseline's order.
    Categorical {
        counts: Vec<u64>,
        nulls: u64,
        unseen: u64,
    },
}

impl FeatureCounts {
    pub(crate) fn merge(&mut self, other: &FeatureCounts) {
        fn add(a: &mut Vec<u64>, b: &[u64]) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        match (self, other) {
            (
                FeatureCounts::Numeric {
                    counts,
                    nulls,
                    min,
                    max,
                    sample,
                },
                FeatureCounts::Numeric {
                    counts: c,
                    nulls: n,
                    min: lo,
                    max: hi,
                    sample: s,
                },
            ) => {
                add(counts, c);
                *nulls += n;
                *min = opt_fold(*min, *lo, f64::min);
                *max = opt_fold(*max, *hi, f64::max);
                // Values are only whole if both sides kept them.
                match (sample.as_mut(), s) {
                    (Some(mine), Some(theirs)) => mine.merge(theirs),
                    _ => *sample = None,
                }
            }
            (
                FeatureCounts::Categorical {
                    counts,
                    nulls,
                    unseen,
                },
                FeatureCounts::Categorical {
                    counts: c,
                    nulls: n,
                    unseen: u,
                },
            ) => {
                add(counts, c);
                *nulls += n;
                *unseen += u;
            }
            // The baseline of a model version does not change; a mismatch keeps the first.
            _ => {}
        }
    }

    /// The numeric counts as `stats` takes them.
    pub fn numeric_counts(&self) -> Option<NumericCounts> {
        match self {
            FeatureCounts::Numeric {
                counts,
                nulls,
                min,
                max,
                ..
            } => Some(NumericCounts {
                counts: counts.clone(),
                nulls: *nulls,
                min: min.unwrap_or(f64::INFINITY),
                max: max.unwrap_or(f64::NEG_INFINITY),
            }),
            FeatureCounts::Categorical { .. } => None,
        }
    }
}

fn opt_fold(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Everything of a window beyond the columns of `monitor_windows`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowAggregates {
    /// Sum of the lines' `unseen_categories`.
    pub unseen_reported: u64,
    /// Predictions of class 0 and class 1.
    pub predictions: [u64; 2],
    /// Positive-class probabilities in `PROBA_BINS` equal bins.
    pub probabilities: Vec<u64>,
    pub features: BTreeMap<String, FeatureCounts>,
    /// A uniform sample of the window's records as rows of the model's features (at most
    /// `multivariate::MAX_WINDOW_ROWS`), for the domain classifier. Windows stored before rows
    /// were kept have none.
    #[serde(default, skip_serializing_if = "RowSample::is_empty")]
    pub rows: RowSample,
}

impl WindowAggregates {
    pub(crate) fn merge(&mut self, other: &WindowAggregates) {
        self.rows.merge(&other.rows, MAX_WINDOW_ROWS);
        self.unseen_reported += other.unseen_reported;
        self.predictions[0] += other.predictions[0];
        self.predictions[1] += other.predictions[1];
        if self.probabilities.len() < other.probabilities.len() {
            self.probabilities.resize(other.probabilities.len(), 0);
        }
        for (a, b) in self.probabilities.iter_mut().zip(&other.probabilities) {
            *a += b;
        }
        for (name, f) in &other.features {
            match self.features.get_mut(name) {
                Some(mine) => mine.merge(f),
                None => {
                    self.features.insert(name.clone(), f.clone());
                }
            }
        }
    }
}

/// A window row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    pub records: u64,
    pub latency_sum_us: u64,
    pub latency_max_us: u64,
    pub aggregates: WindowAggregates,
}

impl Window {
    pub(crate) fn merge(&mut self, o: &Window) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.records += o.records;
        self.latency_sum_us += o.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(o.latency_max_us);
        self.aggregates.merge(&o.aggregates);
    }
}

/// Identifies a window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WindowKey {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub granularity_ms: i64,
    pub window_start: i64,
}
