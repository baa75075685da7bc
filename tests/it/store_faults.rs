//! The store's database under faults, through the real binary: a file that is not a database,
//! a zero-length file, a read-only store (a read-only bind mount of the file or of its folder;
//! root only, since root writes through chmod), and a full disk under the log file (a tiny
//! tmpfs). Each error is said once and names the file; reads work on a read-only store; tracing
//! never reaches the terminal.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::Workspace;
use crate::serve_faults::{Tmpfs, fill};

/// A workspace with one trained run registered as `chars` version 1.
fn trained() -> (Workspace, String) {
    let ws = Workspace::demo();
    let run = ws.train_trees(3..=3, &[]).remove(0);
    ws.register(&run, "chars");
    (ws, run)
}

/// `path` bind-mounted read-only onto itself, unmounted on drop; `None` (with the reason
/// printed) when this process may not mount.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(path: &Path) -> Option<ReadOnlyMount> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: a read-only bind mount needs root (and root ignores chmod)");
            return None;
        }
        let ok = std::process::Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(path)
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: `mount --bind -o ro` failed (no mount rights in this container?)");
            return None;
        }
        Some(ReadOnlyMount(path.to_path_buf()))
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// SQLite's phrase may appear at most once, and no `Error code` tail.
fn said_once(err: &str) {
    for phrase in ["unable to open database file", "file is not a database"] {
        assert!(err.matches(phrase).count() <= 1, "{phrase} repeated: {err}");
    }
    assert!(!err.contains("Error code"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn a_store_file_that_is_not_a_database_is_named_once_with_what_to_do() {
    let ws = Workspace::demo();
    ws.write(".cerebro/cerebro.db", &[b'x'; 8192]);
    let err = ws.fails(&["runs", "list"]);
    said_once(&err);
    assert!(err.contains(".cerebro/cerebro.db"), "{err}");
    assert!(
        err.contains("not a SQLite database") && err.contains("backup"),
        "{err}"
    );

    // A folder where the file should be: it cannot be opened; the path and the advice, once.
    let ws = Workspace::demo();
    std::fs::create_dir_all(ws.path().join(".cerebro/cerebro.db")).unwrap();
    let err = ws.fails(&["models", "list"]);
    said_once(&err);
    assert!(err.contains(".cerebro/cerebro.db"), "{err}");
}

#[test]
fn a_zero_length_store_is_refused_and_left_alone_while_a_missing_one_is_created() {
    let ws = Workspace::demo();
    // First launch: no file, an empty store.
    assert_eq!(ws.json(&["runs", "list", "--json"]), serde_json::json!([]));
    assert!(std::fs::metadata(ws.db()).unwrap().len() > 0);

    for args in [
        &["runs", "list"][..],
        &["train", "--model", "tree"],
        &["monitor", "status"],
    ] {
        let ws = Workspace::demo();
        ws.write(".cerebro/cerebro.db", b"");
        let err = ws.fails(args);
        said_once(&err);
        assert!(
            err.contains(".cerebro/cerebro.db") && err.contains("empty (0 bytes)"),
            "{args:?}: {err}"
        );
        assert!(err.contains("Restore it from a backup"), "{err}");
        assert_eq!(std::fs::metadata(ws.db()).unwrap().len(), 0, "{args:?}");
    }
}

/// Reads work and writes fail naming the file, with `mount` making `target` read-only.
fn reads_work_and_writes_fail(ws: &Workspace, run: &str, target: &Path) {
    let before = ws.json(&["runs", "list", "--json"]);
    let Some(_ro) = ReadOnlyMount::new(target) else {
        return;
    };
    assert_eq!(ws.json(&["runs", "list", "--json"]), before);
    let detail = ws.json(&["runs", "show", run, "--json"]);
    assert!(detail.to_string().contains(run), "{detail}");
    let models = ws.json(&["models", "list", "--json"]);
    assert_eq!(models[0]["name"], "chars", "{models}");
    let status = ws.cmd(&["monitor", "status", "--json"]).output().unwrap();
    assert!(status.status.success(), "{}", crate::common::text(&status));
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["lines"], 0, "{s}");
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("read-only"),
        "says it did not ingest"
    );
    ws.ok(&["pipeline", "list"]);

    for args in [
        &["train", "--model", "tree"][..],
        &[
            "models", "promote", "chars", "1", "--force", "--reason", "t",
        ],
        &["monitor", "ingest"],
    ] {
        let err = ws.fails(args);
        assert!(
            err.contains("cerebro.db") && err.contains("read-only"),
            "{args:?}: {err}"
        );
        said_once(&err);
    }
}

#[test]
fn a_read_only_store_folder_can_be_read_but_not_written() {
    let (ws, run) = trained();
    let store = ws.path().join(".cerebro");
    reads_work_and_writes_fail(&ws, &run, &store);
    // Writable again: writes work.
    ws.ok(&[
        "models", "promote", "chars", "1", "--force", "--reason", "t",
    ]);
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn a_read_only_store_file_can_be_read_but_not_written() {
    let (ws, run) = trained();
    reads_work_and_writes_fail(&ws, &run, &ws.db());
    ws.ok(&[
        "models", "promote", "chars", "1", "--force", "--reason", "t",
    ]);
    assert_eq!(ws.integrity(), "ok");
}

#[test]
fn a_full_disk_under_the_log_costs_one_line_on_stderr_at_most() {
    let ws = Workspace::demo();
    ws.ok(&["runs", "list"]);
    let Some(fs) = Tmpfs::mount(&ws, 64) else {
        return;
    };
    // The log file lives on the tiny tmpfs, which is then filled.
    let log = ws.path().join(".cerebro/cerebro.log");
    let _ = std::fs::remove_file(&log);
    std::fs::write(fs.0.join("cerebro.log"), b"").unwrap();
    std::os::unix::fs::symlink(fs.0.join("cerebro.log"), &log).unwrap();
    fill(&fs.0);
    // An agent logs as it starts and as it stops: several events, all failing to be written.
    let agent = ws
        .std_cmd(&["agent", "--poll-ms", "100"])
        .env("CEREBRO_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let out = agent.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stderr.contains("tracing") && !stdout.contains("tracing"),
        "{stderr}"
    );
    let about_log: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("cannot write the log"))
        .collect();
    assert!(about_log.len() <= 1, "{stderr}");
    assert!(
        about_log.iter().all(|l| l.contains("cerebro.log")),
        "{stderr}"
    );
    // No event reached the terminal (the agent's own lines are not events).
    for text in [&stderr, &stdout] {
        for event in ["agent stopping", " INFO ", " DEBUG ", " WARN "] {
            assert!(!text.contains(event), "{event}: {text}");
        }
    }
}
