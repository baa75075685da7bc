//! Synthetic states for update and render tests: three runs (one running), a registered model
//! with two versions (version 1 in Production), gate results.

use std::collections::BTreeMap;

use cerebro::config::Direction;
use cerebro::data::schema::Signature;
use cerebro::registry::ops::GateResult;
use cerebro::registry::{ModelVersion, RegisteredModel, Stage};
use cerebro::store::{RunStatus, RunSummary};

use super::action::Action;
use super::app::State;
use super::effects::Effect;
use super::keymap::Keymap;
use super::theme::Theme;
use super::update::update;

pub fn state() -> State {
    State::new(
        "test",
        Keymap::default_keymap(),
        Theme::parse(crate::tui::theme::DEFAULT_THEME, true).unwrap(),
    )
}

pub fn run(id: &str, name: &str, auc: f64, status: RunStatus) -> RunSummary {
    RunSummary {
        run_id: format!("{id:0<32}"),
        experiment: "default".into(),
        name: name.into(),
        model_kind: "tree".into(),
        status,
        start_time: 1_700_000_000_000 + (auc * 1000.0) as i64,
        end_time: None,
        duration_ms: Some(1500),
        data_version: Some("ab".repeat(32)),
        metrics: BTreeMap::from([("roc_auc".into(), auc), ("f1".into(), auc / 2.0)]),
        params: BTreeMap::from([
            ("max_depth".into(), name.len().to_string()),
            ("seed".into(), "42".into()),
        ]),
        tags: BTreeMap::new(),
    }
}

pub fn gate(passed: bool) -> GateResult {
    GateResult {
        model: "characters".into(),
        candidate_version: 2,
        champion_version: Some(1),
        metric: "roc_auc".into(),
        direction: Direction::Maximize,
        data_version: "cd".repeat(32),
        candidate_value: if passed { 0.8 } else { 0.6 },
        champion_value: Some(0.7),
        delta: Some(if passed { 0.1 } else { -0.1 }),
        threshold: None,
        min_improvement: 0.0,
        min_relative_improvement: 0.0,
        signature_compatible: true,
        passed,
        reasons: if passed {
            Vec::new()
        } else {
            vec!["roc_auc 0.6000 vs champion 1's 0.7000: improvement -0.1000 is below the required 0.0000".into()]
        },
    }
}

pub fn version(v: i64, stage: Stage) -> ModelVersion {
    ModelVersion {
        name: "characters".into(),
        version: v,
        run_id: Some(format!("{v:0<32}")),
        stage,
        aliases: stage
            .alias()
            .map(|a| vec![a.to_string()])
            .unwrap_or_default(),
        artifact_digest: "sha256:00".into(),
        signature: Signature {
            numeric: vec![],
            categorical: vec![],
            id: None,
            target: "y".into(),
            positive: "1".into(),
            raw_inputs: None,
        },
        data_version: None,
        metrics: BTreeMap::from([("roc_auc".into(), 0.7)]),
        tags: BTreeMap::new(),
        description: String::new(),
        source: "run:x".into(),
        created_by: "me".into(),
        created_at: 0,
        updated_at: 0,
    }
}

pub fn model(production: Option<i64>) -> RegisteredModel {
    RegisteredModel {
        name: "characters".into(),
        description: String::new(),
        created_at: 0,
        updated_at: 0,
        versions: 2,
        latest_version: 2,
        production,
        staging: None,
        aliases: BTreeMap::new(),
    }
}

/// A state with three runs and a registry with two versions (1 in Production).
pub fn loaded() -> State {
    let mut s = state();
    update(
        &mut s,
        Action::RunsLoaded(vec![
            run("aaaa", "tree-a", 0.70, RunStatus::Finished),
            run("bbbb", "tree-bb", 0.80, RunStatus::Finished),
            run("cccc", "forest-ccc", 0.75, RunStatus::Running),
        ]),
    );
    let e = update(&mut s, Action::ModelsLoaded(vec![model(Some(1))]));
    assert!(
        matches!(e.as_slice(), [Effect::LoadModel(n), Effect::LoadWebhooks] if n == "characters")
    );
    update(
        &mut s,
        Action::ModelLoaded {
            name: "characters".into(),
            versions: vec![version(1, Stage::Production), version(2, Stage::None)],
            history: Vec::new(),
        },
    );
    s
}

/// An endpoint status row serving versions 1 (90 %) and 2 (10 %).
pub fn endpoint(name: &str, state: &str, heartbeat: i64) -> cerebro::serve::status::EndpointStatus {
    use cerebro::serve::status::{EndpointStats, EndpointStatus, ServedArm};
    EndpointStatus {
        name: name.into(),
        state: state.parse().expect("up, stale or down"),
        address: "127.0.0.1:40123".into(),
        pid: 4242,
        host: "box".into(),
        model: "characters".into(),
        served: vec![
            ServedArm {
                arm: "champion".into(),
                version: 1,
                stage: "Production".into(),
                share: 0.9,
            },
            ServedArm {
                arm: "challenger".into(),
                version: 2,
                stage: "Staging".into(),
                share: 0.1,
            },
        ],
        started_at: 1_700_000_000_000,
        last_heartbeat: heartbeat,
        heartbeat_age_ms: 400,
        stopped_at: None,
        stats: EndpointStats {
            requests: 200,
            errors: 5,
            records: 900,
            requests_last_minute: 120,
            p50_ms: Some(0.8),
            p99_ms: Some(2.5),
            cpu_percent: Some(12.0 + (heartbeat % 7) as f64),
            rss_bytes: Some(48 * 1024 * 1024),
            ..EndpointStats::default()
        },
    }
}

