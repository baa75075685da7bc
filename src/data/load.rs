//! Loading a dataset file into a polars `DataFrame`, with errors that name the place.
//!
//! CSV files are checked before polars parses them: the bytes must be UTF-8 (the error names
//! the line and column of the first bad byte), CR-only and CRLF line endings are normalised to
//! LF, and every record must have as many fields as the header (the error names the line).
//! Every column is read as text and typed afterwards: configured numeric columns must parse as
//! numbers (the error names line, column and value), other columns are inferred (integer,
//! float or text) unless `[dataset.schema]` says otherwise.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::{ColumnType, DataFormat, DatasetConfig};
use crate::error::{Error, Result};

/// A loaded table plus, for CSV, the file line of every row (for error messages).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub df: DataFrame,
    pub path: PathBuf,
    /// `lines[i]` is the 1-based line where row `i` starts.
    pub lines: Option<Vec<u64>>,
}

impl Loaded {
    /// Where row `row` came from, for messages.
    pub fn line_of(&self, row: usize) -> Option<usize> {
        self.lines
            .as_ref()
            .and_then(|l| l.get(row))
            .map(|&l| l as usize)
    }
}

/// Loads `path` as configured by `dataset` (format from the config or the extension).
pub fn load(path: &Path, dataset: &DatasetConfig) -> Result<Loaded> {
    let format =
        dataset
            .format
            .unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
                Some(e) if e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq") => {
                    DataFormat::Parquet
                }
                _ => DataFormat::Csv,
            });
    let mut loaded = match format {
        DataFormat::Csv => load_csv(path)?,
        DataFormat::Parquet => load_parquet(path)?,
    };
    apply_types(&mut loaded, dataset)?;
    Ok(loaded)
}

fn load_parquet(path: &Path) -> Result<Loaded> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::data(path, format!("not a readable Parquet file: {e}")))?;
    if df.height() == 0 {
        return Err(Error::data(path, "the file has no rows"));
    }
    Ok(Loaded {
        df,
        path: path.to_path_buf(),
        lines: None,
    })
}

fn load_csv(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = check_and_normalise(path, bytes)?;
    let lines = check_records(path, &bytes)?;
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::data(path, format!("cannot parse CSV: {e}")))?;
    if df.height() != lines.len() {
        return Err(Error::data(
            path,
            format!(
                "CSV parser read {} rows but the file has {} records",
                df.height(),
                lines.len()
            ),
        ));
    }
    Ok(Loaded {
        df,
        path: path.to_path_buf(),
        lines: Some(lines),
    })
}

/// UTF-8 check (with a BOM stripped) and line-ending normalisation.
pub fn check_and_normalise(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::data(path, "the file is empty"));
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        let (line, column) = crate::config::line_col(&bytes, e.valid_up_to());
        return Err(Error::data_at(
            path,
            line,
            Some(column),
            format!(
                "invalid UTF-8 (byte 0x{:02X}); re-save the file as UTF-8",
                bytes[e.valid_up_to()]
            ),
        ));
    }
    if bytes.contains(&b'\r') {
        // CRLF -> LF, then lone CR (old Mac line endings) -> LF.
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\r' {
                out.push(b'\n');
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            } else {
                out.push(bytes[i]);
            }
            i += 1;
        }
        bytes = out;
    }
    Ok(bytes)
}

/// Checks that every record has the header's number of fields; returns each record's line.
fn check_records(path: &Path, bytes: &[u8]) -> Result<Vec<u64>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .byte_headers()
        .map_err(|e| Error::data_at(path, 1, None, format!("cannot read the header: {e}")))?
        .clone();
    let width = headers.len();
    let mut seen = std::collections::HashSet::new();
    for (i, h) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(h);
        if name.trim().is_empty() {
            return Err(Error::data_at(
                path,
                1,
                Some(i + 1),
                format!("header field {} is empty: every column needs a name", i + 1),
            ));
        }
        if !seen.insert(name.to_string()) {
            return Err(Error::data_at(
                path,
                1,
                Some(i + 1),
                format!("column `{name}` appears twice in the header"),
            ));
        }
    }
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.len() != width {
                    // A blank trailing line reads as one empty field: skip it.
                    if record.len() == 1 && record.get(0) == Some(b"") {
                        continue;
                    }
                    return Err(Error::data_at(
                        path,
                        line as usize,
                        None,
                        format!(
                            "ragged row: {} fields where the header has {width}",
                            record.len()
                        ),
                    ));
                }
                lines.push(line);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                return Err(Error::data_at(path, line, None, format!("bad CSV: {e}")));
            }
        }
    }
    if lines.is_empty() {
        return Err(Error::data(path, "the file has a header but no data rows"));
    }
    Ok(lines)
}

