//! Runs: compare, reproduce, and runs whose process was killed.

use std::time::{Duration, Instant};

use crate::common::Workspace;

#[test]
fn reproduce_reports_an_exact_match() {
    let ws = Workspace::demo();
    for args in [
        ["--model", "gbt", "--set", "n_estimators=100"],
        ["--model", "forest", "--set", "n_trees=15"],
    ] {
        let mut all = vec!["train", "--json"];
        all.extend_from_slice(&args);
        let out = ws.json(&all);
        let id = out[0]["run"]["run_id"].as_str().unwrap().to_string();
        let repro = ws.json(&["runs", "reproduce", &id, "--json"]);
        assert_eq!(repro["exact_match"], true, "{repro}");
        assert!(repro["metrics"].as_array().unwrap().len() >= 6);
        let new = ws.json(&["runs", "show", repro["new_run"].as_str().unwrap(), "--json"]);
        assert_eq!(new["source"], format!("reproduce:{id}"));
    }
}

#[test]
fn reproduce_survives_a_changed_source_file() {
    let ws = Workspace::demo();
    let out = ws.json(&["train", "--json", "--model", "tree"]);
    let id = out[0]["run"]["run_id"].as_str().unwrap().to_string();
    // The source file changes; the snapshot keeps the run's exact data.
    ws.write("data/characters.csv", b"page_id\n1\n");
    let repro = ws.json(&["runs", "reproduce", &id, "--json"]);
    assert_eq!(repro["exact_match"], true, "{repro}");
}

#[test]
fn compare_marks_the_best_value() {
    let ws = Workspace::demo();
    let a = ws.json(&["train", "--json", "--model", "tree", "--set", "max_depth=2"]);
    let b = ws.json(&["train", "--json", "--model", "tree", "--set", "max_depth=6"]);
    let ida = a[0]["run"]["run_id"].as_str().unwrap();
    let idb = b[0]["run"]["run_id"].as_str().unwrap();
    let cmp = ws.json(&["runs", "compare", ida, idb, "--json"]);
    assert_eq!(cmp["params"]["max_depth"], serde_json::json!(["2", "6"]));
    let auc = cmp["metrics"]["roc_auc"].as_array().unwrap();
    let best = if auc[0].as_f64() > auc[1].as_f64() {
        ida
    } else {
        idb
    };
    assert_eq!(cmp["best"]["roc_auc"], best);
    let diff = ws.json(&["runs", "compare", ida, idb, "--diff", "--json"]);
    assert!(
        diff["params"]["criterion"].is_null(),
        "--diff hides equal rows"
    );
    let text = ws.ok(&["runs", "compare", ida, idb]);
    assert!(text.contains("metric roc_auc"), "{text}");
}

#[test]
fn a_run_killed_with_sigkill_shows_as_killed() {
    let ws = Workspace::demo();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cerebro"))
        .current_dir(ws.path())
        .args(["train", "--model", "forest", "--set", "n_trees=100000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the run never started");
        if ws.count_so_far("runs") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let runs = ws.json(&["runs", "list", "--json"]);
    assert_eq!(runs[0]["status"], "KILLED", "{runs}");
    let detail = ws.json(&[
        "runs",
        "show",
        runs[0]["run_id"].as_str().unwrap(),
        "--json",
    ]);
    assert!(
        detail["error"].as_str().unwrap().contains("exited"),
        "{detail}"
    );
    assert_eq!(ws.integrity(), "ok");
}
