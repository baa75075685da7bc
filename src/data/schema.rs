//! The model's input contract, below both training and storage: the [`Signature`] (which
//! columns, of which type, and what is predicted; for a pipeline model also the raw columns it
//! reads) and the [`FeatureTable`] of feature values in signature order. (`TrainData`, a
//! prepared version as train and test tables, lives with the fitted preparation it holds, in
//! `data::prepare`.) Training fits on these, the registry and both store backends keep a version's
//! signature, and serving checks requests against it; none of them owns it, so it lives here in
//! the data layer and imports nothing from the layers above.

use serde::{Deserialize, Serialize};

use super::raw::RawColumn;

/// The model's input contract: which columns, of which type, and what it predicts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    /// Numeric features (doubles; missing allowed).
    pub numeric: Vec<String>,
    /// Categorical features (strings; missing and unseen values allowed).
    pub categorical: Vec<String>,
    /// Record id column, if the dataset has one (not an input).
    pub id: Option<String>,
    pub target: String,
    /// The target value predicted as 1.
    pub positive: String,
    /// The raw input schema of a pipeline model: the dataset columns it reads (its fitted
    /// preparation makes the features above from them). `None` for a format-1 model, whose
    /// inputs are the features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_inputs: Option<Vec<RawColumn>>,
}

impl Signature {
    /// `(name, type)` of every input a client sends, in order: the raw inputs of a pipeline
    /// model, else the features (numeric as doubles, then categorical as strings).
    pub fn inputs(&self) -> Vec<(String, &'static str)> {
        match &self.raw_inputs {
            Some(raw) => raw
                .iter()
                .map(|c| (c.name.clone(), c.ty.as_str()))
                .collect(),
            None => self.feature_inputs(),
        }
    }

    /// `(name, type)` of every feature, numeric first.
    pub fn feature_inputs(&self) -> Vec<(String, &'static str)> {
        self.numeric
            .iter()
            .map(|n| (n.clone(), "double"))
            .chain(self.categorical.iter().map(|c| (c.clone(), "string")))
            .collect()
    }

    /// The signature without its raw inputs (the features a preparation produces).
    pub fn features_only(&self) -> Signature {
        Signature {
            raw_inputs: None,
            ..self.clone()
        }
    }
}

/// Raw feature values, in the order of the model signature (numeric first, then categorical).
/// Column-major: `numeric[i][r]` is numeric input `i` of row `r`; `None` is a missing value.
#[derive(Debug, Clone, Default)]
pub struct FeatureTable {
    pub rows: usize,
    pub numeric: Vec<Vec<Option<f64>>>,
    pub categorical: Vec<Vec<Option<String>>>,
}
