//! Render tests on ratatui's `TestBackend`: every tab at 80x24 (the smallest supported size)
//! and 160x48, asserting the lines a user relies on.

use std::collections::BTreeMap;

use cerebro::data::profile::{ColumnProfile, NumericSummary, Profile};
use cerebro::jobs::JobEvent;
use cerebro::store::{Artifact, Environment, RunDetail};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Action;
use super::app::State;
use super::fixtures::{self, gate, loaded};
use super::render;
use super::update::update;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn screen(state: &State, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(f, state)).unwrap();
    let buf = t.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

fn assert_shows(lines: &[String], needles: &[&str], what: &str) {
    let all = lines.join("\n");
    for n in needles {
        assert!(all.contains(n), "{what}: missing {n:?} in\n{all}");
    }
}

fn profile() -> Profile {
    Profile {
        rows: 3,
        columns: vec![
            ColumnProfile {
                name: "APPEARANCES".into(),
                dtype: "f64".into(),
                nulls: 1,
                distinct: 2,
                numeric: Some(NumericSummary {
                    min: 1.0,
                    max: 40.0,
                    mean: 20.5,
                    std: 1.0,
                    median: 20.5,
                }),
                top: Vec::new(),
                histogram: vec![(1.0, 1), (20.0, 0), (30.0, 1)],
            },
            ColumnProfile {
                name: "ALIGN".into(),
                dtype: "str".into(),
                nulls: 0,
                distinct: 2,
                numeric: None,
                top: vec![("Good".into(), 2), ("Bad".into(), 1)],
                histogram: Vec::new(),
            },
        ],
    }
}

#[test]
fn the_frame_shows_workspace_production_versions_jobs_tabs_and_keys() {
    let s = loaded();
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert!(lines[0].contains("cerebro · test"), "{}", lines[0]);
        assert!(
            lines[0].contains("characters: Production v1"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("jobs: none running"), "{}", lines[0]);
        assert_shows(
            &lines[1..2],
            &[
                "1 Data",
                "2 Experiments",
                "3 Registry",
                "4 Endpoints",
                "5 Monitoring",
                "6 Jobs",
            ],
            "tab bar",
        );
        assert!(
            lines[h as usize - 1].starts_with("space mark  c compare"),
            "{}",
            lines[h as usize - 1]
        );
    }
}

#[test]
fn experiments_tab_lists_runs_with_live_status_and_marks() {
    let mut s = loaded();
    update(&mut s, Action::Mark);
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Runs 3/3, 1 running, 1 marked",
                "tree-bb",
                "forest-ccc",
                "RUNNING",
                "0.8000",
                "started↓",
            ],
            "runs table",
        );
        let marked = lines.iter().find(|l| l.contains("tree-bb")).unwrap();
        assert!(marked.contains("│* bbbb0000"), "{marked}");
    }
    let wide = screen(&s, 160, 48).join("\n");
    assert!(wide.contains("experiment"), "wide screens add columns");
}

#[test]
fn compare_view_puts_runs_side_by_side_and_marks_the_best() {
    let mut s = loaded();
    for a in [Action::Mark, Action::Mark, Action::Compare] {
        update(&mut s, a);
    }
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &["Compare 2 runs", "metric roc_auc", "0.8000 *", "param seed"],
            "compare",
        );
    }
    update(&mut s, Action::ToggleDiff);
    let lines = screen(&s, 160, 48);
    assert_shows(&lines, &["differences only", "param max_depth"], "diff");
    assert!(!lines.join("\n").contains("param seed"));
}

#[test]
fn run_detail_shows_params_metrics_lineage_and_artifacts() {
    let mut s = loaded();
    update(&mut s, Action::Open);
    let summary = s.experiments.runs[1].clone();
    let detail = RunDetail {
        summary,
        tags: BTreeMap::from([("cerebro.model_kind".into(), "tree".into())]),
        environment: Environment {
            cerebro_version: "0.1.0".into(),
            git_commit: Some("0123456789abcdef".into()),
            git_branch: Some("main".into()),
            config_hash: "feedface".repeat(8),
            seed: 42,
            ..Environment::default()
        },
        artifacts: vec![Artifact {
            name: "model.json".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            size: 1234,
            path: "x".into(),
        }],
        error: None,
        pid: None,
        host: "h".into(),
        last_heartbeat: None,
        source: None,
    };
    update(&mut s, Action::RunLoaded(Box::new(detail)));
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(&lines, &["Run bbbb0000", "Params", "max_depth"], "detail");
    }
    let lines = screen(&s, 160, 48);
    assert_shows(
        &lines,
        &[
            "Metrics",
            "Lineage and environment",
            "01234567 main",
            "Artifacts",
            "model.json",
            "cerebro.model_kind",
        ],
        "detail (wide)",
    );
}

