//! The fitted preparation: the configured `[[prepare]]` steps as transforms that are *fitted*
//! (they learn their state from data) and then *applied* to records by one code path, at
//! training and at scoring alike, as a scikit-learn `Pipeline` of fitted transformers is.
//!
//! **Fitting.** Steps are fitted in config order on the loaded table: each learns its state from
//! the rows it is fitted on, as they are after the steps before it, and is then applied to every
//! row. What a step learns:
//! - `fill_median`: the median of each column (the middle value, or the mean of the two middle
//!   values, of the present values);
//! - `group_rare`: the levels seen at least `min_count` times (the *frequent* levels); any other
//!   value, including one never seen while fitting, becomes `other`, as scikit-learn's
//!   `OneHotEncoder(min_frequency=..., handle_unknown="infrequent_if_exist")` groups them;
//! - every other step is fixed by its configuration (`allowed_values` keeps its list, and so on).
//!
//! By default the statistics come from the training split only ([`FitStatisticsOn::Train`]),
//! so nothing about the test rows leaks into the model; `[split] fit_statistics_on = "all"`
//! learns them from the whole table before the split, as the course cerebro follows does.
//!
//! **Rows.** `drop_rows` steps and the missing-target rule choose the rows a model learns from;
//! they are decided on the whole table, before anything is learned (a `drop_rows` step, and the
//! target, may not depend on a learned statistic: the config is refused otherwise). At scoring
//! nothing is dropped: a record that such a step would have dropped is scored like any other.
//!
//! **Scoring.** A fitted [`Preparation`] reads the *raw input schema* ([`RawSchema`]): the
//! dataset columns the feature values depend on (found by walking the steps back from the
//! features), typed as the loader typed them. The target, the id and the columns no feature
//! depends on are not inputs. [`Preparation::transform`] turns raw records into the model's
//! features ([`FeatureTable`]); training builds its tables through the same function, so a record
//! scored anywhere gets bit for bit the features its training row got.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::raw::{Cell, RawBatch, RawColumn, RawSchema, RawType, column_cells};
use super::schema::{FeatureTable, Signature};
use super::steps::{FitStatisticsOn, PrepareStep};
use crate::error::{Error, Result};

/// What one step did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepReport {
    pub step: String,
    pub summary: String,
    /// Values changed or rows dropped.
    pub affected: usize,
}

/// Train and test tables with 0/1 labels (1 = the signature's `positive` value), in signature
/// order, and the id (hex content fingerprint) of the data version they come from.
#[derive(Debug, Clone)]
pub struct TrainData {
    pub signature: Signature,
    pub train: FeatureTable,
    pub train_y: Vec<u8>,
    pub test: FeatureTable,
    pub test_y: Vec<u8>,
    pub data_version: String,
    /// The fitted preparation the tables came through; the model keeps it.
    pub preparation: Preparation,
}

/// What a fitted step learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Learned {
    /// Nothing: the step is fixed by its configuration.
    #[default]
    Nothing,
    /// `fill_median`: one median per column.
    Medians(Vec<f64>),
    /// `group_rare`: the frequent levels of each column, sorted.
    Frequent(Vec<Vec<String>>),
}

impl Learned {
    fn is_nothing(&self) -> bool {
        matches!(self, Learned::Nothing)
    }
}

/// A configured step with what it learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedStep {
    pub config: PrepareStep,
    #[serde(default, skip_serializing_if = "Learned::is_nothing")]
    pub learned: Learned,
}

/// The fitted preparation of a data version, held by every model trained on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "PreparationDoc", into = "PreparationDoc")]
pub struct Preparation {
    /// Where the statistics were learned.
    pub fit_statistics_on: FitStatisticsOn,
    /// The raw records it reads.
    pub schema: RawSchema,
    /// The model's features it produces (numeric as doubles, categorical as strings).
    pub features: Signature,
    pub steps: Vec<FittedStep>,
    pub(super) plan: Plan,
}

