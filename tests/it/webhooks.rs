//! Webhooks through the real binary to a real HTTP receiver on 127.0.0.1 (a std TcpListener in
//! the test): every registry event arrives once with an MLflow signature the test checks with
//! its own HMAC; a 500 is retried; a receiver that never answers blocks no promotion.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::Workspace;

const SECRET: &str = "test-secret-0123456789";

/// One request the receiver got: lower-cased headers and the raw body.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn event(&self) -> String {
        let v = self.json();
        format!(
            "{}.{}",
            v["entity"].as_str().unwrap(),
            v["action"].as_str().unwrap()
        )
    }

    /// True if `X-MLflow-Signature` is `v1,` + base64 HMAC-SHA256(secret, "id.ts.body"),
    /// computed here independently of cerebro.
    fn signed_with(&self, secret: &str) -> bool {
        let id = &self.headers["x-mlflow-delivery-id"];
        let ts = &self.headers["x-mlflow-timestamp"];
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{id}.{ts}.{}", self.body).as_bytes());
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        self.headers.get("x-mlflow-signature") == Some(&expected)
    }
}

/// What the receiver answers, request by request (the last one repeats); `None` holds the
/// connection open without answering.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answers: Vec<Option<u16>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = got.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                sink.lock().unwrap().push(req);
                let answer = answers[n.min(answers.len() - 1)];
                match answer {
                    Some(code) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        );
                    }
                    None => held.push(stream),
                }
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most 60 s), then a little longer for extras.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        while self.received().len() < n && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        self.received()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST /hook ") {
        return None;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn with_webhook(ws: &Workspace, url: &str, events: &str, extra: &str) {
    let path = ws.path().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[[notifications]]\nurl = \"{url}\"\nevents = {events}\nsecret = \"{SECRET}\"\n{extra}\n"
    ));
    std::fs::write(path, config).unwrap();
}

