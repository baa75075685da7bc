//! Model kinds, hyper-parameters, fitting and evaluation.
//!
//! A fit takes the prepared train and test tables of one data version, fits the encoder on
//! train only, fits the model, evaluates it on test and returns a [`Model`] (the whole
//! pipeline, saved as the artifact) with its metrics. Everything is deterministic given the
//! seed: the same data version, params and seed give bit-identical metrics.
//!
//! Kinds:
//! - `tree`: a CART decision tree ([`cart`]), probabilities from leaf class shares.
//! - `forest`: a random forest of those trees (bootstrap + per-node feature sampling).
//! - `logistic`: L2-regularised logistic regression (linfa-logistic), standardised inputs.
//! - `gbt`: gradient-boosted trees (forust-ml, histogram-based, XGBoost-style), missing values
//!   handled natively, categorical levels as their target-ordered codes.

pub mod artifact;
pub mod boost;
pub mod cart;
pub mod encode;
pub mod explain;
pub mod metrics;

use std::collections::BTreeMap;
use std::str::FromStr;

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::prepare::TrainData;
use crate::error::{Error, Result};
pub use artifact::Model;
pub use encode::{Encoder, Layout};
pub use metrics::Metrics;

/// The model kinds cerebro trains.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Tree,
    Forest,
    Logistic,
    Gbt,
}

