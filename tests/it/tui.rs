//! End to end: the real `cerebro tui` in a pseudo-terminal, read through a vt100 parser. Few
//! tests, because they are slow, each checking what a user sees: the frame, tab switching, a
//! trained run, the demo, a training job launched from the form, a promotion through the gate
//! dialog, quitting with `q`, and a restored terminal. They wait for outcomes, never for a
//! progress line that can come and go between two looks at the screen.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::common::{Workspace, small_config, small_csv};

const ROWS: u16 = 30;
const COLS: u16 = 110;

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `needle`; panics with the screen after `secs`.
    fn wait_for(&self, needle: &str, secs: u64) {
        self.wait_until(needle, secs, |text| text.contains(needle));
    }

    /// Waits until `ok` holds for the screen's text; panics with the screen after `secs`.
    fn wait_until(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text();
            if ok(&text) {
                return;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {what:?}; it shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `cerebro ARGS` in a pseudo-terminal of ROWS x COLS in `dir`, read through a vt100 parser.
struct Tui {
    screen: Screen,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    keys: Box<dyn Write + Send>,
    master: Option<Box<dyn portable_pty::MasterPty + Send>>,
    reading: Option<std::thread::JoinHandle<()>>,
}

impl Tui {
    fn start(dir: &std::path::Path, args: &[&str]) -> Tui {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("cerebro"));
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env_remove("CEREBRO_CONFIG");
        cmd.env("TERM", "xterm-256color");
        cmd.env("NO_COLOR", "1");
        let child = pair.slave.spawn_command(cmd).expect("cerebro starts");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(ROWS).unwrap(),
            NonZeroU16::new(COLS).unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let feed = parser.clone();
        let reading = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
            }
        });
        let keys = pair.master.take_writer().unwrap();
        Tui {
            screen: Screen { parser },
            child,
            keys,
            master: Some(pair.master),
            reading: Some(reading),
        }
    }

    /// Types `k`; one key per write, spaced out, so a lone Esc is not read as Alt+<next key>.
    fn press(&mut self, k: &str) {
        self.keys.write_all(k.as_bytes()).unwrap();
        self.keys.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Types each character of `text`.
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.press(&c.to_string());
        }
    }

    /// Presses `q`, waits for a successful exit and checks the terminal left the alternate
    /// screen.
    fn quit(mut self, secs: u64) {
        self.press("q");
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!("cerebro did not exit after q:\n{}", self.screen.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status:?}");
        drop(self.master.take());
        if let Some(r) = self.reading.take() {
            let _ = r.join();
        }
        assert!(
            !self
                .screen
                .parser
                .lock()
                .unwrap()
                .screen()
                .alternate_screen(),
            "the terminal is back on the main screen"
        );
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        // A failed test must not leave the UI running.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
        }
    }
}

#[test]
fn tui_switches_tabs_shows_a_trained_run_and_quits_cleanly() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    ws.ok(&["train", "--model", "tree", "--name", "e2e-tree"]);
    let mut tui = Tui::start(ws.path(), &["tui"]);
    let screen = &tui.screen;

    // The frame, on the Experiments tab, with the run trained above.
    screen.wait_for("2 Experiments", 15);
    screen.wait_for("e2e-tree", 15);
    let text = screen.text();
    assert!(text.contains("FINISHED"), "{text}");
    assert!(text.contains("cerebro · cerebro"), "{text}");
    assert!(text.contains("jobs: none running"), "{text}");

    tui.press("1");
    tui.screen.wait_for("Schema, raw", 10);
    tui.screen.wait_for("200 rows", 20);
    // v: the rows themselves.
    tui.press("v");
    tui.screen.wait_for("Rows, raw: 200 of 200 shown", 20);
    tui.press("v");
    tui.screen.wait_for("Schema, raw", 10);
    tui.press("3");
    tui.screen.wait_for("No registered models", 10);
    tui.press("4");
    tui.screen.wait_for("No endpoints yet", 10);
    tui.press("6");
    tui.screen.wait_for("No jobs yet", 10);
    tui.press("?");
    tui.screen.wait_for("Key bindings", 10);
    tui.press("\x1b");
    tui.press("2");
    tui.screen.wait_for("e2e-tree", 10);
    tui.quit(10);
}

