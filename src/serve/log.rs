//! The inference log, like Databricks' inference tables: one JSON line per request and arm, in
//! files under `<log_dir>/<endpoint>/`, read later by monitoring.
//!
//! Requests hand their entry to a dedicated writer thread over an unbounded channel (sending is
//! a queue push; nothing on the request path touches the file or serialises JSON). The writer
//! formats entries into a buffer and writes it with one `write` call per flush.
//!
//! **Flush policy.** The buffer is written when it reaches 256 KiB or when its oldest entry is
//! `flush` old (default 100 ms), whichever comes first; files are fsynced when they are rotated
//! and at shutdown. A file is closed and a new one started, between flushes (so a line never
//! spans two files), once it passes the size or age limit. Names are
//! `<unix ms, 13 digits>-<pid>-<seq>.jsonl`, so sorting names sorts by time, and a restarted
//! endpoint never appends to a file a killed one left behind.
//!
//! **Durability.** A graceful shutdown drains the channel and flushes everything before the
//! process exits. After SIGKILL, at most the entries of the last flush interval are lost, and the
//! last line of the last file may be torn; [`read_dir`] (and any reader) must skip a last line
//! without its newline, which it does.
//!
//! **Write failures** (a full disk, a vanished folder) are never silent. Lines that could not be
//! written stay in memory, after what was written of them, and are retried every flush interval
//! in the same file, so a failure that clears (space freed) loses nothing and tears no line.
//! While it lasts, [`LogHealth`] says so (the endpoint's `/health`, `/metrics`, heartbeat note
//! and, with `serving.log_failure = "refuse"`, 503 answers read it). Only when more than
//! [`MAX_PENDING_BYTES`] wait, or at shutdown, are lines given up; they are counted as lost,
//! and the stop summary and exit status report them.
//!
//! Line fields: `request_id`, `client_request_id`, `timestamp_ms`, `endpoint`, `model`,
//! `version`, `arm`, `status`, `latency_us`, `inputs` (the raw records as received: the id and
//! every input column the model reads, as the request typed them), `predictions`
//! (0/1), `probabilities` (positive class), `unseen_categories`, `explanations` (only when the
//! request asked for them: `{scale, base_value, features, contributions: [[...] per record]}`),
//! `error`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::payload::Parsed;
use super::router::Arm;
use crate::error::{Error, Result};

/// Buffer size at which the writer flushes without waiting for the interval.
const FLUSH_BYTES: usize = 256 * 1024;

/// Most bytes of unwritten lines kept in memory while the log cannot be written; entries past
/// it are counted as lost.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// How long a stopping writer keeps retrying lines it could not write.
const FINAL_RETRY: Duration = Duration::from_secs(2);

/// When to flush and rotate.
#[derive(Debug, Clone, Copy)]
pub struct LogPolicy {
    pub flush: Duration,
    pub rotate_bytes: u64,
    pub rotate_age: Duration,
}

/// The records of a request that one arm served.
#[derive(Debug, Clone)]
pub struct LoggedInputs {
    pub parsed: Arc<Parsed>,
    pub arm: Arc<Arm>,
    /// Row indices into `parsed`; `None` is every row.
    pub rows: Option<Vec<usize>>,
}

/// One line of the log.
#[derive(Debug)]
pub struct LogEntry {
    pub request_id: Arc<str>,
    pub client_request_id: Option<Arc<str>>,
    pub timestamp_ms: i64,
    pub endpoint: Arc<str>,
    pub model: Arc<str>,
    pub status: u16,
    pub latency_us: u64,
    pub inputs: Option<LoggedInputs>,
    pub predictions: Vec<u8>,
    pub probabilities: Vec<f64>,
    pub unseen: usize,
    /// Per-feature contributions of the entry's records, when the request asked for them.
    pub explanations: Option<crate::train::explain::Explanations>,
    pub error: Option<String>,
}

/// Sends entries to the writer; cheap to clone.
pub type LogSender = Sender<LogEntry>;

/// What the writer did, reported when it stops.
#[derive(Debug, Default, Clone)]
pub struct LogStats {
    /// Lines written.
    pub lines: u64,
    pub files: u64,
    /// Failed write, open or sync calls.
    pub write_errors: u64,
    /// Lines given up: never written (the disk stayed full past shutdown, or more than
    /// [`MAX_PENDING_BYTES`] waited).
    pub lost: u64,
    /// The last write error, with the folder.
    pub last_error: Option<String>,
}

