//! Per-prediction explanations: how much each of the model's features moved one record's raw
//! score away from the model's expected score.
//!
//! Contributions are on the model's **features** (the columns after the fitted preparation and
//! before encoding: `TITLE`, `HAS_GSM`, `ALIGN`, ...), never on the raw record's columns, and
//! in the scale of the model's raw score: for `tree` and `forest` the positive-class
//! probability (the tree's leaf share, the forest's mean of them); for `gbt` and `logistic` the
//! log-odds, before the sigmoid. For every record `base_value + Σ contributions = raw score`.
//!
//! - `tree`, `forest`, `gbt`: TreeSHAP, path-dependent (Lundberg, Erion, Lee 2018, "Consistent
//!   Individualized Feature Attribution for Tree Ensembles", arXiv:1802.03888, Algorithm 2),
//!   the exact Shapley values of the game where a feature outside the coalition follows every
//!   branch weighted by the training cover of the branch. The expected value (`base_value`) is
//!   the cover-weighted mean leaf value. A forest's values are the mean of its trees', a
//!   boosted model's the sum of its trees' plus its base score.
//! - `logistic`: the coefficient times the encoded value (the standardised number, or 1 for
//!   the one-hot column of the record's level, summed per feature), with the intercept as
//!   `base_value`. For numeric features this is the exact SHAP value of a linear model with
//!   independent features (their training mean is 0 after standardisation); for categorical
//!   ones it is relative to "no level", not to the training mix.
//!
//! Why TreeSHAP is written here and not taken from forust-ml's `predict_contributions(...,
//! Shapley)`: forust's keeps its path weights in `f32` and allocates at every node, so on the
//! 1000-tree model its contributions miss the log-odds by about 1e-6 (the contract here is
//! 1e-9) and take milliseconds per record; and cerebro's own CART trees need it anyway. This one
//! follows the reference C++ implementation of the `shap` package (`tree_shap_recursive`) in
//! `f64`, with one preallocated path buffer per record. Tests check it against the `shap`
//! package on a small tree and against forust's `Shapley` on a boosted model.

use serde::Serialize;

use super::Estimator;
use super::encode::{Encoded, Encoder, Layout};
use crate::error::{Error, Result};

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

/// The scale of a model's raw score, which contributions add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RawScale {
    /// Positive-class probability (`tree`, `forest`).
    Probability,
    /// Log-odds of the positive class (`gbt`, `logistic`).
    LogOdds,
}

impl RawScale {
    pub fn as_str(self) -> &'static str {
        match self {
            RawScale::Probability => "probability",
            RawScale::LogOdds => "log_odds",
        }
    }
}

/// Contributions of a batch of records: `contributions[r * features.len() + f]` is feature
/// `f`'s contribution to record `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanations {
    /// The model's features, numeric then categorical (the encoder's order).
    pub features: Vec<String>,
    pub scale: RawScale,
    /// The expected raw score (the same for every record).
    pub base_value: f64,
    /// Row-major, one row per record.
    pub contributions: Vec<f64>,
}

impl Explanations {
    /// Record `r`'s contributions, in [`Explanations::features`] order.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.features.len();
        &self.contributions[r * n..(r + 1) * n]
    }

    /// Record `r`'s raw score: the base value plus its contributions.
    pub fn raw_score(&self, r: usize) -> f64 {
        self.base_value + self.row(r).iter().sum::<f64>()
    }

    /// The explanations of the records `index` picks, in that order.
    pub fn select(&self, index: &[usize]) -> Explanations {
        let mut contributions = Vec::with_capacity(index.len() * self.features.len());
        for &r in index {
            contributions.extend_from_slice(self.row(r));
        }
        Explanations {
            features: self.features.clone(),
            scale: self.scale,
            base_value: self.base_value,
            contributions,
        }
    }
}

