//! Registry listing at scale: 1,000 registered models x 100 versions each (100,000 versions).
//!
//! - `registry/list_models`: the core call behind `cerebro models list`.
//! - `registry/cli_models_list_json`: the whole `cerebro models list --json` command (process
//!   start, opening the store, the query, JSON to stdout); the target is a median under 100 ms.
//!
//! The store is built once in a temporary folder (about 100,000 registrations).

use std::collections::BTreeMap;
use std::process::Command;

use cerebro::data::schema::Signature;
use cerebro::registry::{NewVersion, RegistryStore, Stage, Transition};
use cerebro::store::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};

const MODELS: usize = 1_000;
const VERSIONS: usize = 100;

fn seed(dir: &std::path::Path) {
    let mut store = SqliteStore::open(&dir.join(".cerebro")).unwrap();
    let signature = Signature {
        numeric: vec!["APPEARANCES".into(), "Year".into()],
        categorical: vec!["ALIGN".into(), "SEX".into()],
        id: Some("page_id".into()),
        target: "ALIVE".into(),
        positive: "Living".into(),
        raw_inputs: None,
    };
    let metrics: BTreeMap<String, f64> = [("roc_auc".to_string(), 0.7), ("f1".to_string(), 0.8)]
        .into_iter()
        .collect();
    for m in 0..MODELS {
        let name = format!("model-{m:04}");
        for v in 0..VERSIONS {
            store
                .create_version(&NewVersion {
                    name: name.parse().unwrap(),
                    run_id: Some(format!("{m:016x}{v:016x}")),
                    artifact_digest: format!("sha256:{:064x}", m * VERSIONS + v),
                    signature: signature.clone(),
                    data_version: Some(format!("{:064x}", m)),
                    metrics: metrics.clone(),
                    tags: BTreeMap::new(),
                    description: String::new(),
                    source: "bench".into(),
                    actor: "bench".into(),
                    action: "register",
                })
                .unwrap();
        }
        store
            .transition(&Transition {
                name,
                version: VERSIONS as i64,
                to: Stage::Production,
                expected_production: None,
                actor: "bench".into(),
                reason: None,
                gate: None,
                action: "promote",
            })
            .unwrap();
    }
    std::fs::write(
        dir.join("config.toml"),
        "[dataset]\npath = \"none.csv\"\ntarget = \"y\"\npositive = \"1\"\nnumeric = [\"x\"]\n",
    )
    .unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    seed(dir.path());
    eprintln!(
        "seeded {MODELS} models x {VERSIONS} versions in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let store = SqliteStore::open(&dir.path().join(".cerebro")).unwrap();
    assert_eq!(store.list_models().unwrap().len(), MODELS);
    let mut g = c.benchmark_group("registry");
    g.sample_size(30);
    g.bench_function("list_models", |b| b.iter(|| store.list_models().unwrap()));
    let bin = env!("CARGO_BIN_EXE_cerebro");
    g.bench_function("cli_models_list_json", |b| {
        b.iter(|| {
            let out = Command::new(bin)
                .current_dir(dir.path())
                .args(["models", "list", "--json"])
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