/// The writer's health, shared with the endpoint while it runs.
#[derive(Debug, Default)]
pub struct LogHealth {
    /// Lines written so far.
    pub written: AtomicU64,
    /// Lines waiting in memory for a retry after a failed write.
    pub waiting: AtomicU64,
    /// Lines given up.
    pub lost: AtomicU64,
    /// Failed write, open or sync calls.
    pub write_errors: AtomicU64,
    /// True from a failed write until a retry writes everything waiting.
    pub failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl LogHealth {
    /// The last write error, with the folder (kept after recovery).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn set_error(&self, message: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }

    /// A one-line description of a failing or lossy log, `None` when all is well.
    pub fn note(&self) -> Option<String> {
        let (waiting, lost) = (self.waiting.load(Relaxed), self.lost.load(Relaxed));
        let failing = self.failing.load(Relaxed);
        if !failing && lost == 0 {
            return None;
        }
        let error = self.last_error().unwrap_or_default();
        Some(if failing {
            format!(
                "inference log failing: {error}; {waiting} line(s) waiting to be written, {lost} lost"
            )
        } else {
            format!("inference log: {lost} line(s) lost after write failures (last: {error})")
        })
    }
}

/// The running writer thread.
pub struct LogWriter {
    handle: JoinHandle<LogStats>,
    health: Arc<LogHealth>,
}

impl LogWriter {
    /// Starts the writer over `dir` (created if needed).
    pub fn start(dir: &Path, policy: LogPolicy) -> Result<(LogWriter, LogSender)> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (tx, rx) = mpsc::channel();
        let dir = dir.to_path_buf();
        let health = Arc::new(LogHealth::default());
        let shared = health.clone();
        let handle = std::thread::Builder::new()
            .name("inference-log".into())
            .spawn(move || write_loop(&dir, policy, rx, &shared))
            .map_err(|e| Error::io("inference log thread", e))?;
        Ok((LogWriter { handle, health }, tx))
    }

    /// The writer's health, live.
    pub fn health(&self) -> Arc<LogHealth> {
        self.health.clone()
    }

    /// Waits until every sender is dropped and everything is written and synced.
    pub fn finish(self) -> LogStats {
        self.handle.join().unwrap_or_default()
    }
}

struct Current {
    file: File,
    path: PathBuf,
    bytes: u64,
    opened: Instant,
}

struct Files<'h> {
    dir: PathBuf,
    seq: u64,
    current: Option<Current>,
    stats: LogStats,
    health: &'h LogHealth,
}

/// Lines buffered for the next write: complete lines, except that after a partial write the
/// first one may be the rest of a line whose start is already in the current file.
struct Pending {
    buf: Vec<u8>,
    lines: u64,
}