impl ModelKind {
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Tree,
        ModelKind::Logistic,
        ModelKind::Forest,
        ModelKind::Gbt,
    ];
    pub const NAMES: [&'static str; 4] = ["tree", "logistic", "forest", "gbt"];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Tree => "tree",
            ModelKind::Forest => "forest",
            ModelKind::Logistic => "logistic",
            ModelKind::Gbt => "gbt",
        }
    }

    fn layout(self) -> Layout {
        match self {
            ModelKind::Tree | ModelKind::Forest => Layout::Ordinal,
            ModelKind::Logistic => Layout::OneHot,
            ModelKind::Gbt => Layout::Native,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tree" | "decision_tree" => Ok(ModelKind::Tree),
            "forest" | "random_forest" => Ok(ModelKind::Forest),
            "logistic" | "logistic_regression" => Ok(ModelKind::Logistic),
            "gbt" | "gbm" | "boosting" => Ok(ModelKind::Gbt),
            other => Err(Error::invalid(format!(
                "unknown model kind `{other}` (one of {})",
                ModelKind::NAMES.join(", ")
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TreeParams {
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub criterion: cart::Criterion,
    pub max_bins: usize,
}

impl Default for TreeParams {
    fn default() -> Self {
        Self {
            max_depth: 8,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: cart::Criterion::Gini,
            max_bins: 255,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ForestParams {
    pub n_trees: usize,
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Share of features tried at each split; 0 means the square root of their number.
    pub max_features: f64,
    pub bootstrap: bool,
    pub criterion: cart::Criterion,
    pub max_bins: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: 10,
            min_samples_split: 2,
            min_samples_leaf: 5,
            max_features: 0.0,
            bootstrap: true,
            criterion: cart::Criterion::Gini,
            max_bins: 255,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticParams {
    /// L2 penalty strength.
    pub alpha: f64,
    pub max_iter: u64,
    pub gradient_tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iter: 200,
            gradient_tolerance: 1e-5,
        }
    }
}

/// Gradient boosting; the defaults are the LightGBM settings of the course cerebro follows
/// (learning rate 0.01, 1000 trees, depth 6).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GbtParams {
    pub n_estimators: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// L2 regularisation of leaf weights.
    pub l2: f64,
    /// Minimum hessian sum in a leaf.
    pub min_leaf_weight: f64,
    /// Share of rows sampled for each tree (1 = all).
    pub subsample: f64,
    pub nbins: u16,
}

impl Default for GbtParams {
    fn default() -> Self {
        Self {
            n_estimators: 1000,
            learning_rate: 0.01,
            max_depth: 6,
            l2: 1.0,
            min_leaf_weight: 1.0,
            subsample: 1.0,
            nbins: 256,
        }
    }
}

/// Resolved hyper-parameters of one model kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelParams {
    Tree(TreeParams),
    Forest(ForestParams),
    Logistic(LogisticParams),
    Gbt(GbtParams),
}

impl ModelParams {
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelParams::Tree(_) => ModelKind::Tree,
            ModelParams::Forest(_) => ModelKind::Forest,
            ModelParams::Logistic(_) => ModelKind::Logistic,
            ModelParams::Gbt(_) => ModelKind::Gbt,
        }
    }

    /// Parses a TOML table of overrides on top of the kind's defaults; unknown keys and wrong
    /// types are errors naming the key.
    pub fn from_table(kind: ModelKind, table: &toml::Table) -> Result<ModelParams> {
        let value = toml::Value::Table(table.clone());
        let bad = |e: toml::de::Error| {
            Error::invalid(format!(
                "{kind} params: {}{}",
                e.message().trim(),
                param_hint(kind, e.message())
            ))
        };
        let params = match kind {
            ModelKind::Tree => ModelParams::Tree(value.try_into().map_err(bad)?),
            ModelKind::Forest => ModelParams::Forest(value.try_into().map_err(bad)?),
            ModelKind::Logistic => ModelParams::Logistic(value.try_into().map_err(bad)?),
            ModelKind::Gbt => ModelParams::Gbt(value.try_into().map_err(bad)?),
        };
        params.validate()?;
        Ok(params)
    }

    /// Defaults from `[models.<kind>]` in config, then `key=value` overrides.
    pub fn resolve(
        kind: ModelKind,
        config_table: Option<&toml::Table>,
        overrides: &[(String, String)],
    ) -> Result<ModelParams> {
        let mut table = config_table.cloned().unwrap_or_default();
        for (k, v) in overrides {
            table.insert(k.clone(), parse_scalar(v));
        }
        Self::from_table(kind, &table)
    }

    fn validate(&self) -> Result<()> {
        let fail = |m: &str| Err(Error::invalid(format!("{} params: {m}", self.kind())));
        match self {
            ModelParams::Tree(p) if p.max_depth == 0 => fail("max_depth must be at least 1"),
            ModelParams::Tree(p) if !(2..=256).contains(&p.max_bins) => {
                fail("max_bins must be between 2 and 256")
            }
            ModelParams::Forest(p) if p.n_trees == 0 => fail("n_trees must be at least 1"),
            ModelParams::Forest(p) if p.max_depth == 0 => fail("max_depth must be at least 1"),
            ModelParams::Forest(p) if !(0.0..=1.0).contains(&p.max_features) => {
                fail("max_features must be between 0 and 1 (0 = square root)")
            }
            ModelParams::Forest(p) if !(2..=256).contains(&p.max_bins) => {
                fail("max_bins must be between 2 and 256")
            }
            ModelParams::Logistic(p) if p.alpha < 0.0 || !p.alpha.is_finite() => {
                fail("alpha must be a finite number >= 0")
            }
            ModelParams::Logistic(p) if p.max_iter == 0 => fail("max_iter must be at least 1"),
            ModelParams::Gbt(p) if p.n_estimators == 0 => fail("n_estimators must be at least 1"),
            ModelParams::Gbt(p) if !(p.learning_rate > 0.0 && p.learning_rate <= 1.0) => {
                fail("learning_rate must be in (0, 1]")
            }
            ModelParams::Gbt(p) if p.max_depth == 0 => fail("max_depth must be at least 1"),
            ModelParams::Gbt(p) if !(p.subsample > 0.0 && p.subsample <= 1.0) => {
                fail("subsample must be in (0, 1]")
            }
            ModelParams::Gbt(p) if !(2..=256).contains(&p.nbins) => {
                fail("nbins must be between 2 and 256")
            }
            _ => Ok(()),
        }
    }

    /// Flat `key -> value` strings, as logged with a run (defaults included).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self).expect("params serialize");
        let mut out = BTreeMap::new();
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                if k == "kind" {
                    continue;
                }
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(k, s);
            }
        }
        out
    }

    /// The inverse of [`ModelParams::to_map`], for reproducing a run from its logged params.
    pub fn from_map(kind: ModelKind, map: &BTreeMap<String, String>) -> Result<ModelParams> {
        let overrides: Vec<(String, String)> =
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Self::resolve(kind, None, &overrides)
    }
}

