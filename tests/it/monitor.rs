//! Inference-log ingestion: exactly once across pieces, torn lines, restarts, corrupt lines,
//! truncation, replacement and deletion.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use cerebro::monitor::ingest::{Baseline, FeatureBaseline, FeatureCounts, Ingestor};
use cerebro::store::SqliteStore;

const MINUTE: i64 = 60_000;

fn line(i: u64) -> String {
    format!(
        "{{\"request_id\":\"r{i}\",\"client_request_id\":null,\"timestamp_ms\":{},\"endpoint\":\"churn\",\
         \"model\":\"m\",\"version\":2,\"arm\":\"primary\",\"status\":{},\"latency_us\":{},\
         \"inputs\":[{{\"id\":\"{i}\",\"x\":{},\"c\":\"{}\"}}],\"predictions\":[{}],\
         \"probabilities\":[{}],\"unseen_categories\":0}}\n",
        1_700_000_000_000u64 + i * 7_000,
        if i % 10 == 9 { 500 } else { 200 },
        100 + i,
        i % 50,
        ["a", "b", "c"][(i % 3) as usize],
        i % 2,
        (i % 100) as f64 / 100.0,
    )
}

fn ingestor(db: &Path) -> Ingestor {
    let baseline = Arc::new(Baseline {
        features: vec![
            FeatureBaseline::numeric("x", &(0..50).map(f64::from).collect::<Vec<_>>()),
            FeatureBaseline::categorical("c", &[Some("a"), Some("b")]),
        ],
        preparation: None,
        rows: Default::default(),
    });
    Ingestor::open(
        db,
        &[MINUTE, 60 * MINUTE],
        Box::new(move |model, version| (model == "m" && version == 2).then(|| baseline.clone())),
    )
    .unwrap()
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// (requests, errors, records, numeric rows + nulls of x, c counted + unseen) over one
/// granularity.
fn totals(ing: &Ingestor, granularity: i64) -> (u64, u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0, 0);
    for (_, w) in ing.windows(granularity).unwrap() {
        t.0 += w.requests;
        t.1 += w.errors;
        t.2 += w.records;
        if let Some(FeatureCounts::Numeric { counts, nulls, .. }) = w.aggregates.features.get("x") {
            t.3 += counts.iter().sum::<u64>() + nulls;
        }
        if let Some(FeatureCounts::Categorical {
            counts,
            unseen,
            nulls,
        }) = w.aggregates.features.get("c")
        {
            t.4 += counts.iter().sum::<u64>() + unseen + nulls;
        }
    }
    t
}

#[test]
fn ingestion_counts_every_complete_line_once_across_pieces_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let logs = dir.path().join("inference");
    let endpoint = logs.join("churn");
    std::fs::create_dir_all(&endpoint).unwrap();
    let first = endpoint.join("1700000000000-10-0000.jsonl");
    let all: Vec<String> = (0..300).map(line).collect();

    // Piece 1: 100 lines and half of line 101.
    append(&first, &all[..100].concat());
    let (head, tail) = all[100].split_at(40);
    append(&first, head);
    let mut ing = ingestor(store.db_path());
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.lines, r.corrupt), (100, 0));
    assert_eq!(r.waiting_bytes, 40);
    assert_eq!(totals(&ing, MINUTE).0, 100);

    // Nothing new: a second pass adds nothing.
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!(r.lines, 0);
    assert_eq!(totals(&ing, MINUTE).0, 100);

    // Piece 2: the torn line completed, 99 more lines and a garbage line at line 201.
    append(&first, tail);
    append(&first, &all[101..200].concat());
    append(&first, "{\"timestamp_ms\": garbage\n");
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.lines, r.corrupt), (101, 1));

    // Restart: a new handle on the same store, and a second, rotated file.
    drop(ing);
    let second = endpoint.join("1700000900000-10-0001.jsonl");
    append(&second, &all[200..300].concat());
    let mut ing = ingestor(store.db_path());
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.lines, r.corrupt), (100, 0));
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.lines, r.corrupt), (0, 0));

    let errors = (0..300).filter(|i| i % 10 == 9).count() as u64;
    for g in [MINUTE, 60 * MINUTE] {
        assert_eq!(
            totals(&ing, g),
            (300, errors, 300, 300, 300),
            "granularity {g}"
        );
    }
    let q = ing.quarantine().unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].0.ends_with("1700000000000-10-0000.jsonl"));
    assert_eq!(q[0].1, 201);

    // Deleted: counts stay, the file is reported once.
    std::fs::remove_file(&first).unwrap();
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!(r.deleted, 1);
    assert_eq!(totals(&ing, MINUTE).0, 300);

    // Truncated and rewritten: read again from the start.
    std::fs::write(&second, all[..5].concat()).unwrap();
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.resets, r.lines), (1, 5));
    assert_eq!(totals(&ing, MINUTE).0, 305);
}