/// Types every column: configured numeric features as Float64, categorical features, id and
/// target as text, `[dataset.schema]` overrides, and the rest inferred.
fn apply_types(loaded: &mut Loaded, dataset: &DatasetConfig) -> Result<()> {
    let names: Vec<String> = loaded
        .df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in names {
        let wanted = if let Some(t) = dataset.schema.get(&name) {
            Some(*t)
        } else if dataset.numeric.contains(&name) {
            Some(ColumnType::Float)
        } else if dataset.categorical.contains(&name)
            || dataset.target == name
            || dataset.id.as_deref() == Some(name.as_str())
        {
            Some(ColumnType::Str)
        } else {
            None
        };
        let col = loaded.df.column(&name)?.clone();
        let typed = type_column(loaded, &name, &col, wanted)?;
        loaded.df.replace(&name, typed)?;
    }
    Ok(())
}

fn type_column(
    loaded: &Loaded,
    name: &str,
    col: &Column,
    wanted: Option<ColumnType>,
) -> Result<Column> {
    if col.dtype() != &DataType::String {
        // Parquet columns arrive typed; cast only when asked.
        return Ok(match wanted {
            Some(ColumnType::Str) => col.cast(&DataType::String)?,
            Some(ColumnType::Float) => col.cast(&DataType::Float64)?,
            Some(ColumnType::Int) => col.cast(&DataType::Int64)?,
            Some(ColumnType::Bool) => col.cast(&DataType::Boolean)?,
            None => col.clone(),
        });
    }
    let text = col.str()?;
    let parse_error = |row: usize, value: &str, what: &str| {
        let at = loaded.line_of(row);
        let message = format!("column `{name}`: cannot read `{value}` as {what}");
        match at {
            Some(line) => Error::data_at(&loaded.path, line, None, message),
            None => Error::data(&loaded.path, format!("row {}: {message}", row + 1)),
        }
    };
    let kind = match wanted {
        Some(t) => t,
        None => infer(text),
    };
    let pl_name = PlSmallStr::from(name);
    Ok(match kind {
        ColumnType::Str => col.clone(),
        ColumnType::Float => {
            let mut out = Vec::with_capacity(text.len());
            for (row, v) in text.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(s) => {
                        Some(parse_number(s).ok_or_else(|| parse_error(row, s, "a number"))?)
                    }
                });
            }
            Column::new(pl_name, out)
        }
        ColumnType::Int => {
            let mut out = Vec::with_capacity(text.len());
            for (row, v) in text.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(s) => Some(
                        s.parse::<i64>()
                            .map_err(|_| parse_error(row, s, "an integer"))?,
                    ),
                });
            }
            Column::new(pl_name, out)
        }
        ColumnType::Bool => {
            let mut out = Vec::with_capacity(text.len());
            for (row, v) in text.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(s) => Some(parse_bool(s).ok_or_else(|| parse_error(row, s, "a boolean"))?),
                });
            }
            Column::new(pl_name, out)
        }
    })
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Integer if every present value is one, float if every present value is a number, else text.
fn infer(text: &StringChunked) -> ColumnType {
    let mut all_int = true;
    let mut any = false;
    for v in text.iter().flatten() {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        any = true;
        if all_int && v.parse::<i64>().is_ok() {
            continue;
        }
        all_int = false;
        if parse_number(v).is_none() {
            return ColumnType::Str;
        }
    }
    match (any, all_int) {
        (false, _) => ColumnType::Str,
        (true, true) => ColumnType::Int,
        (true, false) => ColumnType::Float,
    }
}
