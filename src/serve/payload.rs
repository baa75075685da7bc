//! Request payloads of MLflow's scoring server (and Databricks serving endpoints), read into a
//! [`RawBatch`] in the order of the model's raw input schema ([`RawSchema`]) and checked
//! against it.
//!
//! A JSON body is an object with exactly one of `dataframe_split` (`{columns, data}`),
//! `dataframe_records` (`[{column: value}]`), `instances` or `inputs` (records, rows of values in
//! input order, or for `inputs` also an object of columns), plus optionally `params` and
//! `client_request_id`. A `text/csv` body has a header row. Values are checked strictly against
//! the input's MLflow type: `double` takes numbers, booleans (as 1/0) and null; `long` takes
//! integers and null; `string` takes strings and null; `boolean` takes true, false and null.
//! NaN and infinities are refused (they are not JSON, and in CSV they are refused explicitly).
//! A pipeline model reads raw records, as the dataset file holds them: the other columns of
//! the dataset file (the target, free text it does not read) are accepted and ignored, and a
//! column absent from the whole request is missing in every record (MLflow's optional
//! columns). A format-1 model takes its prepared features, and each of them must appear
//! somewhere in the request. The record id column (if the model has one) may be sent and is
//! used for sticky routing; a column that is none of these is an error naming it. A key missing
//! from a single record is a missing value, as pandas reads it.
//!
//! Parsing never panics on any input (a seeded fuzz test feeds it random bytes).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::data::raw::{Cell, RawBatch, RawSchema, RawType};
use crate::data::raw::{json_cell, parse_field};

/// Why a payload was refused. Each maps to an HTTP status and an MLflow-style error code.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    /// The body is not JSON; line and column are 1-based.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is not valid CSV, or a field does not parse; `column` is the 1-based field.
    #[error("malformed CSV at line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Csv {
        line: u64,
        column: Option<usize>,
        message: String,
    },
    /// Well-formed but not what the model takes.
    #[error("{0}")]
    Schema(String),
    #[error("too many records in one request: {rows} (the limit is {limit}; split the request)")]
    TooManyRows { rows: usize, limit: usize },
    #[error(
        "unsupported content type `{0}`: send `application/json` (MLflow's JSON formats) or `text/csv`"
    )]
    ContentType(String),
}

impl PayloadError {
    /// HTTP status and MLflow `error_code` of this error.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            PayloadError::Json { .. } | PayloadError::Csv { .. } => (400, "MALFORMED_REQUEST"),
            PayloadError::Schema(_) => (400, "BAD_REQUEST"),
            PayloadError::TooManyRows { .. } => (400, "INVALID_PARAMETER_VALUE"),
            PayloadError::ContentType(_) => (415, "UNSUPPORTED_MEDIA_TYPE"),
        }
    }
}

type Result<T> = std::result::Result<T, PayloadError>;

fn schema_err(message: impl Into<String>) -> PayloadError {
    PayloadError::Schema(message.into())
}

/// Where a column of the request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Raw input `i`, of its type.
    Input(usize, RawType),
    Id,
    /// A dataset column the model does not read.
    Ignored,
}

/// A raw input schema prepared for parsing: names in input order and the slot of every accepted
/// column. Built once per loaded model.
#[derive(Debug, Clone)]
pub struct InputSchema {
    /// Input columns, in the raw schema's order.
    pub inputs: Vec<String>,
    pub types: Vec<RawType>,
    /// Whether each input must appear in a request (format-1 models).
    pub required: bool,
    /// The record id column, accepted for routing and logging (not a model input).
    pub id: Option<String>,
    ignored: usize,
    slots: HashMap<String, Slot>,
}

impl InputSchema {
    pub fn new(raw: &RawSchema) -> InputSchema {
        let mut slots = HashMap::new();
        for (i, c) in raw.inputs.iter().enumerate() {
            slots.insert(c.name.clone(), Slot::Input(i, c.ty));
        }
        if let Some(id) = &raw.id {
            slots.entry(id.clone()).or_insert(Slot::Id);
        }
        for name in &raw.ignored {
            slots.entry(name.clone()).or_insert(Slot::Ignored);
        }
        InputSchema {
            inputs: raw.names(),
            types: raw.inputs.iter().map(|c| c.ty).collect(),
            required: raw.required,
            id: raw.id.clone(),
            ignored: raw.ignored.len(),
            slots,
        }
    }