#[test]
fn a_line_missing_a_required_field_is_quarantined_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let logs = dir.path().join("inference");
    std::fs::create_dir_all(&logs).unwrap();
    let path = logs.join("1700000000000-1-0000.jsonl");
    // Line 2 lacks `status`; line 3 is not JSON.
    let text = format!(
        "{}{}\nnot json at all\n{}",
        line(0),
        line(1).trim_end().replace("\"status\":200,", ""),
        line(2)
    );
    append(&path, &text);
    let mut ing = ingestor(store.db_path());
    let r = ing.ingest_dir(&logs).unwrap();
    assert_eq!((r.lines, r.corrupt), (4, 2));
    let lines: Vec<u64> = ing.quarantine().unwrap().iter().map(|q| q.1).collect();
    assert_eq!(lines, [2, 3]);
    assert_eq!(totals(&ing, MINUTE).0, 2);
}

/// Kills and reaps the child if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child side of the kill test: ingests `CEREBRO_INGEST_CHILD` in a loop until killed.
#[test]
#[ignore = "run by ingestion_survives_kill_9 as a child process"]
fn ingest_child() {
    let Ok(root) = std::env::var("CEREBRO_INGEST_CHILD") else {
        return;
    };
    let root = Path::new(&root);
    let store = SqliteStore::open(root).unwrap();
    let mut ing = ingestor(store.db_path());
    loop {
        ing.ingest_dir(&root.join("inference")).unwrap();
    }
}

