//! Exactly-once ingestion of the inference log (`serve::log`) into per-window aggregates in the
//! store.
//!
//! **Exactly once.** Each file's progress (byte offset just after the last complete line, and the
//! number of lines consumed) lives in `monitor_files` and is updated in the same SQLite
//! transaction as the window rows those lines fed. A crash anywhere leaves either both or
//! neither, so after a restart every complete line has been counted once.
//!
//! **Files.** Every `*.jsonl` under the log folder (`<log_dir>/<endpoint>/…`, or one endpoint's
//! folder) is read from its offset, oldest name first. A trailing line without its newline is
//! torn — the writer is mid-flush or was killed — and waits for a later pass. A file whose
//! identity (device and inode) changed, or that is now shorter than its offset, was replaced or
//! truncated: it is read again from the start (the lines counted before stay counted; `resets`
//! says it happened). A file that disappeared is marked deleted; its counts stay.
//!
//! **Bad lines.** A line that is not JSON, or lacks a field the writer always writes, is counted
//! against its file and quarantined in `monitor_quarantine` with its 1-based line number, byte
//! offset and (up to 4 KiB of) its text; ingestion carries on.
//!
//! **Windows.** Each line adds to one window per granularity (default 5 minutes, 1 hour, 1 day),
//! keyed by endpoint, model, version and window start: requests, errors (status ≥ 400 or an
//! `error` field), records, latency sum and max, the reported unseen-category count,
//! predictions (0/1), a 20-bin histogram of positive-class probabilities, and per input feature
//! — when a [`Baseline`] for the model version is known — counts on the baseline's percentile
//! bins (numeric) or per baseline category (categorical), nulls, and values the baseline never
//! had (`unseen`). Those counts are what `stats::numeric_drift` and `stats::categorical_drift`
//! take.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::multivariate::{MAX_WINDOW_ROWS, RowSample};
use super::sample::NumericSample;
use super::stats::{Binner, FINE_BINS, NumericBaseline, NumericCounts};
use crate::data::raw::Cell;
use crate::error::{Error, Result};

/// Window granularities used when none are configured: 5 minutes, 1 hour, 1 day.
pub const DEFAULT_GRANULARITIES_MS: [i64; 3] = [300_000, 3_600_000, 86_400_000];

/// Bins of the positive-class probability histogram, equal width on [0, 1].
pub const PROBA_BINS: usize = 20;

/// Bytes read from a file per transaction.
const READ_CHUNK: usize = 8 << 20;

/// Longest line read when none is configured (`monitoring.max_line_bytes`).
pub const DEFAULT_MAX_LINE: usize = 32 << 20;

/// What reading from an offset found.
enum Found {
    /// Complete lines: the first `n` bytes of the buffer, ending with a newline.
    Lines(usize),
    /// One line longer than the maximum, `len` bytes with its newline; its start.
    TooLong { len: u64, head: Vec<u8> },
    /// No complete line yet: this many bytes wait for their newline.
    Waiting(u64),
}

/// Quarantined text is cut here.
const QUARANTINE_TEXT: usize = 4096;

/// What a model version's inputs are compared with: one entry per feature, and for a pipeline
/// model also one per raw column that differs from the feature made of it, named
/// [`RAW_PREFIX`]`COLUMN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Baseline {
    pub features: Vec<FeatureBaseline>,
    /// The model's fitted preparation when its log records hold raw inputs: each record's
    /// features are derived through it, the way the model derived them. `None`: the records
    /// hold the features (format-1 models).
    #[serde(skip)]
    pub preparation: Option<Arc<crate::data::prepare::Preparation>>,
    /// A seeded sample of whole training rows of the model's features (see [`row_features`]),
    /// for the multivariate domain classifier (`multivariate`); empty when not built.
    #[serde(skip)]
    pub rows: RowSample,
}

impl Baseline {
    /// Positions of the model's features among `features` (the raw columns left out): the
    /// columns of a row in [`Baseline::rows`] and in a window's row sample.
    pub fn row_features(&self) -> Vec<usize> {
        (0..self.features.len())
            .filter(|&i| !self.features[i].name().starts_with(RAW_PREFIX))
            .collect()
    }
}

/// Names the baseline entry of a raw input column (`raw:ALIGN`), read from the record as
/// received, beside the feature derived from it.
pub const RAW_PREFIX: &str = "raw:";

/// The baseline of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureBaseline {
    Numeric {
        name: String,
        baseline: NumericBaseline,
    },
    Categorical {
        name: String,
        categories: Vec<String>,
        counts: Vec<u64>,
        nulls: u64,
    },
}

impl FeatureBaseline {
    pub fn name(&self) -> &str {
        match self {
            FeatureBaseline::Numeric { name, .. } | FeatureBaseline::Categorical { name, .. } => {
                name
            }
        }
    }

    /// A categorical baseline from raw values (`None` is null); categories most frequent first.
    pub fn categorical(name: &str, values: &[Option<&str>]) -> FeatureBaseline {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        let mut nulls = 0;
        for v in values {
            match v {
                Some(s) => *counts.entry(s).or_default() += 1,
                None => nulls += 1,
            }
        }
        let mut pairs: Vec<(&str, u64)> = counts.into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        FeatureBaseline::Categorical {
            name: name.to_string(),
            categories: pairs.iter().map(|p| p.0.to_string()).collect(),
            counts: pairs.iter().map(|p| p.1).collect(),
            nulls,
        }
    }

    /// A numeric baseline from raw values (NaN is null).
    pub fn numeric(name: &str, values: &[f64]) -> FeatureBaseline {
        FeatureBaseline::Numeric {
            name: name.to_string(),
            baseline: NumericBaseline::from_values(values),
        }
    }
}

/// One feature's counts in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureCounts {
    /// Counts on the baseline's `FINE_BINS` percentile bins, and the values themselves (exact up
    /// to `sample::EXACT_CAP`, then a KLL sketch), which drift is computed on. Windows stored
    /// before the values were kept have no `sample`: their drift is computed on the bins.
    Numeric {
        counts: Vec<u64>,
        nulls: u64,
        min: Option<f64>,
        max: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample: Option<NumericSample>,
    },
    /// Counts per baseline category, in the baseline's order.
    Categorical {
        counts: Vec<u64>,
        nulls: u64,
        unseen: u64,
    },
}

impl FeatureCounts {
    fn merge(&mut self, other: &FeatureCounts) {
        fn add(a: &mut Vec<u64>, b: &[u64]) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        match (self, other) {
            (
                FeatureCounts::Numeric {
                    counts,
                    nulls,
                    min,
                    max,
                    sample,
                },
                FeatureCounts::Numeric {
                    counts: c,
                    nulls: n,
                    min: lo,
                    max: hi,
                    sample: s,
                },
            ) => {
                add(counts, c);
                *nulls += n;
                *min = opt_fold(*min, *lo, f64::min);
                *max = opt_fold(*max, *hi, f64::max);
                // Values are only whole if both sides kept them.
                match (sample.as_mut(), s) {
                    (Some(mine), Some(theirs)) => mine.merge(theirs),
                    _ => *sample = None,
                }
            }
            (
                FeatureCounts::Categorical {
                    counts,
                    nulls,
                    unseen,
                },
                FeatureCounts::Categorical {
                    counts: c,
                    nulls: n,
                    unseen: u,
                },
            ) => {
                add(counts, c);
                *nulls += n;
                *unseen += u;
            }
            // The baseline of a model version does not change; a mismatch keeps the first.
            _ => {}
        }
    }

    /// The numeric counts as `stats` takes them.
    pub fn numeric_counts(&self) -> Option<NumericCounts> {
        match self {
            FeatureCounts::Numeric {
                counts,
                nulls,
                min,
                max,
                ..
            } => Some(NumericCounts {
                counts: counts.clone(),
                nulls: *nulls,
                min: min.unwrap_or(f64::INFINITY),
                max: max.unwrap_or(f64::NEG_INFINITY),
            }),
            FeatureCounts::Categorical { .. } => None,
        }
    }
}

fn opt_fold(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Everything of a window beyond the columns of `monitor_windows`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowAggregates {
    /// Sum of the lines' `unseen_categories`.
    pub unseen_reported: u64,
    /// Predictions of class 0 and class 1.
    pub predictions: [u64; 2],
    /// Positive-class probabilities in `PROBA_BINS` equal bins.
    pub probabilities: Vec<u64>,
    pub features: BTreeMap<String, FeatureCounts>,
    /// A uniform sample of the window's records as rows of the model's features (at most
    /// `multivariate::MAX_WINDOW_ROWS`), for the domain classifier. Windows stored before rows
    /// were kept have none.
    #[serde(default, skip_serializing_if = "RowSample::is_empty")]
    pub rows: RowSample,
}

impl WindowAggregates {
    fn merge(&mut self, other: &WindowAggregates) {
        self.rows.merge(&other.rows, MAX_WINDOW_ROWS);
        self.unseen_reported += other.unseen_reported;
        self.predictions[0] += other.predictions[0];
        self.predictions[1] += other.predictions[1];
        if self.probabilities.len() < other.probabilities.len() {
            self.probabilities.resize(other.probabilities.len(), 0);
        }
        for (a, b) in self.probabilities.iter_mut().zip(&other.probabilities) {
            *a += b;
        }
        for (name, f) in &other.features {
            match self.features.get_mut(name) {
                Some(mine) => mine.merge(f),
                None => {
                    self.features.insert(name.clone(), f.clone());
                }
            }
        }
    }
}

/// A window row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    pub records: u64,
    pub latency_sum_us: u64,
    pub latency_max_us: u64,
    pub aggregates: WindowAggregates,
}