/// A Monitoring tab snapshot: endpoint `local` serving characters/1, `windows` one-minute
/// windows where feature `num` drifts from the third window on and `cat` never does, labels for
/// the first windows, and one open alert on `num`.
pub fn monitoring_snapshot(windows: usize) -> cerebro::monitor::service::Overview {
    use cerebro::monitor::alerts::Alert;
    use cerebro::monitor::cbpe::Estimate;
    use cerebro::monitor::config::BaselineMode;
    use cerebro::monitor::quality::QualityMetrics;
    use cerebro::monitor::service::{
        DriftPoint, EndpointMonitor, FeatureDrift, FeaturePoint, Histogram, PredictionDrift,
        QualityWindow, Status, WindowDrift,
    };
    use cerebro::monitor::stats::{ColumnDrift, ColumnKind, Ks, StatTest};

    const T0: i64 = 1_700_000_000_000;
    let drift = |test: StatTest, score: f64, drifted: bool| ColumnDrift {
        kind: if test == StatTest::Ks {
            ColumnKind::Numeric
        } else {
            ColumnKind::Categorical
        },
        test,
        threshold: 0.05,
        score,
        drifted,
        psi: if drifted { 0.42 } else { 0.01 },
        ks: (test == StatTest::Ks).then_some(Ks {
            statistic: 0.3,
            p_value: score,
        }),
        wasserstein: None,
        chi_square_p: None,
        jensen_shannon: None,
        rows: 400,
        nulls: 0,
        rank_error: Some(0.0),
        band: None,
    };
    let hist = |shift: f64| Histogram {
        labels: (0..10).map(|i| format!("<{i}.0")).collect(),
        baseline: vec![0.1; 10],
        current: (0..10)
            .map(|i| (0.1 + shift * (i as f64 - 4.5) / 45.0).max(0.0))
            .collect(),
    };
    let score = |w: usize| if w >= 2 { 1e-6 } else { 0.4 + w as f64 / 10.0 };
    let last = windows.saturating_sub(1);
    let start = |w: usize| T0 + w as i64 * 60_000;
    let latest = WindowDrift {
        endpoint: "local".into(),
        model: "characters".into(),
        version: 1,
        granularity_ms: 60_000,
        window_start: start(last),
        records: 400,
        baseline: BaselineMode::Training,
        baseline_window_start: None,
        drifted: usize::from(last >= 2),
        tested: 2,
        share: if last >= 2 { 0.5 } else { 0.0 },
        threshold: 0.5,
        dataset_drift: last >= 2,
        features: vec![
            FeatureDrift {
                name: "num".into(),
                drift: drift(StatTest::Ks, score(last), last >= 2),
                histogram: hist(if last >= 2 { 1.0 } else { 0.0 }),
            },
            FeatureDrift {
                name: "cat".into(),
                drift: drift(StatTest::ChiSquare, 0.53, false),
                histogram: Histogram {
                    labels: vec!["a".into(), "b".into(), "(unseen)".into()],
                    baseline: vec![0.5, 0.5, 0.0],
                    current: vec![0.48, 0.52, 0.0],
                },
            },
        ],
        note: None,
        withheld: None,
        multivariate: None,
    };
    let history = (0..windows)
        .map(|w| DriftPoint {
            endpoint: "local".into(),
            model: "characters".into(),
            version: 1,
            window_start: start(w),
            records: 400,
            share: if w >= 2 { 0.5 } else { 0.0 },
            dataset_drift: w >= 2,
            features: BTreeMap::from([
                (
                    "num".to_string(),
                    FeaturePoint {
                        test: "ks".into(),
                        score: score(w),
                        threshold: 0.05,
                        drifted: w >= 2,
                        psi: 0.1,
                    },
                ),
                (
                    "cat".to_string(),
                    FeaturePoint {
                        test: "chi_square".into(),
                        score: 0.53,
                        threshold: 0.05,
                        drifted: false,
                        psi: 0.01,
                    },
                ),
            ]),
        })
        .collect();
    let predictions = (0..windows)
        .map(|w| PredictionDrift {
            endpoint: "local".into(),
            model: "characters".into(),
            version: 1,
            window_start: start(w),
            records: 400,
            positive_rate: if w >= 2 { 0.61 } else { 0.33 },
            baseline_positive_rate: 0.31,
            drift: drift(StatTest::ChiSquare, score(w), w >= 2),
            histogram: hist(0.0),
            withheld: None,
        })
        .collect();
    let quality = (0..windows)
        .map(|w| QualityWindow {
            endpoint: "local".into(),
            model: "characters".into(),
            version: 1,
            window_start: start(w),
            records: 400,
            predictions_kept: 400,
            labelled: if w < 2 { 400 } else { 0 },
            realised: (w < 2).then_some(QualityMetrics {
                accuracy: 0.81,
                precision: 0.7,
                recall: 0.6,
                f1: 0.65,
                roc_auc: 0.84,
                labelled: 400,
            }),
            estimated: Some(Estimate {
                accuracy: if w >= 2 { 0.71 } else { 0.8 },
                roc_auc: 0.8,
                rows: 400,
            }),
            estimated_from: Some("records".into()),
            test: BTreeMap::from([("accuracy".to_string(), 0.82)]),
            accuracy_drop: Some(0.01),
            note: None,
        })
        .collect();
    let alerts = if last >= 2 {
        vec![Alert {
            alert_id: 1,
            rule: "num-drift".into(),
            kind: "feature_drift".into(),
            endpoint: "local".into(),
            subject: "num".into(),
            state: "OPEN".into(),
            opened_at: start(2),
            resolved_at: None,
            granularity_ms: Some(60_000),
            window_start: Some(start(2)),
            value: Some(1e-6),
            threshold: Some(0.05),
            message: "num drifted: ks p 1.0e-6 < 0.05".into(),
            hook_status: None,
        }]
    } else {
        Vec::new()
    };
    cerebro::monitor::service::Overview {
        status: Status {
            log_dir: "data/inference".into(),
            labels_dir: "data/labels".into(),
            granularity_ms: 60_000,
            granularities_ms: vec![60_000, 3_600_000],
            baseline: BaselineMode::Training,
            files: 1,
            lines: 400 * windows as u64,
            corrupt_lines: 0,
            label_files: 1,
            label_corrupt_lines: 0,
            labels: 800,
            labels_unmatched: 0,
            open_alerts: alerts.len() as u64,
            endpoints: vec![EndpointMonitor {
                endpoint: "local".into(),
                state: Some(cerebro::serve::status::EndpointState::Up),
                versions: vec!["characters/1".into()],
                failed_before_version: 0,
                windows: windows as u64,
                first_window: Some(start(0)),
                last_window: Some(start(last)),
                requests: 400 * windows as u64,
                errors: 0,
                error_rate: 0.0,
                records: 400 * windows as u64,
                mean_latency_ms: 1.0,
                max_latency_ms: 3.0,
                predictions_kept: 400,
                labelled: 800,
                labelled_share: 0.5,
                open_alerts: alerts.len() as u64,
                latest_dataset_drift: Some(last >= 2),
                latest_drift_share: Some(if last >= 2 { 0.5 } else { 0.0 }),
            }],
        },
        granularity_ms: 60_000,
        endpoint: Some("local".into()),
        drift: vec![latest],
        history,
        predictions,
        quality,
        alerts,
        ingested: Some(400),
    }
}