/// `cerebro` with no arguments in a terminal opens the workbench. The demo on an empty copy of
/// the demo workspace: `D` trains, registers, promotes and serves;
/// within a minute the Endpoints tab shows the local endpoint up; `q` stops it (its status row
/// then reads down) and exits 0.
#[test]
fn tui_demo_on_an_empty_workspace_serves_a_model_and_quit_stops_it() {
    let ws = Workspace::with_config(
        &std::fs::read_to_string(crate::common::repo().join("config.toml")).unwrap(),
    );
    ws.write(
        "data/characters.csv",
        &std::fs::read(crate::common::repo().join("data/characters.csv")).unwrap(),
    );
    let mut tui = Tui::start(ws.path(), &[]);

    tui.screen.wait_for("D runs the demo", 15);
    tui.press("D");
    // The demo's progress line ("demo: training 3 models") can come and go between two looks at
    // the screen, so only its outcome is awaited.
    // Trained, registered, promoted, served: the UI moves to the Endpoints tab by itself.
    tui.screen
        .wait_for("local endpoint up at http://127.0.0.1:", 60);
    tui.screen
        .wait_for("characters: Production v1 ● local up", 10);
    let text = tui.screen.text();
    assert!(text.contains("Endpoints (1)"), "{text}");
    tui.quit(15);

    // The endpoint was stopped: its status row reads down (or stale), not up.
    let out = ws.ok(&["endpoints", "list"]);
    let row = out
        .lines()
        .find(|l| l.starts_with("local"))
        .unwrap_or_else(|| panic!("no local endpoint row in\n{out}"));
    assert!(
        row.contains("down") || row.contains("stale"),
        "the local endpoint still looks up: {row}"
    );
    let models = ws.ok(&["models", "list"]);
    assert!(models.contains("characters"), "{models}");
}

/// `cerebro` with no arguments and no terminal (CI, a pipe) runs the headless demo instead of
/// the workbench, and says so on stderr.
#[test]
fn no_arguments_without_a_terminal_runs_the_headless_demo() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    let out = ws
        .cmd(&[])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not a terminal"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("model comparison"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The training form: `t` opens it, a typed sweep launches two background jobs, the Jobs tab
/// shows both FINISHED, and the Experiments tab lists the two new FINISHED runs.
#[test]
fn tui_training_form_launches_a_sweep_that_finishes() {
    let ws = Workspace::with_config(&format!("{}model = \"tree\"\n", small_config("")));
    ws.write("data.csv", small_csv(200).as_bytes());
    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("Runs: none yet", 15);

    tui.press("t");
    tui.screen.wait_for("Train a model", 10);
    tui.screen.wait_for("< tree >", 10);
    tui.type_text("max_depth=2,5");
    tui.screen.wait_for("params  max_depth=2,5_", 10);
    tui.press("\r");

    // The outcome, not a progress line: both jobs over, none running.
    tui.screen.wait_for("Jobs (0 running, 2 total)", 120);
    let text = tui.screen.text();
    assert_eq!(text.matches("FINISHED").count(), 2, "{text}");
    assert!(!text.contains("FAILED"), "{text}");

    tui.press("2");
    tui.screen.wait_for("Runs 2/2", 15);
    let text = tui.screen.text();
    assert_eq!(text.matches("FINISHED").count(), 2, "{text}");
    tui.quit(15);

    let runs = ws.ok(&["runs", "list"]);
    assert_eq!(runs.matches("FINISHED").count(), 2, "{runs}");
}

/// Promotion through the gate dialog: `p` on a version shows the gate evaluation (candidate,
/// champion, GATE PASSED) before anything changes; `y` promotes; the header and the versions
/// table then show the new Production version, and the audit trail has the promotion.
#[test]
fn tui_promotes_a_version_through_the_gate_dialog() {
    let ws = Workspace::with_config(&format!("{}model = \"tree\"\n", small_config("")));
    ws.write("data.csv", small_csv(300).as_bytes());
    let run = |args: &[&str]| -> String {
        let out = ws.json(args);
        out[0]["run"]["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a run id in {out}"))
            .to_string()
    };
    let weak = run(&["train", "--set", "max_depth=1", "--name", "weak", "--json"]);
    let strong = run(&[
        "train",
        "--set",
        "max_depth=6",
        "--name",
        "strong",
        "--json",
    ]);
    ws.ok(&["models", "register", &weak, "--name", "m"]);
    ws.ok(&["models", "register", &strong, "--name", "m"]);
    ws.ok(&["models", "promote", "m", "1"]);

    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("m: Production v1", 15);
    tui.press("3");
    tui.press("l");
    // Versions newest first: version 2 is selected.
    tui.press("p");
    tui.screen.wait_for("Promote m/2 to Production?", 10);
    tui.screen.wait_until("the gate's verdict", 30, |t| {
        t.contains("GATE PASSED") || t.contains("GATE FAILED") || t.contains("could not")
    });
    let text = tui.screen.text();
    assert!(text.contains("GATE PASSED"), "{text}");
    assert!(text.contains("candidate v2"), "{text}");
    assert!(text.contains("champion  v1"), "{text}");
    // Nothing has changed yet.
    assert!(text.contains("m: Production v1"), "{text}");

    tui.press("y");
    tui.screen.wait_for("m: Production v2", 15);
    tui.quit(15);

    let history = ws.ok(&["models", "history", "m"]);
    assert!(history.matches("Production").count() >= 2, "{history}");
    let models = ws.ok(&["models", "list"]);
    assert!(models.contains('2'), "{models}");
}