/// At 200 columns the selected run's metrics and params sit beside the runs table.
#[test]
fn wide_list_shows_the_selected_run_beside_the_table() {
    let mut s = loaded();
    update(&mut s, Action::Down);
    let lines = screen(&s, 200, 60);
    let name = s.experiments.selected().unwrap().name.clone();
    assert_shows(
        &lines,
        &["(enter: charts)", "Metrics", "Params", "max_depth", &name],
        "200x60",
    );
    let lines = screen(&s, 80, 24);
    assert!(
        !lines.join("\n").contains("(enter: charts)"),
        "not at 80 columns"
    );
}

/// The run view with its charts: learning curve, ROC and PR curves, confusion matrix and
/// importance bars; counts as integers; the record beside the charts at 200x60, above a strip of
/// two charts at 80x24, `m` moving the strip on.
#[test]
fn run_view_draws_learning_curves_roc_confusion_and_importance() {
    use cerebro::track::view::RunCharts;
    use cerebro::train::metrics::curves;
    let mut s = loaded();
    update(&mut s, Action::Open);
    let mut summary = s.experiments.runs[1].clone();
    summary.metrics.insert("tp".into(), 63.0);
    summary
        .metrics
        .insert("a_rather_long_metric_name_that_would_not_fit".into(), 0.5);
    let id = summary.run_id.clone();
    let detail = RunDetail {
        summary,
        tags: BTreeMap::new(),
        environment: Environment::default(),
        artifacts: Vec::new(),
        error: None,
        pid: None,
        host: "h".into(),
        last_heartbeat: None,
        source: None,
    };
    let effects = update(&mut s, Action::RunLoaded(Box::new(detail)));
    assert!(
        matches!(effects.as_slice(), [super::effects::Effect::LoadRunCharts(d)] if d.summary.run_id == id),
        "the record asks for its charts"
    );
    let y: Vec<u8> = (0..200).map(|i| u8::from(i % 3 == 0)).collect();
    let p: Vec<f64> = (0..200)
        .map(|i| if i % 3 == 0 { 0.6 } else { 0.3 } + (i % 7) as f64 / 20.0)
        .collect();
    let charts = RunCharts {
        run_id: id,
        series: vec![(
            "roc_auc_by_trees".into(),
            (1..=20)
                .map(|t| (t as f64 * 50.0, 0.6 + t as f64 / 100.0))
                .collect(),
        )],
        curves: Some(curves(&y, &p, [[100, 33], [20, 47]])),
        importance: vec![("APPEARANCES".into(), 0.6), ("SEX".into(), 0.4)],
    };
    update(&mut s, Action::RunChartsLoaded(Box::new(charts)));
    let wide = screen(&s, 200, 60);
    assert_shows(
        &wide,
        &[
            "roc_auc_by_trees by step",
            "ROC, test set (AUC",
            "Precision-recall, test set",
            "Confusion matrix",
            "predicted 0",
            "Feature importance",
            "APPEARANCES",
            "60.0%",
            "tp             63",
            "a_rather_long_metric_name_t… 0.5000",
        ],
        "run view 200x60",
    );
    assert!(
        wide.join("").contains('⣀')
            || wide.join("").contains('⠁')
            || wide
                .join("")
                .chars()
                .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "braille curves"
    );
    let narrow = screen(&s, 80, 24);
    assert_shows(
        &narrow,
        &["roc_auc_by_trees by step", "ROC, test set", "(m: more)"],
        "80x24",
    );
    update(&mut s, Action::NextSeries);
    update(&mut s, Action::NextSeries);
    let narrow = screen(&s, 80, 24);
    assert_shows(
        &narrow,
        &["Precision-recall", "Confusion matrix"],
        "80x24 after m m",
    );
}

#[test]
fn registry_tab_shows_models_versions_and_history() {
    let mut s = loaded();
    update(&mut s, Action::TabRegistry);
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Models (1)",
                "characters",
                "Versions of characters",
                "Production",
                "champion",
                "Audit history of characters",
            ],
            "registry",
        );
    }
}

#[test]
fn the_registry_tab_says_how_its_webhooks_fared() {
    let mut s = loaded();
    update(&mut s, Action::TabRegistry);
    assert!(!screen(&s, 160, 40).iter().any(|l| l.contains("webhooks")));
    update(
        &mut s,
        Action::WebhooksLoaded(Some(cerebro::notify::outbox::Summary {
            delivered: 7,
            pending: 0,
            failed: 1,
            dropped: 0,
            last_problem: Some("model_version.created to http://hook/: HTTP 404".into()),
        })),
    );
    assert_shows(
        &screen(&s, 160, 40),
        &[
            "webhooks: 7 delivered, 1 FAILED (last: model_version.created to http://hook/: HTTP 404)",
        ],
        "webhooks",
    );
}

#[test]
fn the_promotion_dialog_shows_the_gate_and_asks_for_a_reason_when_it_fails() {
    let mut s = loaded();
    for a in [Action::TabRegistry, Action::FocusRight, Action::Promote] {
        update(&mut s, a);
    }
    assert_shows(
        &screen(&s, 80, 24),
        &["Promote characters/2 to Production?", "evaluating the gate"],
        "evaluating",
    );
    update(
        &mut s,
        Action::GateEvaluated {
            name: "characters".into(),
            version: 2,
            result: Ok(Box::new(gate(false))),
        },
    );
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "candidate v2",
                "0.6000",
                "champion  v1",
                "0.7000",
                "delta          -0.1000",
                "GATE FAILED",
                "force with a reason",
            ],
            "failed gate",
        );
    }
}

