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
//! — when a [`Profile`] for the model version is known — counts on the baseline's percentile
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

use super::stats::{Binner, FINE_BINS, NumericBaseline, NumericCounts};
use crate::error::{Error, Result};

/// Window granularities used when none are configured: 5 minutes, 1 hour, 1 day.
pub const DEFAULT_GRANULARITIES_MS: [i64; 3] = [300_000, 3_600_000, 86_400_000];

/// Bins of the positive-class probability histogram, equal width on [0, 1].
pub const PROBA_BINS: usize = 20;

/// Bytes read from a file per transaction.
const READ_CHUNK: usize = 8 << 20;

/// Quarantined text is cut here.
const QUARANTINE_TEXT: usize = 4096;

/// What a model version's inputs are compared with: one entry per input feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub features: Vec<FeatureProfile>,
}

/// The baseline of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureProfile {
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

impl FeatureProfile {
    pub fn name(&self) -> &str {
        match self {
            FeatureProfile::Numeric { name, .. } | FeatureProfile::Categorical { name, .. } => name,
        }
    }

    /// A categorical baseline from raw values (`None` is null); categories most frequent first.
    pub fn categorical(name: &str, values: &[Option<&str>]) -> FeatureProfile {
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
        FeatureProfile::Categorical {
            name: name.to_string(),
            categories: pairs.iter().map(|p| p.0.to_string()).collect(),
            counts: pairs.iter().map(|p| p.1).collect(),
            nulls,
        }
    }

    /// A numeric baseline from raw values (NaN is null).
    pub fn numeric(name: &str, values: &[f64]) -> FeatureProfile {
        FeatureProfile::Numeric {
            name: name.to_string(),
            baseline: NumericBaseline::from_values(values),
        }
    }
}

/// One feature's counts in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureCounts {
    /// Counts on the baseline's `FINE_BINS` percentile bins.
    Numeric {
        counts: Vec<u64>,
        nulls: u64,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Counts per baseline category, in the profile's order.
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
                },
                FeatureCounts::Numeric {
                    counts: c,
                    nulls: n,
                    min: lo,
                    max: hi,
                },
            ) => {
                add(counts, c);
                *nulls += n;
                *min = opt_fold(*min, *lo, f64::min);
                *max = opt_fold(*max, *hi, f64::max);
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
            // The profile of a model version does not change; a mismatch keeps the first.
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
}

impl WindowAggregates {
    fn merge(&mut self, other: &WindowAggregates) {
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
}

/// The line fields ingestion needs; a line without one of the required ones is corrupt.
#[derive(Deserialize)]
struct Line<'a> {
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

/// A profile made ready for binning.
struct Prepared {
    profile: Arc<Profile>,
    binners: Vec<Option<Binner>>,
    index: Vec<HashMap<String, usize>>,
}

impl Prepared {
    fn new(profile: Arc<Profile>) -> Prepared {
        let binners = profile
            .features
            .iter()
            .map(|f| match f {
                FeatureProfile::Numeric { baseline, .. } => Some(baseline.binner()),
                FeatureProfile::Categorical { .. } => None,
            })
            .collect();
        let index = profile
            .features
            .iter()
            .map(|f| match f {
                FeatureProfile::Categorical { categories, .. } => categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
                FeatureProfile::Numeric { .. } => HashMap::new(),
            })
            .collect();
        Prepared {
            profile,
            binners,
            index,
        }
    }

    fn empty_list(&self) -> Vec<FeatureCounts> {
        self.profile
            .features
            .iter()
            .map(|f| match f {
                FeatureProfile::Numeric { .. } => FeatureCounts::Numeric {
                    counts: vec![0; FINE_BINS],
                    nulls: 0,
                    min: None,
                    max: None,
                },
                FeatureProfile::Categorical { categories, .. } => FeatureCounts::Categorical {
                    counts: vec![0; categories.len()],
                    nulls: 0,
                    unseen: 0,
                },
            })
            .collect()
    }
}

/// Looks up the profile of a model version (`None`: no baseline; counts without features).
pub type ProfileLoader = Box<dyn FnMut(&str, i64) -> Option<Arc<Profile>> + Send>;

/// Ingests inference logs into a store's monitoring tables.
pub struct Ingestor {
    conn: Connection,
    granularities: Vec<i64>,
    loader: ProfileLoader,
    profiles: HashMap<(String, i64), Option<Arc<Prepared>>>,
}

struct Quarantined {
    line: u64,
    offset: u64,
    error: String,
    text: String,
}

impl Ingestor {
    /// Opens its own connection to the store database at `db_path` (already migrated by
    /// `SqliteStore::open`).
    pub fn open(db_path: &Path, granularities: &[i64], loader: ProfileLoader) -> Result<Ingestor> {
        if granularities.iter().any(|g| *g <= 0) {
            return Err(Error::invalid(format!(
                "window granularities must be positive milliseconds, got {granularities:?}"
            )));
        }
        let conn = Connection::open(db_path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Ingestor {
            conn,
            granularities: granularities.to_vec(),
            loader,
            profiles: HashMap::new(),
        })
    }