#[test]
fn ingestion_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let endpoint = dir.path().join("inference/churn");
    std::fs::create_dir_all(&endpoint).unwrap();
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "monitor::ingest_child",
                "--ignored",
                "--nocapture",
            ])
            .env("CEREBRO_INGEST_CHILD", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Write while the child ingests, in pieces that tear lines, over several files; kill it
    // once it has committed something, in the middle of the writing.
    let committed = || -> i64 {
        let conn = rusqlite::Connection::open(store.db_path()).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn.query_row(
            "SELECT coalesce(sum(lines), 0) FROM monitor_files",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let mut written = 0u64;
    let mut killed_at = None;
    for f in 0..6 {
        let path = endpoint.join(format!("17000000{f:05}-1-{f:04}.jsonl"));
        let text: String = (0..20_000).map(|i| line(written + i)).collect();
        for piece in text.as_bytes().chunks(100_003) {
            // The lines are ASCII, so any cut is valid UTF-8.
            append(&path, std::str::from_utf8(piece).unwrap());
        }
        written += 20_000;
        if f == 2 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while committed() == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            // SIGKILL: no destructor, no flush, possibly mid-transaction.
            child.0.kill().unwrap();
            child.0.wait().unwrap();
            killed_at = Some(committed());
        }
    }
    let killed_at = killed_at.unwrap();
    assert!(
        killed_at > 0,
        "the child ingested nothing before it was killed"
    );
    assert!(
        (killed_at as u64) < written,
        "the child was killed after everything"
    );
    let mut ing = ingestor(store.db_path());
    ing.ingest_dir(&dir.path().join("inference")).unwrap();
    assert_eq!(totals(&ing, MINUTE).0, written);
    assert_eq!(totals(&ing, 60 * MINUTE).0, written);
}

/// Predictions kept by ingestion, labels from CSV and JSON-lines files joined by record id; a
/// label file with the wrong columns, garbage lines and labels for unknown ids are counted,
/// quarantined or reported, and never fatal; nothing is read twice.
#[test]
fn labels_are_ingested_once_and_bad_label_input_is_counted() {
    use cerebro::monitor::labels::{LabelIngestor, LabelOptions};

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let logs = dir.path().join("inference/churn");
    std::fs::create_dir_all(&logs).unwrap();
    append(
        &logs.join("1700000000000-1-0000.jsonl"),
        &(0..20).map(line).collect::<String>(),
    );
    let mut ing = ingestor(store.db_path()).with_predictions(Some("id"));
    let r = ing.ingest_dir(&dir.path().join("inference")).unwrap();
    assert_eq!((r.lines, r.predictions), (20, 20));

    let labels = dir.path().join("labels");
    std::fs::create_dir_all(&labels).unwrap();
    // Ids 0..9 by CSV (positive class by name, or 0/1), a garbage line at line 5.
    append(
        &labels.join("a.csv"),
        "id,label\n0,Living\n1,Deceased\n2,1\n\"oops\n3,0\n",
    );
    // Ids 10..12 and an unknown id by JSON lines; a line without a label.
    append(
        &labels.join("b.jsonl"),
        "{\"id\":\"10\",\"label\":true}\n{\"id\":11,\"label\":0}\n{\"id\":\"12\"}\n{\"id\":\"nobody\",\"label\":1}\n",
    );
    // The wrong columns: every line quarantined, nothing guessed.
    append(&labels.join("c.csv"), "page,truth\n5,1\n6,0\n");
    let mut li = LabelIngestor::open(store.db_path(), LabelOptions::new("Living")).unwrap();
    let r = li.ingest_dir(&labels).unwrap();
    assert_eq!(r.lines, 6 + 4 + 3);
    assert_eq!(r.labels, 4 + 3);
    assert_eq!(r.unmatched, 1);
    assert_eq!(r.corrupt, 1 + 1 + 3);
    let q = li.quarantine(&labels).unwrap();
    let places: Vec<(String, u64)> = q
        .iter()
        .map(|(p, l, _)| {
            (
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                *l,
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            ("a.csv".to_string(), 5),
            ("b.jsonl".to_string(), 3),
            ("c.csv".to_string(), 1),
            ("c.csv".to_string(), 2),
            ("c.csv".to_string(), 3),
        ]
    );
    assert_eq!(li.unmatched().unwrap(), 1);

    // Again: nothing new. Then a torn line, completed later; a restart reads on after the header.
    assert_eq!(li.ingest_dir(&labels).unwrap().lines, 0);
    append(&labels.join("a.csv"), "4,Liv");
    let r = li.ingest_dir(&labels).unwrap();
    assert_eq!((r.lines, r.waiting_bytes), (0, 5));
    drop(li);
    append(&labels.join("a.csv"), "ing\n");
    let mut li = LabelIngestor::open(store.db_path(), LabelOptions::new("Living")).unwrap();
    let r = li.ingest_dir(&labels).unwrap();
    assert_eq!((r.lines, r.labels, r.corrupt), (1, 1, 0));

    let conn = rusqlite::Connection::open(store.db_path()).unwrap();
    let joined: Vec<(String, i64, i64)> = conn
        .prepare(
            "SELECT p.record_id, p.prediction, l.label FROM monitor_predictions p
             JOIN monitor_labels l USING (record_id) ORDER BY CAST(p.record_id AS INTEGER)",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: Vec<&str> = joined.iter().map(|j| j.0.as_str()).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "10", "11"]);
    let labels_of: Vec<i64> = joined.iter().map(|j| j.2).collect();
    assert_eq!(labels_of, [1, 0, 1, 0, 1, 1, 0]);
    // The line helper predicts i % 2.
    assert!(
        joined
            .iter()
            .all(|(id, p, _)| *p == id.parse::<i64>().unwrap() % 2)
    );
}