impl Files<'_> {
    fn open(&mut self) -> std::io::Result<&mut Current> {
        if self.current.is_none() {
            let name = format!(
                "{:013}-{}-{:04}.jsonl",
                crate::clock::now_ms(),
                std::process::id(),
                self.seq
            );
            self.seq += 1;
            let path = self.dir.join(name);
            let file = fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            self.stats.files += 1;
            self.current = Some(Current {
                file,
                path,
                bytes: 0,
                opened: Instant::now(),
            });
        }
        Ok(self.current.as_mut().expect("opened above"))
    }

    fn close(&mut self) {
        if let Some(c) = self.current.take()
            && let Err(e) = c.file.sync_all()
        {
            self.stats.write_errors += 1;
            self.health.write_errors.fetch_add(1, Relaxed);
            let message = format!("syncing {}: {e}", c.path.display());
            tracing::warn!("inference log: {message}");
            self.health.set_error(message);
        }
    }

    /// Writes what is pending; what a failure leaves unwritten stays pending (in order, after
    /// what was written of it) for the next call. True when everything was written.
    fn flush(&mut self, p: &mut Pending, policy: &LogPolicy) -> bool {
        if p.buf.is_empty() {
            return true;
        }
        let mut written = 0usize;
        let result = match self.open() {
            Err(e) => Err(e),
            Ok(c) => {
                // As few calls as the kernel allows: lines are never interleaved, and a crash
                // can tear only the last one.
                let r = loop {
                    match c.file.write(&p.buf[written..]) {
                        Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            written += n;
                            if written == p.buf.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                c.bytes += written as u64;
                r
            }
        };
        let done = p.buf[..written].iter().filter(|b| **b == b'\n').count() as u64;
        p.buf.drain(..written);
        p.lines -= done;
        self.stats.lines += done;
        self.health.written.fetch_add(done, Relaxed);
        self.health.waiting.store(p.lines, Relaxed);
        match result {
            Ok(()) => {
                if self.health.failing.swap(false, Relaxed) {
                    tracing::info!(dir = %self.dir.display(), "inference log: writing again, nothing waiting");
                }
                if let Some(c) = &self.current
                    && (c.bytes >= policy.rotate_bytes || c.opened.elapsed() >= policy.rotate_age)
                {
                    self.close();
                }
                true
            }
            Err(e) => {
                self.stats.write_errors += 1;
                self.health.write_errors.fetch_add(1, Relaxed);
                let message = format!("writing to {}: {e}", self.dir.display());
                if !self.health.failing.swap(true, Relaxed) {
                    tracing::error!(
                        lines_waiting = p.lines,
                        "inference log: {message}; lines kept in memory and retried"
                    );
                }
                self.health.set_error(message.clone());
                self.stats.last_error = Some(message);
                false
            }
        }
    }

    /// Gives up every pending line.
    fn give_up(&mut self, p: &mut Pending) {
        if p.lines > 0 {
            tracing::error!(lines = p.lines, dir = %self.dir.display(), "inference log: lines lost, never written");
        }
        self.stats.lost += p.lines;
        self.health.lost.fetch_add(p.lines, Relaxed);
        self.health.waiting.store(0, Relaxed);
        p.buf.clear();
        p.lines = 0;
    }
}

fn write_loop(
    dir: &Path,
    policy: LogPolicy,
    rx: Receiver<LogEntry>,
    health: &LogHealth,
) -> LogStats {
    let mut files = Files {
        dir: dir.to_path_buf(),
        seq: 0,
        current: None,
        stats: LogStats::default(),
        health,
    };
    let mut p = Pending {
        buf: Vec::with_capacity(FLUSH_BYTES + 64 * 1024),
        lines: 0,
    };
    // While the log fails, retry no faster than this.
    let retry = policy.flush.max(Duration::from_millis(250));
    let mut failing = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        match rx.recv_timeout(wait) {
            Ok(entry) => {
                if failing && p.buf.len() >= MAX_PENDING_BYTES {
                    files.stats.lost += 1;
                    health.lost.fetch_add(1, Relaxed);
                    continue;
                }
                if deadline.is_none() {
                    deadline = Some(Instant::now() + policy.flush);
                }
                append(&mut p.buf, &entry);
                p.lines += 1;
                if !failing && p.buf.len() >= FLUSH_BYTES {
                    failing = !files.flush(&mut p, &policy);
                    deadline = failing.then(|| Instant::now() + retry);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if deadline.is_some() {
                    failing = !files.flush(&mut p, &policy);
                    deadline = failing.then(|| Instant::now() + retry);
                } else if files
                    .current
                    .as_ref()
                    .is_some_and(|c| c.opened.elapsed() >= policy.rotate_age)
                {
                    files.close();
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let end = Instant::now() + FINAL_RETRY;
                while !files.flush(&mut p, &policy) && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(200));
                }
                files.give_up(&mut p);
                files.close();
                files.stats.last_error = health.last_error();
                return files.stats;
            }
        }
    }
}

fn append(buf: &mut Vec<u8>, entry: &LogEntry) {
    let line = Line(entry);
    if serde_json::to_writer(&mut *buf, &line).is_err() {
        // Unreachable for these types; keep the file line-structured regardless.
        buf.extend_from_slice(b"{}");
    }
    buf.push(b'\n');
}

struct Line<'a>(&'a LogEntry);

impl Serialize for Line<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("request_id", &*e.request_id)?;
        m.serialize_entry("client_request_id", &e.client_request_id.as_deref())?;
        m.serialize_entry("timestamp_ms", &e.timestamp_ms)?;
        m.serialize_entry("endpoint", &*e.endpoint)?;
        m.serialize_entry("model", &*e.model)?;
        m.serialize_entry("version", &e.inputs.as_ref().map(|i| i.arm.version))?;
        m.serialize_entry("arm", &e.inputs.as_ref().map(|i| i.arm.role.as_str()))?;
        m.serialize_entry("status", &e.status)?;
        m.serialize_entry("latency_us", &e.latency_us)?;
        if let Some(i) = &e.inputs {
            m.serialize_entry("inputs", &Records(i))?;
        }
        m.serialize_entry("predictions", &e.predictions)?;
        m.serialize_entry("probabilities", &e.probabilities)?;
        m.serialize_entry("unseen_categories", &e.unseen)?;
        if let Some(x) = &e.explanations {
            m.serialize_entry("explanations", &Explained(x))?;
        }
        if let Some(err) = &e.error {
            m.serialize_entry("error", err)?;
        }
        m.end()
    }
}

