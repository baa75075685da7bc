//! Request counters and latency statistics of an endpoint: the Prometheus text exposition served
//! at `/metrics`, and the last-minute percentiles its heartbeat records in the store.
//!
//! Everything is lock-free atomics except two small maps (requests by status and version) and
//! the per-second latency windows, each behind an uncontended mutex held for a few instructions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use super::log::LogHealth;
use super::router::{ArmRole, Served};

/// Upper bounds of the Prometheus latency histogram, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Sub-buckets per power of two in the percentile windows (relative error under 25 %).
const SUB: u32 = 4;
/// Window buckets: values up to 2^40 µs.
const WINDOW_BUCKETS: usize = (SUB as usize) * 40;
/// Seconds of history kept for percentiles.
const WINDOW_SECS: usize = 60;

#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(u16, String), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    pub requests_total: AtomicU64,
    pub errors_total: AtomicU64,
    pub records_total: AtomicU64,
    pub unseen_total: AtomicU64,
    pub reloads_total: AtomicU64,
    pub in_flight: AtomicI64,
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    /// Connections answered 503 and closed because `max_connections` were open.
    pub connections_refused_total: AtomicU64,
    /// Connections closed at a deadline (head, idle or a stalled response).
    pub connections_timed_out_total: AtomicU64,
    /// Requests refused 401 (not counted as invocation requests or errors).
    pub unauthenticated_total: AtomicU64,
    /// Prediction requests answered 503 because the inference log could not be written
    /// (`serving.log_failure = "refuse"`).
    pub log_refused_total: AtomicU64,
    window: Mutex<Vec<(u64, Vec<u32>)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            records_total: AtomicU64::new(0),
            unseen_total: AtomicU64::new(0),
            reloads_total: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused_total: AtomicU64::new(0),
            connections_timed_out_total: AtomicU64::new(0),
            unauthenticated_total: AtomicU64::new(0),
            log_refused_total: AtomicU64::new(0),
            window: Mutex::new(vec![(u64::MAX, vec![0; WINDOW_BUCKETS]); WINDOW_SECS]),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn window_index(us: u64) -> usize {
    let v = us.clamp(1, (1 << 40) - 1);
    let e = 63 - v.leading_zeros();
    if e < 2 {
        return v as usize;
    }
    let sub = ((v >> (e - 2)) & u64::from(SUB - 1)) as u32;
    (SUB * (e - 1) + sub) as usize
}

/// Upper bound (µs) of a window bucket.
fn window_upper(i: usize) -> u64 {
    let i = i as u32;
    if i < SUB {
        return u64::from(i) + 1;
    }
    let e = i / SUB + 1;
    let sub = u64::from(i % SUB);
    (SUB as u64 + sub + 1) << (e - 2)
}

