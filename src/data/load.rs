//! Loading a dataset file into a polars `DataFrame`, with errors that name the place.
//!
//! CSV files are read the way spreadsheets and other tools write them:
//! - **encoding**: UTF-8 (a BOM is fine) unless `[dataset] encoding` says `latin-1` or `cp1252`
//!   (decoded with `encoding_rs`); invalid UTF-8 is an error naming line and column that
//!   suggests the setting.
//! - **line endings**: LF, CRLF and CR-only all read the same.
//! - **blank lines** (empty or only spaces), anywhere, are skipped as pandas does
//!   (`skip_blank_lines=True`); line numbers in messages stay those of the file.
//! - **delimiter**: `[dataset] delimiter`, else sniffed from the first lines (see [`sniff`]).
//! - **decimal comma**: with `;` as the delimiter (or `[dataset] decimal = ","`), `9,99` in a
//!   number column reads as 9.99.
//! - **quoted fields** may hold delimiters, quotes (`""`) and line breaks.
//!
//! One parser (the `csv` crate) reads every record, so each row knows the line it starts on and
//! every refusal names file, line and column. Every column is read as text and typed
//! afterwards: configured numeric columns must parse as numbers (the error names line, column
//! and value), other columns are inferred (integer, float or text) unless `[dataset.schema]`
//! says otherwise.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::{ColumnType, DataFormat, DatasetConfig, Decimal, Delimiter, TextEncoding};
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

/// The decoded text of a CSV file and where each row starts in it, kept while the columns are
/// typed so a bad value's error can name its column in the line.
struct CsvText {
    text: Vec<u8>,
    /// Byte offset of each row in `text`.
    offsets: Vec<u64>,
    delimiter: u8,
    decimal: Decimal,
}

impl CsvText {
    /// 1-based character column where field `field` of row `row` starts.
    fn column_of(&self, row: usize, field: usize) -> Option<usize> {
        let start = *self.offsets.get(row)? as usize;
        field_columns(&self.text, start, self.delimiter)
            .get(field)
            .copied()
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
    let (mut loaded, text) = match format {
        DataFormat::Csv => {
            let (loaded, text) = load_csv(path, dataset)?;
            (loaded, Some(text))
        }
        DataFormat::Parquet => (load_parquet(path)?, None),
    };
    apply_types(&mut loaded, dataset, text.as_ref())?;
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

fn load_csv(path: &Path, dataset: &DatasetConfig) -> Result<(Loaded, CsvText)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = normalise_line_endings(decode(path, bytes, dataset.encoding)?);
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::data(path, "the file is empty"));
    }
    let (delimiter, sniffed) = match dataset.delimiter {
        Some(d) => (d.0, false),
        None => (sniff(&text), true),
    };
    let decimal = dataset.decimal.unwrap_or(if delimiter == b';' {
        Decimal::Comma
    } else {
        Decimal::Point
    });
    let records = read_records(path, &text, delimiter, sniffed)?;
    // A header of one field that holds another delimiter, while the config names several
    // columns: the delimiter is wrong, whatever the first lines suggested.
    let wanted = 1 + dataset.features().count() + usize::from(dataset.id.is_some());
    if records.header.len() == 1 && wanted > 1 {
        let only = &records.header[0];
        if let Some(other) = Delimiter::CANDIDATES
            .iter()
            .find(|&&c| c != delimiter && only.as_bytes().contains(&c))
        {
            return Err(Error::data_at(
                path,
                records.header_line,
                Some(1),
                format!(
                    "the header is one field `{only}` when split on `{}`; the file looks {}-separated: set `[dataset] delimiter = \"{}\"`",
                    Delimiter(delimiter).name(),
                    Delimiter(*other).name(),
                    String::from(Delimiter(*other)).escape_default()
                ),
            ));
        }
    }
    let columns: Vec<Column> = records
        .header
        .iter()
        .zip(records.columns)
        .map(|(name, values)| Column::new(PlSmallStr::from(name.as_str()), values))
        .collect();
    let df = DataFrame::new(records.lines.len(), columns)?;
    Ok((
        Loaded {
            df,
            path: path.to_path_buf(),
            lines: Some(records.lines),
        },
        CsvText {
            text,
            offsets: records.offsets,
            delimiter,
            decimal,
        },
    ))
}

/// UTF-8 text of the file: decoded from `encoding`, a byte-order mark removed. Invalid UTF-8
/// is an error naming line and column, suggesting `encoding` when the bytes read as
/// Windows-1252.
fn decode(path: &Path, bytes: Vec<u8>, encoding: TextEncoding) -> Result<Vec<u8>> {
    match encoding {
        TextEncoding::Utf8 => check_utf8(path, bytes),
        TextEncoding::Latin1 | TextEncoding::Cp1252 => {
            // `decode` follows the WHATWG decode algorithm: a BOM, if any, wins.
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            Ok(text.into_owned().into_bytes())
        }
    }
}

