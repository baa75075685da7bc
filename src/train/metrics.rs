//! Binary classification metrics on predicted probabilities of the positive class.
//!
//! Definitions follow scikit-learn's: precision/recall/F1 of the positive class at a 0.5
//! threshold, ROC AUC by the rank statistic with ties averaged, log loss with probabilities
//! clipped to `[1e-15, 1 - 1e-15]`.

use serde::{Deserialize, Serialize};

/// Test-set metrics of a binary classifier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub log_loss: f64,
    /// `[[tn, fp], [fn, tp]]`, rows = truth, columns = prediction.
    pub confusion: [[u64; 2]; 2],
}

impl Metrics {
    /// Scalar metrics as `(name, value)` pairs, in a fixed order, as logged to the store.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        let [[tn, fp], [fn_, tp]] = self.confusion;
        vec![
            ("accuracy", self.accuracy),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("roc_auc", self.roc_auc),
            ("log_loss", self.log_loss),
            ("tn", tn as f64),
            ("fp", fp as f64),
            ("fn", fn_ as f64),
            ("tp", tp as f64),
        ]
    }
}

/// All metrics of `proba` (positive-class probabilities) against `truth` (0/1).
pub fn evaluate(truth: &[u8], proba: &[f64]) -> Metrics {
    assert_eq!(truth.len(), proba.len(), "one probability per label");
    let mut confusion = [[0u64; 2]; 2];
    for (&t, &p) in truth.iter().zip(proba) {
        let pred = usize::from(p >= 0.5);
        confusion[usize::from(t == 1)][pred] += 1;
    }
    let [[tn, fp], [fn_, tp]] = confusion;
    let n = truth.len().max(1) as f64;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Metrics {
        accuracy: (tp + tn) as f64 / n,
        precision,
        recall,
        f1,
        roc_auc: roc_auc(truth, proba),
        log_loss: log_loss(truth, proba),
        confusion,
    }
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counted half. NaN when only one class is present.
pub fn roc_auc(truth: &[u8], score: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let n_pos = truth.iter().filter(|&&t| t == 1).count() as f64;
    let n_neg = truth.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let pos_in_tie = order[i..=j].iter().filter(|&&k| truth[k] == 1).count() as f64;
        rank_sum += avg_rank * pos_in_tie;
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// The test set's ROC and precision-recall curves, as scikit-learn's `roc_curve` (with
/// `drop_intermediate=True`) and `precision_recall_curve` compute them, stored with each run as
/// the `curves.json` artifact. Curves longer than [`CURVE_POINTS`] keep every k-th point and
/// the last, so the artifact stays small whatever the test set's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// False positive rate, ascending from 0 to 1.
    pub fpr: Vec<f64>,
    /// True positive rate per `fpr` point.
    pub tpr: Vec<f64>,
    /// Score threshold of each ROC point; `None` for the first (scikit-learn's `inf`).
    pub roc_thresholds: Vec<Option<f64>>,
    /// Precision, from full recall down to the final point (precision 1, recall 0).
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    /// Score threshold of each PR point but the last, ascending.
    pub pr_thresholds: Vec<f64>,
    /// `[[tn, fp], [fn, tp]]` at threshold 0.5, rows = truth.
    pub confusion: [[u64; 2]; 2],
}

/// Most points kept per curve.
pub const CURVE_POINTS: usize = 400;

/// Cumulative false and true positives at each distinct score, highest score first, with the
/// scores (scikit-learn's `_binary_clf_curve`).
fn binary_clf_curve(truth: &[u8], score: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fp, mut tp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if truth[i] == 1 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_score = order.get(k + 1).is_none_or(|&j| score[j] != score[i]);
        if last_of_score {
            fps.push(fp);
            tps.push(tp);
            thresholds.push(score[i]);
        }
    }
    (fps, tps, thresholds)
}

/// Keeps every k-th index of `0..n` and the last, at most [`CURVE_POINTS`] in all.
fn thin(n: usize) -> Vec<usize> {
    if n <= CURVE_POINTS {
        return (0..n).collect();
    }
    let step = n.div_ceil(CURVE_POINTS - 1);
    let mut keep: Vec<usize> = (0..n).step_by(step).collect();
    if keep.last() != Some(&(n - 1)) {
        keep.push(n - 1);
    }
    keep
}

