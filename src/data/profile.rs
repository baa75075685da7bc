//! Column profiles: type, nulls, distinct values, numeric summary or top categories, histogram.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnProfile {
    pub name: String,
    pub dtype: String,
    pub nulls: usize,
    pub distinct: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericSummary>,
    /// Most frequent values (at most 10), for text columns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, usize)>,
    /// Equal-width histogram for numeric columns: `(lower edge, count)`, last bin closed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<(f64, usize)>,
}

impl ColumnProfile {
    /// The `n` most frequent values with their counts, as `value (count), ...`.
    pub fn top_values(&self, n: usize) -> String {
        self.top
            .iter()
            .take(n)
            .map(|(v, c)| format!("{v} ({c})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NumericSummary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub median: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Profile {
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
}

const HISTOGRAM_BINS: usize = 20;
const TOP_VALUES: usize = 10;

pub fn profile(df: &DataFrame) -> Result<Profile> {
    let mut columns = Vec::new();
    for col in df.columns() {
        let name = col.name().to_string();
        let dtype = col.dtype().to_string();
        let nulls = col.null_count();
        if col.dtype().is_primitive_numeric() || col.dtype() == &DataType::Boolean {
            let values: Vec<f64> = col
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .flatten()
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let mut uniq = sorted.clone();
            uniq.dedup();
            let numeric = summary(&sorted);
            let histogram = numeric
                .as_ref()
                .map(|s| histogram(&values, s.min, s.max))
                .unwrap_or_default();
            columns.push(ColumnProfile {
                name,
                dtype,
                nulls,
                distinct: uniq.len(),
                numeric,
                top: Vec::new(),
                histogram,
            });
        } else {
            let text = col.cast(&DataType::String)?;
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for v in text.str()?.iter().flatten() {
                *counts.entry(v).or_default() += 1;
            }
            let distinct = counts.len();
            let mut top: Vec<(String, usize)> = counts
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(TOP_VALUES);
            columns.push(ColumnProfile {
                name,
                dtype,
                nulls,
                distinct,
                numeric: None,
                top,
                histogram: Vec::new(),
            });
        }
    }
    Ok(Profile {
        rows: df.height(),
        columns,
    })
}

fn summary(sorted: &[f64]) -> Option<NumericSummary> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let var = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(NumericSummary {
        min: sorted[0],
        max: sorted[n - 1],
        mean,
        std: var.sqrt(),
        median,
    })
}

fn histogram(values: &[f64], min: f64, max: f64) -> Vec<(f64, usize)> {
    let width = (max - min) / HISTOGRAM_BINS as f64;
    if width <= 0.0 {
        return vec![(min, values.len())];
    }
    let mut counts = vec![0usize; HISTOGRAM_BINS];
    for v in values {
        let b = (((v - min) / width) as usize).min(HISTOGRAM_BINS - 1);
        counts[b] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (min + i as f64 * width, c))
        .collect()
}
