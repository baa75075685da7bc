//! Guarantees that hold under faults, through the real binary on a real store: several
//! ingesters at once over logs and labels (each line counted once, also while a writer appends),
//! lines past the maximum quarantined with their place while ingestion goes on (in logs and in
//! labels, shorter and longer than a read chunk), timestamps far from the clock quarantined, a
//! pipeline resumed after its register or promote step committed but was not recorded, and a
//! data snapshot that no longer matches its version refused by name and rebuilt.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Stdio;

use rusqlite::Connection;
use serde_json::Value;

use crate::common::{Workspace, small_config, small_csv};

/// A minute-aligned time a few minutes ago (the clock check quarantines the far future).
fn t0() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - 3_600_000) / 60_000 * 60_000
}

fn workspace(extra: &str) -> Workspace {
    let ws = Workspace::with_config(&small_config(extra));
    ws.write("data.csv", small_csv(400).as_bytes());
    let runs = ws.train(&["--model", "tree", "--max-parallel", "1"]);
    ws.register(&runs[0], "m");
    ws
}

/// One inference-log line in the writer's format; record id `<tag>-<i>`, stamped `ts`.
fn line(tag: &str, i: usize, ts: i64, cat: &str) -> String {
    let num = (i * 37 % 101) as f64 / 10.0;
    format!(
        "{{\"request_id\":\"{tag}-r{i}\",\"client_request_id\":null,\"timestamp_ms\":{ts},\
         \"endpoint\":\"ep\",\"model\":\"m\",\"version\":1,\"arm\":\"champion\",\"status\":200,\
         \"latency_us\":{},\"inputs\":[{{\"id\":\"{tag}-{i}\",\"num\":{num},\"cat\":\"{cat}\"}}],\
         \"predictions\":[1],\"probabilities\":[0.7],\"unseen_categories\":0}}\n",
        100 + i
    )
}

fn lines(tag: &str, n: usize) -> String {
    let t = t0();
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&line(tag, i, t + (i as i64 * 13) % 3_000_000, "a"));
    }
    s
}

fn db(ws: &Workspace) -> Connection {
    Connection::open(ws.db()).unwrap()
}