#[test]
fn data_tab_shows_schema_histogram_and_versions() {
    let mut s = loaded();
    update(&mut s, Action::TabData);
    assert_shows(
        &screen(&s, 80, 24),
        &["Schema, raw (loading…)", "Data versions (loading…)"],
        "loading",
    );
    update(
        &mut s,
        Action::ProfileLoaded {
            prepared: false,
            result: Ok(profile()),
        },
    );
    update(&mut s, Action::DataVersionsLoaded(Vec::new()));
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Schema, raw: 3 rows, 2 columns",
                "APPEARANCES",
                "1 / 20.500 / 40",
                "Good (2)",
                "APPEARANCES: 1 to 40",
                "Data versions: none yet",
            ],
            "data",
        );
    }
    update(&mut s, Action::Down);
    assert_shows(
        &screen(&s, 80, 24),
        &["ALIGN: top values"],
        "categorical column",
    );
}

#[test]
fn jobs_tab_shows_progress_and_messages() {
    let mut s = loaded();
    update(
        &mut s,
        Action::Job(JobEvent::Queued {
            job: 1,
            label: "tree max_depth=4".into(),
        }),
    );
    update(&mut s, Action::Job(JobEvent::Started { job: 1 }));
    update(
        &mut s,
        Action::Job(JobEvent::Progress {
            job: 1,
            stage: "fit".into(),
            fraction: 0.5,
            message: "growing".into(),
        }),
    );
    update(&mut s, Action::TabJobs);
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert!(lines[0].contains("jobs: 1 running"), "{}", lines[0]);
        assert_shows(
            &lines,
            &[
                "Jobs (1 running, 1 total)",
                "tree max_depth=4",
                "RUNNING",
                "50% fit",
                "fit: growing",
            ],
            "jobs",
        );
    }
}

#[test]
fn endpoints_tab_lists_status_split_rates_latency_and_sparklines() {
    let mut s = loaded();
    update(&mut s, Action::TabEndpoints);
    update(&mut s, Action::EndpointsLoaded(Vec::new()));
    for (w, h) in SIZES {
        assert_shows(
            &screen(&s, w, h),
            &["No endpoints yet", "local endpoint off", "s start endpoint"],
            "endpoints, none",
        );
    }
    for at in 0..40 {
        update(
            &mut s,
            Action::EndpointsLoaded(vec![
                fixtures::endpoint("local", "up", 1_000 * at),
                fixtures::endpoint("old", "down", 5),
            ]),
        );
    }
    update(&mut s, Action::StartEndpoint);
    update(
        &mut s,
        Action::EndpointStarted {
            generation: 1,
            address: "127.0.0.1:40123".into(),
        },
    );
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Endpoints (2)",
                "local *",
                " up ",
                "down",
                "127.0.0.1:40123",
                "v1 90% · v2 10%",
                "2.0",
                "2.5%",
                "0.8",
                "local endpoint up at http://127.0.0.1:40123",
                "CPU",
                "memory 48 MiB",
            ],
            "endpoints",
        );
        // The sparkline draws bars.
        assert!(
            lines.iter().any(|l| l.contains('█') || l.contains('▇')),
            "{}",
            lines.join("\n")
        );
    }
    // The header's status lights: the up endpoint first.
    for (w, h) in SIZES {
        let header = &screen(&s, w, h)[0];
        assert!(
            header.contains("characters: Production v1 ● local up ● old down"),
            "{header}"
        );
    }
}

#[test]
fn help_lists_the_bindings_of_the_keymap() {
    let mut s = loaded();
    update(&mut s, Action::Help);
    let lines = screen(&s, 160, 48);
    assert_shows(
        &lines,
        &["Key bindings", "[global]", "quit", "[experiments]"],
        "help",
    );
    let all: Vec<String> = super::widgets::help::lines(&s)
        .iter()
        .map(|l| l.to_string())
        .collect();
    for (name, _, _) in super::action::BINDABLE {
        assert!(
            all.iter().any(|l| l.contains(&format!(" {name} "))),
            "{name} is bound by default and listed in help"
        );
    }
}

#[test]
fn the_command_line_shows_what_is_typed_and_completions() {
    let mut s = loaded();
    update(&mut s, Action::Command);
    for c in "train tree min_".chars() {
        update(&mut s, Action::Input(c));
    }
    update(&mut s, Action::Complete);
    let lines = screen(&s, 80, 24);
    assert!(
        lines[22].starts_with(":train tree min_samples_"),
        "{}",
        lines[22]
    );
    assert!(lines[22].contains("min_samples_leaf="), "{}", lines[22]);
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut s = loaded();
    for tab in [
        Action::TabData,
        Action::TabExperiments,
        Action::TabRegistry,
        Action::TabEndpoints,
        Action::TabMonitoring,
        Action::TabJobs,
    ] {
        update(&mut s, tab);
        for (w, h) in [(20, 5), (1, 1), (200, 60)] {
            screen(&s, w, h);
        }
    }
}