/// `8` -> integer, `0.5` -> float, `true` -> bool, anything else a string.
pub fn parse_scalar(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = v.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = v.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(v.to_string())
    }
}

fn param_hint(kind: ModelKind, message: &str) -> String {
    let keys: Vec<String> = match kind {
        ModelKind::Tree => ModelParams::Tree(TreeParams::default()).to_map(),
        ModelKind::Forest => ModelParams::Forest(ForestParams::default()).to_map(),
        ModelKind::Logistic => ModelParams::Logistic(LogisticParams::default()).to_map(),
        ModelKind::Gbt => ModelParams::Gbt(GbtParams::default()).to_map(),
    }
    .into_keys()
    .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    if let Some(name) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        if let Some(c) = crate::error::closest(name, &refs) {
            return format!(" (did you mean `{c}`?)");
        }
        return format!(" (known: {})", refs.join(", "));
    }
    String::new()
}

/// Progress of a fit: stage name, fraction done in `[0, 1]`, message.
pub trait Progress: Sync {
    fn report(&self, stage: &str, fraction: f64, message: &str);
    /// Checked between units of work; a fit returns [`Error::Cancelled`] once it is true.
    fn cancelled(&self) -> bool {
        false
    }
    /// A tuner's hold on an iterative fit (forest, gbt), if any: see [`Pruning`].
    fn pruning(&self) -> Option<&dyn Pruning> {
        None
    }
}

/// A tuner's hold on an iterative fit (`crate::tune::prune`): the tree counts at which the fit
/// reports its test `roc_auc`, and whether it stops there. A stopped fit returns
/// [`Error::Pruned`] with the per-step metrics it computed so far.
pub trait Pruning: Send + Sync {
    /// Tree counts below `total` to report at, ascending.
    fn rungs(&self, total: usize) -> Vec<usize>;
    /// The test `roc_auc` after `trees` trees; `Some(reason)` stops the fit.
    fn report(&self, trees: usize, roc_auc: f64) -> Option<String>;
}

/// The rungs `pruning` asks for below `total`, ascending and without repeats.
fn rungs_of(progress: &dyn Progress, total: usize) -> Vec<usize> {
    let mut r: Vec<usize> = progress
        .pruning()
        .map(|p| p.rungs(total))
        .unwrap_or_default()
        .into_iter()
        .filter(|&r| r > 0 && r < total)
        .collect();
    r.sort_unstable();
    r.dedup();
    r
}

/// Reports the `roc_auc` after `trees` trees (the last step pushed) to the pruning hook;
/// `Err(Pruned)` when it says stop.
fn check_rung(progress: &dyn Progress, trees: usize, steps: &[(i64, String, f64)]) -> Result<()> {
    let Some(hook) = progress.pruning() else {
        return Ok(());
    };
    let auc = steps
        .iter()
        .rev()
        .find(|(s, k, _)| *s == trees as i64 && k == "roc_auc")
        .map_or(f64::NAN, |(_, _, v)| *v);
    match hook.report(trees, auc) {
        None => Ok(()),
        Some(reason) => Err(Error::Pruned(Box::new(crate::error::Pruned {
            trees,
            roc_auc: auc,
            reason,
            steps: steps.to_vec(),
        }))),
    }
}

/// A `Progress` that ignores everything.
pub struct Silent;
impl Progress for Silent {
    fn report(&self, _: &str, _: f64, _: &str) {}
}

/// What a fit produced.
#[derive(Debug)]
pub struct FitOutcome {
    pub model: Model,
    pub metrics: Metrics,
    /// Per-step test metrics for iterative kinds: (step, key, value).
    pub steps: Vec<(i64, String, f64)>,
    /// Unseen categorical values met in the test set.
    pub test_unseen: usize,
    pub fit_ms: f64,
    /// ROC and precision-recall curves of the test set (the `curves.json` artifact).
    pub curves: metrics::Curves,
}

