//! The model artifact: the whole fitted pipeline (input signature, encoder, estimator) plus the
//! data version it was trained on, in a versioned JSON document.
//!
//! Format (`format = "cerebro-model"`, `format_version = 1`):
//! ```json
//! { "format": "cerebro-model", "format_version": 1, "cerebro_version": "0.1.0",
//!   "kind": "gbt", "params": {...}, "signature": {...}, "data_version": "<hex>",
//!   "encoder": {...}, "estimator": {...}, "feature_importance": [["APPEARANCES", 0.41], ...],
//!   "threshold": 0.5 }
//! ```
//! Readers refuse a different `format` and a newer `format_version`; serving later loads
//! exactly what was trained.

use serde::{Deserialize, Serialize};

use super::{Encoder, Estimator, ModelKind, ModelParams};
use crate::data::schema::{FeatureTable, Signature};
use crate::error::{Error, Result};

pub const FORMAT: &str = "cerebro-model";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    pub cerebro_version: String,
    pub kind: ModelKind,
    pub params: ModelParams,
    pub signature: Signature,
    pub data_version: String,
    pub encoder: Encoder,
    pub estimator: Estimator,
    pub feature_importance: Vec<(String, f64)>,
    /// Probability at or above which the positive class is predicted.
    pub threshold: f64,
}

impl Model {
    pub(super) fn new(
        kind: ModelKind,
        params: ModelParams,
        signature: Signature,
        data_version: String,
        encoder: Encoder,
        estimator: Estimator,
        feature_importance: Vec<(String, f64)>,
    ) -> Model {
        Model {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            cerebro_version: env!("CARGO_PKG_VERSION").into(),
            kind,
            params,
            signature,
            data_version,
            encoder,
            estimator,
            feature_importance,
            threshold: 0.5,
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid(format!("not a cerebro model artifact: {e}")))?;
        if header.format != FORMAT {
            return Err(Error::invalid(format!(
                "not a cerebro model artifact (format `{}`)",
                header.format
            )));
        }
        if header.format_version > FORMAT_VERSION {
            return Err(Error::invalid(format!(
                "model artifact format {} is newer than this cerebro understands ({FORMAT_VERSION}): upgrade cerebro",
                header.format_version
            )));
        }
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Positive-class probabilities and the number of unseen categorical values met.
    pub fn predict_proba(&self, table: &FeatureTable) -> (Vec<f64>, usize) {
        let x = self.encoder.transform(table);
        (self.estimator.predict_proba(&x), x.unseen)
    }
}
