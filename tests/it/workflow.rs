//! Workflows: pipelines run by the real binary on a real store. Retries, timeouts and run-if;
//! a cycle rejected; prepare -> train -> register -> promote with the gate deciding; an alert
//! row triggering a retrain in `cerebro agent`; two agents sharing one schedule; an agent killed
//! with SIGKILL mid-pipeline, then the run resumed.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::{Workspace, small_config, small_csv, text};

/// A workspace over the small learnable CSV with `pipelines` appended to its config.
fn workspace(pipelines: &str) -> Workspace {
    let ws = Workspace::with_config(&format!("{}\n{pipelines}", small_config("")));
    ws.write("data.csv", small_csv(400).as_bytes());
    ws
}

fn db(ws: &Workspace) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Polls `f` every 100 ms until it returns Some, or panics after `limit` naming `what`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until an agent has armed its trigger(s): recorded where the trigger of `pipeline` (or of
/// any pipeline) starts from, so only later rows or files fire it.
fn wait_for_trigger(conn: &Connection, pipeline: Option<&str>, what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        let n: i64 = match pipeline {
            Some(p) => conn.query_row(
                "SELECT count(*) FROM pipeline_cursors WHERE pipeline = ?1",
                [p],
                |r| r.get(0),
            ),
            None => conn.query_row("SELECT count(*) FROM pipeline_cursors", [], |r| r.get(0)),
        }
        .ok()?;
        (n > 0).then_some(())
    });
}

/// Waits for the first pipeline run fired by `fired_by` (`alert`, `file`, ...): its id and the
/// detail of what fired it.
fn wait_for_fired(conn: &Connection, fired_by: &str, what: &str) -> (String, String) {
    wait_for(what, Duration::from_secs(60), || {
        conn.query_row(
            "SELECT run_id, detail FROM pipeline_runs WHERE fired_by = ?1",
            [fired_by],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .ok()
    })
}

/// Waits until pipeline run `run_id` is no longer RUNNING: its status.
fn wait_for_end(conn: &Connection, run_id: &str, what: &str, limit: Duration) -> String {
    wait_for(what, limit, || {
        conn.query_row(
            "SELECT status FROM pipeline_runs WHERE run_id = ?1 AND status <> 'RUNNING'",
            [run_id],
            |r| r.get::<_, String>(0),
        )
        .ok()
    })
}

/// Waits until the file `trace` (written by a step's shell script) contains `text`.
fn wait_for_trace(trace: &Path, text: &str, what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        std::fs::read_to_string(trace)
            .ok()
            .filter(|t| t.contains(text))
    });
}

/// A `cerebro agent`, killed on drop if still running.
struct AgentProc(Child);