impl PartialEq for Preparation {
    fn eq(&self, other: &Self) -> bool {
        self.fit_statistics_on == other.fit_statistics_on
            && self.schema == other.schema
            && self.features == other.features
            && self.steps == other.steps
    }
}

#[derive(Serialize, Deserialize)]
struct PreparationDoc {
    fit_statistics_on: FitStatisticsOn,
    inputs: Vec<RawColumn>,
    required: bool,
    id: Option<String>,
    ignored: Vec<String>,
    features: Signature,
    steps: Vec<FittedStep>,
}

impl From<Preparation> for PreparationDoc {
    fn from(p: Preparation) -> Self {
        PreparationDoc {
            fit_statistics_on: p.fit_statistics_on,
            inputs: p.schema.inputs,
            required: p.schema.required,
            id: p.schema.id,
            ignored: p.schema.ignored,
            features: p.features,
            steps: p.steps,
        }
    }
}

impl TryFrom<PreparationDoc> for Preparation {
    type Error = Error;
    fn try_from(d: PreparationDoc) -> Result<Self> {
        let schema = RawSchema {
            inputs: d.inputs,
            required: d.required,
            id: d.id,
            ignored: d.ignored,
        };
        Preparation::assemble(d.fit_statistics_on, schema, d.features, d.steps)
    }
}

/// A step compiled against slot indices.
#[derive(Debug, Clone)]
pub(super) enum Op {
    StripSuffix {
        slots: Vec<usize>,
        suffix: String,
    },
    FillMissing {
        slots: Vec<usize>,
        value: String,
    },
    FillMedian {
        slots: Vec<usize>,
        medians: Vec<f64>,
    },
    GroupRare {
        slots: Vec<usize>,
        frequent: Vec<HashSet<String>>,
        other: String,
    },
    AllowedValues {
        slot: usize,
        values: Vec<String>,
        other: String,
    },
    KeywordBucket {
        src: usize,
        dst: usize,
        buckets: Vec<(String, Vec<String>)>,
        default: String,
    },
    ContainsFlag {
        src: usize,
        dst: usize,
        needle: String,
        case_sensitive: bool,
    },
    PresenceFlag {
        src: usize,
        dst: usize,
        value: Option<String>,
    },
    MapValues {
        slot: usize,
        mapping: HashMap<String, String>,
    },
    DropRows {
        slot: usize,
        values: Vec<String>,
        missing: bool,
    },
}

/// Where every column lives in a row of cells, and the compiled steps.
#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    /// Column name of each slot.
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Slot of each raw input, in schema order.
    inputs: Vec<usize>,
    pub(super) numeric: Vec<usize>,
    categorical: Vec<usize>,
    target: Option<usize>,
    ops: Vec<Op>,
}

impl Plan {
    /// Slots for every column the steps, features, id and target name; raw inputs first.
    pub(super) fn layout(schema: &RawSchema, features: &Signature, steps: &[PrepareStep]) -> Plan {
        let mut plan = Plan::default();
        let add = |plan: &mut Plan, name: &str| -> usize {
            if let Some(&i) = plan.index.get(name) {
                return i;
            }
            plan.names.push(name.to_string());
            plan.index.insert(name.to_string(), plan.names.len() - 1);
            plan.names.len() - 1
        };
        for c in &schema.inputs {
            let s = add(&mut plan, &c.name);
            plan.inputs.push(s);
        }
        for s in steps {
            for i in s.inputs() {
                add(&mut plan, i);
            }
            if let Some(o) = s.output() {
                add(&mut plan, o);
            }
        }
        plan.numeric = features.numeric.iter().map(|n| add(&mut plan, n)).collect();
        plan.categorical = features
            .categorical
            .iter()
            .map(|n| add(&mut plan, n))
            .collect();
        plan.target = Some(add(&mut plan, &features.target));
        if let Some(id) = &features.id {
            add(&mut plan, id);
        }
        plan
    }

    pub(super) fn slot(&self, name: &str) -> usize {
        self.index[name]
    }

