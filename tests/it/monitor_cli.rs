//! `cerebro monitor` through the real binary on a real store: a trained and registered model,
//! inference-log lines in the serving log format, drift flagged for a scaled feature and not for
//! undrifted data, realised quality from predictions joined with labels, an alert opened and
//! resolved with its hook's file, and the HTML report.

use std::fmt::Write as _;

use serde_json::Value;

use crate::common::{Workspace, small_config, small_csv};

/// Window starts are minute-aligned.
const T0: i64 = 1_699_999_980_000;
const MINUTE: i64 = 60_000;

fn workspace(extra: &str) -> Workspace {
    let ws = Workspace::with_config(&small_config(extra));
    ws.write("data.csv", small_csv(800).as_bytes());
    let runs = ws.train(&["--model", "tree", "--max-parallel", "1"]);
    ws.register(&runs[0], "m");
    ws
}

/// `n` log lines in the window starting `minute` minutes after T0, records drawn like the
/// training data with `num` multiplied by `scale`; ids `<tag>-<i>`.
fn lines(tag: &str, minute: i64, n: usize, scale: f64) -> String {
    let mut s = String::new();
    for i in 0..n {
        let num = (i * 37 % 101) as f64 / 10.0 * scale;
        let cat = ["a", "b", "c"][i % 3];
        let p = (num / 10.0).clamp(0.0, 1.0);
        let _ = writeln!(
            s,
            "{{\"request_id\":\"{tag}-r{i}\",\"client_request_id\":null,\"timestamp_ms\":{},\
             \"endpoint\":\"ep\",\"model\":\"m\",\"version\":1,\"arm\":\"champion\",\"status\":200,\
             \"latency_us\":{},\"inputs\":[{{\"id\":\"{tag}-{i}\",\"num\":{num},\"cat\":\"{cat}\"}}],\
             \"predictions\":[{}],\"probabilities\":[{p}],\"unseen_categories\":0}}",
            T0 + minute * MINUTE + (i as i64 * 97) % MINUTE,
            1000 + i,
            u8::from(p >= 0.5),
        );
    }
    s
}

fn append(ws: &Workspace, rel: &str, text: &str) {
    use std::io::Write;
    let p = ws.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn feature<'a>(window: &'a Value, name: &str) -> &'a Value {
    window["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {window}"))
}

const MONITORING: &str = r#"
[monitoring]
granularities = ["1m", "1h"]
"#;