impl Window {
    fn merge(&mut self, o: &Window) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.records += o.records;
        self.latency_sum_us += o.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(o.latency_max_us);
        self.aggregates.merge(&o.aggregates);
    }
}

/// Identifies a window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WindowKey {
    pub endpoint: String,
    pub model: String,
    pub version: i64,
    pub granularity_ms: i64,
    pub window_start: i64,
}

/// What one ingestion pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub files: u64,
    pub lines: u64,
    pub records: u64,
    pub corrupt: u64,
    pub bytes: u64,
    /// Files read again from the start because they were truncated or replaced.
    pub resets: u64,
    /// Files seen before that are gone.
    pub deleted: u64,
    /// Bytes of torn trailing lines left for a later pass.
    pub waiting_bytes: u64,
    /// Rows written to `monitor_predictions` (only with [`Ingestor::with_predictions`]).
    pub predictions: u64,
}

// ---------------------------------------------------------------------------------------------
// Tailing: shared by the inference log and the labels folder (`labels.rs`).
// ---------------------------------------------------------------------------------------------

/// A line that did not parse, kept in `monitor_quarantine` with its place.
#[derive(Debug, Clone)]
pub(crate) struct Quarantined {
    pub line: u64,
    pub offset: u64,
    pub error: String,
    pub text: String,
}

