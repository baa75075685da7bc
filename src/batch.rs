//! Batch scoring, as `mlflow models predict` and Databricks batch inference do it: a file of raw
//! records in, a file of predictions out, through the model's whole pipeline (`cerebro predict`,
//! the `predict` workflow step, the TUI's Registry tab).
//!
//! The input (CSV, Parquet or JSON lines, by extension) is read a chunk of records at a time
//! ([`crate::data::stream`]) and each chunk is scored by [`Model::score`], the function the
//! serving endpoint and training evaluation use, so a record gets bit for bit the probability
//! it gets anywhere else. The output (Parquet, or CSV for any other extension) holds the id
//! column (or `row`, the record's line, when the model has no id), `prediction` (0 or 1) and
//! with `probabilities` also `probability` (of the positive class), and with `explain` the
//! record's explanation: `base_value` and `contribution_<FEATURE>` per model feature, adding up
//! to the raw score (log-odds or probability, by model kind). It is written to a
//! temporary file beside the output and renamed when complete, so a failed run leaves no
//! partial output. Memory stays flat: one chunk of records at a time.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use polars::prelude::*;
use serde::Serialize;

use crate::data::stream::{BadRecord, Format, RecordReader};
use crate::error::{Error, Result};
use crate::registry::ModelUri;
use crate::train::Model;
use crate::workspace::Workspace;

/// Records scored at a time.
pub const CHUNK_ROWS: usize = 65_536;

/// Bad records kept in a report (all are counted).
const REPORTED_BAD: usize = 20;

/// What to do with a record whose value does not fit its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop with an error naming the line and column (nothing is written).
    #[default]
    Fail,
    /// Leave the record out, count it and report it.
    Skip,
}

impl std::str::FromStr for OnError {
    type Err = Error;
    fn from_str(s: &str) -> Result<OnError> {
        match s {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            other => Err(Error::invalid(format!(
                "on_error `{other}`: write fail or skip"
            ))),
        }
    }
}

/// A model to score with: a registry URI (`NAME/3`, `NAME@champion`, `NAME/Production`,
/// `models:/...`) or a run's artifact (`runs:/RUN_ID`, optionally `/model` or `/model.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Registry(ModelUri),
    Run(String),
}

impl std::str::FromStr for ModelSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelSource> {
        if let Some(rest) = s.strip_prefix("runs:/") {
            let id = rest
                .trim_end_matches('/')
                .trim_end_matches("/model.json")
                .trim_end_matches("/model");
            if id.is_empty() || id.contains('/') {
                return Err(Error::invalid(format!(
                    "`{s}` is not a run URI: write runs:/RUN_ID"
                )));
            }
            return Ok(ModelSource::Run(id.to_string()));
        }
        Ok(ModelSource::Registry(s.parse()?))
    }
}

/// Loads the model `source` names; also returns a description (`marvel/3`, `run 1a2b3c4d`).
pub fn load_model(ws: &Workspace, source: &ModelSource) -> Result<(Model, String)> {
    match source {
        ModelSource::Registry(uri) => {
            let (v, model) = crate::registry::ops::load_model_at(ws, uri)?;
            Ok((model, format!("{}/{}", v.name, v.version)))
        }
        ModelSource::Run(id) => {
            let run = ws.store.get_run(id)?;
            let model = crate::track::load_model(ws.store.as_ref(), &run)?;
            Ok((model, format!("run {}", &run.summary.run_id)))
        }
    }
}

/// What to score and where the predictions go.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Add the positive-class probability.
    pub probabilities: bool,
    /// Add each record's explanation ([`crate::train::explain`]): `base_value` and one
    /// `contribution_<FEATURE>` column per model feature.
    pub explain: bool,
    pub on_error: OnError,
    /// Records per chunk.
    pub chunk_rows: usize,
}

/// Progress of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BatchProgress {
    pub records: u64,
    /// Bytes read (rows for Parquet) and the total.
    pub done: u64,
    pub total: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub model: String,
    pub input: String,
    pub input_format: Format,
    pub output: String,
    /// Records read (scored + skipped).
    pub records: u64,
    pub scored: u64,
    pub skipped: u64,
    /// The first skipped records.
    pub bad_records: Vec<BadRecord>,
    /// Records predicted positive.
    pub positives: u64,
    /// Categorical values the model never saw in training.
    pub unseen_categories: u64,
    pub seconds: f64,
    pub records_per_second: f64,
}

enum Writer {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
}

/// The output column of record ids.
fn id_column(model: &Model) -> String {
    model
        .preparation
        .schema
        .id
        .clone()
        .unwrap_or_else(|| "row".to_string())
}

/// Scores `opts.input` with `model` into `opts.output`. `progress` is called after every
/// chunk; setting `cancel` stops between chunks (nothing is written).
pub fn score_file(
    model: &Model,
    model_name: &str,
    opts: &BatchOptions,
    progress: &mut dyn FnMut(&BatchProgress),
    cancel: &AtomicBool,
) -> Result<BatchReport> {
    let started = Instant::now();
    let mut reader = RecordReader::open(
        &opts.input,
        &model.preparation.schema,
        opts.on_error == OnError::Skip,
    )?;
    let out_format = match Format::of(&opts.output) {
        Format::Parquet => Format::Parquet,
        _ => Format::Csv,
    };
    let dir = match opts.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = opts
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "predictions".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write_all(model, &mut reader, opts, out_format, &tmp, progress, cancel);
    let (records, scored, skipped, bad, positives, unseen) = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &opts.output).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(&opts.output, e)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(BatchReport {
        model: model_name.to_string(),
        input: opts.input.display().to_string(),
        input_format: reader.format(),
        output: opts.output.display().to_string(),
        records,
        scored,
        skipped,
        bad_records: bad,
        positives,
        unseen_categories: unseen,
        seconds,
        records_per_second: if seconds > 0.0 {
            scored as f64 / seconds
        } else {
            0.0
        },
    })
}

