//! Config-driven preparation steps on a loaded table.
//!
//! Steps run in order on the whole raw table (before the split). Each step checks that the
//! columns it reads exist (the error points at the step in `config.toml`) and reports what it
//! changed, so `cerebro data prepare` can show a step-by-step account.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use serde::Serialize;

use crate::config::{LoadedConfig, PrepareStep};
use crate::error::{Error, Result};

/// What one step did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepReport {
    pub step: String,
    pub summary: String,
    /// Values changed or rows dropped.
    pub affected: usize,
}

/// Applies every configured step to `df`.
pub fn apply(config: &LoadedConfig, mut df: DataFrame) -> Result<(DataFrame, Vec<StepReport>)> {
    let mut reports = Vec::new();
    for (i, step) in config.config.prepare.iter().enumerate() {
        for input in step.inputs() {
            if df.column(input).is_err() {
                let available: Vec<String> = df
                    .get_column_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let refs: Vec<&str> = available.iter().map(String::as_str).collect();
                let hint = crate::error::closest(input, &refs)
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("columns are: {}", available.join(", "))));
                return Err(config.error_at(
                    &format!("prepare.{i}"),
                    format!(
                        "step {} ({}) reads column `{input}`, which the data does not have",
                        i + 1,
                        step.name()
                    ),
                    hint,
                ));
            }
        }
        let (next, report) = apply_step(step, df).map_err(|e| match e {
            Error::Invalid(m) => config.error_at(
                &format!("prepare.{i}"),
                format!("step {} ({}): {m}", i + 1, step.name()),
                None,
            ),
            other => other,
        })?;
        df = next;
        reports.push(report);
    }
    Ok((df, reports))
}