    /// True when both take the same input columns with the same types (so one parse serves
    /// both arms of a traffic split).
    pub fn same_inputs(&self, other: &InputSchema) -> bool {
        self.inputs == other.inputs && self.types == other.types && self.required == other.required
    }

    fn slot(&self, name: &str, at: &str) -> Result<Slot> {
        self.slots.get(name).copied().ok_or_else(|| {
            let names: Vec<&str> = self.slots.keys().map(String::as_str).collect();
            let hint = crate::error::closest(name, &names)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            schema_err(format!(
                "{at}: unknown column `{name}`{hint}; the model reads {}{}{}",
                quoted(&self.inputs),
                self.id
                    .as_ref()
                    .map(|i| format!(" and the record id `{i}`"))
                    .unwrap_or_default(),
                if self.ignored > 0 {
                    format!(
                        " (the {} other columns of its dataset file are accepted and ignored)",
                        self.ignored
                    )
                } else {
                    String::new()
                }
            ))
        })
    }
}

fn quoted(names: &[String]) -> String {
    let mut s = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "`{n}`");
    }
    s
}

/// What the client asked for besides predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Add `probabilities` (positive class) next to `predictions`.
    pub probabilities: bool,
    /// `params.predict_method = "predict_proba"`: predictions become `[p(0), p(1)]` pairs.
    pub predict_proba: bool,
    /// `params.explain = true`: add each record's per-feature contributions.
    pub explain: bool,
}

/// A parsed request: the raw records in input order, the record ids if sent, and options.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub batch: RawBatch,
    pub ids: Vec<Option<String>>,
    pub options: Options,
    /// Databricks' `client_request_id` field, if the body had one.
    pub client_request_id: Option<String>,
}

impl Parsed {
    pub fn rows(&self) -> usize {
        self.batch.rows
    }

    /// The rows at `index`, in that order (for one arm of a split request).
    pub fn select(&self, index: &[usize]) -> RawBatch {
        self.batch.select(index)
    }
}

/// The kind of body, from the `Content-Type` header (parameters such as `charset` ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Csv,
}

pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind> {
    let raw = content_type.unwrap_or("");
    let essence = raw.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(BodyKind::Json)
    } else if essence.eq_ignore_ascii_case("text/csv") {
        Ok(BodyKind::Csv)
    } else if raw.is_empty() {
        Err(PayloadError::ContentType("(none)".into()))
    } else {
        Err(PayloadError::ContentType(raw.chars().take(100).collect()))
    }
}

/// Parses a request body of the given content type against `schema`.
pub fn parse(
    content_type: Option<&str>,
    body: &[u8],
    schema: &InputSchema,
    max_rows: usize,
) -> Result<Parsed> {
    match body_kind(content_type)? {
        BodyKind::Json => parse_json(body, schema, max_rows),
        BodyKind::Csv => parse_csv(body, schema, max_rows),
    }
}

/// The four input fields of MLflow's scoring protocol.
const INPUT_FIELDS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

