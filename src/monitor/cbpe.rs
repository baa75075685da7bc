//! Confidence-based performance estimation (CBPE, as NannyML's): before labels arrive, estimate
//! a window's accuracy and ROC AUC from the model's own probabilities.
//!
//! 1. **Calibrate** on the version's test set: isotonic regression (pool-adjacent-violators) of
//!    the labels on the raw positive-class probabilities, so a calibrated score `c(p)` is the
//!    observed positive rate of test records scored near `p`.
//! 2. **Estimate** on a window from its raw probabilities alone. Each record is a positive with
//!    probability `c(p)`:
//!    - accuracy = mean of `c(p)` over records predicted positive (`p ≥ threshold`) and of
//!      `1 − c(p)` over the others;
//!    - ROC AUC = the area under the expected ROC curve: records sorted by raw score, expected
//!      true positives `Σ c(p)` against expected false positives `Σ 1 − c(p)`, ties as one step.
//!
//! The estimate is right when the calibration still holds (covariate shift without concept
//! shift); a concept shift is exactly what it cannot see, which is why realised values are shown
//! next to it once labels arrive.

use serde::{Deserialize, Serialize};

/// What CBPE can and cannot see, shown next to every estimate (CLI, TUI, HTML report).
pub const ASSUMPTION: &str = "CBPE assumes the model's calibration on its test set still holds: \
     it follows covariate shift (inputs move, the label's relation to them does not) and cannot \
     see concept shift (the same inputs now mean another label), where realised quality falls \
     and the estimate does not.";

/// [`ASSUMPTION`] in one short line, for a chart title.
pub const ASSUMPTION_SHORT: &str = "CBPE sees covariate shift, not concept shift";

/// An isotonic calibration map: non-decreasing step function over raw scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Block upper bounds of the raw score, ascending.
    pub upper: Vec<f64>,
    /// Calibrated positive rate of each block, non-decreasing.
    pub rate: Vec<f64>,
    /// Records it was fitted on.
    pub rows: usize,
}

/// Estimated metrics of a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub accuracy: f64,
    pub roc_auc: f64,
    /// Records the estimate is over.
    pub rows: u64,
}