/// Batch scoring from the Registry tab: `s` on a version opens `:predict m/N `; the paths typed
/// after it score the file, the status line reports it, and the file holds what `cerebro
/// predict` writes for the same version.
#[test]
fn tui_scores_a_file_with_the_selected_version() {
    let ws = Workspace::with_config(&format!("{}model = \"tree\"\n", small_config("")));
    ws.write("data.csv", small_csv(300).as_bytes());
    let out = ws.json(&["train", "--set", "max_depth=4", "--json"]);
    let run = out[0]["run"]["run_id"].as_str().unwrap().to_string();
    ws.ok(&["models", "register", &run, "--name", "m"]);
    ws.ok(&["models", "promote", "m", "1"]);

    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("m: Production v1", 15);
    tui.press("3");
    tui.press("l");
    tui.press("s");
    tui.screen.wait_for(":predict m/1", 10);
    tui.type_text("data.csv scored.csv");
    tui.press("\r");
    tui.screen.wait_for(
        "scored 300 record(s) of data.csv with m/1 into scored.csv",
        60,
    );
    tui.quit(15);

    ws.json(&[
        "predict",
        "m/1",
        "--input",
        "data.csv",
        "--output",
        "by-hand.csv",
        "--probabilities",
        "--json",
    ]);
    let tui_file = std::fs::read_to_string(ws.path().join("scored.csv")).unwrap();
    let by_hand = std::fs::read_to_string(ws.path().join("by-hand.csv")).unwrap();
    assert_eq!(tui_file, by_hand);
    assert_eq!(tui_file.lines().count(), 301);
}

/// `n` inference-log lines (the serving log format) of endpoint `ep` serving m/1, in the
/// one-minute window `minute` minutes after a fixed start, records like `small_csv`'s with `num`
/// multiplied by `scale`.
fn inference_lines(tag: &str, minute: i64, n: usize, scale: f64) -> String {
    use std::fmt::Write as _;
    const T0: i64 = 1_699_999_980_000;
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
            T0 + minute * 60_000 + (i as i64 * 97) % 60_000,
            1000 + i,
            u8::from(p >= 0.5),
        );
    }
    s
}