/// `{"scale", "base_value", "features": [...], "contributions": [[...] per record]}`.
struct Explained<'a>(&'a crate::train::explain::Explanations);

impl Serialize for Explained<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let x = self.0;
        let n = x.features.len().max(1);
        let rows: Vec<&[f64]> = x.contributions.chunks(n).collect();
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("scale", x.scale.as_str())?;
        m.serialize_entry("base_value", &x.base_value)?;
        m.serialize_entry("features", &x.features)?;
        m.serialize_entry("contributions", &rows)?;
        m.end()
    }
}

struct Records<'a>(&'a LoggedInputs);

impl Serialize for Records<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let i = self.0;
        let all: Vec<usize>;
        let rows: &[usize] = match &i.rows {
            Some(r) => r,
            None => {
                all = (0..i.parsed.rows()).collect();
                &all
            }
        };
        let mut seq = s.serialize_seq(Some(rows.len()))?;
        for &r in rows {
            seq.serialize_element(&Record { i, row: r })?;
        }
        seq.end()
    }
}

struct Record<'a> {
    i: &'a LoggedInputs,
    row: usize,
}

impl Serialize for Record<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (p, schema, r) = (&self.i.parsed, &self.i.arm.schema, self.row);
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &schema.id {
            m.serialize_entry(id, &p.ids.get(r).cloned().flatten())?;
        }
        for (c, name) in schema.inputs.iter().enumerate() {
            let v = p.batch.columns.get(c).and_then(|col| col.get(r));
            m.serialize_entry(name, &LoggedCell(v))?;
        }
        m.end()
    }
}

/// A raw input value as received: null, a number, a boolean or a string.
struct LoggedCell<'a>(Option<&'a crate::data::raw::Cell>);

impl Serialize for LoggedCell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use crate::data::raw::Cell;
        match self.0 {
            None | Some(Cell::Null) => s.serialize_none(),
            Some(Cell::Num(x)) => s.serialize_f64(*x),
            Some(Cell::Int(i)) => s.serialize_i64(*i),
            Some(Cell::Bool(b)) => s.serialize_bool(*b),
            Some(Cell::Text(t)) => s.serialize_str(t),
        }
    }
}

/// Reads every line of the log files in `dir`, oldest file first. A last line without its
/// newline (torn by a crash) is skipped, as are lines that do not parse; the second value counts
/// what was skipped.
pub fn read_dir(dir: &Path) -> Result<(Vec<serde_json::Value>, usize)> {
    let mut names: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(Error::io(dir, e)),
    };
    names.sort();
    let mut out = Vec::new();
    let mut skipped = 0;
    for path in names {
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => &bytes[..=i],
            None => &bytes[..0],
        };
        if complete.len() < bytes.len() {
            skipped += 1;
        }
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(v) => out.push(v),
                Err(_) => skipped += 1,
            }
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_skip_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("0000000000001-1-0000.jsonl"),
            b"{\"a\":1}\n{\"a\":2}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("0000000000002-1-0000.jsonl"),
            b"{\"a\":3}\n{\"a\":",
        )
        .unwrap();
        let (lines, skipped) = read_dir(dir.path()).unwrap();
        let a: Vec<i64> = lines.iter().map(|l| l["a"].as_i64().unwrap()).collect();
        assert_eq!(a, vec![1, 2, 3]);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn the_writer_drains_everything_when_senders_drop() {
        let dir = tempfile::tempdir().unwrap();
        let policy = LogPolicy {
            flush: Duration::from_secs(60),
            rotate_bytes: 2_000,
            rotate_age: Duration::from_secs(3600),
        };
        let (writer, tx) = LogWriter::start(dir.path(), policy).unwrap();
        for i in 0..100 {
            tx.send(LogEntry {
                request_id: format!("r{i}").into(),
                client_request_id: None,
                timestamp_ms: 0,
                endpoint: "e".into(),
                model: "m".into(),
                status: 400,
                latency_us: 1,
                inputs: None,
                predictions: Vec::new(),
                probabilities: Vec::new(),
                unseen: 0,
                explanations: None,
                error: Some("BAD_REQUEST: x".into()),
            })
            .unwrap();
        }
        drop(tx);
        let stats = writer.finish();
        assert_eq!(stats.lines, 100);
        let (lines, skipped) = read_dir(dir.path()).unwrap();
        assert_eq!((lines.len(), skipped), (100, 0));
        assert_eq!(lines[99]["request_id"], "r99");
    }
}