pub fn parse_json(body: &[u8], schema: &InputSchema, max_rows: usize) -> Result<Parsed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let mut message = e.to_string();
        // serde_json appends " at line L column C"; the variant carries them already.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        let looks_nan = [&b"NaN"[..], b"Infinity"]
            .iter()
            .any(|w| body.windows(w.len()).any(|x| x == *w));
        if looks_nan {
            message.push_str(" (NaN and Infinity are not JSON; send null for a missing number)");
        }
        PayloadError::Json {
            line: e.line().max(1),
            column: e.column().max(1),
            message,
        }
    })?;
    let Value::Object(mut top) = value else {
        return Err(schema_err(format!(
            "the body must be a JSON object with exactly one of the fields {}, got {}",
            field_list(),
            kind(&value)
        )));
    };
    let options = match top.remove("params") {
        None | Some(Value::Null) => Options::default(),
        Some(Value::Object(p)) => parse_params(&p)?,
        Some(other) => {
            return Err(schema_err(format!(
                "`params` must be an object, got {}",
                kind(&other)
            )));
        }
    };
    let client_request_id = match top.remove("client_request_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(schema_err(format!(
                "`client_request_id` must be a string, got {}",
                kind(&other)
            )));
        }
    };
    let present: Vec<&str> = INPUT_FIELDS
        .iter()
        .copied()
        .filter(|f| top.contains_key(*f))
        .collect();
    let unknown: Vec<String> = top
        .keys()
        .filter(|k| !INPUT_FIELDS.contains(&k.as_str()))
        .map(|k| format!("`{k}`"))
        .collect();
    if present.len() != 1 || !unknown.is_empty() {
        let mut got: Vec<String> = top.keys().map(|k| format!("`{k}`")).collect();
        got.sort();
        return Err(schema_err(format!(
            "the body must be a JSON object with exactly one of the fields {}{}; got {}",
            field_list(),
            " (and optionally `params`, `client_request_id`)",
            if got.is_empty() {
                "no fields".to_string()
            } else {
                got.join(", ")
            }
        )));
    }
    let field = present[0];
    let data = top.remove(field).unwrap_or(Value::Null);
    let mut b = Builder::new(schema);
    match (field, data) {
        ("dataframe_split", Value::Object(split)) => b.split(&split, max_rows)?,
        ("dataframe_records", Value::Array(rows)) => b.rows(field, &rows, false, max_rows)?,
        ("instances", Value::Array(rows)) | ("inputs", Value::Array(rows)) => {
            b.rows(field, &rows, true, max_rows)?
        }
        ("inputs", Value::Object(cols)) => b.columns(field, &cols, max_rows)?,
        (f, other) => {
            let want = match f {
                "dataframe_split" => "an object {\"columns\": [...], \"data\": [[...]]}",
                "dataframe_records" => "an array of records",
                "instances" => "an array of records or rows",
                _ => "an array of records or rows, or an object of columns",
            };
            return Err(schema_err(format!(
                "`{f}` must be {want}, got {}",
                kind(&other)
            )));
        }
    }
    b.finish(options, client_request_id)
}

fn field_list() -> String {
    INPUT_FIELDS.map(|f| format!("`{f}`")).join(", ")
}

fn parse_params(p: &Map<String, Value>) -> Result<Options> {
    let mut o = Options::default();
    for (k, v) in p {
        match (k.as_str(), v) {
            ("probabilities", Value::Bool(b)) => o.probabilities = *b,
            ("explain", Value::Bool(b)) => o.explain = *b,
            ("predict_method", Value::String(m)) if m == "predict" => o.predict_proba = false,
            ("predict_method", Value::String(m)) if m == "predict_proba" => o.predict_proba = true,
            ("probabilities", _) => {
                return Err(schema_err("`params.probabilities` must be true or false"));
            }
            ("explain", _) => {
                return Err(schema_err("`params.explain` must be true or false"));
            }
            ("predict_method", _) => {
                return Err(schema_err(
                    "`params.predict_method` must be \"predict\" or \"predict_proba\"",
                ));
            }
            (other, _) => {
                return Err(schema_err(format!(
                    "unknown parameter `params.{other}`: this endpoint takes `probabilities` (true/false), `explain` (true/false) and `predict_method` (\"predict\"/\"predict_proba\")"
                )));
            }
        }
    }
    Ok(o)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Accumulates columns while a payload is read.
struct Builder<'a> {
    schema: &'a InputSchema,
    batch: RawBatch,
    ids: Vec<Option<String>>,
    /// Which inputs appeared anywhere in the request.
    seen: Vec<bool>,
}