impl Quarantined {
    pub(crate) fn new(line: u64, offset: u64, error: String, text: &[u8]) -> Quarantined {
        let cut = &text[..text.len().min(QUARANTINE_TEXT)];
        Quarantined {
            line,
            offset,
            error,
            text: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}

/// What a sink made of one chunk of complete lines.
pub(crate) struct Staged<D> {
    pub data: D,
    pub lines: u64,
    pub bad: Vec<Quarantined>,
}

/// Turns chunks of complete lines into rows: `stage` parses (no database), `write` stores what
/// it staged inside the transaction that also moves the file's offset.
pub(crate) trait LineSink {
    type Data;
    /// `chunk` ends with a newline and follows `lines_before` lines, at byte `offset` of `path`.
    fn stage(
        &mut self,
        path: &Path,
        chunk: &[u8],
        lines_before: u64,
        offset: u64,
    ) -> Staged<Self::Data>;
    fn write(&mut self, tx: &rusqlite::Transaction<'_>, data: Self::Data) -> Result<()>;
}

/// What a tailing pass did, summed over files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TailCounts {
    pub files: u64,
    pub lines: u64,
    pub corrupt: u64,
    pub bytes: u64,
    pub resets: u64,
    pub deleted: u64,
    pub waiting_bytes: u64,
}

/// Reads files from their stored offsets, exactly once, over its own connection to the store.
pub(crate) struct Tailer {
    pub conn: Connection,
    /// Lines longer than this are quarantined, not read.
    max_line: usize,
}

/// A file's progress as stored in `monitor_files`: (identity, offset, lines).
type Progress = Option<(String, i64, i64)>;

/// How a commit went.
enum Committed {
    Yes,
    /// Another ingester moved the file's offset since this one read it: nothing was written.
    Moved,
}

/// How many times a file is re-read after another ingester moved it, in one pass.
const MAX_MOVED: usize = 1000;

impl Tailer {
    pub(crate) fn open(db_path: &Path) -> Result<Tailer> {
        let conn = Connection::open(db_path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Tailer {
            conn,
            max_line: DEFAULT_MAX_LINE,
        })
    }

    /// Lines longer than `bytes` are quarantined (at least 1 KiB).
    pub(crate) fn set_max_line(&mut self, bytes: u64) {
        self.max_line = usize::try_from(bytes.max(1024)).unwrap_or(usize::MAX);
    }

    /// One pass over every file under `dir` (two levels deep) whose name ends in one of `exts`,
    /// oldest name first; files seen before under `dir` that are gone are marked deleted.
    pub(crate) fn dir<S: LineSink>(
        &mut self,
        dir: &Path,
        exts: &[&str],
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<()> {
        let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut files = Vec::new();
        collect_files(&root, exts, 0, &mut files)?;
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
        for path in &files {
            self.file(path, sink, counts)?;
        }
        let prefix = format!("{}/", root.to_string_lossy());
        let known: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT path FROM monitor_files WHERE deleted_at IS NULL")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for p in known {
            let ours = p.starts_with(&prefix) && has_ext(Path::new(&p), exts);
            if ours && !Path::new(&p).exists() {
                let n = self.conn.execute(
                    "UPDATE monitor_files SET deleted_at = ?2, updated_at = ?2
                     WHERE path = ?1 AND deleted_at IS NULL",
                    params![p, crate::clock::now_ms()],
                )?;
                counts.deleted += n as u64;
            }
        }
        Ok(())
    }

    /// Reads what is new in one file, a chunk at a time, each chunk committed with its offset.
    ///
    /// Several ingesters may tail the same store at once (two `monitor` commands, the TUI, an
    /// agent's monitor step): each chunk's commit checks that the stored offset is still the
    /// one the chunk was read from (compare-and-set inside the write transaction). When another
    /// ingester got there first, this one writes nothing and reads on from the new offset, so
    /// every line counts once whatever the number of ingesters.
    pub(crate) fn file<S: LineSink>(
        &mut self,
        path: &Path,
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<()> {
        counts.files += 1;
        for _ in 0..MAX_MOVED {
            match self.file_once(path, sink, counts)? {
                Committed::Yes => return Ok(()),
                Committed::Moved => {}
            }
        }
        Err(Error::invalid(format!(
            "{}: its offset kept moving under this ingester ({MAX_MOVED} times in one pass)",
            path.display()
        )))
    }

    fn progress(&self, key: &str) -> Result<Progress> {
        Ok(self
            .conn
            .query_row(
                "SELECT identity, offset, lines FROM monitor_files WHERE path = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Reads from the stored progress until the end of the file, or until another ingester is
    /// found to have moved it (`Moved`).
    fn file_once<S: LineSink>(
        &mut self,
        path: &Path,
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<Committed> {
        let key = path.to_string_lossy().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Committed::Yes),
            Err(e) => return Err(Error::io(path, e)),
        };
        let identity = format!("{}:{}", meta.dev(), meta.ino());
        let mut expected = self.progress(&key)?;
        let (mut offset, mut lines, mut reset) = match &expected {
            None => (0u64, 0u64, false),
            Some((id, off, n)) if *id == identity && meta.len() >= *off as u64 => {
                (*off as u64, *n as u64, false)
            }
            Some(_) => (0, 0, true),
        };
        if meta.len() == offset && !reset {
            return Ok(Committed::Yes);
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buf =
            Vec::with_capacity(READ_CHUNK.min(meta.len().saturating_sub(offset) as usize + 1));
        loop {
            let (data, n, bad, advance) = match self
                .read_lines(&mut file, path, offset, &mut buf)?
            {
                Found::Lines(end) => {
                    let staged = sink.stage(path, &buf[..end], lines, offset);
                    (Some(staged.data), staged.lines, staged.bad, end as u64)
                }
                Found::TooLong { len, head } => {
                    let q = Quarantined::new(
                        lines + 1,
                        offset,
                        format!(
                            "a line of {len} bytes, longer than monitoring.max_line_bytes ({}): skipped",
                            self.max_line
                        ),
                        &head,
                    );
                    (None, 1, vec![q], len)
                }
                Found::Waiting(bytes) => {
                    if reset {
                        // Record the reset even when nothing complete is there yet.
                        let next = (identity.clone(), offset as i64, lines as i64);
                        if let Committed::Moved =
                            self.commit(sink, &key, &expected, &next, None, &[], true)?
                        {
                            return Ok(Committed::Moved);
                        }
                        counts.resets += 1;
                    }
                    counts.waiting_bytes += bytes;
                    return Ok(Committed::Yes);
                }
            };
            let next = (
                identity.clone(),
                (offset + advance) as i64,
                (lines + n) as i64,
            );
            if let Committed::Moved =
                self.commit(sink, &key, &expected, &next, data, &bad, reset)?
            {
                return Ok(Committed::Moved);
            }
            counts.lines += n;
            counts.corrupt += bad.len() as u64;
            counts.bytes += advance;
            counts.resets += u64::from(reset);
            reset = false;
            offset += advance;
            lines += n;
            expected = Some(next);
        }
    }

    /// Reads complete lines from `offset` into `buf`: up to [`READ_CHUNK`] bytes of them, or
    /// one line longer than that (up to `max_line`). A line longer than `max_line` is measured
    /// (to its newline) and reported as `TooLong` with its first bytes, not kept.
    fn read_lines(
        &self,
        file: &mut File,
        path: &Path,
        offset: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Found> {
        let io = |e| Error::io(path, e);
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        buf.clear();
        file.by_ref()
            .take(READ_CHUNK as u64)
            .read_to_end(buf)
            .map_err(io)?;
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            let end = i + 1;
            if end <= self.max_line {
                return Ok(Found::Lines(end));
            }
            // A chunk longer than the maximum line (only with a small max_line_bytes): stop
            // before the first over-long line, or report it when it comes first.
            let mut start = 0;
            for (k, b) in buf[..end].iter().enumerate() {
                if *b == b'\n' {
                    if k - start > self.max_line {
                        if start > 0 {
                            return Ok(Found::Lines(start));
                        }
                        let head = buf[..QUARANTINE_TEXT.min(k)].to_vec();
                        return Ok(Found::TooLong {
                            len: k as u64 + 1,
                            head,
                        });
                    }
                    start = k + 1;
                }
            }
            return Ok(Found::Lines(end));
        }
        if buf.len() < READ_CHUNK {
            return Ok(Found::Waiting(buf.len() as u64));
        }
        // One line longer than a chunk: read on to its newline, up to the maximum.
        while buf.len() <= self.max_line {
            let from = buf.len();
            let want = (self.max_line + 1 - from).min(READ_CHUNK);
            file.by_ref()
                .take(want as u64)
                .read_to_end(buf)
                .map_err(io)?;
            if let Some(i) = buf[from..].iter().position(|b| *b == b'\n') {
                let end = from + i + 1;
                buf.truncate(end);
                return Ok(Found::Lines(end));
            }
            if buf.len() == from {
                return Ok(Found::Waiting(buf.len() as u64));
            }
        }
        // Past the maximum: find the newline without keeping the bytes.
        let head = buf[..QUARANTINE_TEXT.min(buf.len())].to_vec();
        let mut len = buf.len() as u64;
        let mut scratch = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut scratch).map_err(io)?;
            if n == 0 {
                return Ok(Found::Waiting(len));
            }
            if let Some(i) = scratch[..n].iter().position(|b| *b == b'\n') {
                return Ok(Found::TooLong {
                    len: len + i as u64 + 1,
                    head,
                });
            }
            len += n as u64;
        }
    }

    /// Writes the sink's rows, the quarantined lines and the file's new progress in one
    /// transaction, if the stored progress is still `expected` (compare-and-set); otherwise
    /// writes nothing and says `Moved`.
    #[allow(clippy::too_many_arguments)]
    fn commit<S: LineSink>(
        &mut self,
        sink: &mut S,
        path: &str,
        expected: &Progress,
        next: &(String, i64, i64),
        data: Option<S::Data>,
        bad: &[Quarantined],
        reset: bool,
    ) -> Result<Committed> {
        let now = crate::clock::now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Progress = tx
            .query_row(
                "SELECT identity, offset, lines FROM monitor_files WHERE path = ?1",
                [path],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if stored != *expected {
            return Ok(Committed::Moved);
        }
        if let Some(data) = data {
            sink.write(&tx, data)?;
        }
        {
            let mut q = tx.prepare_cached(
                "INSERT OR IGNORE INTO monitor_quarantine (path, line, offset, error, text, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for b in bad {
                q.execute(params![
                    path,
                    b.line as i64,
                    b.offset as i64,
                    b.error,
                    b.text,
                    now
                ])?;
            }
        }
        tx.execute(
            "INSERT INTO monitor_files (path, identity, offset, lines, corrupt, resets, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(path) DO UPDATE SET identity = ?2, offset = ?3, lines = ?4,
               corrupt = corrupt + ?5, resets = resets + ?6, deleted_at = NULL, updated_at = ?7",
            params![
                path,
                next.0,
                next.1,
                next.2,
                bad.len() as i64,
                i64::from(reset),
                now
            ],
        )?;
        tx.commit()?;
        Ok(Committed::Yes)
    }

    /// Quarantined lines under `prefix` (a folder; empty for all): (path, 1-based line, error).
    pub(crate) fn quarantine(&self, prefix: &str) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, line, error FROM monitor_quarantine
             WHERE substr(path, 1, length(?1)) = ?1 ORDER BY path, line",
        )?;
        let rows = stmt.query_map([prefix], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| exts.contains(&x))
}

fn collect_files(dir: &Path, exts: &[&str], depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < 2 {
            collect_files(&path, exts, depth + 1, out)?;
        } else if kind.is_file() && has_ext(&path, exts) {
            out.push(path);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The inference log.
// ---------------------------------------------------------------------------------------------

/// A baseline made ready to bin records: a binner per numeric feature, an index per categorical
/// one, and where in a record each feature comes from (not `data::prepare::Prepared`, a prepared
/// dataset).
struct BaselineBinner {
    baseline: Arc<Baseline>,
    binners: Vec<Option<Binner>>,
    /// The record keys read, as bytes, to match them without decoding: the features, or the
    /// raw input columns of a pipeline model.
    names: Vec<Box<[u8]>>,
    index: Vec<CategoryIndex>,
    /// Where each baseline entry's value comes from.
    sources: Vec<Source>,
    /// [`Baseline::row_features`].
    row_features: Vec<usize>,
}

/// Where a baseline entry's value comes from in a record.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The record key at this position of `BaselineBinner::names`.
    Key(usize),
    /// A feature derived through the preparation: numeric or categorical, by position.
    Numeric(usize),
    Categorical(usize),
    /// Nothing in the record feeds it.
    Missing,
}

/// Finds a category's position: a linear scan for a few categories, a map beyond.
enum CategoryIndex {
    None,
    Few(Vec<Box<str>>),
    Many(HashMap<String, usize>),
}

impl CategoryIndex {
    fn get(&self, s: &str) -> Option<usize> {
        match self {
            CategoryIndex::None => None,
            CategoryIndex::Few(v) => v.iter().position(|c| &**c == s),
            CategoryIndex::Many(m) => m.get(s).copied(),
        }
    }
}

impl BaselineBinner {
    fn new(baseline: Arc<Baseline>) -> BaselineBinner {
        let binners = baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Numeric { baseline, .. } => Some(baseline.binner()),
                FeatureBaseline::Categorical { .. } => None,
            })
            .collect();
        let index = baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Categorical { categories, .. } if categories.len() <= 12 => {
                    CategoryIndex::Few(categories.iter().map(|c| c.as_str().into()).collect())
                }
                FeatureBaseline::Categorical { categories, .. } => CategoryIndex::Many(
                    categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.clone(), i))
                        .collect(),
                ),
                FeatureBaseline::Numeric { .. } => CategoryIndex::None,
            })
            .collect();
        let (names, sources): (Vec<Box<[u8]>>, Vec<Source>) = match &baseline.preparation {
            None => (
                baseline
                    .features
                    .iter()
                    .map(|f| f.name().as_bytes().into())
                    .collect(),
                (0..baseline.features.len()).map(Source::Key).collect(),
            ),
            Some(prep) => {
                let raw = prep.schema.names();
                let sources = baseline
                    .features
                    .iter()
                    .map(|f| {
                        let name = f.name();
                        if let Some(col) = name.strip_prefix(RAW_PREFIX) {
                            raw.iter()
                                .position(|r| r == col)
                                .map_or(Source::Missing, Source::Key)
                        } else if let Some(i) = prep.features.numeric.iter().position(|n| n == name)
                        {
                            Source::Numeric(i)
                        } else if let Some(i) =
                            prep.features.categorical.iter().position(|n| n == name)
                        {
                            Source::Categorical(i)
                        } else {
                            Source::Missing
                        }
                    })
                    .collect();
                (raw.iter().map(|n| n.as_bytes().into()).collect(), sources)
            }
        };
        BaselineBinner {
            row_features: baseline.row_features(),
            baseline,
            binners,
            names,
            index,
            sources,
        }
    }

    /// One hit per baseline entry for a record whose value of key `k` is `val(k)`: read directly,
    /// or for a pipeline model derived through its preparation (the scoring path), so the
    /// window counts the features the model saw.
    fn record_hits<'a>(&self, val: impl Fn(usize) -> Val<'a>, out: &mut Vec<Hit>) {
        let Some(prep) = &self.baseline.preparation else {
            for (i, s) in self.sources.iter().enumerate() {
                let v = match *s {
                    Source::Key(k) => val(k),
                    _ => Val::Null,
                };
                out.push(self.hit(i, &v));
            }
            return;
        };
        let mut batch = crate::data::raw::RawBatch::new(self.names.len());
        batch.rows = 1;
        for (k, col) in batch.columns.iter_mut().enumerate() {
            let cell = match val(k) {
                Val::Num(x) => Cell::Num(x),
                Val::Str(t) => Cell::Text(t.to_string()),
                Val::Bool(b) => Cell::Bool(b),
                Val::Null | Val::Other => Cell::Null,
            };
            let ty = prep.schema.inputs[k].ty;
            col.push(crate::data::raw::coerce(cell, ty).unwrap_or(Cell::Null));
        }
        let features = prep.transform(&batch).ok();
        for (i, s) in self.sources.iter().enumerate() {
            let hit = match (*s, &features) {
                (Source::Key(k), _) => self.hit(i, &val(k)),
                (Source::Numeric(j), Some(f)) => match f.numeric[j][0] {
                    Some(x) => self.hit(i, &Val::Num(x)),
                    None => Hit::Null,
                },
                (Source::Categorical(j), Some(f)) => match &f.categorical[j][0] {
                    Some(t) => self.hit(i, &Val::Str(t)),
                    None => Hit::Null,
                },
                _ => Hit::Null,
            };
            out.push(hit);
        }
    }

    /// One record's row of the model's features from its hits (one per baseline entry): a
    /// numeric value, a category's position in the baseline (an unseen value one past the
    /// last), `None` when missing — as `drift::baseline_rows` encodes training rows.
    fn row(&self, hits: &[Hit]) -> Vec<Option<f64>> {
        self.row_features
            .iter()
            .map(|&i| match (hits[i], &self.baseline.features[i]) {
                (Hit::Bin(_, x), _) => Some(x),
                (Hit::Category(k), _) => Some(k as f64),
                (Hit::Unseen, FeatureBaseline::Categorical { categories, .. }) => {
                    Some(categories.len() as f64)
                }
                _ => None,
            })
            .collect()
    }

    fn empty_list(&self) -> Vec<FeatureCounts> {
        self.baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Numeric { .. } => FeatureCounts::Numeric {
                    counts: vec![0; FINE_BINS],
                    nulls: 0,
                    min: None,
                    max: None,
                    sample: Some(NumericSample::new()),
                },
                FeatureBaseline::Categorical { categories, .. } => FeatureCounts::Categorical {
                    counts: vec![0; categories.len()],
                    nulls: 0,
                    unseen: 0,
                },
            })
            .collect()
    }

    /// Where one value of feature `i` goes.
    fn hit(&self, i: usize, v: &Val<'_>) -> Hit {
        match &self.baseline.features[i] {
            FeatureBaseline::Numeric { .. } => {
                let x = match v {
                    Val::Num(n) => Some(*n),
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match (x, &self.binners[i]) {
                    (Some(x), Some(b)) if !x.is_nan() => Hit::Bin(b.bin(x), x),
                    _ => Hit::Null,
                }
            }
            FeatureBaseline::Categorical { .. } => {
                let found = match v {
                    Val::Null | Val::Other => return Hit::Null,
                    Val::Str(s) => self.index[i].get(s),
                    Val::Num(n) => self.index[i].get(&n.to_string()),
                    Val::Bool(b) => self.index[i].get(if *b { "true" } else { "false" }),
                };
                match found {
                    Some(k) => Hit::Category(k),
                    None => Hit::Unseen,
                }
            }
        }
    }
}

