//! Registry: registered models, the versions of the selected one (stage, aliases, key metrics,
//! source run) and its audit history. `p` opens the promotion dialog, which evaluates the gate
//! before anything changes; `b` rolls back and `a` archives after a confirmation; `s` scores a
//! file of raw records with the selected version (the command line, prefilled with
//! `predict NAME/VERSION `, takes the input and output paths).

use cerebro::registry::{AuditRecord, ModelVersion, RegisteredModel, Stage};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Cell, Row};

use crate::tui::action::Action;
use crate::tui::app::{Dialog, GateStatus, Overlay, State};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::table::{self, Cursor};

use super::{time, value};
use cerebro::store::short_id;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Models,
    Versions,
}

#[derive(Debug, Clone, Default)]
pub struct RegistryState {
    pub models: Vec<RegisteredModel>,
    pub loaded: bool,
    pub models_cursor: Cursor,
    /// The model whose versions and history are loaded.
    pub current: Option<String>,
    /// Newest first.
    pub versions: Vec<ModelVersion>,
    pub versions_cursor: Cursor,
    /// Oldest first, as the store returns it.
    pub history: Vec<AuditRecord>,
    pub focus: Focus,
    /// Webhook deliveries by state, when the workspace has `[[notifications]]`.
    pub webhooks: Option<cerebro::notify::outbox::Summary>,
}

impl RegistryState {
    pub fn model_rows(&self) -> Vec<usize> {
        (0..self.models.len())
            .filter(|&i| self.models_cursor.matches(&[&self.models[i].name]))
            .collect()
    }

    pub fn version_rows(&self) -> Vec<usize> {
        (0..self.versions.len())
            .filter(|&i| {
                let v = &self.versions[i];
                self.versions_cursor.matches(&[
                    &v.version.to_string(),
                    v.stage.as_str(),
                    &v.aliases.join(" "),
                    v.run_id.as_deref().unwrap_or(""),
                ])
            })
            .collect()
    }

    pub fn selected_model(&self) -> Option<&RegisteredModel> {
        self.model_rows()
            .get(self.models_cursor.selected)
            .map(|&i| &self.models[i])
    }

    pub fn selected_version(&self) -> Option<&ModelVersion> {
        self.version_rows()
            .get(self.versions_cursor.selected)
            .map(|&i| &self.versions[i])
    }

    /// The version a rollback of the current model would restore: the one the current
    /// Production version replaced (the rule `registry::ops::rollback` applies).
    pub fn rollback_target(&self) -> Option<(i64, i64)> {
        let current = self
            .versions
            .iter()
            .find(|v| v.stage == Stage::Production)?
            .version;
        let previous = self
            .history
            .iter()
            .rev()
            .find(|r| r.version == Some(current) && r.to_stage.as_deref() == Some("Production"))?
            .replaced_version?;
        Some((current, previous))
    }
}

pub fn on_models(state: &mut State, models: Vec<RegisteredModel>) -> Vec<Effect> {
    let page = state.page();
    let r = &mut state.registry;
    let keep = r.selected_model().map(|m| m.name.clone());
    r.models = models;
    r.loaded = true;
    if let Some(name) = keep
        && let Some(pos) = r
            .model_rows()
            .iter()
            .position(|&i| r.models[i].name == name)
    {
        r.models_cursor.selected = pos;
    }
    let len = r.model_rows().len();
    r.models_cursor.clamp(len, page);
    // The registry changed (or was read again): so may have the webhooks its changes sent.
    match r.selected_model() {
        Some(m) => vec![Effect::LoadModel(m.name.clone()), Effect::LoadWebhooks],
        None => {
            r.current = None;
            r.versions.clear();
            r.history.clear();
            vec![Effect::LoadWebhooks]
        }
    }
}

/// Versions and history of one model; dropped if another model is selected by now.
pub fn on_model(
    state: &mut State,
    name: String,
    mut versions: Vec<ModelVersion>,
    history: Vec<AuditRecord>,
) {
    let page = state.page();
    let r = &mut state.registry;
    if r.selected_model().map(|m| &m.name) != Some(&name) {
        return;
    }
    let same = r.current.as_deref() == Some(name.as_str());
    let keep = r.selected_version().map(|v| v.version).filter(|_| same);
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    r.versions = versions;
    r.history = history;
    r.current = Some(name);
    r.versions_cursor.selected = keep
        .and_then(|k| {
            r.version_rows()
                .iter()
                .position(|&i| r.versions[i].version == k)
        })
        .unwrap_or(0);
    let len = r.version_rows().len();
    r.versions_cursor.clamp(len, page);
}

