//! Fit-time benchmarks on the Marvel wikia data (`CEREBRO_BENCH_CSV`, else
//! ../shared/data/marvel-wikia-data.csv, else the committed demo data), with the split and
//! features of `bench/marvel.toml`.
//!
//! - `tree_fit/cerebro_depth8`: binning + fitting the depth-8 CART tree on encoded features
//!   (the peer figure is scikit-learn's `DecisionTreeClassifier(max_depth=8).fit`).
//! - `tree_fit/linfa_trees_depth8`: linfa-trees 0.8 on one-hot features, for the record of why
//!   cerebro has its own tree.
//! - `train_pipeline/*`: encoder fit + model fit + test scoring, per kind.

use std::path::{Path, PathBuf};

use cerebro::train::{self, ModelKind, ModelParams, cart};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;

fn marvel_data() -> cerebro::data::prepare::TrainData {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let csv = std::env::var_os("CEREBRO_BENCH_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/marvel-wikia-data.csv"));
    let (config_path, source) = if csv.exists() {
        let mut src = std::fs::read_to_string(root.join("bench/marvel.toml")).unwrap();
        src = src.replace(
            "path = \"marvel-wikia-data.csv\"",
            &format!("path = {:?}", csv.display().to_string()),
        );
        (root.join("bench/marvel.toml"), src)
    } else {
        eprintln!("{} absent: benchmarking on the demo data", csv.display());
        let p = root.join("config.toml");
        (p.clone(), std::fs::read_to_string(&p).unwrap())
    };
    let config = cerebro::config::Config::parse(Path::new(&config_path), source).unwrap();
    cerebro::data::prepare(&config)
        .unwrap()
        .train_data()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let data = marvel_data();
    let tree =
        ModelParams::resolve(ModelKind::Tree, None, &[("max_depth".into(), "8".into())]).unwrap();
    let ModelParams::Tree(tp) = &tree else {
        unreachable!()
    };
    // The encoded training matrix a tree fit sees.
    let encoder = train::Encoder::fit(
        train::Layout::Ordinal,
        &data.signature.numeric,
        &data.signature.categorical,
        &data.train,
        &data.train_y,
    )
    .unwrap();
    let x = encoder.transform(&data.train);
    let limits = cart::TreeLimits {
        max_depth: tp.max_depth,
        min_samples_split: tp.min_samples_split,
        min_samples_leaf: tp.min_samples_leaf,
        criterion: tp.criterion,
        max_features: None,
    };
    let weights = vec![1u32; x.rows];
    let mut g = c.benchmark_group("tree_fit");
    g.sample_size(30);
    g.bench_function("cerebro_depth8", |b| {
        b.iter(|| {
            let bins = cart::bin_columns(&x.columns, tp.max_bins);
            let mut rng = rand::rngs::StdRng::seed_from_u64(42);
            cart::Tree::fit(&bins, &data.train_y, &weights, &limits, &mut rng)
        })
    });
    // linfa-trees on one-hot features, as scikit-learn sees them.
    let onehot = train::Encoder::fit(
        train::Layout::OneHot,
        &data.signature.numeric,
        &data.signature.categorical,
        &data.train,
        &data.train_y,
    )
    .unwrap()
    .transform(&data.train);
    let xs =
        ndarray::Array2::from_shape_vec((onehot.rows, onehot.columns.len()), onehot.row_major())
            .unwrap();
    let ys: ndarray::Array1<usize> = data.train_y.iter().map(|&v| usize::from(v)).collect();
    let dataset = linfa::Dataset::new(xs, ys);
    g.sample_size(10);
    g.bench_function("linfa_trees_depth8", |b| {
        use linfa::prelude::Fit;
        b.iter(|| {
            linfa_trees::DecisionTree::params()
                .max_depth(Some(8))
                .fit(&dataset)
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("train_pipeline");
    g.sample_size(10);
    for (kind, overrides) in [
        (ModelKind::Tree, vec![("max_depth", "8")]),
        (ModelKind::Logistic, vec![]),
        (ModelKind::Gbt, vec![("n_estimators", "200")]),
    ] {
        let o: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let params = ModelParams::resolve(kind, None, &o).unwrap();
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| train::fit(&data, &params, 42, 1, &train::Silent).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