/// Looks up the baseline of a model version (`None`: no baseline; counts without features).
pub type BaselineLoader = Box<dyn FnMut(&str, i64) -> Option<Arc<Baseline>> + Send>;

/// Baselines by model version, loaded once; the last one used is checked first.
struct Baselines {
    loader: BaselineLoader,
    cache: HashMap<(String, i64), Option<Arc<BaselineBinner>>>,
    last: Option<(String, i64, Option<Arc<BaselineBinner>>)>,
}

impl Baselines {
    fn get(&mut self, model: &str, version: i64) -> Option<Arc<BaselineBinner>> {
        if let Some((m, v, p)) = &self.last
            && *v == version
            && m == model
        {
            return p.clone();
        }
        let key = (model.to_string(), version);
        let p = match self.cache.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = (self.loader)(model, version).map(|p| Arc::new(BaselineBinner::new(p)));
                self.cache.insert(key, p.clone());
                p
            }
        };
        self.last = Some((model.to_string(), version, p.clone()));
        p
    }
}

/// Ingests inference logs into a store's monitoring tables.
///
/// With [`Ingestor::with_predictions`] it also keeps one `monitor_predictions` row per scored
/// record, in the same transaction as the windows, for the join with labels that arrive later
/// (`labels.rs`).
pub struct Ingestor {
    tail: Tailer,
    sink: LogSink,
}

/// Parses log lines into windows (and prediction rows); see `Ingestor`.
struct LogSink {
    granularities: Vec<i64>,
    baselines: Baselines,
    /// `Some` when predictions are kept: the input column holding the record id, if any.
    capture: Option<Option<String>>,
    scratch: Scratch,
    records: u64,
    predictions: u64,
    /// Lines stamped more than this many ms ahead of the clock are quarantined.
    max_clock_skew_ms: i64,
}

/// Lines stamped before this (2000-01-01T00:00:00Z, in ms) are quarantined: a clock that was
/// never set, or seconds written as milliseconds.
pub const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;

/// Default of [`Ingestor::with_limits`]'s clock skew: one day.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 86_400_000;

/// Per-line buffers, reused so that a line allocates nothing.
#[derive(Default)]
struct Scratch {
    predictions: Vec<u8>,
    probabilities: Vec<f64>,
    /// One hit per baseline feature per record, in baseline order.
    hits: Vec<Hit>,
    /// Per record: the id column's value (only when capturing predictions).
    ids: Vec<Option<String>>,
    /// Per feature: the current record's value, as a place in the line.
    slots: Vec<Slot>,
}

impl Scratch {
    fn clear(&mut self) {
        self.predictions.clear();
        self.probabilities.clear();
        self.hits.clear();
        self.ids.clear();
    }
}

/// A chunk's windows and prediction rows, ready to write.
struct LogChunk {
    windows: HashMap<WindowKey, Window>,
    /// (endpoint, model, version) of `PredictionRow::group`.
    groups: Vec<(String, String, i64)>,
    predictions: Vec<PredictionRow>,
    records: u64,
}

struct PredictionRow {
    group: usize,
    record_id: String,
    timestamp_ms: i64,
    prediction: u8,
    probability: Option<f64>,
}

impl Ingestor {
    /// Opens its own connection to the store database at `db_path` (already migrated by
    /// `SqliteStore::open`).
    pub fn open(db_path: &Path, granularities: &[i64], loader: BaselineLoader) -> Result<Ingestor> {
        if granularities.iter().any(|g| *g <= 0) {
            return Err(Error::invalid(format!(
                "window granularities must be positive milliseconds, got {granularities:?}"
            )));
        }
        Ok(Ingestor {
            tail: Tailer::open(db_path)?,
            sink: LogSink {
                granularities: granularities.to_vec(),
                baselines: Baselines {
                    loader,
                    cache: HashMap::new(),
                    last: None,
                },
                capture: None,
                scratch: Scratch::default(),
                records: 0,
                predictions: 0,
                max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            },
        })
    }

    /// Lines longer than `max_line_bytes` are quarantined (`monitoring.max_line_bytes`), as are
    /// lines stamped more than `max_clock_skew_ms` ahead of this machine's clock
    /// (`monitoring.max_clock_skew`) or before [`MIN_TIMESTAMP_MS`].
    pub fn with_limits(mut self, max_line_bytes: u64, max_clock_skew_ms: i64) -> Ingestor {
        self.tail.set_max_line(max_line_bytes);
        self.sink.max_clock_skew_ms = max_clock_skew_ms.max(0);
        self
    }

    /// Also keeps one `monitor_predictions` row per scored record (a record of a line with
    /// predictions), keyed by the value of the input column `id_column` (the config's
    /// `dataset.id`), or by `<request_id>:<row>` when there is no such column or it is null.
    pub fn with_predictions(mut self, id_column: Option<&str>) -> Ingestor {
        self.sink.capture = Some(id_column.map(str::to_string));
        self
    }

    /// One pass over every `*.jsonl` under `dir` (the log folder or one endpoint's folder).
    /// The labels folder must not be inside it.
    pub fn ingest_dir(&mut self, dir: &Path) -> Result<IngestReport> {
        let mut counts = TailCounts::default();
        let result = self.tail.dir(dir, &["jsonl"], &mut self.sink, &mut counts);
        let report = self.report(counts);
        result.map(|()| report)
    }

    /// Ingests what is new in one file.
    pub fn ingest_file(&mut self, path: &Path, report: &mut IngestReport) -> Result<()> {
        let mut counts = TailCounts::default();
        let result = self.tail.file(path, &mut self.sink, &mut counts);
        let r = self.report(counts);
        report.files += r.files;
        report.lines += r.lines;
        report.records += r.records;
        report.corrupt += r.corrupt;
        report.bytes += r.bytes;
        report.resets += r.resets;
        report.deleted += r.deleted;
        report.waiting_bytes += r.waiting_bytes;
        report.predictions += r.predictions;
        result
    }

    fn report(&mut self, c: TailCounts) -> IngestReport {
        let r = IngestReport {
            files: c.files,
            lines: c.lines,
            records: self.sink.records,
            corrupt: c.corrupt,
            bytes: c.bytes,
            resets: c.resets,
            deleted: c.deleted,
            waiting_bytes: c.waiting_bytes,
            predictions: self.sink.predictions,
        };
        self.sink.records = 0;
        self.sink.predictions = 0;
        r
    }

    /// The windows of one granularity, oldest first.
    pub fn windows(&self, granularity_ms: i64) -> Result<Vec<(WindowKey, Window)>> {
        read_windows(&self.tail.conn, granularity_ms)
    }

