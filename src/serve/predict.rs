//! Parsing, A/B routing and prediction of one request (pure CPU work, run inline or on the
//! blocking pool), and the hand-written JSON of its answer.

use std::sync::Arc;

use crate::train::explain::Explanations;

use super::api_error::{ApiError, no_model};
use super::payload::{self, Parsed};
use super::router::{Arm, ArmRole, Served};

/// The records one arm predicted.
pub(super) struct Group {
    pub(super) arm: Arc<Arm>,
    pub(super) rows: Option<Vec<usize>>,
    pub(super) probabilities: Vec<f64>,
    pub(super) predictions: Vec<u8>,
    pub(super) unseen: usize,
    /// The group's records' contributions, when asked for.
    pub(super) explanations: Option<Explanations>,
}

/// A successful prediction.
pub(super) struct Predicted {
    pub(super) parsed: Arc<Parsed>,
    pub(super) groups: Vec<Group>,
    /// Per record, in request order.
    pub(super) probabilities: Vec<f64>,
    pub(super) predictions: Vec<u8>,
    /// Per record, in request order, with explanations: (group, row within the group).
    pub(super) explained: Option<Vec<(usize, usize)>>,
}

impl Predicted {
    pub(super) fn versions(&self) -> String {
        let mut v: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.arm.version.to_string())
            .collect();
        v.dedup();
        v.join(",")
    }
}

/// Parses, routes and predicts; with `explain` (or `params.explain` in the body) also explains
/// every record. Pure CPU work; may run on the blocking pool.
pub(super) fn predict(
    served: &Served,
    content_type: Option<&str>,
    body: &[u8],
    max_rows: usize,
    client_id: Option<&str>,
    explain: bool,
) -> std::result::Result<Predicted, ApiError> {
    let champion = served.champion.as_ref().ok_or_else(no_model)?;
    let parsed = payload::parse(content_type, body, &champion.schema, max_rows)?;
    let explain = explain || parsed.options.explain;
    let rows = parsed.rows();
    let client_id = parsed.client_request_id.as_deref().or(client_id);
    let mut groups = Vec::with_capacity(2);
    if served.challenger.is_none() {
        groups.push((champion.clone(), None));
    } else {
        let (mut champ, mut chall) = (Vec::new(), Vec::new());
        for r in 0..rows {
            let key = parsed.ids[r].as_deref().or(client_id);
            match served.route(key) {
                ArmRole::Champion => champ.push(r),
                ArmRole::Challenger => chall.push(r),
            }
        }
        for (role, index) in [(ArmRole::Champion, champ), (ArmRole::Challenger, chall)] {
            if index.is_empty() {
                continue;
            }
            let arm = served.arm(role).cloned().ok_or_else(no_model)?;
            let rows = (index.len() < rows).then_some(index);
            groups.push((arm, rows));
        }
    }
    let mut probabilities = vec![0.0; rows];
    let mut predictions = vec![0u8; rows];
    let mut explained = explain.then(|| vec![(0, 0); rows]);
    let mut out = Vec::with_capacity(groups.len());
    for (g, (arm, index)) in groups.into_iter().enumerate() {
        let scored = match &index {
            None => arm.model.score_explained(&parsed.batch, explain),
            Some(ix) => arm.model.score_explained(&parsed.select(ix), explain),
        }
        .map_err(|e| ApiError::new(400, "BAD_REQUEST", e.to_string()))?;
        if let Some(e) = &mut explained {
            match &index {
                None => e.iter_mut().enumerate().for_each(|(r, x)| *x = (g, r)),
                Some(ix) => ix.iter().enumerate().for_each(|(k, &r)| e[r] = (g, k)),
            }
        }
        let (p, unseen) = (scored.probabilities, scored.unseen);
        let labels: Vec<u8> = p
            .iter()
            .map(|&x| u8::from(x >= arm.model.threshold))
            .collect();
        match &index {
            None => {
                probabilities.copy_from_slice(&p);
                predictions.copy_from_slice(&labels);
            }
            Some(ix) => {
                for (k, &r) in ix.iter().enumerate() {
                    probabilities[r] = p[k];
                    predictions[r] = labels[k];
                }
            }
        }
        out.push(Group {
            arm,
            rows: index,
            probabilities: p,
            predictions: labels,
            unseen,
            explanations: scored.explanations,
        });
    }
    Ok(Predicted {
        parsed: Arc::new(parsed),
        groups: out,
        probabilities,
        predictions,
        explained,
    })
}

/// `{"predictions": [...]}` (and `probabilities`), written by hand: this is the hot path.
pub(super) fn write_predictions(out: &mut Vec<u8>, p: &Predicted, probabilities: bool) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"predictions\":[");
    for (i, (&label, &prob)) in p.predictions.iter().zip(&p.probabilities).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if p.parsed.options.predict_proba {
            let _ = write!(out, "[{},{}]", json_f64(1.0 - prob), json_f64(prob));
        } else {
            out.push(b'0' + label);
        }
    }
    out.push(b']');
    if probabilities || p.parsed.options.probabilities {
        out.extend_from_slice(b",\"probabilities\":[");
        for (i, &prob) in p.probabilities.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{}", json_f64(prob));
        }
        out.push(b']');
    }
    if let Some(explained) = &p.explained {
        out.extend_from_slice(b",\"explanations\":[");
        for (i, &(g, k)) in explained.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if let Some(e) = &p.groups[g].explanations {
                write_explanation(out, e, k);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// `{"scale", "base_value", "raw_score", "contributions": {feature: value, ...}}` of record
/// `k` (feature names are column names, JSON-escaped).
pub(super) fn write_explanation(out: &mut Vec<u8>, e: &Explanations, k: usize) {
    use std::io::Write as _;
    let _ = write!(
        out,
        "{{\"scale\":\"{}\",\"base_value\":{},\"raw_score\":{},\"contributions\":{{",
        e.scale.as_str(),
        json_f64(e.base_value),
        json_f64(e.raw_score(k))
    );
    for (f, (name, v)) in e.features.iter().zip(e.row(k)).enumerate() {
        if f > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, name);
        let _ = write!(out, ":{}", json_f64(*v));
    }
    out.extend_from_slice(b"}}");
}

/// A finite float as JSON (probabilities always are; anything else becomes null).
fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}
