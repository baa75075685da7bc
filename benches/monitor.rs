//! Drift benchmarks, the Rust side of `bench/monitor.sh`.
//!
//! - `monitor/drift_1m_x10`: every drift statistic (PSI, KS, normalised Wasserstein for the
//!   numeric columns; PSI, chi-square, Jensen–Shannon for the categorical ones) for 10 columns (6
//!   numeric, 4 categorical) of a 1,000,000-row current window against a 1,000,000-row baseline,
//!   from raw current values: binning the window (one branchless search per value on the
//!   baseline's percentile edges, categories already as codes) is inside the timed loop, building
//!   the baseline (done once per model version) is outside. Single thread.
//! - `monitor/drift_exact_1m_x10`: like for like with Evidently's `DataDriftPreset`: the same
//!   10 columns with the baseline's statistics built inside the timed call (each numeric
//!   column sorted, each categorical one counted) and every statistic exact on both whole
//!   samples (KS statistic and p-value, normalised Wasserstein, PSI; chi-square, JS, PSI).
//! - `monitor/drift_values_1m_x10`: the product's path with the baseline cached (built once
//!   per model version): the window's values kept as a window keeps them (exact up to 10,000,
//!   then a KLL sketch) and tested against the exact baseline by `monitor::values`.
//! - `monitor/drift_from_counts_x10`: the same statistics from window counts already aggregated
//!   by ingestion — what `cerebro monitor drift` pays per window.
//! - `monitor/ingest_200k`: 200,000 inference-log lines (one record of 10 features each, as
//!   `serve::log` writes them) ingested into a fresh store with 5-minute, 1-hour and 1-day
//!   windows and a 10-feature baseline; writing the file and opening the store are not timed.
//!   `monitor/ingest_200k_with_predictions`: the same, also keeping one `monitor_predictions`
//!   row per record (keyed by its `id`) for the label join.
//! - `monitor/new_file_to_aggregates`: a new log file to its lines counted in the store, through
//!   `monitor::watch` (see `watch_latency`).
//!
//! Data as `../shared/peers/evidently_drift.py` makes it: numeric N(0,1) in the baseline and
//! N(shift·(i mod 2), 1) in the window; categories a–d with p = (0.5, 0.3, 0.15, 0.05), rolled
//! by one for odd columns in the window.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cerebro::monitor::ingest::{Baseline, DEFAULT_GRANULARITIES_MS, FeatureBaseline, Ingestor};
use cerebro::store::SqliteStore;

use cerebro::monitor::sample::{BaselineValues, NumericSample};
use cerebro::monitor::stats::{
    ColumnDrift, NumericBaseline, NumericCounts, categorical_drift, chi_square, jensen_shannon,
    ks_2samp_sorted, numeric_drift, psi, wasserstein_sorted,
};
use cerebro::monitor::values::{values_drift, with_categorical_band};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 1_000_000;
const INGEST_LINES: usize = 200_000;

