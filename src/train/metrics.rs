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
    fn confusion_and_f1() {
        let m = evaluate(&[1, 1, 0, 0, 1], &[0.9, 0.2, 0.7, 0.1, 0.6]);
        assert_eq!(m.confusion, [[1, 1], [1, 2]]);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
    }
}
