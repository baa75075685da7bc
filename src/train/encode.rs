//! Feature encoding, fitted on the training set only and saved inside the model artifact.
//!
//! Categorical levels are ordered by their positive-class rate in the training data (ties by
//! name). For a binary target, a threshold on that order can express the best partition of the
//! levels into two groups (Breiman's result for CART), so trees get one column per categorical
//! feature instead of one per level. Logistic regression gets one-hot columns instead.
//! Levels never seen in training are counted, never fatal: trees send them where the most
//! frequent level goes, the gradient-boosted model treats them as missing, and one-hot
//! encodings give them all zeros.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::data::schema::FeatureTable;
use crate::error::{Error, Result};

/// The name given to a missing categorical value seen during training.
pub const MISSING_LEVEL: &str = "<missing>";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericEncoding {
    pub name: String,
    /// Fills missing values (median of the training column).
    pub median: f64,
    pub mean: f64,
    pub std: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoricalEncoding {
    pub name: String,
    /// Levels ordered by training positive rate, then name. Code = index.
    pub levels: Vec<String>,
    /// Training count per level.
    pub counts: Vec<u64>,
}

impl CategoricalEncoding {
    fn most_frequent(&self) -> usize {
        let mut best = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > self.counts[best] {
                best = i;
            }
        }
        best
    }
}

/// How features become model columns.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Numeric imputed with the median; categorical as its ordered code (trees, forests).
    Ordinal,
    /// Numeric missing kept as NaN; categorical code, unseen as NaN (gradient boosting).
    Native,
    /// Numeric imputed and standardised; one 0/1 column per level (logistic regression).
    OneHot,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encoder {
    pub layout: Layout,
    pub numeric: Vec<NumericEncoding>,
    pub categorical: Vec<CategoricalEncoding>,
}

/// An encoded table: column-major values plus how many unseen categorical values it met.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub rows: usize,
    pub columns: Vec<Vec<f64>>,
    pub unseen: usize,
}

impl Encoded {
    /// Row-major copy (for linfa).
    pub fn row_major(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rows * self.columns.len());
        for r in 0..self.rows {
            for c in &self.columns {
                out.push(c[r]);
            }
        }
        out
    }

    /// Column-major copy in one buffer (for forust-ml).
    pub fn column_major(&self) -> Vec<f64> {
        self.columns.concat()
    }

    pub fn row(&self, r: usize, buf: &mut Vec<f64>) {
        buf.clear();
        buf.extend(self.columns.iter().map(|c| c[r]));
    }
}

