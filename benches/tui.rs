//! TUI speed benchmarks (issue 6, "How we will check it"). Run with `bench/tui_speed.sh` or
//! `cargo bench --bench tui [-- SECTION...]`; sections: `render`, `scale`, `launch`, `idle`.
//!
//! - `render` (criterion): one whole frame of every tab at 200x60 on ratatui's `TestBackend`,
//!   over a state holding 10,000 runs (target < 5 ms).
//! - `scale` (criterion): on 100,000 runs, the Experiments tab's filter keystroke (a word, and
//!   a 3-clause filter expression), sort change,
//!   scroll and frame, i.e. `update` plus one draw, as the event loop does them.
//! - `launch`: the real release binary in a pseudo-terminal (200x60) on a store with 10,000 runs
//!   and 1,000,000 metric points built with the core API, timed from spawn to the first frame
//!   and to the first frame that shows the runs; the same on 100,000 runs. Medians of 7.
//! - `idle`: the same binary left idle on that store: CPU (% of one core, from
//!   `/proc/<pid>/stat`), resident memory (VmRSS), bytes written to the terminal per idle
//!   minute, and bytes per key press (tab switch, list scroll).
//!
//! The TUI lives in the binary crate, so its modules are compiled into this bench by path.

#[allow(dead_code, unused_imports)]
#[path = "../src/tui/mod.rs"]
mod tui;

// In test builds (`cargo test --benches`) `tui` declares its fixtures itself.
#[cfg(not(test))]
#[allow(dead_code, unused_imports)]
#[path = "../src/tui/fixtures.rs"]
mod fixtures;
#[cfg(test)]
use tui::fixtures;

// `fixtures` names its siblings through `super::` (unused when `tui` declares it).
#[allow(unused_imports)]
use tui::{action, app, effects, keymap, theme, update};

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cerebro::data::profile::{ColumnProfile, NumericSummary, Profile};
use cerebro::jobs::JobEvent;
use cerebro::registry::Stage;
use cerebro::store::{
    Environment, MetricPoint, NewRun, RunStatus, RunSummary, SqliteStore, TrackingStore, host_name,
};
use criterion::Criterion;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use action::Action;
use app::State;

const W: u16 = 200;
const H: u16 = 60;

// ---------------------------------------------------------------------------------------------
// In-process states

fn summary(i: usize) -> RunSummary {
    let kinds = ["tree", "forest", "logistic", "gbt"];
    let auc = 0.6 + (i * 7919 % 1000) as f64 / 3000.0;
    let mut r = fixtures::run(
        &format!("{i:08x}"),
        &format!("{}-{i}", kinds[i % 4]),
        auc,
        if i.is_multiple_of(97) {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        },
    );
    r.model_kind = kinds[i % 4].into();
    r.experiment = format!("exp-{}", i % 12);
    r.start_time = 1_700_000_000_000 + i as i64 * 60_000;
    r.metrics.insert("accuracy".into(), auc - 0.05);
    r.metrics.insert("log_loss".into(), 1.0 - auc);
    r
}

fn profile() -> Profile {
    let columns = (0..24)
        .map(|c| {
            if c % 3 == 2 {
                ColumnProfile {
                    name: format!("CATEGORY_{c}"),
                    dtype: "str".into(),
                    nulls: c * 3,
                    distinct: 12,
                    numeric: None,
                    top: (0..8)
                        .map(|k| (format!("value {k}"), 100 - k * 9))
                        .collect(),
                    histogram: Vec::new(),
                }
            } else {
                ColumnProfile {
                    name: format!("NUMBER_{c}"),
                    dtype: "f64".into(),
                    nulls: c,
                    distinct: 900,
                    numeric: Some(NumericSummary {
                        min: 0.0,
                        max: 100.0,
                        mean: 40.0,
                        std: 9.0,
                        median: 38.0,
                    }),
                    top: Vec::new(),
                    histogram: (0..30).map(|b| (b as f64 * 3.3, b * 37 % 50)).collect(),
                }
            }
        })
        .collect();
    Profile {
        rows: 16_376,
        columns,
    }
}

