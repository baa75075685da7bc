//! `[monitoring]`: where the logs and labels are, which windows to keep, what the baseline is,
//! per-feature test overrides and alert rules. Every key has a default, so a workspace without
//! the section monitors its serving log with Evidently's defaults and no alerts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::stats::{DEFAULT_DRIFT_SHARE, StatTest, TestOverride};

/// `[monitoring]` of `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Inference-log folder, relative to the config; default: `serving.log_dir`.
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Ground-truth folder (`*.csv` or `*.jsonl` of `id,label`), relative to the config.
    #[serde(default = "default_labels_dir")]
    pub labels_dir: PathBuf,
    /// Window lengths: a number and a unit, `s`, `m`, `h` or `d` (`"5m"`, `"1h"`, `"1d"`).
    #[serde(default = "default_granularities")]
    pub granularities: Vec<String>,
    /// What a window is compared with.
    #[serde(default)]
    pub baseline: BaselineMode,
    /// Share of drifted features at which the dataset drifted.
    #[serde(default = "default_drift_share")]
    pub drift_share: f64,
    /// Records a window needs before drift is judged; below it the window shows its statistics
    /// and says "too few records" instead of a verdict (default 50).
    #[serde(default = "default_min_window_records")]
    pub min_window_records: u64,
    /// Per-feature test and threshold: `[monitoring.features.age] test = "psi"`.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureTestConfig>,
    /// Poll interval of the watcher when file events do not arrive, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How long an alert hook may run before it is killed, in milliseconds.
    #[serde(default = "default_hook_timeout_ms")]
    pub hook_timeout_ms: u64,
    /// `[[monitoring.alerts]]` rules, evaluated on every refresh.
    #[serde(default)]
    pub alerts: Vec<AlertRule>,
    /// A log or labels line longer than this many bytes is quarantined (with its file, line
    /// and offset) and ingestion goes on after it.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
    /// A log line whose `timestamp_ms` is further ahead of this machine's clock than this
    /// (a window length: `"1h"`, `"1d"`) is quarantined, as is one before 2000-01-01, so a
    /// wrong clock cannot make up the latest windows.
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew: String,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            log_dir: None,
            labels_dir: default_labels_dir(),
            granularities: default_granularities(),
            baseline: BaselineMode::default(),
            drift_share: default_drift_share(),
            min_window_records: default_min_window_records(),
            features: BTreeMap::new(),
            poll_ms: default_poll_ms(),
            hook_timeout_ms: default_hook_timeout_ms(),
            alerts: Vec::new(),
            max_line_bytes: default_max_line_bytes(),
            max_clock_skew: default_max_clock_skew(),
        }
    }
}

fn default_labels_dir() -> PathBuf {
    PathBuf::from("data/labels")
}
fn default_granularities() -> Vec<String> {
    ["5m", "1h", "1d"].iter().map(|s| s.to_string()).collect()
}
fn default_drift_share() -> f64 {
    DEFAULT_DRIFT_SHARE
}
fn default_min_window_records() -> u64 {
    super::drift::DEFAULT_MIN_WINDOW_RECORDS
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_hook_timeout_ms() -> u64 {
    10_000
}
fn default_max_line_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_max_clock_skew() -> String {
    "1d".into()
}

/// The baseline a window is compared with.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BaselineMode {
    /// The training table of the served version's data version.
    #[default]
    Training,
    /// The window before, at the same granularity, for the same endpoint and version.
    PreviousWindow,
}

/// `[monitoring.features.<name>]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureTestConfig {
    pub test: StatTest,
    #[serde(default)]
    pub threshold: Option<f64>,
}

impl From<FeatureTestConfig> for TestOverride {
    fn from(c: FeatureTestConfig) -> TestOverride {
        TestOverride {
            test: c.test,
            threshold: c.threshold,
        }
    }
}

