//! CART classification trees on binned features, and random forests of them.
//!
//! Why not linfa-trees: its 0.8 `DecisionTree` keeps only the modal class in each leaf and
//! prunes sibling leaves that agree, so it yields no class probabilities (ROC AUC and log loss
//! are then meaningless), and it scans every sample of the table at every node. This tree bins
//! each feature once (at most `max_bins` bins, thresholds halfway between distinct values, like
//! scikit-learn's), grows depth-first on index slices with per-node histograms, and keeps the
//! positive-class share of every leaf. Prediction compares raw values with thresholds, so a
//! fitted tree needs no binning at prediction time. Missing values must be imputed before.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Split criterion.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    #[default]
    Gini,
    Entropy,
}

/// Growth limits of one tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub criterion: Criterion,
    /// Features tried at each node; `None` = all.
    pub max_features: Option<usize>,
}

/// A feature binned once for the whole fit: `codes[i]` is the bin of sample `i`, and a split
/// "bin <= b" is the same as "value <= thresholds[b]".
#[derive(Debug, Clone)]
pub struct BinnedFeature {
    codes: Vec<u8>,
    thresholds: Vec<f64>,
}

impl BinnedFeature {
    pub fn new(values: &[f64], max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(2, 256);
        let mut sorted: Vec<f64> = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        // Upper edges of each bin (the last bin is open-ended).
        let edges: Vec<f64> = if sorted.len() <= max_bins {
            sorted.clone()
        } else {
            let mut all: Vec<f64> = values.to_vec();
            all.sort_by(f64::total_cmp);
            let mut e: Vec<f64> = (1..max_bins)
                .map(|k| all[k * all.len() / max_bins])
                .collect();
            e.dedup();
            e.push(*sorted.last().expect("non-empty"));
            e
        };
        // Threshold between edge k and the next distinct value above it.
        let thresholds: Vec<f64> = edges
            .iter()
            .map(|&edge| {
                let next = sorted.partition_point(|&v| v <= edge);
                match sorted.get(next) {
                    Some(&above) => edge + (above - edge) / 2.0,
                    None => f64::INFINITY,
                }
            })
            .collect();
        let codes = values
            .iter()
            .map(|&v| {
                thresholds
                    .partition_point(|&t| t < v)
                    .min(thresholds.len() - 1) as u8
            })
            .collect();
        Self { codes, thresholds }
    }

    fn n_bins(&self) -> usize {
        self.thresholds.len()
    }
}

/// Bins every column of a column-major feature table.
pub fn bin_columns(columns: &[Vec<f64>], max_bins: usize) -> Vec<BinnedFeature> {
    columns
        .iter()
        .map(|c| BinnedFeature::new(c, max_bins))
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
enum Node {
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
        /// Weighted training samples that reached the node (0 in models saved before covers
        /// were kept; explanations need it).
        #[serde(default)]
        cover: f64,
    },
    Leaf {
        /// Share of positives among the (weighted) training samples of the leaf.
        p: f64,
        #[serde(default)]
        cover: f64,
    },
}

/// A fitted tree. Nodes are stored flat; node 0 is the root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
    /// Weighted impurity decrease per feature (unnormalised).
    importance: Vec<f64>,
}

impl Tree {
    /// Fits a tree on binned features. `weights[i]` is how often sample `i` is drawn (0 leaves
    /// it out), `y[i]` is 0 or 1.
    pub fn fit(
        features: &[BinnedFeature],
        y: &[u8],
        weights: &[u32],
        limits: &TreeLimits,
        rng: &mut StdRng,
    ) -> Tree {
        let mut idx: Vec<u32> = (0..y.len() as u32)
            .filter(|&i| weights[i as usize] > 0)
            .collect();
        let mut grower = Grower {
            features,
            y,
            weights,
            limits,
            nodes: Vec::new(),
            importance: vec![0.0; features.len()],
            feature_order: (0..features.len()).collect(),
            hist: Vec::new(),
        };
        let n = idx.len();
        grower.grow(&mut idx[..n], 0, rng);
        Tree {
            nodes: grower.nodes,
            importance: grower.importance,
        }
    }