/// Opens the promotion dialog for `name/version`; the gate is evaluated first.
pub fn open_promote(state: &mut State, name: String, version: i64, to: Stage) -> Vec<Effect> {
    state.overlay = Some(Overlay::Dialog(Dialog::Promote {
        name: name.clone(),
        version,
        to,
        gate: GateStatus::Evaluating,
        reason: String::new(),
    }));
    vec![Effect::EvaluateGate { name, version }]
}

pub fn open_rollback(state: &mut State, name: String) {
    let mut lines = Vec::new();
    if state.registry.current.as_deref() == Some(name.as_str()) {
        match state.registry.rollback_target() {
            Some((current, previous)) => lines.push(format!(
                "Production moves from version {current} back to version {previous}."
            )),
            None => lines.push(
                "The current Production version did not replace another one: the store will refuse."
                    .into(),
            ),
        }
    }
    lines.push("The change is recorded in the audit trail.".into());
    state.overlay = Some(Overlay::Dialog(Dialog::Confirm {
        title: format!("Roll back {name}?"),
        lines,
        effect: Effect::Rollback { name },
    }));
}

pub fn open_archive(state: &mut State, name: String, version: i64, stage: Option<Stage>) {
    let mut lines = vec![format!(
        "{name}/{version}{} becomes Archived.",
        stage.map(|s| format!(" ({s})")).unwrap_or_default()
    )];
    if stage == Some(Stage::Production) {
        lines.push("This leaves the model without a Production version.".into());
    }
    lines.push("The change is recorded in the audit trail.".into());
    state.overlay = Some(Overlay::Dialog(Dialog::Confirm {
        title: format!("Archive {name}/{version}?"),
        lines,
        effect: Effect::Archive { name, version },
    }));
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let page = state.page();
    let r = &mut state.registry;
    match action {
        Action::FocusLeft => r.focus = Focus::Models,
        Action::FocusRight | Action::Open => r.focus = Focus::Versions,
        Action::Back if r.focus == Focus::Versions => r.focus = Focus::Models,
        Action::Promote => match (r.current.clone(), r.selected_version()) {
            (Some(name), Some(v)) if v.stage == Stage::Production => {
                let msg = format!("{name}/{} is already in Production", v.version);
                state.error(msg);
            }
            (Some(name), Some(v)) => {
                let version = v.version;
                return open_promote(state, name, version, Stage::Production);
            }
            _ => state.error("select a version to promote (l or → moves to the versions)"),
        },
        Action::Rollback => match r.current.clone() {
            Some(name) => open_rollback(state, name),
            None => state.error("no model selected"),
        },
        Action::Score => match (r.current.clone(), r.selected_version()) {
            (Some(name), Some(v)) => {
                state.input = crate::tui::app::Input::Command {
                    text: format!("predict {name}/{} ", v.version),
                    completions: Vec::new(),
                };
            }
            _ => state.error("select a version to score a file with"),
        },
        Action::Archive => match (r.current.clone(), r.selected_version()) {
            (Some(name), Some(v)) if v.stage == Stage::Archived => {
                let msg = format!("{name}/{} is already archived", v.version);
                state.error(msg);
            }
            (Some(name), Some(v)) => {
                let (version, stage) = (v.version, v.stage);
                open_archive(state, name, version, Some(stage));
            }
            _ => state.error("select a version to archive"),
        },
        _ => match r.focus {
            Focus::Models => {
                let len = r.model_rows().len();
                let before = r.selected_model().map(|m| m.name.clone());
                if r.models_cursor.apply(action, len, page) {
                    let after = r.selected_model().map(|m| m.name.clone());
                    if after != before
                        && let Some(name) = after
                    {
                        return vec![Effect::LoadModel(name)];
                    }
                }
            }
            Focus::Versions => {
                let len = r.version_rows().len();
                r.versions_cursor.apply(action, len, page);
            }
        },
    }
    Vec::new()
}