#[test]
fn drift_is_flagged_for_a_scaled_feature_and_not_for_like_data() {
    let ws = workspace(MONITORING);
    append(
        &ws,
        "data/inference/ep/0001.jsonl",
        &lines("a", 0, 400, 1.0),
    );
    let ingest = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(ingest["ingest"]["lines"], 400, "{ingest}");
    assert_eq!(ingest["ingest"]["corrupt"], 0);

    let d = ws.json(&["monitor", "drift", "--window", "1m", "--json"]);
    let w = &d.as_array().unwrap()[0];
    assert_eq!(w["endpoint"], "ep");
    assert_eq!(w["records"], 400);
    assert!(w["note"].is_null(), "{w}");
    // ~640 training rows: KS for the numeric feature, chi-square for the categorical one.
    assert_eq!(feature(w, "num")["test"], "ks");
    assert_eq!(feature(w, "cat")["test"], "chi_square");
    assert_eq!(feature(w, "num")["drifted"], false, "{w}");
    assert_eq!(feature(w, "cat")["drifted"], false, "{w}");
    assert_eq!(w["dataset_drift"], false);

    // The next minute: `num` scaled by 1.5 (the course's scenario), `cat` unchanged.
    append(
        &ws,
        "data/inference/ep/0001.jsonl",
        &lines("b", 1, 400, 1.5),
    );
    let d = ws.json(&["monitor", "drift", "--window", "1m", "--json"]);
    let w = &d.as_array().unwrap()[0];
    assert_eq!(w["window_start"], T0 + MINUTE);
    let num = feature(w, "num");
    assert_eq!(num["drifted"], true, "{w}");
    assert!(num["score"].as_f64().unwrap() < 0.05);
    assert_eq!(feature(w, "cat")["drifted"], false, "{w}");
    // One of two features: the share reaches the default 0.5.
    assert_eq!(w["share"], 0.5);
    assert_eq!(w["dataset_drift"], true);
    // Histograms: ten baseline deciles of ~10% each, against the current shares.
    let h = &num["histogram"];
    assert_eq!(h["labels"].as_array().unwrap().len(), 10);
    for b in h["baseline"].as_array().unwrap() {
        assert!((b.as_f64().unwrap() - 0.1).abs() < 0.03, "{h}");
    }

    // The first window is still undrifted, viewed by its start.
    let at = T0.to_string();
    let d = ws.json(&["monitor", "drift", "--window", "1m", "--at", &at, "--json"]);
    assert_eq!(feature(&d[0], "num")["drifted"], false);

    // Drift over time of one feature: two windows, the second drifted.
    let h = ws.json(&[
        "monitor",
        "drift",
        "--history",
        "--feature",
        "num",
        "--window",
        "1m",
        "--json",
    ]);
    let pts = h.as_array().unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0]["features"]["num"]["drifted"], false);
    assert_eq!(pts[1]["features"]["num"]["drifted"], true);
    assert!(pts[1]["features"].get("cat").is_none());

    // In the hour window both minutes are summed: the drifted half moves the distribution.
    let d = ws.json(&["monitor", "drift", "--window", "1h", "--json"]);
    assert_eq!(d[0]["records"], 800);

    // Status totals, and an unconfigured window is refused with the configured ones named.
    let s = ws.json(&["monitor", "status", "--json"]);
    let ep = &s["endpoints"][0];
    assert_eq!(ep["endpoint"], "ep");
    assert_eq!(ep["requests"], 800);
    assert_eq!(ep["windows"], 2);
    assert_eq!(ep["latest_dataset_drift"], true);
    assert_eq!(s["lines"], 800);
    let err = ws.fails(&["monitor", "drift", "--window", "5m"]);
    assert!(err.contains("1m, 1h"), "{err}");

    // Prediction drift: each window's positive rate, against the model's test-set predictions.
    let p = ws.json(&[
        "monitor",
        "drift",
        "--predictions",
        "--window",
        "1m",
        "--json",
    ]);
    let p = p.as_array().unwrap();
    assert_eq!(p.len(), 2);
    for (w, scale) in p.iter().zip([1.0, 1.5]) {
        let positive = (0..400).filter(|i| predicted(*i, scale)).count() as f64 / 400.0;
        assert_eq!(w["records"], 400);
        assert!(
            (w["positive_rate"].as_f64().unwrap() - positive).abs() < 1e-12,
            "{w}"
        );
        assert!(w["baseline_positive_rate"].as_f64().unwrap() > 0.0);
        assert_eq!(w["histogram"]["labels"].as_array().unwrap().len(), 20);
    }

    let report = ws.path().join("out/report.html");
    let r = ws.json(&[
        "monitor",
        "report",
        "--window",
        "1m",
        "--out",
        report.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["windows"], 2);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("class=\"hist\" data-feature=\"num\""));
    assert!(html.contains("class=\"drift-over-time\""));
    assert!(html.contains("class=\"prediction-over-time\""));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[test]
fn previous_window_baseline_compares_neighbouring_windows() {
    let ws = workspace(
        r#"
[monitoring]
granularities = ["1m"]
baseline = "previous_window"
"#,
    );
    append(&ws, "data/inference/ep/1.jsonl", &lines("a", 0, 300, 1.0));
    let d = ws.json(&["monitor", "drift", "--json"]);
    assert!(
        d[0]["note"].as_str().unwrap().contains("no earlier window"),
        "{d}"
    );
    append(&ws, "data/inference/ep/1.jsonl", &lines("b", 1, 300, 1.0));
    let d = ws.json(&["monitor", "drift", "--json"]);
    assert_eq!(d[0]["baseline_window_start"], T0);
    assert_eq!(d[0]["dataset_drift"], false, "{d}");
    append(&ws, "data/inference/ep/1.jsonl", &lines("c", 2, 300, 2.0));
    let d = ws.json(&["monitor", "drift", "--json"]);
    assert_eq!(d[0]["baseline_window_start"], T0 + MINUTE);
    assert_eq!(feature(&d[0], "num")["drifted"], true, "{d}");
}

