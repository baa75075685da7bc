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
//! Line fields: `request_id`, `client_request_id`, `timestamp_ms`, `endpoint`, `model`,
//! `version`, `arm`, `status`, `latency_us`, `inputs` (the raw records as received: the id and
//! every input column the model reads, as the request typed them), `predictions`
//! (0/1), `probabilities` (positive class), `unseen_categories`, `error`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::payload::Parsed;
use super::router::Arm;
use crate::error::{Error, Result};

/// Buffer size at which the writer flushes without waiting for the interval.
const FLUSH_BYTES: usize = 256 * 1024;

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
    pub error: Option<String>,
}

/// Sends entries to the writer; cheap to clone.
pub type LogSender = Sender<LogEntry>;

/// What the writer did, reported when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogStats {
    pub lines: u64,
    pub files: u64,
    pub write_errors: u64,
}

/// The running writer thread.
pub struct LogWriter {
    handle: JoinHandle<LogStats>,
}

impl LogWriter {
    /// Starts the writer over `dir` (created if needed).
    pub fn start(dir: &Path, policy: LogPolicy) -> Result<(LogWriter, LogSender)> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (tx, rx) = mpsc::channel();
        let dir = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("inference-log".into())
            .spawn(move || write_loop(&dir, policy, rx))
            .map_err(|e| Error::io("inference log thread", e))?;
        Ok((LogWriter { handle }, tx))
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

struct Files {
    dir: PathBuf,
    seq: u64,
    current: Option<Current>,
    stats: LogStats,
}

impl Files {
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
            tracing::warn!(path = %c.path.display(), error = %e, "inference log: sync failed");
        }
    }

    fn flush(&mut self, buf: &mut Vec<u8>, lines: u64, policy: &LogPolicy) {
        if buf.is_empty() {
            return;
        }
        let result = self.open().and_then(|c| {
            // One call for the whole batch: lines are never interleaved, and a crash can tear
            // only the last one.
            c.file.write_all(buf)?;
            c.bytes += buf.len() as u64;
            Ok(())
        });
        match result {
            Ok(()) => self.stats.lines += lines,
            Err(e) => {
                self.stats.write_errors += 1;
                tracing::error!(dir = %self.dir.display(), error = %e, lines, "inference log: write failed, batch dropped");
                self.current = None;
            }
        }
        buf.clear();
        if let Some(c) = &self.current
            && (c.bytes >= policy.rotate_bytes || c.opened.elapsed() >= policy.rotate_age)
        {
            self.close();
        }
    }
}

fn write_loop(dir: &Path, policy: LogPolicy, rx: Receiver<LogEntry>) -> LogStats {
    let mut files = Files {
        dir: dir.to_path_buf(),
        seq: 0,
        current: None,
        stats: LogStats::default(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_BYTES + 64 * 1024);
    let mut pending = 0u64;
    let mut deadline: Option<Instant> = None;
    loop {
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        match rx.recv_timeout(wait) {
            Ok(entry) => {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + policy.flush);
                }
                append(&mut buf, &entry);
                pending += 1;
                if buf.len() >= FLUSH_BYTES {
                    files.flush(&mut buf, pending, &policy);
                    pending = 0;
                    deadline = None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if deadline.is_some() {
                    files.flush(&mut buf, pending, &policy);
                    pending = 0;
                    deadline = None;
                } else if files
                    .current
                    .as_ref()
                    .is_some_and(|c| c.opened.elapsed() >= policy.rotate_age)
                {
                    files.close();
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                files.flush(&mut buf, pending, &policy);
                files.close();
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
        if let Some(err) = &e.error {
            m.serialize_entry("error", err)?;
        }
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
