//! End to end: the real `cerebro tui` in a pseudo-terminal, read through a vt100 parser. One
//! test, because it is slow and what it checks is what a user sees: the frame, tab switching,
//! a trained run on the Experiments tab, quitting with `q`, and a restored terminal.

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
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text();
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {needle:?}; it shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn tui_switches_tabs_shows_a_trained_run_and_quits_cleanly() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    ws.ok(&["train", "--model", "tree", "--name", "e2e-tree"]);

    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("cerebro"));
    cmd.arg("tui");
    cmd.cwd(ws.path());
    cmd.env_remove("CEREBRO_CONFIG");
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    let mut child = pair.slave.spawn_command(cmd).expect("cerebro tui starts");
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
    let mut keys = pair.master.take_writer().unwrap();
    // One key per write, spaced out, so a lone Esc is not read as Alt+<next key>.
    let mut press = |k: &str| {
        keys.write_all(k.as_bytes()).unwrap();
        keys.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    };
    let screen = Screen { parser };

    // The frame, on the Experiments tab, with the run trained above.
    screen.wait_for("2 Experiments", 15);
    screen.wait_for("e2e-tree", 15);
    let text = screen.text();
    assert!(text.contains("FINISHED"), "{text}");
    assert!(text.contains("cerebro · cerebro"), "{text}");
    assert!(text.contains("jobs: none running"), "{text}");

    press("1");
    screen.wait_for("Schema, raw", 10);
    screen.wait_for("200 rows", 20);
    press("3");
    screen.wait_for("No registered models", 10);
    press("4");
    screen.wait_for("No endpoints yet", 10);
    press("6");
    screen.wait_for("No jobs yet", 10);
    press("?");
    screen.wait_for("Key bindings", 10);
    press("\x1b");
    press("2");
    screen.wait_for("e2e-tree", 10);

    press("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("cerebro tui did not exit after q:\n{}", screen.text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    drop(pair.master);
    let _ = reading.join();
    let parser = screen.parser.lock().unwrap();
    assert!(
        !parser.screen().alternate_screen(),
        "the terminal is back on the main screen"
    );
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

    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("cerebro"));
    cmd.cwd(ws.path());
    cmd.env_remove("CEREBRO_CONFIG");
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    let mut child = pair.slave.spawn_command(cmd).expect("cerebro starts");
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
    let mut keys = pair.master.take_writer().unwrap();
    let mut press = |k: &str| {
        keys.write_all(k.as_bytes()).unwrap();
        keys.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    };
    let screen = Screen { parser };

    screen.wait_for("D runs the demo", 15);
    press("D");
    // The demo's progress line ("demo: training 3 models") can come and go between two looks at
    // the screen, so only its outcome is awaited.
    // Trained, registered, promoted, served: the UI moves to the Endpoints tab by itself.
    screen.wait_for("local endpoint up at http://127.0.0.1:", 60);
    screen.wait_for("characters: Production v1 ● local up", 10);
    let text = screen.text();
    assert!(text.contains("Endpoints (1)"), "{text}");

    press("q");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("cerebro tui did not exit after q:\n{}", screen.text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    drop(pair.master);
    let _ = reading.join();

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

/// The core (everything but `src/cli`, `src/tui` and `src/main.rs`) never touches the terminal.
#[test]
fn the_core_never_imports_ratatui_or_crossterm() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = crate::common::repo().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let front_ends = [src.join("cli"), src.join("tui"), src.join("main.rs")];
    let mut offenders = Vec::new();
    for f in files
        .iter()
        .filter(|f| !front_ends.iter().any(|p| f.starts_with(p)))
    {
        let text = std::fs::read_to_string(f).unwrap();
        if text.contains("ratatui") || text.contains("crossterm") {
            offenders.push(f.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "the core imports the terminal: {offenders:?}"
    );
}