#[test]
fn a_drift_alert_opens_and_resolves_and_runs_its_hook() {
    let ws = workspace(&format!(
        r#"{MONITORING}
[[monitoring.alerts]]
name = "num-drift"
kind = "feature_drift"
feature = "num"
granularity = "1m"
hook = ["/bin/sh", "-c", "echo \"$CEREBRO_ALERT_STATE $CEREBRO_ALERT_SUBJECT $1\" >> hook.txt", "sh", "a;b"]

[[monitoring.alerts]]
name = "dataset"
kind = "dataset_drift"
granularity = "1m"
"#
    ));
    let log = "data/inference/ep/1.jsonl";
    append(&ws, log, &lines("a", 0, 300, 1.0));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["rules"], 2);
    assert_eq!(r["alerts"]["opened"].as_array().unwrap().len(), 0, "{r}");
    assert!(!ws.path().join("hook.txt").exists());

    append(&ws, log, &lines("b", 1, 300, 1.5));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    let opened = r["alerts"]["opened"].as_array().unwrap();
    assert_eq!(opened.len(), 2, "{r}");
    assert_eq!(opened[1]["rule"], "dataset");
    assert_eq!(opened[1]["kind"], "dataset_drift");
    assert_eq!(opened[1]["value"], 0.5);
    assert_eq!(opened[0]["rule"], "num-drift");
    assert_eq!(opened[0]["kind"], "feature_drift");
    assert_eq!(opened[0]["subject"], "num");
    assert_eq!(opened[0]["window_start"], T0 + MINUTE);
    assert_eq!(opened[0]["hook_status"], "open: exit 0");
    // Still drifted on the next pass: no second alert.
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["alerts"]["opened"].as_array().unwrap().len(), 0);
    let open = ws.json(&["monitor", "alerts", "--open", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 2);
    let s = ws.json(&["monitor", "status", "--json"]);
    assert_eq!(s["open_alerts"], 2);

    append(&ws, log, &lines("c", 2, 300, 1.0));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    let resolved: Vec<&Value> = r["alerts"]["resolved"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "num-drift")
        .collect();
    assert_eq!(resolved.len(), 1, "{r}");
    assert_eq!(r["alerts"]["resolved"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(resolved[0]["state"], "RESOLVED");
    assert_eq!(resolved[0]["hook_status"], "open: exit 0; resolve: exit 0");
    // The argument `a;b` reached the hook whole: no shell interpreted it.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("hook.txt")).unwrap(),
        "OPEN num a;b\nRESOLVED num a;b\n"
    );
    assert!(
        ws.json(&["monitor", "alerts", "--open", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Human output shows the same alert.
    let out = ws.ok(&["monitor", "alerts"]);
    assert!(
        out.contains("RESOLVED") && out.contains("num-drift"),
        "{out}"
    );
}

/// The `i`-th record of `lines(tag, ..)` predicts 1 when its probability `num/10` is >= 0.5.
fn predicted(i: usize, scale: f64) -> bool {
    (i * 37 % 101) as f64 / 10.0 * scale / 10.0 >= 0.5
}

/// A labels CSV for records `tag-0 .. tag-(n-1)`: the first `right` labelled as predicted, the
/// rest the other way; `yes`/`no` as the dataset's target.
fn labels_csv(tag: &str, n: usize, right: usize) -> String {
    let mut s = String::from("id,label\n");
    for i in 0..n {
        let truth = predicted(i, 1.0) == (i < right);
        let _ = writeln!(s, "{tag}-{i},{}", if truth { "yes" } else { "no" });
    }
    s
}

#[test]
fn realised_quality_joins_label_files_and_a_quality_drop_opens_then_resolves() {
    let ws = workspace(&format!(
        r#"{MONITORING}
[[monitoring.alerts]]
name = "accuracy"
kind = "quality_drop"
metric = "accuracy"
threshold = 0.3
granularity = "1m"
"#
    ));
    let log = "data/inference/ep/1.jsonl";
    append(&ws, log, &lines("a", 0, 50, 1.0));
    // Window 0: 20 of its 50 records labelled, 2 right. Bad input beside them: a file with
    // wrong columns, and a label for an id nothing predicted.
    ws.write("data/labels/a.csv", labels_csv("a", 20, 2).as_bytes());
    ws.write(
        "data/labels/wrong.csv",
        b"record,truth\na-30,yes\na-31,no\n",
    );
    ws.write(
        "data/labels/late.jsonl",
        b"{\"id\": \"no-such-id\", \"label\": \"yes\"}\n",
    );
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["ingest"]["lines"], 50, "{r}");
    assert_eq!(r["labels"]["labels"], 21, "{r}");
    assert_eq!(r["labels"]["unmatched"], 1, "{r}");
    assert!(r["labels"]["corrupt"].as_u64().unwrap() >= 2, "{r}");
    let opened = r["alerts"]["opened"].as_array().unwrap();
    assert_eq!(opened.len(), 1, "{r}");
    assert_eq!(opened[0]["subject"], "accuracy");
    assert!(opened[0]["message"].as_str().unwrap().contains("realised"));

    let q = ws.json(&["monitor", "quality", "--window", "1m", "--json"]);
    let w = &q[0];
    assert_eq!(w["window_start"], T0);
    assert_eq!(w["records"], 50);
    assert_eq!(w["predictions_kept"], 50);
    assert_eq!(w["labelled"], 20);
    assert_eq!(w["realised"]["accuracy"], 0.1);
    assert_eq!(w["estimated_from"], "records");
    assert!(w["estimated"]["accuracy"].as_f64().is_some());
    let test_acc = w["test"]["accuracy"].as_f64().unwrap();
    assert!(test_acc > 0.5, "{w}");
    assert!((w["accuracy_drop"].as_f64().unwrap() - (test_acc - 0.1)).abs() < 1e-9);
    // The table says what the estimate cannot see.
    let table = ws.ok(&["monitor", "quality", "--window", "1m", "--no-refresh"]);
    assert!(table.contains("EST ACC"), "{table}");
    assert!(table.contains("cannot see concept shift"), "{table}");
    let report = ws.path().join("out/quality.html");
    ws.ok(&[
        "monitor",
        "report",
        "--window",
        "1m",
        "--no-refresh",
        "--out",
        report.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("cannot see concept shift"), "{html}");
    let s = ws.json(&["monitor", "status", "--json"]);
    assert_eq!(s["labels"], 21);
    assert_eq!(s["labels_unmatched"], 1);
    assert_eq!(s["label_files"], 3);
    assert!(s["label_corrupt_lines"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["corrupt_lines"], 0);
    assert_eq!(s["endpoints"][0]["labelled"], 20);
    assert_eq!(s["endpoints"][0]["predictions_kept"], 50);

    // The next window, labelled and all right: the alert resolves.
    append(&ws, log, &lines("b", 1, 50, 1.0));
    ws.write("data/labels/b.csv", labels_csv("b", 50, 50).as_bytes());
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["labels"]["labels"], 50, "{r}");
    assert_eq!(r["alerts"]["resolved"].as_array().unwrap().len(), 1, "{r}");
    let q = ws.json(&["monitor", "quality", "--window", "1m", "--json"]);
    assert_eq!(q[1]["labelled"], 50);
    assert_eq!(q[1]["realised"]["accuracy"], 1.0);
    assert_eq!(q[1]["realised"]["roc_auc"], 1.0);
    // Re-ingesting changes nothing: every label line was read once.
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["labels"]["lines"], 0, "{r}");
}

/// `text` with every `k`-th line answered 500 and every line's latency set to `latency_us`.
fn degrade(text: &str, k: usize, latency_us: u64) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let l = if k > 0 && i % k == 0 {
                l.replacen("\"status\":200", "\"status\":500", 1)
            } else {
                l.to_string()
            };
            let at = l.find("\"latency_us\":").unwrap() + "\"latency_us\":".len();
            let end = at + l[at..].find(',').unwrap();
            format!("{}{latency_us}{}\n", &l[..at], &l[end..])
        })
        .collect()
}

