//! Multivariate drift: a domain classifier tells baseline (training) rows from a window's
//! rows, and its cross-validated ROC AUC says how far apart the two joint distributions are.
//!
//! The method is NannyML's `DomainClassifierCalculator`
//! (`nannyml/drift/multivariate/domain_classifier/calculator.py`): stack the baseline rows
//! (NannyML's "reference", label 0) and the window's rows (label 1), drop exact duplicate
//! rows keeping the last
//! (`drop_duplicates(keep='last')`, so a row in both keeps the window's copy), train a gradient
//! boosted tree classifier on stratified folds ([`FOLDS`], as NannyML's `cv_folds_num=5`) and
//! compute the ROC AUC of the out-of-fold probabilities. 0.5 means the rows cannot be told
//! apart; 1.0 means they never overlap. Because the classifier sees whole rows, drift in how
//! features go together (a correlation that flips while every feature's own distribution stays
//! the same) raises the AUC although no univariate test flags anything.
//!
//! Differences from NannyML, each on purpose:
//! - The classifier is forust-ml's gradient booster (XGBoost-style, histogram based; the
//!   project's gbt) rather than LightGBM: [`TREES`] trees of depth [`DEPTH`], learning rate 0.1.
//!   Categorical features are ordinal codes (their position in the baseline's categories; an
//!   unseen value gets a code of its own), as NannyML's `OrdinalEncoder` makes them.
//! - Rows are capped: the baseline is a seeded sample of at most [`MAX_BASELINE_ROWS`]
//!   training rows and a window keeps a uniform sample of at most [`MAX_WINDOW_ROWS`] of its
//!   records ([`RowSample`], a mergeable reservoir). The cost is therefore bounded whatever the
//!   window's size: [`FOLDS`] fits of [`TREES`] trees on at most 3,000 rows.
//! - NannyML's default threshold is constant, alerting outside 0.45..0.65. An AUC below 0.5 on
//!   held-out folds means the classifier found nothing (cross-validation on indistinguishable
//!   data lands on either side of 0.5), so only the upper side is an alert here. The upper
//!   threshold is 0.65 or, for a small window, `0.5 + 3σ` where σ is the AUC's standard error
//!   when the two samples are alike (Hanley & McNeil 1982: `σ² = (n₀ + n₁ + 1) / (12 n₀ n₁)`,
//!   the Mann–Whitney null variance), so a window of 20 rows is not flagged for noise. The band
//!   is `0.5 ± 1.645σ`, the AUC's 5th–95th percentile without drift.
//!
//! The features the classifier relied on most are its total split gain per feature (summed
//! over the folds' models, as shares of the whole): where to look first.

use std::collections::HashSet;

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

use crate::train::metrics::roc_auc;

/// Cross-validation folds (NannyML's `cv_folds_num` default).
pub const FOLDS: usize = 5;

/// Trees per fold's classifier.
pub const TREES: usize = 40;

/// Depth of each tree: deep enough for interactions of two or three features.
pub const DEPTH: usize = 3;

/// Training rows sampled as the baseline.
pub const MAX_BASELINE_ROWS: usize = 2_000;

/// Records a window keeps as rows for the classifier.
pub const MAX_WINDOW_ROWS: usize = 1_000;

/// NannyML's default upper threshold on the classifier's ROC AUC.
pub const AUC_THRESHOLD: f64 = 0.65;

/// Features listed as the ones the classifier relied on most.
pub const TOP_FEATURES: usize = 3;

/// A uniform sample of a stream of rows (reservoir sampling, Vitter's algorithm R), mergeable:
/// two samples of disjoint streams merge into a uniform sample of both. A value is `None` when
/// missing; categorical features hold their ordinal code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowSample {
    /// Rows offered so far (the sample holds `min(seen, cap)` of them).
    pub seen: u64,
    pub rows: Vec<Vec<Option<f64>>>,
}