/// What an alert rule watches.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A feature drifted by its test (one alert per feature); `threshold` overrides the test's.
    FeatureDrift,
    /// The share of drifted features reached `threshold` (default: `drift_share`).
    DatasetDrift,
    /// The positive-class probability histogram drifted from the test set's (score ≥
    /// `threshold` for a distance, < for a p-value; default: the test's verdict).
    PredictionDrift,
    /// `metric` (default accuracy) fell by at least `threshold` (default 0.1) below the
    /// version's test value: realised when the window has labels, else the CBPE estimate.
    QualityDrop,
    /// Errors / requests reached `threshold` (default 0.05).
    ErrorRate,
    /// Mean latency in milliseconds reached `threshold` (default 1000).
    Latency,
    /// The endpoint stopped or its heartbeat is older than `threshold` seconds (default 30).
    EndpointDown,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FeatureDrift => "feature_drift",
            AlertKind::DatasetDrift => "dataset_drift",
            AlertKind::PredictionDrift => "prediction_drift",
            AlertKind::QualityDrop => "quality_drop",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::Latency => "latency",
            AlertKind::EndpointDown => "endpoint_down",
        }
    }

    /// The threshold a rule of this kind uses when it names none (`None`: the test decides).
    pub fn default_threshold(self, drift_share: f64) -> Option<f64> {
        match self {
            AlertKind::FeatureDrift | AlertKind::PredictionDrift => None,
            AlertKind::DatasetDrift => Some(drift_share),
            AlertKind::QualityDrop => Some(0.1),
            AlertKind::ErrorRate => Some(0.05),
            AlertKind::Latency => Some(1000.0),
            AlertKind::EndpointDown => Some(30.0),
        }
    }
}

/// `[[monitoring.alerts]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    pub kind: AlertKind,
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The window length the rule looks at (default: the first granularity).
    #[serde(default)]
    pub granularity: Option<String>,
    /// Only this endpoint (default: every endpoint).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `feature_drift`: only this feature (default: every feature).
    #[serde(default)]
    pub feature: Option<String>,
    /// `quality_drop`: accuracy, precision, recall, f1 or roc_auc (default accuracy).
    #[serde(default)]
    pub metric: Option<String>,
    /// Program and arguments run (no shell) when an alert opens and when it resolves.
    #[serde(default)]
    pub hook: Option<Vec<String>>,
}

/// Metrics a `quality_drop` rule can watch.
pub const QUALITY_METRICS: &[&str] = &["accuracy", "precision", "recall", "f1", "roc_auc"];

/// Parses a window length (`"90s"`, `"5m"`, `"1h"`, `"1d"`) into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    (n > 0).then(|| n.checked_mul(unit_ms)).flatten()
}

/// Formats milliseconds as the shortest window length that parses back (`300000` → `"5m"`).
pub fn format_duration_ms(ms: i64) -> String {
    for (unit, len) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms % len == 0 && ms >= len {
            return format!("{}{unit}", ms / len);
        }
    }
    format!("{ms}ms")
}

impl MonitoringConfig {
    /// The configured granularities in milliseconds (validated at load).
    pub fn granularities_ms(&self) -> Vec<i64> {
        self.granularities
            .iter()
            .filter_map(|g| parse_duration_ms(g))
            .collect()
    }

    /// `max_clock_skew` in milliseconds (validated at load).
    pub fn max_clock_skew_ms(&self) -> i64 {
        parse_duration_ms(&self.max_clock_skew).unwrap_or(86_400_000)
    }

    /// Per-feature overrides as `drift::window_drift` takes them.
    pub fn overrides(&self) -> BTreeMap<String, TestOverride> {
        self.features
            .iter()
            .map(|(k, v)| (k.clone(), (*v).into()))
            .collect()
    }

