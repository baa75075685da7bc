//! Raw records: the dataset columns a model's fitted preparation reads, their types, and the
//! cells that carry one record's values into [`super::prepare::Preparation`].
//!
//! The raw input schema is written as MLflow writes a model signature's inputs: a list of column
//! specs `{"type": "double" | "long" | "string" | "boolean", "name": ..., "required": ...}`
//! (MLflow `ColSpec`, serialised as a JSON string inside `signature.inputs` of an `MLmodel`).
//! A column's type is the type the dataset loader gave it (`data::load`): configured numeric
//! features are doubles, categorical features, the id and the target are strings, other columns
//! are inferred (integer, float or text) unless `[dataset.schema]` says otherwise.
//!
//! Training (a polars table) and scoring (a JSON or CSV request, a batch file) both turn their
//! values into [`Cell`]s, and everything after that is one code path.

use std::borrow::Cow;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// MLflow's column types, as far as a dataset column can have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawType {
    Double,
    Long,
    String,
    Boolean,
}

impl RawType {
    pub fn as_str(self) -> &'static str {
        match self {
            RawType::Double => "double",
            RawType::Long => "long",
            RawType::String => "string",
            RawType::Boolean => "boolean",
        }
    }

    /// The type a loaded polars column maps to: floats are doubles, integers longs, booleans
    /// booleans, anything else (text, dates) a string.
    pub fn of(dtype: &DataType) -> RawType {
        if dtype.is_float() {
            RawType::Double
        } else if dtype.is_integer() {
            RawType::Long
        } else if dtype == &DataType::Boolean {
            RawType::Boolean
        } else {
            RawType::String
        }
    }
}

impl std::fmt::Display for RawType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One raw input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: RawType,
}

/// The columns a model reads from a record, as they appear in the dataset file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSchema {
    /// Input columns, in the dataset file's order.
    pub inputs: Vec<RawColumn>,
    /// Whether every request must carry every input column. `false` (a pipeline model): a
    /// column absent from a request is missing in every record, as MLflow fills an optional
    /// column. `true` (format-1 models, whose inputs are prepared features): absence is an error.
    pub required: bool,
    /// The record id column, accepted for routing and logging (not an input).
    pub id: Option<String>,
    /// Other columns of the dataset file (the target, free text the pipeline does not read):
    /// accepted in a request and ignored.
    pub ignored: Vec<String>,
}

/// MLflow's `ColSpec` JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ColSpec {
    #[serde(rename = "type")]
    ty: RawType,
    name: String,
    #[serde(default = "default_required")]
    required: bool,
}

fn default_required() -> bool {
    true
}

impl RawSchema {
    /// Position of input `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|c| c.name == name)
    }

    /// Input names, in order.
    pub fn names(&self) -> Vec<String> {
        self.inputs.iter().map(|c| c.name.clone()).collect()
    }

    /// The inputs as MLflow's `signature.inputs`: a JSON string holding a list of column specs.
    pub fn mlflow_inputs(&self) -> String {
        let specs: Vec<ColSpec> = self
            .inputs
            .iter()
            .map(|c| ColSpec {
                ty: c.ty,
                name: c.name.clone(),
                required: self.required,
            })
            .collect();
        serde_json::to_string(&specs).expect("column specs serialize")
    }

    /// Reads MLflow's `signature.inputs` (a JSON string of column specs) back into columns and
    /// whether they are all required.
    pub fn parse_mlflow_inputs(text: &str) -> Result<(Vec<RawColumn>, bool)> {
        let specs: Vec<ColSpec> = serde_json::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "signature.inputs is not a list of MLflow column specs: {e}"
            ))
        })?;
        let required = specs.iter().all(|s| s.required);
        Ok((
            specs
                .into_iter()
                .map(|s| RawColumn {
                    name: s.name,
                    ty: s.ty,
                })
                .collect(),
            required,
        ))
    }
}

/// A text value where a number was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumber;

/// One value of a record on its way through the preparation.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    #[default]
    Null,
    Num(f64),
    Int(i64),
    Bool(bool),
    Text(String),
}