#[test]
fn error_rate_and_latency_alerts_follow_the_latest_window() {
    let ws = workspace(&format!(
        r#"{MONITORING}
[[monitoring.alerts]]
name = "errors"
kind = "error_rate"
threshold = 0.2
granularity = "1m"

[[monitoring.alerts]]
name = "slow"
kind = "latency"
threshold = 50.0
granularity = "1m"

[[monitoring.alerts]]
name = "down"
kind = "endpoint_down"
"#
    ));
    let log = "data/inference/ep/1.jsonl";
    let kinds = |r: &Value, what: &str| -> Vec<String> {
        r["alerts"][what]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["rule"].as_str().unwrap().to_string())
            .collect()
    };
    // 10% errors, 2 ms: nothing.
    append(&ws, log, &degrade(&lines("a", 0, 100, 1.0), 10, 2_000));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert!(kinds(&r, "opened").is_empty(), "{r}");
    // Half the requests fail: the error-rate alert opens; still fast.
    append(&ws, log, &degrade(&lines("b", 1, 100, 1.0), 2, 2_000));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(kinds(&r, "opened"), ["errors"], "{r}");
    let a = &r["alerts"]["opened"][0];
    assert_eq!(a["value"], 0.5);
    assert_eq!(a["threshold"], 0.2);
    // No errors but 80 ms per request: errors resolve, latency opens.
    append(&ws, log, &degrade(&lines("c", 2, 100, 1.0), 0, 80_000));
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(kinds(&r, "resolved"), ["errors"], "{r}");
    assert_eq!(kinds(&r, "opened"), ["slow"], "{r}");
    assert_eq!(r["alerts"]["opened"][0]["value"], 80.0);
    let s = ws.json(&["monitor", "status", "--json"]);
    assert_eq!(s["endpoints"][0]["errors"], 60);
    assert_eq!(s["open_alerts"], 1);

    // An endpoint that registered and stopped is down; heartbeating again, it is up.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute(
        "INSERT INTO endpoints VALUES ('ep', '127.0.0.1:1', ?1, 'elsewhere', 'm', '[]', ?2, ?2,
           ?2, ?3)",
        rusqlite::params![
            std::process::id(),
            now,
            serde_json::to_string(&cerebro::serve::status::EndpointStats::default()).unwrap()
        ],
    )
    .unwrap();
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(kinds(&r, "opened"), ["down"], "{r}");
    assert_eq!(r["alerts"]["opened"][0]["endpoint"], "ep");
    conn.execute(
        "UPDATE endpoints SET stopped_at = NULL, last_heartbeat = ?1",
        [now + 60_000],
    )
    .unwrap();
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(kinds(&r, "resolved"), ["down"], "{r}");
}

#[test]
fn bad_monitoring_config_names_the_field() {
    let ws = Workspace::with_config(&small_config(
        r#"
[monitoring]
granularities = ["5m", "7w"]
"#,
    ));
    ws.write("data.csv", small_csv(50).as_bytes());
    let err = ws.fails(&["monitor", "status"]);
    assert!(
        err.contains("`7w` in granularities is not a window length"),
        "{err}"
    );
    let ws = Workspace::with_config(&small_config(
        r#"
[[monitoring.alerts]]
name = "x"
kind = "error_rate"
metric = "accuracy"
"#,
    ));
    let err = ws.fails(&["monitor", "status"]);
    assert!(
        err.contains("metric") && err.contains("quality_drop"),
        "{err}"
    );
    let ws = Workspace::with_config(&small_config(
        r#"
[[monitoring.alerts]]
name = "x"
kind = "disk_full"
"#,
    ));
    let err = ws.fails(&["monitor", "status"]);
    assert!(err.contains("disk_full"), "{err}");
}