/// One node of a tree as TreeSHAP walks it. A split sends `value <= threshold` (CART) or
/// `value < threshold` (forust) to `left`, a NaN to `missing`; `cover` is the training weight
/// (sample count, bootstrap weight or hessian sum) that reached the node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub(crate) feature: u32,
    pub(crate) threshold: f64,
    pub(crate) left: u32,
    pub(crate) right: u32,
    pub(crate) missing: u32,
    pub(crate) cover: f64,
    /// The leaf value (unused on splits).
    pub(crate) value: f64,
}

impl Node {
    pub(crate) fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            missing: 0,
            cover,
            value,
        }
    }
}

/// A tree ready for TreeSHAP.
#[derive(Debug, Clone)]
pub(crate) struct ShapTree {
    nodes: Vec<Node>,
    /// `value <= threshold` goes left (CART) rather than `value < threshold` (forust).
    left_inclusive: bool,
    /// The cover-weighted mean leaf value.
    expected: f64,
    depth: usize,
}

impl ShapTree {
    /// `nodes[0]` is the root. `None` when a node has no cover (a model saved before covers
    /// were kept) or a child index is out of range.
    pub(crate) fn new(nodes: Vec<Node>, left_inclusive: bool) -> Option<ShapTree> {
        let n = nodes.len();
        if n == 0 {
            return None;
        }
        for node in &nodes {
            if node.feature != LEAF
                && ([node.left, node.right, node.missing]
                    .iter()
                    .any(|&c| c as usize >= n)
                    || node.cover.is_nan()
                    || node.cover <= 0.0)
            {
                return None;
            }
        }
        let mut t = ShapTree {
            nodes,
            left_inclusive,
            expected: 0.0,
            depth: 0,
        };
        let (expected, depth) = t.expected_at(0);
        t.expected = expected;
        t.depth = depth;
        Some(t)
    }

    /// The distinct children of a split: left, right, and missing when it is a third branch.
    fn children(node: &Node) -> ([u32; 3], usize) {
        if node.missing != node.left && node.missing != node.right {
            ([node.left, node.right, node.missing], 3)
        } else {
            ([node.left, node.right, 0], 2)
        }
    }

    /// Cover-weighted mean leaf value and depth of the subtree at `at`.
    fn expected_at(&self, at: usize) -> (f64, usize) {
        let node = &self.nodes[at];
        if node.feature == LEAF {
            return (node.value, 0);
        }
        let (children, k) = Self::children(node);
        let (mut e, mut d) = (0.0, 0);
        for &c in &children[..k] {
            let (ce, cd) = self.expected_at(c as usize);
            e += self.nodes[c as usize].cover / node.cover * ce;
            d = d.max(cd);
        }
        (e, d + 1)
    }

    fn hot_child(&self, node: &Node, v: f64) -> u32 {
        if v.is_nan() {
            node.missing
        } else if v < node.threshold || (self.left_inclusive && v == node.threshold) {
            node.left
        } else {
            node.right
        }
    }

    /// The tree's raw output for `row`.
    #[cfg(test)]
    fn predict(&self, row: &[f64]) -> f64 {
        let mut at = 0usize;
        loop {
            let node = &self.nodes[at];
            if node.feature == LEAF {
                return node.value;
            }
            at = self.hot_child(node, row[node.feature as usize]) as usize;
        }
    }

    /// Adds `scale` times the SHAP values of `row` to `phi` (one entry per model column).
    fn shap(&self, row: &[f64], phi: &mut [f64], scale: f64, buf: &mut Vec<PathElement>) {
        let need = (self.depth + 2) * (self.depth + 3) / 2;
        if buf.len() < need {
            buf.resize(need, PathElement::default());
        }
        let mut walk = Walk {
            tree: self,
            row,
            phi,
            scale,
            path: buf,
        };
        walk.recurse(0, 0, 0, 1.0, 1.0, NO_FEATURE);
    }
}