/// The column as optional strings (numbers are formatted).
pub fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let col = df.column(name)?.cast(&DataType::String)?;
    Ok(col.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

/// The column as optional f64.
pub fn numbers(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let col = df.column(name)?;
    if col.dtype() == &DataType::String {
        return Err(Error::invalid(format!(
            "column `{name}` holds text, not numbers"
        )));
    }
    let col = col.cast(&DataType::Float64)?;
    Ok(col.f64()?.iter().collect())
}

fn put_strings(df: &mut DataFrame, name: &str, values: Vec<Option<String>>) -> Result<()> {
    let col = Column::new(PlSmallStr::from(name), values);
    if df.column(name).is_ok() {
        df.replace(name, col)?;
    } else {
        df.with_column(col)?;
    }
    Ok(())
}

fn put_flags(df: &mut DataFrame, name: &str, values: Vec<i64>) -> Result<()> {
    let col = Column::new(PlSmallStr::from(name), values);
    if df.column(name).is_ok() {
        df.replace(name, col)?;
    } else {
        df.with_column(col)?;
    }
    Ok(())
}

fn map_strings(
    df: &mut DataFrame,
    columns: &[String],
    f: impl Fn(Option<&str>) -> Option<Option<String>>,
) -> Result<usize> {
    let mut changed = 0;
    for name in columns {
        let mut values = strings(df, name)?;
        for v in &mut values {
            if let Some(new) = f(v.as_deref())
                && *v != new
            {
                changed += 1;
                *v = new;
            }
        }
        put_strings(df, name, values)?;
    }
    Ok(changed)
}

fn apply_step(step: &PrepareStep, mut df: DataFrame) -> Result<(DataFrame, StepReport)> {
    let (summary, affected) = match step {
        PrepareStep::StripSuffix { columns, suffix } => {
            let n = map_strings(&mut df, columns, |v| {
                v.and_then(|s| s.strip_suffix(suffix.as_str()))
                    .map(|s| Some(s.to_string()))
            })?;
            (
                format!("stripped `{suffix}` from {}", columns.join(", ")),
                n,
            )
        }
        PrepareStep::FillMissing { columns, value } => {
            let n = map_strings(&mut df, columns, |v| match v {
                None => Some(Some(value.clone())),
                Some(s) if s.trim().is_empty() => Some(Some(value.clone())),
                Some(_) => None,
            })?;
            (
                format!("filled missing {} with `{value}`", columns.join(", ")),
                n,
            )
        }
        PrepareStep::FillMedian { columns } => {
            let mut n = 0;
            let mut medians = Vec::new();
            for name in columns {
                let values = numbers(&df, name)?;
                let mut present: Vec<f64> = values.iter().flatten().copied().collect();
                if present.is_empty() {
                    return Err(Error::invalid(format!("column `{name}` has no values")));
                }
                present.sort_by(f64::total_cmp);
                let m = present.len();
                let median = if m % 2 == 1 {
                    present[m / 2]
                } else {
                    (present[m / 2 - 1] + present[m / 2]) / 2.0
                };
                n += values.iter().filter(|v| v.is_none()).count();
                let filled: Vec<f64> = values.iter().map(|v| v.unwrap_or(median)).collect();
                df.replace(name, Column::new(PlSmallStr::from(name.as_str()), filled))?;
                medians.push(format!("{name}={median}"));
            }
            (format!("median-filled {}", medians.join(", ")), n)
        }
        PrepareStep::GroupRare {
            columns,
            min_count,
            other,
        } => {
            let mut n = 0;
            for name in columns {
                let values = strings(&df, name)?;
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for v in values.iter().flatten() {
                    *counts.entry(v.as_str()).or_default() += 1;
                }
                let rare: std::collections::HashSet<String> = counts
                    .into_iter()
                    .filter(|(_, c)| c < min_count)
                    .map(|(k, _)| k.to_string())
                    .collect();
                n += map_strings(&mut df, std::slice::from_ref(name), |v| {
                    v.filter(|s| rare.contains(*s)).map(|_| Some(other.clone()))
                })?;
            }
            (
                format!(
                    "grouped categories seen fewer than {min_count} times into `{other}` in {}",
                    columns.join(", ")
                ),
                n,
            )
        }
        PrepareStep::AllowedValues {
            column,
            values,
            other,
        } => {
            let n = map_strings(&mut df, std::slice::from_ref(column), |v| {
                v.filter(|s| !values.iter().any(|a| a == s))
                    .map(|_| Some(other.clone()))
            })?;
            (
                format!(
                    "kept {} of {column}, the rest is `{other}`",
                    values.join("/")
                ),
                n,
            )
        }
        PrepareStep::KeywordBucket {
            column,
            output,
            buckets,
            default,
        } => {
            let lowered: Vec<(String, Vec<String>)> = buckets
                .iter()
                .map(|b| {
                    (
                        b.label.clone(),
                        b.keywords.iter().map(|k| k.to_lowercase()).collect(),
                    )
                })
                .collect();
            let source = strings(&df, column)?;
            let mut matched = 0;
            let out: Vec<Option<String>> = source
                .iter()
                .map(|v| {
                    let text = v.as_deref().unwrap_or("").to_lowercase();
                    let label = lowered
                        .iter()
                        .find(|(_, kws)| kws.iter().any(|k| text.contains(k.as_str())))
                        .map(|(l, _)| l.clone());
                    matched += usize::from(label.is_some());
                    Some(label.unwrap_or_else(|| default.clone()))
                })
                .collect();
            put_strings(&mut df, output, out)?;
            (
                format!("bucketed {column} by keywords into {output}"),
                matched,
            )
        }
        PrepareStep::ContainsFlag {
            column,
            output,
            substring,
            case_sensitive,
        } => {
            let needle = if *case_sensitive {
                substring.clone()
            } else {
                substring.to_lowercase()
            };
            let flags: Vec<i64> = strings(&df, column)?
                .iter()
                .map(|v| {
                    let hay = v.as_deref().unwrap_or("");
                    let hit = if *case_sensitive {
                        hay.contains(needle.as_str())
                    } else {
                        hay.to_lowercase().contains(needle.as_str())
                    };
                    i64::from(hit)
                })
                .collect();
            let n = flags.iter().filter(|&&f| f == 1).count();
            put_flags(&mut df, output, flags)?;
            (format!("{output} = {column} contains `{substring}`"), n)
        }
        PrepareStep::PresenceFlag {
            column,
            output,
            value,
        } => {
            let flags: Vec<i64> = strings(&df, column)?
                .iter()
                .map(|v| {
                    let present = match (v.as_deref(), value) {
                        (None, _) => false,
                        (Some(s), None) => !s.trim().is_empty(),
                        (Some(s), Some(want)) => s == want,
                    };
                    i64::from(present)
                })
                .collect();
            let n = flags.iter().filter(|&&f| f == 1).count();
            put_flags(&mut df, output, flags)?;
            let what = value
                .as_ref()
                .map_or("is present".to_string(), |v| format!("is `{v}`"));
            (format!("{output} = {column} {what}"), n)
        }
        PrepareStep::MapValues { column, mapping } => {
            let n = map_strings(&mut df, std::slice::from_ref(column), |v| {
                v.and_then(|s| mapping.get(s)).map(|to| Some(to.clone()))
            })?;
            (format!("renamed {} value(s) of {column}", mapping.len()), n)
        }
        PrepareStep::DropRows {
            column,
            values,
            missing,
        } => {
            let source = strings(&df, column)?;
            let keep: Vec<bool> = source
                .iter()
                .map(|v| match v {
                    None => !missing,
                    Some(s) if s.trim().is_empty() => !missing,
                    Some(s) => !values.iter().any(|x| x == s),
                })
                .collect();
            let dropped = keep.iter().filter(|k| !**k).count();
            let mask = BooleanChunked::from_slice(PlSmallStr::from("keep"), &keep);
            df = df.filter(&mask)?;
            let mut what: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            if *missing {
                what.push("missing".into());
            }
            (
                format!("dropped rows where {column} is {}", what.join(" or ")),
                dropped,
            )
        }
    };
    Ok((
        df,
        StepReport {
            step: step.name().to_string(),
            summary,
            affected,
        },
    ))
}

/// Category counts of a column, most frequent first (ties by name).
pub fn value_counts(values: &[Option<String>]) -> Vec<(Option<String>, usize)> {
    let mut counts: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v.as_deref()).or_default() += 1;
    }
    let mut out: Vec<(Option<String>, usize)> = counts
        .into_iter()
        .map(|(k, c)| (k.map(str::to_string), c))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
