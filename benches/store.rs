//! Tracking-store benchmarks, the Rust side of `bench/tracking.sh`.
//!
//! - `store/log_metrics_100k`: 100,000 metric points logged into a fresh store, 100 calls of 1,000
//!   points each, as MLflow's `log_batch` is measured by `bench/mlflow_tracking.py`. Building the
//!   points is inside the timed loop there too; opening the store is outside in both.
//! - `store/list_runs_10k` and `store/list_runs_10k_limit_50`: listing a store that holds 10,000
//!   runs and 1,000,000 metric points, all runs and the newest page.
//! - `store/list_runs_100k_filter_3_clauses` and `store/cli_runs_list_filter_100k`: a 3-clause
//!   filter over 100,000 runs, in the store and as the whole `cerebro runs list --filter`
//!   command; each also `_no_index`, on a copy without the filter's key/value indexes.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use cerebro::store::{
    Environment, MetricPoint, NewRun, RunFilter, SqliteStore, TrackingStore, host_name,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const POINTS: usize = 100_000;
const BATCH: usize = 1_000;

const LIST_RUNS: usize = 10_000;
const POINTS_PER_LISTED_RUN: usize = 100;

fn new_run(name: String) -> NewRun {
    NewRun {
        experiment: "bench".to_string(),
        name,
        model_kind: "decision_tree".to_string(),
        params: [("max_depth", "8"), ("criterion", "gini"), ("seed", "42")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags: BTreeMap::new(),
        environment: Environment {
            host: host_name(),
            ..Environment::default()
        },
        data_version: None,
        pid: std::process::id(),
        source: None,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn log_metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    // Each sample opens a fresh store first (untimed), so give the ten samples room.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("log_metrics_100k", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut store = SqliteStore::open(dir.path()).expect("open store");
                let run = store.create_run(&new_run("log".to_string())).unwrap();
                (dir, store, run)
            },
            |(dir, mut store, run)| {
                let timestamp = now_ms();
                for start in (0..POINTS).step_by(BATCH) {
                    let batch: Vec<MetricPoint> = (start..start + BATCH)
                        .map(|i| MetricPoint {
                            key: "loss".to_string(),
                            value: i as f64,
                            step: i as i64,
                            timestamp,
                        })
                        .collect();
                    store.log_metrics(&run, &batch).unwrap();
                }
                // Returned so that closing the store and deleting the folder are not timed.
                (dir, store)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn list_runs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(dir.path()).expect("open store");
    let timestamp = now_ms();
    for r in 0..LIST_RUNS {
        let run = store.create_run(&new_run(format!("run-{r}"))).unwrap();
        let points: Vec<MetricPoint> = (0..POINTS_PER_LISTED_RUN)
            .map(|i| MetricPoint {
                key: if i % 2 == 0 { "loss" } else { "auc" }.to_string(),
                value: i as f64,
                step: (i / 2) as i64,
                timestamp,
            })
            .collect();
        store.log_metrics(&run, &points).unwrap();
    }

    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.throughput(Throughput::Elements(LIST_RUNS as u64));
    group.bench_function("list_runs_10k", |b| {
        b.iter(|| black_box(store.list_runs(&RunFilter::default()).unwrap()));
    });
    let page = RunFilter {
        limit: Some(50),
        ..RunFilter::default()
    };
    group.throughput(Throughput::Elements(50));
    group.bench_function("list_runs_10k_limit_50", |b| {
        b.iter(|| black_box(store.list_runs(&page).unwrap()));
    });
    group.finish();
}

/// Runs in the filtered-listing bench (issue 18: `runs list --filter` on 100,000 runs).
const FILTER_RUNS: usize = 100_000;

/// The filter of the filtered-listing bench: 3 clauses, about 5% of the runs match.
const FILTER: &str =
    "metrics.roc_auc > 0.9 and params.max_depth >= 8 or tags.cerebro.demo = 'maybe'";

/// A workspace for the `runs list` command over the bench store.
const CONFIG: &str = r#"[workspace]
name = "bench"

[dataset]
path = "data.csv"
id = "id"
target = "y"
positive = "yes"
numeric = ["num"]
categorical = ["cat"]
"#;

/// The filter's key/value indexes (store migration 8), dropped for the "before" figures.
const FILTER_INDEXES: [&str; 3] = [
    "latest_metrics_by_key_value",
    "params_by_key_value",
    "tags_by_key_value",
];

/// `list_runs` with [`FILTER`] over 100,000 runs, each with 4 metrics, 3 params and a tag: the
/// expression is compiled to SQL (store::query) and only the matching runs (about 5%) are read
/// with their metrics, params and tags; and the whole `cerebro runs list --filter` command (the
/// release binary: open the workspace, query, print the table) on the same store. Each also
/// without the key/value indexes of migration 8 (a copy of the store with them dropped), side
/// by side.
fn list_runs_filtered(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.toml"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("data.csv"),
        "id,num,cat,y\n1,1,a,yes\n2,2,b,no\n",
    )
    .unwrap();
    let mut store = SqliteStore::open(&dir.path().join(".cerebro")).expect("open store");
    let timestamp = now_ms();
    for r in 0..FILTER_RUNS {
        let mut new = new_run(format!("run-{r}"));
        new.params
            .insert("max_depth".into(), (r % 10 + 1).to_string());
        new.params
            .insert("criterion".into(), ["gini", "entropy"][r % 2].into());
        new.tags
            .insert("cerebro.demo".into(), (r % 3 == 0).to_string());
        let run = store.create_run(&new).unwrap();
        let auc = 0.5 + (r * 7919 % 1000) as f64 / 2000.0;
        let points: Vec<MetricPoint> = [
            ("roc_auc", auc),
            ("f1", auc - 0.1),
            ("tp", 60.0),
            ("fp", 7.0),
        ]
        .into_iter()
        .map(|(k, v)| MetricPoint {
            key: k.to_string(),
            value: v,
            step: 0,
            timestamp,
        })
        .collect();
        store.log_metrics(&run, &points).unwrap();
        store
            .finish_run(&run, cerebro::store::RunStatus::Finished, None)
            .unwrap();
    }
    let filter = RunFilter {
        filter: Some(FILTER.into()),
        ..RunFilter::default()
    };
    let matched = store.list_runs(&filter).unwrap().len();
    assert!(matched > 1000 && matched < 10_000, "{matched} runs match");
    drop(store);

    // The same store without the indexes.
    let bare = tempfile::tempdir().expect("temp dir");
    for f in ["config.toml", "data.csv"] {
        std::fs::copy(dir.path().join(f), bare.path().join(f)).unwrap();
    }
    std::fs::create_dir(bare.path().join(".cerebro")).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(".cerebro/cerebro.db")).unwrap();
        conn.execute(
            "VACUUM INTO ?1",
            [bare.path().join(".cerebro/cerebro.db").to_str().unwrap()],
        )
        .unwrap();
        let conn = rusqlite::Connection::open(bare.path().join(".cerebro/cerebro.db")).unwrap();
        for index in FILTER_INDEXES {
            conn.execute_batch(&format!("DROP INDEX {index}")).unwrap();
        }
    }

    let cli = |ws: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cerebro"))
            .arg("--config")
            .arg(ws.join("config.toml"))
            .args(["runs", "list", "--filter", FILTER])
            .output()
            .expect("run cerebro");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout.len()
    };
    let printed = cli(dir.path());
    assert!(printed > 1000 * 40, "{printed} bytes printed");
    assert_eq!(
        cli(bare.path()),
        printed,
        "the same table without the indexes"
    );

    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    for (label, ws) in [("", dir.path()), ("_no_index", bare.path())] {
        let store = SqliteStore::open(&ws.join(".cerebro")).expect("open store");
        group.bench_function(format!("list_runs_100k_filter_3_clauses{label}"), |b| {
            b.iter(|| black_box(store.list_runs(&filter).unwrap()));
        });
        drop(store);
        group.bench_function(format!("cli_runs_list_filter_100k{label}"), |b| {
            b.iter(|| black_box(cli(ws)));
        });
    }
    group.finish();
}

criterion_group!(benches, log_metrics, list_runs, list_runs_filtered);
criterion_main!(benches);