impl AgentProc {
    fn start(ws: &Workspace) -> AgentProc {
        let child = ws
            .std_cmd(&["agent", "--poll-ms", "100"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("agent starts");
        AgentProc(child)
    }

    fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, sig) };
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the agent did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shell(script: &str) -> String {
    format!(
        "program = \"sh\"\nargs = [\"-c\", {}]\n",
        toml_string(script)
    )
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_failing_step_is_retried_with_backoff_until_it_succeeds() {
    // Fails until its counter file reaches 3: two retries make it pass.
    let counter = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; \
                   echo attempt $n; [ $n -ge 3 ] || { echo not yet >&2; exit 1; }";
    let ws = workspace(&format!(
        "[[pipelines.flaky.steps]]\nname = \"flaky\"\nkind = \"command\"\nretries = 2\n\
         backoff = \"100ms\"\n{}",
        shell(counter)
    ));
    let out = ws.json(&["pipeline", "run", "flaky", "--json"]);
    assert_eq!(out["status"], "SUCCEEDED", "{out:#}");
    let step = &out["steps"][0];
    assert_eq!(step["status"], "SUCCEEDED");
    assert_eq!(step["attempts"], 3);
    let log = step["log"].as_str().unwrap();
    assert!(
        log.contains("attempt 1") && log.contains("attempt 3"),
        "{log}"
    );
    assert!(
        log.contains("[attempt 2 failed: exit status 1: not yet]"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("count"))
            .unwrap()
            .trim(),
        "3"
    );

    // With one retry the same step fails: the run fails and the command exits non-zero.
    std::fs::remove_file(ws.path().join("count")).unwrap();
    let ws2 = workspace(&format!(
        "[[pipelines.flaky.steps]]\nname = \"flaky\"\nkind = \"command\"\nretries = 1\n\
         backoff = \"10ms\"\n{}",
        shell(counter)
    ));
    let out = ws2.cmd(&["pipeline", "run", "flaky"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let runs = ws2.json(&["pipeline", "runs", "--json"]);
    assert_eq!(runs[0]["status"], "FAILED");
}

#[test]
fn a_timed_out_step_is_killed_and_the_runner_carries_on() {
    let ws = workspace(&format!(
        "[[pipelines.p.steps]]\nname = \"hang\"\nkind = \"command\"\ntimeout = \"1s\"\n{}\
         [[pipelines.p.steps]]\nname = \"after_ok\"\nkind = \"command\"\nafter = [\"hang\"]\n{}\
         [[pipelines.p.steps]]\nname = \"cleanup\"\nkind = \"command\"\nafter = [\"hang\"]\n\
         run_if = \"any_failed\"\n{}\
         [[pipelines.p.steps]]\nname = \"always\"\nkind = \"command\"\nafter = [\"after_ok\"]\n\
         run_if = \"always\"\n{}",
        shell("sleep 30; echo never > never.txt"),
        shell("echo ran > after_ok.txt"),
        shell("echo cleaned > cleanup.txt"),
        shell("echo ran > always.txt"),
    ));
    let out = ws
        .cmd(&["pipeline", "run", "p", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |name: &str| {
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}"))
            .clone()
    };
    assert_eq!(status("hang")["status"], "FAILED");
    assert!(
        status("hang")["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1.0s"),
        "{run:#}"
    );
    assert_eq!(status("after_ok")["status"], "SKIPPED");
    assert_eq!(status("cleanup")["status"], "SUCCEEDED");
    assert_eq!(status("always")["status"], "SUCCEEDED");
    assert!(ws.path().join("cleanup.txt").exists());
    assert!(!ws.path().join("after_ok.txt").exists());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !ws.path().join("never.txt").exists(),
        "the timed-out step was not killed"
    );
}

#[test]
fn a_cycle_and_an_unknown_step_are_rejected_with_the_step_names() {
    let ws = workspace(
        "[[pipelines.loop.steps]]\nname = \"a\"\nkind = \"prepare\"\nafter = [\"c\"]\n\
         [[pipelines.loop.steps]]\nname = \"b\"\nkind = \"train\"\nafter = [\"a\"]\n\
         [[pipelines.loop.steps]]\nname = \"c\"\nkind = \"command\"\nprogram = \"true\"\n\
         after = [\"b\"]\n",
    );
    let err = ws.fails(&["pipeline", "list"]);
    assert!(err.contains("config.toml:"), "{err}");
    assert!(err.contains("pipeline `loop`"), "{err}");
    assert!(err.contains("form a cycle"), "{err}");
    for s in ["`a`", "`b`", "`c`"] {
        assert!(err.contains(s), "{err}");
    }

    let ws = workspace(
        "[[pipelines.p.steps]]\nname = \"train\"\nkind = \"train\"\n\
         [[pipelines.p.steps]]\nname = \"register\"\nkind = \"register\"\nafter = [\"trian\"]\n",
    );
    let err = ws.fails(&["pipeline", "run", "p"]);
    assert!(
        err.contains("step `register` comes after unknown step `trian`"),
        "{err}"
    );
    assert!(err.contains("did you mean `train`?"), "{err}");
}

/// prepare -> train -> register -> promote; `gate_model` decides which gate applies.
fn train_pipeline(name: &str, registered_model: &str, trigger: &str) -> String {
    format!(
        r#"[pipelines.{name}]
description = "retrain and promote through the gate"
{trigger}
[[pipelines.{name}.steps]]
name = "prepare"
kind = "prepare"
[[pipelines.{name}.steps]]
name = "train"
kind = "train"
after = ["prepare"]
model = "tree"
sweep = {{ max_depth = [3, 5] }}
[[pipelines.{name}.steps]]
name = "register"
kind = "register"
after = ["train"]
registered_model = "{registered_model}"
[[pipelines.{name}.steps]]
name = "promote"
kind = "promote"
after = ["register"]
registered_model = "{registered_model}"
"#
    )
}

#[test]
fn train_register_promote_end_to_end_the_gate_decides_and_the_audit_shows_it() {
    // `hopeless` has a gate no model can pass.
    let ws = workspace(&format!(
        "{}\n{}\n[registry.gates.hopeless]\nthreshold = 1.01\n",
        train_pipeline("retrain", "chars", ""),
        train_pipeline("refused", "hopeless", "")
    ));
    let run = ws.json(&["pipeline", "run", "retrain", "--json"]);
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    let steps = run["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["prepare", "train", "register", "promote"]);
    // Outputs flow: the best training run is the registered one, and that version promoted.
    let train = &steps[1]["outputs"];
    assert_eq!(train["runs"].as_array().unwrap().len(), 2);
    let best = train["best_run"].as_str().unwrap();
    assert_eq!(steps[2]["outputs"]["runs"][0], best);
    assert_eq!(steps[2]["outputs"]["version"], 1);
    assert_eq!(steps[3]["outputs"]["stage"], "Production");
    assert_eq!(steps[3]["outputs"]["gate"]["passed"], true);
    let links: Vec<(String, String)> = run["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["reference"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(links.contains(&("model_version".into(), "chars/1".into())));
    assert!(links.contains(&("run".into(), best.to_string())));
    assert!(links.iter().any(|(k, _)| k == "data_version"));
    // The training runs are tagged with the pipeline run.
    let tagged: i64 = db(&ws)
        .query_row(
            "SELECT count(*) FROM tags WHERE key = 'cerebro.pipeline_run' AND value = ?1",
            [run["run_id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tagged, 2);
    let promoted: (String, i64, String) = db(&ws)
        .query_row(
            "SELECT action, version, to_stage FROM registry_audit
             WHERE name = 'chars' AND action = 'promote'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(promoted, ("promote".into(), 1, "Production".into()));

    // The gate refuses: the step and the run fail, the CLI exits 1, the audit records it.
    let out = ws
        .cmd(&["pipeline", "run", "refused", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "FAILED");
    let promote = &run["steps"][3];
    assert_eq!(promote["status"], "FAILED");
    assert!(
        promote["error"]
            .as_str()
            .unwrap()
            .contains("the gate refused hopeless/1"),
        "{promote:#}"
    );
    assert_eq!(promote["outputs"]["gate"]["passed"], false);
    let refusal: (String, String, String) = db(&ws)
        .query_row(
            "SELECT action, to_stage, reason FROM registry_audit WHERE name = 'hopeless'
             ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(refusal.0, "gate_refused");
    assert_eq!(refusal.1, "Production");
    assert!(refusal.2.contains("threshold"), "{refusal:?}");
    let stage: String = db(&ws)
        .query_row(
            "SELECT stage FROM model_versions WHERE name = 'hopeless' AND version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stage, "None", "a refused version is not promoted");
    let audit = ws.ok(&["models", "history", "hopeless"]);
    assert!(audit.contains("gate_refused"), "{audit}");
}

#[test]
fn a_drift_alert_triggers_retraining_in_the_agent() {
    let ws = workspace(&train_pipeline(
        "retrain",
        "chars",
        "triggers = [{ on = \"alert\", kinds = [\"dataset_drift\"] }]",
    ));
    ws.ok(&["data", "prepare"]);
    let agent = AgentProc::start(&ws);
    // The agent records where the alerts are when it first looks; only later rows fire.
    wait_for_trigger(
        &db(&ws),
        Some("retrain"),
        "the alert trigger's starting point",
    );
    // An alert of another kind does not fire; a dataset-drift one does (the documented table
    // `monitor_alerts` that the monitoring service writes).
    let conn = db(&ws);
    for (rule, kind) in [("lat", "latency"), ("drift", "dataset_drift")] {
        conn.execute(
            "INSERT INTO monitor_alerts (rule, kind, endpoint, subject, state, opened_at, message)
             VALUES (?1, ?2, 'chars', '', 'OPEN', 0, 'share of drifted columns 0.8 >= 0.5')",
            [rule, kind],
        )
        .unwrap();
    }
    let (run_id, detail) = wait_for_fired(&conn, "alert", "a run fired by the alert");
    assert!(
        detail.contains("dataset_drift") && !detail.contains("latency"),
        "{detail}"
    );
    let status = wait_for_end(
        &conn,
        &run_id,
        "the retrain run to end",
        Duration::from_secs(240),
    );
    assert_eq!(status, "SUCCEEDED");
    let audit: String = conn
        .query_row(
            "SELECT action FROM registry_audit WHERE name = 'chars' AND to_stage = 'Production'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audit, "promote");
    let exit = agent.stop();
    assert!(exit.success(), "agent exit {exit:?}");
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM pipeline_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1, "one alert, one run");
}

#[test]
fn two_agents_on_one_workspace_run_each_scheduled_slot_once() {
    let ws = workspace(&format!(
        "[pipelines.tick]\nschedule = {{ every = \"1s\" }}\n\
         [[pipelines.tick.steps]]\nname = \"tick\"\nkind = \"command\"\n{}",
        shell("echo \"$CEREBRO_PIPELINE_RUN\" >> ticks.txt")
    ));
    ws.ok(&["pipeline", "list"]);
    let a = AgentProc::start(&ws);
    let b = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for("five scheduled runs", Duration::from_secs(120), || {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM pipeline_runs WHERE status = 'SUCCEEDED'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (n >= 5).then_some(())
    });
    assert!(a.stop().success());
    assert!(b.stop().success());
    let mut stmt = conn
        .prepare("SELECT run_id, slot, status, pid FROM pipeline_runs ORDER BY slot")
        .unwrap();
    let runs: Vec<(String, i64, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let slots: std::collections::BTreeSet<i64> = runs.iter().map(|r| r.1).collect();
    assert_eq!(slots.len(), runs.len(), "a slot ran twice: {runs:?}");
    for (_, slot, status, _) in &runs {
        assert_eq!(slot % 1000, 0, "slots are whole seconds");
        assert!(status == "SUCCEEDED" || status == "INTERRUPTED", "{runs:?}");
    }
    // Each run's command ran exactly once.
    let ticks = std::fs::read_to_string(ws.path().join("ticks.txt")).unwrap();
    let mut lines: Vec<&str> = ticks.lines().collect();
    let n = lines.len();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), n, "a run's command ran twice:\n{ticks}");
    let succeeded: Vec<&str> = runs
        .iter()
        .filter(|r| r.2 == "SUCCEEDED")
        .map(|r| r.0.as_str())
        .collect();
    for id in &succeeded {
        assert!(lines.contains(id), "run {id} has no tick");
    }
}

#[test]
fn an_agent_killed_mid_pipeline_leaves_a_run_that_resumes_without_rerunning_steps() {
    let ws = workspace(&format!(
        "[pipelines.slow]\ntriggers = [{{ on = \"file\", dir = \"inbox\" }}]\n\
         [[pipelines.slow.steps]]\nname = \"first\"\nkind = \"command\"\n{}\
         [[pipelines.slow.steps]]\nname = \"slow\"\nkind = \"command\"\nafter = [\"first\"]\n{}\
         [[pipelines.slow.steps]]\nname = \"last\"\nkind = \"command\"\nafter = [\"slow\"]\n{}",
        shell("echo first >> trace.txt"),
        shell("echo slow-start >> trace.txt; sleep 4; echo slow-end >> trace.txt"),
        shell("echo last >> trace.txt"),
    ));
    std::fs::create_dir_all(ws.path().join("inbox")).unwrap();
    ws.ok(&["pipeline", "list"]);
    let mut agent = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for_trigger(&conn, None, "the file trigger's starting point");
    ws.write("inbox/new.csv", b"id,num,cat,y\n");
    let trace = ws.path().join("trace.txt");
    wait_for_trace(&trace, "slow-start", "the slow step to start");
    agent.signal(libc::SIGKILL);
    agent.0.wait().unwrap();
    drop(agent);
    let run_id: String = conn
        .query_row("SELECT run_id FROM pipeline_runs", [], |r| r.get(0))
        .unwrap();

    // The next start marks the run INTERRUPTED (and kills what the dead runner left running).
    let agent = AgentProc::start(&ws);
    let status = wait_for_end(
        &conn,
        &run_id,
        "the run marked INTERRUPTED",
        Duration::from_secs(60),
    );
    assert_eq!(status, "INTERRUPTED");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !std::fs::read_to_string(&trace)
            .unwrap()
            .contains("slow-end"),
        "the killed runner's step went on running"
    );
    let shown = ws.json(&["pipeline", "show", &run_id, "--json"]);
    assert_eq!(shown["steps"][0]["status"], "SUCCEEDED");
    assert_eq!(shown["steps"][1]["status"], "INTERRUPTED");
    assert_eq!(shown["steps"][2]["status"], "PENDING");

    let resumed = ws.json(&["pipeline", "resume", &run_id[..8], "--json"]);
    assert_eq!(resumed["status"], "SUCCEEDED", "{resumed:#}");
    assert_eq!(resumed["resumes"], 1);
    assert_eq!(
        resumed["steps"][0]["attempts"], 1,
        "the finished step ran again"
    );
    assert!(agent.stop().success());
    let t = std::fs::read_to_string(&trace).unwrap();
    let count = |s: &str| t.lines().filter(|l| *l == s).count();
    assert_eq!(count("first"), 1, "{t}");
    assert_eq!(count("slow-end"), 1, "{t}");
    assert_eq!(count("last"), 1, "{t}");
    // A finished run cannot be resumed.
    let err = ws.fails(&["pipeline", "resume", &run_id]);
    assert!(err.contains("already SUCCEEDED"), "{err}");
}

#[test]
fn schedules_are_switched_off_and_on_and_listed() {
    let ws = workspace(&format!(
        "[pipelines.nightly]\nschedule = {{ cron = \"0 3 * * *\" }}\n\
         [[pipelines.nightly.steps]]\nname = \"x\"\nkind = \"command\"\n{}",
        shell("true")
    ));
    let list = ws.json(&["pipeline", "list", "--json"]);
    assert_eq!(list[0]["schedule"], "cron 0 3 * * *");
    assert_eq!(list[0]["schedule_enabled"], true);
    let next = list[0]["next_slot"].as_i64().unwrap();
    assert_eq!(next % 86_400_000, 3 * 3_600_000, "03:00 UTC");
    ws.ok(&["pipeline", "disable", "nightly"]);
    let list = ws.json(&["pipeline", "list", "--json"]);
    assert_eq!(list[0]["schedule_enabled"], false);
    assert!(list[0]["next_slot"].is_null());
    ws.ok(&["pipeline", "enable", "nightly"]);
    assert_eq!(
        ws.json(&["pipeline", "list", "--json"])[0]["schedule_enabled"],
        true
    );
}

#[test]
fn a_new_production_version_triggers_a_deploy_that_starts_an_endpoint() {
    let ws = workspace(&format!(
        "[serving]\nbind = \"127.0.0.1:0\"\nmodel = \"chars\"\n\n{}\n\
         [pipelines.ship]\ntriggers = [{{ on = \"production\", model = \"chars\" }}]\n\
         [[pipelines.ship.steps]]\nname = \"deploy\"\nkind = \"deploy\"\ntimeout = \"120s\"\n\
         [[pipelines.ship.steps]]\nname = \"monitor\"\nkind = \"monitor\"\nafter = [\"deploy\"]\n",
        train_pipeline("release", "chars", "")
    ));
    ws.ok(&["pipeline", "list"]);
    let agent = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for_trigger(
        &conn,
        Some("ship"),
        "the production trigger's starting point",
    );
    let release = ws.json(&["pipeline", "run", "release", "--json"]);
    assert_eq!(release["status"], "SUCCEEDED", "{release:#}");
    let run_id = wait_for("the deploy run to end", Duration::from_secs(180), || {
        conn.query_row(
            "SELECT run_id FROM pipeline_runs WHERE pipeline = 'ship' AND status <> 'RUNNING'",
            [],
            |r| r.get::<_, String>(0),
        )
        .ok()
    });
    // Whatever happened, stop the endpoint the step started.
    let endpoint: Option<(i64, String)> = conn
        .query_row(
            "SELECT pid, address FROM endpoints WHERE model = 'chars'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    let shown = ws.json(&["pipeline", "show", &run_id, "--json"]);
    let ping = endpoint.as_ref().map(|(_, address)| {
        ureq::get(&format!("http://{address}/ping"))
            .call()
            .map(|r| r.status().as_u16())
    });
    if let Some((pid, _)) = &endpoint {
        // SAFETY: kill(2) on the endpoint process the test's pipeline started.
        unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
    }
    assert!(agent.stop().success());
    assert_eq!(shown["status"], "SUCCEEDED", "{shown:#}");
    assert_eq!(shown["fired_by"], "production");
    let deploy = &shown["steps"][0];
    assert_eq!(deploy["outputs"]["version"], 1);
    let (_, address) = endpoint.expect("an endpoint was registered");
    assert_eq!(deploy["outputs"]["address"], address.as_str());
    assert_eq!(ping.unwrap().unwrap(), 200);
    assert!(
        shown["steps"][1]["outputs"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("ingested"),
        "{shown:#}"
    );
}

#[test]
fn sigterm_stops_the_agent_cleanly_and_leaves_the_run_resumable() {
    let ws = workspace(&format!(
        "[pipelines.slow]\ntriggers = [{{ on = \"file\", dir = \"inbox\", suffix = \".csv\" }}]\n\
         [[pipelines.slow.steps]]\nname = \"slow\"\nkind = \"command\"\n{}\
         [[pipelines.slow.steps]]\nname = \"after\"\nkind = \"command\"\nafter = [\"slow\"]\n{}",
        shell("echo start >> trace.txt; sleep 30; echo end >> trace.txt"),
        shell("echo after >> trace.txt"),
    ));
    std::fs::create_dir_all(ws.path().join("inbox")).unwrap();
    ws.ok(&["pipeline", "list"]);
    let agent = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for_trigger(&conn, None, "the file trigger's starting point");
    // A file of another suffix does not fire.
    ws.write("inbox/notes.txt", b"x");
    ws.write("inbox/batch.csv", b"id,num,cat,y\n");
    let trace = ws.path().join("trace.txt");
    wait_for_trace(&trace, "start", "the slow step to start");
    assert!(agent.stop().success());
    // Stopped, not waited for: the step never reached its end.
    assert!(
        !std::fs::read_to_string(&trace).unwrap().contains("end"),
        "the agent waited for the step instead of stopping it"
    );
    let (status, detail): (String, String) = conn
        .query_row("SELECT status, detail FROM pipeline_runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, "INTERRUPTED");
    assert!(
        detail.ends_with("batch.csv") && !detail.contains("notes.txt"),
        "{detail}"
    );
    let steps: Vec<(String, String)> = conn
        .prepare("SELECT step, status FROM pipeline_steps ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps,
        [
            ("slow".to_string(), "INTERRUPTED".to_string()),
            ("after".to_string(), "PENDING".to_string())
        ]
    );
    let runs = ws.json(&["pipeline", "runs", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["fired_by"], "file");
}

/// `n` inference-log lines (the serving log format) in the minute `minute` after a fixed
/// minute-aligned time, records like `small_csv`'s with `num` multiplied by `scale`.
fn inference_lines(tag: &str, minute: i64, n: usize, scale: f64) -> String {
    const T0: i64 = 1_699_999_980_000;
    let mut s = String::new();
    for i in 0..n {
        let num = (i * 37 % 101) as f64 / 10.0 * scale;
        let cat = ["a", "b", "c"][i % 3];
        let p = (num / 10.0).clamp(0.0, 1.0);
        s.push_str(&format!(
            "{{\"request_id\":\"{tag}-r{i}\",\"client_request_id\":null,\"timestamp_ms\":{},\
             \"endpoint\":\"ep\",\"model\":\"m\",\"version\":1,\"arm\":\"champion\",\"status\":200,\
             \"latency_us\":{},\"inputs\":[{{\"id\":\"{tag}-{i}\",\"num\":{num},\"cat\":\"{cat}\"}}],\
             \"predictions\":[{}],\"probabilities\":[{p}],\"unseen_categories\":0}}\n",
            T0 + minute * 60_000 + (i as i64 * 97) % 60_000,
            1000 + i,
            u8::from(p >= 0.5),
        ));
    }
    s
}

#[test]
fn a_drift_alert_from_the_monitoring_service_retrains_and_the_gate_promotes() {
    let ws = workspace(&format!(
        "[monitoring]\ngranularities = [\"1m\", \"1h\"]\n\
         [[monitoring.alerts]]\nname = \"drift\"\nkind = \"dataset_drift\"\ngranularity = \"1m\"\n\n\
         {}\n\
         [[pipelines.watch.steps]]\nname = \"refresh\"\nkind = \"monitor\"\n",
        train_pipeline(
            "retrain",
            "m",
            "triggers = [{ on = \"alert\", kinds = [\"dataset_drift\"] }]"
        )
    ));
    ws.write("data.csv", small_csv(800).as_bytes());
    // Version 1, trained and promoted by hand (no agent yet).
    let first = ws.json(&["pipeline", "run", "retrain", "--json"]);
    assert_eq!(first["status"], "SUCCEEDED", "{first:#}");
    let agent = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for_trigger(&conn, None, "the alert trigger's starting point");
    // Served traffic like the training data, then a minute with `num` scaled by 1.5.
    let mut log = inference_lines("a", 0, 400, 1.0);
    log.push_str(&inference_lines("b", 1, 400, 1.5));
    ws.write("data/inference/ep/1.jsonl", log.as_bytes());
    // The monitor step ingests the log and evaluates the rules: a dataset-drift alert opens.
    let watch = ws.json(&["pipeline", "run", "watch", "--json"]);
    assert_eq!(watch["status"], "SUCCEEDED", "{watch:#}");
    let summary = watch["steps"][0]["outputs"]["summary"].as_str().unwrap();
    assert!(summary.contains("1 alert(s) opened"), "{summary}");
    // The agent retrains; the gate (same data, same settings: no loss) lets version 2 through.
    let (run_id, detail) = wait_for_fired(&conn, "alert", "the retrain fired by the alert");
    assert!(detail.contains("dataset_drift on ep"), "{detail}");
    let status = wait_for_end(
        &conn,
        &run_id,
        "the retrain to end",
        Duration::from_secs(240),
    );
    assert!(agent.stop().success());
    assert_eq!(status, "SUCCEEDED");
    let history = ws.json(&["models", "history", "m", "--json"]);
    let promotions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "promote" && r["to_stage"] == "Production")
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(promotions.len(), 2, "{history:#}");
    assert!(promotions.contains(&2), "{history:#}");
}

#[test]
fn a_second_agent_takes_over_the_lock_of_a_killed_one() {
    let ws = workspace(&format!(
        "[pipelines.slow]\ntriggers = [{{ on = \"file\", dir = \"inbox\" }}]\n\
         [[pipelines.slow.steps]]\nname = \"slow\"\nkind = \"command\"\n{}",
        shell("echo \"start $CEREBRO_PIPELINE_RUN\" >> trace.txt; sleep 3; echo end >> trace.txt"),
    ));
    std::fs::create_dir_all(ws.path().join("inbox")).unwrap();
    ws.ok(&["pipeline", "list"]);
    let mut a = AgentProc::start(&ws);
    let conn = db(&ws);
    wait_for_trigger(&conn, None, "the file trigger's starting point");
    ws.write("inbox/1.csv", b"x\n");
    let trace = ws.path().join("trace.txt");
    wait_for_trace(&trace, "start", "the first run's step to start");
    // Only then the second agent: the first run is A's.
    let b = AgentProc::start(&ws);
    a.signal(libc::SIGKILL);
    a.0.wait().unwrap();
    drop(a);
    ws.write("inbox/2.csv", b"x\n");
    let (first, second) = wait_for("a second run", Duration::from_secs(60), || {
        let runs: Vec<(String, String)> = conn
            .prepare("SELECT run_id, status FROM pipeline_runs ORDER BY started_at")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (runs.len() == 2 && runs[1].1 != "RUNNING").then(|| (runs[0].clone(), runs[1].clone()))
    });
    assert!(b.stop().success());
    assert_eq!(first.1, "INTERRUPTED", "the dead agent's run");
    assert_eq!(second.1, "SUCCEEDED");
    let t = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(t.lines().filter(|l| *l == "end").count(), 1, "{t}");
    assert!(t.contains(&format!("start {}", second.0)), "{t}");
}

#[test]
fn an_evaluate_step_fails_when_the_gate_would_refuse_and_nothing_is_promoted() {
    let ws = workspace(
        r#"[[pipelines.checked.steps]]
name = "train"
kind = "train"
model = "tree"
[[pipelines.checked.steps]]
name = "register"
kind = "register"
after = ["train"]
registered_model = "hopeless"
[[pipelines.checked.steps]]
name = "evaluate"
kind = "evaluate"
after = ["register"]
registered_model = "hopeless"
[[pipelines.checked.steps]]
name = "promote"
kind = "promote"
after = ["evaluate"]
from = "register"
registered_model = "hopeless"

[registry.gates.hopeless]
threshold = 1.01
"#,
    );
    let out = ws
        .cmd(&["pipeline", "run", "checked", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let evaluate = &run["steps"][2];
    assert_eq!(evaluate["status"], "FAILED");
    assert!(
        evaluate["error"]
            .as_str()
            .unwrap()
            .contains("the gate would refuse hopeless/1"),
        "{evaluate:#}"
    );
    assert_eq!(evaluate["outputs"]["gate"]["passed"], false);
    assert_eq!(run["steps"][3]["status"], "SKIPPED");
    let promotions: i64 = db(&ws)
        .query_row(
            "SELECT count(*) FROM registry_audit WHERE action IN ('promote', 'gate_refused')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(promotions, 0, "evaluate changes nothing in the registry");
}

#[test]
fn a_predict_step_scores_a_file_with_the_champion_as_cerebro_predict_does() {
    // Train, register and promote, then score a file of raw records in the same pipeline.
    let mut pipelines = train_pipeline("batch", "chars", "");
    pipelines.push_str(
        r#"[[pipelines.batch.steps]]
name = "score"
kind = "predict"
after = ["promote"]
registered_model = "chars"
input = "incoming.csv"
output = "predictions/{run}.csv"
probabilities = true
on_error = "skip"
"#,
    );
    let ws = workspace(&pipelines);
    // Raw records as the dataset file holds them (the target left out), one with a bad number.
    let mut incoming = String::from("id,num,cat\n");
    for i in 0..50 {
        incoming.push_str(&format!(
            "r{i},{},{}\n",
            i as f64 / 5.0,
            ["a", "b", "c"][i % 3]
        ));
    }
    incoming.push_str("bad,many,a\n");
    ws.write("incoming.csv", incoming.as_bytes());
    let run = ws.json(&["pipeline", "run", "batch", "--json"]);
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    let step = &run["steps"][4];
    assert_eq!(step["step"], "score");
    let out = &step["outputs"];
    assert_eq!(out["model"], "chars");
    assert_eq!(out["version"], 1);
    let short = &run["run_id"].as_str().unwrap()[..8];
    let path = out["predictions"].as_str().unwrap();
    assert!(
        path.ends_with(&format!("predictions/{short}.csv")),
        "{path}"
    );
    assert!(
        out["summary"]
            .as_str()
            .unwrap()
            .contains("scored 50 record(s) with chars/1"),
        "{out}"
    );
    // The same bytes as `cerebro predict` with the same model writes.
    ws.json(&[
        "predict",
        "chars@champion",
        "--input",
        "incoming.csv",
        "--output",
        "by-hand.csv",
        "--probabilities",
        "--on-error",
        "skip",
        "--json",
    ]);
    let step_file = std::fs::read_to_string(path).unwrap();
    let by_hand = std::fs::read_to_string(ws.path().join("by-hand.csv")).unwrap();
    assert_eq!(step_file, by_hand);
    assert_eq!(step_file.lines().count(), 51, "header + 50 records");
    assert!(step_file.starts_with("id,prediction,probability\nr0,"));

    // A predict step without its input is refused when the config loads, naming the key.
    let bad = workspace(
        "[pipelines.p]\n[[pipelines.p.steps]]\nname = \"score\"\nkind = \"predict\"\noutput = \"o.csv\"\n",
    );
    let err = bad.fails(&["pipeline", "list"]);
    assert!(err.contains("a predict step needs `input`"), "{err}");
    // And `input` on another kind is refused.
    let bad = workspace(
        "[pipelines.p]\n[[pipelines.p.steps]]\nname = \"m\"\nkind = \"monitor\"\ninput = \"x.csv\"\n",
    );
    let err = bad.fails(&["pipeline", "list"]);
    assert!(
        err.contains("`input` does not apply to a monitor step"),
        "{err}"
    );
}