fn stage_style(theme: &Theme, stage: Stage) -> ratatui::style::Style {
    match stage {
        Stage::Production => theme.get("production"),
        Stage::Staging => theme.get("staging"),
        Stage::Archived => theme.get("archived"),
        Stage::None => ratatui::style::Style::default(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let r = &state.registry;
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
    let models_w = if area.width >= 120 { 36 } else { 24 };
    let [models_area, versions_area] =
        Layout::horizontal([Constraint::Length(models_w), Constraint::Min(20)]).areas(top);

    let model_rows: Vec<Row> = r
        .model_rows()
        .into_iter()
        .map(|i| {
            let m = &r.models[i];
            Row::new(vec![
                Cell::from(m.name.clone()),
                Cell::from(m.production.map_or("-".to_string(), |v| format!("v{v}")))
                    .style(theme.get("production")),
                Cell::from(m.versions.to_string()),
            ])
        })
        .collect();
    let models_title = if !r.loaded {
        "Models (loading…)".to_string()
    } else if r.models.is_empty() {
        "Models: none".to_string()
    } else {
        format!("Models ({})", r.models.len())
    };
    table::draw(
        frame,
        models_area,
        theme,
        models_title,
        Row::new(vec!["name", "prod", "vers"]),
        model_rows,
        &[
            Constraint::Min(8),
            Constraint::Length(5),
            Constraint::Length(4),
        ],
        &r.models_cursor,
        r.focus == Focus::Models,
    );

    let wide = versions_area.width >= 90;
    let mut header = vec!["ver", "stage", "aliases", "roc_auc", "f1", "run"];
    if wide {
        header.extend(["data", "created", "by"]);
    }
    let version_rows: Vec<Row> = r
        .version_rows()
        .into_iter()
        .map(|i| {
            let v = &r.versions[i];
            let mut cells = vec![
                Cell::from(v.version.to_string()),
                Cell::from(v.stage.as_str()).style(stage_style(theme, v.stage)),
                Cell::from(v.aliases.join(",")),
                Cell::from(value(v.metrics.get("roc_auc").copied())),
                Cell::from(value(v.metrics.get("f1").copied())),
                Cell::from(v.run_id.as_deref().map_or("-", short_id).to_string()),
            ];
            if wide {
                cells.push(Cell::from(
                    v.data_version.as_deref().map_or("-", short_id).to_string(),
                ));
                cells.push(Cell::from(time(v.created_at)));
                cells.push(Cell::from(v.created_by.clone()));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(10),
        Constraint::Min(10),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(8),
    ];
    if wide {
        widths.extend([
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(10),
        ]);
    }
    let versions_title = match &r.current {
        Some(name) => format!("Versions of {name} (p promote, b rollback, a archive)"),
        None if r.loaded && r.models.is_empty() => {
            "No registered models: register a run with `cerebro models register RUN --name NAME`"
                .to_string()
        }
        None => "Versions".to_string(),
    };
    table::draw(
        frame,
        versions_area,
        theme,
        versions_title,
        Row::new(header),
        version_rows,
        &widths,
        &r.versions_cursor,
        r.focus == Focus::Versions,
    );

    let history: Vec<Row> = r
        .history
        .iter()
        .rev()
        .map(|h| {
            let gate = h
                .gate
                .as_ref()
                .and_then(|g| g.get("passed"))
                .and_then(|p| p.as_bool())
                .map(|p| if p { "pass" } else { "FAIL" })
                .unwrap_or("");
            Row::new(vec![
                Cell::from(time(h.at)),
                Cell::from(h.action.clone()),
                Cell::from(h.version.map_or("-".into(), |v| v.to_string())),
                Cell::from(format!(
                    "{}→{}",
                    h.from_stage.as_deref().unwrap_or("-"),
                    h.to_stage.as_deref().or(h.alias.as_deref()).unwrap_or("-")
                )),
                Cell::from(gate).style(if gate == "pass" {
                    theme.get("pass")
                } else {
                    theme.get("fail")
                }),
                Cell::from(h.actor.clone()),
                Cell::from(h.reason.clone().unwrap_or_default()),
            ])
        })
        .collect();
    let mut history_title = match &r.current {
        Some(name) => format!("Audit history of {name} (newest first)"),
        None => "Audit history".into(),
    };
    if let Some(w) = &r.webhooks {
        history_title.push_str(&webhooks_line(w));
    }
    table::draw(
        frame,
        bottom,
        theme,
        history_title,
        Row::new(vec![
            "when", "action", "ver", "stage", "gate", "who", "reason",
        ]),
        history,
        &[
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Length(3),
            Constraint::Length(21),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Min(10),
        ],
        &Cursor::default(),
        false,
    );
}

/// The webhook deliveries after the audit history's title: counts by state, and the newest
/// problem while any delivery is failing or failed.
pub fn webhooks_line(w: &cerebro::notify::outbox::Summary) -> String {
    let mut line = format!(" · webhooks: {} delivered", w.delivered);
    if w.pending > 0 {
        line.push_str(&format!(", {} pending", w.pending));
    }
    if w.failed > 0 {
        line.push_str(&format!(", {} FAILED", w.failed));
    }
    if let Some(p) = &w.last_problem
        && (w.failed > 0 || w.pending > 0)
    {
        line.push_str(&format!(" (last: {p})"));
    }
    line
}
