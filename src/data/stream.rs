//! Raw records read from a file a chunk at a time (CSV, Parquet or JSON lines), so a file larger
//! than memory is scored with flat memory (`cerebro predict`, the `predict` workflow step).
//!
//! Columns are matched to a model's [`RawSchema`] by name, as the serving endpoint matches them:
//! an input column is read as its type, the id column is kept, the other columns of the
//! dataset file are ignored, and a column that is none of these is an error naming it. CSV is
//! read as the dataset loader reads it (`data::load`): UTF-8 (a BOM is dropped), CRLF or LF
//! line endings, a header row, blank lines skipped, numbers and booleans trimmed, text kept as
//! is, an empty field missing ([`super::raw::parse_field`]). JSON lines hold one record (an
//! object) per line, values as the endpoint takes them ([`super::raw::json_cell`]). Parquet
//! columns are converted to the schema's types ([`super::raw::coerce`]).
//!
//! A value that does not fit its column is a [`BadRecord`] naming the line (for Parquet, the
//! row) and the column: fatal, or with `skip_bad` the record is left out and reported.
//! Written here rather than with polars' CSV reader because that reader reads whole files;
//! the `csv` crate streams.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use super::raw::{
    Cell, RawBatch, RawSchema, RawType, coerce, column_cells, json_cell, parse_field,
};
use crate::error::{Error, Result};

/// A file format of raw records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Parquet,
    JsonLines,
}

impl Format {
    /// The format of `path` by its extension: `.parquet`/`.pq`, `.jsonl`/`.ndjson`/`.json`,
    /// anything else CSV.
    pub fn of(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("parquet" | "pq") => Format::Parquet,
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// A record left out: where it is and what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadRecord {
    /// 1-based line of a CSV or JSON-lines file; 1-based row of a Parquet file.
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    pub message: String,
}

/// Records read from a file.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// Inputs in schema order.
    pub batch: RawBatch,
    /// The id column's value per record, as text.
    pub ids: Vec<Option<String>>,
    /// Where each record starts (line, or Parquet row).
    pub lines: Vec<u64>,
    /// Records left out of this chunk (only when bad records are skipped).
    pub skipped: Vec<BadRecord>,
}

/// Where a file's column goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Input(usize, RawType),
    Id,
    Ignored,
}

/// Maps column names to slots.
struct Columns {
    slots: HashMap<String, Slot>,
    names: Vec<String>,
    inputs: usize,
}

impl Columns {
    fn new(schema: &RawSchema) -> Columns {
        let mut slots = HashMap::new();
        for (i, c) in schema.inputs.iter().enumerate() {
            slots.insert(c.name.clone(), Slot::Input(i, c.ty));
        }
        if let Some(id) = &schema.id {
            slots.entry(id.clone()).or_insert(Slot::Id);
        }
        for n in &schema.ignored {
            slots.entry(n.clone()).or_insert(Slot::Ignored);
        }
        Columns {
            slots,
            names: schema.names(),
            inputs: schema.inputs.len(),
        }
    }