impl Encoder {
    /// Fits the encoding on training features and 0/1 labels.
    pub fn fit(
        layout: Layout,
        numeric_names: &[String],
        categorical_names: &[String],
        table: &FeatureTable,
        y: &[u8],
    ) -> Result<Encoder> {
        let numeric = numeric_names
            .iter()
            .zip(&table.numeric)
            .map(|(name, values)| {
                let mut present: Vec<f64> = values.iter().flatten().copied().collect();
                if present.is_empty() {
                    return Err(Error::invalid(format!(
                        "numeric feature `{name}` has no values in the training set"
                    )));
                }
                present.sort_by(f64::total_cmp);
                let median = if present.len() % 2 == 1 {
                    present[present.len() / 2]
                } else {
                    (present[present.len() / 2 - 1] + present[present.len() / 2]) / 2.0
                };
                let n = values.len() as f64;
                let filled = || values.iter().map(|v| v.unwrap_or(median));
                let mean = filled().sum::<f64>() / n;
                let var = filled().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                Ok(NumericEncoding {
                    name: name.clone(),
                    median,
                    mean,
                    std: if var > 0.0 { var.sqrt() } else { 1.0 },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let categorical = categorical_names
            .iter()
            .zip(&table.categorical)
            .map(|(name, values)| {
                let mut stats: HashMap<&str, (u64, u64)> = HashMap::new();
                for (v, &t) in values.iter().zip(y) {
                    let e = stats
                        .entry(v.as_deref().unwrap_or(MISSING_LEVEL))
                        .or_default();
                    e.0 += 1;
                    e.1 += u64::from(t);
                }
                let mut levels: Vec<(&str, u64, u64)> =
                    stats.into_iter().map(|(k, (n, p))| (k, n, p)).collect();
                levels.sort_by(|a, b| {
                    let ra = a.2 as f64 / a.1 as f64;
                    let rb = b.2 as f64 / b.1 as f64;
                    ra.total_cmp(&rb).then_with(|| a.0.cmp(b.0))
                });
                CategoricalEncoding {
                    name: name.clone(),
                    levels: levels.iter().map(|l| l.0.to_string()).collect(),
                    counts: levels.iter().map(|l| l.1).collect(),
                }
            })
            .collect();
        Ok(Encoder {
            layout,
            numeric,
            categorical,
        })
    }

    /// Names of the encoded columns, in order.
    pub fn column_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.numeric.iter().map(|n| n.name.clone()).collect();
        for c in &self.categorical {
            match self.layout {
                Layout::OneHot => names.extend(c.levels.iter().map(|l| format!("{}={l}", c.name))),
                Layout::Ordinal | Layout::Native => names.push(c.name.clone()),
            }
        }
        names
    }

    /// Indices of the encoded columns that hold categorical codes (for native handling).
    pub fn categorical_columns(&self) -> Vec<usize> {
        match self.layout {
            Layout::OneHot => Vec::new(),
            _ => (self.numeric.len()..self.numeric.len() + self.categorical.len()).collect(),
        }
    }

    /// Encodes a table whose columns follow the signature order.
    pub fn transform(&self, table: &FeatureTable) -> Encoded {
        let rows = table.rows;
        let mut columns = Vec::with_capacity(self.column_names().len());
        for (enc, values) in self.numeric.iter().zip(&table.numeric) {
            let col = values
                .iter()
                .map(|v| match (self.layout, v) {
                    (Layout::Native, None) => f64::NAN,
                    (Layout::Native, Some(x)) => *x,
                    (Layout::Ordinal, v) => v.unwrap_or(enc.median),
                    (Layout::OneHot, v) => (v.unwrap_or(enc.median) - enc.mean) / enc.std,
                })
                .collect();
            columns.push(col);
        }
        let mut unseen = 0;
        for (enc, values) in self.categorical.iter().zip(&table.categorical) {
            let index: HashMap<&str, usize> = enc
                .levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            let codes: Vec<Option<usize>> = values
                .iter()
                .map(|v| {
                    let code = index.get(v.as_deref().unwrap_or(MISSING_LEVEL)).copied();
                    unseen += usize::from(code.is_none());
                    code
                })
                .collect();
            match self.layout {
                Layout::Ordinal => {
                    let fallback = enc.most_frequent() as f64;
                    columns.push(
                        codes
                            .iter()
                            .map(|c| c.map_or(fallback, |c| c as f64))
                            .collect(),
                    );
                }
                Layout::Native => {
                    columns.push(
                        codes
                            .iter()
                            .map(|c| c.map_or(f64::NAN, |c| c as f64))
                            .collect(),
                    );
                }
                Layout::OneHot => {
                    for level in 0..enc.levels.len() {
                        columns.push(
                            codes
                                .iter()
                                .map(|c| f64::from(u8::from(*c == Some(level))))
                                .collect(),
                        );
                    }
                }
            }
        }
        Encoded {
            rows,
            columns,
            unseen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (FeatureTable, Vec<u8>) {
        let s = |v: &str| Some(v.to_string());
        let t = FeatureTable {
            rows: 4,
            numeric: vec![vec![Some(1.0), None, Some(3.0), Some(5.0)]],
            categorical: vec![vec![s("a"), s("b"), s("b"), None]],
        };
        (t, vec![1, 0, 0, 1])
    }

    #[test]
    fn levels_are_ordered_by_positive_rate() {
        let (t, y) = table();
        let e = Encoder::fit(Layout::Ordinal, &["x".into()], &["c".into()], &t, &y).unwrap();
        assert_eq!(e.numeric[0].median, 3.0);
        assert_eq!(e.categorical[0].levels, vec!["b", "<missing>", "a"]);
        let out = e.transform(&t);
        assert_eq!(out.columns[0], vec![1.0, 3.0, 3.0, 5.0]);
        assert_eq!(out.columns[1], vec![2.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn unseen_levels_are_counted_not_fatal() {
        let (t, y) = table();
        for layout in [Layout::Ordinal, Layout::Native, Layout::OneHot] {
            let e = Encoder::fit(layout, &["x".into()], &["c".into()], &t, &y).unwrap();
            let new = FeatureTable {
                rows: 1,
                numeric: vec![vec![Some(2.0)]],
                categorical: vec![vec![Some("zzz".into())]],
            };
            let out = e.transform(&new);
            assert_eq!(out.unseen, 1);
            assert_eq!(out.columns.len(), e.column_names().len());
        }
    }
}
