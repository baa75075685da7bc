//! The demo workspace: generated data, starter config, the headless demo.

use crate::common::{Workspace, repo};

#[test]
fn demo_data_reproduces_the_committed_file_byte_for_byte() {
    let ws = Workspace::with_config("");
    ws.ok(&["demo-data", "--out", "regen.csv"]);
    let regenerated = std::fs::read(ws.path().join("regen.csv")).unwrap();
    let committed = std::fs::read(repo().join("data/characters.csv")).unwrap();
    assert!(
        regenerated == committed,
        "data/characters.csv differs from `cerebro demo-data`"
    );
}

#[test]
fn init_writes_a_starter_that_prepares() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace { dir };
    ws.ok(&["init", "."]);
    assert!(ws.path().join("config.toml").exists());
    assert_eq!(
        std::fs::read_to_string(ws.path().join(".gitignore")).unwrap(),
        ".cerebro/\n"
    );
    let err = ws.fails(&["init", "."]);
    assert!(err.contains("already exists"), "{err}");
    ws.ok(&["demo-data"]);
    let report = ws.json(&["data", "prepare", "--json"]);
    assert_eq!(report["new_version"], true);
    let train = report["train_rows"].as_u64().unwrap();
    let test = report["test_rows"].as_u64().unwrap();
    assert!((test as f64 / (train + test) as f64 - 0.2).abs() < 0.01);
    // Preparing again gives the same version and no new snapshot.
    let again = ws.json(&["data", "prepare", "--json"]);
    assert_eq!(again["data_version"], report["data_version"]);
    assert_eq!(again["new_version"], false);
    let profile = ws.json(&["data", "profile", "--json"]);
    assert_eq!(profile["columns"].as_array().unwrap().len(), 13);
}

#[test]
fn parquet_datasets_load_like_csv() {
    let ws = Workspace::demo();
    let report = ws.json(&["data", "prepare", "--json"]);
    // The snapshot of the training split is a Parquet file of its raw rows.
    let snapshot = std::path::Path::new(report["snapshot"].as_str().unwrap()).join("train.parquet");
    let config = std::fs::read_to_string(ws.path().join("config.toml"))
        .unwrap()
        .replace(
            "path = \"data/characters.csv\"",
            &format!(
                "path = {:?}",
                ws.path().join(&snapshot).display().to_string()
            ),
        );
    let pq = Workspace::with_config(&config);
    let r = pq.json(&["data", "prepare", "--json"]);
    assert_eq!(
        r["raw_rows"].as_u64().unwrap(),
        report["train_rows"].as_u64().unwrap()
    );
    let out = pq.json(&["train", "--json", "--model", "tree"]);
    assert_eq!(out[0]["status"], "FINISHED", "{out}");
}