    /// Quarantined lines of every monitored file: (path, 1-based line, error).
    pub fn quarantine(&self) -> Result<Vec<(String, u64, String)>> {
        self.tail.quarantine("")
    }
}

/// The windows of one granularity in the store behind `conn`, oldest first.
pub fn read_windows(conn: &Connection, granularity_ms: i64) -> Result<Vec<(WindowKey, Window)>> {
    let mut stmt = conn.prepare(
        "SELECT endpoint, model, version, window_start, requests, errors, records,
                latency_sum_us, latency_max_us, aggregates
         FROM monitor_windows WHERE granularity_ms = ?1
         ORDER BY window_start, endpoint, model, version",
    )?;
    let rows = stmt.query_map([granularity_ms], |r| {
        Ok((
            WindowKey {
                endpoint: r.get(0)?,
                model: r.get(1)?,
                version: r.get(2)?,
                granularity_ms,
                window_start: r.get(3)?,
            },
            (
                r.get::<_, i64>(4)? as u64,
                r.get::<_, i64>(5)? as u64,
                r.get::<_, i64>(6)? as u64,
                r.get::<_, i64>(7)? as u64,
                r.get::<_, i64>(8)? as u64,
                r.get::<_, String>(9)?,
            ),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (k, (requests, errors, records, sum, max, json)) = row?;
        let aggregates = serde_json::from_str(&json)
            .map_err(|e| Error::invalid(format!("monitor_windows row {k:?}: {e}")))?;
        out.push((
            k,
            Window {
                requests,
                errors,
                records,
                latency_sum_us: sum,
                latency_max_us: max,
                aggregates,
            },
        ));
    }
    Ok(out)
}

impl LineSink for LogSink {
    type Data = LogChunk;

    /// Each line's feature values are binned once, then added straight into the accumulator of
    /// each of its windows (found without allocating); nothing per line is cloned.
    fn stage(
        &mut self,
        _path: &Path,
        chunk: &[u8],
        lines_before: u64,
        offset: u64,
    ) -> Staged<LogChunk> {
        let mut groups: Vec<Group> = Vec::new();
        let mut bad = Vec::new();
        let mut predictions = Vec::new();
        let (mut n, mut records, mut pos) = (0u64, 0u64, 0usize);
        let capture = self.capture.as_ref().map(|c| c.as_deref());
        let mut scratch = std::mem::take(&mut self.scratch);
        let latest_ok = crate::clock::now_ms().saturating_add(self.max_clock_skew_ms);
        for raw in chunk.split_inclusive(|b| *b == b'\n') {
            n += 1;
            let line_no = lines_before + n;
            let at = offset + pos as u64;
            pos += raw.len();
            let text = raw.strip_suffix(b"\n").unwrap_or(raw);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let line = match parse_line(text, &mut self.baselines, capture, &mut scratch) {
                Ok(l) => l,
                Err(e) => {
                    bad.push(Quarantined::new(line_no, at, e, text));
                    continue;
                }
            };
            // A clock far off would otherwise make up the newest (or oldest) windows.
            if line.timestamp_ms > latest_ok || line.timestamp_ms < MIN_TIMESTAMP_MS {
                let why = if line.timestamp_ms < MIN_TIMESTAMP_MS {
                    "before 2000-01-01".to_string()
                } else {
                    format!(
                        "{} s ahead of this machine's clock (monitoring.max_clock_skew is {} s)",
                        (line.timestamp_ms - latest_ok + self.max_clock_skew_ms) / 1000,
                        self.max_clock_skew_ms / 1000
                    )
                };
                bad.push(Quarantined::new(
                    line_no,
                    at,
                    format!("timestamp_ms {} is {why}", line.timestamp_ms),
                    text,
                ));
                continue;
            }
            let gi = match groups.iter().position(|g| {
                g.version == line.version && g.endpoint == line.endpoint && g.model == line.model
            }) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        endpoint: line.endpoint.to_string(),
                        model: line.model.to_string(),
                        version: line.version,
                        binner: self.baselines.get(&line.model, line.version),
                        accs: Vec::new(),
                        index: HashMap::new(),
                        last: vec![(i64::MIN, 0); self.granularities.len()],
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[gi];
            records += line.records as u64;
            let error = line.status >= 400 || line.error;
            for (gn, g) in self.granularities.iter().enumerate() {
                let start = line.timestamp_ms.div_euclid(*g) * g;
                let ai = if group.last[gn].0 == start {
                    group.last[gn].1
                } else {
                    let next = group.accs.len();
                    let ai = *group.index.entry((*g, start)).or_insert(next);
                    if ai == next {
                        group.accs.push(Acc {
                            granularity_ms: *g,
                            window_start: start,
                            w: Window::default(),
                            feats: group
                                .binner
                                .as_ref()
                                .map(|p| p.empty_list())
                                .unwrap_or_default(),
                        });
                    }
                    group.last[gn] = (start, ai);
                    ai
                };
                let acc = &mut group.accs[ai];
                let w = &mut acc.w;
                w.requests += 1;
                w.errors += u64::from(error);
                w.records += line.records as u64;
                w.latency_sum_us += line.latency_us;
                w.latency_max_us = w.latency_max_us.max(line.latency_us);
                let a = &mut w.aggregates;
                a.unseen_reported += line.unseen;
                for p in &scratch.predictions {
                    a.predictions[usize::from(*p != 0)] += 1;
                }
                if !scratch.probabilities.is_empty() && a.probabilities.is_empty() {
                    a.probabilities = vec![0; PROBA_BINS];
                }
                for p in &scratch.probabilities {
                    if p.is_finite() {
                        let b =
                            ((p.clamp(0.0, 1.0) * PROBA_BINS as f64) as usize).min(PROBA_BINS - 1);
                        a.probabilities[b] += 1;
                    }
                }
                let nf = acc.feats.len();
                if nf > 0 {
                    for (k, hit) in scratch.hits.iter().enumerate() {
                        apply(&mut acc.feats[k % nf], *hit);
                    }
                    if let Some(binner) = &group.binner {
                        for record in scratch.hits.chunks_exact(nf) {
                            if let Some(slot) = a.rows.slot(MAX_WINDOW_ROWS) {
                                a.rows.put(slot, binner.row(record));
                            }
                        }
                    }
                }
            }
            if let Some(_id_column) = capture {
                for (r, p) in scratch.predictions.iter().enumerate() {
                    let record_id = match scratch.ids.get_mut(r).and_then(Option::take) {
                        Some(id) => id,
                        None => format!("{}:{r}", line.request_id.as_deref().unwrap_or("")),
                    };
                    predictions.push(PredictionRow {
                        group: gi,
                        record_id,
                        timestamp_ms: line.timestamp_ms,
                        prediction: u8::from(*p != 0),
                        probability: scratch.probabilities.get(r).copied(),
                    });
                }
            }
        }
        self.scratch = scratch;
        let mut windows = HashMap::new();
        let mut keys = Vec::with_capacity(groups.len());
        for g in groups {
            for mut acc in g.accs {
                if let Some(binner) = &g.binner {
                    acc.w.aggregates.features = binner
                        .baseline
                        .features
                        .iter()
                        .map(|f| f.name().to_string())
                        .zip(acc.feats)
                        .collect();
                }
                let key = WindowKey {
                    endpoint: g.endpoint.clone(),
                    model: g.model.clone(),
                    version: g.version,
                    granularity_ms: acc.granularity_ms,
                    window_start: acc.window_start,
                };
                windows.insert(key, acc.w);
            }
            keys.push((g.endpoint, g.model, g.version));
        }
        Staged {
            data: LogChunk {
                windows,
                groups: keys,
                predictions,
                records,
            },
            lines: n,
            bad,
        }
    }

    fn write(&mut self, tx: &rusqlite::Transaction<'_>, data: LogChunk) -> Result<()> {
        for (k, w) in &data.windows {
            let existing: Option<(i64, i64, i64, i64, i64, String)> = tx
                .prepare_cached(
                    "SELECT requests, errors, records, latency_sum_us, latency_max_us, aggregates
                     FROM monitor_windows WHERE endpoint = ?1 AND model = ?2 AND version = ?3
                     AND granularity_ms = ?4 AND window_start = ?5",
                )?
                .query_row(
                    params![
                        k.endpoint,
                        k.model,
                        k.version,
                        k.granularity_ms,
                        k.window_start
                    ],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let mut total = w.clone();
            if let Some((requests, errors, records, sum, max, json)) = existing {
                let aggregates: WindowAggregates = serde_json::from_str(&json).map_err(|e| {
                    Error::invalid(format!(
                        "monitor_windows row {k:?}: aggregates do not parse: {e}"
                    ))
                })?;
                total = Window {
                    requests: requests as u64,
                    errors: errors as u64,
                    records: records as u64,
                    latency_sum_us: sum as u64,
                    latency_max_us: max as u64,
                    aggregates,
                };
                total.merge(w);
            }
            let json = serde_json::to_string(&total.aggregates)
                .map_err(|e| Error::invalid(format!("window aggregates: {e}")))?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO monitor_windows (endpoint, model, version, granularity_ms,
                 window_start, requests, errors, records, latency_sum_us, latency_max_us, aggregates)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                k.endpoint,
                k.model,
                k.version,
                k.granularity_ms,
                k.window_start,
                total.requests as i64,
                total.errors as i64,
                total.records as i64,
                total.latency_sum_us as i64,
                total.latency_max_us as i64,
                json
            ])?;
        }
        if !data.predictions.is_empty() {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO monitor_predictions (record_id, endpoint, model, version,
                 timestamp_ms, prediction, probability) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in &data.predictions {
                let (endpoint, model, version) = &data.groups[p.group];
                stmt.execute(params![
                    p.record_id,
                    endpoint,
                    model,
                    version,
                    p.timestamp_ms,
                    p.prediction,
                    p.probability
                ])?;
            }
        }
        self.records += data.records;
        self.predictions += data.predictions.len() as u64;
        Ok(())
    }
}

/// The fields of a line that ingestion uses; the per-record parts are in `Scratch`.
struct LineFields<'a> {
    timestamp_ms: i64,
    endpoint: Cow<'a, str>,
    model: Cow<'a, str>,
    /// 0 when the line names none.
    version: i64,
    status: u16,
    latency_us: u64,
    unseen: u64,
    error: bool,
    request_id: Option<Cow<'a, str>>,
    records: usize,
}

/// Parses one line: the fast path for what the writer writes, else serde (which also words the
/// error of a corrupt line). `capture` is `Some(id column)` when record ids are wanted.
fn parse_line<'a>(
    text: &'a [u8],
    baselines: &mut Baselines,
    capture: Option<Option<&str>>,
    scratch: &mut Scratch,
) -> std::result::Result<LineFields<'a>, String> {
    scratch.clear();
    if let Ok(s) = std::str::from_utf8(text)
        && let Some(l) = fast::line(s, baselines, capture, scratch)
    {
        return Ok(l);
    }
    scratch.clear();
    slow_line(text, baselines, capture, scratch)
}