/// Feature index of the path's first (dummy) element.
const NO_FEATURE: u32 = u32::MAX - 1;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PathElement {
    feature: u32,
    zero: f64,
    one: f64,
    pweight: f64,
}

struct Walk<'a> {
    tree: &'a ShapTree,
    row: &'a [f64],
    phi: &'a mut [f64],
    scale: f64,
    /// All levels' paths, one after the other; level paths never overlap.
    path: &'a mut [PathElement],
}

impl Walk<'_> {
    /// Algorithm 2's RECURSE: `start` is where the parent's path begins in the buffer, `depth`
    /// the number of elements it holds before this node's element is added.
    fn recurse(
        &mut self,
        at: usize,
        start: usize,
        depth: usize,
        zero: f64,
        one: f64,
        feature: u32,
    ) {
        // This node's path: a copy of the parent's, then extended.
        let here = start + depth + 1;
        if depth > 0 {
            self.path.copy_within(start..start + depth, here);
        }
        let p = &mut self.path[here..here + depth + 1];
        extend(p, depth, zero, one, feature);
        let node = self.tree.nodes[at];
        if node.feature == LEAF {
            for i in 1..=depth {
                let w = unwound_sum(p, depth, i);
                let e = p[i];
                self.phi[e.feature as usize] += self.scale * w * (e.one - e.zero) * node.value;
            }
            return;
        }
        let hot = self.tree.hot_child(&node, self.row[node.feature as usize]);
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        let mut depth = depth;
        if let Some(k) = (0..=depth).find(|&k| p[k].feature == node.feature) {
            in_zero = p[k].zero;
            in_one = p[k].one;
            unwind(p, depth, k);
            depth -= 1;
        }
        let (children, n) = ShapTree::children(&node);
        for &c in &children[..n] {
            let child_one = if c == hot { in_one } else { 0.0 };
            let child_zero = self.tree.nodes[c as usize].cover / node.cover * in_zero;
            if child_zero == 0.0 && child_one == 0.0 {
                // A branch no training weight reached and the record does not take: every
                // term it would add is zero.
                continue;
            }
            self.recurse(
                c as usize,
                here,
                depth + 1,
                child_zero,
                child_one,
                node.feature,
            );
        }
    }
}

fn extend(p: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: u32) {
    p[depth] = PathElement {
        feature,
        zero,
        one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        p[i + 1].pweight += one * p[i].pweight * (i + 1) as f64 / d1;
        p[i].pweight = zero * p[i].pweight * (depth - i) as f64 / d1;
    }
}

fn unwind(p: &mut [PathElement], depth: usize, k: usize) {
    let (one, zero) = (p[k].one, p[k].zero);
    let d1 = (depth + 1) as f64;
    let mut next = p[depth].pweight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = p[i].pweight;
            p[i].pweight = next * d1 / ((i + 1) as f64 * one);
            next = tmp - p[i].pweight * zero * (depth - i) as f64 / d1;
        } else {
            p[i].pweight = p[i].pweight * d1 / (zero * (depth - i) as f64);
        }
    }
    for i in k..depth {
        p[i].feature = p[i + 1].feature;
        p[i].zero = p[i + 1].zero;
        p[i].one = p[i + 1].one;
    }
}

fn unwound_sum(p: &[PathElement], depth: usize, k: usize) -> f64 {
    let (one, zero) = (p[k].one, p[k].zero);
    let d1 = (depth + 1) as f64;
    let mut next = p[depth].pweight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next = p[i].pweight - tmp * zero * (depth - i) as f64 / d1;
        } else if zero != 0.0 {
            total += p[i].pweight / zero / ((depth - i) as f64 / d1);
        }
    }
    total
}