    pub(super) fn compile(&self, step: &FittedStep) -> Result<Op> {
        let slots = |cols: &[String]| cols.iter().map(|c| self.slot(c)).collect::<Vec<_>>();
        let mismatch = || {
            Error::invalid(format!(
                "the fitted `{}` step holds learned state of another kind or size",
                step.config.name()
            ))
        };
        Ok(match &step.config {
            PrepareStep::StripSuffix { columns, suffix } => Op::StripSuffix {
                slots: slots(columns),
                suffix: suffix.clone(),
            },
            PrepareStep::FillMissing { columns, value } => Op::FillMissing {
                slots: slots(columns),
                value: value.clone(),
            },
            PrepareStep::FillMedian { columns } => match &step.learned {
                Learned::Medians(m) if m.len() == columns.len() => Op::FillMedian {
                    slots: slots(columns),
                    medians: m.clone(),
                },
                _ => return Err(mismatch()),
            },
            PrepareStep::GroupRare { columns, other, .. } => match &step.learned {
                Learned::Frequent(f) if f.len() == columns.len() => Op::GroupRare {
                    slots: slots(columns),
                    frequent: f.iter().map(|l| l.iter().cloned().collect()).collect(),
                    other: other.clone(),
                },
                _ => return Err(mismatch()),
            },
            PrepareStep::AllowedValues {
                column,
                values,
                other,
            } => Op::AllowedValues {
                slot: self.slot(column),
                values: values.clone(),
                other: other.clone(),
            },
            PrepareStep::KeywordBucket {
                column,
                output,
                buckets,
                default,
            } => Op::KeywordBucket {
                src: self.slot(column),
                dst: self.slot(output),
                buckets: buckets
                    .iter()
                    .map(|b| {
                        (
                            b.label.clone(),
                            b.keywords.iter().map(|k| k.to_lowercase()).collect(),
                        )
                    })
                    .collect(),
                default: default.clone(),
            },
            PrepareStep::ContainsFlag {
                column,
                output,
                substring,
                case_sensitive,
            } => Op::ContainsFlag {
                src: self.slot(column),
                dst: self.slot(output),
                needle: if *case_sensitive {
                    substring.clone()
                } else {
                    substring.to_lowercase()
                },
                case_sensitive: *case_sensitive,
            },
            PrepareStep::PresenceFlag {
                column,
                output,
                value,
            } => Op::PresenceFlag {
                src: self.slot(column),
                dst: self.slot(output),
                value: value.clone(),
            },
            PrepareStep::MapValues { column, mapping } => Op::MapValues {
                slot: self.slot(column),
                mapping: mapping
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            PrepareStep::DropRows {
                column,
                values,
                missing,
            } => Op::DropRows {
                slot: self.slot(column),
                values: values.clone(),
                missing: *missing,
            },
        })
    }
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Rewrites `cell` as text by `f` (`Some(new)` replaces it; the value is text either way, as
/// a text step's output is). Returns whether the value changed.
fn map_text(cell: &mut Cell, f: impl FnOnce(Option<&str>) -> Option<Option<String>>) -> bool {
    let current = std::mem::take(cell);
    let replaced = {
        let text = current.text();
        f(text.as_deref())
    };
    match replaced {
        Some(new) => {
            let changed = current.text().as_deref() != new.as_deref();
            *cell = new.map_or(Cell::Null, Cell::Text);
            changed
        }
        None => {
            *cell = current.into_text();
            false
        }
    }
}

impl Op {
    /// Applies the step to one row; returns the values it changed and whether the row is kept.
    /// This is the only place a step's effect is defined, for training and scoring alike.
    pub(super) fn apply(&self, row: &mut [Cell]) -> (usize, bool) {
        let mut changed = 0;
        match self {
            Op::StripSuffix { slots, suffix } => {
                for &s in slots {
                    changed += usize::from(map_text(&mut row[s], |v| {
                        v.and_then(|t| t.strip_suffix(suffix.as_str()))
                            .map(|t| Some(t.to_string()))
                    }));
                }
            }
            Op::FillMissing { slots, value } => {
                for &s in slots {
                    changed += usize::from(map_text(&mut row[s], |v| match v {
                        None => Some(Some(value.clone())),
                        Some(t) if is_blank(t) => Some(Some(value.clone())),
                        Some(_) => None,
                    }));
                }
            }
            Op::FillMedian { slots, medians } => {
                for (&s, &m) in slots.iter().zip(medians) {
                    row[s] = match row[s].number() {
                        Ok(Some(x)) => Cell::Num(x),
                        Ok(None) => {
                            changed += 1;
                            Cell::Num(m)
                        }
                        // Fitting refuses text here; a text value cannot reach a fitted step.
                        Err(_) => std::mem::take(&mut row[s]),
                    };
                }
            }
            Op::GroupRare {
                slots,
                frequent,
                other,
            } => {
                for (&s, keep) in slots.iter().zip(frequent) {
                    changed += usize::from(map_text(&mut row[s], |v| {
                        v.filter(|t| !keep.contains(*t))
                            .map(|_| Some(other.clone()))
                    }));
                }
            }
            Op::AllowedValues {
                slot,
                values,
                other,
            } => {
                changed += usize::from(map_text(&mut row[*slot], |v| {
                    v.filter(|t| !values.iter().any(|a| a == t))
                        .map(|_| Some(other.clone()))
                }));
            }
            Op::KeywordBucket {
                src,
                dst,
                buckets,
                default,
            } => {
                let text = row[*src]
                    .text()
                    .map(|t| t.to_lowercase())
                    .unwrap_or_default();
                let label = buckets
                    .iter()
                    .find(|(_, kws)| kws.iter().any(|k| text.contains(k.as_str())))
                    .map(|(l, _)| l.clone());
                changed += usize::from(label.is_some());
                row[*dst] = Cell::Text(label.unwrap_or_else(|| default.clone()));
            }
            Op::ContainsFlag {
                src,
                dst,
                needle,
                case_sensitive,
            } => {
                let hit = match row[*src].text() {
                    None => false,
                    Some(t) if *case_sensitive => t.contains(needle.as_str()),
                    Some(t) => t.to_lowercase().contains(needle.as_str()),
                };
                changed += usize::from(hit);
                row[*dst] = Cell::Int(i64::from(hit));
            }
            Op::PresenceFlag { src, dst, value } => {
                let present = match (row[*src].text(), value) {
                    (None, _) => false,
                    (Some(t), None) => !is_blank(&t),
                    (Some(t), Some(want)) => *t == **want,
                };
                changed += usize::from(present);
                row[*dst] = Cell::Int(i64::from(present));
            }
            Op::MapValues { slot, mapping } => {
                changed += usize::from(map_text(&mut row[*slot], |v| {
                    v.and_then(|t| mapping.get(t)).map(|to| Some(to.clone()))
                }));
            }
            Op::DropRows {
                slot,
                values,
                missing,
            } => {
                let keep = match row[*slot].text() {
                    None => !missing,
                    Some(t) if is_blank(&t) => !missing,
                    Some(t) => !values.iter().any(|x| *x == *t),
                };
                return (usize::from(!keep), keep);
            }
        }
        (changed, true)
    }
}

/// The median of the present values (`None` when there are none).
fn median(mut present: Vec<f64>) -> Option<f64> {
    if present.is_empty() {
        return None;
    }
    present.sort_by(f64::total_cmp);
    let m = present.len();
    Some(if m % 2 == 1 {
        present[m / 2]
    } else {
        (present[m / 2 - 1] + present[m / 2]) / 2.0
    })
}

/// The summary line of a fitted step.
pub(super) fn summary(step: &FittedStep) -> String {
    match (&step.config, &step.learned) {
        (PrepareStep::StripSuffix { columns, suffix }, _) => {
            format!("stripped `{suffix}` from {}", columns.join(", "))
        }
        (PrepareStep::FillMissing { columns, value }, _) => {
            format!("filled missing {} with `{value}`", columns.join(", "))
        }
        (PrepareStep::FillMedian { columns }, Learned::Medians(m)) => format!(
            "median-filled {}",
            columns
                .iter()
                .zip(m)
                .map(|(c, m)| format!("{c}={m}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (
            PrepareStep::GroupRare {
                columns,
                min_count,
                other,
            },
            _,
        ) => format!(
            "grouped categories seen fewer than {min_count} times into `{other}` in {}",
            columns.join(", ")
        ),
        (
            PrepareStep::AllowedValues {
                column,
                values,
                other,
            },
            _,
        ) => format!(
            "kept {} of {column}, the rest is `{other}`",
            values.join("/")
        ),
        (PrepareStep::KeywordBucket { column, output, .. }, _) => {
            format!("bucketed {column} by keywords into {output}")
        }
        (
            PrepareStep::ContainsFlag {
                column,
                output,
                substring,
                ..
            },
            _,
        ) => format!("{output} = {column} contains `{substring}`"),
        (
            PrepareStep::PresenceFlag {
                column,
                output,
                value,
            },
            _,
        ) => {
            let what = value
                .as_ref()
                .map_or("is present".to_string(), |v| format!("is `{v}`"));
            format!("{output} = {column} {what}")
        }
        (PrepareStep::MapValues { column, mapping }, _) => {
            format!("renamed {} value(s) of {column}", mapping.len())
        }
        (
            PrepareStep::DropRows {
                column,
                values,
                missing,
            },
            _,
        ) => {
            let mut what: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            if *missing {
                what.push("missing".into());
            }
            format!("dropped rows where {column} is {}", what.join(" or "))
        }
        (step, _) => step.name().to_string(),
    }
}

/// The statistic `step` learns from the rows marked in `fit`.
pub(super) fn learn(
    step: &PrepareStep,
    plan: &Plan,
    rows: &[Vec<Cell>],
    fit: &[bool],
) -> Result<Learned> {
    let fitted = || rows.iter().zip(fit).filter(|(_, f)| **f).map(|(r, _)| r);
    Ok(match step {
        PrepareStep::FillMedian { columns } => {
            let mut medians = Vec::with_capacity(columns.len());
            for c in columns {
                let s = plan.slot(c);
                let mut present = Vec::new();
                for r in fitted() {
                    match r[s].number() {
                        Ok(Some(x)) => present.push(x),
                        Ok(None) => {}
                        Err(_) => {
                            return Err(Error::invalid(format!(
                                "column `{c}` holds text, not numbers"
                            )));
                        }
                    }
                }
                medians.push(median(present).ok_or_else(|| {
                    Error::invalid(format!("column `{c}` has no values to take a median of"))
                })?);
            }
            Learned::Medians(medians)
        }
        PrepareStep::GroupRare {
            columns, min_count, ..
        } => {
            let mut kept = Vec::with_capacity(columns.len());
            for c in columns {
                let s = plan.slot(c);
                let mut counts: HashMap<String, usize> = HashMap::new();
                for r in fitted() {
                    if let Some(t) = r[s].text() {
                        *counts.entry(t.into_owned()).or_default() += 1;
                    }
                }
                let mut frequent: Vec<String> = counts
                    .into_iter()
                    .filter(|(_, n)| n >= min_count)
                    .map(|(k, _)| k)
                    .collect();
                frequent.sort();
                kept.push(frequent);
            }
            Learned::Frequent(kept)
        }
        _ => Learned::Nothing,
    })
}

impl Preparation {
    /// Builds (and compiles) a preparation from its parts; errors when the steps name a column
    /// the layout lacks or hold learned state that does not fit them.
    pub(super) fn assemble(
        fit_statistics_on: FitStatisticsOn,
        schema: RawSchema,
        features: Signature,
        steps: Vec<FittedStep>,
    ) -> Result<Preparation> {
        let configs: Vec<PrepareStep> = steps.iter().map(|s| s.config.clone()).collect();
        let mut plan = Plan::layout(&schema, &features, &configs);
        plan.ops = steps
            .iter()
            .map(|s| plan.compile(s))
            .collect::<Result<_>>()?;
        Ok(Preparation {
            fit_statistics_on,
            schema,
            features,
            steps,
            plan,
        })
    }

    /// The preparation of a model whose inputs are its features (format-1 artifacts, data
    /// versions snapshotted before preparation was fitted): no steps, numeric features as
    /// doubles then categorical ones as strings, every column required.
    pub fn identity(features: &Signature) -> Preparation {
        let inputs = features
            .numeric
            .iter()
            .map(|n| RawColumn {
                name: n.clone(),
                ty: RawType::Double,
            })
            .chain(features.categorical.iter().map(|c| RawColumn {
                name: c.clone(),
                ty: RawType::String,
            }))
            .collect();
        let schema = RawSchema {
            inputs,
            required: true,
            id: features.id.clone(),
            ignored: Vec::new(),
        };
        Preparation::assemble(FitStatisticsOn::All, schema, features.clone(), Vec::new())
            .expect("an identity preparation always compiles")
    }

    /// True for a preparation without steps whose inputs are the features.
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty() && self.schema.required
    }

    /// One row through every step: `row` holds a cell per slot (raw inputs first).
    fn apply_row(&self, row: &mut [Cell]) {
        for op in &self.plan.ops {
            op.apply(row);
        }
    }

    fn push_features(&self, row: &mut [Cell], out: &mut FeatureTable) -> Result<()> {
        for (col, &s) in out.numeric.iter_mut().zip(&self.plan.numeric) {
            let v = row[s].number().map_err(|_| {
                Error::invalid(format!(
                    "feature `{}` holds text after preparation",
                    self.plan.names[s]
                ))
            })?;
            col.push(v);
        }
        for (col, &s) in out.categorical.iter_mut().zip(&self.plan.categorical) {
            col.push(match std::mem::take(&mut row[s]) {
                Cell::Text(t) => Some(t),
                other => other.text().map(|t| t.into_owned()),
            });
        }
        out.rows += 1;
        Ok(())
    }

    fn empty_table(&self, rows: usize) -> FeatureTable {
        FeatureTable {
            rows: 0,
            numeric: vec![Vec::with_capacity(rows); self.plan.numeric.len()],
            categorical: vec![Vec::with_capacity(rows); self.plan.categorical.len()],
        }
    }

    /// The model's features of raw records (columns in [`RawSchema`] input order). The one
    /// scoring path: the endpoint, batch scoring, the gate, monitoring and training all call it.
    pub fn transform(&self, batch: &RawBatch) -> Result<FeatureTable> {
        let mut out = self.empty_table(batch.rows);
        let mut row = vec![Cell::Null; self.plan.names.len()];
        for r in 0..batch.rows {
            for c in row.iter_mut() {
                *c = Cell::Null;
            }
            for (col, &s) in batch.columns.iter().zip(&self.plan.inputs) {
                row[s] = col[r].clone();
            }
            self.apply_row(&mut row);
            self.push_features(&mut row, &mut out)?;
        }
        Ok(out)
    }

    /// The raw records of a loaded table: its input columns, converted to the schema's types
    /// (a column the table lacks is missing in every row when inputs are optional, an error
    /// when they are required).
    pub fn batch_of_frame(&self, df: &DataFrame) -> Result<RawBatch> {
        let mut batch = RawBatch {
            rows: df.height(),
            columns: Vec::with_capacity(self.schema.inputs.len()),
        };
        for c in &self.schema.inputs {
            match df.column(&c.name) {
                Ok(col) => batch.columns.push(super::raw::typed_cells(col, c.ty)?),
                Err(_) if !self.schema.required => {
                    batch.columns.push(vec![Cell::Null; df.height()])
                }
                Err(_) => {
                    return Err(Error::invalid(format!(
                        "the table has no column `{}`, which the model reads",
                        c.name
                    )));
                }
            }
        }
        Ok(batch)
    }

    /// The features of a loaded table (a data version's train or test rows).
    pub fn transform_frame(&self, df: &DataFrame) -> Result<FeatureTable> {
        self.transform(&self.batch_of_frame(df)?)
    }

    /// The prepared table of a loaded table: the id (as text), the features and the target
    /// after the steps, in that order (what `data profile --prepared` and exports show).
    pub fn prepared_frame(&self, df: &DataFrame) -> Result<DataFrame> {
        let mut rows = frame_rows(&self.plan, df)?;
        let mut table = self.empty_table(rows.len());
        let t = self.plan.slot(&self.features.target);
        let id_slot = self.features.id.as_ref().map(|i| self.plan.slot(i));
        let mut target = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for r in rows.iter_mut() {
            self.apply_row(r);
            if let Some(s) = id_slot {
                ids.push(r[s].text().map(|x| x.into_owned()));
            }
            target.push(r[t].text().map(|x| x.into_owned()));
            self.push_features(r, &mut table)?;
        }
        let mut cols: Vec<Column> = Vec::new();
        if let Some(id) = &self.features.id {
            cols.push(Column::new(PlSmallStr::from(id.as_str()), ids));
        }
        for (n, v) in self.features.numeric.iter().zip(table.numeric) {
            cols.push(Column::new(PlSmallStr::from(n.as_str()), v));
        }
        for (n, v) in self.features.categorical.iter().zip(table.categorical) {
            cols.push(Column::new(PlSmallStr::from(n.as_str()), v));
        }
        cols.push(Column::new(
            PlSmallStr::from(self.features.target.as_str()),
            target,
        ));
        Ok(DataFrame::new(rows.len(), cols)?)
    }

    /// 0/1 labels of a loaded table: its target after the steps (which may not depend on a
    /// learned statistic), compared with the positive class.
    pub fn labels_frame(&self, df: &DataFrame) -> Result<Vec<u8>> {
        let target = self.features.target.as_str();
        let t = self.plan.slot(target);
        let mut rows = frame_rows(&self.plan, df)?;
        if df.column(target).is_err() {
            return Err(Error::invalid(format!(
                "the table has no target column `{target}`"
            )));
        }
        Ok(rows
            .iter_mut()
            .map(|r| {
                self.apply_row(r);
                u8::from(r[t].text().as_deref() == Some(self.features.positive.as_str()))
            })
            .collect())
    }
}

/// Row-major cells of every slot the table has (the rest missing).
pub(super) fn frame_rows(plan: &Plan, df: &DataFrame) -> Result<Vec<Vec<Cell>>> {
    let mut rows = vec![vec![Cell::Null; plan.names.len()]; df.height()];
    for (s, name) in plan.names.iter().enumerate() {
        if let Ok(col) = df.column(name) {
            for (r, cell) in column_cells(col)?.into_iter().enumerate() {
                rows[r][s] = cell;
            }
        }
    }
    Ok(rows)
}

/// The dataset columns the features depend on: walking the steps backwards from the features,
/// a step that creates a needed column needs its source instead; the rest read the column they
/// write. `drop_rows` chooses rows and feeds no feature.
pub(super) fn raw_schema(df: &DataFrame, features: &Signature, steps: &[PrepareStep]) -> RawSchema {
    let mut needed: BTreeSet<&str> = features
        .numeric
        .iter()
        .chain(&features.categorical)
        .map(String::as_str)
        .collect();
    for step in steps.iter().rev() {
        match step {
            PrepareStep::KeywordBucket { column, output, .. }
            | PrepareStep::ContainsFlag { column, output, .. }
            | PrepareStep::PresenceFlag { column, output, .. }
                if needed.contains(output.as_str()) =>
            {
                needed.remove(output.as_str());
                needed.insert(column);
            }
            _ => {}
        }
    }
    let mut inputs = Vec::new();
    let mut ignored = Vec::new();
    for col in df.columns() {
        let name = col.name().as_str();
        if needed.contains(name) {
            inputs.push(RawColumn {
                name: name.to_string(),
                ty: RawType::of(col.dtype()),
            });
        } else if features.id.as_deref() != Some(name) {
            ignored.push(name.to_string());
        }
    }
    RawSchema {
        inputs,
        required: false,
        id: features.id.clone(),
        ignored,
    }
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
