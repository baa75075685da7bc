//! The model artifact: the whole fitted pipeline (raw input schema, fitted preparation, encoder,
//! estimator) plus the data version it was trained on, in a versioned JSON document.
//!
//! Format (`format = "cerebro-model"`, `format_version = 2`):
//! ```json
//! { "format": "cerebro-model", "format_version": 2, "cerebro_version": "0.1.0",
//!   "kind": "gbt", "params": {...},
//!   "signature": {"inputs": "[{\"type\": \"string\", \"name\": \"ALIGN\", \"required\": false}, ...]",
//!                 "outputs": "[{\"type\": \"long\", \"name\": \"prediction\", \"required\": true}]",
//!                 "params": null,
//!                 "features": {"numeric": [...], "categorical": [...], "id": ..., "target": ..., "positive": ...}},
//!   "data_version": "<hex>", "preparation": {...}, "encoder": {...}, "estimator": {...},
//!   "feature_importance": [["APPEARANCES", 0.41], ...], "threshold": 0.5 }
//! ```
//! `signature` is MLflow's model signature (as an `MLmodel` file holds it): `inputs` is the raw
//! input schema, the dataset columns the pipeline reads; the features the estimator sees are
//! `signature.features`. `preparation` is the fitted preparation (`data::prepare`).
//!
//! Format 1 (before preparation was part of the model) had `signature` = the features and no
//! preparation; it still loads, with the identity preparation, and takes its features as
//! inputs as before. Readers refuse a different `format` and a newer `format_version`; serving
//! later loads exactly what was trained.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::explain::{Explainer, Explanations};
use super::{Encoder, Estimator, ModelKind, ModelParams};
use crate::data::prepare::Preparation;
use crate::data::raw::RawBatch;
use crate::data::schema::{FeatureTable, Signature};
use crate::error::{Error, Result};

pub const FORMAT: &str = "cerebro-model";
/// 2: the artifact holds the fitted preparation and the raw input schema.
pub const FORMAT_VERSION: u32 = 2;

/// A fitted model: preparation, encoder and estimator, the whole path from a raw record to a
/// probability.
#[derive(Debug)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    pub cerebro_version: String,
    pub kind: ModelKind,
    pub params: ModelParams,
    /// The features, with the raw inputs of a pipeline model.
    pub signature: Signature,
    pub data_version: String,
    /// Raw records to features; the identity for a format-1 model.
    pub preparation: Preparation,
    pub encoder: Encoder,
    pub estimator: Estimator,
    pub feature_importance: Vec<(String, f64)>,
    /// Probability at or above which the positive class is predicted.
    pub threshold: f64,
    /// The estimator prepared for explanations, built on first use.
    explainer: OnceLock<std::result::Result<Arc<Explainer>, String>>,
}

/// MLflow's model signature (`signature` in an `MLmodel` file): `inputs` and `outputs` are JSON
/// strings of column specs. `features` (cerebro's) is the signature the estimator sees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlflowSignature {
    pub inputs: String,
    pub outputs: String,
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    pub features: Signature,
}

/// The output column of a cerebro model: the predicted class, 0 or 1.
pub const MLFLOW_OUTPUTS: &str = r#"[{"type": "long", "name": "prediction", "required": true}]"#;

/// Format 2 on disk.
#[derive(Serialize, Deserialize)]
struct Doc {
    format: String,
    format_version: u32,
    cerebro_version: String,
    kind: ModelKind,
    params: ModelParams,
    signature: MlflowSignature,
    data_version: String,
    preparation: Preparation,
    encoder: Encoder,
    estimator: Estimator,
    feature_importance: Vec<(String, f64)>,
    threshold: f64,
}

/// Format 1 on disk: no preparation, the features are the inputs.
#[derive(Deserialize)]
struct DocV1 {
    format: String,
    format_version: u32,
    cerebro_version: String,
    kind: ModelKind,
    params: ModelParams,
    signature: Signature,
    data_version: String,
    encoder: Encoder,
    estimator: Estimator,
    feature_importance: Vec<(String, f64)>,
    threshold: f64,
}

/// What scoring raw records gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Positive-class probability per record.
    pub probabilities: Vec<f64>,
    /// Categorical feature values the encoder never saw in training.
    pub unseen: usize,
    /// Per-feature contributions, when asked for ([`Model::score_explained`]).
    pub explanations: Option<Explanations>,
}

