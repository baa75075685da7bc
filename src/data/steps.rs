//! The preparation steps of `[[prepare]]` in `config.toml`, and `[split] fit_statistics_on`:
//! their configuration, as types the config parses into and the fitted preparation
//! (`data::prepare`) carries. They live in the data layer so a model artifact can hold them
//! without depending on the config module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One keyword bucket of a `keyword_bucket` step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub label: String,
    pub keywords: Vec<String>,
}

/// A preparation step. Row-wise steps only look at one row; `group_rare` and `fill_median`
/// learn a statistic, from the training split or the whole table (`[split]
/// fit_statistics_on`); see `data::prepare` for how steps are fitted and applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrepareStep {
    /// Remove a suffix from string values (`"Good Characters"` -> `"Good"`).
    StripSuffix {
        columns: Vec<String>,
        suffix: String,
    },
    /// Replace missing values of string columns with `value`.
    FillMissing { columns: Vec<String>, value: String },
    /// Replace missing values of numeric columns with the column median.
    FillMedian { columns: Vec<String> },
    /// Replace categories seen fewer than `min_count` times with `other`.
    GroupRare {
        columns: Vec<String>,
        min_count: usize,
        #[serde(default = "default_other")]
        other: String,
    },
    /// Keep only `values`; anything else (not missing) becomes `other`.
    AllowedValues {
        column: String,
        values: Vec<String>,
        #[serde(default = "default_other")]
        other: String,
    },
    /// Write to `output` the label of the first bucket one of whose keywords occurs in
    /// `column` (case-insensitive), else `default`.
    KeywordBucket {
        column: String,
        output: String,
        buckets: Vec<Bucket>,
        #[serde(default = "default_other")]
        default: String,
    },
    /// Write to `output` 1 if `column` contains `substring`, else 0.
    ContainsFlag {
        column: String,
        output: String,
        substring: String,
        #[serde(default)]
        case_sensitive: bool,
    },
    /// Write to `output` 1 if `column` is present (or equals `value` when given), else 0.
    PresenceFlag {
        column: String,
        output: String,
        #[serde(default)]
        value: Option<String>,
    },
    /// Rename values (`from = to`); values not listed are kept.
    MapValues {
        column: String,
        mapping: BTreeMap<String, String>,
    },
    /// Drop rows whose `column` is one of `values` (and, with `missing = true`, rows where it is
    /// missing).
    DropRows {
        column: String,
        #[serde(default)]
        values: Vec<String>,
        #[serde(default)]
        missing: bool,
    },
}

fn default_other() -> String {
    "Other".into()
}

impl PrepareStep {
    /// The step's name as written in `step = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            PrepareStep::StripSuffix { .. } => "strip_suffix",
            PrepareStep::FillMissing { .. } => "fill_missing",
            PrepareStep::FillMedian { .. } => "fill_median",
            PrepareStep::GroupRare { .. } => "group_rare",
            PrepareStep::AllowedValues { .. } => "allowed_values",
            PrepareStep::KeywordBucket { .. } => "keyword_bucket",
            PrepareStep::ContainsFlag { .. } => "contains_flag",
            PrepareStep::PresenceFlag { .. } => "presence_flag",
            PrepareStep::MapValues { .. } => "map_values",
            PrepareStep::DropRows { .. } => "drop_rows",
        }
    }

    /// Columns the step reads.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            PrepareStep::StripSuffix { columns, .. }
            | PrepareStep::FillMissing { columns, .. }
            | PrepareStep::FillMedian { columns }
            | PrepareStep::GroupRare { columns, .. } => {
                columns.iter().map(String::as_str).collect()
            }
            PrepareStep::AllowedValues { column, .. }
            | PrepareStep::KeywordBucket { column, .. }
            | PrepareStep::ContainsFlag { column, .. }
            | PrepareStep::PresenceFlag { column, .. }
            | PrepareStep::MapValues { column, .. }
            | PrepareStep::DropRows { column, .. } => vec![column.as_str()],
        }
    }

    /// A column the step creates, if any.
    pub fn output(&self) -> Option<&str> {
        match self {
            PrepareStep::KeywordBucket { output, .. }
            | PrepareStep::ContainsFlag { output, .. }
            | PrepareStep::PresenceFlag { output, .. } => Some(output),
            _ => None,
        }
    }
}

/// `[split] fit_statistics_on`: where fitted preparation steps (`fill_median`, `group_rare`)
/// learn their statistics.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FitStatisticsOn {
    /// The training split only (the default): nothing about the test rows reaches the model,
    /// as in a scikit-learn `Pipeline` fitted on the training data.
    #[default]
    Train,
    /// The whole table before the split, as the Databricks MLOps course prepares its data.
    All,
}

impl FitStatisticsOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FitStatisticsOn::Train => "train",
            FitStatisticsOn::All => "all",
        }
    }
}
