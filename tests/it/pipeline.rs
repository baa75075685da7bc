//! The served model is the whole pipeline: raw records of the dataset file are scored through the
//! fitted preparation by the endpoint and by `cerebro predict`, bit for bit as training evaluated
//! its test split; format-1 artifacts still load and serve their prepared columns.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, Workspace, repo};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut resp = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Trains a small gbt, registers it as `chars` and promotes it; returns the run id.
fn train_register_promote(ws: &Workspace) -> String {
    ws.ok(&["data", "prepare"]);
    let out = ws.json(&[
        "train",
        "--json",
        "--model",
        "gbt",
        "--set",
        "n_estimators=60",
    ]);
    let run = out[0]["run"]["run_id"].as_str().unwrap().to_string();
    ws.ok(&["models", "register", &run, "--name", "chars"]);
    ws.ok(&[
        "models", "promote", "chars", "1", "--force", "--reason", "test",
    ]);
    run
}

/// Test-split probabilities as training evaluated them, by record id: the run's model on its
/// data version's test rows (checked against the logged metrics bit for bit, so they are what
/// the fit computed).
fn training_evaluation(ws: &Workspace, run_id: &str) -> HashMap<String, f64> {
    let w = cerebro::workspace::Workspace::open(&ws.path().join("config.toml")).unwrap();
    let run = w.store.get_run(run_id).unwrap();
    let model = cerebro::track::load_model(w.store.as_ref(), &run).unwrap();
    let dv = w
        .store
        .get_data_version(run.summary.data_version.as_deref().unwrap())
        .unwrap();
    let data = cerebro::data::load_version(&w.store_root(), &dv).unwrap();
    let td = data
        .train_data(&model.signature.features_only(), &dv.id)
        .unwrap();
    let x = model.encoder.transform(&td.test);
    let proba = model.estimator.predict_proba(&x);
    let m = cerebro::train::metrics::evaluate(&td.test_y, &proba);
    for (key, value) in [("roc_auc", m.roc_auc), ("log_loss", m.log_loss)] {
        assert_eq!(
            value.to_bits(),
            run.summary.metrics[key].to_bits(),
            "{key}: recomputed {value} vs logged {}",
            run.summary.metrics[key]
        );
    }
    let id = model.signature.id.clone().unwrap();
    let ids = cerebro::data::prepare::strings(&data.test, &id).unwrap();
    ids.into_iter().map(Option::unwrap).zip(proba).collect()
}

/// The model's raw input types by column (`double`, `long`, `string`, `boolean`).
fn raw_types(ws: &Workspace) -> HashMap<String, String> {
    let w = cerebro::workspace::Workspace::open(&ws.path().join("config.toml")).unwrap();
    let (model, _) = cerebro::batch::load_model(&w, &"chars/1".parse().unwrap()).expect("model");
    assert!(model.format_version >= 2);
    model
        .preparation
        .schema
        .inputs
        .iter()
        .map(|c| (c.name.clone(), c.ty.as_str().to_string()))
        .collect()
}

/// The dataset file's rows whose id is in `wanted`: header and string fields.
fn raw_rows(
    path: &std::path::Path,
    id: &str,
    wanted: &HashSet<&String>,
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let at = header.iter().position(|h| h == id).unwrap();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .filter(|row: &Vec<String>| wanted.contains(&row[at]))
        .collect();
    (header, rows)
}

/// A raw row as a JSON record: every column of the file, inputs typed as the model reads them,
/// the rest (id, target, free text) as strings; empty fields null.
fn json_record(header: &[String], row: &[String], types: &HashMap<String, String>) -> Value {
    let mut m = serde_json::Map::new();
    for (h, v) in header.iter().zip(row) {
        let value = if v.is_empty() {
            Value::Null
        } else {
            match types.get(h).map(String::as_str) {
                Some("double") => json!(v.trim().parse::<f64>().unwrap()),
                Some("long") => json!(v.trim().parse::<i64>().unwrap()),
                _ => json!(v),
            }
        };
        m.insert(h.clone(), value);
    }
    Value::Object(m)
}

