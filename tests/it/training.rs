//! Training every model kind, sweeps, and the store they leave behind.

use crate::common::Workspace;

fn train_json(ws: &Workspace, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["train", "--json"];
    all.extend_from_slice(args);
    ws.json(&all).as_array().expect("array of outcomes").clone()
}

#[test]
fn every_model_kind_trains_and_is_tracked() {
    let ws = Workspace::demo();
    let cases: [&[&str]; 4] = [
        &["--model", "tree"],
        &["--model", "logistic"],
        &["--model", "forest", "--set", "n_trees=20"],
        &["--model", "gbt", "--set", "n_estimators=100"],
    ];
    for args in cases {
        let out = train_json(&ws, args);
        assert_eq!(out.len(), 1);
        let run = &out[0]["run"];
        assert_eq!(out[0]["status"], "FINISHED", "{out:?}");
        let auc = run["metrics"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.65 && auc < 0.95, "{args:?}: roc_auc {auc}");
        for key in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "log_loss",
            "confusion",
        ] {
            assert!(!run["metrics"][key].is_null(), "{key} missing");
        }
    }
    let runs = ws.json(&["runs", "list", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for r in runs {
        assert_eq!(r["status"], "FINISHED");
        assert_eq!(r["experiment"], "characters-alive");
        assert!(r["data_version"].as_str().unwrap().len() == 64);
    }
    // One data version, used by all four runs.
    let versions = ws.json(&["data", "versions", "--json"]);
    assert_eq!(versions.as_array().unwrap().len(), 1);
    assert_eq!(versions[0]["runs"].as_array().unwrap().len(), 4);
    // Lineage and artifacts of a run.
    let id = runs[0]["run_id"].as_str().unwrap();
    let detail = ws.json(&["runs", "show", &id[..8], "--json"]);
    let env = &detail["environment"];
    for key in [
        "cerebro_version",
        "os",
        "host",
        "user",
        "config_hash",
        "seed",
    ] {
        assert!(!env[key].is_null(), "environment.{key} missing: {env}");
    }
    let names: Vec<&str> = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"model.json"), "{names:?}");
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn iterative_models_log_metrics_per_step() {
    let ws = Workspace::demo();
    let out = train_json(&ws, &["--model", "forest", "--set", "n_trees=10"]);
    let id = out[0]["run"]["run_id"].as_str().unwrap().to_string();
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let steps: i64 = conn
        .query_row(
            "SELECT count(DISTINCT step) FROM metrics WHERE run_id = ?1 AND key = 'roc_auc_by_trees'",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(steps, 10);
}

#[test]
fn sweep_trains_the_whole_grid() {
    let ws = Workspace::demo();
    let out = train_json(
        &ws,
        &[
            "--model",
            "tree",
            "--sweep",
            "max_depth=2,4",
            "--sweep",
            "min_samples_leaf=1,50",
            "--max-parallel",
            "2",
        ],
    );
    assert_eq!(out.len(), 4);
    let mut combos: Vec<(String, String)> = out
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "FINISHED");
            let p = &o["run"]["params"];
            (
                p["max_depth"].as_str().unwrap().to_string(),
                p["min_samples_leaf"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    combos.sort();
    assert_eq!(
        combos,
        vec![
            ("2".into(), "1".into()),
            ("2".into(), "50".into()),
            ("4".into(), "1".into()),
            ("4".into(), "50".into())
        ]
    );
}

#[test]
fn a_failing_job_is_recorded_failed_and_exits_non_zero() {
    // A numeric feature with no values at all: preparation accepts it, the fit refuses it.
    let ws = Workspace::with_config(&crate::common::small_config(""));
    let mut csv = String::from("id,num,cat,y\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "{i},,{},{}\n",
            ["a", "b"][i % 2],
            ["yes", "no"][i % 3 % 2]
        ));
    }
    ws.write("data.csv", csv.as_bytes());
    let err = ws.fails(&["train", "--model", "tree"]);
    assert!(err.contains("`num` has no values"), "{err}");
    let runs = ws.json(&["runs", "list", "--json"]);
    assert_eq!(runs[0]["status"], "FAILED", "{runs}");
    let detail = ws.json(&[
        "runs",
        "show",
        runs[0]["run_id"].as_str().unwrap(),
        "--json",
    ]);
    assert!(
        detail["error"].as_str().unwrap().contains("no values"),
        "{detail}"
    );
    assert_eq!(ws.integrity(), "ok");
}