impl Cell {
    /// The value as text, as a text step reads it (numbers formatted, `None` for null).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null => None,
            Cell::Text(s) => Some(Cow::Borrowed(s)),
            Cell::Num(x) => Some(Cow::Owned(format!("{x:?}"))),
            Cell::Int(i) => Some(Cow::Owned(i.to_string())),
            Cell::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        }
    }

    /// The value as a number (`Ok(None)` for null); text is `Err`.
    pub fn number(&self) -> std::result::Result<Option<f64>, NotANumber> {
        match self {
            Cell::Null => Ok(None),
            Cell::Num(x) => Ok(Some(*x)),
            Cell::Int(i) => Ok(Some(*i as f64)),
            Cell::Bool(b) => Ok(Some(f64::from(u8::from(*b)))),
            Cell::Text(_) => Err(NotANumber),
        }
    }

    /// Converts the value to text in place (a text step's output is text).
    pub fn into_text(self) -> Cell {
        match self {
            Cell::Null | Cell::Text(_) => self,
            other => Cell::Text(other.text().map(Cow::into_owned).unwrap_or_default()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// Records in columns of cells, the columns in a [`RawSchema`]'s input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBatch {
    pub rows: usize,
    pub columns: Vec<Vec<Cell>>,
}

impl RawBatch {
    /// An empty batch of `columns` columns.
    pub fn new(columns: usize) -> RawBatch {
        RawBatch {
            rows: 0,
            columns: vec![Vec::new(); columns],
        }
    }

    /// The rows at `index`, in that order.
    pub fn select(&self, index: &[usize]) -> RawBatch {
        RawBatch {
            rows: index.len(),
            columns: self
                .columns
                .iter()
                .map(|c| index.iter().map(|&i| c[i].clone()).collect())
                .collect(),
        }
    }
}

/// The cells of a loaded column, by its polars type (floats, integers, booleans, text; anything
/// else as text).
pub fn column_cells(col: &Column) -> Result<Vec<Cell>> {
    let dtype = col.dtype();
    Ok(if dtype.is_float() {
        let c = col.cast(&DataType::Float64)?;
        c.f64()?
            .iter()
            .map(|v| v.filter(|x| !x.is_nan()).map_or(Cell::Null, Cell::Num))
            .collect()
    } else if dtype.is_integer() {
        let c = col.cast(&DataType::Int64)?;
        c.i64()?
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Int))
            .collect()
    } else if dtype == &DataType::Boolean {
        col.bool()?
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Bool))
            .collect()
    } else {
        let c = col.cast(&DataType::String)?;
        c.str()?
            .iter()
            .map(|v| v.map_or(Cell::Null, |s| Cell::Text(s.to_string())))
            .collect()
    })
}

/// The cells of a column read as the raw type `ty` (a batch file's column whose type differs
/// from training's: integers for a double column, and the like). Values that do not convert are
/// errors naming the column and the row (0-based within `df`).
pub fn typed_cells(col: &Column, ty: RawType) -> Result<Vec<Cell>> {
    let have = RawType::of(col.dtype());
    if have == ty {
        return column_cells(col);
    }
    let name = col.name().to_string();
    let cells = column_cells(col)?;
    cells
        .into_iter()
        .enumerate()
        .map(|(row, c)| {
            coerce(c, ty).map_err(|v| {
                Error::invalid(format!(
                    "row {}: column `{name}`: expected {ty}, got {v}",
                    row + 1
                ))
            })
        })
        .collect()
}

