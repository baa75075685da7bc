//! Wall-clock time as the store keeps it: unix milliseconds in an `i64` (MLflow's unit for run
//! start and end times, metric timestamps and registry events). Every layer that stamps a row
//! (tracking, registry, serving status, monitoring, workflows) reads the clock here, so none of
//! them needs the store for it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current unix time in milliseconds; 0 if the system clock is before 1970, `i64::MAX` past
/// the year 292 million.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