fn deliveries(ws: &Workspace) -> Vec<Value> {
    ws.json(&["notifications", "list", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// The deliveries once `done` holds of them (at most 60 s: the detached deliverers the
/// commands started work in the background).
fn deliveries_when(ws: &Workspace, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = deliveries(ws);
        if done(&list) || start.elapsed() > Duration::from_secs(60) {
            return list;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn each_registry_event_arrives_once_signed_as_mlflow_signs() {
    let ws = Workspace::demo();
    // max_depth 1 is the weakest, 3 the strongest on this data: 3 passes the gate over 1.
    let runs = ws.train_trees(1..=3, &[]);
    let runs = [runs[0].clone(), runs[2].clone()];
    let hook = Receiver::start(vec![Some(200)]);
    with_webhook(&ws, &hook.url, r#"["*"]"#, "");
    // The URL is seen for the first time: history (none here) is not sent.
    ws.ok(&["notifications", "deliver"]);
    ws.register(&runs[0], "chars");
    ws.ok(&["models", "promote", "chars", "1"]);
    ws.register(&runs[1], "chars");
    ws.ok(&["models", "promote", "chars", "2"]);
    ws.ok(&["models", "rollback", "chars"]);

    let expected = [
        // register 1
        (
            "registered_model.created",
            json!({"name": "chars", "tags": {}, "description": ""}),
        ),
        ("model_version.created", Value::Null),
        // promote 1: None -> Production
        ("model_version_stage.transitioned", Value::Null),
        (
            "model_version_alias.created",
            json!({"name": "chars", "alias": "champion", "version": "1"}),
        ),
        // register 2
        ("model_version.created", Value::Null),
        // promote 2: 1 is archived, 2 takes champion
        ("model_version_stage.transitioned", Value::Null),
        ("model_version_stage.transitioned", Value::Null),
        (
            "model_version_alias.created",
            json!({"name": "chars", "alias": "champion", "version": "2"}),
        ),
        // rollback: 2 is archived, 1 takes champion back
        ("model_version_stage.transitioned", Value::Null),
        ("model_version_stage.transitioned", Value::Null),
        (
            "model_version_alias.created",
            json!({"name": "chars", "alias": "champion", "version": "1"}),
        ),
        ("model_version.rolled_back", Value::Null),
    ];
    let got = hook.wait_for(expected.len());
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    // Deliveries run in parallel: compare as multisets, then check payloads by event.
    let mut names: Vec<String> = got.iter().map(Received::event).collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|(n, _)| n.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    let ids: std::collections::BTreeSet<&String> = got
        .iter()
        .map(|r| &r.headers["x-mlflow-delivery-id"])
        .collect();
    assert_eq!(ids.len(), got.len(), "one delivery id per event");
    for r in &got {
        assert!(r.signed_with(SECRET), "bad signature on {r:#?}");
        assert!(!r.signed_with("another secret"));
        assert_eq!(r.headers["content-type"], "application/json");
        let body = r.json();
        assert!(
            body["text"].as_str().unwrap().starts_with("[cerebro] "),
            "{body}"
        );
        assert!(
            body["timestamp"].as_str().unwrap().ends_with("+00:00"),
            "{body}"
        );
    }
    for (name, data) in expected.iter().filter(|(_, d)| !d.is_null()) {
        assert!(
            got.iter()
                .any(|r| r.event() == *name && r.json()["data"] == *data),
            "no {name} with {data}"
        );
    }
    let created: Vec<Value> = got
        .iter()
        .filter(|r| r.event() == "model_version.created")
        .map(|r| r.json()["data"].clone())
        .collect();
    for (v, run) in [("1", &runs[0]), ("2", &runs[1])] {
        let d = created.iter().find(|d| d["version"] == v).unwrap();
        assert_eq!(d["run_id"], run.as_str());
        assert_eq!(d["source"], format!("run:{run}"));
        assert_eq!(d["description"], Value::Null);
    }
    let back = got
        .iter()
        .find(|r| r.event() == "model_version.rolled_back")
        .unwrap()
        .json();
    assert_eq!(back["data"]["version"], "1");
    assert_eq!(back["data"]["from_version"], "2");

    // Stored and listed: each delivered once, on the first attempt.
    let listed = deliveries_when(&ws, |l| l.iter().all(|d| d["status"] == "DELIVERED"));
    assert_eq!(listed.len(), expected.len());
    for d in &listed {
        assert_eq!(d["status"], "DELIVERED", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 200);
        assert_eq!(d["url"], hook.url.as_str());
    }
    let table = ws.ok(&["notifications", "list"]);
    assert!(table.contains("model_version.rolled_back") && table.contains("DELIVERED"));
    // Nothing is sent twice, whoever runs the deliverer again.
    ws.ok(&["notifications", "deliver"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hook.received().len(), expected.len());
}

#[test]
fn a_failed_attempt_is_retried_with_the_same_delivery_id() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=1, &[]);
    let hook = Receiver::start(vec![Some(500), Some(503), Some(204)]);
    with_webhook(&ws, &hook.url, r#"["model_version.created"]"#, "");
    ws.ok(&["notifications", "deliver"]);
    ws.register(&runs[0], "chars");
    // Only the subscribed event; a 500 and a 503, then delivered (backoff 1 s, then 2 s).
    let got = hook.wait_for(3);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got.iter().all(|r| r.event() == "model_version.created"));
    assert!(got.iter().all(|r| r.signed_with(SECRET)));
    let id = &got[0].headers["x-mlflow-delivery-id"];
    assert!(got.iter().all(|r| &r.headers["x-mlflow-delivery-id"] == id));
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "every attempt sends the same body"
    );
    let listed = deliveries_when(&ws, |l| l.iter().all(|d| d["status"] == "DELIVERED"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "DELIVERED");
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_status"], 204);
}

#[test]
fn a_receiver_that_never_answers_blocks_no_promotion_and_one_that_refuses_fails() {
    let ws = Workspace::demo();
    let runs = ws.train_trees(1..=1, &[]);
    let silent = Receiver::start(vec![None]);
    let refusing = Receiver::start(vec![Some(404)]);
    with_webhook(&ws, &silent.url, r#"["*"]"#, "timeout_ms = 600000");
    with_webhook(&ws, &refusing.url, r#"["model_version.created"]"#, "");
    ws.ok(&["notifications", "deliver", "--quiet"]);
    ws.register(&runs[0], "chars");
    // The silent receiver holds its first request for the whole test (10 minutes' timeout): a
    // promotion that waited for it would never return.
    silent.wait_for(1);
    let out = ws
        .std_cmd(&["models", "promote", "chars", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::text(&out));
    let silent_url = silent.url.clone();
    let listed = deliveries_when(&ws, |l| {
        l.iter().any(|d| d["status"] == "FAILED")
            && l.iter().filter(|d| d["url"] == silent_url.as_str()).count() >= 4
    });
    let of = |url: &str| -> Vec<&Value> { listed.iter().filter(|d| d["url"] == url).collect() };
    // A 404 is not retried.
    let refused = of(&refusing.url);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["status"], "FAILED");
    assert_eq!(refused[0]["attempts"], 1);
    assert_eq!(refused[0]["last_status"], 404);
    // The silent one's deliveries are still pending, the promotion's among them.
    let silent_ones = of(&silent.url);
    assert!(silent_ones.len() >= 4, "{silent_ones:#?}");
    assert!(silent_ones.iter().all(|d| d["status"] == "PENDING"));
    assert!(
        silent_ones
            .iter()
            .any(|d| d["event"] == "model_version_alias.created")
    );
}

#[test]
fn bad_notifications_config_is_named() {
    let ws = Workspace::demo();
    with_webhook(
        &ws,
        "http://127.0.0.1:9/hook",
        r#"["model_version.creatd"]"#,
        "",
    );
    let err = ws.fails(&["notifications", "list"]);
    assert!(
        err.contains("unknown webhook event `model_version.creatd`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `model_version.created`"),
        "{err}"
    );
    assert!(err.contains("config.toml:"), "{err}");
    let ws = Workspace::demo();
    with_webhook(&ws, "ftp://x/hook", r#"["*"]"#, "");
    let err = ws.fails(&["models", "list"]);
    assert!(err.contains("is not http:// or https://"), "{err}");
}