    fn prepared(&mut self, model: &str, version: i64) -> Option<Arc<Prepared>> {
        let key = (model.to_string(), version);
        if let Some(p) = self.profiles.get(&key) {
            return p.clone();
        }
        let p = (self.loader)(model, version).map(|p| Arc::new(Prepared::new(p)));
        self.profiles.insert(key, p.clone());
        p
    }

    /// One pass over every `*.jsonl` under `dir` (the log folder or one endpoint's folder).
    pub fn ingest_dir(&mut self, dir: &Path) -> Result<IngestReport> {
        let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut files = Vec::new();
        collect_logs(&root, 0, &mut files)?;
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
        let mut report = IngestReport::default();
        for path in &files {
            self.ingest_file(path, &mut report)?;
        }
        // Files seen before under this folder that are gone.
        let prefix = root.to_string_lossy().to_string();
        let known: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT path FROM monitor_files WHERE deleted_at IS NULL")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for p in known {
            if p.starts_with(&prefix) && !Path::new(&p).exists() {
                self.conn.execute(
                    "UPDATE monitor_files SET deleted_at = ?2, updated_at = ?2 WHERE path = ?1",
                    params![p, crate::store::now_ms()],
                )?;
                report.deleted += 1;
            }
        }
        Ok(report)
    }