type Counts = (u64, u64, u64, Vec<BadRecord>, u64, u64);

#[allow(clippy::too_many_arguments)]
fn write_all(
    model: &Model,
    reader: &mut RecordReader,
    opts: &BatchOptions,
    out_format: Format,
    tmp: &Path,
    progress: &mut dyn FnMut(&BatchProgress),
    cancel: &AtomicBool,
) -> Result<Counts> {
    let id_name = id_column(model);
    let explained: Vec<String> = if opts.explain {
        let x = model.explainer()?;
        std::iter::once("base_value".to_string())
            .chain(x.features().iter().map(|f| format!("contribution_{f}")))
            .collect()
    } else {
        Vec::new()
    };
    let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut writer = match out_format {
        Format::Parquet => {
            let mut fields = vec![
                Field::new(PlSmallStr::from(id_name.as_str()), DataType::String),
                Field::new(PlSmallStr::from("prediction"), DataType::Int64),
            ];
            if opts.probabilities {
                fields.push(Field::new(
                    PlSmallStr::from("probability"),
                    DataType::Float64,
                ));
            }
            for name in &explained {
                fields.push(Field::new(
                    PlSmallStr::from(name.as_str()),
                    DataType::Float64,
                ));
            }
            let schema = Schema::from_iter(fields);
            Writer::Parquet(Box::new(ParquetWriter::new(file).batched(&schema)?))
        }
        _ => {
            let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
            let mut header = vec![id_name.clone(), "prediction".into()];
            if opts.probabilities {
                header.push("probability".into());
            }
            header.extend(explained.iter().cloned());
            w.write_record(&header)
                .map_err(|e| Error::io(tmp, std::io::Error::other(e)))?;
            Writer::Csv(Box::new(w))
        }
    };
    let (mut records, mut scored, mut skipped, mut positives, mut unseen) = (0, 0, 0, 0, 0);
    let mut bad = Vec::new();
    let has_id = model.preparation.schema.id.is_some();
    while let Some(chunk) = reader.next_chunk(opts.chunk_rows.max(1))? {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        records += (chunk.batch.rows + chunk.skipped.len()) as u64;
        skipped += chunk.skipped.len() as u64;
        for b in chunk.skipped {
            if bad.len() < REPORTED_BAD {
                bad.push(b);
            }
        }
        if chunk.batch.rows > 0 {
            let s = model.score_explained(&chunk.batch, opts.explain)?;
            unseen += s.unseen as u64;
            let labels: Vec<i64> = s
                .probabilities
                .iter()
                .map(|&p| i64::from(p >= model.threshold))
                .collect();
            positives += labels.iter().filter(|&&l| l == 1).count() as u64;
            let n = labels.len();
            scored += n as u64;
            let ids: Vec<Option<String>> = if has_id {
                chunk.ids
            } else {
                chunk.lines.iter().map(|l| Some(l.to_string())).collect()
            };
            match &mut writer {
                Writer::Csv(w) => {
                    use std::fmt::Write as _;
                    let mut p = String::new();
                    let mut fields: Vec<String> = Vec::new();
                    for (k, id) in ids.iter().enumerate() {
                        let id = id.as_deref().unwrap_or("");
                        let label = if labels[k] == 1 { "1" } else { "0" };
                        let r = if let Some(x) = &s.explanations {
                            // The slow path: a column per feature.
                            fields.clear();
                            fields.push(id.to_string());
                            fields.push(label.to_string());
                            if opts.probabilities {
                                fields.push(s.probabilities[k].to_string());
                            }
                            fields.push(x.base_value.to_string());
                            fields.extend(x.row(k).iter().map(f64::to_string));
                            w.write_record(&fields)
                        } else if opts.probabilities {
                            // Display prints the shortest text that reads back to the same f64.
                            p.clear();
                            let _ = write!(p, "{}", s.probabilities[k]);
                            w.write_record([id, label, p.as_str()])
                        } else {
                            w.write_record([id, label])
                        };
                        r.map_err(|e| Error::io(tmp, std::io::Error::other(e)))?;
                    }
                }
                Writer::Parquet(w) => {
                    let mut cols = vec![
                        Column::new(PlSmallStr::from(id_name.as_str()), ids),
                        Column::new(PlSmallStr::from("prediction"), labels),
                    ];
                    if opts.probabilities {
                        cols.push(Column::new(
                            PlSmallStr::from("probability"),
                            s.probabilities,
                        ));
                    }
                    if let Some(x) = &s.explanations {
                        let nf = x.features.len();
                        cols.push(Column::new(
                            PlSmallStr::from(explained[0].as_str()),
                            vec![x.base_value; n],
                        ));
                        for (f, name) in explained[1..].iter().enumerate() {
                            let v: Vec<f64> = (0..n).map(|k| x.contributions[k * nf + f]).collect();
                            cols.push(Column::new(PlSmallStr::from(name.as_str()), v));
                        }
                    }
                    let df = DataFrame::new(n, cols)?;
                    w.write_batch(&df)?;
                }
            }
        }
        let (done, total) = reader.progress();
        progress(&BatchProgress {
            records,
            done,
            total,
        });
    }
    match writer {
        Writer::Csv(mut w) => w.flush().map_err(|e| Error::io(tmp, e))?,
        Writer::Parquet(w) => {
            w.finish()?;
        }
    }
    Ok((records, scored, skipped, bad, positives, unseen))
}
