//! Shared helpers: temporary workspaces, running the binary, reading its JSON.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The repository root (where the demo workspace lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary workspace holding a copy of the demo config and data.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// The committed demo workspace (config.toml + data/characters.csv), copied.
    pub fn demo() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::copy(repo().join("config.toml"), dir.path().join("config.toml")).unwrap();
        std::fs::copy(
            repo().join("data/characters.csv"),
            dir.path().join("data/characters.csv"),
        )
        .unwrap();
        Workspace { dir }
    }

    /// An empty folder with `config` as config.toml.
    pub fn with_config(config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Workspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// `cerebro ARGS` in this workspace.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("cerebro").expect("binary built");
        c.current_dir(self.path())
            .args(args)
            .env_remove("CEREBRO_CONFIG");
        c
    }

    /// The same command as a plain `std::process::Command` (to spawn in parallel).
    pub fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("cerebro"));
        c.current_dir(self.path())
            .args(args)
            .env_remove("CEREBRO_CONFIG");
        c
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("runs");
        assert!(
            out.status.success(),
            "cerebro {args:?} failed:\n{}",
            text(&out)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("runs");
        assert!(
            !out.status.success(),
            "cerebro {args:?} should have failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
    }

    /// `cerebro train --json ARGS`: the run ids of its jobs, in sweep order.
    pub fn train(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["train", "--json"];
        all.extend_from_slice(args);
        self.json(&all)
            .as_array()
            .expect("an array of outcomes")
            .iter()
            .map(|o| o["run"]["run_id"].as_str().expect("run id").to_string())
            .collect()
    }

    /// Quick trees, one per max_depth in `depths`, trained one job at a time (`extra`: more
    /// `train` arguments, e.g. `--tracking-uri`); their run ids, oldest first.
    pub fn train_trees(
        &self,
        depths: std::ops::RangeInclusive<usize>,
        extra: &[&str],
    ) -> Vec<String> {
        let sweep = format!(
            "max_depth={}",
            depths.map(|d| d.to_string()).collect::<Vec<_>>().join(",")
        );
        let mut args = vec!["--model", "tree", "--max-parallel", "1", "--sweep", &sweep];
        args.extend_from_slice(extra);
        self.train(&args)
    }

    /// Registers `run` as the next version of the registered model `name`; its version number.
    pub fn register(&self, run: &str, name: &str) -> i64 {
        self.json(&["models", "register", run, "--name", name, "--json"])["version"]
            .as_i64()
            .expect("version")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join(".cerebro/cerebro.db")
    }

    /// `PRAGMA integrity_check` on the store.
    pub fn integrity(&self) -> String {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    /// Number of rows in a store table (0 when the store does not exist).
    pub fn count(&self, table: &str) -> i64 {
        if !self.db().exists() {
            return 0;
        }
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Rows in a store table that another process may be creating right now: 0 while the file
    /// or its tables (migrations still running) do not exist yet.
    pub fn count_so_far(&self, table: &str) -> i64 {
        if !self.db().exists() {
            return 0;
        }
        rusqlite::Connection::open(self.db())
            .and_then(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
            .unwrap_or(0)
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A small config over `data.csv` with columns id,num,cat,y.
pub fn small_config(extra: &str) -> String {
    format!(
        r#"[dataset]
path = "data.csv"
id = "id"
target = "y"
positive = "yes"
numeric = ["num"]
categorical = ["cat"]
{extra}
[train]
experiment = "t"
"#
    )
}

/// A learnable CSV for `small_config`: `rows` rows, LF endings.
pub fn small_csv(rows: usize) -> String {
    let mut s = String::from("id,num,cat,y\n");
    for i in 0..rows {
        let num = (i * 37 % 101) as f64 / 10.0;
        let cat = ["a", "b", "c"][i % 3];
        let y = if num > 5.0 || (cat == "a" && i % 4 == 0) {
            "yes"
        } else {
            "no"
        };
        s.push_str(&format!("{i},{num},{cat},{y}\n"));
    }
    s
}

/// A running `cerebro serve --model chars --bind 127.0.0.1:0` plus `extra` arguments, its address
/// read from its first line; SIGTERM (which flushes the inference log) on `terminate`, killed on
/// drop if still running.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(ws: &Workspace, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut args = vec!["serve", "--model", "chars", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut cmd = ws.std_cmd(&args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn cerebro serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