fn normal(rng: &mut StdRng, mean: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let (u, v): (f64, f64) = (rng.r#gen::<f64>().max(1e-300), rng.r#gen());
            mean + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

fn categories(rng: &mut StdRng, roll: usize, n: usize) -> Vec<u32> {
    let p = [0.5, 0.3, 0.15, 0.05];
    let cum: Vec<f64> = (0..4)
        .scan(0.0, |s, i| {
            *s += p[(i + 4 - roll) % 4];
            Some(*s)
        })
        .collect();
    (0..n)
        .map(|_| {
            let u: f64 = rng.r#gen();
            cum.iter().position(|c| u < *c).unwrap_or(3) as u32
        })
        .collect()
}

struct Frame {
    numeric: Vec<Vec<f64>>,
    categorical: Vec<Vec<u32>>,
}

fn frame(rng: &mut StdRng, shift: usize) -> Frame {
    Frame {
        numeric: (0..6)
            .map(|i| normal(rng, (shift * (i % 2)) as f64, ROWS))
            .collect(),
        categorical: (0..4)
            .map(|i| categories(rng, shift * (i % 2), ROWS))
            .collect(),
    }
}

fn count_codes(codes: &[u32], k: usize) -> Vec<u64> {
    let mut c = vec![0u64; k];
    for &x in codes {
        c[x as usize] += 1;
    }
    c
}

fn drift_raw(base: &[NumericBaseline], base_cat: &[Vec<u64>], cur: &Frame) -> Vec<ColumnDrift> {
    let mut out = Vec::with_capacity(10);
    for (b, values) in base.iter().zip(&cur.numeric) {
        let mut counts = NumericCounts::empty();
        b.binner().add(values, &mut counts);
        out.push(numeric_drift(b, &counts, None, None));
    }
    for (b, codes) in base_cat.iter().zip(&cur.categorical) {
        out.push(categorical_drift(b, &count_codes(codes, 4), 0, None, None));
    }
    out
}

/// Like for like with Evidently's `DataDriftPreset`: the baseline's statistics are built inside
/// the call (each numeric column sorted, each categorical one counted), and every statistic is
/// exact on both whole samples: KS statistic and p-value, normalised Wasserstein and PSI on the
/// baseline's deciles for numeric columns; PSI, chi-square p-value and Jensen–Shannon for
/// categorical ones. Returns, per column, `[PSI, the p-value (KS or chi-square), the distance
/// (Wasserstein or Jensen–Shannon: the default test at these sizes)]`.
fn drift_exact(baseline: &Frame, cur: &Frame) -> Vec<[f64; 3]> {
    let mut out = Vec::with_capacity(10);
    for (r, v) in baseline.numeric.iter().zip(&cur.numeric) {
        let b = BaselineValues::from_values(r);
        let c = BaselineValues::from_values(v);
        let ks = ks_2samp_sorted(&b.sorted, &c.sorted);
        let w = wasserstein_sorted(&b.sorted, &c.sorted) / b.std;
        let bins = |x: &[f64]| {
            let mut k = vec![0.0; b.psi_edges.len() + 1];
            for v in x {
                k[b.psi_edges.partition_point(|e| e <= v)] += 1.0;
            }
            k
        };
        let p = psi(&bins(&b.sorted), &bins(&c.sorted));
        out.push([p, ks.p_value, w]);
    }
    for (r, v) in baseline.categorical.iter().zip(&cur.categorical) {
        let b: Vec<f64> = count_codes(r, 4).iter().map(|x| *x as f64).collect();
        let c: Vec<f64> = count_codes(v, 4).iter().map(|x| *x as f64).collect();
        let (_, chi_p) = chi_square(&b, &c);
        out.push([psi(&b, &c), chi_p, jensen_shannon(&b, &c)]);
    }
    out
}

/// What the product does per window with the baseline cached (built once per model version):
/// the window's values kept as `monitor::sample` keeps them (exact up to 10,000, then a KLL
/// sketch with its stated rank error) and tested by `monitor::values` against the exact
/// baseline; categorical counts with their no-drift band.
fn drift_values(base: &[BaselineValues], base_cat: &[Vec<u64>], cur: &Frame) -> Vec<ColumnDrift> {
    let mut out = Vec::with_capacity(10);
    for (b, values) in base.iter().zip(&cur.numeric) {
        let s = NumericSample::from_values(values);
        out.push(values_drift(b, &s, None, None));
    }
    for (b, codes) in base_cat.iter().zip(&cur.categorical) {
        let d = categorical_drift(b, &count_codes(codes, 4), 0, None, None);
        out.push(with_categorical_band(d, b));
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let base_frame = frame(&mut rng, 0);
    let current = frame(&mut rng, 1);
    let base: Vec<NumericBaseline> = base_frame
        .numeric
        .iter()
        .map(|v| NumericBaseline::from_values(v))
        .collect();
    let base_cat: Vec<Vec<u64>> = base_frame
        .categorical
        .iter()
        .map(|c| count_codes(c, 4))
        .collect();

    let result = drift_raw(&base, &base_cat, &current);
    let drifted: Vec<bool> = result.iter().map(|d| d.drifted).collect();
    // Odd columns are shifted; even ones are not.
    assert_eq!(
        drifted,
        [
            false, true, false, true, false, true, false, true, false, true
        ]
    );

    let values: Vec<BaselineValues> = base_frame
        .numeric
        .iter()
        .map(|v| BaselineValues::from_values(v))
        .collect();
    let product = drift_values(&values, &base_cat, &current);
    let exact = drift_exact(&base_frame, &current);
    for (i, (d, e)) in product.iter().zip(&exact).enumerate() {
        assert_eq!(d.drifted, i % 2 == 1, "column {i}: {d:?}");
        // The same default test on the same data: the sketch's score is within its bound.
        assert!(
            (d.score - e[2]).abs() < 0.02,
            "column {i}: {} vs {}",
            d.score,
            e[2]
        );
    }

    let mut g = c.benchmark_group("monitor");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("drift_1m_x10", |b| {
        b.iter(|| black_box(drift_raw(&base, &base_cat, black_box(&current))))
    });
    g.bench_function("drift_exact_1m_x10", |b| {
        b.iter(|| black_box(drift_exact(black_box(&base_frame), black_box(&current))))
    });
    g.bench_function("drift_values_1m_x10", |b| {
        b.iter(|| black_box(drift_values(&values, &base_cat, black_box(&current))))
    });

    let counts: Vec<NumericCounts> = base
        .iter()
        .zip(&current.numeric)
        .map(|(b, v)| {
            let mut c = NumericCounts::empty();
            b.binner().add(v, &mut c);
            c
        })
        .collect();
    let cat_counts: Vec<Vec<u64>> = current
        .categorical
        .iter()
        .map(|c| count_codes(c, 4))
        .collect();
    g.bench_function("drift_from_counts_x10", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(10);
            for (b, c) in base.iter().zip(&counts) {
                out.push(numeric_drift(b, c, None, None));
            }
            for (b, c) in base_cat.iter().zip(&cat_counts) {
                out.push(categorical_drift(b, c, 0, None, None));
            }
            black_box(out)
        })
    });
    g.finish();

    let baseline = Arc::new(Baseline {
        features: base
            .iter()
            .enumerate()
            .map(|(i, b)| FeatureBaseline::Numeric {
                name: format!("num{i}"),
                baseline: b.clone(),
            })
            .chain((0..4).map(|i| {
                FeatureBaseline::categorical(
                    &format!("cat{i}"),
                    &[Some("a"), Some("b"), Some("c"), Some("d")],
                )
            }))
            .collect(),
        preparation: None,
        rows: Default::default(),
    });
    let mut text = Vec::new();
    for r in 0..INGEST_LINES {
        write!(
            text,
            "{{\"request_id\":\"r{r}\",\"client_request_id\":null,\"timestamp_ms\":{},\"endpoint\":\"churn\",\"model\":\"m\",\"version\":1,\"arm\":\"primary\",\"status\":200,\"latency_us\":{},\"inputs\":[{{\"id\":\"{r}\"",
            1_700_000_000_000u64 + r as u64 * 10,
            100 + r % 300
        )
        .unwrap();
        for i in 0..6 {
            write!(text, ",\"num{i}\":{}", current.numeric[i][r]).unwrap();
        }
        for i in 0..4 {
            write!(
                text,
                ",\"cat{i}\":\"{}\"",
                ["a", "b", "c", "d"][current.categorical[i][r] as usize]
            )
            .unwrap();
        }
        writeln!(
            text,
            "}}],\"predictions\":[1],\"probabilities\":[0.73],\"unseen_categories\":0}}"
        )
        .unwrap();
    }
    let mut g = c.benchmark_group("monitor");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(criterion::Throughput::Elements(INGEST_LINES as u64));
    for (name, capture) in [
        ("ingest_200k", false),
        ("ingest_200k_with_predictions", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let logs = dir.path().join("inference/churn");
                    std::fs::create_dir_all(&logs).unwrap();
                    std::fs::write(logs.join("1700000000000-1-0000.jsonl"), &text).unwrap();
                    let store = SqliteStore::open(dir.path()).unwrap();
                    let p = baseline.clone();
                    let mut ing = Ingestor::open(
                        store.db_path(),
                        &DEFAULT_GRANULARITIES_MS,
                        Box::new(move |_, _| Some(p.clone())),
                    )
                    .unwrap();
                    if capture {
                        ing = ing.with_predictions(Some("id"));
                    }
                    let t = Instant::now();
                    let r = ing.ingest_dir(&dir.path().join("inference")).unwrap();
                    total += t.elapsed();
                    assert_eq!(r.lines, INGEST_LINES as u64);
                    assert_eq!(r.predictions, if capture { INGEST_LINES as u64 } else { 0 });
                }
                total
            })
        });
    }
    g.finish();
}