fn scalar(ws: &Workspace, sql: &str) -> i64 {
    db(ws).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Sum of requests per granularity.
fn window_sums(ws: &Workspace) -> Vec<i64> {
    let conn = db(ws);
    let mut stmt = conn
        .prepare("SELECT sum(requests) FROM monitor_windows GROUP BY granularity_ms")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn quarantine(ws: &Workspace) -> Vec<(String, i64, i64, String)> {
    let conn = db(ws);
    let mut stmt = conn
        .prepare("SELECT path, line, offset, error FROM monitor_quarantine ORDER BY path, line")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn several_ingesters_at_once_count_every_log_and_label_line_once() {
    let ws = workspace("");
    let mut total = 0;
    for f in 0..4 {
        let n = 3000 + f * 500;
        ws.write(
            &format!("data/inference/ep/000000000000{f}-1-0000.jsonl"),
            lines(&format!("f{f}"), n).as_bytes(),
        );
        total += n;
    }
    let mut csv = String::from("id,label\n");
    let mut jsonl = String::new();
    for i in 0..3000 {
        let _ = writeln!(csv, "f0-{i},{}", if i % 3 == 0 { "yes" } else { "no" });
        let _ = writeln!(jsonl, "{{\"id\": \"f1-{i}\", \"label\": {}}}", i % 2);
    }
    ws.write("data/labels/a.csv", csv.as_bytes());
    ws.write("data/labels/b.jsonl", jsonl.as_bytes());

    // Five ingesters at once, while a writer appends a fifth log file line by line.
    let writer = {
        let path = ws
            .path()
            .join("data/inference/ep/0000000000009-1-0000.jsonl");
        let text = lines("w", 2000);
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(path).unwrap();
            for (k, l) in text.lines().enumerate() {
                writeln!(f, "{l}").unwrap();
                if k % 200 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        })
    };
    let ingesters: Vec<_> = (0..5)
        .map(|_| {
            ws.std_cmd(&["monitor", "ingest", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    writer.join().unwrap();
    let mut reported = 0;
    for c in ingesters {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        reported += v["ingest"]["lines"].as_u64().unwrap();
    }
    let last = ws.json(&["monitor", "ingest", "--json"]);
    reported += last["ingest"]["lines"].as_u64().unwrap();
    total += 2000;
    assert_eq!(
        reported as usize, total,
        "the passes' reports add up to the lines"
    );
    assert_eq!(window_sums(&ws), vec![total as i64; 3]);
    assert_eq!(
        scalar(&ws, "SELECT count(*) FROM monitor_predictions"),
        total as i64
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT count(*) FROM (SELECT record_id FROM monitor_predictions GROUP BY record_id HAVING count(*) > 1)"
        ),
        0
    );
    assert_eq!(scalar(&ws, "SELECT count(*) FROM monitor_labels"), 6000);
    assert_eq!(
        scalar(&ws, "SELECT sum(lines) FROM monitor_files"),
        total as i64 + 6001,
        "every file's offset and line count moved once per line"
    );
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn lines_past_the_maximum_are_quarantined_with_their_place_and_ingestion_goes_on() {
    let ws = workspace("\n[monitoring]\nmax_line_bytes = 1048576\n");
    let t = t0();
    let big = |tag: &str, bytes: usize| line(tag, 0, t, &"x".repeat(bytes));
    // In one file: a 2 MiB line (inside a read chunk), then a 9 MiB one (longer than a chunk),
    // then ordinary lines; in another, a 9 MiB first line then ordinary lines.
    let mut a = lines("a", 10);
    a.push_str(&big("a-big", 2 << 20));
    a.push_str(&lines("b", 10));
    a.push_str(&big("a-huge", 9 << 20));
    a.push_str(&lines("c", 10));
    ws.write("data/inference/ep/0000000000001-1-0000.jsonl", a.as_bytes());
    let mut b = big("b-huge", 9 << 20);
    b.push_str(&lines("d", 25));
    ws.write("data/inference/ep/0000000000002-1-0000.jsonl", b.as_bytes());
    // Labels: a CSV field of 2 MiB and a JSON line of 9 MiB, each between ordinary labels.
    let mut csv = String::from("id,label,note\n");
    csv.push_str("a-0,yes,ok\n");
    let _ = writeln!(csv, "a-1,yes,{}", "y".repeat(2 << 20));
    csv.push_str("a-2,no,ok\n");
    ws.write("data/labels/l.csv", csv.as_bytes());
    let mut jl = String::from("{\"id\": \"b-0\", \"label\": 1}\n");
    let _ = writeln!(
        jl,
        "{{\"id\": \"b-1\", \"label\": 1, \"note\": \"{}\"}}",
        "z".repeat(9 << 20)
    );
    jl.push_str("{\"id\": \"b-2\", \"label\": 0}\n");
    ws.write("data/labels/l.jsonl", jl.as_bytes());

    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["ingest"]["lines"], 10 + 1 + 10 + 1 + 10 + 1 + 25, "{r}");
    assert_eq!(r["ingest"]["corrupt"], 3, "{r}");
    assert_eq!(r["ingest"]["waiting_bytes"], 0, "{r}");
    assert_eq!(r["labels"]["labels"], 4, "{r}");
    assert_eq!(r["labels"]["corrupt"], 2, "{r}");
    assert_eq!(window_sums(&ws), vec![55; 3]);
    let q = quarantine(&ws);
    let places: Vec<(String, i64, i64)> = q
        .iter()
        .map(|(p, l, o, _)| (p.rsplit('/').next().unwrap().to_string(), *l, *o))
        .collect();
    let a_big_at = lines("a", 10).len() as i64;
    let csv_at = ("id,label,note\n".len() + "a-0,yes,ok\n".len()) as i64;
    let jl_at = "{\"id\": \"b-0\", \"label\": 1}\n".len() as i64;
    let a_huge_at = a_big_at + big("a-big", 2 << 20).len() as i64 + lines("b", 10).len() as i64;
    assert_eq!(
        places,
        [
            ("0000000000001-1-0000.jsonl".to_string(), 11, a_big_at),
            ("0000000000001-1-0000.jsonl".to_string(), 22, a_huge_at),
            ("0000000000002-1-0000.jsonl".to_string(), 1, 0),
            ("l.csv".to_string(), 3, csv_at),
            ("l.jsonl".to_string(), 2, jl_at),
        ]
    );
    assert!(
        q.iter().all(|(_, _, _, e)| e.contains("max_line_bytes")),
        "{q:?}"
    );
    // A second pass finds nothing new and nothing waiting.
    let again = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(again["ingest"]["lines"], 0);
    assert_eq!(again["ingest"]["waiting_bytes"], 0);

    // Under the default maximum (32 MiB) a 9 MiB line is simply counted.
    let ws = workspace("");
    let mut c = big("c-huge", 9 << 20);
    c.push_str(&lines("e", 30));
    ws.write("data/inference/ep/0000000000001-1-0000.jsonl", c.as_bytes());
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(
        (
            r["ingest"]["lines"].as_u64(),
            r["ingest"]["corrupt"].as_u64()
        ),
        (Some(31), Some(0)),
        "{r}"
    );
}

#[test]
fn timestamps_far_from_the_clock_are_quarantined_and_never_make_the_latest_window() {
    let ws = workspace("\n[monitoring]\nmax_clock_skew = \"1h\"\n");
    let t = t0();
    let mut s = lines("ok", 20);
    for (i, ts) in [
        t + 10 * 86_400_000,           // ten days ahead
        t + 2 * 3_600_000 + 3_600_000, // three hours ahead of t0 (two ahead of now)
        1_000,                         // the epoch: a clock never set
        t / 1000,                      // seconds written as milliseconds
    ]
    .into_iter()
    .enumerate()
    {
        s.push_str(&line("bad", i, ts, "a"));
    }
    s.push_str(&line("ok-late", 0, t + 60_000, "a"));
    ws.write("data/inference/ep/0000000000001-1-0000.jsonl", s.as_bytes());
    let r = ws.json(&["monitor", "ingest", "--json"]);
    assert_eq!(r["ingest"]["lines"], 25, "{r}");
    assert_eq!(r["ingest"]["corrupt"], 4, "{r}");
    let q = quarantine(&ws);
    assert_eq!(q.iter().map(|x| x.1).collect::<Vec<_>>(), [21, 22, 23, 24]);
    assert!(q[0].3.contains("ahead of this machine's clock"), "{q:?}");
    assert!(q[2].3.contains("before 2000-01-01"), "{q:?}");
    let latest = scalar(&ws, "SELECT max(window_start) FROM monitor_windows");
    assert!(latest <= t + 60_000, "{latest} vs {t}");
    assert_eq!(window_sums(&ws), vec![21; 3]);
}

fn pipeline_workspace() -> Workspace {
    workspace(
        r#"
[pipelines.ship]
[[pipelines.ship.steps]]
name = "prepare"
kind = "prepare"
[[pipelines.ship.steps]]
name = "train"
kind = "train"
after = ["prepare"]
model = "tree"
[[pipelines.ship.steps]]
name = "register"
kind = "register"
after = ["train"]
registered_model = "m"
[[pipelines.ship.steps]]
name = "promote"
kind = "promote"
after = ["register"]
registered_model = "m"
[registry.gate]
metric = "roc_auc"
threshold = 0.0
"#,
    )
}

/// Leaves run `run` as a runner killed right after `step` committed would: the run and that
/// step INTERRUPTED, the steps after it PENDING, their effects in the registry.
fn as_if_killed_after(ws: &Workspace, run: &str, step: &str, later: &[&str]) {
    let conn = db(ws);
    conn.execute(
        "UPDATE pipeline_runs SET status = 'INTERRUPTED', ended_at = NULL WHERE run_id = ?1",
        [run],
    )
    .unwrap();
    conn.execute(
        "UPDATE pipeline_steps SET status = 'INTERRUPTED', outputs = NULL WHERE run_id = ?1 AND step = ?2",
        [run, step],
    )
    .unwrap();
    for s in later {
        conn.execute(
            "UPDATE pipeline_steps SET status = 'PENDING', outputs = NULL, attempts = 0 WHERE run_id = ?1 AND step = ?2",
            [run, s],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM pipeline_locks", []).unwrap();
}

#[test]
fn a_pipeline_resumed_after_a_step_committed_takes_the_effect_as_done() {
    let ws = pipeline_workspace();
    // Killed after register committed (the version exists, promote never ran): undo the
    // promotion the full run made, so the state is exactly that.
    let out = ws.json(&["pipeline", "run", "ship", "--json"]);
    assert_eq!(out["status"], "SUCCEEDED", "{out}");
    let run = out["run_id"].as_str().unwrap().to_string();
    let versions = scalar(&ws, "SELECT count(*) FROM model_versions");
    ws.ok(&["models", "archive", "m", "2"]);
    as_if_killed_after(&ws, &run, "register", &["promote"]);
    let resumed = ws.json(&["pipeline", "resume", &run, "--json"]);
    assert_eq!(resumed["status"], "SUCCEEDED", "{resumed}");
    assert_eq!(
        scalar(&ws, "SELECT count(*) FROM model_versions"),
        versions,
        "nothing registered twice"
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT count(*) FROM model_versions WHERE stage = 'Production'"
        ),
        1
    );

    // Killed after promote committed: the version is in Production by that promotion.
    let out = ws.json(&["pipeline", "run", "ship", "--json"]);
    assert_eq!(out["status"], "SUCCEEDED", "{out}");
    let run = out["run_id"].as_str().unwrap().to_string();
    let promotions = scalar(
        &ws,
        "SELECT count(*) FROM registry_audit WHERE action = 'promote'",
    );
    as_if_killed_after(&ws, &run, "promote", &[]);
    let resumed = ws.json(&["pipeline", "resume", &run, "--json"]);
    assert_eq!(resumed["status"], "SUCCEEDED", "{resumed}");
    assert_eq!(
        scalar(
            &ws,
            "SELECT count(*) FROM registry_audit WHERE action = 'promote'"
        ),
        promotions,
        "nothing promoted twice"
    );
    let steps = ws.json(&["pipeline", "show", &run, "--json"]);
    let promote = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "promote")
        .unwrap()
        .clone();
    assert!(
        promote["outputs"]["summary"]
            .as_str()
            .unwrap()
            .contains("already in Production"),
        "{promote}"
    );
    assert!(
        promote["outputs"]["gate"].is_object(),
        "the gate result is kept: {promote}"
    );
    // A version registered by hand from the same training run is not taken for the step's.
    assert_eq!(
        scalar(
            &ws,
            "SELECT count(*) FROM (SELECT run_id FROM model_versions GROUP BY name, run_id HAVING count(*) > 1)"
        ),
        0
    );
}

#[test]
fn a_snapshot_that_no_longer_matches_its_version_is_refused_by_name_and_rebuilt() {
    let ws = workspace("");
    let gate = ws.json(&["models", "gate", "m", "1", "--json"]);
    let value = gate["candidate_value"].as_f64().unwrap();
    let dir = std::fs::read_dir(ws.path().join(".cerebro/data"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("test.parquet").exists())
        .unwrap();
    let test = dir.join("test.parquet");
    let original = std::fs::read(&test).unwrap();

    // Another valid Parquet file in its place.
    std::fs::copy(dir.join("train.parquet"), &test).unwrap();
    // The file is named as the store root is (relative to the config here).
    let named = test.strip_prefix(ws.path()).unwrap().display().to_string();
    let err = ws.fails(&["models", "gate", "m", "1"]);
    assert!(err.contains(&named), "{err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains("cerebro data prepare"), "{err}");
    let err = ws.fails(&[
        "data",
        "export",
        dir.file_name().unwrap().to_str().unwrap(),
        "exp",
    ]);
    assert!(err.contains("does not match"), "{err}");

    // A snapshot from before manifests (none) is still checked against the store's record.
    std::fs::remove_file(dir.join("SNAPSHOT.json")).unwrap();
    let err = ws.fails(&["models", "gate", "m", "1"]);
    assert!(err.contains("rows"), "{err}");

    // Truncated: refused, naming the file.
    std::fs::write(&test, &original[..original.len() / 2]).unwrap();
    let err = ws.fails(&["models", "gate", "m", "1"]);
    assert!(err.contains(&named), "{err}");

    // `data prepare` rewrites the damaged snapshot; the gate sees the right rows again.
    ws.ok(&["data", "prepare"]);
    let again = ws.json(&["models", "gate", "m", "1", "--json"]);
    assert_eq!(again["candidate_value"].as_f64().unwrap(), value);
    assert!(dir.join("SNAPSHOT.json").exists());
}