/// Scores every test row through the endpoint (JSON records in batches, and one CSV body of
/// raw lines) and with `cerebro predict` (CSV and Parquet output); all must equal `expected`.
fn three_ways(ws: &Workspace, data_file: &str, expected: &HashMap<String, f64>) {
    let types = raw_types(ws);
    let wanted: HashSet<&String> = expected.keys().collect();
    let (header, rows) = raw_rows(&ws.path().join(data_file), "page_id", &wanted);
    assert_eq!(
        rows.len(),
        expected.len(),
        "every test row is in the file once"
    );
    let id_at = header.iter().position(|h| h == "page_id").unwrap();

    let server = Server::start(ws, &[], &[]);
    let a = agent();
    let url = server.url("/invocations?probabilities=true");
    for (i, chunk) in rows.chunks(500).enumerate() {
        let (status, body) = if i == 0 {
            // The raw lines of the file, as a CSV body.
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&header).unwrap();
            for row in chunk {
                w.write_record(row).unwrap();
            }
            post(&a, &url, "text/csv", &w.into_inner().unwrap())
        } else {
            let recs: Vec<Value> = chunk
                .iter()
                .map(|row| json_record(&header, row, &types))
                .collect();
            let body = json!({ "dataframe_records": recs }).to_string();
            post(&a, &url, "application/json", body.as_bytes())
        };
        assert_eq!(status, 200, "{body}");
        let probs = body["probabilities"].as_array().unwrap();
        assert_eq!(probs.len(), chunk.len());
        for (row, p) in chunk.iter().zip(probs) {
            let id = &row[id_at];
            let got = p.as_f64().unwrap();
            assert_eq!(
                got.to_bits(),
                expected[id].to_bits(),
                "record {id}: endpoint {got} vs training {}",
                expected[id]
            );
        }
    }
    drop(server);

    for out in ["preds.csv", "preds.parquet"] {
        let report = ws.json(&[
            "predict",
            "chars@champion",
            "--input",
            data_file,
            "--output",
            out,
            "--probabilities",
            "--json",
        ]);
        assert_eq!(report["skipped"], 0, "{report}");
        let got: HashMap<String, f64> = if out.ends_with(".csv") {
            let mut r = csv::Reader::from_path(ws.path().join(out)).unwrap();
            let h = r.headers().unwrap().clone();
            assert_eq!(
                h.iter().collect::<Vec<_>>(),
                ["page_id", "prediction", "probability"]
            );
            r.records()
                .map(|rec| {
                    let rec = rec.unwrap();
                    (rec[0].to_string(), rec[2].parse::<f64>().unwrap())
                })
                .collect()
        } else {
            use polars::prelude::*;
            let f = std::fs::File::open(ws.path().join(out)).unwrap();
            let df = ParquetReader::new(f).finish().unwrap();
            let ids = cerebro::data::prepare::strings(&df, "page_id").unwrap();
            let p = cerebro::data::prepare::numbers(&df, "probability").unwrap();
            ids.into_iter()
                .map(Option::unwrap)
                .zip(p.into_iter().map(Option::unwrap))
                .collect()
        };
        for (id, want) in expected {
            assert_eq!(
                got[id].to_bits(),
                want.to_bits(),
                "record {id} ({out}): predict {} vs training {want}",
                got[id]
            );
        }
    }
}

#[test]
fn every_demo_test_row_scores_bit_for_bit_alike_in_training_serving_and_predict() {
    let ws = Workspace::demo();
    let run = train_register_promote(&ws);
    let expected = training_evaluation(&ws, &run);
    assert_eq!(expected.len(), 3200);
    three_ways(&ws, "data/characters.csv", &expected);
}

#[test]
fn every_marvel_test_row_scores_bit_for_bit_alike_in_training_serving_and_predict() {
    let csv = repo().join("../shared/data/marvel-wikia-data.csv");
    if !csv.exists() {
        eprintln!(
            "skipped: {} is absent (it is not part of the repository)",
            csv.display()
        );
        return;
    }
    // The demo's preparation steps on the real file (the demo data has its columns).
    let config = std::fs::read_to_string(repo().join("config.toml"))
        .unwrap()
        .replace("data/characters.csv", "marvel-wikia-data.csv");
    let ws = Workspace::with_config(&config);
    std::fs::copy(csv, ws.path().join("marvel-wikia-data.csv")).unwrap();
    let run = train_register_promote(&ws);
    let expected = training_evaluation(&ws, &run);
    assert!(expected.len() > 3000, "{}", expected.len());
    three_ways(&ws, "marvel-wikia-data.csv", &expected);
}