#[test]
fn an_empty_workspace_offers_the_demo_and_shows_its_progress() {
    let mut s = super::fixtures::state();
    update(&mut s, Action::RunsLoaded(Vec::new()));
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert!(lines[0].contains("D runs the demo"), "{}", lines[0]);
        assert_shows(&lines, &["press D for the demo"], "experiments, empty");
    }
    update(&mut s, Action::Demo);
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert!(
            lines[0].contains("demo: preparing the data"),
            "{}",
            lines[0]
        );
    }
}

/// A long list draws only the rows on screen, from the scroll offset: after `G` the oldest run
/// is on screen and selected, the newest is not, and the title counts every run.
#[test]
fn a_long_runs_list_scrolls_to_the_bottom_and_selects_the_last_row() {
    use cerebro::store::RunStatus;
    let mut s = super::fixtures::state();
    update(&mut s, Action::Resize(80, 24));
    let runs: Vec<_> = (0..1000)
        .map(|i| {
            let mut r = fixtures::run(
                &format!("{i:04}"),
                &format!("run-{i:04}"),
                0.5,
                RunStatus::Finished,
            );
            r.start_time = 1_700_000_000_000 + i as i64;
            r
        })
        .collect();
    update(&mut s, Action::RunsLoaded(runs));
    let lines = screen(&s, 80, 24);
    assert_shows(&lines, &["Runs 1000/1000", "run-0999"], "top of the list");
    update(&mut s, Action::Bottom);
    let lines = screen(&s, 80, 24);
    assert_shows(&lines, &["run-0000", "run-0001"], "bottom of the list");
    assert!(
        !lines.join("\n").contains("run-0999"),
        "the top scrolled away"
    );
    let last = lines.iter().rposition(|l| l.contains("run-0")).unwrap();
    assert!(lines[last].contains("run-0000"), "{}", lines[last]);
    // Selection is drawn reversed: the selected row's cells carry the modifier.
    let mut t = ratatui::Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| render::draw(f, &s)).unwrap();
    let buf = t.backend().buffer();
    let reversed = |y: u16| {
        (0..80).any(|x| {
            buf[(x, y)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        })
    };
    assert!(reversed(last as u16), "the last row is selected");
    assert_eq!((0..24).filter(|&y| reversed(y)).count(), 1);
}

/// The first read shows the newest page while every run loads; reloads merge by id.
#[test]
fn the_newest_runs_show_first_and_reloads_merge_by_id() {
    use cerebro::store::RunStatus;
    let mut s = super::fixtures::state();
    let a = fixtures::run("aaaa", "tree-a", 0.7, RunStatus::Running);
    let b = fixtures::run("bbbb", "tree-b", 0.8, RunStatus::Finished);
    update(&mut s, Action::RecentRunsLoaded(vec![a.clone()]));
    assert_shows(
        &screen(&s, 80, 24),
        &["the newest 1 (reading every run…)", "tree-a"],
        "page",
    );
    assert!(
        !super::demo::offered(&s),
        "no demo offer before every run is read"
    );
    update(&mut s, Action::RunsLoaded(vec![a.clone(), b.clone()]));
    assert_shows(&screen(&s, 80, 24), &["Runs 2/2, 1 running"], "all");
    let mut done = a.clone();
    done.status = RunStatus::Finished;
    let c = fixtures::run("cccc", "tree-c", 0.9, RunStatus::Running);
    update(&mut s, Action::RecentRunsLoaded(vec![c, done]));
    let lines = screen(&s, 80, 24);
    assert_shows(&lines, &["Runs 3/3, 1 running", "tree-c"], "merged");
    assert_eq!(s.experiments.runs.len(), 3);
    assert_eq!(s.experiments.search.len(), 3);
    // The filter sees the merged rows.
    for a in [Action::Filter, Action::Input('-'), Action::Input('c')] {
        update(&mut s, a);
    }
    assert_eq!(s.experiments.rows.len(), 1);
}

/// A tracking server that is down: the title says the runs could not be read (not "loading"),
/// the runs already on screen stay, and `ctrl-r` retries.
#[test]
fn failed_reads_of_runs_say_so_and_keep_what_is_shown() {
    use cerebro::store::RunStatus;
    let mut s = super::fixtures::state();
    super::update::startup(&mut s);
    update(&mut s, Action::RunsFailed("loading runs: no server".into()));
    assert_shows(
        &screen(&s, 80, 24),
        &["Runs: could not be read", "loading runs: no server"],
        "nothing read",
    );
    super::update::startup(&mut s);
    let a = fixtures::run("aaaa", "tree-a", 0.7, RunStatus::Finished);
    update(&mut s, Action::RecentRunsLoaded(vec![a]));
    update(&mut s, Action::RunsFailed("loading runs: gone".into()));
    assert_shows(
        &screen(&s, 80, 24),
        &["the newest 1 (could not read every run", "tree-a"],
        "first page only",
    );
}