/// A fitted estimator prepared for explaining: its trees compiled for TreeSHAP, or its
/// coefficients. Built once per model and kept ([`super::Model`] caches it).
#[derive(Debug, Clone)]
pub struct Explainer {
    kind: Kind,
    /// Encoded column -> model feature.
    feature_of_column: Vec<usize>,
    features: Vec<String>,
    scale: RawScale,
    base_value: f64,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `scale` times the sum of the trees' values (a forest: 1/trees; boosting: 1).
    Trees {
        trees: Vec<ShapTree>,
        scale: f64,
    },
    Linear {
        coef: Vec<f64>,
    },
}

impl Explainer {
    /// Prepares `estimator` (fitted with `encoder`) for explaining. Fails for a tree or forest
    /// saved before node covers were kept in the artifact (retrain it to explain it).
    pub fn new(estimator: &Estimator, encoder: &Encoder) -> Result<Explainer> {
        let mut features: Vec<String> = encoder.numeric.iter().map(|n| n.name.clone()).collect();
        features.extend(encoder.categorical.iter().map(|c| c.name.clone()));
        let n_num = encoder.numeric.len();
        let mut feature_of_column: Vec<usize> = (0..n_num).collect();
        for (k, c) in encoder.categorical.iter().enumerate() {
            let width = if encoder.layout == Layout::OneHot {
                c.levels.len()
            } else {
                1
            };
            feature_of_column.extend(std::iter::repeat_n(n_num + k, width));
        }
        let old = || {
            Error::invalid(
                "this model was saved before cerebro kept the training cover of each tree node, which explanations need: train it again to explain its predictions",
            )
        };
        let (kind, scale, base_value) = match estimator {
            Estimator::Tree { tree } => {
                let t = tree.shap_tree().ok_or_else(old)?;
                let base = t.expected;
                (
                    Kind::Trees {
                        trees: vec![t],
                        scale: 1.0,
                    },
                    RawScale::Probability,
                    base,
                )
            }
            Estimator::Forest { forest } => {
                let trees: Vec<ShapTree> = forest
                    .trees
                    .iter()
                    .map(|t| t.shap_tree())
                    .collect::<Option<_>>()
                    .ok_or_else(old)?;
                if trees.is_empty() {
                    return Err(Error::invalid("the forest has no trees"));
                }
                let scale = 1.0 / trees.len() as f64;
                let base = trees.iter().map(|t| t.expected).sum::<f64>() * scale;
                (Kind::Trees { trees, scale }, RawScale::Probability, base)
            }
            Estimator::Gbt { booster, .. } => {
                if !booster.missing.is_nan() {
                    return Err(Error::invalid(
                        "this boosted model does not treat NaN as missing; it cannot be explained",
                    ));
                }
                let n = booster
                    .prediction_iteration
                    .unwrap_or(booster.trees.len())
                    .min(booster.trees.len());
                let trees: Vec<ShapTree> = booster.trees[..n]
                    .iter()
                    .map(forust_tree)
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        Error::invalid("a tree of the boosted model has a node without cover")
                    })?;
                // Forust's order: the base score, then every tree in order.
                let mut base = booster.base_score;
                for t in &trees {
                    base += t.expected;
                }
                (Kind::Trees { trees, scale: 1.0 }, RawScale::LogOdds, base)
            }
            Estimator::Logistic { intercept, coef } => (
                Kind::Linear { coef: coef.clone() },
                RawScale::LogOdds,
                *intercept,
            ),
        };
        Ok(Explainer {
            kind,
            feature_of_column,
            features,
            scale,
            base_value,
        })
    }

    /// The model's features, in the order of [`Explanations::row`].
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The contributions of every row of `x` (encoded with the model's encoder).
    pub fn explain(&self, x: &Encoded) -> Explanations {
        let nf = self.features.len();
        let cols = x.columns.len();
        let mut contributions = vec![0.0; x.rows * nf];
        let mut row = vec![0.0; cols];
        let mut phi = vec![0.0; cols];
        let mut buf = Vec::new();
        for r in 0..x.rows {
            for (v, c) in row.iter_mut().zip(&x.columns) {
                *v = c[r];
            }
            phi.fill(0.0);
            match &self.kind {
                Kind::Trees { trees, scale } => {
                    for t in trees {
                        t.shap(&row, &mut phi, *scale, &mut buf);
                    }
                }
                Kind::Linear { coef } => {
                    for ((p, v), c) in phi.iter_mut().zip(&row).zip(coef) {
                        *p = c * v;
                    }
                }
            }
            let out = &mut contributions[r * nf..(r + 1) * nf];
            for (c, p) in phi.iter().enumerate() {
                out[self.feature_of_column[c]] += p;
            }
        }
        Explanations {
            features: self.features.clone(),
            scale: self.scale,
            base_value: self.base_value,
            contributions,
        }
    }
}

