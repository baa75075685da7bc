//! The model's input contract, below both training and storage: the [`Signature`] (which
//! columns, of which type, and what is predicted), the [`FeatureTable`] of raw values in
//! signature order, and [`TrainData`], a prepared version as train and test tables with 0/1
//! labels. Training fits on these, the registry and both store backends keep a version's
//! signature, and serving checks requests against it; none of them owns it, so it lives here in
//! the data layer and imports nothing from the layers above.

use serde::{Deserialize, Serialize};

/// The model's input contract: which columns, of which type, and what it predicts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    /// Numeric inputs (doubles; missing allowed).
    pub numeric: Vec<String>,
    /// Categorical inputs (strings; missing and unseen values allowed).
    pub categorical: Vec<String>,
    /// Record id column, if the dataset has one (not an input).
    pub id: Option<String>,
    pub target: String,
    /// The target value predicted as 1.
    pub positive: String,
}

impl Signature {
    /// `(name, type)` of every input, in order.
    pub fn inputs(&self) -> Vec<(String, &'static str)> {
        self.numeric
            .iter()
            .map(|n| (n.clone(), "double"))
            .chain(self.categorical.iter().map(|c| (c.clone(), "string")))
            .collect()
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
}