impl<'a> Builder<'a> {
    fn new(schema: &'a InputSchema) -> Builder<'a> {
        Builder {
            schema,
            batch: RawBatch::new(schema.inputs.len()),
            ids: Vec::new(),
            seen: vec![false; schema.inputs.len()],
        }
    }

    fn check_rows(&self, n: usize, limit: usize) -> Result<()> {
        if n == 0 {
            return Err(schema_err("no records: send at least one"));
        }
        if n > limit {
            return Err(PayloadError::TooManyRows { rows: n, limit });
        }
        Ok(())
    }

    fn reserve(&mut self, n: usize) {
        for c in &mut self.batch.columns {
            c.reserve(n);
        }
        self.ids.reserve(n);
    }

    /// Appends a row of missing values.
    fn push_empty(&mut self) {
        for c in &mut self.batch.columns {
            c.push(Cell::Null);
        }
        self.ids.push(None);
        self.batch.rows += 1;
    }

    /// Sets column `slot` of row `row`.
    fn set_at(&mut self, row: usize, slot: Slot, v: &Value, at: &dyn Fn() -> String) -> Result<()> {
        match slot {
            Slot::Input(i, ty) => {
                self.seen[i] = true;
                self.batch.columns[i][row] = cell(v, ty, at)?;
            }
            Slot::Id => self.ids[row] = id(v, at)?,
            Slot::Ignored => {}
        }
        Ok(())
    }

    /// Sets column `slot` of the last row.
    fn set(&mut self, slot: Slot, v: &Value, at: &dyn Fn() -> String) -> Result<()> {
        let last = self.batch.rows - 1;
        self.set_at(last, slot, v, at)
    }

    /// Records (objects keyed by column) or, when `positional`, rows of values in input order.
    fn rows(&mut self, field: &str, rows: &[Value], positional: bool, limit: usize) -> Result<()> {
        self.check_rows(rows.len(), limit)?;
        self.reserve(rows.len());
        for (r, row) in rows.iter().enumerate() {
            self.push_empty();
            match row {
                Value::Object(rec) => {
                    for (k, v) in rec {
                        let slot = self.schema.slot(k, &format!("{field}[{r}]"))?;
                        self.set(slot, v, &|| format!("{field}[{r}].{k}"))?;
                    }
                }
                Value::Array(vals) if positional => {
                    if vals.len() != self.schema.inputs.len() {
                        return Err(schema_err(format!(
                            "{field}[{r}] has {} values; a row in input order needs {} ({})",
                            vals.len(),
                            self.schema.inputs.len(),
                            quoted(&self.schema.inputs)
                        )));
                    }
                    for (c, v) in vals.iter().enumerate() {
                        let slot = Slot::Input(c, self.schema.types[c]);
                        let name = &self.schema.inputs[c];
                        self.set(slot, v, &|| format!("{field}[{r}][{c}] ({name})"))?;
                    }
                }
                other => {
                    return Err(schema_err(format!(
                        "{field}[{r}] must be {}, got {}",
                        if positional {
                            "a record (object) or a row (array)"
                        } else {
                            "a record (object)"
                        },
                        kind(other)
                    )));
                }
            }
        }
        Ok(())
    }

    /// pandas' `split` orientation: `{"columns": [...], "data": [[...]], "index": [...]}`.
    fn split(&mut self, split: &Map<String, Value>, limit: usize) -> Result<()> {
        for k in split.keys() {
            if !matches!(k.as_str(), "columns" | "data" | "index") {
                return Err(schema_err(format!(
                    "dataframe_split: unknown field `{k}` (expected `columns`, `data` and optionally `index`)"
                )));
            }
        }
        let Some(Value::Array(columns)) = split.get("columns") else {
            return Err(schema_err(
                "dataframe_split.columns must be an array of column names",
            ));
        };
        let Some(Value::Array(data)) = split.get("data") else {
            return Err(schema_err("dataframe_split.data must be an array of rows"));
        };
        let mut slots = Vec::with_capacity(columns.len());
        let mut names = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            let Value::String(name) = c else {
                return Err(schema_err(format!(
                    "dataframe_split.columns[{i}] must be a string, got {}",
                    kind(c)
                )));
            };
            if names.contains(&name) {
                return Err(schema_err(format!(
                    "dataframe_split.columns: column `{name}` appears twice"
                )));
            }
            slots.push(self.schema.slot(name, "dataframe_split.columns")?);
            names.push(name);
        }
        self.check_rows(data.len(), limit)?;
        self.reserve(data.len());
        for (r, row) in data.iter().enumerate() {
            let Value::Array(vals) = row else {
                return Err(schema_err(format!(
                    "dataframe_split.data[{r}] must be an array, got {}",
                    kind(row)
                )));
            };
            if vals.len() != slots.len() {
                return Err(schema_err(format!(
                    "dataframe_split.data[{r}] has {} values for {} columns",
                    vals.len(),
                    slots.len()
                )));
            }
            self.push_empty();
            for (c, v) in vals.iter().enumerate() {
                let name = names[c];
                self.set(slots[c], v, &|| {
                    format!("dataframe_split.data[{r}][{c}] ({name})")
                })?;
            }
        }
        Ok(())
    }

