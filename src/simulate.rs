//! Traffic simulator: sends records to a serving endpoint at a fixed rate, optionally drifted,
//! and writes their true labels into the labels folder after a delay, so monitoring has
//! something to watch (`cerebro simulate`, the TUI demo).
//!
//! **Open loop.** Request `k` is due at `start + k / rate` whatever happened to earlier ones: a
//! scheduler thread hands due requests to a pool of sender threads (`concurrency`, each with its
//! own keep-alive connection). A request sent more than [`LATE_AFTER`] after it was due (the
//! pool was busy, the machine overloaded) counts as `late`; it is still sent.
//!
//! **Records** are raw records, as an application holds them: rows of the dataset file drawn
//! without replacement from the held-out test split of the workspace's prepared data
//! ([`SimData::from_config`]), every column but the target; the endpoint's model prepares them.
//! Each pass over the test split is a fresh random permutation of it ([`draw_rows`]), so any
//! run of records is a simple random sample distributed as the training data (the split is
//! random), and "no drift" traffic is not flagged for the resampling noise that drawing with
//! replacement from a small test set adds. Each send gets a fresh record id
//! `<test id>~<run>-<seq>` (the signature's id column, which the endpoint logs), so labels join
//! exactly one prediction.
//!
//! **Scenarios** ([`Scenario`]): `none`; `scale:COLUMN=1.5` (a numeric column of the raw record
//! times the factor, as the Databricks MLOps course does); `skew:COLUMN=VALUE:0.7` (a text
//! column set to VALUE, a raw value such as `Bad Characters`, in 70% of records, the rest
//! unchanged); `concept` (inputs unchanged, but the
//! true label is inverted for records the model is confident about — its probability at least
//! 0.75 or at most 0.25 — so quality drops while inputs look stable).
//!
//! **Labels** go to `<labels dir>/sim-<run>.csv` (`id,label`, 1 = positive class), each due
//! `labels_after` after its request was sent, appended in whole lines. A request that failed gets
//! no label (nothing was predicted). On cancellation, labels still pending are written at once.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::LoadedConfig;
use crate::data::raw::{Cell, RawColumn, RawType};
use crate::error::{Error, Result};

/// A send later than this after its due time counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// Probability distance from 0.5 at which `concept` flips a label (p ≥ 0.75 or p ≤ 0.25).
pub const CONCEPT_CONFIDENCE: f64 = 0.25;

/// A drift scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    None,
    Scale {
        feature: String,
        factor: f64,
    },
    Skew {
        feature: String,
        value: String,
        share: f64,
    },
    Concept,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scenario::None => f.write_str("none"),
            Scenario::Scale { feature, factor } => write!(f, "scale:{feature}={factor}"),
            Scenario::Skew {
                feature,
                value,
                share,
            } => write!(f, "skew:{feature}={value}:{share}"),
            Scenario::Concept => f.write_str("concept"),
        }
    }
}

impl FromStr for Scenario {
    type Err = Error;

    fn from_str(s: &str) -> Result<Scenario> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "drift scenario `{s}`: {why}; write none, scale:FEATURE=FACTOR, skew:FEATURE=VALUE:SHARE or concept"
            ))
        };
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(Scenario::None);
        }
        if s == "concept" {
            return Ok(Scenario::Concept);
        }
        if let Some(rest) = s.strip_prefix("scale:") {
            let (feature, factor) = rest.split_once('=').ok_or_else(|| bad("no `=`"))?;
            let factor: f64 = factor
                .parse()
                .ok()
                .filter(|f: &f64| f.is_finite())
                .ok_or_else(|| bad("the factor is not a number"))?;
            if feature.is_empty() {
                return Err(bad("no feature"));
            }
            return Ok(Scenario::Scale {
                feature: feature.to_string(),
                factor,
            });
        }
        if let Some(rest) = s.strip_prefix("skew:") {
            let (feature, rest) = rest.split_once('=').ok_or_else(|| bad("no `=`"))?;
            let (value, share) = rest.rsplit_once(':').ok_or_else(|| bad("no `:SHARE`"))?;
            let share: f64 = share
                .parse()
                .ok()
                .filter(|x: &f64| (0.0..=1.0).contains(x))
                .ok_or_else(|| bad("the share must be a number in [0, 1]"))?;
            if feature.is_empty() || value.is_empty() {
                return Err(bad("no feature or value"));
            }
            return Ok(Scenario::Skew {
                feature: feature.to_string(),
                value: value.to_string(),
                share,
            });
        }
        Err(bad("unknown kind"))
    }
}