/// The line fields ingestion needs; a line without one of the required ones is corrupt.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default, borrow)]
    request_id: Option<Scalar<'a>>,
    timestamp_ms: i64,
    #[serde(borrow)]
    endpoint: Cow<'a, str>,
    #[serde(borrow)]
    model: Cow<'a, str>,
    version: Option<i64>,
    status: u16,
    latency_us: u64,
    #[serde(default, borrow)]
    inputs: Option<Vec<HashMap<Cow<'a, str>, Scalar<'a>>>>,
    #[serde(default)]
    predictions: Vec<u8>,
    #[serde(default)]
    probabilities: Vec<f64>,
    #[serde(default)]
    unseen_categories: u64,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

fn slow_line<'a>(
    text: &'a [u8],
    baselines: &mut Baselines,
    capture: Option<Option<&str>>,
    scratch: &mut Scratch,
) -> std::result::Result<LineFields<'a>, String> {
    let line: Line<'a> = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let version = line.version.unwrap_or(0);
    let inputs = line.inputs.unwrap_or_default();
    if let Some(binner) = baselines.get(&line.model, version) {
        for rec in &inputs {
            let vals: Vec<Val<'_>> = binner
                .names
                .iter()
                .map(|n| {
                    std::str::from_utf8(n)
                        .ok()
                        .and_then(|n| rec.get(n))
                        .map(Scalar::val)
                        .unwrap_or(Val::Null)
                })
                .collect();
            binner.record_hits(|k| vals[k], &mut scratch.hits);
        }
    }
    if let Some(Some(id_column)) = capture {
        for rec in &inputs {
            scratch
                .ids
                .push(rec.get(id_column).and_then(|v| v.val().id()));
        }
    }
    scratch.predictions = line.predictions;
    scratch.probabilities = line.probabilities;
    let request_id = match line.request_id {
        Some(Scalar::Text(s)) => Some(s),
        _ => None,
    };
    Ok(LineFields {
        timestamp_ms: line.timestamp_ms,
        endpoint: line.endpoint,
        model: line.model,
        version,
        status: line.status,
        latency_us: line.latency_us,
        unseen: line.unseen_categories,
        error: line.error.is_some(),
        request_id,
        records: inputs.len(),
    })
}

/// An input value as the fast parser sees it (strings borrowed from the line).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Null,
    /// An array or object: not a feature value.
    Other,
}

impl Val<'_> {
    /// The value as a record id (`None` for null, arrays and objects).
    fn id(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.to_string()),
            Val::Num(n) => Some(n.to_string()),
            Val::Bool(b) => Some(b.to_string()),
            Val::Null | Val::Other => None,
        }
    }
}

/// An input value as ingestion needs it: parsed without building a `serde_json::Value`.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
    Null,
    /// An array or object: not a feature value.
    Other,
}

impl Scalar<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            Scalar::Number(n) => Val::Num(*n),
            Scalar::Text(s) => Val::Str(s),
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Null => Val::Null,
            Scalar::Other => Val::Other,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, string, boolean or null")
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Scalar<'a>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Scalar<'a>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Where a record value sits in the line: kept between lines without borrowing the line.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Num(f64),
    Str(u32, u32),
    Bool(bool),
    Null,
    Other,
}

impl Slot {
    fn val(self, line: &str) -> Val<'_> {
        match self {
            Slot::Num(n) => Val::Num(n),
            Slot::Str(a, b) => Val::Str(&line[a as usize..b as usize]),
            Slot::Bool(b) => Val::Bool(b),
            Slot::Null => Val::Null,
            Slot::Other => Val::Other,
        }
    }
}

/// A single-pass parser for the lines `serve::log` writes: borrowed, field-skipping, no
/// per-record map; record keys are matched to baseline features by position (the writer keeps
/// the schema's order) with a scan as fallback. It gives up (`None`) on anything unusual — an
/// escape in a string it needs, a duplicate field, a value of the wrong type, bad JSON — and
/// `serde_json` then decides, so both paths accept and reject exactly the same lines.
mod fast {
    use super::{BaselineBinner, Baselines, LineFields, Scratch, Slot};
    use std::borrow::Cow;