/// ROC and precision-recall curves of `score` against `truth` (see [`Curves`]); empty curves
/// when the test set has one class only.
pub fn curves(truth: &[u8], score: &[f64], confusion: [[u64; 2]; 2]) -> Curves {
    let (fps, tps, thresholds) = binary_clf_curve(truth, score);
    let empty = Curves {
        fpr: Vec::new(),
        tpr: Vec::new(),
        roc_thresholds: Vec::new(),
        precision: Vec::new(),
        recall: Vec::new(),
        pr_thresholds: Vec::new(),
        confusion,
    };
    let (Some(&fp_all), Some(&tp_all)) = (fps.last(), tps.last()) else {
        return empty;
    };
    if fp_all == 0.0 || tp_all == 0.0 {
        return empty;
    }
    // ROC: drop points on a straight line between their neighbours, then start at (0, 0).
    let n = fps.len();
    let keep: Vec<usize> = (0..n)
        .filter(|&i| {
            i == 0
                || i + 1 == n
                || fps[i + 1] - 2.0 * fps[i] + fps[i - 1] != 0.0
                || tps[i + 1] - 2.0 * tps[i] + tps[i - 1] != 0.0
        })
        .collect();
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    let mut roc_thresholds = vec![None];
    for &i in &keep {
        fpr.push(fps[i] / fp_all);
        tpr.push(tps[i] / tp_all);
        roc_thresholds.push(Some(thresholds[i]));
    }
    let roc_keep = thin(fpr.len());
    // PR: lowest threshold first, then the (precision 1, recall 0) end point.
    let mut precision = Vec::with_capacity(n + 1);
    let mut recall = Vec::with_capacity(n + 1);
    let mut pr_thresholds = Vec::with_capacity(n);
    for i in (0..n).rev() {
        let predicted = tps[i] + fps[i];
        precision.push(if predicted > 0.0 {
            tps[i] / predicted
        } else {
            0.0
        });
        recall.push(tps[i] / tp_all);
        pr_thresholds.push(thresholds[i]);
    }
    let pr_keep = thin(pr_thresholds.len());
    precision = pr_keep.iter().map(|&i| precision[i]).collect();
    recall = pr_keep.iter().map(|&i| recall[i]).collect();
    pr_thresholds = pr_keep.iter().map(|&i| pr_thresholds[i]).collect();
    precision.push(1.0);
    recall.push(0.0);
    Curves {
        fpr: roc_keep.iter().map(|&i| fpr[i]).collect(),
        tpr: roc_keep.iter().map(|&i| tpr[i]).collect(),
        roc_thresholds: roc_keep.iter().map(|&i| roc_thresholds[i]).collect(),
        precision,
        recall,
        pr_thresholds,
        confusion,
    }
}

/// Mean negative log-likelihood.
pub fn log_loss(truth: &[u8], proba: &[f64]) -> f64 {
    const EPS: f64 = 1e-15;
    let total: f64 = truth
        .iter()
        .zip(proba)
        .map(|(&t, &p)| {
            let p = p.clamp(EPS, 1.0 - EPS);
            if t == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / truth.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_sklearn_reference() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]), 0.75);
        // Ties count half: roc_auc_score([0, 1], [0.5, 0.5]) == 0.5
        assert_eq!(roc_auc(&[0, 1], &[0.5, 0.5]), 0.5);
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_nan());
    }

    #[test]
    fn log_loss_matches_sklearn_reference() {
        // sklearn.metrics.log_loss([1, 0, 0, 1], [0.9, 0.1, 0.2, 0.65]) == 0.21616187468057912
        let v = log_loss(&[1, 0, 0, 1], &[0.9, 0.1, 0.2, 0.65]);
        assert!((v - 0.216_161_874_680_579_12).abs() < 1e-12, "{v}");
    }

    #[test]
    fn curves_match_sklearn() {
        // sklearn 1.9 roc_curve / precision_recall_curve on these ten scores.
        let y = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0];
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.55, 0.2, 0.55, 0.7];
        let c = curves(&y, &s, [[0, 0], [0, 0]]);
        assert_eq!(c.fpr, [0.0, 0.0, 0.0, 0.2, 0.2, 0.6, 0.6, 1.0]);
        assert_eq!(c.tpr, [0.0, 0.2, 0.4, 0.4, 0.8, 0.8, 1.0, 1.0]);
        assert_eq!(
            c.roc_thresholds,
            [
                None,
                Some(0.9),
                Some(0.8),
                Some(0.7),
                Some(0.55),
                Some(0.4),
                Some(0.35),
                Some(0.1)
            ]
        );
        let p = [
            0.5,
            0.555_555_555_555_555_6,
            0.625,
            0.571_428_571_428_571_4,
            0.8,
            0.666_666_666_666_666_6,
            1.0,
            1.0,
            1.0,
        ];
        assert_eq!(c.precision.len(), p.len());
        for (a, b) in c.precision.iter().zip(p) {
            assert!((a - b).abs() < 1e-15, "{a} {b}");
        }
        assert_eq!(c.recall, [1.0, 1.0, 1.0, 0.8, 0.8, 0.4, 0.4, 0.2, 0.0]);
        assert_eq!(c.pr_thresholds, [0.1, 0.2, 0.35, 0.4, 0.55, 0.7, 0.8, 0.9]);
        assert!(
            curves(&[1, 1], &[0.2, 0.3], [[0, 0], [0, 2]])
                .fpr
                .is_empty()
        );
    }

    #[test]
    fn long_curves_are_thinned_to_the_cap() {
        let n = 5000;
        let y: Vec<u8> = (0..n).map(|i| u8::from(i % 3 == 0)).collect();
        let s: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 / n as f64).collect();
        let c = curves(&y, &s, [[0, 0], [0, 0]]);
        assert!(c.fpr.len() <= CURVE_POINTS && c.precision.len() <= CURVE_POINTS + 1);
        assert_eq!(*c.fpr.last().unwrap(), 1.0);
        assert_eq!(*c.recall.last().unwrap(), 0.0);
    }

    #[test]
    fn confusion_and_f1() {
        let m = evaluate(&[1, 1, 0, 0, 1], &[0.9, 0.2, 0.7, 0.1, 0.6]);
        assert_eq!(m.confusion, [[1, 1], [1, 2]]);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
    }
}
