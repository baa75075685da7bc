//! `cerebro tune`: trials as runs nested under a parent run (MLflow's `mlflow.parentRunId`),
//! reproducible from a seed, pruning of iterative kinds, and clear errors for bad spaces.

use crate::common::Workspace;
use serde_json::Value;

/// `cerebro tune --json ARGS`.
fn tune(ws: &Workspace, args: &[&str]) -> Value {
    let mut all = vec!["tune", "--json"];
    all.extend_from_slice(args);
    ws.json(&all)
}

/// The sampled params of each trial, in trial order.
fn proposals(result: &Value) -> Vec<Value> {
    result["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["params"].clone())
        .collect()
}

const TREE_SPACE: [&str; 6] = [
    "--model",
    "tree",
    "--space",
    "max_depth=int(2,12)",
    "--space",
    "min_samples_leaf=int(1,200,log)",
];

#[test]
fn tune_nests_every_trial_under_a_parent_run_and_records_the_best() {
    let ws = Workspace::demo();
    // 12 trials: the first 10 are TPE's random start-up, the last 2 come from its estimators.
    let mut args = TREE_SPACE.to_vec();
    args.extend(["--trials", "12", "--max-parallel", "2", "--seed", "7"]);
    let r = tune(&ws, &args);
    assert_eq!(r["sampler"], "tpe");
    assert_eq!(r["interrupted"], false);
    let trials = r["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 12);
    let parent = r["parent_run"].as_str().unwrap().to_string();

    // Every trial is a FINISHED run tagged with its parent and its number, with the sampled
    // params inside the space.
    let children = ws.json(&[
        "runs",
        "list",
        "--json",
        "--filter",
        &format!("tags.mlflow.parentRunId = '{parent}'"),
    ]);
    let children = children.as_array().unwrap();
    assert_eq!(children.len(), 12, "{children:?}");
    let mut best = f64::NEG_INFINITY;
    for t in trials {
        assert_eq!(t["state"], "COMPLETE", "{t}");
        let run = t["run_id"].as_str().unwrap();
        let child = children
            .iter()
            .find(|c| c["run_id"] == run)
            .unwrap_or_else(|| panic!("trial {t} is not a child of {parent}"));
        assert_eq!(child["status"], "FINISHED");
        assert_eq!(child["tags"]["cerebro.tune.trial"], t["number"].to_string());
        let depth: i64 = child["params"]["max_depth"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let leaf: i64 = child["params"]["min_samples_leaf"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (2..=12).contains(&depth) && (1..=200).contains(&leaf),
            "{child}"
        );
        assert_eq!(child["params"]["max_depth"], t["params"]["max_depth"]);
        let auc = child["metrics"]["roc_auc"].as_f64().unwrap();
        assert_eq!(t["value"].as_f64().unwrap(), auc);
        best = best.max(auc);
    }
    assert_eq!(r["best"]["value"].as_f64().unwrap(), best);

    // The parent run records the space, sampler and seed, and points at the best trial.
    let p = ws.json(&["runs", "show", &parent, "--json"]);
    let s = &p["summary"];
    assert_eq!(s["status"], "FINISHED", "{p}");
    assert_eq!(s["model_kind"], "tune");
    assert_eq!(s["params"]["space.max_depth"], "int(2,12)");
    assert_eq!(s["params"]["space.min_samples_leaf"], "int(1,200,log)");
    assert_eq!(s["params"]["sampler"], "tpe");
    assert_eq!(s["params"]["seed"], "7");
    assert_eq!(s["metrics"]["best_roc_auc"].as_f64().unwrap(), best);
    assert_eq!(s["metrics"]["trials_complete"].as_f64().unwrap(), 12.0);
    assert_eq!(p["tags"]["cerebro.tune.best_run"], r["best"]["run_id"]);
    // The parent is not its own child and has no parent.
    assert!(p["tags"]["mlflow.parentRunId"].is_null());
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn the_same_seed_proposes_the_same_trials() {
    let ws = Workspace::demo();
    let mut args = TREE_SPACE.to_vec();
    args.extend([
        "--space",
        "criterion=choice(gini,entropy)",
        "--trials",
        "13",
        "--max-parallel",
        "2",
    ]);
    let with_seed = |seed: &str| {
        let mut a = args.clone();
        a.extend(["--seed", seed]);
        tune(&ws, &a)
    };
    let first = with_seed("11");
    let again = with_seed("11");
    let other = with_seed("12");
    assert_eq!(proposals(&first), proposals(&again));
    assert_ne!(proposals(&first), proposals(&other));
    // Same proposals, same data, same model seed: the same values.
    let values = |r: &Value| -> Vec<Value> {
        r["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["value"].clone())
            .collect()
    };
    assert_eq!(values(&first), values(&again));
    // Three parents, 39 children, each child under its own parent.
    let parents = ws.json(&[
        "runs",
        "list",
        "--json",
        "--filter",
        "attributes.model_kind = 'tune'",
    ]);
    assert_eq!(parents.as_array().unwrap().len(), 3, "{parents}");
}

#[test]
fn pruning_stops_forest_trials_early_and_marks_their_runs() {
    let ws = Workspace::demo();
    // One trial at a time, so the halving rule sees the same trials on every machine.
    let r = tune(
        &ws,
        &[
            "--model",
            "forest",
            "--space",
            "max_depth=int(1,8)",
            "--space",
            "min_samples_leaf=int(1,500,log)",
            "--set",
            "n_trees=16",
            "--trials",
            "8",
            "--max-parallel",
            "1",
            "--pruner",
            "halving",
            "--sampler",
            "random",
            "--seed",
            "3",
        ],
    );
    let trials = r["trials"].as_array().unwrap();
    let pruned: Vec<&Value> = trials.iter().filter(|t| t["state"] == "PRUNED").collect();
    let complete: Vec<&Value> = trials.iter().filter(|t| t["state"] == "COMPLETE").collect();
    assert!(!pruned.is_empty(), "halving pruned nothing: {r}");
    assert!(!complete.is_empty(), "{r}");
    assert_eq!(pruned.len() + complete.len(), 8, "{r}");
    for t in &pruned {
        let run = t["run_id"].as_str().unwrap();
        let shown = ws.json(&["runs", "show", run, "--json"]);
        let s = &shown["summary"];
        assert_eq!(s["status"], "KILLED", "{shown}");
        assert_eq!(shown["tags"]["cerebro.tune.state"], "PRUNED");
        // It kept the test roc_auc of the trees it fitted, and stopped before 16 of them.
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        let last: i64 = conn
            .query_row(
                "SELECT max(step) FROM metrics WHERE run_id = ?1 AND key = 'roc_auc_by_trees'",
                [run],
                |row| row.get(0),
            )
            .unwrap();
        assert!((1..16).contains(&last), "{run} reached {last} trees");
    }
    let parent = ws.json(&["runs", "show", r["parent_run"].as_str().unwrap(), "--json"]);
    assert_eq!(
        parent["summary"]["metrics"]["trials_pruned"]
            .as_f64()
            .unwrap(),
        pruned.len() as f64
    );
}

#[test]
fn bad_spaces_and_requests_are_refused_with_the_place_named() {
    let ws = Workspace::demo();
    let err = ws.fails(&["tune", "--model", "tree", "--space", "max_depth=int(2,"]);
    assert!(
        err.contains("max_depth=int(2,") && err.contains("column"),
        "{err}"
    );
    let err = ws.fails(&["tune", "--model", "tree", "--space", "max_depth=int(0,5)"]);
    assert!(err.contains("max_depth"), "{err}");
    let err = ws.fails(&[
        "tune",
        "--model",
        "tree",
        "--space",
        "max_depth=int(2,5)",
        "--pruner",
        "median",
    ]);
    assert!(err.contains("iterative"), "{err}");
    let err = ws.fails(&[
        "tune",
        "--model",
        "tree",
        "--space",
        "max_depth=int(2,5)",
        "--sampler",
        "bayes",
    ]);
    assert!(err.contains("unknown sampler `bayes`"), "{err}");
    // Nothing was tracked by a refused request.
    assert_eq!(ws.count("runs"), 0);
}

#[test]
fn a_pipeline_train_step_with_a_space_tunes_and_its_best_trial_is_registered() {
    use crate::common::{small_config, small_csv};
    let pipeline = r#"
[[pipelines.search.steps]]
name = "search"
kind = "train"
model = "tree"
space = { max_depth = "int(1,6)", min_samples_leaf = "int(1,40,log)" }
sampler = "random"
trials = 6
seed = 5
max_parallel = 2
[[pipelines.search.steps]]
name = "register"
kind = "register"
after = ["search"]
registered_model = "searched"
"#;
    let ws = Workspace::with_config(&format!("{}\n{pipeline}", small_config("")));
    ws.write("data.csv", small_csv(400).as_bytes());
    let run = ws.json(&["pipeline", "run", "search", "--json"]);
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    let search = &run["steps"][0]["outputs"];
    let trials = search["runs"].as_array().unwrap();
    assert_eq!(trials.len(), 6, "{search}");
    // The trials are nested under one parent run and tagged with the pipeline run.
    let parents = ws.json(&[
        "runs",
        "list",
        "--json",
        "--filter",
        "attributes.model_kind = 'tune'",
    ]);
    let parent = parents[0]["run_id"].as_str().unwrap();
    for id in trials {
        let shown = ws.json(&["runs", "show", id.as_str().unwrap(), "--json"]);
        assert_eq!(shown["tags"]["mlflow.parentRunId"], parent);
        assert_eq!(shown["tags"]["cerebro.pipeline_run"], run["run_id"]);
    }
    // The registered version is the best trial by the gate metric.
    let best = search["best_run"].as_str().unwrap();
    assert!(trials.iter().any(|t| t == best));
    assert_eq!(run["steps"][1]["outputs"]["runs"][0], best);

    // A bad distribution is refused at load, naming the file, line and column of the key and
    // the column inside the distribution.
    let bad = pipeline.replace("int(1,6)", "int(1,6");
    let ws = Workspace::with_config(&format!("{}\n{bad}", small_config("")));
    let err = ws.fails(&["pipeline", "list"]);
    assert!(
        err.contains("config.toml:17:") && err.contains("`int(1,6`: column 8"),
        "{err}"
    );
}