#[test]
fn monitoring_tab_shows_drift_table_charts_predictions_quality_and_alerts() {
    let mut s = loaded();
    super::update::startup(&mut s);
    update(&mut s, Action::RecentRunsLoaded(Vec::new()));
    update(&mut s, Action::TabMonitoring);
    for (w, h) in SIZES {
        assert_shows(
            &screen(&s, w, h),
            &["Monitoring", "reading the inference logs"],
            "before the first refresh",
        );
    }
    update(
        &mut s,
        Action::MonitorLoaded(Ok(Box::new(fixtures::monitoring_snapshot(6)))),
    );
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "local characters/1",
                "window 1m",
                "DATASET DRIFT",
                "1 open alert",
                "1 of 2 features drifted",
                "Feature drift vs training data",
                "num",
                "ks",
                "1.00e-6",
                "p < 0.0500",
                "DRIFT",
                "cat",
                "chi_square",
                "Alerts (1 open, 1 total)",
                "num-drift",
            ],
            "monitoring",
        );
    }
    let big = screen(&s, 160, 48);
    assert_shows(
        &big,
        &[
            "num across 6 windows of 1m",
            "baseline",
            "current",
            "Prediction drift",
            "positive rate 0.610 vs 0.310",
            "realised",
            "estimated",
        ],
        "monitoring, charts",
    );
    // The drift table's rows are coloured by status: drifted rows in the `fail` style.
    let coloured = {
        let mut s = loaded();
        s.theme = crate::tui::theme::Theme::parse(crate::tui::theme::DEFAULT_THEME, false).unwrap();
        update(&mut s, Action::TabMonitoring);
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(fixtures::monitoring_snapshot(6)))),
        );
        let mut t = ratatui::Terminal::new(TestBackend::new(160, 48)).unwrap();
        t.draw(|f| render::draw(f, &s)).unwrap();
        let buf = t.backend().buffer().clone();
        let row = (0..48u16)
            .find(|&y| {
                let line: String = (0..80u16).map(|x| buf[(x, y)].symbol()).collect();
                line.contains("│num ")
            })
            .expect("the num row");
        let x = (0..80u16)
            .find(|&x| buf[(x, row)].symbol() == "D")
            .expect("DRIFT on the num row");
        buf[(x, row)].fg
    };
    let fail = crate::tui::theme::Theme::parse(crate::tui::theme::DEFAULT_THEME, false)
        .unwrap()
        .get("fail")
        .fg
        .unwrap();
    assert_eq!(coloured, fail);
}

#[test]
fn monitoring_table_keeps_test_names_whole_at_80_120_and_200_columns() {
    use cerebro::monitor::stats::StatTest;
    let mut s = loaded();
    update(&mut s, Action::TabMonitoring);
    let mut snap = fixtures::monitoring_snapshot(6);
    let tests = [StatTest::Wasserstein, StatTest::JensenShannon];
    for d in &mut snap.drift {
        for (f, t) in d.features.iter_mut().zip(tests) {
            f.drift.test = t;
            f.drift.threshold = 0.1;
            f.drift.band = Some([0.01, 0.0834]);
        }
    }
    update(&mut s, Action::MonitorLoaded(Ok(Box::new(snap))));
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        assert_shows(
            &screen(&s, w, h),
            &[
                "wasserstein",
                "jensen_shannon",
                "noise ≤",
                "0.0834",
                ">= 0.1000",
            ],
            &format!("drift table at {w}x{h}"),
        );
    }
    // Wide screens keep the charts beside the table.
    assert_shows(
        &screen(&s, 200, 60),
        &["baseline", "current"],
        "charts at 200",
    );
}

#[test]
fn monitoring_tab_shows_the_domain_classifier_verdict() {
    use cerebro::monitor::multivariate::MultivariateDrift;
    let mut s = loaded();
    update(&mut s, Action::TabMonitoring);
    let mut snap = fixtures::monitoring_snapshot(6);
    snap.drift[0].multivariate = Some(MultivariateDrift {
        auc: 0.912,
        threshold: 0.65,
        band: [0.47, 0.53],
        drifted: true,
        baseline_rows: 2000,
        window_rows: 400,
        importance: vec![("num".into(), 0.7), ("cat".into(), 0.3)],
    });
    update(&mut s, Action::MonitorLoaded(Ok(Box::new(snap))));
    for (w, h) in [(80, 24), (200, 60)] {
        assert_shows(
            &screen(&s, w, h),
            &["multivariate: AUC 0.912 > 0.650", "MULTIVARIATE DRIFT"],
            &format!("multivariate line at {w}x{h}"),
        );
    }
    assert_shows(
        &screen(&s, 200, 60),
        &["2000 vs 400 rows", "relied on num 70%, cat 30%"],
        "importance at 200",
    );
}