/// Every tab populated: `runs` runs, a registered model with versions and history, two
/// endpoints with a minute of heartbeats, a profiled dataset, an hour of monitoring windows and
/// a dozen jobs.
fn populated(runs: usize) -> State {
    let mut s = fixtures::loaded();
    update::update(&mut s, Action::Resize(W, H));
    update::update(&mut s, Action::RunsLoaded((0..runs).map(summary).collect()));
    update::update(
        &mut s,
        Action::ProfileLoaded {
            prepared: false,
            result: Ok(profile()),
        },
    );
    let versions: Vec<_> = (1..=20)
        .rev()
        .map(|v| {
            fixtures::version(
                v,
                match v {
                    20 => Stage::Staging,
                    19 => Stage::Production,
                    v if v > 10 => Stage::Archived,
                    _ => Stage::None,
                },
            )
        })
        .collect();
    update::update(
        &mut s,
        Action::ModelLoaded {
            name: "characters".into(),
            versions,
            history: Vec::new(),
        },
    );
    for at in 0..60 {
        update::update(
            &mut s,
            Action::EndpointsLoaded(vec![
                fixtures::endpoint("local", "up", 1_000 * at),
                fixtures::endpoint("old", "down", 5),
            ]),
        );
    }
    // An hour of one-minute monitoring windows.
    update::update(
        &mut s,
        Action::MonitorLoaded(Ok(Box::new(fixtures::monitoring_snapshot(60)))),
    );
    for job in 1..=12u64 {
        update::update(
            &mut s,
            Action::Job(JobEvent::Queued {
                job,
                label: format!("tree max_depth={job}"),
            }),
        );
        update::update(&mut s, Action::Job(JobEvent::Started { job }));
        for step in 0..20 {
            update::update(
                &mut s,
                Action::Job(JobEvent::Progress {
                    job,
                    stage: "fit".into(),
                    fraction: step as f64 / 20.0,
                    message: format!("tree {step} of 20"),
                }),
            );
        }
    }
    s
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &State) {
    terminal
        .draw(|f| tui::render::draw(f, state))
        .expect("TestBackend draws");
}

fn render_benches(c: &mut Criterion) {
    let mut s = populated(10_000);
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("TestBackend");
    let mut group = c.benchmark_group("tui_render_200x60");
    group.sample_size(50);
    let tabs = [
        ("data", Action::TabData),
        ("experiments_10k", Action::TabExperiments),
        ("registry", Action::TabRegistry),
        ("endpoints", Action::TabEndpoints),
        ("monitoring", Action::TabMonitoring),
        ("jobs", Action::TabJobs),
    ];
    for (name, tab) in tabs {
        update::update(&mut s, tab);
        group.bench_function(name, |b| b.iter(|| draw(&mut terminal, black_box(&s))));
    }
    // The comparison of four runs and a run's detail.
    update::update(&mut s, Action::TabExperiments);
    for _ in 0..4 {
        update::update(&mut s, Action::Mark);
    }
    update::update(&mut s, Action::Compare);
    group.bench_function("experiments_compare_4", |b| {
        b.iter(|| draw(&mut terminal, black_box(&s)))
    });
    group.finish();
}