/// SplitMix64: a well-mixed hash of a counter, so the reservoir needs no RNG state stored.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl RowSample {
    /// Offers one row; it is kept with probability `cap / seen`.
    pub fn push(&mut self, row: Vec<Option<f64>>, cap: usize) {
        if let Some(slot) = self.slot(cap) {
            self.put(slot, row);
        }
    }

    /// Counts one more row offered and says where it goes (`None`: not kept), so a caller
    /// builds the row only when it is kept; then [`RowSample::put`] it there.
    pub fn slot(&mut self, cap: usize) -> Option<usize> {
        self.seen += 1;
        if self.rows.len() < cap {
            return Some(self.rows.len());
        }
        let j = (mix(self.seen) % self.seen) as usize;
        (j < cap).then_some(j)
    }

    /// Puts a row at a slot [`RowSample::slot`] gave.
    pub fn put(&mut self, slot: usize, row: Vec<Option<f64>>) {
        if slot == self.rows.len() {
            self.rows.push(row);
        } else {
            self.rows[slot] = row;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Merges the sample of another (disjoint) stream: each kept row comes from either side in
    /// proportion to the rows that side saw (drawing without replacement), so the result is a
    /// uniform sample of both streams.
    pub fn merge(&mut self, other: &RowSample, cap: usize) {
        let total = self.seen + other.seen;
        if self.rows.len() + other.rows.len() <= cap
            && self.rows.len() as u64 == self.seen
            && other.rows.len() as u64 == other.seen
        {
            self.rows.extend(other.rows.iter().cloned());
            self.seen = total;
            return;
        }
        let want = cap.min(self.rows.len() + other.rows.len());
        let (mut left_a, mut left_b) = (self.seen, other.seen);
        let (mut take_a, mut take_b) = (0usize, 0usize);
        let mut state = mix(self.seen ^ other.seen.rotate_left(32));
        for _ in 0..want {
            state = mix(state);
            let from_a = if take_a >= self.rows.len() {
                false
            } else if take_b >= other.rows.len() {
                true
            } else {
                state % (left_a + left_b) < left_a
            };
            if from_a {
                take_a += 1;
                left_a -= 1;
            } else {
                take_b += 1;
                left_b = left_b.saturating_sub(1);
            }
        }
        // Each side's sample is uniform, so its first rows are a uniform subset of it.
        let mut rows = Vec::with_capacity(want);
        rows.extend(self.rows.drain(..).take(take_a));
        rows.extend(other.rows.iter().take(take_b).cloned());
        self.rows = rows;
        self.seen = total;
    }
}

/// A seeded sample of at most `cap` of `n` row indices, in ascending order.
pub fn sample_indices(n: usize, cap: usize, seed: u64) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    // Partial Fisher–Yates on the index range.
    let mut idx: Vec<usize> = (0..n).collect();
    let mut state = mix(seed);
    for i in 0..cap {
        state = mix(state);
        let j = i + (state % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(cap);
    idx.sort_unstable();
    idx
}

/// The domain classifier's verdict on one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultivariateDrift {
    /// Cross-validated ROC AUC of the classifier telling window rows from baseline rows.
    pub auc: f64,
    /// The AUC above which the window is flagged: [`AUC_THRESHOLD`] or `0.5 + 3σ`.
    pub threshold: f64,
    /// The AUC's 5th–95th percentile when the two samples are alike (`0.5 ± 1.645σ`).
    pub band: [f64; 2],
    pub drifted: bool,
    /// Rows used after dropping duplicates: baseline and window.
    pub baseline_rows: usize,
    pub window_rows: usize,
    /// Every feature with a share of the classifier's total split gain, largest first.
    pub importance: Vec<(String, f64)>,
}

impl MultivariateDrift {
    /// One line for a table's caption: `domain classifier ROC AUC 0.812 (drift above 0.650,
    /// no-drift band 0.47..0.53; 2000 baseline vs 500 window rows); relied most on x1 45%, …`.
    pub fn summary(&self) -> String {
        format!(
            "domain classifier ROC AUC {:.3} (drift above {:.3}, no-drift band {:.2}..{:.2}; \
             {} baseline vs {} window rows); relied most on {}",
            self.auc,
            self.threshold,
            self.band[0],
            self.band[1],
            self.baseline_rows,
            self.window_rows,
            self.top_text()
        )
    }

    /// The [`TOP_FEATURES`] features it relied on most: `year 61%, ALIGN 22%, EYE 9%`.
    pub fn top_text(&self) -> String {
        let top: Vec<String> = self
            .importance
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .take(TOP_FEATURES)
            .map(|(n, s)| format!("{n} {:.0}%", s * 100.0))
            .collect();
        if top.is_empty() {
            "-".into()
        } else {
            top.join(", ")
        }
    }
}

/// Standard error of the ROC AUC of two alike samples of `n0` and `n1` rows (Hanley & McNeil).
pub fn null_auc_sd(n0: usize, n1: usize) -> f64 {
    let (a, b) = (n0 as f64, n1 as f64);
    ((a + b + 1.0) / (12.0 * a * b)).sqrt()
}

/// Runs the domain classifier on `baseline` and `window` rows (each `names.len()` values).
/// `None` when either side has fewer than [`FOLDS`] distinct rows (no cross-validation
/// possible). Seeded: the same rows give the same AUC.
pub fn domain_classifier(
    names: &[String],
    baseline: &[Vec<Option<f64>>],
    window: &[Vec<Option<f64>>],
) -> Option<MultivariateDrift> {
    let width = names.len();
    if width == 0 {
        return None;
    }
    // Drop exact duplicates, keeping the last occurrence (the window's copy of a shared row).
    let key = |r: &[Option<f64>]| -> Vec<u64> {
        r.iter()
            .map(|v| v.map_or(u64::MAX, |x| if x == 0.0 { 0 } else { x.to_bits() }))
            .collect()
    };
    let mut seen = HashSet::new();
    let mut rows: Vec<(&[Option<f64>], u8)> = Vec::new();
    for (r, label) in window
        .iter()
        .rev()
        .map(|r| (r, 1u8))
        .chain(baseline.iter().rev().map(|r| (r, 0u8)))
    {
        if r.len() == width && seen.insert(key(r)) {
            rows.push((r, label));
        }
    }
    rows.reverse();
    let n1 = rows.iter().filter(|r| r.1 == 1).count();
    let n0 = rows.len() - n1;
    if n0 < FOLDS || n1 < FOLDS {
        return None;
    }
    // Stratified folds: the k-th row of each class goes to fold k mod FOLDS.
    let mut counter = [0usize; 2];
    let fold: Vec<usize> = rows
        .iter()
        .map(|(_, y)| {
            let c = &mut counter[usize::from(*y)];
            *c += 1;
            (*c - 1) % FOLDS
        })
        .collect();
    let mut oof = vec![0.0; rows.len()];
    let mut gain = vec![0.0f64; width];
    for k in 0..FOLDS {
        let train: Vec<usize> = (0..rows.len()).filter(|&i| fold[i] != k).collect();
        let test: Vec<usize> = (0..rows.len()).filter(|&i| fold[i] == k).collect();
        let column_major = |idx: &[usize]| -> Vec<f64> {
            let mut out = Vec::with_capacity(idx.len() * width);
            for c in 0..width {
                out.extend(idx.iter().map(|&i| rows[i].0[c].unwrap_or(f64::NAN)));
            }
            out
        };
        let x = column_major(&train);
        let y: Vec<f64> = train.iter().map(|&i| f64::from(rows[i].1)).collect();
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(TREES)
            .set_learning_rate(0.1)
            .set_max_depth(DEPTH)
            .set_min_leaf_weight(1.0)
            .set_nbins(64)
            .set_seed(k as u64)
            .set_parallel(false);
        let m = Matrix::new(&x, train.len(), width);
        if booster.fit_unweighted(&m, &y, None).is_err() {
            return None;
        }
        let tx = column_major(&test);
        let tm = Matrix::new(&tx, test.len(), width);
        for (&i, p) in test.iter().zip(booster.predict(&tm, false)) {
            oof[i] = p;
        }
        for (f, g) in booster.calculate_feature_importance(ImportanceMethod::TotalGain, false) {
            if f < width && g.is_finite() {
                gain[f] += f64::from(g);
            }
        }
    }
    let truth: Vec<u8> = rows.iter().map(|r| r.1).collect();
    let auc = roc_auc(&truth, &oof);
    let sd = null_auc_sd(n0, n1);
    let threshold = AUC_THRESHOLD.max(0.5 + 3.0 * sd);
    let total: f64 = gain.iter().sum();
    let mut importance: Vec<(String, f64)> = names
        .iter()
        .cloned()
        .zip(
            gain.iter()
                .map(|g| if total > 0.0 { g / total } else { 0.0 }),
        )
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(MultivariateDrift {
        auc,
        threshold,
        band: [0.5 - 1.645 * sd, 0.5 + 1.645 * sd],
        drifted: auc > threshold,
        baseline_rows: n0,
        window_rows: n1,
        importance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A standard normal draw (Box–Muller).
    fn normal(rng: &mut StdRng) -> f64 {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let v: f64 = rng.r#gen();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Rows of (x1, x2, x3): x1, x2 standard normal with correlation `rho`, x3 a 3-level code.
    fn rows(n: usize, rho: f64, seed: u64) -> Vec<Vec<Option<f64>>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let a = normal(&mut rng);
                let b = normal(&mut rng);
                let x2 = rho * a + (1.0 - rho * rho).sqrt() * b;
                let c = f64::from(rng.gen_range(0..3u8));
                vec![Some(a), Some(x2), Some(c)]
            })
            .collect()
    }

    fn names() -> Vec<String> {
        vec!["x1".into(), "x2".into(), "code".into()]
    }

    #[test]
    fn a_flipped_correlation_is_caught_and_a_like_window_is_not() {
        let baseline = rows(2000, 0.8, 1);
        let like = rows(500, 0.8, 2);
        let flipped = rows(500, -0.8, 3);
        let same = domain_classifier(&names(), &baseline, &like).unwrap();
        assert!(!same.drifted, "{same:?}");
        assert!((same.auc - 0.5).abs() < 0.08, "{same:?}");
        let moved = domain_classifier(&names(), &baseline, &flipped).unwrap();
        assert!(moved.drifted, "{moved:?}");
        assert!(moved.auc > 0.8, "{moved:?}");
        // It relied on the two correlated features, not on the code.
        let top: Vec<&str> = moved.importance[..2].iter().map(|f| f.0.as_str()).collect();
        assert!(top.contains(&"x1") && top.contains(&"x2"), "{moved:?}");
        assert!(moved.importance[2].1 < 0.2, "{moved:?}");
        assert_eq!(moved.threshold, AUC_THRESHOLD);
    }

    #[test]
    fn a_small_window_gets_a_wider_threshold_and_duplicates_are_dropped() {
        let baseline = rows(2000, 0.8, 1);
        let tiny = rows(20, 0.8, 4);
        let r = domain_classifier(&names(), &baseline, &tiny).unwrap();
        assert!(r.threshold > 0.69 && r.threshold < 0.72, "{r:?}");
        assert!(!r.drifted, "{r:?}");
        // A window made of baseline rows is all duplicates of them: the window's copies stay.
        let copy: Vec<_> = baseline[..300].to_vec();
        let r = domain_classifier(&names(), &baseline, &copy).unwrap();
        assert_eq!((r.baseline_rows, r.window_rows), (1700, 300));
        assert!(domain_classifier(&names(), &baseline, &baseline[..3]).is_none());
    }

    #[test]
    fn reservoir_samples_stay_uniform_when_merged() {
        // Rows 0..10,000 in two streams of 3,000 and 7,000; a 1,000-row sample of both.
        let mut a = RowSample::default();
        let mut b = RowSample::default();
        for i in 0..3000 {
            a.push(vec![Some(f64::from(i))], 1000);
        }
        for i in 3000..10000 {
            b.push(vec![Some(f64::from(i))], 1000);
        }
        a.merge(&b, 1000);
        assert_eq!((a.seen, a.rows.len()), (10_000, 1000));
        let from_a = a.rows.iter().filter(|r| r[0].unwrap() < 3000.0).count();
        // 300 expected (hypergeometric sd ≈ 14.5).
        assert!((250..=350).contains(&from_a), "{from_a}");
        let mean = a.rows.iter().map(|r| r[0].unwrap()).sum::<f64>() / 1000.0;
        assert!((mean - 4999.5).abs() < 300.0, "{mean}");
        // Small streams merge whole.
        let mut c = RowSample::default();
        c.push(vec![None], 10);
        let mut d = RowSample::default();
        d.push(vec![Some(1.0)], 10);
        c.merge(&d, 10);
        assert_eq!(c.rows, vec![vec![None], vec![Some(1.0)]]);
        assert_eq!(sample_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
        let s = sample_indices(100, 10, 1);
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }
}
