//! What the run view draws beyond the record: the per-step metric series (learning curves), the
//! test set's ROC and precision-recall curves with the confusion matrix (the `curves.json`
//! artifact logged at training), and the feature importance (`feature_importance.json`). Runs
//! trained before the curves were logged, or by another MLflow client, simply lack them.

use serde::Serialize;

use crate::error::Result;
use crate::store::{Backend, RunDetail};
use crate::train::metrics::Curves;

use super::CURVES_ARTIFACT;

/// The charts of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCharts {
    pub run_id: String,
    /// Metrics logged at more than one step: key -> (step, value) points by step.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub curves: Option<Curves>,
    /// Feature -> share of the model's importance (sums to 1), largest first.
    pub importance: Vec<(String, f64)>,
}

/// Reads the charts of `run` from the store (metric histories and two small artifacts).
pub fn run_charts(store: &dyn Backend, run: &RunDetail) -> Result<RunCharts> {
    let run_id = run.summary.run_id.clone();
    let mut series = Vec::new();
    for key in run.summary.metrics.keys() {
        let points = store.metric_history(&run_id, key)?;
        if points.len() > 1 {
            series.push((
                key.clone(),
                points.iter().map(|p| (p.step as f64, p.value)).collect(),
            ));
        }
    }
    let artifact = |name: &str| -> Result<Option<Vec<u8>>> {
        match run.artifacts.iter().find(|a| a.name == name) {
            Some(a) => store
                .artifact_bytes(Some(&run_id), &a.name, &a.digest)
                .map(Some),
            None => Ok(None),
        }
    };
    let curves = match artifact(CURVES_ARTIFACT)? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let mut importance: Vec<(String, f64)> = match artifact("feature_importance.json")? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Vec::new(),
    };
    importance.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(RunCharts {
        run_id,
        series,
        curves,
        importance,
    })
}
