//! Drift of a window against a model version's baseline: each feature's statistics and test
//! verdict (`stats`), and dataset drift when the share of drifted features reaches a threshold.
//!
//! The baseline [`Baseline`] is built from the training table of the data version the served
//! model was trained on ([`baseline_from_table`]): the features its preparation made of the raw
//! training rows, and for a pipeline model also the raw columns whose values differ from those
//! features ([`raw_baselines`]). The window is what ingestion aggregated
//! (`ingest::WindowAggregates`), deriving each logged raw record's features the same way.
//! Dataset drift counts the features only.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ingest::{Baseline, FeatureBaseline, FeatureCounts, RAW_PREFIX, WindowAggregates};
use super::multivariate::{MAX_BASELINE_ROWS, RowSample, sample_indices};
use super::stats::{
    ColumnDrift, NumericCounts, TestOverride, categorical_drift, dataset_drift, numeric_drift,
};
use super::values::{values_drift, with_categorical_band};
use crate::data::prepare::Preparation;
use crate::data::raw::RawType;
use crate::data::schema::{FeatureTable, Signature};

/// Drift of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Features in baseline order; a feature the window has no counts for is left out.
    pub features: Vec<(String, ColumnDrift)>,
    pub drifted: usize,
    /// Features with values in the window (`rows > 0`): the denominator of `share`.
    pub tested: usize,
    /// `drifted / tested` (0 when nothing was tested).
    pub share: f64,
    pub threshold: f64,
    pub dataset_drift: bool,
}

/// The baseline of a training table: numeric features on percentile bins, categorical
/// ones as category counts (a missing value is null, not a category).
pub fn baseline_from_table(sig: &Signature, table: &FeatureTable) -> Baseline {
    let mut features = Vec::new();
    for (name, values) in sig.numeric.iter().zip(&table.numeric) {
        let v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        features.push(FeatureBaseline::numeric(name, &v));
    }
    for (name, values) in sig.categorical.iter().zip(&table.categorical) {
        let v: Vec<Option<&str>> = values.iter().map(|x| x.as_deref()).collect();
        features.push(FeatureBaseline::categorical(name, &v));
    }
    let mut baseline = Baseline {
        features,
        preparation: None,
        rows: RowSample::default(),
    };
    baseline.rows = baseline_rows(&baseline, table);
    baseline
}

/// A seeded sample of at most [`MAX_BASELINE_ROWS`] rows of a training table as rows of the
/// baseline's features (numeric ones first, as `table` holds them): a numeric value, a
/// category's position in the baseline's categories, `None` when missing — the encoding
/// ingestion gives a window's records. What the domain classifier (`multivariate`) compares a
/// window's rows with.
pub fn baseline_rows(baseline: &Baseline, table: &FeatureTable) -> RowSample {
    let n_num = table.numeric.len();
    let index: Vec<std::collections::HashMap<&str, usize>> = table
        .categorical
        .iter()
        .enumerate()
        .map(|(j, _)| match baseline.features.get(n_num + j) {
            Some(FeatureBaseline::Categorical { categories, .. }) => categories
                .iter()
                .enumerate()
                .map(|(k, c)| (c.as_str(), k))
                .collect(),
            _ => Default::default(),
        })
        .collect();
    let picked = sample_indices(table.rows, MAX_BASELINE_ROWS, 0x0b5e_11ce);
    RowSample {
        seen: table.rows as u64,
        rows: picked
            .into_iter()
            .map(|i| {
                let mut row: Vec<Option<f64>> = table.numeric.iter().map(|c| c[i]).collect();
                row.extend(table.categorical.iter().zip(&index).map(|(c, ix)| {
                    c[i].as_deref()
                        .map(|v| ix.get(v).map_or(ix.len() as f64, |k| *k as f64))
                }));
                row
            })
            .collect(),
    }
}

/// A raw column with more distinct training values than this is free text (names, slugs): no
/// baseline is kept for it, since nearly every new value would be unseen.
pub const MAX_RAW_CATEGORIES: usize = 200;