/// The records to draw from: the raw rows of the test split, as the dataset file holds them
/// (every column but the target).
#[derive(Debug, Clone)]
pub struct SimData {
    pub id_column: String,
    /// Column names and types, in the file's order (the id and the target left out).
    pub columns: Vec<RawColumn>,
    /// Per column, the value of every test row.
    pub values: Vec<Vec<Cell>>,
    pub ids: Vec<String>,
    /// 1 = the positive class.
    pub labels: Vec<u8>,
}

impl SimData {
    /// The raw rows of the held-out test split of the workspace's prepared data.
    pub fn from_config(config: &LoadedConfig) -> Result<SimData> {
        let prepared = crate::data::prepare(config)?;
        let sig = &prepared.signature;
        let test = &prepared.test;
        let labels = prepared.preparation.labels_frame(test)?;
        let id_column = sig.id.clone().unwrap_or_else(|| "id".to_string());
        let ids = match &sig.id {
            Some(id) => crate::data::prepare::strings(test, id)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| v.unwrap_or_else(|| format!("row{i}")))
                .collect(),
            None => (0..test.height()).map(|i| format!("row{i}")).collect(),
        };
        if labels.is_empty() {
            return Err(Error::invalid(
                "the prepared test set is empty: nothing to simulate from",
            ));
        }
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for col in test.columns() {
            let name = col.name().as_str();
            if name == sig.target || Some(name) == sig.id.as_deref() {
                continue;
            }
            columns.push(RawColumn {
                name: name.to_string(),
                ty: RawType::of(col.dtype()),
            });
            values.push(crate::data::raw::column_cells(col)?);
        }
        Ok(SimData {
            id_column,
            columns,
            values,
            ids,
            labels,
        })
    }

    fn column(&self, name: &str) -> Option<&RawColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn check(&self, scenario: &Scenario) -> Result<()> {
        let of = |ty: RawType| -> Vec<&str> {
            self.columns
                .iter()
                .filter(|c| c.ty == ty)
                .map(|c| c.name.as_str())
                .collect()
        };
        match scenario {
            Scenario::Scale { feature, .. }
                if !self
                    .column(feature)
                    .is_some_and(|c| matches!(c.ty, RawType::Double | RawType::Long)) =>
            {
                let mut numeric = of(RawType::Double);
                numeric.extend(of(RawType::Long));
                Err(Error::invalid(format!(
                    "scale:{feature}: not a numeric column of the raw records (numeric: {})",
                    numeric.join(", ")
                )))
            }
            Scenario::Skew { feature, .. }
                if !self
                    .column(feature)
                    .is_some_and(|c| c.ty == RawType::String) =>
            {
                Err(Error::invalid(format!(
                    "skew:{feature}: not a text column of the raw records (text: {})",
                    of(RawType::String).join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// The JSON record of test row `row` under `scenario` (`skewed`: this one takes the value).
    fn record(&self, row: usize, id: &str, scenario: &Scenario, skewed: bool) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert(self.id_column.clone(), id.into());
        for (c, col) in self.columns.iter().zip(&self.values) {
            let v = match (&col[row], scenario) {
                (Cell::Num(x), Scenario::Scale { feature, factor }) if *feature == c.name => {
                    serde_json::json!(x * factor)
                }
                (Cell::Int(x), Scenario::Scale { feature, factor }) if *feature == c.name => {
                    serde_json::json!((*x as f64 * factor).round() as i64)
                }
                (_, Scenario::Skew { feature, value, .. }) if skewed && *feature == c.name => {
                    serde_json::json!(value)
                }
                (Cell::Null, _) => serde_json::Value::Null,
                (Cell::Num(x), _) => serde_json::json!(x),
                (Cell::Int(x), _) => serde_json::json!(x),
                (Cell::Bool(b), _) => serde_json::json!(b),
                (Cell::Text(t), _) => serde_json::json!(t),
            };
            m.insert(c.name.clone(), v);
        }
        serde_json::Value::Object(m)
    }
}

/// What to send, where and how fast.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The endpoint's base URL (`/invocations` is added when there is no path) or the full
    /// invocations URL.
    pub endpoint: String,
    /// Requests per second, one record each.
    pub rate: f64,
    pub duration: Duration,
    pub scenario: Scenario,
    /// Where the labels go; `None`: no labels.
    pub labels_dir: Option<PathBuf>,
    pub labels_after: Duration,
    pub seed: u64,
    /// Sender threads.
    pub concurrency: usize,
    /// Bearer token, when the endpoint wants one.
    pub token: Option<String>,
}

/// What a run did (also the progress reports, with the counts so far).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    pub run: String,
    pub scenario: String,
    pub endpoint: String,
    pub target_rate: f64,
    /// Requests due in the whole run.
    pub planned: u64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    /// Sent more than `LATE_AFTER` after they were due.
    pub late: u64,
    pub labels_written: u64,
    /// Labels inverted by the `concept` scenario.
    pub labels_flipped: u64,
    pub labels_file: Option<String>,
    pub elapsed_s: f64,
    /// Requests sent per second of sending.
    pub achieved_rate: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub cancelled: bool,
}

struct Job {
    seq: u64,
    due: Instant,
    row: usize,
    skewed: bool,
}

struct Outcome {
    row: usize,
    id: String,
    sent_at: Instant,
    late: bool,
    ok: bool,
    latency: Duration,
    probability: Option<f64>,
}

/// `count` row indices of a table of `n` rows, without replacement: passes over a fresh random
/// permutation of `0..n` each, concatenated (every row once per pass).
pub fn draw_rows(rng: &mut StdRng, n: usize, count: usize) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut out = Vec::with_capacity(count);
    if n == 0 {
        return out;
    }
    let mut pass: Vec<usize> = (0..n).collect();
    while out.len() < count {
        pass.shuffle(rng);
        out.extend(pass.iter().take(count - out.len()));
    }
    out
}

/// Runs the simulation until its duration has passed (and its labels are written) or `cancel`
/// is set; `progress` is called about twice a second with the counts so far.
pub fn run(
    options: &SimOptions,
    data: &SimData,
    progress: &mut dyn FnMut(&SimReport),
    cancel: &AtomicBool,
) -> Result<SimReport> {
    if !(options.rate > 0.0 && options.rate.is_finite()) {
        return Err(Error::invalid(format!(
            "--rate must be a positive number of requests per second, got {}",
            options.rate
        )));
    }
    data.check(&options.scenario)?;
    let url = invocations_url(&options.endpoint)?;
    let planned = (options.rate * options.duration.as_secs_f64()).round() as u64;
    let run_id = format!("{:x}{:04x}", crate::clock::now_ms(), options.seed & 0xffff);
    let mut report = SimReport {
        run: run_id.clone(),
        scenario: options.scenario.to_string(),
        endpoint: url.clone(),
        target_rate: options.rate,
        planned,
        ..SimReport::default()
    };
    let mut labels_out = match &options.labels_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let path = dir.join(format!("sim-{run_id}.csv"));
            let mut f = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            f.write_all(b"id,label\n")
                .map_err(|e| Error::io(&path, e))?;
            report.labels_file = Some(path.display().to_string());
            Some((f, path))
        }
        None => None,
    };

    // Everything random is drawn up front, from the seed alone.
    let mut rng = StdRng::seed_from_u64(options.seed);
    let n = data.labels.len();
    let share = match &options.scenario {
        Scenario::Skew { share, .. } => *share,
        _ => 0.0,
    };
    let rows = draw_rows(&mut rng, n, planned as usize);
    let draws: Vec<(usize, bool)> = rows
        .into_iter()
        .map(|row| (row, rng.r#gen::<f64>() < share))
        .collect();

    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now() + Duration::from_millis(20);
    let mut workers = Vec::new();
    for w in 0..options.concurrency.max(1) {
        let rx = job_rx.clone();
        let tx = out_tx.clone();
        let url = url.clone();
        let token = options.token.clone();
        let data = data.clone();
        let scenario = options.scenario.clone();
        let run_id = run_id.clone();
        let handle = std::thread::Builder::new()
            .name(format!("simulate-{w}"))
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let id = format!("{}~{run_id}-{}", data.ids[job.row], job.seq);
                    let record = data.record(job.row, &id, &scenario, job.skewed);
                    let body = serde_json::json!({
                        "dataframe_records": [record],
                        "params": {"probabilities": true},
                    })
                    .to_string();
                    let sent_at = Instant::now();
                    let late = sent_at > job.due + LATE_AFTER;
                    let mut req = agent.post(&url).header("Content-Type", "application/json");
                    if let Some(t) = &token {
                        req = req.header("Authorization", &format!("Bearer {t}"));
                    }
                    let (ok, probability) = match req.send(body.as_bytes()) {
                        Ok(mut resp) => {
                            let ok = resp.status().is_success();
                            let text = resp.body_mut().read_to_string().unwrap_or_default();
                            let p = serde_json::from_str::<serde_json::Value>(&text)
                                .ok()
                                .and_then(|v| v["probabilities"][0].as_f64());
                            (ok, p)
                        }
                        Err(_) => (false, None),
                    };
                    let outcome = Outcome {
                        row: job.row,
                        id,
                        sent_at,
                        late,
                        ok,
                        latency: sent_at.elapsed(),
                        probability,
                    };
                    if tx.send(outcome).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("simulator thread", e))?;
        workers.push(handle);
    }
    drop(out_tx);

    let rate = options.rate;
    let sched_stop = stop.clone();
    let scheduler = std::thread::Builder::new()
        .name("simulate-schedule".into())
        .spawn(move || {
            for (seq, (row, skewed)) in draws.into_iter().enumerate() {
                let due = start + Duration::from_secs_f64(seq as f64 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if sched_stop.load(Ordering::Relaxed) {
                    return;
                }
                let job = Job {
                    seq: seq as u64,
                    due,
                    row,
                    skewed,
                };
                if job_tx.send(job).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("simulator thread", e))?;

    let concept = options.scenario == Scenario::Concept;
    let mut pending: VecDeque<(Instant, String, u8)> = VecDeque::new();
    let mut latencies: Vec<f64> = Vec::new();
    let (mut first_sent, mut last_sent) = (None::<Instant>, None::<Instant>);
    let mut last_progress = Instant::now();
    let mut senders_done = false;
    loop {
        if cancel.load(Ordering::Relaxed) && !report.cancelled {
            report.cancelled = true;
            stop.store(true, Ordering::Relaxed);
        }
        if !senders_done {
            match out_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(o) => {
                    report.sent += 1;
                    report.late += u64::from(o.late);
                    first_sent = Some(first_sent.map_or(o.sent_at, |f: Instant| f.min(o.sent_at)));
                    last_sent = Some(last_sent.map_or(o.sent_at, |l: Instant| l.max(o.sent_at)));
                    if o.ok {
                        report.ok += 1;
                        latencies.push(o.latency.as_secs_f64() * 1000.0);
                        let mut label = data.labels[o.row];
                        if concept
                            && let Some(p) = o.probability
                            && (p - 0.5).abs() >= CONCEPT_CONFIDENCE
                        {
                            label = 1 - label;
                            report.labels_flipped += 1;
                        }
                        pending.push_back((o.sent_at + options.labels_after, o.id, label));
                    } else {
                        report.errors += 1;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => senders_done = true,
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Labels that are due (all of them once cancelled).
        let now = Instant::now();
        let mut text = String::new();
        let mut due = 0u64;
        while let Some((at, _, _)) = pending.front() {
            if *at > now && !report.cancelled {
                break;
            }
            let (_, id, label) = pending.pop_front().expect("front exists");
            text.push_str(&csv_field(&id));
            text.push(',');
            text.push(if label == 1 { '1' } else { '0' });
            text.push('\n');
            due += 1;
        }
        if due > 0
            && let Some((f, path)) = &mut labels_out
        {
            f.write_all(text.as_bytes())
                .map_err(|e| Error::io(&*path, e))?;
            report.labels_written += due;
        }
        if last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            fill_rates(&mut report, first_sent, last_sent, &latencies);
            progress(&report);
        }
        if senders_done && pending.is_empty() {
            break;
        }
        if senders_done && labels_out.is_none() {
            break;
        }
    }
    let _ = scheduler.join();
    for w in workers {
        let _ = w.join();
    }
    if let Some((f, path)) = &labels_out {
        f.sync_all().map_err(|e| Error::io(path, e))?;
    }
    fill_rates(&mut report, first_sent, last_sent, &latencies);
    progress(&report);
    Ok(report)
}

fn fill_rates(
    report: &mut SimReport,
    first: Option<Instant>,
    last: Option<Instant>,
    latencies: &[f64],
) {
    if let (Some(f), Some(l)) = (first, last) {
        let span = (l - f).as_secs_f64();
        report.elapsed_s = span;
        report.achieved_rate = if span > 0.0 && report.sent > 1 {
            (report.sent - 1) as f64 / span
        } else {
            0.0
        };
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        (!sorted.is_empty()).then(|| {
            let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted[i]
        })
    };
    report.latency_p50_ms = q(0.5);
    report.latency_p99_ms = q(0.99);
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `http://host:port` → `http://host:port/invocations`; a URL with a path is kept.
fn invocations_url(endpoint: &str) -> Result<String> {
    let e = endpoint.trim();
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or_else(|| {
            Error::invalid(format!(
                "--endpoint `{e}` is not an http:// or https:// URL"
            ))
        })?;
    Ok(match rest.find('/') {
        Some(i) if rest[i..] != *"/" => e.to_string(),
        _ => format!("{}/invocations", e.trim_end_matches('/')),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_and_print_back() {
        for s in ["none", "scale:Year=1.5", "skew:SEX=Female:0.7", "concept"] {
            assert_eq!(s.parse::<Scenario>().unwrap().to_string(), s);
        }
        for bad in [
            "scale:Year",
            "scale:=2",
            "skew:SEX=Female",
            "skew:SEX=F:1.5",
            "flip",
        ] {
            assert!(bad.parse::<Scenario>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_are_drawn_without_replacement_pass_by_pass() {
        let mut rng = StdRng::seed_from_u64(7);
        let rows = draw_rows(&mut rng, 10, 25);
        assert_eq!(rows.len(), 25);
        for pass in rows.chunks(10).take(2) {
            let mut p = pass.to_vec();
            p.sort_unstable();
            assert_eq!(p, (0..10).collect::<Vec<_>>(), "each pass is a permutation");
        }
        let mut tail = rows[20..].to_vec();
        tail.sort_unstable();
        tail.dedup();
        assert_eq!(tail.len(), 5);
        assert_ne!(rows[..10], rows[10..20], "passes are shuffled afresh");
        assert!(draw_rows(&mut rng, 0, 5).is_empty());
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            invocations_url("http://127.0.0.1:5000").unwrap(),
            "http://127.0.0.1:5000/invocations"
        );
        assert_eq!(
            invocations_url("http://h:1/").unwrap(),
            "http://h:1/invocations"
        );
        assert_eq!(
            invocations_url("http://h/serving-endpoints/x/invocations").unwrap(),
            "http://h/serving-endpoints/x/invocations"
        );
        assert!(invocations_url("h:1").is_err());
    }
}
