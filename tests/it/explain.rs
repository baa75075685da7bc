//! Explanations per prediction through the real binary: `?explain=true` and `params.explain` on a
//! real endpoint on 127.0.0.1 with raw records, the explanations in the inference log, and
//! `cerebro predict --explain` columns; contributions add up to the raw score (1e-9).

use serde_json::{Value, json};

use crate::common::{Server, Workspace};
use crate::serving::{agent, log_lines, post_json, record};

/// `base_value + Σ contributions = raw_score`, and the raw score is the probability's (tree:
/// the probability itself).
fn check(e: &Value, probability: f64) {
    let contributions = e["contributions"].as_object().expect("contributions");
    assert!(contributions.contains_key("TITLE"), "{e}");
    let total: f64 = e["base_value"].as_f64().unwrap()
        + contributions
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum::<f64>();
    let raw = e["raw_score"].as_f64().unwrap();
    assert!((total - raw).abs() < 1e-9, "{e}");
    assert_eq!(e["scale"], "probability");
    assert!(
        (raw - probability).abs() < 1e-12,
        "{e} vs probability {probability}"
    );
}

#[test]
fn explanations_on_the_endpoint_in_the_log_and_in_batch_scoring() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(4..=4, &[]);
    ws.register(&runs[0], "chars");
    ws.ok(&["models", "promote", "chars", "1"]);
    let mut server = Server::start(&ws, &["--name", "why"], &[]);
    let agent = agent();
    let records: Vec<Value> = (0..3).map(record).collect();
    let url = server.url("/invocations");
    let plain = post_json(
        &agent,
        &format!("{url}?probabilities=true"),
        &json!({"dataframe_records": records}),
    );
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(plain.body.get("explanations").is_none());
    for body in [
        (
            format!("{url}?explain=true&probabilities=true"),
            json!({"dataframe_records": records}),
        ),
        (
            format!("{url}?probabilities=true"),
            json!({"dataframe_records": records, "params": {"explain": true}}),
        ),
    ] {
        let r = post_json(&agent, &body.0, &body.1);
        assert_eq!(r.status, 200, "{}", r.body);
        // The same answer as without explanations, plus one explanation per record.
        assert_eq!(r.body["probabilities"], plain.body["probabilities"]);
        let explanations = r.body["explanations"].as_array().unwrap();
        assert_eq!(explanations.len(), 3);
        for (e, p) in explanations
            .iter()
            .zip(r.body["probabilities"].as_array().unwrap())
        {
            check(e, p.as_f64().unwrap());
        }
    }
    let bad = post_json(
        &agent,
        &url,
        &json!({"dataframe_records": records, "params": {"explain": "yes"}}),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap()
            .contains("params.explain")
    );
    assert!(server.terminate().success());
    let lines = log_lines(&ws, "why");
    assert_eq!(lines.len(), 4, "every request is logged");
    assert!(lines[0].get("explanations").is_none());
    for line in &lines[1..3] {
        let x = &line["explanations"];
        assert_eq!(x["contributions"].as_array().unwrap().len(), 3, "{line}");
        assert!(x["features"].as_array().unwrap().contains(&json!("TITLE")));
    }

    // Batch scoring: a base_value and a contribution column per feature, adding up to the
    // probability of the same record.
    let mut csv = String::from("page_id,name,APPEARANCES,Year,ID,ALIGN,EYE,HAIR,SEX,GSM\n");
    for r in &records {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},\n",
            r["page_id"],
            r["name"].as_str().unwrap(),
            r["APPEARANCES"],
            r["Year"],
            r["ID"].as_str().unwrap(),
            r["ALIGN"].as_str().unwrap(),
            r["EYE"].as_str().unwrap(),
            r["HAIR"].as_str().unwrap(),
            r["SEX"].as_str().unwrap()
        ));
    }
    ws.write("in.csv", csv.as_bytes());
    ws.ok(&[
        "predict",
        "chars/1",
        "--input",
        "in.csv",
        "--output",
        "out.csv",
        "--probabilities",
        "--explain",
    ]);
    let out = std::fs::read_to_string(ws.path().join("out.csv")).unwrap();
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..4],
        &["page_id", "prediction", "probability", "base_value"]
    );
    assert!(header.contains(&"contribution_TITLE"), "{header:?}");
    let served = plain.body["probabilities"].as_array().unwrap();
    for (k, line) in lines.enumerate() {
        let v: Vec<f64> = line
            .split(',')
            .skip(2)
            .map(|x| x.parse().unwrap())
            .collect();
        let total: f64 = v[1..].iter().sum();
        assert!((total - v[0]).abs() < 1e-9, "{line}");
        assert_eq!(
            v[0],
            served[k].as_f64().unwrap(),
            "the endpoint's probability"
        );
    }
}
