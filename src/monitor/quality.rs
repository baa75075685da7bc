//! Realised model quality: the predictions ingestion kept (`monitor_predictions`) joined by
//! record id with the ground truth that arrived later (`monitor_labels`).

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::train::metrics::evaluate;

/// Realised metrics of the labelled records of a window (scikit-learn's definitions, positive
/// class at probability 0.5; a record logged without a probability scores its 0/1 prediction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityMetrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// NaN (null in JSON) when the labels hold one class only.
    pub roc_auc: f64,
    pub labelled: u64,
}

impl QualityMetrics {
    /// The value of a metric by name (`accuracy`, `precision`, `recall`, `f1`, `roc_auc`).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => Some(self.accuracy),
            "precision" => Some(self.precision),
            "recall" => Some(self.recall),
            "f1" => Some(self.f1),
            "roc_auc" => Some(self.roc_auc),
            _ => None,
        }
    }
}

/// The scored records of one window, with their labels where known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowRecords {
    /// Positive-class probability of every record (its 0/1 prediction when none was logged).
    pub scores: Vec<f64>,
    /// `(label, score)` of the labelled records.
    pub labelled: Vec<(u8, f64)>,
}

impl WindowRecords {
    /// Realised metrics, `None` without labelled records.
    pub fn realised(&self) -> Option<QualityMetrics> {
        if self.labelled.is_empty() {
            return None;
        }
        let truth: Vec<u8> = self.labelled.iter().map(|r| r.0).collect();
        let proba: Vec<f64> = self.labelled.iter().map(|r| r.1).collect();
        let m = evaluate(&truth, &proba);
        Some(QualityMetrics {
            accuracy: m.accuracy,
            precision: m.precision,
            recall: m.recall,
            f1: m.f1,
            roc_auc: m.roc_auc,
            labelled: truth.len() as u64,
        })
    }
}

/// The records one endpoint's model version scored in `[from_ms, to_ms)`.
pub fn window_records(
    conn: &Connection,
    endpoint: &str,
    model: &str,
    version: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<WindowRecords> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.prediction, p.probability, l.label
         FROM monitor_predictions p LEFT JOIN monitor_labels l ON l.record_id = p.record_id
         WHERE p.endpoint = ?1 AND p.model = ?2 AND p.version = ?3
           AND p.timestamp_ms >= ?4 AND p.timestamp_ms < ?5",
    )?;
    let mut rows = stmt.query(params![endpoint, model, version, from_ms, to_ms])?;
    let mut out = WindowRecords::default();
    while let Some(r) = rows.next()? {
        let prediction: i64 = r.get(0)?;
        let probability: Option<f64> = r.get(1)?;
        let label: Option<i64> = r.get(2)?;
        let score = probability.unwrap_or(prediction as f64);
        out.scores.push(score);
        if let Some(l) = label {
            out.labelled.push((u8::from(l == 1), score));
        }
    }
    Ok(out)
}

/// Labels whose record id matches no kept prediction (yet): unknown ids, or labels for
/// predictions not ingested so far.
pub fn unmatched_labels(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM monitor_labels l WHERE NOT EXISTS
           (SELECT 1 FROM monitor_predictions p WHERE p.record_id = l.record_id)",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Predictions of an endpoint (every endpoint with `None`) that have a label, and all of them.
pub fn labelled_counts(conn: &Connection, endpoint: Option<&str>) -> Result<(u64, u64)> {
    let (labelled, total): (i64, i64) = conn.query_row(
        "SELECT COUNT(l.record_id), COUNT(*)
         FROM monitor_predictions p LEFT JOIN monitor_labels l ON l.record_id = p.record_id
         WHERE ?1 IS NULL OR p.endpoint = ?1",
        [endpoint],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((labelled as u64, total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_join_predictions_by_record_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        let conn = Connection::open(store.db_path()).unwrap();
        let rows = [
            ("a", 1_000, 1, Some(0.9), Some(1)),
            ("b", 2_000, 0, Some(0.2), Some(1)),
            ("c", 3_000, 1, Some(0.7), Some(0)),
            ("d", 4_000, 0, Some(0.1), Some(0)),
            ("e", 5_000, 0, None, None),
            ("f", 9_000, 1, Some(0.8), Some(1)), // outside the window
        ];
        for (id, t, pred, p, label) in rows {
            conn.execute(
                "INSERT INTO monitor_predictions VALUES (?1, 'ep', 'm', 1, ?2, ?3, ?4)",
                params![id, t, pred, p],
            )
            .unwrap();
            if let Some(l) = label {
                conn.execute(
                    "INSERT INTO monitor_labels VALUES (?1, ?2, 0, 'labels.csv:1')",
                    params![id, l],
                )
                .unwrap();
            }
        }
        conn.execute(
            "INSERT INTO monitor_labels VALUES ('zzz', 1, 0, 'labels.csv:9')",
            [],
        )
        .unwrap();
        let w = window_records(&conn, "ep", "m", 1, 0, 6_000).unwrap();
        assert_eq!(w.scores.len(), 5);
        let q = w.realised().unwrap();
        assert_eq!(q.labelled, 4);
        // a TP, b FN, c FP, d TN.
        assert_eq!(q.accuracy, 0.5);
        assert_eq!(q.precision, 0.5);
        assert_eq!(q.recall, 0.5);
        // Scores 0.9, 0.7 | positives a (0.9), b (0.2); negatives c (0.7), d (0.1):
        // pairs (a>c, a>d, b<c, b>d) = 3/4.
        assert_eq!(q.roc_auc, 0.75);
        assert_eq!(unmatched_labels(&conn).unwrap(), 1);
        assert_eq!(labelled_counts(&conn, Some("ep")).unwrap(), (5, 6));
        assert_eq!(labelled_counts(&conn, Some("other")).unwrap(), (0, 0));
    }
}
