//! cerebro against a real MLflow tracking server (`mlflow server`, SQLite backend, artifact
//! proxy, 127.0.0.1, a free port), checked with MLflow's own Python client.
//!
//! The server comes from the Python named by `CEREBRO_MLFLOW_PYTHON` (a venv with `mlflow`). When
//! it is not set the tests print why and pass without checking anything, unless
//! `CEREBRO_REQUIRE_MLFLOW=1` (set by `.ci/run`) makes that a failure.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Workspace;
use cerebro::registry::RegistryStore;
use cerebro::store::{SqliteStore, TrackingStore};

/// A running `mlflow server`, stopped (with its whole process group) on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) uri: String,
    python: PathBuf,
    _dir: tempfile::TempDir,
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("CEREBRO_MLFLOW_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            let required = std::env::var("CEREBRO_REQUIRE_MLFLOW").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "CEREBRO_REQUIRE_MLFLOW=1 but CEREBRO_MLFLOW_PYTHON is not set"
            );
            eprintln!(
                "skipped: set CEREBRO_MLFLOW_PYTHON to a Python with mlflow installed to run the MLflow tests"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts a server, or returns None (after saying why) when no MLflow is configured.
    pub(crate) fn start() -> Option<Server> {
        use std::os::unix::process::CommandExt;
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(&python)
            .args(["-m", "mlflow", "server", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--workers", "1"])
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                dir.path().join("mlflow.db").display()
            ))
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            .arg("--serve-artifacts")
            // MLflow 3's background job runners (seven busy processes) serve nothing tested here.
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} -m mlflow server: {e}", python.display()));
        let server = Server {
            child,
            uri: format!("http://127.0.0.1:{port}"),
            python,
            _dir: dir,
        };
        server.wait_ready();
        Some(server)
    }

    /// Waits for `/health` (startup takes seconds to a minute on a loaded machine).
    fn wait_ready(&self) {
        let start = Instant::now();
        let health = format!("{}/health", self.uri);
        loop {
            if ureq::get(&health).call().is_ok() {
                return;
            }
            if start.elapsed() > Duration::from_secs(240) {
                let mut log = String::new();
                let _ = std::fs::File::open(self._dir.path().join("server.log"))
                    .and_then(|mut f| f.read_to_string(&mut log));
                panic!("mlflow server did not come up on {}:\n{log}", self.uri);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs a Python snippet with `MLFLOW_TRACKING_URI` set; `args` are in `sys.argv[1:]`;
    /// returns what it prints, parsed as JSON.
    fn py(&self, code: &str, args: &[&str]) -> Value {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(code)
            .args(args)
            .env("MLFLOW_TRACKING_URI", &self.uri)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("bad JSON from python ({e}):\n{stdout}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signalling the process group this test created for the server.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above; whatever ignored SIGTERM.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

const READ_RUN: &str = r#"
import json, sys, hashlib, tempfile, os
import mlflow
from mlflow import MlflowClient
c = MlflowClient()
out = []
for run_id in sys.argv[1:]:
    r = c.get_run(run_id)
    exp = c.get_experiment(r.info.experiment_id)
    hist = {k: [[m.step, m.timestamp, m.value] for m in c.get_metric_history(run_id, k)]
            for k in r.data.metrics}
    d = tempfile.mkdtemp()
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model.json", dst_path=d)
    digest = "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()
    info = mlflow.models.get_model_info(f"runs:/{run_id}")
    inputs = info.signature.inputs.to_dict()
    out.append({"inputs": inputs, "run_id": run_id, "experiment": exp.name, "name": r.info.run_name,
                "status": r.info.status, "start_time": r.info.start_time,
                "end_time": r.info.end_time, "params": r.data.params,
                "metrics": r.data.metrics, "tags": r.data.tags, "history": hist,
                "model_digest": digest})
print(json.dumps(out))
"#;

#[test]
fn runs_logged_by_cerebro_read_back_equal_in_the_mlflow_client() {
    let Some(server) = Server::start() else {
        return;
    };
    let ws = Workspace::demo();
    let uri = server.uri.as_str();
    let runs = ws.train_trees(1..=2, &["--tracking-uri", uri]);
    assert_eq!(runs.len(), 2);
    // Nothing went to the local store.
    assert_eq!(ws.count("runs"), 0);

    let mut args = vec![READ_RUN];
    args.extend(runs.iter().map(String::as_str));
    let read = server.py(args[0], &args[1..]);
    for (run_id, theirs) in runs.iter().zip(read.as_array().unwrap()) {
        let ours = ws.json(&["runs", "show", run_id, "--json", "--tracking-uri", uri]);
        let s = &ours["summary"];
        assert_eq!(theirs["run_id"], s["run_id"]);
        assert_eq!(theirs["experiment"], s["experiment"]);
        assert_eq!(theirs["name"], s["name"]);
        assert_eq!(theirs["status"], "FINISHED");
        assert_eq!(s["status"], "FINISHED");
        assert_eq!(theirs["start_time"], s["start_time"]);
        assert_eq!(theirs["end_time"], s["end_time"]);
        assert_eq!(theirs["params"], s["params"]);
        assert_eq!(theirs["metrics"], s["metrics"], "latest metrics");
        assert!(s["params"]["max_depth"].is_string());
        // The model artifact went through the artifact proxy byte for byte.
        let model = ours["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "model.json")
            .unwrap();
        assert_eq!(theirs["model_digest"], model["digest"]);
        // MLflow reads the model signature: the raw input schema, as column specs.
        let names: Vec<&str> = theirs["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "name",
                "ID",
                "ALIGN",
                "EYE",
                "HAIR",
                "SEX",
                "GSM",
                "APPEARANCES",
                "Year"
            ],
            "{}",
            theirs["inputs"]
        );
        assert_eq!(
            theirs["inputs"][0],
            serde_json::json!({"type": "string", "name": "name", "required": false})
        );
        assert_eq!(theirs["inputs"][7]["type"], "double");
        // Lineage tags MLflow users can read.
        let tags = &theirs["tags"];
        assert_eq!(tags["cerebro.run.data_version"], s["data_version"]);
        assert_eq!(tags["cerebro.model_kind"], "tree");
        assert_eq!(tags["mlflow.runName"], s["name"]);
        if let Some(commit) = ours["environment"]["git_commit"].as_str() {
            assert_eq!(tags["mlflow.source.git.commit"], commit);
        }
        // Every metric series, step by step.
        for (key, points) in theirs["history"].as_object().unwrap() {
            let local: Vec<Value> = points.as_array().unwrap().clone();
            assert!(!local.is_empty(), "{key}");
            assert_eq!(
                local.last().unwrap()[2],
                s["metrics"][key],
                "history of {key} ends at the latest value"
            );
        }
    }
}

const LOG_RUNS: &str = r#"
import json, mlflow
mlflow.set_experiment("from-python")
ids = []
for i in range(3):
    with mlflow.start_run(run_name=f"py-{i}") as run:
        mlflow.log_params({"alpha": str(0.1 * (i + 1)), "layers": "3"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
        mlflow.log_metric("auc", 0.5 + i / 10)
        mlflow.set_tag("team", "blue")
        ids.append(run.info.run_id)
print(json.dumps(ids))
"#;

#[test]
fn runs_logged_by_the_mlflow_client_appear_in_cerebro() {
    let Some(server) = Server::start() else {
        return;
    };
    let ids = server.py(LOG_RUNS, &[]);
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ws = Workspace::demo();
    let uri = server.uri.as_str();
    let listed = ws.json(&["runs", "list", "--json", "--tracking-uri", uri]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    // Newest first.
    let listed_ids: Vec<&str> = listed
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(listed_ids, expected);
    for (i, id) in ids.iter().enumerate() {
        let r = listed.iter().find(|r| r["run_id"] == *id).unwrap();
        assert_eq!(r["experiment"], "from-python");
        assert_eq!(r["name"], format!("py-{i}"));
        assert_eq!(r["status"], "FINISHED");
        assert_eq!(r["params"]["layers"], "3");
        // The latest loss is the step-4 value.
        assert_eq!(r["metrics"]["loss"].as_f64().unwrap(), 1.0 / (5 + i) as f64);
        assert_eq!(r["metrics"]["auc"].as_f64().unwrap(), 0.5 + i as f64 / 10.0);
    }
    // Filters and limits apply on the server.
    let one = ws.json(&[
        "runs",
        "list",
        "--json",
        "--limit",
        "1",
        "-e",
        "from-python",
        "--tracking-uri",
        uri,
    ]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["run_id"], ids[2]);
    // The whole series of a metric, by step, and a short prefix resolves.
    let store = cerebro::store::mlflow::MlflowStore::open(
        &ws.path().join(".cerebro"),
        &cerebro::store::mlflow::MlflowTarget {
            uri: server.uri.clone(),
            token: None,
        },
    )
    .unwrap();
    let history = store.metric_history(ids[0], "loss").unwrap();
    let steps: Vec<i64> = history.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 1, 2, 3, 4]);
    assert_eq!(history[2].value, 1.0 / 3.0);
    let shown = ws.json(&[
        "runs",
        "show",
        &ids[1][..8],
        "--json",
        "--tracking-uri",
        uri,
    ]);
    assert_eq!(shown["summary"]["run_id"], ids[1]);
    assert_eq!(shown["tags"]["team"], "blue");
    // Paging: two pages of at most 2 runs cover the three runs once each.
    let filter = cerebro::store::RunFilter::default();
    let first = store.list_runs_page(&filter, 2, None).unwrap();
    assert_eq!(first.runs.len(), 2);
    let token = first.next_page_token.clone().expect("a second page");
    let second = store.list_runs_page(&filter, 2, Some(&token)).unwrap();
    let mut all: Vec<String> = first
        .runs
        .iter()
        .chain(&second.runs)
        .map(|r| r.run_id.clone())
        .collect();
    all.sort();
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(all, want);
}

const ALIAS: &str = r#"
import json, sys
from mlflow import MlflowClient
c = MlflowClient()
v = c.get_model_version_by_alias(sys.argv[1], sys.argv[2])
print(json.dumps({"version": int(v.version), "run_id": v.run_id, "aliases": list(v.aliases)}))
"#;

#[test]
fn promotion_through_cerebro_sets_the_alias_mlflow_resolves() {
    let Some(server) = Server::start() else {
        return;
    };
    let ws = Workspace::demo();
    let uri = server.uri.as_str();
    let runs = ws.train_trees(1..=2, &["--tracking-uri", uri]);
    // A teammate's workspace, without the artifacts in its cache, registers the second run:
    // the model artifact comes down through the proxy.
    let teammate = Workspace::demo();
    for (w, run) in [(&ws, &runs[0]), (&teammate, &runs[1])] {
        let v = w.json(&[
            "models",
            "register",
            run,
            "--name",
            "chars",
            "--json",
            "--tracking-uri",
            uri,
        ]);
        assert_eq!(v["run_id"], run.as_str());
    }
    assert!(
        teammate
            .path()
            .join(".cerebro/artifacts")
            .read_dir()
            .unwrap()
            .count()
            > 0,
        "the teammate's cache holds the downloaded model"
    );
    ws.ok(&["models", "promote", "chars", "1", "--tracking-uri", uri]);
    let champion = server.py(ALIAS, &["chars", "champion"]);
    assert_eq!(champion["version"], 1);
    assert_eq!(champion["run_id"], runs[0].as_str());

    // Version 2 takes over whatever the gate says (forced, with a reason): 1 is archived.
    ws.ok(&[
        "models",
        "promote",
        "chars",
        "2",
        "--force",
        "--reason",
        "test",
        "--tracking-uri",
        uri,
    ]);
    let champion = server.py(ALIAS, &["chars", "champion"]);
    assert_eq!(champion["version"], 2);
    let model = ws.json(&["models", "show", "chars", "--json", "--tracking-uri", uri]);
    let stage_of = |v: i64| {
        model["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["version"] == v)
            .unwrap()["stage"]
            .clone()
    };
    assert_eq!(stage_of(2), "Production");
    assert_eq!(stage_of(1), "Archived");
    // Staging is the challenger alias.
    ws.ok(&[
        "models",
        "promote",
        "chars",
        "1",
        "--to",
        "staging",
        "--force",
        "--reason",
        "test",
        "--tracking-uri",
        uri,
    ]);
    assert_eq!(server.py(ALIAS, &["chars", "challenger"])["version"], 1);
    // The audit trail lives on the server too.
    let history = ws.json(&[
        "models",
        "history",
        "chars",
        "--json",
        "--tracking-uri",
        uri,
    ]);
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"promote"), "{actions:?}");
    assert!(actions.contains(&"archive"), "{actions:?}");
}

/// Everything about a store that a sync must carry, comparable across stores.
fn snapshot(root: &Path) -> Value {
    let store = SqliteStore::open(root).unwrap();
    let mut runs = Vec::new();
    for summary in store.list_runs(&Default::default()).unwrap() {
        let detail = store.get_run(&summary.run_id).unwrap();
        let mut histories = serde_json::Map::new();
        for key in summary.metrics.keys() {
            histories.insert(
                key.clone(),
                serde_json::to_value(store.metric_history(&summary.run_id, key).unwrap()).unwrap(),
            );
        }
        runs.push(serde_json::json!({"detail": detail, "histories": histories}));
    }
    let mut versions = Vec::new();
    for m in store.list_models().unwrap() {
        for v in store.list_versions(&m.name).unwrap() {
            let mut v = serde_json::to_value(v).unwrap();
            // When the copy was last touched is the copy's own.
            v.as_object_mut().unwrap().remove("updated_at");
            versions.push(v);
        }
    }
    serde_json::json!({"runs": runs, "versions": versions})
}

#[test]
fn export_then_import_round_trips_and_rerunning_copies_nothing() {
    let Some(server) = Server::start() else {
        return;
    };
    let uri = server.uri.as_str();
    let a = Workspace::demo();
    let runs = a.train_trees(1..=2, &[]);
    a.ok(&["models", "register", &runs[0], "--name", "chars"]);
    a.ok(&["models", "register", &runs[1], "--name", "chars"]);
    a.ok(&["models", "promote", "chars", "1"]);
    a.ok(&["models", "alias", "set", "chars", "candidate", "2"]);

    let first = a.json(&["sync", "export", "--to", uri, "--json"]);
    assert_eq!(first["runs_copied"], 2);
    assert_eq!(first["versions_copied"], 2);
    let again = a.json(&["sync", "export", "--to", uri, "--json"]);
    assert_eq!(again["runs_copied"], 0);
    assert_eq!(again["runs_present"], 2);
    assert_eq!(again["versions_copied"], 0);
    assert_eq!(again["versions_present"], 2);
    // The server holds each run and version once, with the stage aliases.
    let counts = server.py(
        r#"
import json
from mlflow import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name("characters-alive")
runs = c.search_runs([exp.experiment_id])
vs = c.search_model_versions("name = 'chars'")
print(json.dumps({"runs": len(runs), "versions": len(vs),
                  "champion": int(c.get_model_version_by_alias("chars", "champion").version),
                  "candidate": int(c.get_model_version_by_alias("chars", "candidate").version)}))
"#,
        &[],
    );
    assert_eq!(counts["runs"], 2);
    assert_eq!(counts["versions"], 2);
    assert_eq!(counts["champion"], 1);
    assert_eq!(counts["candidate"], 2);

    let b = Workspace::demo();
    let imported = b.json(&["sync", "import", "--from", uri, "--json"]);
    assert_eq!(imported["runs_copied"], 2);
    assert_eq!(imported["versions_copied"], 2);
    let root = |w: &Workspace| w.path().join(".cerebro");
    assert_eq!(snapshot(&root(&a)), snapshot(&root(&b)));
    // The imported model artifacts are here: with the data prepared (the same data version as
    // in `a`), the gate scores them.
    b.ok(&["data", "prepare"]);
    let gate = b
        .cmd(&["models", "gate", "chars", "2", "--json"])
        .output()
        .unwrap();
    let gate: Value = serde_json::from_slice(&gate.stdout)
        .unwrap_or_else(|e| panic!("gate JSON ({e}): {}", crate::common::text(&gate)));
    assert!(gate["candidate_value"].is_f64(), "{gate}");
    assert_eq!(gate["champion_version"], 1);

    let again = b.json(&["sync", "import", "--from", uri, "--json"]);
    assert_eq!(again["runs_copied"], 0);
    assert_eq!(again["versions_copied"], 0);
    assert_eq!(again["versions_updated"], 0);
    // Sending the imported workspace back creates nothing either.
    let back = b.json(&["sync", "export", "--to", uri, "--json"]);
    assert_eq!(back["runs_copied"], 0);
    assert_eq!(back["versions_copied"], 0);
    assert_eq!(snapshot(&root(&a)), snapshot(&root(&b)));
}

#[test]
fn a_dead_server_is_an_error_naming_it() {
    let ws = Workspace::demo();
    let uri = format!("http://127.0.0.1:{}", free_port());
    let err = ws.fails(&["runs", "list", "--tracking-uri", &uri]);
    assert!(err.contains(&uri), "{err}");
    assert!(err.contains("did not answer"), "{err}");
    let err = ws.fails(&["runs", "list", "--tracking-uri", "ftp://x"]);
    assert!(err.contains("not an MLflow server"), "{err}");
}

#[test]
fn the_sqlite_store_pages_runs_like_the_mlflow_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            store
                .create_run(&cerebro::store::NewRun {
                    experiment: "e".into(),
                    name: format!("r{i}"),
                    model_kind: "tree".into(),
                    params: Default::default(),
                    tags: Default::default(),
                    environment: Default::default(),
                    data_version: None,
                    pid: std::process::id(),
                    source: None,
                })
                .unwrap(),
        );
    }
    let newest_first: Vec<String> = store
        .list_runs(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_runs_page(&Default::default(), 3, token.as_deref())
            .unwrap();
        pages += 1;
        paged.extend(page.runs.into_iter().map(|r| r.run_id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, newest_first);
    // A limit caps the whole listing, across pages.
    let capped = cerebro::store::RunFilter {
        limit: Some(4),
        ..Default::default()
    };
    let first = store.list_runs_page(&capped, 3, None).unwrap();
    let second = store
        .list_runs_page(&capped, 3, first.next_page_token.as_deref())
        .unwrap();
    assert_eq!(first.runs.len() + second.runs.len(), 4);
    assert_eq!(second.next_page_token, None);
    assert!(store.list_runs_page(&capped, 3, Some("x")).is_err());
}

const READ_NAN: &str = r#"
import json, math
from mlflow import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name("nan")
out = {"runs": []}
for r in c.search_runs([exp.experiment_id]):
    hist = c.get_metric_history(r.info.run_id, "roc_auc")
    out["runs"].append({"latest_is_nan": math.isnan(r.data.metrics["roc_auc"]),
                        "history_is_nan": [math.isnan(m.value) for m in hist],
                        "accuracy": r.data.metrics["accuracy"]})
vs = c.search_model_versions("name = 'churn'")
out["version_metrics"] = [v.tags.get("cerebro.metrics") for v in vs]
print(json.dumps(out))
"#;

/// MLflow stores NaN metrics (its SQL store keeps them since mlflow/mlflow#1573): an undefined
/// ROC AUC logged by cerebro, directly or through `sync export`, is NaN in MLflow's client and
/// `null` again when cerebro reads it back; a version registered on the server keeps it.
#[test]
fn undefined_metrics_round_trip_through_mlflow_as_nan() {
    let Some(server) = Server::start() else {
        return;
    };
    let uri = server.uri.as_str();
    // 40 rows with one positive: the test split has none, so ROC AUC is undefined.
    let mut csv = String::from("id,age,plan,churned\n");
    for i in 0..40 {
        let y = if i == 17 { "yes" } else { "no" };
        csv.push_str(&format!("C{i:03},{},{},{y}\n", 20 + i, ["a", "b"][i % 2]));
    }
    let config = "[dataset]\npath = \"data.csv\"\nid = \"id\"\ntarget = \"churned\"\n\
                  positive = \"yes\"\nnumeric = [\"age\"]\ncategorical = [\"plan\"]\n\
                  [split]\ntest_fraction = 0.25\nseed = 7\n[train]\nexperiment = \"nan\"\n";
    let direct = Workspace::with_config(config);
    direct.write("data.csv", csv.as_bytes());
    let out = direct.json(&["train", "--json", "--model", "tree", "--tracking-uri", uri]);
    let remote_run = out[0]["run"]["run_id"].as_str().unwrap().to_string();
    assert!(out[0]["run"]["metrics"]["roc_auc"].is_null(), "{out}");
    let shown = direct.json(&["runs", "show", &remote_run, "--json", "--tracking-uri", uri]);
    assert!(shown["summary"]["metrics"]["roc_auc"].is_null(), "{shown}");
    let v = direct.json(&[
        "models",
        "register",
        &remote_run,
        "--name",
        "churn",
        "--json",
        "--tracking-uri",
        uri,
    ]);
    assert!(v["metrics"]["roc_auc"].is_null(), "{v}");
    let gate = direct
        .cmd(&[
            "models",
            "gate",
            "churn",
            "1",
            "--json",
            "--tracking-uri",
            uri,
        ])
        .output()
        .unwrap();
    let gate: Value = serde_json::from_slice(&gate.stdout).unwrap();
    assert_eq!(gate["passed"], false, "{gate}");
    assert!(
        gate["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("metric roc_auc is undefined for this version")
    );

    // The same through `sync export` from a local store.
    let local = Workspace::with_config(config);
    local.write("data.csv", csv.as_bytes());
    let out = local.json(&["train", "--json", "--model", "tree"]);
    assert!(out[0]["run"]["metrics"]["roc_auc"].is_null(), "{out}");
    let synced = local.json(&["sync", "export", "--to", uri, "--json"]);
    assert_eq!(synced["runs_copied"], 1, "{synced}");

    let read = server.py(READ_NAN, &[]);
    let runs = read["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{read}");
    for run in runs {
        assert_eq!(run["latest_is_nan"], true, "{read}");
        let history = run["history_is_nan"].as_array().unwrap();
        assert!(
            !history.is_empty() && history.iter().all(|b| b == true),
            "{read}"
        );
        assert!(run["accuracy"].is_f64(), "{read}");
    }
    let tag = read["version_metrics"][0].as_str().unwrap();
    assert!(tag.contains("\"roc_auc\":\"NaN\""), "{tag}");
    // And back: a fresh workspace importing from the server sees null again.
    let back = Workspace::with_config(config);
    back.write("data.csv", csv.as_bytes());
    back.json(&["sync", "import", "--from", uri, "--json"]);
    let listed = back.json(&["runs", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    for r in listed.as_array().unwrap() {
        assert!(r["metrics"]["roc_auc"].is_null(), "{r}");
        assert!(r["metrics"]["accuracy"].is_f64(), "{r}");
    }
    let v = back.json(&["models", "show", "churn", "--json"]);
    assert!(v["versions"][0]["metrics"]["roc_auc"].is_null(), "{v}");
}
