//! The model registry through the real binary: register, gate, promote, rollback, audit,
//! lineage, export/import, concurrent promotions, and bad input that changes nothing.

use crate::common::Workspace;

/// Snapshot of everything the registry holds, to check that refused calls change nothing.
fn state(ws: &Workspace) -> (i64, i64, i64, String) {
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let count = |t: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    let stages: String = conn
        .query_row(
            "SELECT COALESCE(group_concat(version || ':' || stage, ','), '') FROM model_versions",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (
        count("model_versions"),
        count("registry_audit"),
        count("model_aliases"),
        stages,
    )
}

#[test]
fn register_promote_gate_rollback_and_audit() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=3, &[]);
    // max_depth 1 is the weakest, 3 the strongest on this data.
    let v1 = ws.register(&runs[0], "chars");
    let v3 = ws.register(&runs[2], "chars");
    assert_eq!((v1, v3), (1, 2));
    let err = ws.fails(&["models", "register", &runs[2], "--name", "chars"]);
    assert!(err.contains("already registered as chars/2"), "{err}");

    ws.ok(&["models", "promote", "chars", "1"]);
    let out = ws.ok(&["models", "promote", "chars", "2"]);
    assert!(out.contains("chars/1: Production -> Archived"), "{out}");

    // A worse candidate is refused with both values shown, and nothing changes.
    let before = state(&ws);
    let out = ws
        .cmd(&["models", "promote", "chars", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("candidate  v1") && stdout.contains("champion   v2"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the gate refused chars/1"));
    assert_eq!(state(&ws), before);
    let gate = ws
        .cmd(&["models", "gate", "chars", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(1));
    let gate: serde_json::Value = serde_json::from_slice(&gate.stdout).unwrap();
    assert_eq!(gate["passed"], false);
    assert!(gate["candidate_value"].as_f64() < gate["champion_value"].as_f64());
    assert_eq!(gate["champion_version"], 2);

    // --force needs a reason; with one it goes through and is audited.
    let err = ws.fails(&["models", "promote", "chars", "1", "--force"]);
    assert!(err.contains("--force needs --reason"), "{err}");
    assert_eq!(state(&ws), before);
    ws.ok(&[
        "models", "promote", "chars", "1", "--force", "--reason", "hotfix",
    ]);
    let model = ws.json(&["models", "show", "chars", "--json"]);
    assert_eq!(model["model"]["production"], 1);

    // Rollback returns to the version it replaced (2), through the audited path.
    let rec = ws.json(&["models", "rollback", "chars", "--json"]);
    assert_eq!(rec["action"], "rollback");
    assert_eq!(rec["version"], 2);
    let model = ws.json(&["models", "show", "chars", "--json"]);
    assert_eq!(model["model"]["production"], 2);
    assert_eq!(model["model"]["aliases"]["champion"], 2);

    let history = ws.json(&["models", "history", "chars", "--json"]);
    let actions: Vec<(String, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let expect: Vec<(String, i64)> = [
        ("register", 1),
        ("register", 2),
        ("promote", 1),
        ("archive", 1),
        ("promote", 2),
        ("archive", 2),
        ("promote", 1),
        ("archive", 1),
        ("rollback", 2),
    ]
    .iter()
    .map(|(a, v)| (a.to_string(), *v))
    .collect();
    assert_eq!(actions, expect);
    let forced = &history[6];
    assert_eq!(forced["reason"], "hotfix");
    assert_eq!(forced["gate"]["passed"], false);
    assert!(!forced["actor"].as_str().unwrap().is_empty());

    // URIs resolve everywhere a model is named.
    for uri in [
        "chars@champion",
        "chars/Production",
        "chars/2",
        "models:/chars/2",
    ] {
        let l = ws.json(&["models", "lineage", uri, "--json"]);
        assert_eq!(l["version"], 2, "{uri}");
        assert_eq!(l["artifact_present"], true);
        assert_eq!(l["data_snapshot_present"], true);
        assert_eq!(l["run_id"], runs[2].as_str());
        assert!(l["config_hash"].as_str().unwrap().len() == 64);
    }
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn a_candidate_needing_a_column_the_champions_clients_do_not_send_is_refused() {
    let ws = Workspace::demo();
    // The champion does without HAS_GSM, so it reads no GSM column.
    let full = std::fs::read_to_string(ws.path().join("config.toml")).unwrap();
    let without = full.replace("\"HAS_GSM\", \"EARTH616\"]", "\"EARTH616\"]");
    ws.write("config.toml", without.as_bytes());
    let runs = ws.train_trees(1..=1, &[]);
    ws.register(&runs[0], "chars");
    ws.ok(&["models", "promote", "chars", "1"]);
    // The candidate reads GSM again: the champion's clients may not send it.
    ws.write("config.toml", full.as_bytes());
    let out = ws.json(&["train", "--json", "--model", "tree", "--set", "max_depth=6"]);
    let run = out[0]["run"]["run_id"].as_str().unwrap();
    ws.register(run, "chars");
    let before = state(&ws);
    let err = ws.fails(&["models", "promote", "chars", "2"]);
    assert!(
        err.contains("the candidate needs column `GSM` (string)"),
        "{err}"
    );
    assert_eq!(state(&ws), before);
}

#[test]
fn concurrent_promotions_leave_exactly_one_production() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=6, &[]);
    for r in &runs {
        ws.register(r, "chars");
    }
    let children: Vec<_> = (1..=6)
        .map(|v| {
            ws.std_cmd(&[
                "models",
                "promote",
                "chars",
                &v.to_string(),
                "--force",
                "--reason",
                "race",
            ])
            .spawn_output()
        })
        .collect();
    let outs: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert!(winners >= 1);
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("changed while this promote was being decided")
                || err.contains("already in stage"),
            "loser error: {err}"
        );
    }
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let productions: i64 = conn
        .query_row(
            "SELECT count(*) FROM model_versions WHERE stage = 'Production'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(productions, 1);
    let promotes: i64 = conn
        .query_row(
            "SELECT count(*) FROM registry_audit WHERE action = 'promote'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(promotes as usize, winners);
    assert_eq!(ws.integrity(), "ok");
}

trait SpawnOutput {
    fn spawn_output(&mut self) -> std::process::Child;
}

impl SpawnOutput for std::process::Command {
    fn spawn_output(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn bad_registry_input_changes_nothing() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=1, &[]);
    ws.register(&runs[0], "chars");
    let before = state(&ws);
    let cases: [(&[&str], &str); 6] = [
        (
            &["models", "promote", "nope", "1"],
            "registered model not found: nope",
        ),
        (
            &["models", "promote", "chars", "9"],
            "model version not found: chars/9",
        ),
        (
            &["models", "lineage", "chars@ghost"],
            "alias not found: chars@ghost",
        ),
        (&["models", "lineage", "chars/Staging"], "chars/Staging"),
        (
            &["models", "register", "ffffffff", "--name", "chars"],
            "not found",
        ),
        (
            &["models", "promote", "chars", "1", "--to", "Archived"],
            "not Archived",
        ),
    ];
    for (args, needle) in cases {
        let err = ws.fails(args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(state(&ws), before);

    // A failed run cannot be registered.
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute(
        "UPDATE runs SET status = 'FAILED' WHERE run_id = ?1",
        [&runs[0]],
    )
    .unwrap();
    let err = ws.fails(&["models", "register", &runs[0], "--name", "other"]);
    assert!(err.contains("is FAILED"), "{err}");
    conn.execute(
        "UPDATE runs SET status = 'FINISHED' WHERE run_id = ?1",
        [&runs[0]],
    )
    .unwrap();

    // A run whose artifact file was deleted: the error names the missing digest.
    let detail = ws.json(&["runs", "show", &runs[0], "--json"]);
    let artifact = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "model.json")
        .unwrap()
        .clone();
    std::fs::remove_file(
        ws.path()
            .join(".cerebro")
            .join(artifact["path"].as_str().unwrap()),
    )
    .unwrap();
    let err = ws.fails(&["models", "register", &runs[0], "--name", "other"]);
    assert!(err.contains(artifact["digest"].as_str().unwrap()), "{err}");
    assert_eq!(state(&ws), before);
}

#[test]
fn export_then_import_round_trips_a_version() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=1, &[]);
    ws.register(&runs[0], "chars");
    ws.ok(&["models", "promote", "chars", "1"]);
    let dir = ws.path().join("export");
    ws.ok(&["models", "export", "chars@champion", dir.to_str().unwrap()]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["model"], "chars");
    assert_eq!(manifest["lineage"]["run_id"], runs[0].as_str());
    assert!(manifest["digest"].as_str().unwrap().starts_with("sha256:"));

    let other = Workspace::demo();
    let v = other.json(&["models", "import", dir.to_str().unwrap(), "--json"]);
    assert_eq!(v["name"], "chars");
    assert_eq!(v["artifact_digest"], manifest["digest"]);
    assert_eq!(v["metrics"], manifest["metrics"]);
    // A tampered artifact is refused.
    let mut bytes = std::fs::read(dir.join("model.json")).unwrap();
    bytes.push(b' ');
    std::fs::write(dir.join("model.json"), bytes).unwrap();
    let err = other.fails(&["models", "import", dir.to_str().unwrap()]);
    assert!(err.contains("does not match the manifest"), "{err}");
}

#[test]
fn free_form_aliases_resolve_and_are_audited() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=2, &[]);
    ws.register(&runs[0], "chars");
    ws.register(&runs[1], "chars");
    ws.ok(&["models", "alias", "set", "chars", "best", "2"]);
    assert_eq!(
        ws.json(&["models", "lineage", "chars@best", "--json"])["version"],
        2
    );
    let err = ws.fails(&["models", "alias", "set", "chars", "champion", "1"]);
    assert!(err.contains("promote a version instead"), "{err}");
    ws.ok(&["models", "alias", "delete", "chars", "best"]);
    let err = ws.fails(&["models", "lineage", "chars@best"]);
    assert!(err.contains("alias not found: chars@best"), "{err}");
    let history = ws.json(&["models", "history", "chars", "--json"]);
    let tail: Vec<(&str, &str, i64)> = history.as_array().unwrap()[2..]
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["alias"].as_str().unwrap(),
                r["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        vec![("alias_set", "best", 2), ("alias_removed", "best", 2)]
    );
}