/// Converts a cell to `ty` where the value allows it (integers to doubles, integral doubles to
/// longs, numbers and booleans to text, `"true"`/`"false"` to booleans); `Err` describes the
/// value otherwise.
pub fn coerce(cell: Cell, ty: RawType) -> std::result::Result<Cell, String> {
    match (ty, cell) {
        (_, Cell::Null) => Ok(Cell::Null),
        (RawType::Double, Cell::Num(x)) => Ok(Cell::Num(x)),
        (RawType::Double, Cell::Int(i)) => Ok(Cell::Num(i as f64)),
        (RawType::Double, Cell::Bool(b)) => Ok(Cell::Num(f64::from(u8::from(b)))),
        (RawType::Long, Cell::Int(i)) => Ok(Cell::Int(i)),
        (RawType::Long, Cell::Num(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Ok(Cell::Int(x as i64))
        }
        (RawType::Long, Cell::Bool(b)) => Ok(Cell::Int(i64::from(b))),
        (RawType::Boolean, Cell::Bool(b)) => Ok(Cell::Bool(b)),
        (RawType::Boolean, Cell::Text(s)) if s == "true" || s == "false" => {
            Ok(Cell::Bool(s == "true"))
        }
        (RawType::String, c) => Ok(c.into_text()),
        (_, c) => Err(match &c {
            Cell::Text(s) => format!("the text {:?}", s.chars().take(40).collect::<String>()),
            other => format!("{:?}", other),
        }),
    }
}

/// A JSON value read as raw type `ty`: `double` takes numbers and booleans (1/0), `long`
/// integers (and integral numbers) and booleans, `string` strings, `boolean` booleans; null is
/// missing for every type. NaN and infinities cannot occur (they are not JSON). `Err` says what
/// was expected.
pub fn json_cell(v: &serde_json::Value, ty: RawType) -> std::result::Result<Cell, &'static str> {
    use serde_json::Value;
    match (ty, v) {
        (_, Value::Null) => Ok(Cell::Null),
        (RawType::Double, Value::Bool(b)) => Ok(Cell::Num(f64::from(u8::from(*b)))),
        (RawType::Double, Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(Cell::Num(x)),
            _ => Err("a finite number (or null)"),
        },
        (RawType::Double, _) => Err("a number (or null)"),
        (RawType::Long, Value::Bool(b)) => Ok(Cell::Int(i64::from(*b))),
        (RawType::Long, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Cell::Int(i)),
            (None, Some(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Cell::Int(x as i64)),
            _ => Err("an integer (or null)"),
        },
        (RawType::Long, _) => Err("an integer (or null)"),
        (RawType::String, Value::String(s)) => Ok(Cell::Text(s.clone())),
        (RawType::String, _) => Err("a string (or null)"),
        (RawType::Boolean, Value::Bool(b)) => Ok(Cell::Bool(*b)),
        (RawType::Boolean, _) => Err("true or false (or null)"),
    }
}

/// A CSV field read as raw type `ty`, as the dataset loader reads it (`data::load`): numbers
/// and booleans trimmed (`true`/`yes`/`1`, `false`/`no`/`0`), text as is; an empty field is
/// missing. `Err` says what was expected.
pub fn parse_field(field: &str, ty: RawType) -> std::result::Result<Cell, &'static str> {
    if field.is_empty() {
        return Ok(Cell::Null);
    }
    let t = field.trim();
    if ty != RawType::String && t.is_empty() {
        return Ok(Cell::Null);
    }
    match ty {
        RawType::String => Ok(Cell::Text(field.to_string())),
        RawType::Double => t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Cell::Num)
            .ok_or("a finite number or an empty field"),
        RawType::Long => t
            .parse::<i64>()
            .map(Cell::Int)
            .map_err(|_| "an integer or an empty field"),
        RawType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Cell::Bool(true)),
            "false" | "no" | "0" => Ok(Cell::Bool(false)),
            _ => Err("true or false, or an empty field"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_inputs_round_trip() {
        let s = RawSchema {
            inputs: vec![
                RawColumn {
                    name: "ALIGN".into(),
                    ty: RawType::String,
                },
                RawColumn {
                    name: "Year".into(),
                    ty: RawType::Double,
                },
            ],
            required: false,
            id: None,
            ignored: vec![],
        };
        let text = s.mlflow_inputs();
        assert_eq!(
            text,
            r#"[{"type":"string","name":"ALIGN","required":false},{"type":"double","name":"Year","required":false}]"#
        );
        let (cols, required) = RawSchema::parse_mlflow_inputs(&text).unwrap();
        assert_eq!(cols, s.inputs);
        assert!(!required);
    }

    #[test]
    fn cells_read_as_text_and_numbers() {
        assert_eq!(Cell::Num(3.0).text().as_deref(), Some("3.0"));
        assert_eq!(Cell::Int(3).text().as_deref(), Some("3"));
        assert_eq!(Cell::Int(3).number(), Ok(Some(3.0)));
        assert_eq!(Cell::Text("x".into()).number(), Err(NotANumber));
        assert_eq!(coerce(Cell::Num(2.0), RawType::Long), Ok(Cell::Int(2)));
        assert!(coerce(Cell::Num(2.5), RawType::Long).is_err());
    }
}