fn scale_benches(c: &mut Criterion) {
    const RUNS: usize = 100_000;
    let mut s = populated(RUNS);
    update::update(&mut s, Action::TabExperiments);
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("TestBackend");
    let mut group = c.benchmark_group("tui_experiments_100k");
    group.sample_size(20);
    group.bench_function("frame", |b| b.iter(|| draw(&mut terminal, black_box(&s))));
    group.bench_function("runs_loaded", |b| {
        let runs: Vec<RunSummary> = s.experiments.runs.clone();
        b.iter_batched(
            || runs.clone(),
            |runs| {
                update::update(&mut s, Action::RunsLoaded(runs));
                draw(&mut terminal, &s);
            },
            criterion::BatchSize::LargeInput,
        )
    });
    // One keystroke into the filter: the rows are filtered again and a frame drawn.
    update::update(&mut s, Action::Filter);
    let mut typed = false;
    group.bench_function("filter_keystroke", |b| {
        b.iter(|| {
            // Alternates between typing `7` and deleting it, so every sample filters 100k runs.
            let action = if typed {
                Action::Backspace
            } else {
                Action::Input('7')
            };
            typed = !typed;
            update::update(&mut s, action);
            draw(&mut terminal, &s);
        })
    });
    update::update(&mut s, Action::Back);
    // The same with a 3-clause filter expression (issue 18: under 20 ms): each keystroke parses
    // the text again and evaluates it over the 100,000 runs.
    update::update(&mut s, Action::Filter);
    for c in
        "metrics.roc_auc > 0.7 and params.max_depth = 8 or attributes.status = 'FAILED'".chars()
    {
        update::update(&mut s, Action::Input(c));
    }
    assert!(s.experiments.query.is_some(), "the expression parses");
    let mut typed = false;
    group.bench_function("filter_expression_keystroke", |b| {
        b.iter(|| {
            // A trailing space typed and deleted: the expression stays the same 3 clauses.
            let action = if typed {
                Action::Backspace
            } else {
                Action::Input(' ')
            };
            typed = !typed;
            update::update(&mut s, action);
            draw(&mut terminal, &s);
        })
    });
    update::update(&mut s, Action::Back);
    group.bench_function("sort_change", |b| {
        b.iter(|| {
            update::update(&mut s, Action::Sort);
            draw(&mut terminal, &s);
        })
    });
    group.bench_function("scroll_page_down", |b| {
        b.iter(|| {
            update::update(&mut s, Action::PageDown);
            draw(&mut terminal, &s);
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The real binary in a pseudo-terminal

const CONFIG: &str = r#"[workspace]
name = "bench"

[dataset]
path = "data.csv"
id = "id"
target = "y"
positive = "yes"
numeric = ["num"]
categorical = ["cat"]

[train]
experiment = "bench"
"#;

/// A workspace whose store holds `runs` finished runs with `points_per_run` metric points each
/// (two per-step series and six final metrics), written with the core API.
fn build_workspace(runs: usize, points_per_run: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.toml"), CONFIG).unwrap();
    let mut csv = String::from("id,num,cat,y\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "{i},{},{},{}\n",
            i % 17,
            ["a", "b"][i % 2],
            ["yes", "no"][i % 3 % 2]
        ));
    }
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    let started = Instant::now();
    let mut store = SqliteStore::open(&dir.path().join(".cerebro")).expect("store");
    let finals = [
        "roc_auc",
        "f1",
        "accuracy",
        "precision",
        "recall",
        "log_loss",
    ];
    let series = (points_per_run.saturating_sub(finals.len())) / 2;
    let timestamp = 1_700_000_000_000;
    for r in 0..runs {
        let new = NewRun {
            experiment: format!("exp-{}", r % 12),
            name: format!("{}-{r}", ["tree", "forest", "logistic", "gbt"][r % 4]),
            model_kind: ["tree", "forest", "logistic", "gbt"][r % 4].into(),
            params: [
                ("max_depth", "8"),
                ("min_samples_leaf", "1"),
                ("seed", "42"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            tags: BTreeMap::new(),
            environment: Environment {
                host: host_name(),
                ..Environment::default()
            },
            data_version: None,
            pid: std::process::id(),
            source: None,
        };
        let run = store.create_run(&new).unwrap();
        let auc = 0.6 + (r * 7919 % 1000) as f64 / 3000.0;
        let mut points: Vec<MetricPoint> = (0..series)
            .flat_map(|step| {
                let x = step as f64 / series.max(1) as f64;
                [
                    MetricPoint {
                        key: "roc_auc_by_trees".into(),
                        value: auc * x,
                        step: step as i64,
                        timestamp,
                    },
                    MetricPoint {
                        key: "log_loss_by_trees".into(),
                        value: 1.0 - auc * x,
                        step: step as i64,
                        timestamp,
                    },
                ]
            })
            .collect();
        points.extend(finals.iter().enumerate().map(|(k, key)| MetricPoint {
            key: (*key).into(),
            value: auc - k as f64 / 100.0,
            step: 0,
            timestamp,
        }));
        store.log_metrics(&run, &points).unwrap();
        store.finish_run(&run, RunStatus::Finished, None).unwrap();
    }
    let points = runs * (series * 2 + finals.len());
    eprintln!(
        "built a store of {runs} runs and {points} metric points in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    dir
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cerebro"))
}

/// Screen markers and when the screen first showed each, since spawn.
type Seen = Arc<Mutex<Vec<(String, Option<Duration>)>>>;

/// `cerebro tui` in a pseudo-terminal, its output fed to a vt100 parser and counted.
struct Session {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    parser: Arc<Mutex<vt100::Parser>>,
    bytes: Arc<AtomicU64>,
    keys: Box<dyn Write + Send>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    reader: Option<std::thread::JoinHandle<()>>,
    spawned: Instant,
    /// (marker, first time the screen showed it), checked after every read.
    seen: Seen,
}

impl Session {
    fn start(dir: &Path, markers: &[&str]) -> Session {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: H,
                cols: W,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(binary());
        cmd.arg("tui");
        cmd.cwd(dir);
        cmd.env_remove("CEREBRO_CONFIG");
        cmd.env("TERM", "xterm-256color");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(H).unwrap(),
            NonZeroU16::new(W).unwrap(),
            0,
        )));
        let bytes = Arc::new(AtomicU64::new(0));
        let seen: Seen = Arc::new(Mutex::new(
            markers.iter().map(|m| (m.to_string(), None)).collect(),
        ));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let keys = pair.master.take_writer().unwrap();
        let spawned = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("cerebro tui starts");
        drop(pair.slave);
        let (feed, count, watch) = (parser.clone(), bytes.clone(), seen.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                count.fetch_add(n as u64, Ordering::SeqCst);
                let mut p = feed.lock().unwrap();
                p.process(&buf[..n]);
                let mut seen = watch.lock().unwrap();
                if seen.iter().any(|(_, t)| t.is_none()) {
                    let text = p.screen().contents();
                    for (marker, at) in seen.iter_mut() {
                        if at.is_none() && text.contains(marker.as_str()) {
                            *at = Some(spawned.elapsed());
                        }
                    }
                }
            }
        });
        Session {
            child,
            parser,
            bytes,
            keys,
            _master: pair.master,
            reader: Some(reader),
            spawned,
            seen,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn pid(&self) -> u32 {
        self.child.process_id().expect("a pid")
    }

    /// When the screen first showed `marker`, waiting up to `secs`.
    fn wait_for(&self, marker: &str, secs: u64) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, Some(at))) = self.seen.lock().unwrap().iter().find(|(m, _)| m == marker)
            {
                return *at;
            }
            if self.text().contains(marker) {
                return self.spawned.elapsed();
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {marker:?}:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn press(&mut self, key: &str) {
        self.keys.write_all(key.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// Waits until nothing has been written for `quiet`.
    fn settle(&self, quiet: Duration) {
        let mut last = self.bytes.load(Ordering::SeqCst);
        loop {
            std::thread::sleep(quiet);
            let now = self.bytes.load(Ordering::SeqCst);
            if now == last {
                return;
            }
            last = now;
        }
    }

    fn quit(mut self) {
        self.press("q");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                self.child.kill().ok();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(self._master);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The title of the runs table once every run is loaded.
fn all_runs_marker(runs: usize) -> String {
    format!("Runs {runs}/{runs}")
}

fn launch(dir: &Path, runs: usize, times: usize) {
    let first = "2 Experiments";
    // The newest run's name, on the first row of the table.
    let newest = format!(
        "{}-{} ",
        ["tree", "forest", "logistic", "gbt"][(runs - 1) % 4],
        runs - 1
    );
    let rows = newest.as_str();
    let all = all_runs_marker(runs);
    let (mut frames, mut shown, mut loaded) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..times {
        let s = Session::start(dir, &[first, rows, &all]);
        frames.push(ms(s.wait_for(first, 30)));
        shown.push(ms(s.wait_for(rows, 30)));
        loaded.push(ms(s.wait_for(&all, 60)));
        s.quit();
    }
    println!(
        "tui launch, {runs} runs, 200x60: first frame {:.1} ms, first frame with runs {:.1} ms, \
         every run loaded {:.1} ms (medians of {times}; target < 150 ms)",
        median(frames),
        median(shown),
        median(loaded)
    );
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let field = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn idle(dir: &Path, runs: usize) {
    let secs: u64 = std::env::var("TUI_BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut s = Session::start(dir, &[]);
    s.wait_for(&all_runs_marker(runs), 60);
    s.settle(Duration::from_millis(1500));
    let pid = s.pid();
    let (ticks, bytes, t0) = (
        cpu_ticks(pid),
        s.bytes.load(Ordering::SeqCst),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - ticks) as f64 / clock_ticks_per_second() / elapsed * 100.0;
    let idle_bytes = s.bytes.load(Ordering::SeqCst) - bytes;
    let rss = rss_mb(pid);
    println!(
        "tui idle, {runs} runs, {elapsed:.0} s: CPU {cpu:.2}% of a core (target < 2%), \
         VmRSS {rss:.1} MB (target < 150 MB), {:.0} bytes written per idle minute",
        idle_bytes as f64 * 60.0 / elapsed
    );

    // Bytes per key press: each key, then wait until the screen stops changing.
    let mut per_key = |label: &str, key: &str| {
        let mut counts = Vec::new();
        for _ in 0..5 {
            let before = s.bytes.load(Ordering::SeqCst);
            s.press(key);
            s.settle(Duration::from_millis(300));
            counts.push((s.bytes.load(Ordering::SeqCst) - before) as f64);
        }
        println!("tui bytes per key, {label}: median {:.0}", median(counts));
    };
    per_key("scroll one row (j)", "j");
    per_key("scroll one page (PageDown)", "\x1b[6~");
    s.press("2");
    s.settle(Duration::from_millis(300));
    let mut pairs = Vec::new();
    for _ in 0..5 {
        let before = s.bytes.load(Ordering::SeqCst);
        s.press("3");
        s.settle(Duration::from_millis(300));
        s.press("2");
        s.settle(Duration::from_millis(300));
        pairs.push((s.bytes.load(Ordering::SeqCst) - before) as f64 / 2.0);
    }
    println!(
        "tui bytes per key, tab switch Experiments <-> Registry (3 then 2): median {:.0} per switch",
        median(pairs)
    );
    s.quit();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = ["render", "scale", "launch", "idle"];
    let wanted: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|s| args.iter().any(|a| a == s))
            .collect()
    };
    if wanted.contains(&"render") || wanted.contains(&"scale") {
        // Sections are chosen by name here, so criterion gets no command-line filter.
        let mut c = Criterion::default();
        if wanted.contains(&"render") {
            render_benches(&mut c);
        }
        if wanted.contains(&"scale") {
            scale_benches(&mut c);
        }
        c.final_summary();
    }
    if wanted.contains(&"launch") || wanted.contains(&"idle") {
        let big = build_workspace(10_000, 100);
        if wanted.contains(&"launch") {
            launch(big.path(), 10_000, 7);
        }
        if wanted.contains(&"idle") {
            idle(big.path(), 10_000);
        }
        drop(big);
        if wanted.contains(&"launch") {
            let huge = build_workspace(100_000, 10);
            launch(huge.path(), 100_000, 5);
        }
    }
}