/// `monitor/new_file_to_aggregates`: a new 100-line log file appears in an endpoint folder;
/// timed from just before it is written until the watcher's event has been handled and the
/// windows in the store count its lines (notify, the default 50 ms debounce, one ingestion
/// pass). The target is 500 ms.
fn watch_latency(c: &mut Criterion) {
    use cerebro::monitor::watch::{Folder, WatchOptions, watch};
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("inference");
    std::fs::create_dir_all(logs.join("churn")).unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut ing = Ingestor::open(
        store.db_path(),
        &DEFAULT_GRANULARITIES_MS,
        Box::new(|_, _| None),
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = watch(&[(Folder::Logs, logs.clone())], WatchOptions::default(), tx).unwrap();
    let mut n = 0u64;
    let mut g = c.benchmark_group("monitor");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("new_file_to_aggregates", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut text = String::new();
                for i in 0..100 {
                    text.push_str(&format!(
                        "{{\"request_id\":\"r{n}-{i}\",\"timestamp_ms\":1700000000000,\"endpoint\":\"churn\",\"model\":\"m\",\"version\":1,\"status\":200,\"latency_us\":100,\"inputs\":[{{\"id\":\"{i}\",\"x\":1.5}}],\"predictions\":[1],\"probabilities\":[0.7]}}\n"
                    ));
                }
                let path = logs.join(format!("churn/{:013}-1-{n:04}.jsonl", 1_700_000_000_000u64 + n));
                n += 1;
                let before: u64 = requests(&ing);
                let t = Instant::now();
                std::fs::write(&path, &text).unwrap();
                loop {
                    rx.blocking_recv().expect("watcher running");
                    ing.ingest_dir(&logs).unwrap();
                    if requests(&ing) == before + 100 {
                        break;
                    }
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn requests(ing: &Ingestor) -> u64 {
    ing.windows(DEFAULT_GRANULARITIES_MS[2])
        .unwrap()
        .iter()
        .map(|(_, w)| w.requests)
        .sum()
}

criterion_group!(benches, bench, watch_latency);
criterion_main!(benches);