/// UTF-8 check (with a BOM stripped).
fn check_utf8(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        let at = e.valid_up_to();
        let (line, column) = crate::config::line_col(&bytes, at);
        let byte = bytes[at];
        let as_1252 = encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(&bytes[at..at + 1])
            .0
            .into_owned();
        return Err(Error::data_at(
            path,
            line,
            Some(column),
            format!(
                "invalid UTF-8 (byte 0x{byte:02X}); re-save the file as UTF-8, or, if a \
                 spreadsheet or another Windows tool wrote it (0x{byte:02X} is `{as_1252}` in \
                 Windows-1252), set `[dataset] encoding = \"cp1252\"` (or \"latin-1\")"
            ),
        ));
    }
    Ok(bytes)
}

/// CRLF -> LF, then lone CR (old Mac line endings) -> LF: line numbers stay the file's.
fn normalise_line_endings(bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.contains(&b'\r') {
        return bytes;
    }
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
    out
}

/// The field separator of a CSV text, guessed from its first records (up to 30 non-blank
/// ones, quotes respected): of `,` `;` tab `|`, the one that splits every sampled record into
/// the same number of fields, more than one; with several, the one giving the most fields,
/// then the first in that order. `,` when none is consistent. (The same idea as Python's
/// `csv.Sniffer`, kept to the four delimiters spreadsheets write.)
pub fn sniff(text: &[u8]) -> u8 {
    let mut best: Option<(usize, u8)> = None;
    for d in Delimiter::CANDIDATES {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(d)
            .from_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut widths = Vec::new();
        while widths.len() < 30 {
            match reader.read_byte_record(&mut record) {
                Ok(true) if is_blank(&record) => continue,
                Ok(true) => widths.push(record.len()),
                _ => break,
            }
        }
        let Some(&first) = widths.first() else {
            continue;
        };
        if first > 1 && widths.iter().all(|&w| w == first) && best.is_none_or(|(b, _)| first > b) {
            best = Some((first, d));
        }
    }
    best.map_or(b',', |(_, d)| d)
}

/// A line that is empty or only spaces: one field of whitespace.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].iter().all(|b| b.is_ascii_whitespace())
}

/// 1-based character columns where each field of the record at byte `start` begins, quotes
/// respected, up to the record's end.
fn field_columns(text: &[u8], start: usize, delimiter: u8) -> Vec<usize> {
    let line_start = text[..start.min(text.len())]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col_at = |i: usize| {
        String::from_utf8_lossy(&text[line_start..i])
            .chars()
            .count()
            + 1
    };
    let mut out = vec![col_at(start)];
    let mut quoted = false;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b if b == delimiter && !quoted => out.push(col_at(i + 1)),
            _ => {}
        }
        i += 1;
    }
    out.push(col_at(i));
    out
}

/// The records of a CSV text, column by column.
struct Records {
    header: Vec<String>,
    header_line: usize,
    columns: Vec<Vec<Option<String>>>,
    lines: Vec<u64>,
    offsets: Vec<u64>,
}

/// Reads the header (the first non-blank record) and every record after it, skipping blank
/// lines; every record must have the header's number of fields.
fn read_records(path: &Path, text: &[u8], delimiter: u8, sniffed: bool) -> Result<Records> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text);
    let mut record = csv::ByteRecord::new();
    let mut out = Records {
        header: Vec::new(),
        header_line: 1,
        columns: Vec::new(),
        lines: Vec::new(),
        offsets: Vec::new(),
    };
    let how = |what: &str| {
        if sniffed {
            format!(
                "{what} (delimiter `{}` detected from the first lines; set `[dataset] delimiter` if that is wrong)",
                Delimiter(delimiter).name()
            )
        } else {
            format!("{what} (delimiter `{}`)", Delimiter(delimiter).name())
        }
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if is_blank(&record) {
                    continue;
                }
                let pos = record
                    .position()
                    .cloned()
                    .unwrap_or_else(csv::Position::new);
                let (line, offset) = (pos.line(), pos.byte());
                if out.header.is_empty() {
                    out.header_line = line as usize;
                    out.header = header(path, text, &record, line as usize, offset, delimiter)?;
                    out.columns = vec![Vec::new(); out.header.len()];
                    continue;
                }
                let width = out.header.len();
                if record.len() != width {
                    let cols = field_columns(text, offset as usize, delimiter);
                    let column = cols.get(width).or(cols.last()).copied();
                    let mut message = how(&format!(
                        "ragged row: {} fields where the header has {width}",
                        record.len()
                    ));
                    if record.len() > width && delimiter == b',' {
                        message.push_str(
                            "; a decimal comma in an unquoted number splits it in two: quote such values or use `;` as the delimiter",
                        );
                    }
                    return Err(Error::data_at(path, line as usize, column, message));
                }
                for (values, field) in out.columns.iter_mut().zip(record.iter()) {
                    values.push(if field.is_empty() {
                        None
                    } else {
                        Some(String::from_utf8_lossy(field).into_owned())
                    });
                }
                out.lines.push(line);
                out.offsets.push(offset);
            }
            Err(e) => {
                let (line, column) = match e.position() {
                    Some(p) => {
                        let (l, c) = crate::config::line_col(text, p.byte() as usize);
                        (l, Some(c))
                    }
                    None => (1, None),
                };
                return Err(Error::data_at(path, line, column, format!("bad CSV: {e}")));
            }
        }
    }
    if out.lines.is_empty() {
        return Err(Error::data(path, "the file has a header but no data rows"));
    }
    Ok(out)
}

