//! The serving endpoint through the real binary and real HTTP on 127.0.0.1: every payload format
//! and error case, health before and after a model exists, the token, sticky A/B routing, hot
//! reload under load with zero failures, SIGTERM under load losing no logged request, and random
//! bodies that never take the server down.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, Workspace};

/// Trains quick trees (max_depth 2 and 3) and registers them as `chars` versions 1 and 2.
pub(crate) fn two_versions(ws: &Workspace) {
    for run in ws.train_trees(2..=3, &[]) {
        ws.register(&run, "chars");
    }
}

pub(crate) fn append_config(ws: &Workspace, extra: &str) {
    let path = ws.path().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(extra);
    std::fs::write(path, config).unwrap();
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A response: status, the served version header, the body as JSON (or as a string).
pub(crate) struct Reply {
    pub status: u16,
    pub version: Option<String>,
    pub request_id: Option<String>,
    pub body: Value,
}

pub(crate) fn send(
    agent: &ureq::Agent,
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut req = agent.post(url);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let mut resp = req.send(body).expect("request");
    reply(&mut resp)
}

pub(crate) fn reply(resp: &mut ureq::http::Response<ureq::Body>) -> Reply {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (version, request_id) = (header("x-cerebro-model-version"), header("x-request-id"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        version,
        request_id,
        body,
    }
}

pub(crate) fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> Reply {
    send(
        agent,
        url,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

pub(crate) fn get(agent: &ureq::Agent, url: &str) -> Reply {
    let mut resp = agent.get(url).call().expect("request");
    reply(&mut resp)
}

/// One raw record of the demo dataset file (the model prepares it).
pub(crate) fn record(id: i64) -> Value {
    let name = if id % 2 == 0 {
        format!("Test {id} (Earth-616)")
    } else {
        format!("Captain Test {id}")
    };
    json!({
        "page_id": id, "name": name, "APPEARANCES": (id % 50) as f64 * 3.0, "Year": 1960 + id % 50,
        "ID": "Secret Identity", "ALIGN": "Good Characters", "EYE": "Blue Eyes",
        "HAIR": "Black Hair", "SEX": "Male Characters"
    })
}

/// Waits until `f` returns true (polling), or panics after `secs`.
pub(crate) fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every line of the endpoint's inference log (skipping a torn last line).
pub(crate) fn log_lines(ws: &Workspace, endpoint: &str) -> Vec<Value> {
    let dir = ws.path().join("data/inference").join(endpoint);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        out.extend(
            complete
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

#[test]
fn formats_errors_health_and_random_bodies() {
    let ws = Workspace::demo();
    append_config(&ws, "\n[serving]\nmax_rows = 50\nmax_body_bytes = 20000\n");
    two_versions(&ws);
    let server = Server::start(&ws, &[], &[]);
    let a = agent();
    let inv = server.url("/invocations");

    // No Production version yet: up, but not healthy.
    assert_eq!(get(&a, &server.url("/health")).status, 503);
    assert_eq!(get(&a, &server.url("/ping")).status, 503);
    let r = post_json(&a, &inv, &json!({"dataframe_records": [record(1)]}));
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error_code"], "TEMPORARILY_UNAVAILABLE");

    ws.ok(&["models", "promote", "chars", "1"]);
    wait_for(5, "the promoted model", || {
        get(&a, &server.url("/health")).status == 200
    });
    assert_eq!(get(&a, &server.url("/ping")).status, 200);

    // Every format gives the same predictions for the same records.
    let recs: Vec<Value> = (0..5).map(record).collect();
    let cols: Vec<String> = recs[0].as_object().unwrap().keys().cloned().collect();
    let rows: Vec<Value> = recs
        .iter()
        .map(|r| Value::Array(cols.iter().map(|c| r[c].clone()).collect()))
        .collect();
    let columnar: serde_json::Map<String, Value> = cols
        .iter()
        .map(|c| (c.clone(), recs.iter().map(|r| r[c].clone()).collect()))
        .collect();
    let mut csv = cols.join(",") + "\n";
    for r in &recs {
        let vals: Vec<String> = cols
            .iter()
            .map(|c| match &r[c] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        csv += &(vals.join(",") + "\n");
    }
    let first = post_json(&a, &inv, &json!({"dataframe_records": recs}));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.version.as_deref(), Some("1"));
    assert!(first.request_id.is_some());
    let preds = first.body["predictions"].clone();
    assert_eq!(preds.as_array().unwrap().len(), 5);
    assert!(preds.as_array().unwrap().iter().all(|p| p == 0 || p == 1));
    for body in [
        json!({"dataframe_split": {"columns": cols, "data": rows}}),
        json!({"instances": recs}),
        json!({"inputs": columnar}),
        json!({"inputs": recs}),
    ] {
        let r = post_json(
            &a,
            &server.url("/serving-endpoints/chars/invocations"),
            &body,
        );
        assert_eq!(r.status, 200, "{body}: {}", r.body);
        assert_eq!(r.body["predictions"], preds, "{body}");
    }
    let r = send(&a, &inv, Some("text/csv"), csv.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["predictions"], preds);

    // Probabilities, by query or by params.
    let r = post_json(
        &a,
        &server.url("/invocations?probabilities=true"),
        &json!({"dataframe_records": [record(1)]}),
    );
    let p = r.body["probabilities"][0].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let r = post_json(
        &a,
        &inv,
        &json!({"dataframe_records": [record(1)], "params": {"predict_method": "predict_proba"}}),
    );
    let pair = r.body["predictions"][0].as_array().unwrap();
    assert!((pair[1].as_f64().unwrap() - p).abs() < 1e-12);

    // An unseen category is predicted and counted.
    let mut odd = record(2);
    odd["EYE"] = json!("Plaid");
    assert_eq!(
        post_json(&a, &inv, &json!({"dataframe_records": [odd]})).status,
        200
    );

    // Every error case, with MLflow's error shape.
    let err = |r: Reply, status: u16, code: &str, text: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.body["error_code"], code, "{}", r.body);
        let msg = r.body["message"].as_str().unwrap();
        assert!(msg.contains(text), "{msg:?} should contain {text:?}");
    };
    let bad = b"{\"dataframe_records\": [\n  {\"APPEARANCES\": 1,,}\n]}";
    err(
        send(&a, &inv, Some("application/json"), bad),
        400,
        "MALFORMED_REQUEST",
        "line 2, column",
    );
    // A column absent from the whole request is missing in every record (MLflow's optional
    // columns): scored as a null SEX, which preparation fills as it filled training's.
    let mut missing = record(3);
    missing.as_object_mut().unwrap().remove("SEX");
    let mut null = record(3);
    null["SEX"] = Value::Null;
    let proba = |r: &Value| {
        post_json(
            &a,
            &server.url("/invocations?probabilities=true"),
            &json!({"dataframe_records": [r]}),
        )
        .body["probabilities"][0]
            .as_f64()
            .unwrap()
    };
    assert_eq!(proba(&missing).to_bits(), proba(&null).to_bits());
    let mut extra = record(3);
    extra["COLOUR"] = json!("red");
    err(
        post_json(&a, &inv, &json!({"dataframe_records": [extra]})),
        400,
        "BAD_REQUEST",
        "unknown column `COLOUR`",
    );
    let mut wrong = record(3);
    wrong["Year"] = json!("nineteen");
    err(
        post_json(&a, &inv, &json!({"dataframe_records": [wrong]})),
        400,
        "BAD_REQUEST",
        "Year: expected a number",
    );
    let nan = br#"{"dataframe_records": [{"APPEARANCES": NaN}]}"#;
    err(
        send(&a, &inv, Some("application/json"), nan),
        400,
        "MALFORMED_REQUEST",
        "NaN",
    );
    let mut csv_bad = cols.join(",") + "\n";
    let vals: Vec<String> = cols
        .iter()
        .map(|c| {
            if c == "Year" {
                "inf".into()
            } else {
                "1".into()
            }
        })
        .collect();
    csv_bad += &(vals.join(",") + "\n");
    err(
        send(&a, &inv, Some("text/csv"), csv_bad.as_bytes()),
        400,
        "MALFORMED_REQUEST",
        "line 2",
    );
    let many: Vec<Value> = (0..51).map(record).collect();
    err(
        post_json(&a, &inv, &json!({"dataframe_records": many})),
        400,
        "INVALID_PARAMETER_VALUE",
        "limit is 50",
    );
    let huge = vec![b' '; 30_000];
    err(
        send(&a, &inv, Some("application/json"), &huge),
        413,
        "REQUEST_LIMIT_EXCEEDED",
        "20000",
    );
    err(
        send(&a, &inv, Some("text/plain"), b"hello"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "text/plain",
    );
    err(
        post_json(
            &a,
            &server.url("/serving-endpoints/other/invocations"),
            &json!({}),
        ),
        404,
        "ENDPOINT_NOT_FOUND",
        "other",
    );

    // Random bodies never take the server down nor give a 5xx.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seed = json!({"dataframe_records": [record(4)]})
        .to_string()
        .into_bytes();
    for i in 0..300 {
        let body: Vec<u8> = if i % 2 == 0 {
            (0..next() % 200).map(|_| next() as u8).collect()
        } else {
            let mut b = seed.clone();
            for _ in 0..3 {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            b
        };
        let ct = if i % 3 == 0 {
            "text/csv"
        } else {
            "application/json"
        };
        let r = send(&a, &inv, Some(ct), &body);
        assert!(r.status < 500, "{:?} -> {} {}", body, r.status, r.body);
    }
    assert_eq!(get(&a, &server.url("/ping")).status, 200);

    let metrics = get(&a, &server.url("/metrics")).body;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("cerebro_requests_total{endpoint=\"chars\",status=\"200\",version=\"1\"}"),
        "{text}"
    );
    assert!(text.contains("cerebro_request_duration_seconds_bucket"));
    assert!(text.contains(
        "cerebro_model_info{endpoint=\"chars\",model=\"chars\",version=\"1\",stage=\"Production\""
    ));
    assert!(
        !text.contains("cerebro_unseen_categories_total{endpoint=\"chars\"} 0"),
        "{text}"
    );
    let version = get(&a, &server.url("/version")).body;
    assert_eq!(version["served"][0]["version"], 1);

    let st = ws.json(&["endpoints", "status", "chars", "--json"]);
    assert_eq!(st["state"], "up");
    assert_eq!(st["address"], server.base.trim_start_matches("http://"));
}

#[test]
fn token_and_bind_rules() {
    let ws = Workspace::demo();
    two_versions(&ws);
    ws.ok(&["models", "promote", "chars", "1"]);
    let err = ws.fails(&["serve", "--model", "chars", "--bind", "0.0.0.0:0"]);
    assert!(err.contains("without a bearer token"), "{err}");

    let server = Server::start(&ws, &[], &[("CEREBRO_SERVING_TOKEN", "s3cret-token")]);
    let a = agent();
    let body = json!({"dataframe_records": [record(1)]}).to_string();
    let r = send(
        &a,
        &server.url("/invocations"),
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error_code"], "UNAUTHENTICATED");
    assert_eq!(get(&a, &server.url("/metrics")).status, 401);
    // Health probes stay open.
    assert_eq!(get(&a, &server.url("/health")).status, 200);
    let mut ok = a
        .post(server.url("/invocations"))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer s3cret-token")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(reply(&mut ok).status, 200);
    let mut wrong = a
        .post(server.url("/invocations"))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer s3cret-tokeN")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(reply(&mut wrong).status, 401);
}

#[test]
fn sticky_split_and_hot_reload_without_failures() {
    let ws = Workspace::demo();
    append_config(
        &ws,
        "\n[serving]\nchallenger_share = 0.5\nlog_flush_ms = 20\n",
    );
    two_versions(&ws);
    ws.ok(&["models", "promote", "chars", "1"]);
    ws.ok(&["models", "promote", "chars", "2", "--to", "Staging"]);
    let server = Server::start(&ws, &[], &[]);
    let a = agent();
    let inv = server.url("/invocations");

    // The same id always reaches the same arm; both arms get traffic.
    let mut arm_of: HashMap<i64, String> = HashMap::new();
    for round in 0..2 {
        for id in 0..30 {
            let r = post_json(&a, &inv, &json!({"dataframe_records": [record(id)]}));
            assert_eq!(r.status, 200);
            let v = r.version.unwrap();
            if round == 0 {
                arm_of.insert(id, v);
            } else {
                assert_eq!(arm_of[&id], v, "id {id} changed arm");
            }
        }
    }
    let versions: HashSet<&String> = arm_of.values().collect();
    assert_eq!(versions.len(), 2, "{arm_of:?}");
    // A request mixing ids is split and answered by both.
    let all: Vec<Value> = (0..30).map(record).collect();
    let r = post_json(&a, &inv, &json!({"dataframe_records": all}));
    assert_eq!(r.version.as_deref(), Some("1,2"));

    // Promote under a steady load: no failures, and the switch shows within a second.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, inv) = (stop.clone(), inv.clone());
        std::thread::spawn(move || {
            let a = agent();
            let (mut ok, mut failed, mut seen) = (0u32, Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = post_json(
                    &a,
                    &inv,
                    &json!({"dataframe_records": [record(1000 + i % 7)]}),
                );
                if r.status == 200 {
                    ok += 1;
                    seen.push((Instant::now(), r.version.unwrap()));
                } else {
                    failed.push((r.status, r.body));
                }
                i += 1;
            }
            (ok, failed, seen)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    ws.ok(&[
        "models",
        "promote",
        "chars",
        "2",
        "--force",
        "--reason",
        "hot reload test",
    ]);
    let promoted = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, seen) = client.join().unwrap();
    assert!(
        failed.is_empty(),
        "failed requests during the swap: {failed:?}"
    );
    assert!(ok > 20, "only {ok} requests");
    // Before the promotion both arms answer (the split); after it, only version 2.
    let last_v1 = seen
        .iter()
        .rposition(|(_, v)| v != "2")
        .expect("version 1 served before the promotion");
    let switch = seen[last_v1].0.saturating_duration_since(promoted);
    assert!(switch < Duration::from_secs(1), "switched after {switch:?}");
    assert!(
        seen.len() - last_v1 > 10,
        "too few requests after the switch"
    );
    // After the promotion there is no Staging version: everything goes to version 2.
    let r = post_json(&a, &inv, &json!({"dataframe_records": all}));
    assert_eq!(r.version.as_deref(), Some("2"));

    wait_for(3, "the log to show the switch", || {
        let lines = log_lines(&ws, "chars");
        let v: Vec<i64> = lines.iter().filter_map(|l| l["version"].as_i64()).collect();
        v.contains(&1) && v.last() == Some(&2)
    });
    let lines = log_lines(&ws, "chars");
    let line = &lines[0];
    for key in [
        "request_id",
        "timestamp_ms",
        "endpoint",
        "model",
        "version",
        "arm",
        "status",
        "latency_us",
        "inputs",
        "predictions",
        "probabilities",
    ] {
        assert!(line.get(key).is_some(), "{key} missing from {line}");
    }
    assert_eq!(line["inputs"][0]["page_id"], "0");
    assert_eq!(line["endpoint"], "chars");

    let list = ws.json(&["endpoints", "list", "--json"]);
    assert_eq!(list[0]["name"], "chars");
    assert_eq!(list[0]["state"], "up");
}

#[test]
fn sigterm_under_load_loses_no_logged_request() {
    let ws = Workspace::demo();
    // A long flush interval: only the graceful drain can get the last requests to disk.
    append_config(&ws, "\n[serving]\nlog_flush_ms = 60000\n");
    two_versions(&ws);
    ws.ok(&["models", "promote", "chars", "1"]);
    let mut server = Server::start(&ws, &["--name", "term"], &[]);
    let inv = server.url("/invocations");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|t| {
            let (stop, inv) = (stop.clone(), inv.clone());
            std::thread::spawn(move || {
                let a = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let mut ids = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"dataframe_records": [record(t * 10_000 + i)]}).to_string();
                    let resp = ureq::Agent::post(&a, &inv)
                        .header("Content-Type", "application/json")
                        .send(body.as_bytes());
                    match resp {
                        Ok(mut r) if r.status() == 200 => {
                            ids.push(reply(&mut r).request_id.unwrap());
                        }
                        Ok(_) => {}
                        Err(_) => break, // the server has gone
                    }
                    i += 1;
                }
                ids
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let status = server.terminate();
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "exit status {status:?}");
    let answered: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(answered.len() > 20, "only {} answered", answered.len());
    let logged: HashSet<String> = log_lines(&ws, "term")
        .iter()
        .map(|l| l["request_id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests missing from the log",
        lost.len(),
        answered.len()
    );
    let st = ws.json(&["endpoints", "status", "term", "--json"]);
    assert_eq!(st["state"], "down");
    assert!(st["stats"]["requests"].as_u64().unwrap() >= answered.len() as u64);
}

#[test]
fn a_stalled_body_is_answered_408_and_does_not_block_shutdown() {
    use std::io::{Read, Write};
    let ws = Workspace::demo();
    two_versions(&ws);
    ws.ok(&["models", "promote", "chars", "1"]);
    append_config(&ws, "\n[serving]\nbody_timeout_ms = 300\n");
    let mut server = Server::start(&ws, &[], &[]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Promise 100 bytes, send 10, then stall.
    write!(
        stream,
        "POST /invocations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"inputs\":"
    )
    .unwrap();
    stream.flush().unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("REQUEST_TIMEOUT"), "{head}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A well-behaved client is unaffected meanwhile, and SIGTERM stops the server promptly.
    let ok = post_json(
        &agent(),
        &server.url("/invocations"),
        &json!({"dataframe_records": [record(1)]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(server.terminate().success());
}