    /// The slot of every header column; an unknown column, or a required input that is absent,
    /// is an error naming it.
    fn header(&self, path: &Path, header: &[String], required: bool) -> Result<Vec<Slot>> {
        let mut out = Vec::with_capacity(header.len());
        for (i, h) in header.iter().enumerate() {
            match self.slots.get(h) {
                Some(s) => out.push(*s),
                None => {
                    let names: Vec<&str> = self.slots.keys().map(String::as_str).collect();
                    let hint = crate::error::closest(h, &names)
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err(Error::data_at(
                        path,
                        1,
                        Some(i + 1),
                        format!(
                            "column `{h}` is not one the model reads{hint}: it reads {}; the other columns of its dataset file are accepted and ignored",
                            self.names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        if required {
            for (i, n) in self.names.iter().enumerate() {
                if !out
                    .iter()
                    .any(|s| matches!(s, Slot::Input(j, _) if *j == i))
                {
                    return Err(Error::data_at(
                        path,
                        1,
                        None,
                        format!("the file has no column `{n}`, which the model needs"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

enum Source {
    Csv {
        reader: csv::Reader<CountingReader<BufReader<File>>>,
        slots: Vec<Slot>,
        record: csv::StringRecord,
    },
    Parquet {
        rows: usize,
        next: usize,
        /// Rows read per slice (a row group, capped).
        slice: usize,
        /// File column name and slot, for the columns read.
        columns: Vec<(String, Slot)>,
    },
    JsonLines {
        reader: CountingReader<BufReader<File>>,
        line: u64,
        buf: String,
    },
}

/// Counts the bytes read through it (for progress).
struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.bytes += amt as u64;
        self.inner.consume(amt)
    }
}

/// Reads a file's raw records in chunks.
pub struct RecordReader {
    path: PathBuf,
    format: Format,
    columns: Columns,
    skip_bad: bool,
    source: Source,
    total_bytes: u64,
}

impl RecordReader {
    /// Opens `path` for `schema`'s inputs; reads its header (CSV) or schema (Parquet) and
    /// checks its columns.
    pub fn open(path: &Path, schema: &RawSchema, skip_bad: bool) -> Result<RecordReader> {
        let format = Format::of(path);
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let columns = Columns::new(schema);
        let source = match format {
            Format::Csv => {
                let mut inner = CountingReader {
                    inner: BufReader::with_capacity(1 << 20, file),
                    bytes: 0,
                };
                // A UTF-8 byte-order mark is not part of the first column's name.
                if inner
                    .fill_buf()
                    .map_err(|e| Error::io(path, e))?
                    .starts_with(&[0xEF, 0xBB, 0xBF])
                {
                    inner.consume(3);
                }
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(inner);
                let header: Vec<String> = reader
                    .headers()
                    .map_err(|e| csv_error(path, &e, "cannot read the header"))?
                    .iter()
                    .map(|h| h.trim().to_string())
                    .collect();
                if header.iter().all(String::is_empty) {
                    return Err(Error::data(path, "the file is empty"));
                }
                let slots = columns.header(path, &header, schema.required)?;
                Source::Csv {
                    reader,
                    slots,
                    record: csv::StringRecord::new(),
                }
            }
            Format::Parquet => {
                let mut r = ParquetReader::new(file);
                let arrow = r
                    .schema()
                    .map_err(|e| Error::data(path, format!("not a readable Parquet file: {e}")))?;
                let header: Vec<String> = arrow.iter_names().map(|n| n.to_string()).collect();
                let slots = columns.header(path, &header, schema.required)?;
                let meta = r
                    .get_metadata()
                    .map_err(|e| Error::data(path, format!("not a readable Parquet file: {e}")))?;
                let group = meta
                    .row_groups
                    .iter()
                    .map(|g| g.num_rows())
                    .max()
                    .unwrap_or(0);
                let rows = meta.num_rows;
                Source::Parquet {
                    rows,
                    next: 0,
                    slice: group.clamp(1, 1 << 18),
                    columns: header
                        .into_iter()
                        .zip(slots)
                        .filter(|(_, s)| *s != Slot::Ignored)
                        .collect(),
                }
            }
            Format::JsonLines => Source::JsonLines {
                reader: CountingReader {
                    inner: BufReader::with_capacity(1 << 20, file),
                    bytes: 0,
                },
                line: 0,
                buf: String::new(),
            },
        };
        Ok(RecordReader {
            path: path.to_path_buf(),
            format,
            columns,
            skip_bad,
            source,
            total_bytes,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// `(bytes read so far, file size)`; for Parquet, rows instead of bytes.
    pub fn progress(&self) -> (u64, u64) {
        match &self.source {
            Source::Csv { reader, .. } => (reader.get_ref().bytes, self.total_bytes),
            Source::JsonLines { reader, .. } => (reader.bytes, self.total_bytes),
            Source::Parquet { rows, next, .. } => (*next as u64, *rows as u64),
        }
    }

    /// Up to `max_rows` records; `None` at the end of the file.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>> {
        let mut chunk = Chunk {
            batch: RawBatch::new(self.columns.inputs),
            ..Chunk::default()
        };
        let more = match &mut self.source {
            Source::Csv {
                reader,
                slots,
                record,
            } => read_csv(
                &self.path,
                reader,
                slots,
                record,
                &self.columns,
                self.skip_bad,
                max_rows,
                &mut chunk,
            )?,
            Source::Parquet {
                rows,
                next,
                slice,
                columns,
            } => {
                if *next >= *rows {
                    false
                } else {
                    let len = (*slice).min(max_rows.max(1)).min(*rows - *next);
                    read_parquet(&self.path, *next, len, columns, self.skip_bad, &mut chunk)?;
                    *next += len;
                    true
                }
            }
            Source::JsonLines { reader, line, buf } => read_json_lines(
                &self.path,
                reader,
                line,
                buf,
                &self.columns,
                self.skip_bad,
                max_rows,
                &mut chunk,
            )?,
        };
        Ok((more || chunk.batch.rows > 0 || !chunk.skipped.is_empty()).then_some(chunk))
    }
}

fn csv_error(path: &Path, e: &csv::Error, what: &str) -> Error {
    let line = e.position().map_or(1, |p| p.line() as usize);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8; re-save the file as UTF-8".to_string(),
        _ => format!("{what}: {e}"),
    };
    Error::data_at(path, line, None, message)
}

/// A record of missing values appended to `chunk`; returns its index.
fn push_row(chunk: &mut Chunk, line: u64) -> usize {
    for c in &mut chunk.batch.columns {
        c.push(Cell::Null);
    }
    chunk.ids.push(None);
    chunk.lines.push(line);
    chunk.batch.rows += 1;
    chunk.batch.rows - 1
}

/// Removes the last record of `chunk` (it turned out bad).
fn pop_row(chunk: &mut Chunk) {
    for c in &mut chunk.batch.columns {
        c.pop();
    }
    chunk.ids.pop();
    chunk.lines.pop();
    chunk.batch.rows -= 1;
}

/// Handles a bad record: an error, or (skipping) noted and removed.
fn bad(path: &Path, skip: bool, chunk: &mut Chunk, record: BadRecord, pushed: bool) -> Result<()> {
    if !skip {
        let at = record
            .column
            .as_ref()
            .map(|c| format!("column `{c}`: "))
            .unwrap_or_default();
        return Err(Error::data_at(
            path,
            record.line as usize,
            None,
            format!("{at}{}", record.message),
        ));
    }
    if pushed {
        pop_row(chunk);
    }
    chunk.skipped.push(record);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_csv(
    path: &Path,
    reader: &mut csv::Reader<CountingReader<BufReader<File>>>,
    slots: &[Slot],
    record: &mut csv::StringRecord,
    columns: &Columns,
    skip: bool,
    max_rows: usize,
    chunk: &mut Chunk,
) -> Result<bool> {
    while chunk.batch.rows < max_rows {
        match reader.read_record(record) {
            Ok(false) => return Ok(false),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if !skip || e.position().is_none() {
                    return Err(csv_error(path, &e, "bad CSV"));
                }
                chunk.skipped.push(BadRecord {
                    line,
                    column: None,
                    message: format!("bad CSV: {e}"),
                });
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != slots.len() {
            if record.len() == 1 && record.get(0) == Some("") {
                continue;
            }
            let r = BadRecord {
                line,
                column: None,
                message: format!(
                    "ragged row: {} fields where the header has {}",
                    record.len(),
                    slots.len()
                ),
            };
            bad(path, skip, chunk, r, false)?;
            continue;
        }
        let row = push_row(chunk, line);
        let mut failed = None;
        for (c, (field, slot)) in record.iter().zip(slots).enumerate() {
            match *slot {
                Slot::Input(i, ty) => match parse_field(field, ty) {
                    Ok(cell) => chunk.batch.columns[i][row] = cell,
                    Err(expected) => {
                        failed = Some(BadRecord {
                            line,
                            column: Some(columns.names[i].clone()),
                            message: format!(
                                "expected {expected}, got {:?} (field {})",
                                field.chars().take(40).collect::<String>(),
                                c + 1
                            ),
                        });
                        break;
                    }
                },
                Slot::Id => {
                    let t = field.trim();
                    if !t.is_empty() {
                        chunk.ids[row] = Some(t.to_string());
                    }
                }
                Slot::Ignored => {}
            }
        }
        if let Some(r) = failed {
            bad(path, skip, chunk, r, true)?;
        }
    }
    Ok(true)
}

fn read_parquet(
    path: &Path,
    offset: usize,
    len: usize,
    columns: &[(String, Slot)],
    skip: bool,
    chunk: &mut Chunk,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .with_columns(Some(columns.iter().map(|(n, _)| n.clone()).collect()))
        .with_slice(Some((offset, len)))
        .finish()
        .map_err(|e| Error::data(path, format!("reading rows {offset}..: {e}")))?;
    let mut cells: Vec<(Slot, &str, Vec<Cell>)> = Vec::with_capacity(columns.len());
    for (name, slot) in columns {
        cells.push((*slot, name, column_cells(df.column(name)?)?));
    }
    for r in 0..df.height() {
        let line = (offset + r + 1) as u64;
        let row = push_row(chunk, line);
        let mut failed = None;
        for (slot, name, values) in &mut cells {
            let v = std::mem::take(&mut values[r]);
            match *slot {
                Slot::Input(i, ty) => match coerce(v, ty) {
                    Ok(c) => chunk.batch.columns[i][row] = c,
                    Err(got) => {
                        failed = Some(BadRecord {
                            line,
                            column: Some(name.to_string()),
                            message: format!("expected {ty}, got {got} (row {line})"),
                        });
                        break;
                    }
                },
                Slot::Id => chunk.ids[row] = v.text().map(|t| t.into_owned()),
                Slot::Ignored => {}
            }
        }
        if let Some(r) = failed {
            bad(path, skip, chunk, r, true)?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_json_lines(
    path: &Path,
    reader: &mut CountingReader<BufReader<File>>,
    line: &mut u64,
    buf: &mut String,
    columns: &Columns,
    skip: bool,
    max_rows: usize,
    chunk: &mut Chunk,
) -> Result<bool> {
    while chunk.batch.rows < max_rows {
        buf.clear();
        let n = reader.read_line(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::data_at(path, *line as usize + 1, None, "invalid UTF-8")
            } else {
                Error::io(path, e)
            }
        })?;
        if n == 0 {
            return Ok(false);
        }
        *line += 1;
        let text = buf.trim();
        if text.is_empty() {
            continue;
        }
        let at = *line;
        let record: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let r = BadRecord {
                    line: at,
                    column: None,
                    message: format!("not a JSON object: {e}"),
                };
                bad(path, skip, chunk, r, false)?;
                continue;
            }
        };
        let row = push_row(chunk, at);
        let mut failed = None;
        for (k, v) in &record {
            match columns.slots.get(k) {
                Some(Slot::Input(i, ty)) => match json_cell(v, *ty) {
                    Ok(c) => chunk.batch.columns[*i][row] = c,
                    Err(expected) => {
                        failed = Some(BadRecord {
                            line: at,
                            column: Some(k.clone()),
                            message: format!("expected {expected}, got {v}"),
                        });
                        break;
                    }
                },
                Some(Slot::Id) => {
                    chunk.ids[row] = match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }
                }
                Some(Slot::Ignored) => {}
                None => {
                    failed = Some(BadRecord {
                        line: at,
                        column: Some(k.clone()),
                        message: "not a column the model reads, nor of its dataset file".into(),
                    });
                    break;
                }
            }
        }
        if let Some(r) = failed {
            bad(path, skip, chunk, r, true)?;
        }
    }
    Ok(true)
}