/// The baselines of a pipeline model's raw input columns, named [`RAW_PREFIX`]`COLUMN`, for
/// those whose raw values differ from the feature of the same name (a column no feature is
/// named after always differs): numeric columns on percentile bins, text as category counts.
/// `train` holds the raw training rows; `features` the features the preparation made of them.
pub fn raw_baselines(
    preparation: &Preparation,
    train: &polars::prelude::DataFrame,
    features: &FeatureTable,
) -> crate::error::Result<Vec<FeatureBaseline>> {
    let batch = preparation.batch_of_frame(train)?;
    let sig = &preparation.features;
    let mut out = Vec::new();
    for (col, cells) in preparation.schema.inputs.iter().zip(&batch.columns) {
        let name = format!("{RAW_PREFIX}{}", col.name);
        match col.ty {
            RawType::Double | RawType::Long => {
                let v: Vec<f64> = cells
                    .iter()
                    .map(|c| c.number().ok().flatten().unwrap_or(f64::NAN))
                    .collect();
                let same = sig
                    .numeric
                    .iter()
                    .position(|n| *n == col.name)
                    .is_some_and(|i| {
                        features.numeric[i]
                            .iter()
                            .zip(&v)
                            .all(|(f, r)| f.unwrap_or(f64::NAN).to_bits() == r.to_bits())
                    });
                if !same {
                    out.push(FeatureBaseline::numeric(&name, &v));
                }
            }
            RawType::String | RawType::Boolean => {
                let texts: Vec<Option<String>> = cells
                    .iter()
                    .map(|c| c.text().map(|t| t.into_owned()))
                    .collect();
                let same = sig
                    .categorical
                    .iter()
                    .position(|n| *n == col.name)
                    .is_some_and(|i| features.categorical[i] == texts);
                let distinct: std::collections::HashSet<&Option<String>> = texts.iter().collect();
                if !same && distinct.len() <= MAX_RAW_CATEGORIES {
                    let v: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
                    out.push(FeatureBaseline::categorical(&name, &v));
                }
            }
        }
    }
    Ok(out)
}

/// Records a window needs for a drift verdict unless `[monitoring] min_window_records` says
/// otherwise: below it the statistics are shown but nothing is flagged ("too few records").
pub const DEFAULT_MIN_WINDOW_RECORDS: u64 = 50;

impl DriftReport {
    /// Withholds every verdict of a window of `records` records when that is under `min`, and
    /// says why: the statistics stay (with their bands), no feature or dataset is flagged.
    pub fn hold_if_too_few(&mut self, records: u64, min: u64) -> Option<String> {
        if records >= min {
            return None;
        }
        for (_, d) in &mut self.features {
            d.drifted = false;
        }
        self.drifted = 0;
        self.share = 0.0;
        self.dataset_drift = false;
        Some(format!(
            "too few records: {records} in this window, {min} needed for a verdict \
             ([monitoring] min_window_records)"
        ))
    }
}