    /// Ingests what is new in one file.
    pub fn ingest_file(&mut self, path: &Path, report: &mut IngestReport) -> Result<()> {
        let key = path.to_string_lossy().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let identity = format!("{}:{}", meta.dev(), meta.ino());
        let row: Option<(String, i64, i64)> = self
            .conn
            .query_row(
                "SELECT identity, offset, lines FROM monitor_files WHERE path = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (mut offset, mut lines, mut reset) = match row {
            None => (0u64, 0u64, false),
            Some((id, off, n)) if id == identity && meta.len() >= off as u64 => {
                (off as u64, n as u64, false)
            }
            Some(_) => (0, 0, true),
        };
        report.files += 1;
        if meta.len() == offset && !reset {
            return Ok(());
        }
        if reset {
            report.resets += 1;
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buf =
            Vec::with_capacity(READ_CHUNK.min(meta.len().saturating_sub(offset) as usize + 1));
        loop {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| Error::io(path, e))?;
            buf.clear();
            (&mut file)
                .take(READ_CHUNK as u64)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(path, e))?;
            let Some(end) = buf.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else {
                report.waiting_bytes += buf.len() as u64;
                if reset {
                    // Record the reset even when nothing complete is there yet.
                    self.commit(&key, &identity, offset, lines, &HashMap::new(), &[], true)?;
                }
                return Ok(());
            };
            let (windows, bad, n, records) = self.aggregate(&buf[..end], lines, offset);
            lines += n;
            offset += end as u64;
            report.lines += n;
            report.records += records;
            report.corrupt += bad.len() as u64;
            report.bytes += end as u64;
            self.commit(&key, &identity, offset, lines, &windows, &bad, reset)?;
            reset = false;
            if buf.len() < READ_CHUNK {
                report.waiting_bytes += (buf.len() - end) as u64;
                return Ok(());
            }
        }
    }

    /// Aggregates complete lines (`chunk` ends with a newline) that follow `lines_before` lines
    /// at byte `offset`: the windows, the corrupt lines, the line and record counts.
    ///
    /// Each line's feature values are binned once, then added straight into the accumulator of
    /// each of its windows (found without allocating); nothing per line is cloned.
    fn aggregate(
        &mut self,
        chunk: &[u8],
        lines_before: u64,
        offset: u64,
    ) -> (HashMap<WindowKey, Window>, Vec<Quarantined>, u64, u64) {
        let mut groups: Vec<Group> = Vec::new();
        let mut hits: Vec<Hit> = Vec::new();
        let mut bad = Vec::new();
        let (mut n, mut records, mut pos) = (0u64, 0u64, 0usize);
        for raw in chunk.split_inclusive(|b| *b == b'\n') {
            n += 1;
            let line_no = lines_before + n;
            let at = offset + pos as u64;
            pos += raw.len();
            let text = raw.strip_suffix(b"\n").unwrap_or(raw);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let parsed: std::result::Result<Line, _> = serde_json::from_slice(text);
            let line = match parsed {
                Ok(l) => l,
                Err(e) => {
                    let cut = &text[..text.len().min(QUARANTINE_TEXT)];
                    bad.push(Quarantined {
                        line: line_no,
                        offset: at,
                        error: e.to_string(),
                        text: String::from_utf8_lossy(cut).into_owned(),
                    });
                    continue;
                }
            };
            let version = line.version.unwrap_or(0);
            let gi = match groups.iter().position(|g| {
                g.version == version && g.endpoint == line.endpoint && g.model == line.model
            }) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        endpoint: line.endpoint.to_string(),
                        model: line.model.to_string(),
                        version,
                        prepared: self.prepared(&line.model, version),
                        windows: HashMap::new(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[gi];
            hits.clear();
            let inputs = line.inputs.as_deref().unwrap_or(&[]);
            if let Some(prep) = &group.prepared {
                for rec in inputs {
                    bin_record(prep, rec, &mut hits);
                }
            }
            records += inputs.len() as u64;
            let error = line.status >= 400 || line.error.is_some();
            for g in &self.granularities {
                let start = line.timestamp_ms.div_euclid(*g) * g;
                let acc = group.windows.entry((*g, start)).or_insert_with(|| Acc {
                    w: Window::default(),
                    feats: group
                        .prepared
                        .as_ref()
                        .map(|p| p.empty_list())
                        .unwrap_or_default(),
                });
                let w = &mut acc.w;
                w.requests += 1;
                w.errors += u64::from(error);
                w.records += inputs.len() as u64;
                w.latency_sum_us += line.latency_us;
                w.latency_max_us = w.latency_max_us.max(line.latency_us);
                let a = &mut w.aggregates;
                a.unseen_reported += line.unseen_categories;
                for p in &line.predictions {
                    a.predictions[usize::from(*p != 0)] += 1;
                }
                if !line.probabilities.is_empty() && a.probabilities.is_empty() {
                    a.probabilities = vec![0; PROBA_BINS];
                }
                for p in &line.probabilities {
                    if p.is_finite() {
                        let b =
                            ((p.clamp(0.0, 1.0) * PROBA_BINS as f64) as usize).min(PROBA_BINS - 1);
                        a.probabilities[b] += 1;
                    }
                }
                let nf = acc.feats.len();
                if nf > 0 {
                    for (k, hit) in hits.iter().enumerate() {
                        apply(&mut acc.feats[k % nf], *hit);
                    }
                }
            }
        }
        let mut windows = HashMap::new();
        for g in groups {
            for ((granularity_ms, window_start), mut acc) in g.windows {
                if let Some(prep) = &g.prepared {
                    acc.w.aggregates.features = prep
                        .profile
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
                    granularity_ms,
                    window_start,
                };
                windows.insert(key, acc.w);
            }
        }
        (windows, bad, n, records)
    }

    /// Writes the windows, the quarantined lines and the file's new offset in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        path: &str,
        identity: &str,
        offset: u64,
        lines: u64,
        windows: &HashMap<WindowKey, Window>,
        bad: &[Quarantined],
        reset: bool,
    ) -> Result<()> {
        let now = crate::store::now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (k, w) in windows {
            let existing: Option<(i64, i64, i64, i64, i64, String)> = tx
                .query_row(
                    "SELECT requests, errors, records, latency_sum_us, latency_max_us, aggregates
                     FROM monitor_windows WHERE endpoint = ?1 AND model = ?2 AND version = ?3
                     AND granularity_ms = ?4 AND window_start = ?5",
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
                let old = Window {
                    requests: requests as u64,
                    errors: errors as u64,
                    records: records as u64,
                    latency_sum_us: sum as u64,
                    latency_max_us: max as u64,
                    aggregates,
                };
                total = old;
                total.merge(w);
            }
            let json = serde_json::to_string(&total.aggregates)
                .map_err(|e| Error::invalid(format!("window aggregates: {e}")))?;
            tx.execute(
                "INSERT OR REPLACE INTO monitor_windows (endpoint, model, version, granularity_ms,
                 window_start, requests, errors, records, latency_sum_us, latency_max_us, aggregates)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
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
                ],
            )?;
        }
        for q in bad {
            tx.execute(
                "INSERT OR IGNORE INTO monitor_quarantine (path, line, offset, error, text, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![path, q.line as i64, q.offset as i64, q.error, q.text, now],
            )?;
        }
        tx.execute(
            "INSERT INTO monitor_files (path, identity, offset, lines, corrupt, resets, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(path) DO UPDATE SET identity = ?2, offset = ?3, lines = ?4,
               corrupt = corrupt + ?5, resets = resets + ?6, deleted_at = NULL, updated_at = ?7",
            params![
                path,
                identity,
                offset as i64,
                lines as i64,
                bad.len() as i64,
                i64::from(reset),
                now
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The windows of one granularity, oldest first.
    pub fn windows(&self, granularity_ms: i64) -> Result<Vec<(WindowKey, Window)>> {
        let mut stmt = self.conn.prepare(
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

    /// Quarantined lines: (path, 1-based line, error).
    pub fn quarantine(&self) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, line, error FROM monitor_quarantine ORDER BY path, line")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Where one record put one feature's value.
#[derive(Debug, Clone, Copy)]
enum Hit {
    Bin(usize, f64),
    Category(usize),
    Null,
    Unseen,
}

/// Bins one record: one hit per profile feature, in profile order.
fn bin_record(prep: &Prepared, rec: &HashMap<Cow<'_, str>, Scalar<'_>>, hits: &mut Vec<Hit>) {
    for (i, f) in prep.profile.features.iter().enumerate() {
        let v = rec.get(f.name()).unwrap_or(&Scalar::Null);
        let hit = match f {
            FeatureProfile::Numeric { .. } => {
                let x = match v {
                    Scalar::Number(n) => Some(*n),
                    Scalar::Text(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match (x, &prep.binners[i]) {
                    (Some(x), Some(b)) if !x.is_nan() => Hit::Bin(b.bin(x), x),
                    _ => Hit::Null,
                }
            }
            FeatureProfile::Categorical { .. } => {
                let s: Option<Cow<str>> = match v {
                    Scalar::Null | Scalar::Other => None,
                    Scalar::Text(s) => Some(Cow::Borrowed(s.as_ref())),
                    Scalar::Number(n) => Some(Cow::Owned(n.to_string())),
                    Scalar::Bool(b) => Some(Cow::Owned(b.to_string())),
                };
                match s {
                    None => Hit::Null,
                    Some(s) => match prep.index[i].get(s.as_ref()) {
                        Some(k) => Hit::Category(*k),
                        None => Hit::Unseen,
                    },
                }
            }
        };
        hits.push(hit);
    }
}

fn apply(counts: &mut FeatureCounts, hit: Hit) {
    match (counts, hit) {
        (
            FeatureCounts::Numeric {
                counts, min, max, ..
            },
            Hit::Bin(b, x),
        ) => {
            counts[b] += 1;
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
    prepared: Option<Arc<Prepared>>,
    windows: HashMap<(i64, i64), Acc>,
}

/// A window being accumulated; `feats` in profile order.
struct Acc {
    w: Window,
    feats: Vec<FeatureCounts>,
}

fn collect_logs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
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
            collect_logs(&path, depth + 1, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
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
        let profile = Arc::new(Profile {
            features: vec![
                FeatureProfile::numeric("x", &(0..100).map(f64::from).collect::<Vec<_>>()),
                FeatureProfile::categorical("c", &[Some("a"), Some("b")]),
            ],
        });
        let mut ing = Ingestor::open(
            store.db_path(),
            &[60_000],
            Box::new(move |m, v| (m == "m" && v == 1).then(|| profile.clone())),
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
    }
}