#[test]
fn monitoring_tab_without_logs_says_what_it_watches() {
    let mut s = loaded();
    update(&mut s, Action::TabMonitoring);
    let mut snap = fixtures::monitoring_snapshot(1);
    snap.endpoint = None;
    snap.drift.clear();
    snap.status.endpoints.clear();
    update(&mut s, Action::MonitorLoaded(Ok(Box::new(snap))));
    for (w, h) in SIZES {
        assert_shows(
            &screen(&s, w, h),
            &["No inference logs yet", "Watching data/inference"],
            "monitoring, empty",
        );
    }
    update(
        &mut s,
        Action::MonitorLoaded(Err("opening the monitor: no store".into())),
    );
    // A failed refresh keeps the last snapshot and the tab stays usable.
    assert_shows(
        &screen(&s, 80, 24),
        &["No inference logs yet"],
        "after an error",
    );
}

#[test]
fn a_click_on_a_tab_title_switches_to_it_and_the_wheel_scrolls() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let mut s = loaded();
    let lines = screen(&s, 160, 48);
    let click = |column: u16, row: u16| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    for (title, tab) in [
        ("1 Data", super::app::Tab::Data),
        ("3 Registry", super::app::Tab::Registry),
        ("5 Monitoring", super::app::Tab::Monitoring),
        ("6 Jobs", super::app::Tab::Jobs),
    ] {
        // Where the title is drawn, in columns (the bar is ASCII).
        let at = lines[1].find(title).expect(title) as u16;
        for column in [at, at + title.len() as u16 - 1] {
            let action = super::render::mouse(&s, &click(column, 1)).expect("a tab click");
            update(&mut s, action);
            assert_eq!(s.tab, tab, "{title} at column {column}");
        }
    }
    assert!(
        super::render::mouse(&s, &click(3, 10)).is_none(),
        "not the tab bar"
    );
    update(&mut s, Action::TabExperiments);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        ..click(5, 10)
    };
    let action = super::render::mouse(&s, &wheel).unwrap();
    update(&mut s, action);
    assert_eq!(s.experiments.cursor.selected, 1);
    // A dialog takes no mouse input.
    update(&mut s, Action::Help);
    assert!(super::render::mouse(&s, &click(3, 1)).is_none());
}

#[test]
fn the_header_names_the_tracking_backend() {
    let mut s = loaded();
    update(
        &mut s,
        Action::BackendLoaded("sqlite .cerebro/cerebro.db".into()),
    );
    let lines = screen(&s, 160, 48);
    assert!(
        lines[0].contains("│ tracking: sqlite .cerebro/cerebro.db"),
        "{}",
        lines[0]
    );
    // At 80 columns it is what gets cut, not the jobs.
    assert!(screen(&s, 80, 24)[0].contains("jobs: none running"));
}

#[test]
fn compare_view_overlays_the_runs_per_step_metrics() {
    let mut s = loaded();
    update(&mut s, Action::Mark);
    update(&mut s, Action::Mark);
    let e = update(&mut s, Action::Compare);
    let [super::effects::Effect::LoadSeries(runs)] = e.as_slice() else {
        panic!("the series are loaded: {e:?}");
    };
    let line = |k: f64| -> Vec<(f64, f64)> { (0..50).map(|i| (i as f64, k * i as f64)).collect() };
    let series = vec![
        (
            "roc_auc_by_trees".to_string(),
            vec![(runs[0].clone(), line(0.01)), (runs[1].clone(), line(0.02))],
        ),
        (
            "log_loss_by_trees".to_string(),
            vec![(runs[0].clone(), line(-0.01))],
        ),
    ];
    // A reply for other runs is stale.
    update(
        &mut s,
        Action::SeriesLoaded {
            runs: vec!["x".into(), "y".into()],
            series: series.clone(),
        },
    );
    assert!(!screen(&s, 160, 48).join("\n").contains("by step"));
    update(
        &mut s,
        Action::SeriesLoaded {
            runs: runs.clone(),
            series,
        },
    );
    let lines = screen(&s, 160, 48);
    assert_shows(
        &lines,
        &[
            "roc_auc_by_trees by step, m: next metric",
            "tree-bb",
            "Compare 2 runs",
        ],
        "compare chart",
    );
    update(&mut s, Action::NextSeries);
    assert_shows(&screen(&s, 160, 48), &["log_loss_by_trees by step"], "next");
    // 80x24 keeps the table only.
    assert!(!screen(&s, 80, 24).join("\n").contains("by step"));
}

#[test]
fn runs_group_by_experiment_with_its_name_on_each_group_s_first_row() {
    let mut s = loaded();
    // Put tree-a in another experiment.
    let mut runs = s.experiments.runs.clone();
    for r in &mut runs {
        if r.name == "tree-a" {
            r.experiment = "another".into();
        }
    }
    update(&mut s, Action::RunsLoaded(runs));
    update(&mut s, Action::GroupByExperiment);
    let names: Vec<&str> = s
        .experiments
        .rows
        .iter()
        .map(|&i| s.experiments.runs[i].name.as_str())
        .collect();
    // `another` before `default`; inside `default`, newest first as before.
    assert_eq!(names, ["tree-a", "tree-bb", "forest-ccc"]);
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &["Runs 3/3 in 2 experiments", "experiment"],
            "grouped",
        );
        // From 160 columns the selected run sits beside the table: look at the table's part.
        let table_width = if w >= 160 {
            usize::from(w) * 62 / 100
        } else {
            usize::from(w)
        };
        let row = |name: &str| {
            lines
                .iter()
                .map(|l| l.chars().take(table_width).collect::<String>())
                .find(|l| l.contains(name))
                .unwrap()
        };
        assert!(row("tree-a").contains("another"), "{}", row("tree-a"));
        assert!(row("tree-bb").contains("default"), "{}", row("tree-bb"));
        assert!(
            !row("forest-ccc").contains("default"),
            "{}",
            row("forest-ccc")
        );
    }
    update(&mut s, Action::GroupByExperiment);
    assert!(!screen(&s, 80, 24).join("\n").contains("experiments"));
}