impl Calibration {
    /// Fits isotonic regression of `truth` (0/1) on `proba`. `None` with no rows.
    pub fn fit(truth: &[u8], proba: &[f64]) -> Option<Calibration> {
        let mut pairs: Vec<(f64, f64)> = proba
            .iter()
            .zip(truth)
            .filter(|(p, _)| p.is_finite())
            .map(|(p, t)| (*p, f64::from(*t)))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Pool adjacent violators over blocks of (sum of labels, count, upper score); equal
        // scores start in one block so ties get one value.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for (p, t) in pairs.iter().copied() {
            match blocks.last_mut() {
                Some(last) if last.2 == p => {
                    last.0 += t;
                    last.1 += 1.0;
                }
                _ => blocks.push((t, 1.0, p)),
            }
            while blocks.len() >= 2 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.0 / a.1 < b.0 / b.1 {
                    break;
                }
                blocks[n - 2] = (a.0 + b.0, a.1 + b.1, b.2);
                blocks.pop();
            }
        }
        Some(Calibration {
            upper: blocks.iter().map(|b| b.2).collect(),
            rate: blocks.iter().map(|b| b.0 / b.1).collect(),
            rows: pairs.len(),
        })
    }

    /// The calibrated positive probability of raw score `p`: the rate of the first block whose
    /// upper bound is at least `p` (the last block above the fitted range).
    pub fn apply(&self, p: f64) -> f64 {
        let i = self.upper.partition_point(|u| *u < p);
        self.rate[i.min(self.rate.len() - 1)]
    }

    /// Estimates accuracy and ROC AUC of records with raw scores `proba`, predicted positive at
    /// `threshold`. `None` with no records.
    pub fn estimate(&self, proba: &[f64], threshold: f64) -> Option<Estimate> {
        let weighted: Vec<(f64, f64)> = proba
            .iter()
            .filter(|p| p.is_finite())
            .map(|p| (*p, 1.0))
            .collect();
        self.estimate_weighted(&weighted, threshold)
    }

    /// As [`Calibration::estimate`] over `(raw score, count)` pairs, e.g. histogram bins at
    /// their midpoints.
    pub fn estimate_weighted(&self, scored: &[(f64, f64)], threshold: f64) -> Option<Estimate> {
        let mut rows: Vec<(f64, f64, f64)> = scored
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(p, w)| (*p, *w, self.apply(*p)))
            .collect();
        let n: f64 = rows.iter().map(|r| r.1).sum();
        if n <= 0.0 {
            return None;
        }
        let correct: f64 = rows
            .iter()
            .map(|(p, w, c)| w * if *p >= threshold { *c } else { 1.0 - c })
            .sum();
        // Expected ROC: descending score, one step per distinct score (trapezoids for ties).
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        let pos: f64 = rows.iter().map(|(_, w, c)| w * c).sum();
        let neg = n - pos;
        let roc_auc = if pos <= 0.0 || neg <= 0.0 {
            f64::NAN
        } else {
            let (mut tp, mut fp, mut area) = (0.0f64, 0.0f64, 0.0f64);
            let mut i = 0;
            while i < rows.len() {
                let (mut dtp, mut dfp) = (0.0, 0.0);
                let score = rows[i].0;
                while i < rows.len() && rows[i].0 == score {
                    dtp += rows[i].1 * rows[i].2;
                    dfp += rows[i].1 * (1.0 - rows[i].2);
                    i += 1;
                }
                area += dfp * (tp + 0.5 * dtp);
                tp += dtp;
                fp += dfp;
            }
            debug_assert!((fp - neg).abs() < 1e-6 * n.max(1.0));
            area / (pos * neg)
        };
        Some(Estimate {
            accuracy: correct / n,
            roc_auc,
            rows: n.round() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::evaluate;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Scores whose labels are drawn with exactly their probability: calibrated by construction.
    fn calibrated(rng: &mut StdRng, n: usize, skew: f64) -> (Vec<u8>, Vec<f64>) {
        let mut truth = Vec::with_capacity(n);
        let mut proba = Vec::with_capacity(n);
        for _ in 0..n {
            let p: f64 = rng.r#gen::<f64>().powf(skew);
            proba.push(p);
            truth.push(u8::from(rng.r#gen::<f64>() < p));
        }
        (truth, proba)
    }

    #[test]
    fn isotonic_fit_is_monotone_and_pools_violators() {
        let c = Calibration::fit(&[0, 1, 0, 1, 1], &[0.1, 0.2, 0.3, 0.4, 0.9]).unwrap();
        // 0.2 (label 1) and 0.3 (label 0) violate the order and are pooled to 0.5.
        assert_eq!(c.rate, vec![0.0, 0.5, 1.0]);
        assert_eq!(c.upper, vec![0.1, 0.3, 0.9]);
        assert_eq!(c.apply(0.05), 0.0);
        assert_eq!(c.apply(0.25), 0.5);
        assert_eq!(c.apply(0.35), 1.0);
        assert_eq!(c.apply(2.0), 1.0);
        assert!(Calibration::fit(&[], &[]).is_none());
    }

    #[test]
    fn estimates_land_near_realised_values_on_calibrated_scores() {
        let mut rng = StdRng::seed_from_u64(7);
        let (ty, tp) = calibrated(&mut rng, 20_000, 1.0);
        let cal = Calibration::fit(&ty, &tp).unwrap();
        // A window with a shifted score distribution (covariate shift, same concept).
        for skew in [1.0, 0.5, 2.0] {
            let (wy, wp) = calibrated(&mut rng, 5_000, skew);
            let est = cal.estimate(&wp, 0.5).unwrap();
            let real = evaluate(&wy, &wp);
            assert!(
                (est.accuracy - real.accuracy).abs() < 0.02,
                "skew {skew}: estimated accuracy {} vs realised {}",
                est.accuracy,
                real.accuracy
            );
            assert!(
                (est.roc_auc - real.roc_auc).abs() < 0.02,
                "skew {skew}: estimated ROC AUC {} vs realised {}",
                est.roc_auc,
                real.roc_auc
            );
            assert_eq!(est.rows, 5_000);
        }
    }

    #[test]
    fn a_flipped_concept_is_not_seen_by_the_estimate() {
        let mut rng = StdRng::seed_from_u64(8);
        let (ty, tp) = calibrated(&mut rng, 10_000, 1.0);
        let cal = Calibration::fit(&ty, &tp).unwrap();
        let (wy, wp) = calibrated(&mut rng, 5_000, 1.0);
        let flipped: Vec<u8> = wy.iter().map(|y| 1 - y).collect();
        let est = cal.estimate(&wp, 0.5).unwrap();
        let real = evaluate(&flipped, &wp);
        assert!(
            est.accuracy > 0.7 && real.accuracy < 0.3,
            "{est:?} {real:?}"
        );
    }
}