    struct Cur<'a> {
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cur<'a> {
        #[inline]
        fn peek(&mut self) -> Option<u8> {
            while let Some(c) = self.b.get(self.i) {
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    self.i += 1;
                } else {
                    return Some(*c);
                }
            }
            None
        }

        #[inline]
        fn eat(&mut self, c: u8) -> Option<()> {
            if self.peek()? == c {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }

        /// After a value in a list: `true` at the closing `close`, `false` after a comma.
        #[inline]
        fn next_or_end(&mut self, close: u8) -> Option<bool> {
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    Some(false)
                }
                c if c == close => {
                    self.i += 1;
                    Some(true)
                }
                _ => None,
            }
        }

        /// Opens a list or object; `true` when it is empty (and already closed).
        #[inline]
        fn open(&mut self, open: u8, close: u8) -> Option<bool> {
            self.eat(open)?;
            if self.peek()? == close {
                self.i += 1;
                return Some(true);
            }
            Some(false)
        }

        /// A string without escapes or control characters, as a byte range of the line.
        #[inline]
        fn str(&mut self) -> Option<(usize, usize)> {
            self.eat(b'"')?;
            let start = self.i;
            loop {
                let c = *self.b.get(self.i)?;
                if c == b'"' {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end));
                }
                if c == b'\\' || c < 0x20 {
                    return None;
                }
                self.i += 1;
            }
        }

        fn string(&mut self) -> Option<&'a str> {
            let (a, b) = self.str()?;
            Some(&self.s[a..b])
        }

        fn skip_str(&mut self) -> Option<()> {
            self.eat(b'"')?;
            loop {
                let c = *self.b.get(self.i)?;
                self.i += 1;
                match c {
                    b'"' => return Some(()),
                    b'\\' => {
                        let e = *self.b.get(self.i)?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                            b'u' => {
                                let hex = self.b.get(self.i..self.i + 4)?;
                                if !hex.iter().all(u8::is_ascii_hexdigit) {
                                    return None;
                                }
                                self.i += 4;
                            }
                            _ => return None,
                        }
                    }
                    c if c < 0x20 => return None,
                    _ => {}
                }
            }
        }

        /// A number's text, checked against JSON's grammar.
        fn number(&mut self) -> Option<&'a str> {
            self.peek()?;
            let (b, start) = (self.b, self.i);
            let mut i = start;
            let digits = |i: &mut usize| {
                let d = *i;
                while b.get(*i).is_some_and(u8::is_ascii_digit) {
                    *i += 1;
                }
                *i > d
            };
            if b.get(i) == Some(&b'-') {
                i += 1;
            }
            match b.get(i)? {
                b'0' => i += 1,
                b'1'..=b'9' => {
                    digits(&mut i);
                }
                _ => return None,
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
                if !digits(&mut i) {
                    return None;
                }
            }
            if matches!(b.get(i), Some(b'e' | b'E')) {
                i += 1;
                if matches!(b.get(i), Some(b'+' | b'-')) {
                    i += 1;
                }
                if !digits(&mut i) {
                    return None;
                }
            }
            self.i = i;
            Some(&self.s[start..i])
        }

        fn int<T: std::str::FromStr>(&mut self) -> Option<T> {
            let t = self.number()?;
            if t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                return None;
            }
            t.parse().ok()
        }

        fn f64(&mut self) -> Option<f64> {
            let x: f64 = self.number()?.parse().ok()?;
            x.is_finite().then_some(x)
        }

        fn lit(&mut self, word: &[u8]) -> Option<()> {
            self.peek()?;
            if self.b[self.i..].starts_with(word) {
                self.i += word.len();
                Some(())
            } else {
                None
            }
        }

        /// Consumes a `null` if one is next.
        fn null(&mut self) -> bool {
            self.peek() == Some(b'n') && self.lit(b"null").is_some()
        }

        fn skip_value(&mut self, depth: u32) -> Option<()> {
            if depth > 100 {
                return None;
            }
            match self.peek()? {
                b'"' => self.skip_str(),
                b'{' => {
                    if self.open(b'{', b'}')? {
                        return Some(());
                    }
                    loop {
                        self.skip_str()?;
                        self.eat(b':')?;
                        self.skip_value(depth + 1)?;
                        if self.next_or_end(b'}')? {
                            return Some(());
                        }
                    }
                }
                b'[' => {
                    if self.open(b'[', b']')? {
                        return Some(());
                    }
                    loop {
                        self.skip_value(depth + 1)?;
                        if self.next_or_end(b']')? {
                            return Some(());
                        }
                    }
                }
                b't' => self.lit(b"true"),
                b'f' => self.lit(b"false"),
                b'n' => self.lit(b"null"),
                _ => self.number().map(|_| ()),
            }
        }

        /// A record value.
        fn slot(&mut self) -> Option<Slot> {
            Some(match self.peek()? {
                b'"' => {
                    let (a, b) = self.str()?;
                    Slot::Str(u32::try_from(a).ok()?, u32::try_from(b).ok()?)
                }
                b't' => {
                    self.lit(b"true")?;
                    Slot::Bool(true)
                }
                b'f' => {
                    self.lit(b"false")?;
                    Slot::Bool(false)
                }
                b'n' => {
                    self.lit(b"null")?;
                    Slot::Null
                }
                b'[' | b'{' => {
                    self.skip_value(0)?;
                    Slot::Other
                }
                _ => Slot::Num(self.f64()?),
            })
        }
    }

    const REQUEST_ID: u16 = 1;
    const TIMESTAMP: u16 = 1 << 1;
    const ENDPOINT: u16 = 1 << 2;
    const MODEL: u16 = 1 << 3;
    const VERSION: u16 = 1 << 4;
    const STATUS: u16 = 1 << 5;
    const LATENCY: u16 = 1 << 6;
    const INPUTS: u16 = 1 << 7;
    const PREDICTIONS: u16 = 1 << 8;
    const PROBABILITIES: u16 = 1 << 9;
    const UNSEEN: u16 = 1 << 10;
    const ERROR: u16 = 1 << 11;
    const REQUIRED: u16 = TIMESTAMP | ENDPOINT | MODEL | STATUS | LATENCY;

    pub(super) fn line<'a>(
        s: &'a str,
        baselines: &mut Baselines,
        capture: Option<Option<&str>>,
        sc: &mut Scratch,
    ) -> Option<LineFields<'a>> {
        let id_column = capture.flatten();
        let mut c = Cur {
            s,
            b: s.as_bytes(),
            i: 0,
        };
        let mut seen = 0u16;
        let (mut timestamp_ms, mut status, mut latency_us, mut unseen) = (0i64, 0u16, 0u64, 0u64);
        let (mut endpoint, mut model, mut request_id) = ("", "", None);
        let (mut version, mut error, mut records) = (None::<i64>, false, 0usize);
        let mut deferred = None;
        if !c.open(b'{', b'}')? {
            loop {
                let key = c.str()?;
                c.eat(b':')?;
                let bit = match &c.b[key.0..key.1] {
                    b"request_id" => REQUEST_ID,
                    b"timestamp_ms" => TIMESTAMP,
                    b"endpoint" => ENDPOINT,
                    b"model" => MODEL,
                    b"version" => VERSION,
                    b"status" => STATUS,
                    b"latency_us" => LATENCY,
                    b"inputs" => INPUTS,
                    b"predictions" => PREDICTIONS,
                    b"probabilities" => PROBABILITIES,
                    b"unseen_categories" => UNSEEN,
                    b"error" => ERROR,
                    _ => 0,
                };
                if seen & bit != 0 {
                    return None; // a duplicate field: serde's error
                }
                seen |= bit;
                match bit {
                    REQUEST_ID if c.peek()? == b'"' => request_id = Some(c.string()?),
                    TIMESTAMP => timestamp_ms = c.int()?,
                    ENDPOINT => endpoint = c.string()?,
                    MODEL => model = c.string()?,
                    VERSION => version = if c.null() { None } else { Some(c.int()?) },
                    STATUS => status = c.int()?,
                    LATENCY => latency_us = c.int()?,
                    INPUTS if c.null() => {}
                    INPUTS if seen & (MODEL | VERSION) == MODEL | VERSION => {
                        let binner = baselines.get(model, version.unwrap_or(0));
                        records = inputs(&mut c, binner.as_deref(), id_column, sc)?;
                    }
                    INPUTS => {
                        // The model version is not known yet: parse once it is.
                        deferred = Some(c.i);
                        c.skip_value(0)?;
                    }
                    PREDICTIONS => {
                        if !c.open(b'[', b']')? {
                            loop {
                                sc.predictions.push(c.int()?);
                                if c.next_or_end(b']')? {
                                    break;
                                }
                            }
                        }
                    }
                    PROBABILITIES => {
                        if !c.open(b'[', b']')? {
                            loop {
                                sc.probabilities.push(c.f64()?);
                                if c.next_or_end(b']')? {
                                    break;
                                }
                            }
                        }
                    }
                    UNSEEN => unseen = c.int()?,
                    ERROR => {
                        error = !c.null();
                        if error {
                            c.skip_value(0)?;
                        }
                    }
                    _ => c.skip_value(0)?,
                }
                if c.next_or_end(b'}')? {
                    break;
                }
            }
        }
        if c.peek().is_some() || seen & REQUIRED != REQUIRED {
            return None;
        }
        let version = version.unwrap_or(0);
        if let Some(at) = deferred {
            let binner = baselines.get(model, version);
            let mut d = Cur {
                s,
                b: s.as_bytes(),
                i: at,
            };
            records = inputs(&mut d, binner.as_deref(), id_column, sc)?;
        }
        Some(LineFields {
            timestamp_ms,
            endpoint: Cow::Borrowed(endpoint),
            model: Cow::Borrowed(model),
            version,
            status,
            latency_us,
            unseen,
            error,
            request_id: request_id.map(Cow::Borrowed),
            records,
        })
    }

    /// The `inputs` list: one hit per feature per record into `sc.hits`, and the ids.
    fn inputs(
        c: &mut Cur<'_>,
        binner: Option<&BaselineBinner>,
        id_column: Option<&str>,
        sc: &mut Scratch,
    ) -> Option<usize> {
        if c.open(b'[', b']')? {
            return Some(0);
        }
        let nf = binner.map_or(0, |p| p.names.len());
        let mut n = 0;
        loop {
            sc.slots.clear();
            sc.slots.resize(nf, Slot::Null);
            let mut id = None;
            if !c.open(b'{', b'}')? {
                let mut hint = 0;
                loop {
                    let key = c.str()?;
                    c.eat(b':')?;
                    let k = &c.b[key.0..key.1];
                    let feature = binner.and_then(|p| {
                        if p.names.get(hint).is_some_and(|n| **n == *k) {
                            Some(hint)
                        } else {
                            p.names.iter().position(|n| **n == *k)
                        }
                    });
                    let is_id = id_column.is_some_and(|col| col.as_bytes() == k);
                    if feature.is_some() || is_id {
                        let v = c.slot()?;
                        if let Some(f) = feature {
                            sc.slots[f] = v;
                            hint = f + 1;
                        }
                        if is_id {
                            id = Some(v);
                        }
                    } else {
                        c.skip_value(0)?;
                    }
                    if c.next_or_end(b'}')? {
                        break;
                    }
                }
            }
            if let Some(p) = binner {
                let slots = &sc.slots;
                p.record_hits(|k| slots[k].val(c.s), &mut sc.hits);
            }
            if id_column.is_some() {
                sc.ids.push(id.and_then(|v| v.val(c.s).id()));
            }
            n += 1;
            if c.next_or_end(b']')? {
                return Some(n);
            }
        }
    }
}

/// Where one record put one feature's value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hit {
    Bin(usize, f64),
    Category(usize),
    Null,
    Unseen,
}

fn apply(counts: &mut FeatureCounts, hit: Hit) {
    match (counts, hit) {
        (
            FeatureCounts::Numeric {
                counts,
                min,
                max,
                sample,
                ..
            },
            Hit::Bin(b, x),
        ) => {
            counts[b] += 1;
            if let Some(s) = sample {
                s.push(x);
            }
            *min = Some(min.map_or(x, |m| m.min(x)));
            *max = Some(max.map_or(x, |m| m.max(x)));
        }
        (FeatureCounts::Numeric { nulls, .. }, _) => *nulls += 1,
        (FeatureCounts::Categorical { counts, .. }, Hit::Category(k)) => counts[k] += 1,
        (FeatureCounts::Categorical { unseen, .. }, Hit::Unseen) => *unseen += 1,
        (FeatureCounts::Categorical { nulls, .. }, _) => *nulls += 1,
    }
}