/// One of forust's trees for TreeSHAP (cover = hessian sum, leaf weights widened from `f32`
/// as forust's `predict` widens them).
fn forust_tree(tree: &forust_ml::tree::Tree) -> Option<ShapTree> {
    let nodes = tree
        .nodes
        .iter()
        .map(|n| {
            if n.is_leaf {
                Node::leaf(n.weight_value as f64, n.hessian_sum as f64)
            } else {
                Node {
                    feature: n.split_feature as u32,
                    threshold: n.split_value,
                    left: n.left_child as u32,
                    right: n.right_child as u32,
                    missing: n.missing_node as u32,
                    cover: n.hessian_sum as f64,
                    value: 0.0,
                }
            }
        })
        .collect();
    ShapTree::new(nodes, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tree with a repeated feature on a path (feature 0 at the root and at node 4).
    fn small_tree() -> ShapTree {
        // Node layout (index: feature, threshold, cover, children / leaf value):
        let split = |feature, threshold, left, right, cover| Node {
            feature,
            threshold,
            left,
            right,
            missing: left,
            cover,
            value: 0.0,
        };
        ShapTree::new(
            vec![
                split(0, 0.5, 1, 2, 100.0),
                split(1, 2.5, 3, 4, 60.0),
                split(2, 1.5, 5, 6, 40.0),
                Node::leaf(0.2, 35.0),
                split(0, 0.25, 7, 8, 25.0),
                Node::leaf(0.9, 10.0),
                Node::leaf(0.6, 30.0),
                Node::leaf(0.1, 5.0),
                Node::leaf(0.7, 20.0),
            ],
            true,
        )
        .unwrap()
    }

    fn tree_phi(t: &ShapTree, row: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; row.len()];
        t.shap(row, &mut phi, 1.0, &mut Vec::new());
        phi
    }

    /// The `shap` package (0.51.0, its C++ TreeSHAP) on the same tree as a custom tree model,
    /// `feature_perturbation="tree_path_dependent"`: `bench/explain_shap_reference.py` printed
    /// these values.
    #[test]
    fn matches_the_shap_package() {
        let t = small_tree();
        assert!((t.expected - 0.485).abs() < 1e-15);
        let expected: [([f64; 3], [f64; 3]); 5] = [
            (
                [0.0, 0.0, 0.0],
                [
                    -0.30333333333333334,
                    -0.026666666666666658,
                    0.045000000000000026,
                ],
            ),
            (
                [0.3, 3.0, 9.0],
                [
                    0.017666666666666588,
                    0.21233333333333324,
                    -0.015000000000000006,
                ],
            ),
            (
                [0.1, 3.0, 0.0],
                [
                    -0.4673333333333334,
                    0.0373333333333333,
                    0.045000000000000026,
                ],
            ),
            ([1.0, 0.0, 1.0], [0.305, -0.0475, 0.15749999999999997]),
            (
                [1.0, 9.0, 2.0],
                [
                    0.10099999999999995,
                    0.06649999999999998,
                    -0.052500000000000005,
                ],
            ),
        ];
        for (row, want) in expected {
            let phi = tree_phi(&t, &row);
            for (f, (a, b)) in phi.iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{row:?} feature {f}: {a} vs shap {b}"
                );
            }
        }
    }

    #[test]
    fn contributions_add_up_to_the_leaf_value() {
        let t = small_tree();
        for row in [
            [0.0, 0.0, 0.0],
            [0.3, 3.0, 9.0],
            [0.1, 3.0, 0.0],
            [1.0, 0.0, 1.0],
            [1.0, 9.0, 2.0],
        ] {
            let phi = tree_phi(&t, &row);
            let total = t.expected + phi.iter().sum::<f64>();
            assert!((total - t.predict(&row)).abs() < 1e-12, "{row:?}: {total}");
        }
    }

    /// Algorithm 1's game by enumeration: the expected output when only the features in `set`
    /// are known (the others follow every branch by cover).
    fn game(t: &ShapTree, row: &[f64], set: u32, at: usize) -> f64 {
        let node = &t.nodes[at];
        if node.feature == LEAF {
            return node.value;
        }
        if set & (1 << node.feature) != 0 {
            return game(
                t,
                row,
                set,
                t.hot_child(node, row[node.feature as usize]) as usize,
            );
        }
        let (children, k) = ShapTree::children(node);
        children[..k]
            .iter()
            .map(|&c| t.nodes[c as usize].cover / node.cover * game(t, row, set, c as usize))
            .sum()
    }

    /// Exact Shapley values of [`game`] by the definition.
    fn brute_force(t: &ShapTree, row: &[f64]) -> Vec<f64> {
        let m = row.len();
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        (0..m)
            .map(|i| {
                (0..1u32 << m)
                    .filter(|s| s & (1 << i) == 0)
                    .map(|s| {
                        let k = s.count_ones() as usize;
                        let w = fact(k) * fact(m - k - 1) / fact(m);
                        w * (game(t, row, s | 1 << i, 0) - game(t, row, s, 0))
                    })
                    .sum()
            })
            .collect()
    }

    /// A forust-style tree: `<` goes left, NaN to a third (missing) branch at the root, the
    /// missing branch of node 2 is its left child, and one branch no training row reached.
    #[test]
    fn three_way_splits_and_empty_branches_are_exact() {
        let split = |feature, threshold, left, right, missing, cover| Node {
            feature,
            threshold,
            left,
            right,
            missing,
            cover,
            value: 0.0,
        };
        let t = ShapTree::new(
            vec![
                split(0, 1.0, 1, 2, 3, 50.0),
                split(1, 0.0, 4, 5, 4, 20.0),
                split(2, 3.0, 6, 7, 6, 25.0),
                Node::leaf(-0.4, 5.0),
                Node::leaf(0.3, 12.0),
                split(0, 0.5, 8, 9, 8, 8.0),
                Node::leaf(0.05, 25.0),
                Node::leaf(1.5, 0.0),
                Node::leaf(-1.0, 3.0),
                Node::leaf(0.8, 5.0),
            ],
            false,
        )
        .unwrap();
        for row in [
            [f64::NAN, 0.0, 0.0],
            [0.2, 1.0, 9.0],
            [0.7, 1.0, f64::NAN],
            [2.0, -1.0, 4.0],
            [2.0, f64::NAN, 1.0],
        ] {
            let phi = tree_phi(&t, &row);
            let want = brute_force(&t, &row);
            for (f, (a, b)) in phi.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-12, "{row:?} feature {f}: {a} vs {b}");
            }
            let total = t.expected + phi.iter().sum::<f64>();
            assert!((total - t.predict(&row)).abs() < 1e-12, "{row:?}");
        }
    }

    #[test]
    fn the_small_tree_agrees_with_the_definition() {
        let t = small_tree();
        for row in [[0.3, 3.0, 9.0], [1.0, 0.0, 1.0]] {
            let phi = tree_phi(&t, &row);
            for (a, b) in phi.iter().zip(brute_force(&t, &row)) {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }
}