impl Metrics {
    /// Records a finished request to `/invocations`. `versions` is the label of what served it
    /// ("3", "3,4", or "none" when it failed before reaching a model).
    pub fn observe(&self, status: u16, versions: &str, latency_us: u64) {
        self.requests_total.fetch_add(1, Relaxed);
        if status >= 400 {
            self.errors_total.fetch_add(1, Relaxed);
        }
        if let Ok(mut m) = self.requests.lock() {
            if let Some(n) = m.get_mut(&(status, versions.to_string())) {
                *n += 1;
            } else {
                m.insert((status, versions.to_string()), 1);
            }
        }
        let secs = latency_us as f64 / 1e6;
        if let Some(b) = BUCKETS.iter().position(|&ub| secs <= ub) {
            self.latency_buckets[b].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(latency_us, Relaxed);
        let now = now_secs();
        if let Ok(mut w) = self.window.lock() {
            let slot = &mut w[(now % WINDOW_SECS as u64) as usize];
            if slot.0 != now {
                slot.0 = now;
                slot.1.iter_mut().for_each(|c| *c = 0);
            }
            slot.1[window_index(latency_us)] += 1;
        }
    }

    /// Requests, p50 and p99 latency (ms) over the last minute.
    pub fn last_minute(&self) -> (u64, Option<f64>, Option<f64>) {
        let now = now_secs();
        let mut merged = vec![0u64; WINDOW_BUCKETS];
        if let Ok(w) = self.window.lock() {
            for (sec, counts) in w.iter() {
                if *sec != u64::MAX && *sec + WINDOW_SECS as u64 > now {
                    for (m, c) in merged.iter_mut().zip(counts) {
                        *m += u64::from(*c);
                    }
                }
            }
        }
        let total: u64 = merged.iter().sum();
        let pct = |q: f64| -> Option<f64> {
            if total == 0 {
                return None;
            }
            let target = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut acc = 0;
            for (i, c) in merged.iter().enumerate() {
                acc += c;
                if acc >= target {
                    return Some(window_upper(i) as f64 / 1000.0);
                }
            }
            None
        };
        (total, pct(0.5), pct(0.99))
    }

    /// The Prometheus text exposition (format 0.0.4), with the inference log's health.
    pub fn render(&self, endpoint: &str, served: &Served, log: &LogHealth) -> String {
        let mut s = String::with_capacity(4096);
        let ep = escape(endpoint);
        let _ = writeln!(
            s,
            "# HELP cerebro_requests_total Invocation requests by HTTP status and the model version(s) that served them.\n# TYPE cerebro_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((status, versions), n) in m.iter() {
                let _ = writeln!(
                    s,
                    "cerebro_requests_total{{endpoint=\"{ep}\",status=\"{status}\",version=\"{}\"}} {n}",
                    escape(versions)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP cerebro_request_duration_seconds Invocation latency, from the request's arrival to its response.\n# TYPE cerebro_request_duration_seconds histogram"
        );
        let mut acc = 0;
        for (ub, b) in BUCKETS.iter().zip(&self.latency_buckets) {
            acc += b.load(Relaxed);
            let _ = writeln!(
                s,
                "cerebro_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"{ub}\"}} {acc}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "cerebro_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {count}\ncerebro_request_duration_seconds_sum{{endpoint=\"{ep}\"}} {}\ncerebro_request_duration_seconds_count{{endpoint=\"{ep}\"}} {count}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let gauges: [(&str, &str, &str, i64); 15] = [
            (
                "cerebro_requests_in_flight",
                "gauge",
                "Invocation requests being processed.",
                self.in_flight.load(Relaxed),
            ),
            (
                "cerebro_open_connections",
                "gauge",
                "Open client connections.",
                self.connections_open.load(Relaxed),
            ),
            (
                "cerebro_connections_total",
                "counter",
                "Client connections accepted.",
                self.connections_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_records_total",
                "counter",
                "Records predicted.",
                self.records_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_unseen_categories_total",
                "counter",
                "Categorical values not seen in training, met in requests.",
                self.unseen_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_model_reloads_total",
                "counter",
                "Times the served versions changed.",
                self.reloads_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_connections_refused_total",
                "counter",
                "Connections answered 503 and closed because serving.max_connections were open.",
                self.connections_refused_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_connections_timed_out_total",
                "counter",
                "Connections closed at a deadline (request head, idle keep-alive, stalled response).",
                self.connections_timed_out_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_unauthenticated_requests_total",
                "counter",
                "Requests refused 401 for a missing or wrong bearer token.",
                self.unauthenticated_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_inference_log_lines_written_total",
                "counter",
                "Inference-log lines written.",
                log.written.load(Relaxed) as i64,
            ),
            (
                "cerebro_inference_log_lines_waiting",
                "gauge",
                "Inference-log lines kept in memory after a failed write, waiting for a retry.",
                log.waiting.load(Relaxed) as i64,
            ),
            (
                "cerebro_inference_log_lines_lost_total",
                "counter",
                "Inference-log lines given up (never written).",
                log.lost.load(Relaxed) as i64,
            ),
            (
                "cerebro_inference_log_write_errors_total",
                "counter",
                "Failed inference-log writes.",
                log.write_errors.load(Relaxed) as i64,
            ),
            (
                "cerebro_inference_log_refused_requests_total",
                "counter",
                "Prediction requests answered 503 because the inference log could not be written.",
                self.log_refused_total.load(Relaxed) as i64,
            ),
            (
                "cerebro_challenger_share",
                "gauge",
                "Share of records routed to the challenger, in thousandths.",
                (served.share * 1000.0).round() as i64,
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{endpoint=\"{ep}\"}} {v}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP cerebro_model_info The model versions being served (value 1).\n# TYPE cerebro_model_info gauge"
        );
        for role in [ArmRole::Champion, ArmRole::Challenger] {
            if let Some(a) = served.arm(role) {
                let _ = writeln!(
                    s,
                    "cerebro_model_info{{endpoint=\"{ep}\",model=\"{}\",version=\"{}\",stage=\"{}\",arm=\"{}\",kind=\"{}\"}} 1",
                    escape(&served.model_name),
                    a.version,
                    a.stage,
                    role.as_str(),
                    a.model.kind.as_str()
                );
            }
        }
        s
    }
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_buckets_bound_their_values() {
        for us in [1u64, 2, 3, 4, 5, 7, 8, 100, 999, 1000, 1_234_567] {
            let i = window_index(us);
            assert!(window_upper(i) >= us, "{us}: bucket {i}");
            assert!(window_upper(i) as f64 <= us as f64 * 1.25 + 1.0, "{us}");
            if i > 0 {
                assert!(window_upper(i - 1) <= us, "{us}");
            }
        }
    }

    #[test]
    fn percentiles_over_the_last_minute() {
        let m = Metrics::default();
        for _ in 0..99 {
            m.observe(200, "1", 100);
        }
        m.observe(500, "none", 50_000);
        let (n, p50, p99) = m.last_minute();
        assert_eq!(n, 100);
        assert!(p50.unwrap() >= 0.1 && p50.unwrap() < 0.13, "{p50:?}");
        assert!(p99.unwrap() < 0.13, "{p99:?}");
        let text = m.render("ep", &Served::empty("m"), &LogHealth::default());
        assert!(
            text.contains(
                "cerebro_requests_total{endpoint=\"ep\",status=\"200\",version=\"1\"} 99"
            )
        );
        assert!(text.contains("cerebro_request_duration_seconds_count{endpoint=\"ep\"} 100"));
    }
}
