//! Synthetic states for update and render tests: three runs (one running), a registered model
//! with two versions (version 1 in Production), gate results.

use std::collections::BTreeMap;

use cerebro::config::Direction;
use cerebro::registry::ops::GateResult;
use cerebro::registry::{ModelVersion, RegisteredModel, Stage};
use cerebro::store::{RunStatus, RunSummary};
use cerebro::train::Signature;

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
    assert!(matches!(e.as_slice(), [Effect::LoadModel(n)] if n == "characters"));
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
        state: state.into(),
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
