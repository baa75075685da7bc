//! The traffic simulator against a real `cerebro serve` on 127.0.0.1: each drift scenario is
//! sent through the endpoint, the inference log and the labels are ingested by the real
//! binary, and the drift and realised quality it reports are checked: scaled and skewed
//! features are flagged, undrifted traffic is not, and a concept shift leaves the inputs
//! unflagged while accuracy drops.

use serde_json::Value;

use crate::common::{Server, Workspace};

/// Windows of a day, so that a few seconds of traffic fall into one window.
const MONITORING: &str = "\n[monitoring]\ngranularities = [\"1d\"]\n";

/// The demo workspace with a quick tree as `chars` version 1 in Production.
fn trained() -> Workspace {
    let ws = Workspace::demo();
    let path = ws.path().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(MONITORING);
    std::fs::write(&path, config).unwrap();
    let runs = ws.train(&["--model", "tree", "--set", "max_depth=6"]);
    ws.register(&runs[0], "chars");
    ws.ok(&["models", "promote", "chars", "1"]);
    ws
}

/// Serves as endpoint `name`, simulates `drift` for 4 s at 250 req/s (1,000 records: with a few
/// hundred, sampling noise alone reaches Evidently's 0.1 Wasserstein threshold), stops the server and
/// ingests; returns the simulator's report and the endpoint's latest drift window.
fn scenario(ws: &Workspace, name: &str, drift: &str, seed: &str) -> (Value, Value) {
    let mut server = Server::start(ws, &["--name", name], &[]);
    let report = ws.json(&[
        "simulate",
        "--endpoint",
        &server.base,
        "--rate",
        "250",
        "--duration",
        "4",
        "--drift",
        drift,
        "--seed",
        seed,
        "--json",
    ]);
    server.terminate();
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["sent"], 1000, "{report}");
    assert_eq!(report["ok"], 1000, "{report}");
    assert_eq!(report["labels_written"], 1000, "{report}");
    let ingest = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(ingest["ingest"]["corrupt"], 0, "{ingest}");
    let d = ws.json(&[
        "monitor",
        "drift",
        "--endpoint",
        name,
        "--window",
        "1d",
        "--json",
    ]);
    let w = d.as_array().expect("windows")[0].clone();
    assert_eq!(w["endpoint"], name, "{w}");
    assert_eq!(w["records"], 1000, "{w}");
    (report, w)
}

fn drifted(w: &Value, name: &str) -> bool {
    w["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {w}"))["drifted"]
        .as_bool()
        .unwrap()
}

/// The model's features flagged as drifted (raw columns, `raw:NAME`, are reported beside them
/// and not counted, as dataset drift does not count them).
fn flagged(w: &Value) -> Vec<String> {
    w["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true && !f["name"].as_str().unwrap().starts_with("raw:"))
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// Realised accuracy of an endpoint: its kept predictions joined with the labels by record id.
fn accuracy(ws: &Workspace, endpoint: &str) -> (f64, i64) {
    let conn = rusqlite::Connection::open(ws.path().join(".cerebro/cerebro.db")).unwrap();
    conn.query_row(
        "SELECT avg(p.prediction = l.label), count(*) FROM monitor_predictions p
         JOIN monitor_labels l USING (record_id) WHERE p.endpoint = ?1",
        [endpoint],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn simulated_drift_is_flagged_and_undrifted_traffic_is_not() {
    let ws = trained();

    let (_, w) = scenario(&ws, "sim-none", "none", "1");
    // Dataset drift (Evidently's rule: half the features drifted) is the verdict; a single
    // feature can cross its threshold by sampling noise alone (bench/simulate_false_alarms.sh
    // measures how often).
    assert_eq!(w["dataset_drift"], false, "no drift sent, yet flagged: {w}");
    assert!(flagged(&w).len() <= 1, "{w}");
    let (acc_none, labelled) = accuracy(&ws, "sim-none");
    assert_eq!(labelled, 1000);

    // The simulator sends raw records; drift is found on the features the model derived from
    // them, and on the raw column too where it differs from its feature.
    let (_, w) = scenario(&ws, "sim-scale", "scale:Year=1.5", "2");
    assert!(drifted(&w, "Year"), "{w}");
    assert!(drifted(&w, "raw:Year"), "{w}");

    let (_, w) = scenario(&ws, "sim-skew", "skew:SEX=Female Characters:0.7", "3");
    assert!(drifted(&w, "SEX"), "{w}");
    assert!(drifted(&w, "raw:SEX"), "{w}");

    let (report, w) = scenario(&ws, "sim-concept", "concept", "4");
    assert_eq!(
        w["dataset_drift"], false,
        "a concept shift changes no input: {w}"
    );
    assert!(flagged(&w).len() <= 1, "{w}");
    assert!(report["labels_flipped"].as_u64().unwrap() > 300, "{report}");
    let (acc_concept, labelled) = accuracy(&ws, "sim-concept");
    assert_eq!(labelled, 1000);
    assert!(
        acc_concept < acc_none - 0.3,
        "accuracy {acc_concept} under the concept shift vs {acc_none} without"
    );
}

#[test]
fn bad_simulator_arguments_are_refused_with_the_reason() {
    let ws = Workspace::demo();
    let err = ws.fails(&[
        "simulate",
        "--endpoint",
        "http://127.0.0.1:9",
        "--drift",
        "scale:Nope=2",
    ]);
    assert!(err.contains("not a numeric column"), "{err}");
    let err = ws.fails(&[
        "simulate",
        "--endpoint",
        "http://127.0.0.1:9",
        "--drift",
        "flip",
    ]);
    assert!(err.contains("drift scenario `flip`"), "{err}");
    let err = ws.fails(&["simulate", "--endpoint", "127.0.0.1:9"]);
    assert!(err.contains("not an http"), "{err}");
}