    /// Positive-class probability of one row (`row[f]` is feature `f`).
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        let mut at = 0usize;
        loop {
            match &self.nodes[at] {
                Node::Leaf { p, .. } => return *p,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    at = if row[*feature as usize] <= *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
            }
        }
    }

    pub fn importance(&self) -> &[f64] {
        &self.importance
    }

    /// The tree for TreeSHAP (`value <= threshold` goes left); `None` for a tree saved
    /// without node covers.
    pub(crate) fn shap_tree(&self) -> Option<super::explain::ShapTree> {
        use super::explain::Node as S;
        let nodes = self
            .nodes
            .iter()
            .map(|n| match *n {
                Node::Leaf { p, cover } => S::leaf(p, cover),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    cover,
                } => S {
                    feature,
                    threshold,
                    left,
                    right,
                    missing: left,
                    cover,
                    value: 0.0,
                },
            })
            .collect();
        super::explain::ShapTree::new(nodes, true)
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }

    pub fn depth(&self) -> usize {
        fn walk(nodes: &[Node], at: usize) -> usize {
            match &nodes[at] {
                Node::Leaf { .. } => 0,
                Node::Split { left, right, .. } => {
                    1 + walk(nodes, *left as usize).max(walk(nodes, *right as usize))
                }
            }
        }
        walk(&self.nodes, 0)
    }
}

struct Grower<'a> {
    features: &'a [BinnedFeature],
    y: &'a [u8],
    weights: &'a [u32],
    limits: &'a TreeLimits,
    nodes: Vec<Node>,
    importance: Vec<f64>,
    feature_order: Vec<usize>,
    /// Scratch histogram: `[bin] -> (weight, positive weight)`.
    hist: Vec<(f64, f64)>,
}

struct BestSplit {
    gain: f64,
    feature: usize,
    bin: u8,
}

impl Grower<'_> {
    fn impurity(&self, w: f64, pos: f64) -> f64 {
        if w <= 0.0 {
            return 0.0;
        }
        let p = pos / w;
        match self.limits.criterion {
            Criterion::Gini => 2.0 * p * (1.0 - p),
            Criterion::Entropy => {
                let h = |q: f64| if q <= 0.0 { 0.0 } else { -q * q.log2() };
                h(p) + h(1.0 - p)
            }
        }
    }

    /// Grows the subtree over `idx` and returns its node index.
    fn grow(&mut self, idx: &mut [u32], depth: usize, rng: &mut StdRng) -> u32 {
        let (mut w, mut pos) = (0.0, 0.0);
        for &i in idx.iter() {
            let wi = f64::from(self.weights[i as usize]);
            w += wi;
            pos += wi * f64::from(self.y[i as usize]);
        }
        let at = self.nodes.len() as u32;
        self.nodes.push(Node::Leaf {
            p: if w > 0.0 { pos / w } else { 0.0 },
            cover: w,
        });
        let parent_impurity = self.impurity(w, pos);
        if depth >= self.limits.max_depth
            || idx.len() < self.limits.min_samples_split.max(2)
            || parent_impurity <= 0.0
        {
            return at;
        }
        let Some(best) = self.best_split(idx, w, pos, parent_impurity, rng) else {
            return at;
        };
        self.importance[best.feature] += best.gain;
        let codes = &self.features[best.feature].codes;
        // Partition in place: samples going left first.
        let mut split = 0;
        for k in 0..idx.len() {
            if codes[idx[k] as usize] <= best.bin {
                idx.swap(k, split);
                split += 1;
            }
        }
        let threshold = self.features[best.feature].thresholds[best.bin as usize];
        let (left_idx, right_idx) = idx.split_at_mut(split);
        let left = self.grow(left_idx, depth + 1, rng);
        let right = self.grow(right_idx, depth + 1, rng);
        self.nodes[at as usize] = Node::Split {
            feature: best.feature as u32,
            threshold,
            left,
            right,
            cover: w,
        };
        at
    }

    fn best_split(
        &mut self,
        idx: &[u32],
        w: f64,
        pos: f64,
        parent_impurity: f64,
        rng: &mut StdRng,
    ) -> Option<BestSplit> {
        let n_try = self
            .limits
            .max_features
            .unwrap_or(self.features.len())
            .clamp(1, self.features.len());
        if n_try < self.features.len() {
            self.feature_order.shuffle(rng);
        }
        let min_leaf = self.limits.min_samples_leaf.max(1) as f64;
        let mut best: Option<BestSplit> = None;
        for k in 0..n_try {
            let f = self.feature_order[k];
            let feature = &self.features[f];
            let n_bins = feature.n_bins();
            if n_bins < 2 {
                continue;
            }
            self.hist.clear();
            self.hist.resize(n_bins, (0.0, 0.0));
            // Sample counts per bin (unweighted) decide min_samples_leaf, like sklearn does
            // for unweighted fits; weighted counts decide the impurity.
            let mut counts = vec![0u32; n_bins];
            for &i in idx {
                let i = i as usize;
                let b = feature.codes[i] as usize;
                let wi = f64::from(self.weights[i]);
                self.hist[b].0 += wi;
                self.hist[b].1 += wi * f64::from(self.y[i]);
                counts[b] += 1;
            }
            let total = idx.len() as f64;
            let (mut lw, mut lpos, mut ln) = (0.0, 0.0, 0.0);
            for (b, (&(hw, hpos), &count)) in
                self.hist.iter().zip(&counts).enumerate().take(n_bins - 1)
            {
                lw += hw;
                lpos += hpos;
                ln += f64::from(count);
                if count == 0 {
                    continue;
                }
                let rn = total - ln;
                if ln < min_leaf || rn < min_leaf {
                    continue;
                }
                let rw = w - lw;
                let rpos = pos - lpos;
                let child = (lw * self.impurity(lw, lpos) + rw * self.impurity(rw, rpos)) / w;
                let gain = (parent_impurity - child) * w;
                if gain > 1e-12 && best.as_ref().is_none_or(|bs| gain > bs.gain) {
                    best = Some(BestSplit {
                        gain,
                        feature: f,
                        bin: b as u8,
                    });
                }
            }
        }
        best
    }
}