    /// TensorFlow serving's columnar `inputs`: `{"column": [values]}`.
    fn columns(&mut self, field: &str, cols: &Map<String, Value>, limit: usize) -> Result<()> {
        let mut len = None;
        for (name, v) in cols {
            let Value::Array(vals) = v else {
                return Err(schema_err(format!(
                    "{field}.{name} must be an array of values, got {}",
                    kind(v)
                )));
            };
            match len {
                None => len = Some(vals.len()),
                Some(n) if n != vals.len() => {
                    return Err(schema_err(format!(
                        "{field}: columns have different lengths ({n} and {} for `{name}`)",
                        vals.len()
                    )));
                }
                Some(_) => {}
            }
        }
        let n = len.unwrap_or(0);
        self.check_rows(n, limit)?;
        self.reserve(n);
        for _ in 0..n {
            self.push_empty();
        }
        for (name, v) in cols {
            let slot = self.schema.slot(name, field)?;
            let Value::Array(vals) = v else { continue };
            for (r, v) in vals.iter().enumerate() {
                // Sets row r directly (push_empty made them all).
                self.set_at(r, slot, v, &|| format!("{field}.{name}[{r}]"))?;
            }
        }
        Ok(())
    }

    fn finish(self, options: Options, client_request_id: Option<String>) -> Result<Parsed> {
        if !self.schema.required {
            return Ok(Parsed {
                batch: self.batch,
                ids: self.ids,
                options,
                client_request_id,
            });
        }
        let missing: Vec<String> = self
            .seen
            .iter()
            .zip(&self.schema.inputs)
            .filter(|(seen, _)| !**seen)
            .map(|(_, n)| n.clone())
            .collect();
        if !missing.is_empty() {
            return Err(schema_err(format!(
                "missing column{} {} (send null for a missing value)",
                if missing.len() > 1 { "s" } else { "" },
                quoted(&missing)
            )));
        }
        Ok(Parsed {
            batch: self.batch,
            ids: self.ids,
            options,
            client_request_id,
        })
    }
}

/// A JSON value as a cell of an input of type `ty`; the error names the place.
fn cell(v: &Value, ty: RawType, at: &dyn Fn() -> String) -> Result<Cell> {
    json_cell(v, ty).map_err(|expected| match v {
        Value::Number(n) if ty == RawType::Double => {
            schema_err(format!("{}: number {n} is out of range", at()))
        }
        other => schema_err(format!(
            "{}: expected {expected}, got {}",
            at(),
            describe(other)
        )),
    })
}

fn id(v: &Value, at: &dyn Fn() -> String) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(schema_err(format!(
            "{}: a record id must be a string or a number, got {}",
            at(),
            kind(other)
        ))),
    }
}

/// A value for an error message: its kind and, if short, the value itself.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= 40 {
        format!("{} {text}", kind(v))
    } else {
        kind(v).to_string()
    }
}