#[test]
fn data_tab_previews_rows_and_scrolls_them_both_ways() {
    use super::effects::Effect;
    use super::tabs::data::Preview;
    let mut s = loaded();
    update(&mut s, Action::TabData);
    let e = update(&mut s, Action::TogglePreview);
    assert!(matches!(
        e.as_slice(),
        [Effect::LoadPreview { prepared: false }]
    ));
    assert_shows(&screen(&s, 80, 24), &["Rows, raw (loading…)"], "loading");
    let columns: Vec<String> = (0..12).map(|c| format!("col{c}")).collect();
    let rows: Vec<Vec<String>> = (0..300)
        .map(|r| (0..12).map(|c| format!("r{r}c{c}")).collect())
        .collect();
    update(
        &mut s,
        Action::PreviewLoaded {
            prepared: false,
            result: Ok(Preview {
                columns,
                rows,
                total: 16_376,
            }),
        },
    );
    for (w, h) in SIZES {
        assert_shows(
            &screen(&s, w, h),
            &["Rows, raw: 300 of 16376 shown", "col0", "r0c0", "r1c1"],
            "preview",
        );
    }
    update(&mut s, Action::Bottom);
    update(&mut s, Action::FocusRight);
    let lines = screen(&s, 80, 24);
    assert_shows(&lines, &["r299c1", "col1", "columns 2-"], "scrolled");
    assert!(!lines.join("\n").contains("col0"), "col0 scrolled away");
    // Toggling raw/prepared asks for the other preview; v goes back to the schema.
    let e = update(&mut s, Action::TogglePrepared);
    assert!(
        e.iter()
            .any(|e| matches!(e, Effect::LoadPreview { prepared: true }))
    );
    update(&mut s, Action::TogglePreview);
    assert!(!s.data.preview_on);
}

/// The Jobs tab with pipelines loaded and the UI's agent running.
fn with_pipelines(mut s: State) -> State {
    s.jobs.agent = true;
    update(&mut s, Action::PipelinesLoaded(Ok(fixtures::pipelines())));
    update(&mut s, Action::TabJobs);
    s
}

#[test]
fn jobs_tab_lists_pipelines_and_draws_the_selected_dag_with_step_states() {
    let s = with_pipelines(loaded());
    for (w, h) in SIZES {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Pipelines (2)",
                "retrain",
                "every 6h",
                "ship",
                "1 trigger",
                "never",
                "DAG: retrain · run dddd0000 FAILED",
                "prepare",
                "└▶ train",
                "   └▶ evaluate",
                "      └▶ register",
                "SUCCEEDED ×2",
                "Jobs (0 running, 0 total)",
            ],
            "pipelines",
        );
        // The schedule is on; the DAG lists steps in execution order, one per line.
        let row = lines.iter().find(|l| l.contains("every 6h")).unwrap();
        assert!(row.contains(" on ") && row.contains("FAILED"), "{row}");
        let order: Vec<usize> = [
            "prepare  ",
            "└▶ train",
            "└▶ evaluate",
            "└▶ register",
            "└▶ promote",
        ]
        .iter()
        .map(|n| lines.iter().position(|l| l.contains(n)).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        let footer = &lines[h as usize - 1];
        assert!(
            footer.contains("r run pipeline") && footer.contains("s toggle schedule"),
            "{footer}"
        );
    }
    // Wide: every dependency of a step, when and how the last run started, the next slot.
    let wide = screen(&s, 160, 48).join("\n");
    assert_shows(
        &[wide],
        &[
            "← train, evaluate",
            "step register failed",
            "next run",
            "started",
            "schedule",
        ],
        "wide DAG",
    );
}