/// A random forest: bootstrap samples and per-node feature sampling, probabilities averaged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forest {
    pub trees: Vec<Tree>,
}

/// Settings of a forest fit.
#[derive(Debug, Clone, Copy)]
pub struct ForestSettings {
    pub n_trees: usize,
    pub bootstrap: bool,
    pub seed: u64,
    pub threads: usize,
}

impl Forest {
    /// Fits `settings.n_trees` trees. Tree `t` draws from its own RNG seeded by `(seed, t)`, so
    /// the result does not depend on the number of threads. `on_tree` is called after each tree
    /// with the number done so far; returning `false` stops early (cancellation).
    pub fn fit(
        features: &[BinnedFeature],
        y: &[u8],
        limits: &TreeLimits,
        settings: &ForestSettings,
        on_tree: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Forest> {
        Self::fit_range(features, y, limits, settings, 0..settings.n_trees, on_tree)
            .map(|trees| Forest { trees })
    }

    /// Trees `range` of the forest [`Forest::fit`] fits (the same trees: each has its own
    /// seed), so a forest can be grown a few trees at a time. `on_tree` gets the number of
    /// trees of `range` done so far.
    pub fn fit_range(
        features: &[BinnedFeature],
        y: &[u8],
        limits: &TreeLimits,
        settings: &ForestSettings,
        range: std::ops::Range<usize>,
        on_tree: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Vec<Tree>> {
        let n = y.len();
        let count = range.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let threads = settings.threads.clamp(1, count.max(1));
        let per_thread = count.div_ceil(threads).max(1);
        let mut slots: Vec<Option<Tree>> = vec![None; count];
        std::thread::scope(|scope| {
            for (worker, chunk) in slots.chunks_mut(per_thread).enumerate() {
                let first = range.start + worker * per_thread;
                let (done, stop) = (&done, &stop);
                scope.spawn(move || {
                    for (k, slot) in chunk.iter_mut().enumerate() {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let t = (first + k) as u64;
                        let mut rng = StdRng::seed_from_u64(
                            settings.seed ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        );
                        let mut weights = vec![0u32; n];
                        if settings.bootstrap {
                            for _ in 0..n {
                                weights[rng.gen_range(0..n)] += 1;
                            }
                        } else {
                            weights.fill(1);
                        }
                        *slot = Some(Tree::fit(features, y, &weights, limits, &mut rng));
                        let so_far = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if !on_tree(so_far) {
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        Some(
            slots
                .into_iter()
                .map(|t| t.expect("every tree fitted"))
                .collect(),
        )
    }

    /// Mean probability over the first `k` trees.
    pub fn predict_row_first(&self, row: &[f64], k: usize) -> f64 {
        let k = k.clamp(1, self.trees.len());
        self.trees[..k]
            .iter()
            .map(|t| t.predict_row(row))
            .sum::<f64>()
            / k as f64
    }

    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.predict_row_first(row, self.trees.len())
    }

    /// Impurity importance summed over trees.
    pub fn importance(&self) -> Vec<f64> {
        let n = self.trees.first().map_or(0, |t| t.importance.len());
        let mut total = vec![0.0; n];
        for t in &self.trees {
            for (a, b) in total.iter_mut().zip(&t.importance) {
                *a += b;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(depth: usize) -> TreeLimits {
        TreeLimits {
            max_depth: depth,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: Criterion::Gini,
            max_features: None,
        }
    }

    #[test]
    fn learns_a_threshold_and_keeps_probabilities() {
        // y = 1 when x > 5, with one noisy label on the right.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<u8> = vec![0, 0, 0, 0, 0, 0, 1, 1, 0, 1];
        let feats = bin_columns(&[x], 255);
        let mut rng = StdRng::seed_from_u64(1);
        let tree = Tree::fit(&feats, &y, &[1; 10], &limits(1), &mut rng);
        assert_eq!(tree.depth(), 1);
        assert_eq!(tree.predict_row(&[2.0]), 0.0);
        assert_eq!(tree.predict_row(&[8.0]), 0.75);
        // The threshold lies halfway between 5 and 6.
        assert_eq!(tree.predict_row(&[5.4]), 0.0);
        assert_eq!(tree.predict_row(&[5.6]), 0.75);
    }

    #[test]
    fn depth_limit_and_pure_nodes_stop_growth() {
        let x: Vec<f64> = (0..64).map(f64::from).collect();
        let y: Vec<u8> = (0..64).map(|i| (i % 2) as u8).collect();
        let feats = bin_columns(&[x], 255);
        let mut rng = StdRng::seed_from_u64(1);
        let tree = Tree::fit(&feats, &y, &[1; 64], &limits(3), &mut rng);
        assert!(tree.depth() <= 3);
        let full = Tree::fit(&feats, &y, &[1; 64], &limits(64), &mut rng);
        // Alternating labels need a leaf per sample.
        assert_eq!(full.n_leaves(), 64);
    }

    #[test]
    fn forest_is_deterministic_across_thread_counts() {
        let x: Vec<f64> = (0..200).map(|i| f64::from(i % 37)).collect();
        let z: Vec<f64> = (0..200).map(|i| f64::from((i * 7) % 11)).collect();
        let y: Vec<u8> = (0..200)
            .map(|i| u8::from(i % 37 > 18 || i % 11 == 3))
            .collect();
        let feats = bin_columns(&[x, z], 255);
        let lim = TreeLimits {
            max_features: Some(1),
            ..limits(4)
        };
        let fit = |threads| {
            let s = ForestSettings {
                n_trees: 9,
                bootstrap: true,
                seed: 7,
                threads,
            };
            Forest::fit(&feats, &y, &lim, &s, &|_| true).unwrap()
        };
        assert_eq!(fit(1), fit(3));
    }

    #[test]
    fn binning_caps_bins_and_keeps_order() {
        let x: Vec<f64> = (0..1000).map(f64::from).collect();
        let b = BinnedFeature::new(&x, 16);
        assert!(b.n_bins() <= 16);
        assert!(b.codes.windows(2).all(|w| w[0] <= w[1]));
        assert!(b.thresholds.windows(2).all(|w| w[0] < w[1]));
    }
}