/// The header's column names: none empty, none twice.
fn header(
    path: &Path,
    text: &[u8],
    record: &csv::ByteRecord,
    line: usize,
    offset: u64,
    delimiter: u8,
) -> Result<Vec<String>> {
    let cols = field_columns(text, offset as usize, delimiter);
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::with_capacity(record.len());
    for (i, h) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(h).into_owned();
        let at = cols.get(i).copied();
        if name.trim().is_empty() {
            return Err(Error::data_at(
                path,
                line,
                at,
                format!("header field {} is empty: every column needs a name", i + 1),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(Error::data_at(
                path,
                line,
                at,
                format!("column `{name}` appears twice in the header"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Types every column: configured numeric features as Float64, categorical features, id and
/// target as text, `[dataset.schema]` overrides, and the rest inferred.
fn apply_types(loaded: &mut Loaded, dataset: &DatasetConfig, text: Option<&CsvText>) -> Result<()> {
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
        let field = loaded.df.get_column_index(&name).unwrap_or(0);
        let typed = type_column(loaded, &name, (&col, field), wanted, text)?;
        loaded.df.replace(&name, typed)?;
    }
    Ok(())
}

fn type_column(
    loaded: &Loaded,
    name: &str,
    (col, field): (&Column, usize),
    wanted: Option<ColumnType>,
    text: Option<&CsvText>,
) -> Result<Column> {
    let decimal = text.map_or(Decimal::Point, |t| t.decimal);
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
    let values = col.str()?;
    let parse_error = |row: usize, value: &str, what: &str| {
        let at = loaded.line_of(row);
        let message = format!("column `{name}`: cannot read `{value}` as {what}");
        match at {
            Some(line) => Error::data_at(
                &loaded.path,
                line,
                text.and_then(|t| t.column_of(row, field)),
                message,
            ),
            None => Error::data(&loaded.path, format!("row {}: {message}", row + 1)),
        }
    };
    let kind = match wanted {
        Some(t) => t,
        None => infer(col.str()?, decimal),
    };
    let pl_name = PlSmallStr::from(name);
    Ok(match kind {
        ColumnType::Str => col.clone(),
        ColumnType::Float => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(s) => Some(
                        parse_number(s, decimal).ok_or_else(|| parse_error(row, s, "a number"))?,
                    ),
                });
            }
            Column::new(pl_name, out)
        }
        ColumnType::Int => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
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
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(s) => Some(parse_bool(s).ok_or_else(|| parse_error(row, s, "a boolean"))?),
                });
            }
            Column::new(pl_name, out)
        }
    })
}

/// A finite number; with a decimal comma, `9,99` is 9.99 (a value with both marks is refused).
fn parse_number(s: &str, decimal: Decimal) -> Option<f64> {
    let v = match decimal {
        Decimal::Comma if s.contains(',') => {
            if s.contains('.') {
                return None;
            }
            s.replacen(',', ".", 1).parse::<f64>().ok()?
        }
        _ => s.parse::<f64>().ok()?,
    };
    v.is_finite().then_some(v)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Integer if every present value is one, float if every present value is a number, else text.
fn infer(text: &StringChunked, decimal: Decimal) -> ColumnType {
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
        if parse_number(v, decimal).is_none() {
            return ColumnType::Str;
        }
    }
    match (any, all_int) {
        (false, _) => ColumnType::Str,
        (true, true) => ColumnType::Int,
        (true, false) => ColumnType::Float,
    }
}