/// The Monitoring tab updates by itself: a drifted inference-log file dropped into the watched
/// folder changes the drift value of `num`, its status, the dataset verdict and opens an alert,
/// with no key pressed after the tab was opened.
#[test]
fn tui_monitoring_tab_shows_new_drift_and_an_alert_without_a_key_press() {
    let ws = Workspace::with_config(&small_config(
        r#"
[monitoring]
granularities = ["1m"]

[[monitoring.alerts]]
name = "num-drift"
kind = "feature_drift"
feature = "num"
granularity = "1m"
"#,
    ));
    ws.write("data.csv", small_csv(800).as_bytes());
    let out = ws.json(&["train", "--json", "--model", "tree", "--max-parallel", "1"]);
    let run = out[0]["run"]["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    ws.ok(&["models", "register", &run, "--name", "m"]);
    // A first window like the training data.
    ws.write(
        "data/inference/ep/0001.jsonl",
        inference_lines("a", 0, 400, 1.0).as_bytes(),
    );

    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("2 Experiments", 15);
    tui.press("5");
    tui.screen.wait_for("ep m/1", 30);
    let text = tui.screen.text();
    assert!(text.contains("no dataset drift"), "{text}");
    assert!(text.contains("no open alerts"), "{text}");
    let num_row = |text: &str| -> String {
        text.lines()
            .find(|l| l.starts_with("│num "))
            .unwrap_or_else(|| panic!("no num row in\n{text}"))
            .to_string()
    };
    let before = num_row(&text);
    assert!(before.contains(" ok "), "{before}");

    // The next minute's records arrive in a new file, `num` scaled by 1.5. No key is pressed.
    let drifted = inference_lines("b", 1, 400, 1.5);
    let tmp = ws.path().join("0002.jsonl.part");
    std::fs::write(&tmp, drifted).unwrap();
    std::fs::rename(&tmp, ws.path().join("data/inference/ep/0002.jsonl")).unwrap();

    tui.screen.wait_for("1 open alert", 30);
    tui.screen.wait_for("DATASET DRIFT", 10);
    let text = tui.screen.text();
    let after = num_row(&text);
    assert!(after.contains("DRIFT"), "{after}");
    assert_ne!(before, after, "the drift value of num changed");
    assert!(text.contains("num-drift"), "{text}");
    assert!(text.contains("OPEN"), "{text}");
    tui.quit(15);
}

/// The Jobs tab runs a pipeline: a workspace with a two-step `command` pipeline on a daily
/// schedule; `6` shows it never ran, `s` turns its schedule off, `r` runs it now through the
/// agent the UI runs, and the pipeline, its DAG and both steps end SUCCEEDED. The run is in
/// the store, started by hand.
#[test]
fn tui_jobs_tab_runs_a_pipeline_now_and_switches_its_schedule() {
    let ws = Workspace::with_config(&format!(
        "{}\n{}",
        small_config(""),
        r#"
[pipelines.hello]
schedule = { every = "24h" }

[[pipelines.hello.steps]]
name = "greet"
kind = "command"
program = "sh"
args = ["-c", "echo hello > greeted.txt"]

[[pipelines.hello.steps]]
name = "check"
kind = "command"
after = ["greet"]
program = "sh"
args = ["-c", "grep -q hello greeted.txt"]
"#
    ));
    ws.write("data.csv", small_csv(200).as_bytes());
    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("2 Experiments", 15);
    tui.press("6");
    tui.screen.wait_for("Pipelines (1)", 15);
    tui.screen.wait_for("DAG: hello · never run", 15);
    let text = tui.screen.text();
    assert!(text.contains("└▶ check"), "{text}");
    assert!(text.contains("every 24h"), "{text}");

    // s: the schedule goes off (stored), and the table says so.
    tui.press("s");
    tui.screen.wait_until("the schedule off", 15, |t| {
        t.lines()
            .any(|l| l.contains("every 24h") && l.contains(" off "))
    });

    // r: run now; wait for the outcome, the run's status in the DAG's title.
    tui.press("r");
    tui.screen.wait_until("the run SUCCEEDED", 60, |t| {
        t.contains("SUCCEEDED (manual)") && t.contains("check") && !t.contains("RUNNING")
    });
    let text = tui.screen.text();
    for step in ["greet", "└▶ check"] {
        let line = text
            .lines()
            .find(|l| l.contains(step) && l.contains("command"))
            .unwrap_or_else(|| panic!("no DAG line for {step} in\n{text}"));
        assert!(line.contains("SUCCEEDED"), "{line}");
    }
    tui.quit(15);

    let runs = ws.json(&["pipeline", "runs", "--pipeline", "hello", "--json"]);
    let runs = runs.as_array().expect("a list of runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "SUCCEEDED");
    assert_eq!(runs[0]["fired_by"], "manual");
    let listed = ws.json(&["pipeline", "list", "--json"]);
    assert_eq!(listed[0]["schedule_enabled"], false, "{listed}");
}

/// `/` with an expression: an `or` of two params narrows the runs table to exactly those runs;
/// an expression that does not parse says where, beside the text; Esc clears it.
#[test]
fn tui_filters_runs_by_an_or_expression() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    ws.ok(&[
        "train",
        "--model",
        "tree",
        "--max-parallel",
        "1",
        "--sweep",
        "max_depth=1,2,3,4",
    ]);
    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("Runs 4/4", 15);
    tui.press("/");
    tui.type_text("params.max_depth = 1 or params.max_depth >= 4 and");
    // Incomplete: the error points past the end; the last good expression still applies.
    tui.screen.wait_for("column 50: expected a field", 10);
    tui.screen.wait_for("Runs 2/4", 10);
    tui.press("\x7f");
    tui.press("\x7f");
    tui.press("\x7f");
    tui.press("\x7f");
    tui.press("\r");
    tui.screen.wait_for("Runs 2/4", 10);
    let text = tui.screen.text();
    assert!(text.contains("tree max_depth=1"), "{text}");
    assert!(text.contains("tree max_depth=4"), "{text}");
    assert!(!text.contains("tree max_depth=2"), "{text}");
    assert!(!text.contains("tree max_depth=3"), "{text}");
    // Esc on `/` clears the filter.
    tui.press("/");
    tui.press("\x1b");
    tui.screen.wait_for("Runs 4/4", 10);
    tui.quit(10);
}

/// `T` opens the tune form with the kind's search space; a few words more set the budget and
/// enter launches it: the trials run as jobs, the status line reports the best trial, the runs
/// table shows the parent and its nested trials, and `p` draws their parallel coordinates with
/// the params' importance.
#[test]
fn tui_tunes_from_the_form_and_plots_the_trials() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    let mut tui = Tui::start(ws.path(), &["tui"]);
    tui.screen.wait_for("Runs: none yet", 15);
    tui.press("T");
    tui.screen.wait_for("Tune hyper-parameters", 10);
    // The config's default kind (gbt) and its space.
    tui.screen.wait_for(
        "space   max_depth int(2,10), learning_rate float(0.01,0.3,log)",
        10,
    );
    tui.type_text(" trials=4 seed=3 max_parallel=1");
    tui.screen
        .wait_for("budget  4 trials, tpe sampler, pruner none, roc_auc", 10);
    tui.press("\r");
    tui.screen
        .wait_until("the tune's end on the status line", 120, |t| {
            t.contains("done: best roc_auc") && t.contains("of 4 (run")
        });
    tui.press("2");
    tui.screen.wait_for("Runs 5/5", 20);
    tui.press("p");
    tui.screen
        .wait_for("Parallel coordinates: 4 runs by roc_auc", 10);
    tui.screen
        .wait_until("the importance or why there is none", 30, |t| {
            t.contains("Param importance for roc_auc (4 runs)") || t.contains("no param varies")
        });
    let text = tui.screen.text();
    assert!(text.contains("max_depth"), "{text}");
    tui.press("\x1b");
    tui.screen.wait_for("Runs 5/5", 10);
    tui.quit(10);
    let runs = ws.json(&["runs", "list", "--json"]);
    let runs = runs.as_array().unwrap();
    let parent = runs
        .iter()
        .find(|r| r["model_kind"] == "tune")
        .expect("the parent run");
    assert_eq!(parent["status"], "FINISHED", "{parent}");
    let nested = runs
        .iter()
        .filter(|r| r["tags"]["mlflow.parentRunId"] == parent["run_id"])
        .count();
    assert_eq!(nested, 4, "{runs:?}");
}