/// The windows of one endpoint, model and version within a chunk.
struct Group {
    endpoint: String,
    model: String,
    version: i64,
    binner: Option<Arc<BaselineBinner>>,
    accs: Vec<Acc>,
    /// (granularity, window start) → position in `accs`.
    index: HashMap<(i64, i64), usize>,
    /// Per granularity: the last window used (lines come mostly in time order).
    last: Vec<(i64, usize)>,
}

/// A window being accumulated; `feats` in baseline order.
struct Acc {
    granularity_ms: i64,
    window_start: i64,
    w: Window,
    feats: Vec<FeatureCounts>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: u64, x: f64, c: &str) -> String {
        format!(
            "{{\"request_id\":\"r{i}\",\"client_request_id\":null,\"timestamp_ms\":{},\"endpoint\":\"e\",\
             \"model\":\"m\",\"version\":1,\"arm\":\"primary\",\"status\":200,\"latency_us\":{},\
             \"inputs\":[{{\"id\":\"{i}\",\"x\":{x},\"c\":\"{c}\"}}],\"predictions\":[1],\
             \"probabilities\":[0.8],\"unseen_categories\":0}}\n",
            1_700_000_000_000u64 + i * 1000,
            100 + i
        )
    }

    #[test]
    fn window_counts_from_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        let logs = dir.path().join("logs/e");
        std::fs::create_dir_all(&logs).unwrap();
        let text: String = (0..10)
            .map(|i| line(i, i as f64, if i % 2 == 0 { "a" } else { "z" }))
            .collect();
        std::fs::write(logs.join("0000000000001-1-0000.jsonl"), text).unwrap();
        let baseline = Arc::new(Baseline {
            features: vec![
                FeatureBaseline::numeric("x", &(0..100).map(f64::from).collect::<Vec<_>>()),
                FeatureBaseline::categorical("c", &[Some("a"), Some("b")]),
            ],
            preparation: None,
            rows: Default::default(),
        });
        let mut ing = Ingestor::open(
            store.db_path(),
            &[60_000],
            Box::new(move |m, v| (m == "m" && v == 1).then(|| baseline.clone())),
        )
        .unwrap();
        let r = ing.ingest_dir(&dir.path().join("logs")).unwrap();
        assert_eq!((r.lines, r.records, r.corrupt), (10, 10, 0));
        let w = ing.windows(60_000).unwrap();
        let total: u64 = w.iter().map(|(_, w)| w.requests).sum();
        assert_eq!(total, 10);
        let mut cat = [0u64; 2];
        let mut unseen = 0;
        for (_, w) in &w {
            if let FeatureCounts::Categorical {
                counts, unseen: u, ..
            } = &w.aggregates.features["c"]
            {
                cat[0] += counts[0];
                cat[1] += counts[1];
                unseen += u;
            }
        }
        assert_eq!((cat, unseen), ([5, 0], 5));
        // Each record is also a row (x, c's position; unseen "z" one past the categories),
        // kept through the store's merge of windows.
        let mut rows: Vec<Vec<Option<f64>>> = w
            .iter()
            .flat_map(|(_, w)| w.aggregates.rows.rows.clone())
            .collect();
        rows.sort_by(|a, b| a[0].unwrap().total_cmp(&b[0].unwrap()));
        let want: Vec<Vec<Option<f64>>> = (0..10)
            .map(|i| vec![Some(f64::from(i)), Some(if i % 2 == 0 { 0.0 } else { 2.0 })])
            .collect();
        assert_eq!(rows, want);
    }
    /// The fast parser accepts exactly what serde accepts, with the same result; it may give
    /// up on a line serde takes (then serde parses it).
    #[test]
    fn fast_and_serde_paths_agree() {
        let baseline = Arc::new(Baseline {
            features: vec![
                FeatureBaseline::numeric("x", &(0..100).map(f64::from).collect::<Vec<_>>()),
                FeatureBaseline::categorical("c", &[Some("a"), Some("b"), Some("1.5")]),
            ],
            preparation: None,
            rows: Default::default(),
        });
        let mut baselines = Baselines {
            loader: Box::new(move |m, v| (m == "m" && v == 1).then(|| baseline.clone())),
            cache: HashMap::new(),
            last: None,
        };
        let base = line(3, 4.0, "a");
        let base = base.trim_end();
        let mut cases: Vec<String> = vec![
            base.to_string(),
            base.replace("\"x\":4", "\"x\":\"4.5\""),
            base.replace("\"x\":4", "\"x\":null"),
            base.replace("\"x\":4", "\"x\":[1,{\"q\":2}]"),
            base.replace("\"x\":4", "\"x\":-1.5e2"),
            base.replace("\"x\":4", "\"x\":1e400"),
            base.replace("\"x\":4", "\"x\":01"),
            base.replace("\"x\":4", "\"x\":.5"),
            base.replace("\"c\":\"a\"", "\"c\":1.5"),
            base.replace("\"c\":\"a\"", "\"c\":\"a\\u0041\""),
            base.replace("\"c\":\"a\"", "\"c\":true"),
            base.replace("\"c\":\"a\"", "\"c\":\"a\",\"c\":\"b\""),
            base.replace("\"c\":\"a\"", "\"c\":\"zz\",\"extra\":{\"k\":[\"\\\"\"]}"),
            base.replace("\"version\":1,", ""),
            base.replace("\"version\":1", "\"version\":null"),
            base.replace("\"version\":1,", "") + "",
            base.replace("\"status\":200", "\"status\":70000"),
            base.replace("\"status\":200,", ""),
            base.replace("\"status\":200", "\"status\":200,\"status\":201"),
            base.replace("\"timestamp_ms\":", "\"timestamp_ms\":1.5,\"t\":"),
            base.replace("\"predictions\":[1]", "\"predictions\":[256]"),
            base.replace("\"predictions\":[1]", "\"predictions\":null"),
            base.replace("\"probabilities\":[0.8]", "\"probabilities\":[1]"),
            base.replace("\"probabilities\":[0.8]", "\"probabilities\":[null]"),
            base.replace(
                "\"unseen_categories\":0",
                "\"unseen_categories\":0,\"error\":null",
            ),
            base.replace(
                "\"unseen_categories\":0",
                "\"unseen_categories\":0,\"error\":\"BAD\"",
            ),
            base.replace("\"endpoint\":\"e\"", "\"endpoint\":\"e\\n\""),
            base.replace(",", " ,\t"),
            format!("  {base}  "),
            format!("{base}x"),
            base.replace("\"inputs\":[", "\"inputs\":[{},"),
            base.replace("\"inputs\":[", "\"inputs\":[1,"),
            base.replace("\"inputs\":[{\"id\":\"3\",", "\"inputs\":[{\"id\":3,"),
            base.replace("\"inputs\":[{\"id\":\"3\",", "\"inputs\":[{"),
            base.replace(
                "\"inputs\":[{\"id\":\"3\",\"x\":4,\"c\":\"a\"}]",
                "\"inputs\":null",
            ),
            "{}".into(),
            "[]".into(),
            "".into(),
            "{\"timestamp_ms\": garbage}".into(),
        ];
        // Keys in another order: inputs before the model version.
        let v: serde_json::Value = serde_json::from_str(base).unwrap();
        let mut pairs: Vec<(String, serde_json::Value)> =
            v.as_object().unwrap().clone().into_iter().collect();
        pairs.reverse();
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
            .collect();
        cases.push(format!("{{{}}}", body.join(",")));
        let mut fast_taken = 0;
        for (n, case) in cases.iter().enumerate() {
            for capture in [None, Some(None), Some(Some("id"))] {
                let mut a = Scratch::default();
                let mut b = Scratch::default();
                let slow = slow_line(case.as_bytes(), &mut baselines, capture, &mut b);
                let fast = std::str::from_utf8(case.as_bytes())
                    .ok()
                    .and_then(|s| fast::line(s, &mut baselines, capture, &mut a));
                let Some(f) = fast else { continue };
                fast_taken += 1;
                let s =
                    slow.unwrap_or_else(|e| panic!("case {n}: fast took {case} but serde: {e}"));
                let key = |l: &LineFields| {
                    (
                        l.timestamp_ms,
                        l.endpoint.to_string(),
                        l.model.to_string(),
                        l.version,
                        l.status,
                        l.latency_us,
                        l.unseen,
                        l.error,
                        l.request_id.as_deref().map(str::to_string),
                        l.records,
                    )
                };
                assert_eq!(key(&f), key(&s), "case {n}: {case}");
                assert_eq!(a.hits, b.hits, "case {n}: {case}");
                assert_eq!(a.ids, b.ids, "case {n}: {case}");
                assert_eq!(a.predictions, b.predictions, "case {n}: {case}");
                assert_eq!(a.probabilities, b.probabilities, "case {n}: {case}");
            }
        }
        // The common shapes do take the fast path.
        assert!(fast_taken >= 60, "fast path taken {fast_taken} times");
    }
}
