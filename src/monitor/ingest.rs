//! Exactly-once ingestion of the inference log (`serve::log`) into per-window aggregates in the
//! store.
//!
//! The parts live beside it: [`super::tail`] reads files exactly once, [`super::line`] turns a
//! line into hits per baseline feature, [`super::window`] holds the window types; this module
//! adds each line's hits to its windows and writes them.
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

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub use super::line::BaselineLoader;
use super::line::{BaselineBinner, Baselines, Hit, Scratch, parse_line};
use super::multivariate::MAX_WINDOW_ROWS;
pub use super::tail::DEFAULT_MAX_LINE;
pub(crate) use super::tail::{LineSink, Quarantined, Staged, TailCounts, Tailer};
pub use super::window::{
    Baseline, FeatureBaseline, FeatureCounts, RAW_PREFIX, Window, WindowAggregates, WindowKey,
};
use crate::error::{Error, Result};

/// Window granularities used when none are configured: 5 minutes, 1 hour, 1 day.
pub const DEFAULT_GRANULARITIES_MS: [i64; 3] = [300_000, 3_600_000, 86_400_000];

/// Bins of the positive-class probability histogram, equal width on [0, 1].
pub const PROBA_BINS: usize = 20;

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
    use crate::monitor::line::{LineFields, fast, slow_line};

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