/// Two pipelines: `retrain` (a DAG of five steps whose latest run failed at `register`, with a
/// schedule that is on) and `ship` (one step, a trigger, never run).
pub fn pipelines() -> Vec<cerebro::workflow::PipelineView> {
    use cerebro::workflow::{PipelineRun, PipelineView, StepView};
    let step = |name: &str, kind: &str, after: &[&str], status: &str, attempts: i64| StepView {
        name: name.into(),
        kind: kind.into(),
        after: after.iter().map(|s| s.to_string()).collect(),
        run_if: "all_succeeded".into(),
        retries: 1,
        status: Some(status.into()),
        attempts: Some(attempts),
    };
    vec![
        PipelineView {
            name: "retrain".into(),
            description: "prepare, train, gate and promote".into(),
            steps: vec![
                step("prepare", "prepare", &[], "SUCCEEDED", 1),
                step("train", "train", &["prepare"], "SUCCEEDED", 2),
                step("evaluate", "evaluate", &["train"], "SUCCEEDED", 1),
                step("register", "register", &["train", "evaluate"], "FAILED", 1),
                step("promote", "promote", &["register"], "SKIPPED", 0),
            ],
            schedule: Some("every 6h".into()),
            schedule_enabled: true,
            next_slot: Some(1_700_021_600_000),
            triggers: Vec::new(),
            last_run: Some(PipelineRun {
                run_id: format!("{:0<32}", "dddd"),
                pipeline: "retrain".into(),
                status: "FAILED".into(),
                fired_by: "schedule".into(),
                detail: None,
                slot: None,
                pid: 1,
                host: "test".into(),
                started_at: 1_700_000_000_000,
                ended_at: Some(1_700_000_060_000),
                resumes: 0,
                error: Some("step register failed".into()),
            }),
        },
        PipelineView {
            name: "ship".into(),
            description: String::new(),
            steps: vec![StepView {
                status: None,
                attempts: None,
                ..step("deploy", "deploy", &[], "", 0)
            }],
            schedule: None,
            schedule_enabled: false,
            next_slot: None,
            triggers: vec!["new Production version of any model".into()],
            last_run: None,
        },
    ]
}