#[test]
fn a_format_1_artifact_still_loads_and_serves_its_prepared_columns() {
    // tests/fixtures/model-v1: a depth-3 tree exported by cerebro before the pipeline became
    // part of the model (format 1); the probabilities below are what that cerebro's endpoint
    // answered for these records.
    let ws = Workspace::with_config(&crate::common::small_config(""));
    ws.write("data.csv", crate::common::small_csv(200).as_bytes());
    let fixture = repo().join("tests/fixtures/model-v1");
    let v = ws.json(&[
        "models",
        "import",
        fixture.to_str().unwrap(),
        "--name",
        "chars",
        "--json",
    ]);
    assert_eq!(v["version"], 1, "{v}");
    // Its data version, snapshotted as prepared tables then: the gate scores on it.
    let id = "6204dbd233a824beb6af22cc9baa774b84f79aa19dcb60fdd10041bf4e8df1ec";
    let dir = ws.path().join(".cerebro/data").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["train.parquet", "test.parquet"] {
        std::fs::copy(fixture.join("snapshot").join(f), dir.join(f)).unwrap();
    }
    {
        use cerebro::store::TrackingStore;
        let mut store = cerebro::store::SqliteStore::open(&ws.path().join(".cerebro")).unwrap();
        store
            .record_data_version(&cerebro::data::DataVersion {
                id: id.into(),
                dataset_path: "data.csv".into(),
                train_rows: 160,
                test_rows: 40,
                columns: vec!["id".into(), "num".into(), "cat".into(), "y".into()],
                config_hash: String::new(),
                created_at: 0,
                snapshot_dir: format!("data/{id}"),
            })
            .unwrap();
    }
    let gate = ws.json(&["models", "gate", "chars", "1", "--json"]);
    // What that cerebro's gate computed on this data version.
    assert_eq!(gate["candidate_value"], 0.9862155388471178, "{gate}");
    ws.ok(&["models", "promote", "chars", "1"]);
    let server = Server::start(&ws, &[], &[]);
    let a = agent();
    let body = br#"{"dataframe_records":[{"id":1,"num":3.7,"cat":"a"},{"id":2,"num":7.4,"cat":"b"},{"id":3,"num":null,"cat":null},{"id":4,"num":5.0,"cat":"zzz"}]}"#;
    let (status, r) = post(
        &a,
        &server.url("/invocations?probabilities=true"),
        "application/json",
        body,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["predictions"], json!([0, 1, 0, 0]));
    assert_eq!(r["probabilities"], json!([0.4444444444444444, 1, 0, 0]));
    // As before: every input column is required, and others are refused.
    let (status, r) = post(
        &a,
        &server.url("/invocations"),
        "application/json",
        br#"{"dataframe_records":[{"num":3.7}]}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(
        r["message"],
        "missing column `cat` (send null for a missing value)"
    );
    let (status, r) = post(
        &a,
        &server.url("/invocations"),
        "application/json",
        br#"{"dataframe_records":[{"num":3.7,"cat":"a","zz":1}]}"#,
    );
    assert_eq!(status, 400);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("unknown column `zz`"),
        "{r}"
    );
    // Batch scoring takes the same prepared columns.
    ws.write("batch.csv", b"id,num,cat\n1,3.7,a\n2,7.4,b\n");
    let report = ws.json(&[
        "predict",
        "chars/1",
        "--input",
        "batch.csv",
        "--output",
        "out.csv",
        "--probabilities",
        "--json",
    ]);
    assert_eq!(report["scored"], 2, "{report}");
    let out = std::fs::read_to_string(ws.path().join("out.csv")).unwrap();
    assert_eq!(
        out,
        "id,prediction,probability\n1,0,0.4444444444444444\n2,1,1\n"
    );
}

#[test]
fn predict_names_line_and_column_of_a_bad_record_and_can_skip_it() {
    let ws = Workspace::demo();
    let run = train_register_promote(&ws);
    let mut text = std::fs::read_to_string(ws.path().join("data/characters.csv")).unwrap();
    // Line 4 gets a word where the number of appearances goes, line 6 a ragged row.
    let mut lines: Vec<String> = text.lines().take(10).map(str::to_string).collect();
    let mut f: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    let n = f.len();
    f[n - 3] = "many".into();
    lines[3] = f.join(",");
    lines[5] = "1,2,3".into();
    text = lines.join("\n") + "\n";
    ws.write("bad.csv", text.as_bytes());
    let err = ws.fails(&[
        "predict", "chars/1", "--input", "bad.csv", "--output", "o.csv",
    ]);
    assert!(err.contains("bad.csv:4"), "{err}");
    assert!(err.contains("column `APPEARANCES`"), "{err}");
    assert!(!ws.path().join("o.csv").exists(), "no partial output");
    let report = ws.json(&[
        "predict",
        "chars/1",
        "--input",
        "bad.csv",
        "--output",
        "o.parquet",
        "--on-error",
        "skip",
        "--json",
    ]);
    assert_eq!(report["records"], 9, "{report}");
    assert_eq!(report["scored"], 7, "{report}");
    assert_eq!(report["skipped"], 2, "{report}");
    assert_eq!(report["bad_records"][0]["line"], 4);
    assert_eq!(report["bad_records"][0]["column"], "APPEARANCES");
    assert_eq!(report["bad_records"][1]["line"], 6);
    // A column that is not the model's nor its dataset's is refused, by name.
    ws.write("extra.csv", b"page_id,COLOUR\n1,red\n");
    let err = ws.fails(&[
        "predict",
        "chars/1",
        "--input",
        "extra.csv",
        "--output",
        "o.csv",
    ]);
    assert!(err.contains("column `COLOUR`"), "{err}");
    // JSON lines, with a missing key and an ignored column.
    ws.write(
        "batch.jsonl",
        b"{\"page_id\": 7, \"name\": \"Ada (Earth-616)\", \"ALIGN\": null, \"urlslug\": \"x\"}\n\n{\"page_id\": 8, \"APPEARANCES\": 12}\n",
    );
    let uri = format!("runs:/{run}/model");
    let report = ws.json(&[
        "predict",
        &uri,
        "--input",
        "batch.jsonl",
        "--output",
        "j.csv",
        "--json",
    ]);
    assert_eq!(report["scored"], 2, "{report}");
    assert_eq!(report["input_format"], "json_lines", "{report}");
    let out = std::fs::read_to_string(ws.path().join("j.csv")).unwrap();
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["7", "8"]);
}
