//! Doubles that may be undefined (NaN) or infinite, through JSON.
//!
//! JSON has no NaN or infinity. serde_json writes them as `null`, which is what `--json` output
//! shows for an undefined metric (ROC AUC on a test set with one class, as scikit-learn's
//! `roc_auc_score` returns NaN there), but reading that `null` back into an `f64` fails. Every
//! metric that is written as JSON and read back (a registered version's metrics in the store, an
//! export manifest, a gate result) goes through these helpers, so a finished run with an
//! undefined metric can be registered, exported and imported like any other.
//!
//! Reading accepts a number, `null` (NaN), and the strings MLflow's proto JSON uses
//! (`"NaN"`, `"Infinity"`, `"-Infinity"`). Writing for output gives `null` for every non-finite
//! value; [`to_text`] keeps infinities apart from NaN for the store's own columns.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

/// A JSON value as a double: numbers as they are, `null` and unknown shapes as NaN, and
/// MLflow's `"NaN"`, `"Infinity"`, `"-Infinity"` (also `"inf"`, `"-inf"`).
pub fn double(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "Infinity" | "inf" | "+inf" => f64::INFINITY,
            "-Infinity" | "-inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

/// A double as MLflow's proto JSON takes it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn proto(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x == f64::INFINITY {
        Value::from("Infinity")
    } else if x == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(x)
    }
}

/// A metric map as JSON text for the store: non-finite values as [`proto`] strings, so
/// infinities survive the round trip through [`map`]'s reader.
pub fn to_text(metrics: &BTreeMap<String, f64>) -> String {
    let m: serde_json::Map<String, Value> = metrics
        .iter()
        .map(|(k, v)| (k.clone(), proto(*v)))
        .collect();
    Value::Object(m).to_string()
}

/// `#[serde(with = "json_f64::map")]` for a `BTreeMap<String, f64>`: written as numbers
/// (`null` when undefined), read with [`double`].
pub mod map {
    use super::*;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(m, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let raw = BTreeMap::<String, Value>::deserialize(d)?;
        Ok(raw.into_iter().map(|(k, v)| (k, double(&v))).collect())
    }
}

/// `#[serde(with = "json_f64::value")]` for an `f64` that may be undefined.
pub mod value {
    use super::*;

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*x)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(double(&Value::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Holder {
        #[serde(with = "map")]
        metrics: BTreeMap<String, f64>,
        #[serde(with = "value")]
        one: f64,
    }

    #[test]
    fn undefined_values_write_null_and_read_back_as_nan() {
        let h = Holder {
            metrics: BTreeMap::from([("roc_auc".into(), f64::NAN), ("f1".into(), 0.5)]),
            one: f64::NAN,
        };
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(text, r#"{"metrics":{"f1":0.5,"roc_auc":null},"one":null}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert!(back.metrics["roc_auc"].is_nan());
        assert_eq!(back.metrics["f1"], 0.5);
        assert!(back.one.is_nan());
    }

    #[test]
    fn store_text_keeps_infinities_apart_from_nan() {
        let m = BTreeMap::from([
            ("a".to_string(), f64::INFINITY),
            ("b".to_string(), f64::NEG_INFINITY),
            ("c".to_string(), f64::NAN),
            ("d".to_string(), -0.25),
        ]);
        let text = to_text(&m);
        assert_eq!(
            text,
            r#"{"a":"Infinity","b":"-Infinity","c":"NaN","d":-0.25}"#
        );
        let back: Holder =
            serde_json::from_str(&format!(r#"{{"metrics":{text},"one":"-Infinity"}}"#)).unwrap();
        assert_eq!(back.metrics["a"], f64::INFINITY);
        assert_eq!(back.metrics["b"], f64::NEG_INFINITY);
        assert!(back.metrics["c"].is_nan());
        assert_eq!(back.metrics["d"], -0.25);
        assert_eq!(back.one, f64::NEG_INFINITY);
    }
}