/// A CSV body with a header row. Empty fields are missing values.
pub fn parse_csv(body: &[u8], schema: &InputSchema, max_rows: usize) -> Result<Parsed> {
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields, the header has {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
            _ => e.to_string(),
        };
        PayloadError::Csv {
            line,
            column: None,
            message,
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let headers = reader.headers().map_err(csv_err)?.clone();
    let mut slots = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim();
        if headers.iter().take(i).any(|p| p.trim() == h) {
            return Err(PayloadError::Csv {
                line: 1,
                column: Some(i + 1),
                message: format!("column `{h}` appears twice"),
            });
        }
        let slot = schema
            .slot(h, "CSV header")
            .map_err(|e| PayloadError::Csv {
                line: 1,
                column: Some(i + 1),
                message: e.to_string(),
            })?;
        slots.push(slot);
    }
    let mut b = Builder::new(schema);
    for &slot in &slots {
        if let Slot::Input(i, _) = slot {
            b.seen[i] = true;
        }
    }
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_err)? {
        if b.batch.rows >= max_rows {
            return Err(PayloadError::TooManyRows {
                rows: b.batch.rows + 1,
                limit: max_rows,
            });
        }
        let line = record.position().map_or(0, |p| p.line());
        b.push_empty();
        let last = b.batch.rows - 1;
        for (c, field) in record.iter().enumerate() {
            let Some(&slot) = slots.get(c) else { break };
            // Format-1 models trimmed every field; raw text is kept as the loader keeps it.
            let field = if schema.required { field.trim() } else { field };
            match slot {
                Slot::Input(i, ty) => {
                    b.batch.columns[i][last] =
                        parse_field(field, ty).map_err(|expected| PayloadError::Csv {
                            line,
                            column: Some(c + 1),
                            message: format!(
                                "`{}`: expected {expected}, got {:?}",
                                schema.inputs[i],
                                field.chars().take(40).collect::<String>()
                            ),
                        })?;
                }
                Slot::Id if !field.trim().is_empty() => {
                    b.ids[last] = Some(field.trim().to_string())
                }
                Slot::Id | Slot::Ignored => {}
            }
        }
    }
    if b.batch.rows == 0 {
        return Err(schema_err("no records: the CSV body has a header only"));
    }
    b.finish(Options::default(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> InputSchema {
        InputSchema::new(
            &crate::data::prepare::Preparation::identity(&crate::data::schema::Signature {
                numeric: vec!["age".into(), "n".into()],
                categorical: vec!["color".into()],
                id: Some("id".into()),
                target: "y".into(),
                positive: "yes".into(),
                raw_inputs: None,
            })
            .schema,
        )
    }

    /// A pipeline model's raw schema: optional inputs, other dataset columns ignored.
    fn raw_schema() -> InputSchema {
        use crate::data::raw::RawColumn;
        let col = |name: &str, ty| RawColumn {
            name: name.into(),
            ty,
        };
        InputSchema::new(&RawSchema {
            inputs: vec![
                col("name", RawType::String),
                col("ALIGN", RawType::String),
                col("Year", RawType::Double),
                col("N", RawType::Long),
            ],
            required: false,
            id: Some("page_id".into()),
            ignored: vec!["urlslug".into(), "ALIVE".into()],
        })
    }

    fn json(body: &str) -> Result<Parsed> {
        parse(Some("application/json"), body.as_bytes(), &schema(), 100)
    }

    fn check_one(p: &Parsed) {
        assert_eq!(p.rows(), 1);
        assert_eq!(
            p.batch.columns,
            vec![
                vec![Cell::Num(3.0)],
                vec![Cell::Null],
                vec![Cell::Text("red".into())]
            ]
        );
    }

    #[test]
    fn raw_records_accept_dataset_columns_and_miss_absent_ones() {
        let s = raw_schema();
        let body = br#"{"dataframe_records": [{"page_id": 7, "name": "Ada (Earth-616)", "urlslug": "x", "ALIVE": "Living Characters", "ALIGN": null, "N": 2}]}"#;
        let p = parse(Some("application/json"), body, &s, 10).unwrap();
        assert_eq!(p.ids, vec![Some("7".into())]);
        assert_eq!(
            p.batch.columns,
            vec![
                vec![Cell::Text("Ada (Earth-616)".into())],
                vec![Cell::Null],
                vec![Cell::Null],
                vec![Cell::Int(2)]
            ]
        );
        let e = parse(
            Some("application/json"),
            br#"{"dataframe_records": [{"GSM": "x"}]}"#,
            &s,
            10,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown column `GSM`"), "{e}");
        let e = parse(
            Some("application/json"),
            br#"{"dataframe_records": [{"N": 2.5}]}"#,
            &s,
            10,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("dataframe_records[0].N: expected an integer"),
            "{e}"
        );
        // CSV keeps text as the dataset loader does (untrimmed), numbers parse as it parses them.
        let p = parse(
            Some("text/csv"),
            b"page_id,name,urlslug,Year,N\n1, Ada ,x, 1990 ,\n",
            &s,
            10,
        )
        .unwrap();
        assert_eq!(p.batch.columns[0], vec![Cell::Text(" Ada ".into())]);
        assert_eq!(p.batch.columns[2], vec![Cell::Num(1990.0)]);
        assert_eq!(p.batch.columns[3], vec![Cell::Null]);
    }

    #[test]
    fn every_format_reads_the_same_record() {
        for body in [
            r#"{"dataframe_split": {"columns": ["age", "n", "color"], "data": [[3, null, "red"]]}}"#,
            r#"{"dataframe_records": [{"age": 3, "n": null, "color": "red"}]}"#,
            r#"{"instances": [{"age": 3, "n": null, "color": "red"}]}"#,
            r#"{"instances": [[3, null, "red"]]}"#,
            r#"{"inputs": {"age": [3], "n": [null], "color": ["red"]}}"#,
            r#"{"inputs": [{"age": 3, "color": "red", "n": null}]}"#,
        ] {
            check_one(&json(body).unwrap_or_else(|e| panic!("{body}: {e}")));
        }
        let csv = parse(
            Some("text/csv; charset=utf-8"),
            b"age,n,color\n3,,red\n",
            &schema(),
            100,
        )
        .unwrap();
        check_one(&csv);
    }

    #[test]
    fn ids_params_and_client_ids_are_read() {
        let p = json(
            r#"{"dataframe_records": [{"id": 7, "age": 1, "n": 2, "color": "x"}, {"id": "a", "age": 1, "n": 2, "color": null}],
                "params": {"probabilities": true}, "client_request_id": "c-1"}"#,
        )
        .unwrap();
        assert_eq!(p.ids, vec![Some("7".into()), Some("a".into())]);
        assert!(p.options.probabilities && !p.options.predict_proba);
        assert_eq!(p.client_request_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn errors_name_the_place() {
        let e = json("{\n  \"dataframe_records\": [\n    {\"age\": 1,}\n]}").unwrap_err();
        assert!(matches!(e, PayloadError::Json { line: 3, .. }), "{e:?}");
        let e = json(r#"{"dataframe_records": [{"age": NaN}]}"#).unwrap_err();
        assert!(e.to_string().contains("NaN and Infinity"), "{e}");
        let e = json(r#"{"dataframe_records": [{"age": 1, "n": 2}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing column `color` (send null for a missing value)"
        );
        let e = json(r#"{"dataframe_records": [{"age": 1, "n": 2, "colour": "r"}]}"#).unwrap_err();
        assert!(e.to_string().contains("did you mean `color`"), "{e}");
        let e =
            json(r#"{"dataframe_records": [{"age": "old", "n": 2, "color": "r"}]}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("dataframe_records[0].age: expected a number"),
            "{e}"
        );
        let e = json(r#"{"dataframe_records": [], "instances": []}"#).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let e = parse(Some("text/plain"), b"x", &schema(), 10).unwrap_err();
        assert_eq!(e.status_and_code().0, 415);
        let e = parse(Some("text/csv"), b"age,n,color\n1,inf,r\n", &schema(), 10).unwrap_err();
        assert!(
            matches!(
                e,
                PayloadError::Csv {
                    line: 2,
                    column: Some(2),
                    ..
                }
            ),
            "{e:?}"
        );
        let rows = [r#"{"age":1,"n":1,"color":"a"}"#; 11].join(",");
        let e = parse(
            Some("application/json"),
            format!(r#"{{"instances": [{rows}]}}"#).as_bytes(),
            &schema(),
            10,
        )
        .unwrap_err();
        assert_eq!(
            e,
            PayloadError::TooManyRows {
                rows: 11,
                limit: 10
            }
        );
    }

    /// A small xorshift generator, so the fuzz run is the same every time.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_and_mutated_bodies_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let seeds: [&[u8]; 4] = [
            br#"{"dataframe_split": {"columns": ["age", "n", "color", "id"], "data": [[3, null, "red", 1]]}}"#,
            br#"{"inputs": {"age": [3], "n": [null], "color": ["red"]}, "params": {"probabilities": true}}"#,
            br#"{"instances": [[3, 1e308, "red"], {"age": -0.0, "n": 1, "color": ""}]}"#,
            b"age,n,color,id\n3,,red,1\n4,5,\"b,lue\",2\n",
        ];
        let s = schema();
        for i in 0..20_000 {
            let body: Vec<u8> = if i % 2 == 0 {
                let len = (rng.next() % 96) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut b = seeds[(rng.next() % 4) as usize].to_vec();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % (b.len() + 1);
                    match rng.next() % 3 {
                        0 if at < b.len() => b[at] = rng.next() as u8,
                        1 if at < b.len() => {
                            b.remove(at);
                        }
                        _ => {
                            let alphabet = b"{}[],\":0en-\n";
                            b.insert(at, alphabet[(rng.next() as usize) % alphabet.len()])
                        }
                    }
                }
                b
            };
            for ct in ["application/json", "text/csv"] {
                let _ = parse(Some(ct), &body, &s, 50);
            }
        }
    }
}