#[test]
fn dag_steps_take_the_theme_colour_of_their_state_and_none_under_no_color() {
    use ratatui::style::Color;
    let colours = |no_color: bool| {
        let mut s = fixtures::state();
        s.theme = super::theme::Theme::parse(super::theme::DEFAULT_THEME, no_color).unwrap();
        let s = with_pipelines(s);
        let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
        t.draw(|f| render::draw(f, &s)).unwrap();
        let buf = t.backend().buffer().clone();
        // The first cell of each step's state in the DAG.
        let find = |needle: &str| -> Option<Color> {
            (0..48u16).find_map(|y| {
                let line: String = (0..160u16).map(|x| buf[(x, y)].symbol()).collect();
                if !line.contains("└▶") && !line.contains("prepare  ") {
                    return None;
                }
                let col = line.find(needle)?;
                let x = u16::try_from(line[..col].chars().count()).unwrap();
                Some(buf[(x, y)].fg)
            })
        };
        (find("FAILED"), find("SUCCEEDED"), find("SKIPPED"))
    };
    let theme = super::theme::Theme::parse(super::theme::DEFAULT_THEME, false).unwrap();
    let (failed, succeeded, skipped) = colours(false);
    assert_eq!(failed, theme.get("failed").fg);
    assert_eq!(succeeded, theme.get("finished").fg);
    assert_eq!(skipped, theme.get("dim").fg);
    assert_ne!(failed, succeeded);
    let (failed, succeeded, _) = colours(true);
    assert_eq!(failed, Some(Color::Reset));
    assert_eq!(succeeded, Some(Color::Reset));
}

/// Runs of a sweep: three params (one numeric on a log scale, one text) and roc_auc.
fn sweep_runs() -> Vec<cerebro::store::RunSummary> {
    use cerebro::store::RunStatus;
    (0..24)
        .map(|i| {
            let auc = 0.6 + f64::from(i % 8) / 40.0;
            let mut r = fixtures::run(
                &format!("r{i:02}"),
                &format!("trial-{i}"),
                auc,
                RunStatus::Finished,
            );
            r.params = BTreeMap::from([
                ("max_depth".into(), (2 + i % 8).to_string()),
                (
                    "min_samples_leaf".into(),
                    [1, 5, 20, 200][i as usize % 4].to_string(),
                ),
                (
                    "criterion".into(),
                    ["gini", "entropy"][i as usize % 2].into(),
                ),
            ]);
            r
        })
        .collect()
}

/// The parallel coordinates of the shown runs: an axis per param and the metric with their
/// ends, braille lines, the selected run marked on each axis and named in the title, and the
/// params' importance as bars, at 80x24 and 200x60.
#[test]
fn parallel_coordinates_draw_axes_lines_the_selected_run_and_importance() {
    use cerebro::track::importance::param_importance;
    let mut s = fixtures::state();
    let runs = sweep_runs();
    update(&mut s, Action::RunsLoaded(runs.clone()));
    let e = update(&mut s, Action::ParallelCoordinates);
    let [
        super::effects::Effect::Importance {
            generation,
            runs: asked,
            metric,
        },
    ] = e.as_slice()
    else {
        panic!("importance asked: {e:?}");
    };
    let computing = screen(&s, 80, 24);
    assert_shows(
        &computing,
        &["Param importance", "computing…"],
        "80x24 before",
    );
    let report = param_importance(asked, metric).unwrap();
    update(
        &mut s,
        Action::ImportanceLoaded {
            generation: *generation,
            result: Ok(Box::new(report)),
        },
    );
    let selected = s.experiments.selected().unwrap().clone();
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let lines = screen(&s, w, h);
        let all = lines.join("\n");
        assert_shows(
            &lines,
            &[
                "Parallel coordinates: 24 runs by roc_auc",
                &format!("● {}", &selected.run_id[..8]),
                "Param importance for roc_auc (24 runs)",
                "max_depth",
                "roc_auc",
                "0.775",
                "0.6",
                "%",
            ],
            &format!("{w}x{h}"),
        );
        assert!(
            all.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
            "{w}x{h}: braille lines in\n{all}"
        );
        // The selected run is marked on the axes (the title names it too).
        assert!(all.matches('●').count() >= 2, "{w}x{h}: markers in\n{all}");
    }
    // Every param axis fits at 200 columns, with its ends: leaf on a log scale 1..200.
    let wide = screen(&s, 200, 60);
    assert_shows(
        &wide,
        &[
            "min_samples_leaf",
            "criterion",
            "200",
            "entropy",
            "gini",
            "ρ",
        ],
        "200x60 axes",
    );
}

/// The tune form: kind, the search text, and what enter would launch read back from it (or why
/// it would not), at 80x24 and 200x60.
#[test]
fn the_tune_form_shows_the_space_and_budget_it_would_launch() {
    let mut s = loaded();
    update(&mut s, Action::Tune);
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let lines = screen(&s, w, h);
        assert_shows(
            &lines,
            &[
                "Tune hyper-parameters",
                "< tree >",
                "search  max_depth=int(2,13)",
                "space   max_depth int(2,13), min_samples_leaf int(1,200,log)",
                "budget  20 trials, tpe sampler, pruner none, roc_auc",
                "enter: launch",
            ],
            &format!("{w}x{h}"),
        );
    }
    for c in " time_budget=5m pruner=median".chars() {
        update(&mut s, Action::Input(c));
    }
    let lines = screen(&s, 200, 60);
    assert_shows(
        &lines,
        &["budget  20 trials or 300s, tpe sampler, pruner median"],
        "edited",
    );
    for c in " x".chars() {
        update(&mut s, Action::Input(c));
    }
    let lines = screen(&s, 200, 60);
    assert_shows(
        &lines,
        &["`x`: expected key=value"],
        "a word that does not parse",
    );
}