/// Words of an error message: looked for in the status line (the second line from the bottom;
/// without colours nothing else marks an error there) and, the first three, anywhere on the
/// screen (a tab can show its read's error in its body).
const ERROR_WORDS: [&str; 8] = [
    "no such",
    "store:",
    "error:",
    "error",
    "failed",
    "cannot",
    "invalid",
    "not found",
];

/// Visits every tab, watching each for a while, and returns every error-looking line seen.
fn error_lines_on_every_tab(tui: &mut Tui) -> Vec<String> {
    let mut seen = Vec::new();
    let mut look = |text: String| {
        let lines: Vec<&str> = text.lines().collect();
        let status = lines.len().saturating_sub(2);
        for (i, line) in lines.iter().enumerate() {
            let lower = line.to_lowercase();
            let words = if i == status {
                &ERROR_WORDS[..]
            } else {
                &ERROR_WORDS[..3]
            };
            if words.iter().any(|w| lower.contains(w)) && !seen.contains(&line.to_string()) {
                seen.push(line.to_string());
            }
        }
    };
    for tab in ["2", "1", "3", "4", "5", "6", "2"] {
        tui.press(tab);
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            look(tui.screen.text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    seen
}

/// First launch: on a fresh workspace (no store yet) and on stores left by older schemas, every
/// tab's first read shows its empty state, never an error (it once showed `reading endpoint
/// status: store: no such table: endpoints`, read before the store was migrated).
#[test]
fn tui_first_launch_shows_empty_states_not_errors() {
    use cerebro::store::{SCHEMA_VERSION, create_at_version};
    for schema in [None, Some(2), Some(SCHEMA_VERSION - 1)] {
        let ws = Workspace::with_config(&small_config(""));
        ws.write("data.csv", small_csv(200).as_bytes());
        if let Some(v) = schema {
            std::fs::create_dir_all(ws.path().join(".cerebro")).unwrap();
            create_at_version(&ws.db(), v).unwrap();
        }
        let mut tui = Tui::start(ws.path(), &["tui"]);
        tui.screen.wait_for("2 Experiments", 15);
        let errors = error_lines_on_every_tab(&mut tui);
        assert!(
            errors.is_empty(),
            "schema {schema:?}: error lines on the first screens:\n{}",
            errors.join("\n")
        );
        tui.press("3");
        tui.screen.wait_for("No registered models", 10);
        tui.press("4");
        tui.screen.wait_for("No endpoints yet", 10);
        tui.quit(10);
        // The store is at the current schema now.
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION, "schema {schema:?}");
    }
}