/// Drift of `window` against `baseline`, with optional per-feature test overrides.
pub fn window_drift(
    baseline: &Baseline,
    window: &WindowAggregates,
    overrides: &BTreeMap<String, TestOverride>,
    drift_share: f64,
) -> DriftReport {
    let mut features = Vec::new();
    for f in &baseline.features {
        let Some(counts) = window.features.get(f.name()) else {
            continue;
        };
        let o = overrides.get(f.name());
        let (test, threshold) = (o.map(|o| o.test), o.and_then(|o| o.threshold));
        let d = match (f, counts) {
            (
                FeatureBaseline::Numeric { baseline, .. },
                FeatureCounts::Numeric {
                    sample: Some(sample),
                    ..
                },
            ) if baseline.exact.is_some() => {
                let exact = baseline.exact.as_ref().expect("checked");
                values_drift(exact, sample, test, threshold)
            }
            // Windows stored before their values were kept: on the percentile bins.
            (FeatureBaseline::Numeric { baseline, .. }, FeatureCounts::Numeric { .. }) => {
                let c: NumericCounts = counts.numeric_counts().expect("numeric counts");
                numeric_drift(baseline, &c, test, threshold)
            }
            (
                FeatureBaseline::Categorical { counts: base, .. },
                FeatureCounts::Categorical {
                    counts: cur,
                    nulls,
                    unseen,
                },
            ) => {
                // Unseen values form one extra category the baseline never had.
                let mut cur = cur.clone();
                cur.resize(base.len(), 0);
                cur.push(*unseen);
                let mut base = base.clone();
                base.push(0);
                with_categorical_band(
                    categorical_drift(&base, &cur, *nulls, test, threshold),
                    &base,
                )
            }
            _ => continue,
        };
        features.push((f.name().to_string(), d));
    }
    // Dataset drift is judged on the model's features; raw columns are reported beside them.
    let tested: Vec<&ColumnDrift> = features
        .iter()
        .filter(|f| !f.0.starts_with(RAW_PREFIX))
        .map(|f| &f.1)
        .filter(|d| d.rows > 0)
        .collect();
    let drifted = tested.iter().filter(|d| d.drifted).count();
    let share = if tested.is_empty() {
        0.0
    } else {
        drifted as f64 / tested.len() as f64
    };
    DriftReport {
        dataset_drift: dataset_drift(drifted, tested.len(), drift_share),
        tested: tested.len(),
        features,
        drifted,
        share,
        threshold: drift_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::sample::NumericSample;
    use crate::monitor::stats::StatTest;

    fn sig() -> Signature {
        Signature {
            numeric: vec!["x".into()],
            categorical: vec!["c".into()],
            id: None,
            target: "y".into(),
            positive: "1".into(),
            raw_inputs: None,
        }
    }

    fn table(shift: f64, skew: bool, rows: usize) -> FeatureTable {
        FeatureTable {
            rows,
            numeric: vec![
                (0..rows)
                    .map(|i| Some((i % 997) as f64 / 10.0 + shift))
                    .collect(),
            ],
            categorical: vec![
                (0..rows)
                    .map(|i| {
                        let k = if skew { i % 10 < 7 } else { i % 2 == 0 };
                        Some(if k { "a".to_string() } else { "b".to_string() })
                    })
                    .collect(),
            ],
        }
    }

    /// Aggregates a table as ingestion would.
    fn window(baseline: &Baseline, t: &FeatureTable) -> WindowAggregates {
        let mut w = WindowAggregates::default();
        for f in &baseline.features {
            let counts = match f {
                FeatureBaseline::Numeric { baseline, .. } => {
                    let mut c = NumericCounts::empty();
                    let v: Vec<f64> = t.numeric[0].iter().map(|x| x.unwrap()).collect();
                    baseline.binner().add(&v, &mut c);
                    FeatureCounts::Numeric {
                        counts: c.counts,
                        nulls: 0,
                        min: Some(c.min),
                        max: Some(c.max),
                        sample: Some(NumericSample::from_values(&v)),
                    }
                }
                FeatureBaseline::Categorical { categories, .. } => {
                    let mut counts = vec![0; categories.len()];
                    for v in &t.categorical[0] {
                        let i = categories
                            .iter()
                            .position(|c| Some(c) == v.as_ref())
                            .unwrap();
                        counts[i] += 1;
                    }
                    FeatureCounts::Categorical {
                        counts,
                        nulls: 0,
                        unseen: 0,
                    }
                }
            };
            w.features.insert(f.name().to_string(), counts);
        }
        w
    }

    #[test]
    fn scaled_and_skewed_windows_drift_a_like_one_does_not() {
        let baseline = baseline_from_table(&sig(), &table(0.0, false, 5000));
        let none = BTreeMap::new();
        let same = window_drift(
            &baseline,
            &window(&baseline, &table(0.0, false, 3000)),
            &none,
            0.5,
        );
        assert_eq!(same.drifted, 0, "{same:?}");
        assert!(!same.dataset_drift);
        let moved = window_drift(
            &baseline,
            &window(&baseline, &table(30.0, true, 3000)),
            &none,
            0.5,
        );
        assert_eq!(moved.drifted, 2, "{moved:?}");
        assert!(moved.dataset_drift);
        // 5000 baseline rows: distances decide.
        assert_eq!(moved.features[0].1.test, StatTest::Wasserstein);
        assert_eq!(moved.features[1].1.test, StatTest::JensenShannon);
        // An override to PSI with a high threshold silences the numeric feature.
        let o = BTreeMap::from([(
            "x".to_string(),
            TestOverride {
                test: StatTest::Psi,
                threshold: Some(100.0),
            },
        )]);
        let r = window_drift(
            &baseline,
            &window(&baseline, &table(30.0, true, 3000)),
            &o,
            0.5,
        );
        assert_eq!(r.drifted, 1);
        assert!(r.dataset_drift);
        assert!(
            !window_drift(
                &baseline,
                &window(&baseline, &table(30.0, true, 3000)),
                &o,
                0.6
            )
            .dataset_drift
        );
    }

    #[test]
    fn a_rare_flag_turned_on_is_flagged_and_a_tiny_window_gets_no_verdict() {
        // 3,000 training rows with the flag on in 0.5%; a window of 500 rows all on.
        let sig = Signature {
            numeric: vec!["flag".into()],
            categorical: vec![],
            id: None,
            target: "y".into(),
            positive: "1".into(),
            raw_inputs: None,
        };
        let rows = |n: usize, on: &dyn Fn(usize) -> bool| FeatureTable {
            rows: n,
            numeric: vec![(0..n).map(|i| Some(f64::from(on(i)))).collect()],
            categorical: vec![],
        };
        let table_baseline = baseline_from_table(&sig, &rows(3000, &|i| i % 200 == 0));
        let FeatureBaseline::Numeric { baseline, .. } = &table_baseline.features[0] else {
            panic!("numeric")
        };
        // On the percentile bins 0 and 1 share a bin: the old path saw nothing.
        let mut c = NumericCounts::empty();
        baseline.binner().add(&[1.0; 500], &mut c);
        assert!(!numeric_drift(baseline, &c, None, None).drifted);
        let mut w = WindowAggregates::default();
        w.features.insert(
            "flag".into(),
            FeatureCounts::Numeric {
                counts: c.counts,
                nulls: 0,
                min: Some(1.0),
                max: Some(1.0),
                sample: Some(NumericSample::from_values(&[1.0; 500])),
            },
        );
        let mut r = window_drift(&table_baseline, &w, &BTreeMap::new(), 0.5);
        let d = &r.features[0].1;
        assert_eq!(d.test, StatTest::JensenShannon);
        assert!(d.drifted && r.dataset_drift, "{r:?}");
        assert_eq!(d.rank_error, Some(0.0));
        assert_eq!(r.hold_if_too_few(500, 50), None);
        // The same window said to hold 12 records: statistics kept, no verdict.
        let note = r.hold_if_too_few(12, 50).unwrap();
        assert!(note.contains("too few records: 12"), "{note}");
        assert!(!r.dataset_drift && r.drifted == 0 && !r.features[0].1.drifted);
        assert!(r.features[0].1.jensen_shannon.unwrap() > 0.8);
    }

    /// Rows of (x1, x2): standard normal with correlation `rho` (Box–Muller, seeded).
    fn correlated(n: usize, rho: f64, seed: u64) -> FeatureTable {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut normal = || {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            let v: f64 = rng.r#gen();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (x, e) = (normal(), normal());
            a.push(Some(x));
            b.push(Some(rho * x + (1.0 - rho * rho).sqrt() * e));
        }
        FeatureTable {
            rows: n,
            numeric: vec![a, b],
            categorical: vec![],
        }
    }

    #[test]
    fn a_flipped_correlation_is_multivariate_drift_that_no_feature_shows() {
        use crate::monitor::multivariate::domain_classifier;
        let sig = Signature {
            numeric: vec!["x1".into(), "x2".into()],
            categorical: vec![],
            id: None,
            target: "y".into(),
            positive: "1".into(),
            raw_inputs: None,
        };
        let baseline = baseline_from_table(&sig, &correlated(5000, 0.8, 1));
        assert_eq!(baseline.rows.rows.len(), MAX_BASELINE_ROWS);
        assert_eq!(baseline.rows.seen, 5000);
        let names = vec!["x1".to_string(), "x2".to_string()];
        for (rho, seed, joint) in [(0.8, 2, false), (-0.8, 3, true)] {
            // A window of 600 records as ingestion keeps it: each feature's values, and rows.
            let t = correlated(600, rho, seed);
            let mut w = WindowAggregates::default();
            for (name, col) in names.iter().zip(&t.numeric) {
                let v: Vec<f64> = col.iter().map(|x| x.unwrap()).collect();
                w.features.insert(
                    name.clone(),
                    FeatureCounts::Numeric {
                        counts: vec![],
                        nulls: 0,
                        min: None,
                        max: None,
                        sample: Some(NumericSample::from_values(&v)),
                    },
                );
            }
            let rows: Vec<Vec<Option<f64>>> = (0..600)
                .map(|i| vec![t.numeric[0][i], t.numeric[1][i]])
                .collect();
            // Univariate tests at their own thresholds (KS at 0.05 too) see nothing.
            let r = window_drift(&baseline, &w, &BTreeMap::new(), 0.5);
            assert_eq!(r.drifted, 0, "rho {rho}: {r:?}");
            let ks: BTreeMap<String, TestOverride> = names
                .iter()
                .map(|n| {
                    let o = TestOverride {
                        test: StatTest::Ks,
                        threshold: Some(0.05),
                    };
                    (n.clone(), o)
                })
                .collect();
            assert_eq!(
                window_drift(&baseline, &w, &ks, 0.5).drifted,
                0,
                "rho {rho}"
            );
            let m = domain_classifier(&names, &baseline.rows.rows, &rows).unwrap();
            assert_eq!(m.drifted, joint, "rho {rho}: {m:?}");
        }
    }
}
