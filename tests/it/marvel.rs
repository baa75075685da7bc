//! The real Marvel wikia data from ../shared (skipped with a reason where it is absent).

use crate::common::{Workspace, repo};

const CONFIG: &str = r#"
[dataset]
path = "marvel-wikia-data.csv"
id = "page_id"
target = "ALIVE"
positive = "Living Characters"
numeric = ["APPEARANCES", "Year"]
categorical = ["ID", "ALIGN", "EYE", "HAIR", "SEX", "GSM"]

[split]
test_fraction = 0.2
seed = 42
stratify = true

[train]
experiment = "marvel"
"#;

fn workspace() -> Option<Workspace> {
    let csv = repo().join("../shared/data/marvel-wikia-data.csv");
    if !csv.exists() {
        eprintln!(
            "skipped: {} is absent (it is not part of the repository)",
            csv.display()
        );
        return None;
    }
    let ws = Workspace::with_config(CONFIG);
    std::fs::copy(csv, ws.path().join("marvel-wikia-data.csv")).unwrap();
    Some(ws)
}

#[test]
fn every_kind_trains_on_the_marvel_wikia_file() {
    let Some(ws) = workspace() else { return };
    let report = ws.json(&["data", "prepare", "--json"]);
    assert_eq!(report["raw_rows"], 16376);
    assert_eq!(report["dropped_missing_target"], 3);
    assert_eq!(
        report["train_rows"].as_u64().unwrap() + report["test_rows"].as_u64().unwrap(),
        16373
    );
    for kind in ["tree", "logistic", "forest", "gbt"] {
        let out = ws.json(&["train", "--json", "--model", kind]);
        assert_eq!(out[0]["status"], "FINISHED", "{out}");
        let auc = out[0]["run"]["metrics"]["roc_auc"].as_f64().unwrap();
        eprintln!("marvel {kind}: roc_auc {auc:.4}");
        assert!(auc > 0.58, "{kind}: roc_auc {auc}");
    }
}