impl Model {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        kind: ModelKind,
        params: ModelParams,
        signature: Signature,
        data_version: String,
        preparation: Preparation,
        encoder: Encoder,
        estimator: Estimator,
        feature_importance: Vec<(String, f64)>,
    ) -> Model {
        let mut signature = signature.features_only();
        if !preparation.is_identity() {
            signature.raw_inputs = Some(preparation.schema.inputs.clone());
        }
        Model {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            cerebro_version: env!("CARGO_PKG_VERSION").into(),
            kind,
            params,
            signature,
            data_version,
            preparation,
            encoder,
            estimator,
            feature_importance,
            threshold: 0.5,
            explainer: OnceLock::new(),
        }
    }

    /// The model's MLflow signature: the raw input schema as `inputs`, the class as `outputs`.
    pub fn mlflow_signature(&self) -> MlflowSignature {
        MlflowSignature {
            inputs: self.preparation.schema.mlflow_inputs(),
            outputs: MLFLOW_OUTPUTS.to_string(),
            params: None,
            features: self.signature.features_only(),
        }
    }

    /// Serialises as format 2.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        #[derive(Serialize)]
        struct DocRef<'a> {
            format: &'a str,
            format_version: u32,
            cerebro_version: &'a str,
            kind: ModelKind,
            params: &'a ModelParams,
            signature: MlflowSignature,
            data_version: &'a str,
            preparation: &'a Preparation,
            encoder: &'a Encoder,
            estimator: &'a Estimator,
            feature_importance: &'a [(String, f64)],
            threshold: f64,
        }
        Ok(serde_json::to_vec(&DocRef {
            format: FORMAT,
            format_version: FORMAT_VERSION,
            cerebro_version: &self.cerebro_version,
            kind: self.kind,
            params: &self.params,
            signature: self.mlflow_signature(),
            data_version: &self.data_version,
            preparation: &self.preparation,
            encoder: &self.encoder,
            estimator: &self.estimator,
            feature_importance: &self.feature_importance,
            threshold: self.threshold,
        })?)
    }

    /// Reads format 2, or format 1 (its preparation is the identity: it takes its features).
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
        if header.format_version <= 1 {
            let d: DocV1 = serde_json::from_slice(bytes)?;
            let signature = d.signature.features_only();
            return Ok(Model {
                format: d.format,
                format_version: d.format_version,
                cerebro_version: d.cerebro_version,
                kind: d.kind,
                params: d.params,
                preparation: Preparation::identity(&signature),
                signature,
                data_version: d.data_version,
                encoder: d.encoder,
                estimator: d.estimator,
                feature_importance: d.feature_importance,
                threshold: d.threshold,
                explainer: OnceLock::new(),
            });
        }
        let d: Doc = serde_json::from_slice(bytes)?;
        let mut signature = d.signature.features.features_only();
        if !d.preparation.is_identity() {
            signature.raw_inputs = Some(d.preparation.schema.inputs.clone());
        }
        Ok(Model {
            format: d.format,
            format_version: d.format_version,
            cerebro_version: d.cerebro_version,
            kind: d.kind,
            params: d.params,
            signature,
            data_version: d.data_version,
            preparation: d.preparation,
            encoder: d.encoder,
            estimator: d.estimator,
            feature_importance: d.feature_importance,
            threshold: d.threshold,
            explainer: OnceLock::new(),
        })
    }

    /// Positive-class probabilities of prepared features and the number of unseen categorical
    /// values met.
    pub fn predict_proba(&self, table: &FeatureTable) -> (Vec<f64>, usize) {
        let x = self.encoder.transform(table);
        (self.estimator.predict_proba(&x), x.unseen)
    }

    /// Scores raw records (columns in the raw schema's order): preparation, encoding,
    /// estimator. Every front end scores through this.
    pub fn score(&self, batch: &RawBatch) -> Result<Scored> {
        self.score_explained(batch, false)
    }

    /// [`Model::score`], and with `explain` also each record's per-feature contributions
    /// ([`super::explain`]) from the same encoded rows; the probabilities are the same either way.
    pub fn score_explained(&self, batch: &RawBatch, explain: bool) -> Result<Scored> {
        let features = self.preparation.transform(batch)?;
        let x = self.encoder.transform(&features);
        let probabilities = self.estimator.predict_proba(&x);
        let explanations = if explain {
            Some(self.explainer()?.explain(&x))
        } else {
            None
        };
        Ok(Scored {
            probabilities,
            unseen: x.unseen,
            explanations,
        })
    }

    /// The estimator prepared for explanations (built once, then shared). Fails for a tree
    /// or forest saved before node covers were kept.
    pub fn explainer(&self) -> Result<Arc<Explainer>> {
        self.explainer
            .get_or_init(|| {
                Explainer::new(&self.estimator, &self.encoder)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Error::invalid)
    }

    /// Scores the rows of a loaded table (a data version's raw rows, a batch file's chunk).
    pub fn score_frame(&self, df: &polars::prelude::DataFrame) -> Result<Scored> {
        self.score(&self.preparation.batch_of_frame(df)?)
    }
}
