//! One module per tab: its state, how it reacts to actions, and how it renders from `&State`.

pub mod data;
pub mod endpoints;
pub mod experiments;
pub mod jobs;
pub mod monitoring;
pub mod registry;

/// Unix milliseconds as local `MM-DD HH:MM`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10_000 => format!("{:.1}s", ms as f64 / 1e3),
        Some(ms) if ms < 600_000 => format!("{}s", ms / 1000),
        Some(ms) => format!("{}m", ms / 60_000),
    }
}

/// A metric value with 4 decimals, or `-` when missing or undefined (NaN), as the CLI's tables.
pub fn value(v: Option<f64>) -> String {
    match v {
        Some(v) if !v.is_nan() => format!("{v:.4}"),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(Some(1234)), "1.2s");
        assert_eq!(duration(Some(65_000)), "65s");
        assert_eq!(duration(None), "-");
        assert_eq!(value(Some(0.5)), "0.5000");
        assert_eq!(value(Some(f64::NAN)), "-");
    }
}
