//! Scoring a gradient-boosted model: forust-ml's trees compiled into one flat array of small
//! nodes and walked a block of rows at a time, so a tree's nodes stay in the cache while every
//! row of the block goes through it. Large batches are split across the cores.
//!
//! Written here because forust-ml's `predict` allocates a vector per tree and reads its matrix
//! column-major with large nodes (80 bytes), several times slower on a million rows. The sum
//! is taken in forust's order (the base score, then every tree in order, each leaf weight widened
//! from `f32` as forust widens it), so the log-odds are bit for bit forust's `predict`.

use forust_ml::GradientBooster;

use super::encode::Encoded;

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

/// Rows walked through a tree together.
const BLOCK: usize = 64;

/// Batches at least this large are split across threads.
const PARALLEL_ROWS: usize = 8192;

/// One node: a split (`value < split` goes left, NaN goes to `missing`) or a leaf (`split` holds
/// the leaf weight).
#[derive(Debug, Clone, Copy)]
struct Node {
    split: f64,
    feature: u32,
    left: u32,
    right: u32,
    missing: u32,
}

/// A booster's prediction trees, compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    base: f64,
    columns: usize,
}

impl Compiled {
    /// Compiles `booster` (its prediction trees: all, or the first `prediction_iteration`).
    /// `None` when the booster does not treat NaN as missing (cerebro always does).
    pub fn new(booster: &GradientBooster, columns: usize) -> Option<Compiled> {
        if !booster.missing.is_nan() {
            return None;
        }
        let n = booster
            .prediction_iteration
            .unwrap_or(booster.trees.len())
            .min(booster.trees.len());
        let mut nodes = Vec::new();
        let mut roots = Vec::with_capacity(n);
        for tree in &booster.trees[..n] {
            let offset = nodes.len() as u32;
            roots.push(offset);
            for node in &tree.nodes {
                nodes.push(if node.is_leaf {
                    Node {
                        split: node.weight_value as f64,
                        feature: LEAF,
                        left: 0,
                        right: 0,
                        missing: 0,
                    }
                } else {
                    if node.split_feature >= columns {
                        return None;
                    }
                    Node {
                        split: node.split_value,
                        feature: node.split_feature as u32,
                        left: offset + node.left_child as u32,
                        right: offset + node.right_child as u32,
                        missing: offset + node.missing_node as u32,
                    }
                });
            }
        }
        Some(Compiled {
            nodes,
            roots,
            base: booster.base_score,
            columns,
        })
    }

    /// The log-odds of every row of `x` (which must have the booster's columns).
    pub fn predict(&self, x: &Encoded) -> Vec<f64> {
        let mut out = vec![0.0; x.rows];
        let threads = if x.rows >= PARALLEL_ROWS {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        if threads <= 1 {
            self.predict_range(x, 0, &mut out);
            return out;
        }
        let per = x.rows.div_ceil(threads).div_ceil(BLOCK) * BLOCK;
        std::thread::scope(|s| {
            for (i, chunk) in out.chunks_mut(per).enumerate() {
                s.spawn(move || self.predict_range(x, i * per, chunk));
            }
        });
        out
    }

    /// Rows `start..start + out.len()` of `x`, block by block.
    fn predict_range(&self, x: &Encoded, start: usize, out: &mut [f64]) {
        let cols = self.columns;
        let mut buf = vec![0.0f64; BLOCK * cols];
        for (b, acc) in out.chunks_mut(BLOCK).enumerate() {
            let first = start + b * BLOCK;
            let n = acc.len();
            for (c, col) in x.columns.iter().enumerate().take(cols) {
                for r in 0..n {
                    buf[r * cols + c] = col[first + r];
                }
            }
            acc.fill(self.base);
            for &root in &self.roots {
                for (r, a) in acc.iter_mut().enumerate() {
                    let row = &buf[r * cols..r * cols + cols];
                    let mut i = root as usize;
                    loop {
                        let node = self.nodes[i];
                        if node.feature == LEAF {
                            *a += node.split;
                            break;
                        }
                        let v = row[node.feature as usize];
                        i = if v.is_nan() {
                            node.missing
                        } else if v < node.split {
                            node.left
                        } else {
                            node.right
                        } as usize;
                    }
                }
            }
        }
    }
}