    /// The first problem found, as (dotted key, message, hint).
    pub fn problem(&self) -> Option<(String, String, Option<String>)> {
        let units = Some("a number and a unit: \"90s\", \"5m\", \"1h\", \"1d\"".to_string());
        if self.granularities.is_empty() {
            return Some((
                "monitoring.granularities".into(),
                "at least one window length is needed".into(),
                units,
            ));
        }
        for g in &self.granularities {
            if parse_duration_ms(g).is_none() {
                return Some((
                    "monitoring.granularities".into(),
                    format!("`{g}` in granularities is not a window length"),
                    units,
                ));
            }
        }
        if !(self.drift_share > 0.0 && self.drift_share <= 1.0) {
            return Some((
                "monitoring.drift_share".into(),
                format!("drift_share must be in (0, 1], got {}", self.drift_share),
                Some("0.5: half the features drifted".into()),
            ));
        }
        for (key, v) in [
            ("monitoring.poll_ms", self.poll_ms),
            ("monitoring.hook_timeout_ms", self.hook_timeout_ms),
        ] {
            if v == 0 {
                return Some((key.into(), "must be at least 1".into(), None));
            }
        }
        if self.max_line_bytes < 1024 {
            return Some((
                "monitoring.max_line_bytes".into(),
                format!("must be at least 1024, got {}", self.max_line_bytes),
                Some("the default is 33554432 (32 MiB)".into()),
            ));
        }
        if parse_duration_ms(&self.max_clock_skew).is_none() {
            return Some((
                "monitoring.max_clock_skew".into(),
                format!("`{}` is not a duration", self.max_clock_skew),
                units.clone(),
            ));
        }
        for (name, f) in &self.features {
            if let Some(t) = f.threshold
                && !(t.is_finite() && t >= 0.0)
            {
                return Some((
                    format!("monitoring.features.{name}.threshold"),
                    format!("threshold must be a number >= 0, got {t}"),
                    None,
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.alerts.iter().enumerate() {
            let at = format!("monitoring.alerts.{i}");
            if r.name.trim().is_empty() {
                return Some((
                    format!("{at}.name"),
                    "an alert rule needs a name".into(),
                    None,
                ));
            }
            if !names.insert(r.name.as_str()) {
                return Some((
                    format!("{at}.name"),
                    format!("two alert rules are named `{}`", r.name),
                    None,
                ));
            }
            if let Some(t) = r.threshold
                && !(t.is_finite() && t >= 0.0)
            {
                return Some((
                    format!("{at}.threshold"),
                    format!("threshold must be a number >= 0, got {t}"),
                    None,
                ));
            }
            if let Some(g) = &r.granularity
                && !self
                    .granularities
                    .iter()
                    .any(|c| parse_duration_ms(c) == parse_duration_ms(g))
            {
                return Some((
                    format!("{at}.granularity"),
                    format!("`{g}` is not one of the configured granularities"),
                    Some(format!("one of {}", self.granularities.join(", "))),
                ));
            }
            if let Some(m) = &r.metric {
                if r.kind != AlertKind::QualityDrop {
                    return Some((
                        format!("{at}.metric"),
                        "only quality_drop rules take a metric".into(),
                        None,
                    ));
                }
                if !QUALITY_METRICS.contains(&m.as_str()) {
                    return Some((
                        format!("{at}.metric"),
                        format!("unknown metric `{m}`"),
                        Some(format!("one of {}", QUALITY_METRICS.join(", "))),
                    ));
                }
            }
            if r.feature.is_some() && r.kind != AlertKind::FeatureDrift {
                return Some((
                    format!("{at}.feature"),
                    "only feature_drift rules take a feature".into(),
                    None,
                ));
            }
            if let Some(h) = &r.hook
                && h.first().is_none_or(|p| p.trim().is_empty())
            {
                return Some((
                    format!("{at}.hook"),
                    "hook must start with a program".into(),
                    Some("hook = [\"/usr/local/bin/notify\", \"--channel\", \"ml\"]".into()),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn durations_parse_and_format_back() {
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        for bad in ["", "5", "m", "0m", "5w", "-5m", "1.5h"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
        assert_eq!(format_duration_ms(300_000), "5m");
        assert_eq!(format_duration_ms(86_400_000), "1d");
        assert_eq!(format_duration_ms(90_000), "90s");
    }

    #[test]
    fn the_commented_starter_section_parses_when_uncommented() {
        let starter = crate::config::STARTER;
        let at = starter
            .find("# [monitoring]")
            .expect("a [monitoring] example");
        let section: String = starter[at..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start().to_string() + "\n")
            .collect();
        let before: String = starter[..at].to_string();
        let loaded =
            crate::config::Config::parse(Path::new("config.toml"), before + &section).unwrap();
        let m = &loaded.config.monitoring;
        assert_eq!(m.alerts.len(), 2);
        assert_eq!(m.alerts[1].kind, AlertKind::QualityDrop);
        assert_eq!(m.features["APPEARANCES"].test, StatTest::Psi);
        assert_eq!(
            m,
            &MonitoringConfig {
                log_dir: Some("data/inference".into()),
                ..m.clone()
            }
        );
    }

    #[test]
    fn problems_name_the_key() {
        let mut c = MonitoringConfig::default();
        assert_eq!(c.problem(), None);
        assert_eq!(c.granularities_ms(), vec![300_000, 3_600_000, 86_400_000]);
        c.granularities.push("7w".into());
        assert_eq!(c.problem().unwrap().0, "monitoring.granularities");
        let mut c = MonitoringConfig::default();
        c.alerts.push(AlertRule {
            name: "q".into(),
            kind: AlertKind::ErrorRate,
            threshold: None,
            granularity: None,
            endpoint: None,
            feature: None,
            metric: Some("accuracy".into()),
            hook: None,
        });
        assert_eq!(c.problem().unwrap().0, "monitoring.alerts.0.metric");
    }
}