/// The fitted estimator inside a [`Model`].
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Estimator {
    Tree {
        tree: cart::Tree,
    },
    Forest {
        forest: cart::Forest,
    },
    Logistic {
        intercept: f64,
        coef: Vec<f64>,
    },
    Gbt {
        booster: Box<forust_ml::GradientBooster>,
        /// The trees compiled for scoring, built on first use.
        #[serde(skip)]
        compiled: std::sync::OnceLock<Option<boost::Compiled>>,
    },
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Estimator::Tree { tree } => write!(f, "Tree({} leaves)", tree.n_leaves()),
            Estimator::Forest { forest } => write!(f, "Forest({} trees)", forest.trees.len()),
            Estimator::Logistic { coef, .. } => write!(f, "Logistic({} coefficients)", coef.len()),
            Estimator::Gbt { booster, .. } => {
                write!(f, "Gbt({} trees)", booster.trees.len())
            }
        }
    }
}

impl Estimator {
    /// Positive-class probabilities of encoded rows.
    pub fn predict_proba(&self, x: &encode::Encoded) -> Vec<f64> {
        match self {
            Estimator::Tree { tree } => rows_map(x, |r| tree.predict_row(r)),
            Estimator::Forest { forest } => rows_map(x, |r| forest.predict_row(r)),
            Estimator::Logistic { intercept, coef } => rows_map(x, |r| {
                sigmoid(intercept + r.iter().zip(coef).map(|(a, b)| a * b).sum::<f64>())
            }),
            Estimator::Gbt { booster, compiled } => {
                let columns = x.columns.len();
                match compiled.get_or_init(|| boost::Compiled::new(booster, columns)) {
                    Some(c) => c.predict(x).into_iter().map(sigmoid).collect(),
                    None => {
                        let data = x.column_major();
                        let m = forust_ml::Matrix::new(&data, x.rows, columns);
                        booster
                            .predict(&m, false)
                            .into_iter()
                            .map(sigmoid)
                            .collect()
                    }
                }
            }
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `f` of every row; a large batch is split across the cores (rows are independent, so the
/// result does not depend on the split).
fn rows_map(x: &encode::Encoded, f: impl Fn(&[f64]) -> f64 + Sync) -> Vec<f64> {
    let mut out = vec![0.0; x.rows];
    let run = |start: usize, out: &mut [f64]| {
        let mut row = Vec::with_capacity(x.columns.len());
        for (k, o) in out.iter_mut().enumerate() {
            x.row(start + k, &mut row);
            *o = f(&row);
        }
    };
    let threads = if x.rows >= 8192 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    if threads <= 1 {
        run(0, &mut out);
        return out;
    }
    let per = x.rows.div_ceil(threads);
    std::thread::scope(|s| {
        for (i, chunk) in out.chunks_mut(per).enumerate() {
            let run = &run;
            s.spawn(move || run(i * per, chunk));
        }
    });
    out
}

/// Fits `params` on `data.train`, evaluates on `data.test`.
pub fn fit(
    data: &TrainData,
    params: &ModelParams,
    seed: u64,
    threads: usize,
    progress: &dyn Progress,
) -> Result<FitOutcome> {
    let kind = params.kind();
    if data.train.rows == 0 || data.test.rows == 0 {
        return Err(Error::invalid("the train or test set is empty"));
    }
    let positives = data.train_y.iter().filter(|&&y| y == 1).count();
    if positives == 0 || positives == data.train_y.len() {
        return Err(Error::invalid(format!(
            "the training set has one class only ({} rows, all {}): a classifier needs both",
            data.train_y.len(),
            if positives == 0 {
                "negative"
            } else {
                "positive"
            }
        )));
    }
    progress.report("encode", 0.0, "fitting the encoder on the training set");
    let encoder = Encoder::fit(
        kind.layout(),
        &data.signature.numeric,
        &data.signature.categorical,
        &data.train,
        &data.train_y,
    )?;
    let x_train = encoder.transform(&data.train);
    let x_test = encoder.transform(&data.test);
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    let started = std::time::Instant::now();
    let mut steps = Vec::new();
    progress.report("fit", 0.05, &format!("fitting {kind}"));
    let estimator = match params {
        ModelParams::Tree(p) => {
            let bins = cart::bin_columns(&x_train.columns, p.max_bins);
            let limits = cart::TreeLimits {
                max_depth: p.max_depth,
                min_samples_split: p.min_samples_split,
                min_samples_leaf: p.min_samples_leaf,
                criterion: p.criterion,
                max_features: None,
            };
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let weights = vec![1u32; x_train.rows];
            let tree = cart::Tree::fit(&bins, &data.train_y, &weights, &limits, &mut rng);
            Estimator::Tree { tree }
        }
        ModelParams::Forest(p) => {
            let bins = cart::bin_columns(&x_train.columns, p.max_bins);
            let n_features = x_train.columns.len();
            let max_features = if p.max_features == 0.0 {
                (n_features as f64).sqrt().round() as usize
            } else {
                (p.max_features * n_features as f64).round() as usize
            }
            .clamp(1, n_features);
            let limits = cart::TreeLimits {
                max_depth: p.max_depth,
                min_samples_split: p.min_samples_split,
                min_samples_leaf: p.min_samples_leaf,
                criterion: p.criterion,
                max_features: Some(max_features),
            };
            let settings = cart::ForestSettings {
                n_trees: p.n_trees,
                bootstrap: p.bootstrap,
                seed,
                threads,
            };
            let n = p.n_trees;
            let rungs = rungs_of(progress, n);
            // Trees are fitted up to each rung in turn (tree `t` has its own seed, so the
            // forest is the same), and the test metrics follow as trees are added.
            let every = (n / 20).max(1);
            let mut trees: Vec<cart::Tree> = Vec::with_capacity(n);
            let mut row = Vec::new();
            let mut sums = vec![0.0; x_test.rows];
            let mut start = 0;
            for end in rungs.iter().copied().chain([n]) {
                let part = cart::Forest::fit_range(
                    &bins,
                    &data.train_y,
                    &limits,
                    &settings,
                    start..end,
                    &|done| {
                        let done = start + done;
                        progress.report(
                            "fit",
                            0.05 + 0.85 * done as f64 / n as f64,
                            &format!("tree {done}/{n}"),
                        );
                        !progress.cancelled()
                    },
                )
                .ok_or(Error::Cancelled)?;
                for tree in part {
                    for (r, s) in sums.iter_mut().enumerate() {
                        x_test.row(r, &mut row);
                        *s += tree.predict_row(&row);
                    }
                    trees.push(tree);
                    let t = trees.len();
                    if t.is_multiple_of(every) || t == end {
                        let p: Vec<f64> = sums.iter().map(|s| s / t as f64).collect();
                        push_step(&mut steps, t as i64, &data.test_y, &p);
                    }
                }
                if end < n {
                    check_rung(progress, end, &steps)?;
                }
                start = end;
            }
            let forest = cart::Forest { trees };
            Estimator::Forest { forest }
        }
        ModelParams::Logistic(p) => {
            use linfa::traits::Fit;
            let x =
                Array2::from_shape_vec((x_train.rows, x_train.columns.len()), x_train.row_major())
                    .map_err(|e| Error::model(e.to_string()))?;
            let y: Array1<usize> = data.train_y.iter().map(|&v| usize::from(v)).collect();
            let dataset = linfa::Dataset::new(x, y);
            let fitted = linfa_logistic::LogisticRegression::default()
                .alpha(p.alpha)
                .max_iterations(p.max_iter)
                .gradient_tolerance(p.gradient_tolerance)
                .fit(&dataset)
                .map_err(|e| Error::model(format!("logistic regression: {e}")))?;
            // linfa-logistic models P(its own "positive" class), which it picks as the more
            // frequent label (the first seen on a tie), not ours. When it picked 0, the sign of
            // the linear score flips: P(1) = 1 - sigmoid(z) = sigmoid(-z).
            let sign = if fitted.labels().pos.class == 1 {
                1.0
            } else {
                -1.0
            };
            Estimator::Logistic {
                intercept: sign * fitted.intercept(),
                coef: fitted.params().iter().map(|c| sign * c).collect(),
            }
        }
        ModelParams::Gbt(p) => {
            let booster_of = |iterations: usize| {
                forust_ml::GradientBooster::default()
                    .set_objective_type(forust_ml::objective::ObjectiveType::LogLoss)
                    .set_iterations(iterations)
                    .set_learning_rate(p.learning_rate as f32)
                    .set_max_depth(p.max_depth)
                    .set_l2(p.l2 as f32)
                    .set_min_leaf_weight(p.min_leaf_weight as f32)
                    .set_subsample(p.subsample as f32)
                    .set_nbins(p.nbins)
                    .set_seed(seed)
                    .set_parallel(false)
            };
            let flat = x_train.column_major();
            let m = forust_ml::Matrix::new(&flat, x_train.rows, x_train.columns.len());
            let y: Vec<f64> = data.train_y.iter().map(|&v| f64::from(v)).collect();
            let test_flat = x_test.column_major();
            let tm = forust_ml::Matrix::new(&test_flat, x_test.rows, x_test.columns.len());
            let n = p.n_estimators;
            let every = (n / 20).max(1);
            let rungs = rungs_of(progress, n);
            // Test metrics as trees are added (log-odds accumulate tree by tree), at every
            // `every` trees, the last one and the rungs.
            let curve = |booster: &forust_ml::GradientBooster, upto: usize| {
                let mut out = Vec::new();
                let mut logit = vec![booster.base_score; x_test.rows];
                for (t, tree) in booster.trees.iter().take(upto).enumerate() {
                    for (l, v) in logit.iter_mut().zip(tree.predict(&tm, false, &f64::NAN)) {
                        *l += v;
                    }
                    let k = t + 1;
                    if k % every == 0 || k == upto || rungs.contains(&k) {
                        let p: Vec<f64> = logit.iter().map(|&z| sigmoid(z)).collect();
                        push_step(&mut out, k as i64, &data.test_y, &p);
                    }
                }
                out
            };
            // forust-ml has no per-tree callback nor warm start: a pruned trial is fitted to
            // each rung in turn. The first `k` trees of a fit are the fit of `k` trees (same
            // seed), so what a rung sees is what the whole fit would have.
            for &rung in &rungs {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                progress.report(
                    "fit",
                    0.05 + 0.05 * rung as f64 / n as f64,
                    &format!("boosting {rung} trees (a pruning rung)"),
                );
                let mut staged = booster_of(rung);
                staged
                    .fit_unweighted(&m, &y, None)
                    .map_err(|e| Error::model(format!("gradient boosting: {e}")))?;
                let staged_steps = curve(&staged, rung);
                check_rung(progress, rung, &staged_steps)?;
            }
            let mut booster = booster_of(n);
            progress.report("fit", 0.1, &format!("boosting {n} trees"));
            booster
                .fit_unweighted(&m, &y, None)
                .map_err(|e| Error::model(format!("gradient boosting: {e}")))?;
            progress.report("score", 0.8, "test curve");
            steps = curve(&booster, booster.trees.len());
            Estimator::Gbt {
                booster: Box::new(booster),
                compiled: std::sync::OnceLock::new(),
            }
        }
    };
    let fit_ms = started.elapsed().as_secs_f64() * 1e3;
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    progress.report("evaluate", 0.92, "scoring the test set");
    let proba = estimator.predict_proba(&x_test);
    let metrics = metrics::evaluate(&data.test_y, &proba);
    let curves = metrics::curves(&data.test_y, &proba, metrics.confusion);
    let importance = feature_importance(&estimator, &encoder);
    let model = Model::new(
        kind,
        params.clone(),
        data.signature.clone(),
        data.data_version.clone(),
        data.preparation.clone(),
        encoder,
        estimator,
        importance,
    );
    Ok(FitOutcome {
        model,
        metrics,
        steps,
        test_unseen: x_test.unseen,
        fit_ms,
        curves,
    })
}

fn push_step(steps: &mut Vec<(i64, String, f64)>, step: i64, truth: &[u8], p: &[f64]) {
    steps.push((step, "roc_auc".into(), metrics::roc_auc(truth, p)));
    steps.push((step, "log_loss".into(), metrics::log_loss(truth, p)));
}

/// Importance per input feature (one-hot columns summed back to their feature), normalised
/// to sum to 1.
fn feature_importance(estimator: &Estimator, encoder: &Encoder) -> Vec<(String, f64)> {
    let per_column: Vec<f64> = match estimator {
        Estimator::Tree { tree } => tree.importance().to_vec(),
        Estimator::Forest { forest } => forest.importance(),
        Estimator::Logistic { coef, .. } => coef.iter().map(|c| c.abs()).collect(),
        Estimator::Gbt { booster, .. } => {
            let map = booster.calculate_feature_importance(
                forust_ml::gradientbooster::ImportanceMethod::TotalGain,
                false,
            );
            let n = encoder.column_names().len();
            (0..n)
                .map(|i| map.get(&i).copied().unwrap_or(0.0) as f64)
                .collect()
        }
    };
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut col = 0;
    for n in &encoder.numeric {
        out.push((n.name.clone(), per_column.get(col).copied().unwrap_or(0.0)));
        col += 1;
    }
    for c in &encoder.categorical {
        let width = if encoder.layout == Layout::OneHot {
            c.levels.len()
        } else {
            1
        };
        let v: f64 = per_column.iter().skip(col).take(width).sum();
        out.push((c.name.clone(), v));
        col += width;
    }
    let total: f64 = out.iter().map(|(_, v)| v).sum();
    if total > 0.0 {
        for (_, v) in &mut out {
            *v /= total;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::{FeatureTable, Signature};
    use rand::Rng;

    /// A noisy but learnable table: `x` and a 3-level `c` decide the label; `rate` is the
    /// share of positives (1).
    fn table(rows: usize, rate: f64, seed: u64) -> (FeatureTable, Vec<u8>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut c = Vec::new();
        let mut score = Vec::new();
        for i in 0..rows {
            let v: f64 = rng.r#gen::<f64>() * 10.0;
            let level = ["a", "b", "c"][i % 3];
            x.push(Some(v));
            c.push(Some(level.to_string()));
            score.push(v + if level == "a" { 2.0 } else { 0.0 } + rng.r#gen::<f64>() * 4.0);
        }
        let mut sorted = score.clone();
        sorted.sort_by(f64::total_cmp);
        let cut = sorted[((1.0 - rate) * rows as f64) as usize];
        let y = score.iter().map(|&s| u8::from(s >= cut)).collect();
        let t = FeatureTable {
            rows,
            numeric: vec![x],
            categorical: vec![c],
        };
        (t, y)
    }

    fn data(rate: f64, flip: bool) -> TrainData {
        let (train, mut train_y) = table(400, rate, 1);
        let (test, mut test_y) = table(200, rate, 2);
        if flip {
            for y in train_y.iter_mut().chain(test_y.iter_mut()) {
                *y = 1 - *y;
            }
        }
        let signature = Signature {
            numeric: vec!["x".into()],
            categorical: vec!["c".into()],
            id: None,
            target: "y".into(),
            positive: "yes".into(),
            raw_inputs: None,
        };
        TrainData {
            preparation: crate::data::Preparation::identity(&signature),
            signature,
            train,
            train_y,
            test,
            test_y,
            data_version: "test".into(),
        }
    }

    fn params(kind: ModelKind) -> ModelParams {
        let set: &[(&str, &str)] = match kind {
            ModelKind::Forest => &[("n_trees", "15")],
            ModelKind::Gbt => &[("n_estimators", "60"), ("learning_rate", "0.1")],
            _ => &[],
        };
        let set: Vec<(String, String)> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ModelParams::resolve(kind, None, &set).unwrap()
    }

    /// The positive class is ours whatever its frequency: every kind ranks the positives high
    /// with the positive class a minority, half or the majority, and with the labels swapped;
    /// logistic regression gives exactly the complementary probability (`1 - p`) to every test
    /// row, so the library's own class order (linfa-logistic calls the more frequent class
    /// positive) cannot leak in.
    #[test]
    fn every_kind_predicts_our_positive_class_minority_or_majority() {
        for kind in ModelKind::ALL {
            for rate in [0.2, 0.5, 0.8] {
                let a = fit(&data(rate, false), &params(kind), 7, 1, &Silent).unwrap();
                let b = fit(&data(rate, true), &params(kind), 7, 1, &Silent).unwrap();
                // A leaked class order scores the other class: ROC AUC near 1 - 0.9.
                for (m, swapped) in [(&a.metrics, false), (&b.metrics, true)] {
                    assert!(
                        m.roc_auc > 0.8,
                        "{kind} at positive rate {rate} (labels swapped: {swapped}): roc_auc {}",
                        m.roc_auc
                    );
                }
                // Logistic regression is the kind fitted through a library with its own class
                // order; its optimum mirrors exactly when the labels swap. (Trees break ties
                // between equal splits by the level order, which the swap changes, and forust
                // boosts in f32: both only near-mirror, which the AUC check above covers.)
                if kind != ModelKind::Logistic {
                    continue;
                }
                let x = data(rate, false).test;
                let (pa, _) = a.model.predict_proba(&x);
                let (pb, _) = b.model.predict_proba(&x);
                let tolerance = 1e-6;
                for (i, (p, q)) in pa.iter().zip(&pb).enumerate() {
                    assert!(
                        (p + q - 1.0).abs() < tolerance,
                        "{kind} at positive rate {rate}, row {i}: P(1) = {p} but with the \
                         labels swapped P(1) = {q}"
                    );
                }
                // AUC is symmetric under swapping both labels and scores.
                assert!((a.metrics.roc_auc - b.metrics.roc_auc).abs() < tolerance);
            }
        }
    }

    /// Every kind's explanation adds up to its raw score (probability for tree and forest,
    /// log-odds for gbt and logistic) within 1e-9, on every test row, with missing values (gbt
    /// sends NaN down its missing branches) and an unseen level among them; the probabilities
    /// are the same with and without explanations.
    #[test]
    fn explanations_add_up_to_the_raw_score() {
        let mut d = data(0.5, false);
        d.test.numeric[0][3] = None;
        d.test.categorical[0][4] = Some("never seen".into());
        d.test.categorical[0][5] = None;
        for kind in ModelKind::ALL {
            let fit = fit(&d, &params(kind), 7, 1, &Silent).unwrap();
            let m = &fit.model;
            let x = m.encoder.transform(&d.test);
            let p = m.estimator.predict_proba(&x);
            let e = m.explainer().unwrap().explain(&x);
            assert_eq!(e.features, vec!["x".to_string(), "c".to_string()]);
            for (r, &pr) in p.iter().enumerate() {
                let raw = match e.scale {
                    explain::RawScale::Probability => pr,
                    explain::RawScale::LogOdds => (pr / (1.0 - pr)).ln(),
                };
                assert!(
                    (e.raw_score(r) - raw).abs() < 1e-9,
                    "{kind} row {r}: base {} + contributions {:?} = {} but the model scores {raw}",
                    e.base_value,
                    e.row(r),
                    e.raw_score(r)
                );
            }
            // A feature the model uses moves some record.
            assert!(e.contributions.iter().any(|c| c.abs() > 1e-6), "{kind}");
        }
    }

    /// The boosted model's TreeSHAP agrees with forust-ml's own `Shapley` contributions (an
    /// independent implementation, in f32, hence the tolerance).
    #[test]
    fn gbt_explanations_match_forust_shapley() {
        let mut d = data(0.5, false);
        d.test.numeric[0][3] = None;
        let fit = fit(&d, &params(ModelKind::Gbt), 7, 1, &Silent).unwrap();
        let m = &fit.model;
        let x = m.encoder.transform(&d.test);
        let e = m.explainer().unwrap().explain(&x);
        let Estimator::Gbt { booster, .. } = &m.estimator else {
            panic!("not a gbt")
        };
        let data = x.column_major();
        let matrix = forust_ml::Matrix::new(&data, x.rows, x.columns.len());
        let theirs = booster.predict_contributions(
            &matrix,
            forust_ml::gradientbooster::ContributionsMethod::Shapley,
            false,
        );
        let cols = x.columns.len();
        for r in 0..x.rows {
            for (f, ours) in e.row(r).iter().enumerate() {
                let t = theirs[r * (cols + 1) + f];
                assert!(
                    (ours - t).abs() < 1e-4,
                    "row {r} feature {f}: {ours} vs forust {t}"
                );
            }
        }
    }
}
