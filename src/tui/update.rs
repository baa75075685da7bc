//! `update(&mut State, Action) -> Vec<Effect>`: the only place state changes. Pure: no I/O, no
//! clock, no terminal; what needs the outside world is returned as [`Effect`]s. Global keys,
//! text inputs and dialogs are handled here; each tab handles its own keys in `tabs::*`.

use cerebro::train::ModelKind;

use super::action::Action;
use super::app::{Dialog, GateStatus, Input, Overlay, State, Tab};
use super::demo;
use super::effects::Effect;
use super::tabs::{data, endpoints, experiments, jobs, monitoring, registry};
use super::widgets::command::{self, Command, Known};
use super::widgets::table::Cursor;

/// Reload runs every this many ticks while jobs run (live status).
const LIVE_RELOAD_TICKS: u64 = 2;

/// What to load when the UI starts (and on refresh).
///
/// Only light reads start at once: the newest page of runs, so the first frame shows runs at
/// once on a big store, and the small tables. Reading every run and opening the monitor (which
/// ingests the inference logs) wait for that page (see [`after_first_page`]), so they do not
/// compete with it for the CPU.
pub fn startup(state: &mut State) -> Vec<Effect> {
    state.experiments.awaiting_all = true;
    state.experiments.failed = false;
    vec![
        Effect::LoadFirstPage,
        Effect::LoadModels,
        Effect::LoadDataVersions,
        Effect::LoadEndpoints,
        Effect::LoadBackend,
        Effect::LoadPipelines,
    ]
}

/// The heavier start-up reads, once the first page of runs is on screen (or failed to load).
fn after_first_page(state: &mut State) -> Vec<Effect> {
    if !std::mem::take(&mut state.experiments.awaiting_all) {
        return Vec::new();
    }
    let mut effects = vec![Effect::LoadRuns];
    // Opens the monitor, starts watching its folders and ingests what is there.
    effects.extend(state.monitoring.refresh(true));
    effects
}

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    if let Action::Tick = action {
        state.ticks += 1;
        let live = state.jobs.running() > 0 || state.experiments.running() > 0;
        // Endpoint status is read every tick: heartbeats arrive once a second.
        let mut effects = vec![Effect::LoadEndpoints];
        if live && state.ticks.is_multiple_of(LIVE_RELOAD_TICKS) {
            effects.push(Effect::LoadRecentRuns);
        }
        effects.extend(monitoring::on_tick(state));
        effects.extend(jobs::on_tick(state));
        return effects;
    }
    if let Action::PipelinesLoaded(result) = action {
        // Polled reads that change nothing are not redrawn.
        if jobs::on_pipelines(state, result) {
            state.dirty = true;
        }
        return Vec::new();
    }
    if let Action::EndpointsLoaded(list) = action {
        // An idle session with no endpoints is not redrawn every second.
        if !(list.is_empty() && state.endpoints.endpoints.is_empty() && state.endpoints.loaded) {
            state.dirty = true;
        }
        endpoints::on_endpoints(state, list);
        return Vec::new();
    }
    state.dirty = true;
    match action {
        Action::Resize(w, h) => {
            state.size = (w, h);
            let page = state.page();
            state.experiments.refresh_rows(page);
            Vec::new()
        }
        Action::RunsLoaded(runs) => {
            experiments::on_runs(state, runs);
            Vec::new()
        }
        Action::SeriesLoaded { runs, series } => {
            experiments::on_series(state, runs, series);
            Vec::new()
        }
        Action::BackendLoaded(label) => {
            state.backend = Some(label);
            Vec::new()
        }
        Action::RecentRunsLoaded(runs) => {
            experiments::on_recent_runs(state, runs);
            after_first_page(state)
        }
        Action::RunLoaded(detail) => experiments::on_run(state, detail),
        Action::ImportanceLoaded { generation, result } => {
            experiments::on_importance(state, generation, result);
            Vec::new()
        }
        Action::RunChartsLoaded(charts) => {
            experiments::on_charts(state, charts);
            Vec::new()
        }
        Action::ModelsLoaded(models) => registry::on_models(state, models),
        Action::WebhooksLoaded(summary) => {
            state.registry.webhooks = summary;
            Vec::new()
        }
        Action::ModelLoaded {
            name,
            versions,
            history,
        } => {
            registry::on_model(state, name, versions, history);
            Vec::new()
        }
        Action::GateEvaluated {
            name,
            version,
            result,
        } => {
            if let Some(Overlay::Dialog(Dialog::Promote {
                name: n,
                version: v,
                gate,
                ..
            })) = &mut state.overlay
                && *n == name
                && *v == version
            {
                *gate = match result {
                    Ok(g) => GateStatus::Ready(g),
                    Err(e) => GateStatus::Error(e),
                };
            }
            Vec::new()
        }
        Action::ProfileLoaded { prepared, result } => {
            data::on_profile(state, prepared, result);
            Vec::new()
        }
        Action::PreviewLoaded { prepared, result } => {
            data::on_preview(state, prepared, result);
            Vec::new()
        }
        Action::DataVersionsLoaded(versions) => {
            data::on_versions(state, versions);
            Vec::new()
        }
        Action::JobSubmitted { job, reproduces } => {
            jobs::on_submitted(state, job, reproduces);
            Vec::new()
        }
        Action::Job(event) => {
            let mut effects = jobs::on_event(state, event);
            effects.extend(demo::check_jobs(state));
            effects
        }
        Action::Agent(event) => jobs::on_agent(state, event),
        Action::PipelineChanged(result) => {
            match result {
                Ok(m) => state.info(m),
                Err(e) => state.error(e),
            }
            vec![Effect::LoadPipelines]
        }
        Action::DemoQueued(result) => demo::on_queued(state, result),
        Action::DemoRegistered(result) => demo::on_registered(state, result),
        Action::RegistryChanged(result) => {
            match result {
                Ok(m) => state.info(m),
                Err(e) => state.error(e),
            }
            vec![Effect::LoadModels]
        }
        Action::EndpointStarted {
            generation,
            address,
        } => {
            endpoints::on_started(state, generation, address.clone());
            let mut effects = vec![Effect::LoadEndpoints];
            if std::mem::take(&mut state.demo_traffic) {
                let text = state
                    .status
                    .as_ref()
                    .map(|s| s.text.clone())
                    .unwrap_or_default();
                state.info(format!(
                    "{text}; demo traffic: {} req/s with the first numeric feature ×{} (drift)",
                    demo::TRAFFIC_RATE,
                    demo::TRAFFIC_SCALE
                ));
                effects.push(Effect::Simulate {
                    endpoint: format!("http://{address}"),
                });
            }
            effects
        }
        Action::EndpointStopped { generation, result } => {
            endpoints::on_stopped(state, generation, result);
            vec![Effect::LoadEndpoints]
        }
        Action::MonitorLoaded(result) => {
            monitoring::on_loaded(state, result);
            Vec::new()
        }
        Action::MonitorWatching(note) => {
            state.monitoring.watch_note = note;
            Vec::new()
        }
        Action::Watch(event) => {
            tracing::debug!(?event, "watched folder changed");
            // Redrawn when the refresh is back, not on the event itself.
            state.dirty = false;
            monitoring::on_watch(state)
        }
        Action::RunsFailed(message) => {
            state.experiments.failed = true;
            update(
                state,
                Action::Done {
                    message,
                    error: true,
                },
            )
        }
        Action::Done { message, error } => {
            // A failed first page must not hold back the rest of start-up.
            let effects = if error && state.experiments.awaiting_all && !state.experiments.loaded {
                after_first_page(state)
            } else {
                Vec::new()
            };
            if error {
                state.error(message);
            } else {
                state.info(message);
            }
            effects
        }
        key => on_key(state, key),
    }
}

fn on_key(state: &mut State, action: Action) -> Vec<Effect> {
    if state.input != Input::None {
        return on_input(state, action);
    }
    match &state.overlay {
        Some(Overlay::Help { .. }) => {
            on_help(state, &action);
            return Vec::new();
        }
        Some(Overlay::Dialog(_)) => return on_dialog(state, action),
        None => {}
    }
    match action {
        Action::Quit => {
            state.quit = true;
            Vec::new()
        }
        Action::Help => {
            state.overlay = Some(Overlay::Help { scroll: 0 });
            Vec::new()
        }
        Action::Command => {
            state.input = Input::Command {
                text: String::new(),
                completions: Vec::new(),
            };
            Vec::new()
        }
        Action::Filter => {
            if filter_cursor(state).is_some() {
                state.input = Input::Filter;
            } else {
                state.error("nothing to filter here");
            }
            Vec::new()
        }
        Action::NextTab => switch(state, Tab::ALL[(state.tab.index() + 1) % Tab::ALL.len()]),
        Action::PrevTab => switch(
            state,
            Tab::ALL[(state.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()],
        ),
        Action::TabData => switch(state, Tab::Data),
        Action::TabExperiments => switch(state, Tab::Experiments),
        Action::TabRegistry => switch(state, Tab::Registry),
        Action::TabEndpoints => switch(state, Tab::Endpoints),
        Action::TabMonitoring => switch(state, Tab::Monitoring),
        Action::TabJobs => switch(state, Tab::Jobs),
        Action::Demo => demo::start(state),
        Action::Refresh if state.tab != Tab::Data => {
            state.info("reloading from the store");
            startup(state)
        }
        other => {
            let had_status = state.status.is_some();
            let effects = match state.tab {
                Tab::Data => data::on_key(state, &other),
                Tab::Experiments => experiments::on_key(state, &other),
                Tab::Registry => registry::on_key(state, &other),
                Tab::Jobs => jobs::on_key(state, &other),
                Tab::Endpoints => endpoints::on_key(state, &other),
                Tab::Monitoring => monitoring::on_key(state, &other),
            };
            // Esc with nothing else to close clears the message line.
            if matches!(other, Action::Back) && had_status && effects.is_empty() {
                state.status = None;
            }
            effects
        }
    }
}

fn switch(state: &mut State, tab: Tab) -> Vec<Effect> {
    state.tab = tab;
    match tab {
        Tab::Data => state.data.wanted().into_iter().collect(),
        _ => Vec::new(),
    }
}

fn on_help(state: &mut State, action: &Action) {
    if let Some(Overlay::Help { scroll }) = &mut state.overlay {
        match action {
            Action::Back | Action::Help | Action::Quit => state.overlay = None,
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => *scroll += 1,
            _ => {}
        }
    }
}

/// The cursor whose filter `/` edits on the current tab.
fn filter_cursor(state: &mut State) -> Option<&mut Cursor> {
    match state.tab {
        Tab::Data => Some(match state.data.focus {
            data::Focus::Schema => &mut state.data.columns_cursor,
            data::Focus::Versions => &mut state.data.versions_cursor,
        }),
        Tab::Experiments if matches!(state.experiments.view, experiments::ExpView::List) => {
            Some(&mut state.experiments.cursor)
        }
        Tab::Registry => Some(match state.registry.focus {
            registry::Focus::Models => &mut state.registry.models_cursor,
            registry::Focus::Versions => &mut state.registry.versions_cursor,
        }),
        Tab::Jobs => Some(state.jobs.focused_cursor()),
        Tab::Endpoints => Some(&mut state.endpoints.cursor),
        _ => None,
    }
}

fn edit_filter(state: &mut State, edit: impl FnOnce(&mut String)) {
    let page = state.page();
    if let Some(c) = filter_cursor(state) {
        edit(&mut c.filter);
        c.selected = 0;
        c.offset = 0;
    }
    if state.tab == Tab::Experiments {
        state.experiments.refresh_rows(page);
    }
}

fn on_input(state: &mut State, action: Action) -> Vec<Effect> {
    if state.input == Input::Filter {
        match action {
            Action::Input(c) => edit_filter(state, |f| f.push(c)),
            Action::Backspace => edit_filter(state, |f| {
                f.pop();
            }),
            Action::Submit => state.input = Input::None,
            Action::Back => {
                edit_filter(state, String::clear);
                state.input = Input::None;
            }
            _ => {}
        }
        return Vec::new();
    }
    if let Action::Complete = action {
        let known = known(state);
        if let Input::Command { text, completions } = &mut state.input {
            let (t, c) = command::complete(text, &known);
            *text = t;
            *completions = c;
        }
        return Vec::new();
    }
    let Input::Command { text, completions } = &mut state.input else {
        return Vec::new();
    };
    match action {
        Action::Input(c) => {
            text.push(c);
            completions.clear();
        }
        Action::Backspace => {
            text.pop();
            completions.clear();
        }
        Action::Submit => {
            let text = std::mem::take(text);
            state.input = Input::None;
            return run_command(state, &text);
        }
        Action::Back => state.input = Input::None,
        _ => {}
    }
    Vec::new()
}

/// Names completion can offer: registered models and the loaded model's versions.
fn known(state: &State) -> Known {
    Known {
        models: state
            .registry
            .models
            .iter()
            .map(|m| m.name.clone())
            .collect(),
        versions: state
            .registry
            .versions
            .iter()
            .map(|v| (v.name.clone(), v.version))
            .collect(),
    }
}

/// Runs a `:` command. Registry changes open the same dialogs as their keys, so the gate is
/// always shown and every change confirmed.
pub fn run_command(state: &mut State, text: &str) -> Vec<Effect> {
    match command::parse(text) {
        Err(e) => {
            state.error(e);
            Vec::new()
        }
        Ok(Command::Quit) => {
            state.quit = true;
            Vec::new()
        }
        Ok(Command::Help) => {
            state.overlay = Some(Overlay::Help { scroll: 0 });
            Vec::new()
        }
        Ok(Command::Refresh) => {
            state.info("reloading from the store");
            startup(state)
        }
        Ok(Command::Serve) => {
            state.tab = Tab::Endpoints;
            endpoints::on_key(state, &Action::StartEndpoint)
        }
        Ok(Command::Unserve) => {
            state.tab = Tab::Endpoints;
            endpoints::on_key(state, &Action::StopEndpoint)
        }
        Ok(Command::Train(req)) => {
            state.info(format!("preparing data for {} training…", req.kind));
            state.tab = Tab::Jobs;
            vec![Effect::Train(req)]
        }
        Ok(Command::Promote { name, version, to }) => {
            state.tab = Tab::Registry;
            registry::open_promote(state, name, version, to)
        }
        Ok(Command::Rollback { name }) => {
            state.tab = Tab::Registry;
            registry::open_rollback(state, name);
            Vec::new()
        }
        Ok(Command::Predict {
            model,
            input,
            output,
        }) => {
            state.info(format!("scoring {input} with {model}…"));
            vec![Effect::Predict {
                model,
                input,
                output,
            }]
        }
        Ok(Command::Archive { name, version }) => {
            state.tab = Tab::Registry;
            let stage = state
                .registry
                .versions
                .iter()
                .find(|v| v.name == name && v.version == version)
                .map(|v| v.stage);
            registry::open_archive(state, name, version, stage);
            Vec::new()
        }
    }
}

fn next_kind(kind: ModelKind) -> ModelKind {
    let i = ModelKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    ModelKind::ALL[(i + 1) % ModelKind::ALL.len()]
}

fn on_dialog(state: &mut State, action: Action) -> Vec<Effect> {
    let Some(Overlay::Dialog(dialog)) = &mut state.overlay else {
        return Vec::new();
    };
    if let Action::Back = action {
        state.overlay = None;
        state.info("cancelled: nothing changed");
        return Vec::new();
    }
    match dialog {
        Dialog::Train {
            kind,
            params,
            error,
        } => match action {
            Action::Input(c) => params.push(c),
            Action::Backspace => {
                params.pop();
            }
            Action::Complete => *kind = next_kind(*kind),
            Action::Submit => {
                let words: Vec<&str> = params.split_whitespace().collect();
                match command::train_request(*kind, &words) {
                    Ok(req) => {
                        state.overlay = None;
                        state.info(format!("preparing data for {} training…", req.kind));
                        state.tab = Tab::Jobs;
                        return vec![Effect::Train(req)];
                    }
                    Err(e) => *error = Some(e),
                }
            }
            _ => {}
        },
        Dialog::Tune { kind, text, error } => match action {
            Action::Input(c) => {
                text.push(c);
                *error = None;
            }
            Action::Backspace => {
                text.pop();
                *error = None;
            }
            Action::Complete => {
                let unedited = *text == command::tune_defaults(*kind);
                *kind = next_kind(*kind);
                if unedited {
                    *text = command::tune_defaults(*kind);
                }
            }
            Action::Submit => {
                let words: Vec<&str> = text.split_whitespace().collect();
                match command::tune_request(*kind, &words) {
                    Ok(req) => {
                        state.overlay = None;
                        state.info(format!(
                            "preparing data for a {} tune of {} trials ({} sampler)…",
                            req.kind, req.trials, req.sampler
                        ));
                        state.tab = Tab::Jobs;
                        return vec![Effect::Tune(Box::new(req))];
                    }
                    Err(e) => *error = Some(e),
                }
            }
            _ => {}
        },
        Dialog::Promote {
            name,
            version,
            to,
            gate,
            reason,
        } => {
            let passed = match gate {
                GateStatus::Ready(g) => Some(g.passed),
                _ => None,
            };
            match (passed, action) {
                (Some(true), Action::Confirm) => {
                    let effect = Effect::Promote {
                        name: name.clone(),
                        version: *version,
                        to: *to,
                        force: false,
                        reason: None,
                    };
                    let msg = format!("promoting {name}/{version} to {to}…");
                    state.overlay = None;
                    state.info(msg);
                    return vec![effect];
                }
                (Some(false), Action::Input(c)) => reason.push(c),
                (Some(false), Action::Backspace) => {
                    reason.pop();
                }
                (Some(false), Action::Submit) => {
                    let why = reason.trim().to_string();
                    if why.is_empty() {
                        state
                            .error("the gate failed: type a reason to force the promotion, or esc");
                        return Vec::new();
                    }
                    let effect = Effect::Promote {
                        name: name.clone(),
                        version: *version,
                        to: *to,
                        force: true,
                        reason: Some(why),
                    };
                    let msg = format!("forcing {name}/{version} to {to} (gate overridden)…");
                    state.overlay = None;
                    state.info(msg);
                    return vec![effect];
                }
                _ => {}
            }
        }
        Dialog::Confirm { effect, .. } => {
            if let Action::Confirm = action {
                let effect = effect.clone();
                state.overlay = None;
                state.info("applying…");
                return vec![effect];
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use cerebro::registry::Stage;

    use super::*;
    use crate::tui::fixtures::{gate, loaded, state};
    use crate::tui::keymap::Context;
    use crate::tui::tabs::experiments::ExpView;

    fn keys(s: &mut State, actions: Vec<Action>) -> Vec<Effect> {
        actions.into_iter().flat_map(|a| update(s, a)).collect()
    }

    #[test]
    fn tabs_switch_by_number_and_cycle_and_the_data_tab_loads_lazily() {
        let mut s = state();
        assert_eq!(s.tab, Tab::Experiments);
        let e = update(&mut s, Action::TabData);
        assert_eq!(s.tab, Tab::Data);
        assert!(matches!(
            e.as_slice(),
            [Effect::LoadProfile { prepared: false }]
        ));
        assert!(update(&mut s, Action::TabData).is_empty(), "loaded once");
        update(&mut s, Action::PrevTab);
        assert_eq!(s.tab, Tab::Jobs);
        update(&mut s, Action::NextTab);
        assert_eq!(s.tab, Tab::Data);
    }

    #[test]
    fn quit_from_a_key_or_the_command_line() {
        let mut s = state();
        update(&mut s, Action::Quit);
        assert!(s.quit);
        let mut s = state();
        keys(
            &mut s,
            vec![Action::Command, Action::Input('q'), Action::Submit],
        );
        assert!(s.quit);
    }

    #[test]
    fn runs_sort_newest_first_then_by_the_chosen_column() {
        let mut s = loaded();
        let names = |s: &State| -> Vec<String> {
            s.experiments
                .rows
                .iter()
                .map(|&i| s.experiments.runs[i].name.clone())
                .collect()
        };
        assert_eq!(names(&s), ["tree-bb", "forest-ccc", "tree-a"]);
        update(&mut s, Action::Sort); // name ascending
        assert_eq!(names(&s), ["forest-ccc", "tree-a", "tree-bb"]);
        update(&mut s, Action::SortReverse);
        assert_eq!(names(&s), ["tree-bb", "tree-a", "forest-ccc"]);
    }

    #[test]
    fn filter_narrows_the_runs_and_esc_clears_it() {
        let mut s = loaded();
        keys(
            &mut s,
            vec![Action::Filter, Action::Input('e'), Action::Input('-')],
        );
        assert_eq!(s.contexts(), vec![Context::Input]);
        assert_eq!(s.experiments.rows.len(), 2);
        update(&mut s, Action::Submit);
        assert_eq!(s.input, Input::None);
        assert_eq!(s.experiments.rows.len(), 2, "the filter stays");
        keys(&mut s, vec![Action::Filter, Action::Back]);
        assert_eq!(s.experiments.rows.len(), 3);
    }

    #[test]
    fn marking_two_runs_and_comparing_highlights_the_best_and_diff_hides_equal_rows() {
        let mut s = loaded();
        keys(&mut s, vec![Action::Mark, Action::Mark]);
        assert_eq!(s.experiments.marked.len(), 2);
        update(&mut s, Action::Compare);
        let ExpView::Compare(view) = &s.experiments.view else {
            panic!("compare view");
        };
        assert_eq!(view.comparison.best["roc_auc"], format!("{:0<32}", "bbbb"));
        assert!(view.comparison.params.contains_key("seed"));
        assert!(s.contexts().contains(&Context::Compare));
        update(&mut s, Action::ToggleDiff);
        let ExpView::Compare(view) = &s.experiments.view else {
            panic!("compare view");
        };
        assert!(!view.comparison.params.contains_key("seed"));
        update(&mut s, Action::Back);
        assert!(matches!(s.experiments.view, ExpView::List));
    }

    #[test]
    fn compare_needs_two_marks() {
        let mut s = loaded();
        update(&mut s, Action::Compare);
        assert!(s.status.as_ref().is_some_and(|m| m.error));
        assert!(matches!(s.experiments.view, ExpView::List));
    }

    #[test]
    fn enter_opens_the_run_detail_and_drops_stale_replies() {
        let mut s = loaded();
        let e = update(&mut s, Action::Open);
        let [Effect::LoadRun(id)] = e.as_slice() else {
            panic!("loads the run: {e:?}");
        };
        assert!(id.starts_with("bbbb"));
        assert!(matches!(
            &s.experiments.view,
            ExpView::Detail { detail: None, .. }
        ));
    }

    #[test]
    fn reproduce_only_finished_runs() {
        let mut s = loaded();
        let e = update(&mut s, Action::Reproduce);
        assert!(matches!(e.as_slice(), [Effect::Reproduce(id)] if id.starts_with("bbbb")));
        update(&mut s, Action::Down); // forest-ccc is RUNNING
        assert!(update(&mut s, Action::Reproduce).is_empty());
        assert!(s.status.as_ref().is_some_and(|m| m.error));
    }

    #[test]
    fn the_training_form_cycles_kinds_and_launches_a_sweep() {
        let mut s = loaded();
        update(&mut s, Action::Train);
        assert_eq!(s.contexts(), vec![Context::Input]);
        update(&mut s, Action::Complete); // tree -> logistic
        let mut typed: Vec<Action> = "alpha=0.5,1".chars().map(Action::Input).collect();
        typed.push(Action::Submit);
        let e = keys(&mut s, typed);
        let [Effect::Train(req)] = e.as_slice() else {
            panic!("a training effect: {e:?}");
        };
        assert_eq!(req.kind, ModelKind::Logistic);
        assert_eq!(req.sweeps[0].1, vec!["0.5", "1"]);
        assert!(s.overlay.is_none());
        assert_eq!(s.tab, Tab::Jobs);
    }

    #[test]
    fn the_tune_form_starts_from_the_kinds_space_and_launches_a_tune() {
        let mut s = loaded();
        update(&mut s, Action::Tune);
        assert_eq!(s.contexts(), vec![Context::Input]);
        update(&mut s, Action::Complete); // tree -> logistic: unedited, so its defaults
        let Some(Overlay::Dialog(Dialog::Tune { kind, text, .. })) = &s.overlay else {
            panic!("the tune form is open");
        };
        assert_eq!(*kind, ModelKind::Logistic);
        assert_eq!(*text, command::tune_defaults(ModelKind::Logistic));
        // A bad word keeps the form open with the error.
        let e = keys(&mut s, " trials=x".chars().map(Action::Input).collect());
        assert!(e.is_empty());
        assert!(update(&mut s, Action::Submit).is_empty());
        let Some(Overlay::Dialog(Dialog::Tune {
            error: Some(msg), ..
        })) = &s.overlay
        else {
            panic!("still open with an error");
        };
        assert!(msg.contains("trials `x`"), "{msg}");
        // Edited text survives a change of kind.
        update(&mut s, Action::Backspace);
        let mut typed: Vec<Action> = "3 seed=5".chars().map(Action::Input).collect();
        typed.push(Action::Complete); // logistic -> forest, text kept
        typed.push(Action::Complete); // forest -> gbt
        typed.push(Action::Complete); // gbt -> tree
        typed.push(Action::Complete); // tree -> logistic
        typed.push(Action::Submit);
        let e = keys(&mut s, typed);
        let [Effect::Tune(req)] = e.as_slice() else {
            panic!("a tune effect: {e:?}");
        };
        assert_eq!(req.kind, ModelKind::Logistic);
        assert_eq!((req.trials, req.seed), (3, Some(5)));
        assert_eq!(req.space.specs()[0].0, "alpha");
        assert!(s.overlay.is_none());
        assert_eq!(s.tab, Tab::Jobs);
    }

    #[test]
    fn parallel_coordinates_ask_for_importance_and_order_axes_by_it() {
        use crate::tui::tabs::experiments::{ExpView, ImportanceState};
        use cerebro::track::importance::{ImportanceReport, ParamImportance};
        let mut s = loaded();
        let e = update(&mut s, Action::ParallelCoordinates);
        let [
            Effect::Importance {
                generation,
                runs,
                metric,
            },
        ] = e.as_slice()
        else {
            panic!("importance asked: {e:?}");
        };
        assert_eq!((metric.as_str(), runs.len()), ("roc_auc", 3));
        let generation = *generation;
        assert!(s.contexts().contains(&Context::Compare), "m is bound there");
        let axes = |s: &State| -> Vec<String> {
            let ExpView::Params(v) = &s.experiments.view else {
                panic!("the params view");
            };
            v.plot.axes.iter().map(|a| a.name.clone()).collect()
        };
        // The fixture's runs vary in max_depth only (seed is 42 everywhere).
        assert_eq!(axes(&s), ["max_depth", "roc_auc"]);
        let report = |param: &str| ImportanceReport {
            metric: "roc_auc".into(),
            runs: 3,
            params: vec![ParamImportance {
                param: param.into(),
                importance: 1.0,
                correlation: Some(0.5),
                distinct: 3,
            }],
            method: "test",
        };
        // A stale answer is dropped.
        update(
            &mut s,
            Action::ImportanceLoaded {
                generation: generation + 7,
                result: Ok(Box::new(report("stale"))),
            },
        );
        let ExpView::Params(v) = &s.experiments.view else {
            panic!("the params view");
        };
        assert!(matches!(v.importance, ImportanceState::Computing));
        update(
            &mut s,
            Action::ImportanceLoaded {
                generation,
                result: Ok(Box::new(report("max_depth"))),
            },
        );
        let ExpView::Params(v) = &s.experiments.view else {
            panic!("the params view");
        };
        assert!(
            matches!(&v.importance, ImportanceState::Ready(r) if r.params[0].param == "max_depth")
        );
        // j moves the highlighted run; m moves to the next metric and asks again.
        let before = s.experiments.cursor.selected;
        update(&mut s, Action::Down);
        assert_eq!(s.experiments.cursor.selected, before + 1);
        let e = update(&mut s, Action::NextSeries);
        let [
            Effect::Importance {
                generation: g2,
                metric,
                ..
            },
        ] = e.as_slice()
        else {
            panic!("importance for the next metric: {e:?}");
        };
        assert_eq!((metric.as_str(), *g2), ("f1", generation + 1));
        assert_eq!(axes(&s), ["max_depth", "f1"]);
        update(&mut s, Action::Back);
        assert!(matches!(s.experiments.view, ExpView::List));
    }

    #[test]
    fn promotion_shows_the_gate_before_anything_changes() {
        let mut s = loaded();
        update(&mut s, Action::TabRegistry);
        update(&mut s, Action::FocusRight);
        // Versions newest first: v2 (None) is selected.
        let e = update(&mut s, Action::Promote);
        assert!(matches!(
            e.as_slice(),
            [Effect::EvaluateGate { version: 2, .. }]
        ));
        // Confirming before the gate result arrives does nothing.
        assert!(update(&mut s, Action::Confirm).is_empty());
        // A reply for another version is stale.
        update(
            &mut s,
            Action::GateEvaluated {
                name: "characters".into(),
                version: 9,
                result: Ok(Box::new(gate(true))),
            },
        );
        assert!(update(&mut s, Action::Confirm).is_empty());
        update(
            &mut s,
            Action::GateEvaluated {
                name: "characters".into(),
                version: 2,
                result: Ok(Box::new(gate(true))),
            },
        );
        let e = update(&mut s, Action::Confirm);
        assert!(matches!(
            e.as_slice(),
            [Effect::Promote {
                version: 2,
                force: false,
                to: Stage::Production,
                ..
            }]
        ));
        assert!(s.overlay.is_none());
    }

    #[test]
    fn a_failed_gate_needs_a_typed_reason_to_force() {
        let mut s = loaded();
        keys(
            &mut s,
            vec![Action::TabRegistry, Action::FocusRight, Action::Promote],
        );
        update(
            &mut s,
            Action::GateEvaluated {
                name: "characters".into(),
                version: 2,
                result: Ok(Box::new(gate(false))),
            },
        );
        assert_eq!(s.contexts(), vec![Context::Input]);
        // y is typed into the reason, not taken as a confirmation.
        assert!(update(&mut s, Action::Confirm).is_empty());
        assert!(update(&mut s, Action::Submit).is_empty(), "empty reason");
        assert!(s.overlay.is_some());
        let mut typed: Vec<Action> = "hotfix".chars().map(Action::Input).collect();
        typed.push(Action::Submit);
        let e = keys(&mut s, typed);
        let [
            Effect::Promote {
                force: true,
                reason: Some(r),
                ..
            },
        ] = e.as_slice()
        else {
            panic!("a forced promotion: {e:?}");
        };
        assert_eq!(r, "hotfix");
    }

    #[test]
    fn esc_cancels_a_promotion_without_effects() {
        let mut s = loaded();
        keys(
            &mut s,
            vec![Action::TabRegistry, Action::FocusRight, Action::Promote],
        );
        assert!(update(&mut s, Action::Back).is_empty());
        assert!(s.overlay.is_none());
    }

    #[test]
    fn s_on_a_version_opens_predict_for_it_and_the_command_scores_the_file() {
        let mut s = loaded();
        keys(&mut s, vec![Action::TabRegistry, Action::FocusRight]);
        let v = s.registry.selected_version().unwrap().version;
        assert!(update(&mut s, Action::Score).is_empty());
        assert_eq!(
            s.input,
            Input::Command {
                text: format!("predict characters/{v} "),
                completions: Vec::new(),
            }
        );
        let mut typed: Vec<Action> = "in.csv out.parquet".chars().map(Action::Input).collect();
        typed.push(Action::Submit);
        let e = keys(&mut s, typed);
        let [
            Effect::Predict {
                model,
                input,
                output,
            },
        ] = e.as_slice()
        else {
            panic!("a predict effect: {e:?}");
        };
        assert_eq!(
            (model.as_str(), input.as_str(), output.as_str()),
            (format!("characters/{v}").as_str(), "in.csv", "out.parquet")
        );
        // A model that is not a URI is refused on the status line, with nothing run.
        let mut typed: Vec<Action> = "predict nope a.csv b.csv"
            .chars()
            .map(Action::Input)
            .collect();
        typed.insert(0, Action::Command);
        typed.push(Action::Submit);
        assert!(keys(&mut s, typed).is_empty());
        assert!(s.status.as_ref().unwrap().error);
    }

    #[test]
    fn rollback_and_archive_ask_first() {
        let mut s = loaded();
        keys(&mut s, vec![Action::TabRegistry, Action::FocusRight]);
        assert!(update(&mut s, Action::Archive).is_empty());
        let e = update(&mut s, Action::Confirm);
        assert!(matches!(e.as_slice(), [Effect::Archive { version: 2, .. }]));
        assert!(update(&mut s, Action::Rollback).is_empty());
        assert!(update(&mut s, Action::Back).is_empty(), "no is no");
        update(&mut s, Action::Rollback);
        let e = update(&mut s, Action::Confirm);
        assert!(matches!(e.as_slice(), [Effect::Rollback { name }] if name == "characters"));
    }

    #[test]
    fn registry_changes_reload_the_registry() {
        let mut s = loaded();
        let e = update(&mut s, Action::RegistryChanged(Ok("done".into())));
        assert!(matches!(e.as_slice(), [Effect::LoadModels]));
        assert_eq!(s.status.as_ref().unwrap().text, "done");
    }

    #[test]
    fn promote_from_the_command_line_opens_the_gate_dialog() {
        let mut s = loaded();
        let mut typed: Vec<Action> = "promote characters 2".chars().map(Action::Input).collect();
        typed.insert(0, Action::Command);
        typed.push(Action::Submit);
        let e = keys(&mut s, typed);
        assert!(matches!(
            e.as_slice(),
            [Effect::EvaluateGate { version: 2, .. }]
        ));
        assert_eq!(s.tab, Tab::Registry);
    }

    #[test]
    fn command_completion_updates_the_line() {
        let mut s = loaded();
        let mut typed: Vec<Action> = "pro".chars().map(Action::Input).collect();
        typed.insert(0, Action::Command);
        typed.push(Action::Complete);
        keys(&mut s, typed);
        assert_eq!(
            s.input,
            Input::Command {
                text: "promote ".into(),
                completions: Vec::new()
            }
        );
        update(&mut s, Action::Complete);
        assert_eq!(
            s.input,
            Input::Command {
                text: "promote characters ".into(),
                completions: Vec::new()
            }
        );
    }

    #[test]
    fn job_events_drive_the_jobs_tab_and_reload_runs() {
        use cerebro::jobs::JobEvent;
        let mut s = loaded();
        update(
            &mut s,
            Action::Job(JobEvent::Queued {
                job: 1,
                label: "tree".into(),
            }),
        );
        update(
            &mut s,
            Action::JobSubmitted {
                job: 1,
                reproduces: None,
            },
        );
        update(&mut s, Action::Job(JobEvent::Started { job: 1 }));
        let e = update(
            &mut s,
            Action::Job(JobEvent::Progress {
                job: 1,
                stage: "start".into(),
                fraction: 0.0,
                message: "run cccc0000".into(),
            }),
        );
        assert!(matches!(e.as_slice(), [Effect::LoadRecentRuns]));
        update(
            &mut s,
            Action::Job(JobEvent::Progress {
                job: 1,
                stage: "fit".into(),
                fraction: 0.5,
                message: "half".into(),
            }),
        );
        assert_eq!(s.jobs.running(), 1);
        assert_eq!(s.jobs.progress_of(&format!("{:0<32}", "cccc")), Some(0.5));
        // Live status: runs reload every other tick while something runs, without a redraw.
        s.dirty = false;
        let ticks: Vec<Effect> = (0..4).flat_map(|_| update(&mut s, Action::Tick)).collect();
        let reloads = ticks
            .iter()
            .filter(|e| matches!(e, Effect::LoadRecentRuns))
            .count();
        assert_eq!(reloads, 2);
        assert!(!s.dirty);
        update(&mut s, Action::TabJobs);
        let e = update(&mut s, Action::CancelJob);
        assert!(matches!(e.as_slice(), [Effect::CancelJob(1)]));
        update(&mut s, Action::Job(JobEvent::Cancelled { job: 1 }));
        assert_eq!(s.jobs.running(), 0);
        assert!(update(&mut s, Action::CancelJob).is_empty(), "already over");
    }

    #[test]
    fn help_opens_and_closes_and_hides_other_keys() {
        let mut s = state();
        update(&mut s, Action::Help);
        assert_eq!(s.contexts(), vec![Context::Help]);
        update(&mut s, Action::Back);
        assert!(s.overlay.is_none());
    }

    #[test]
    fn watch_events_refresh_the_monitor_once_at_a_time_and_w_switches_the_window() {
        use cerebro::monitor::watch::{Folder, WatchEvent, WatchMode};
        let mut s = state();
        let first = startup(&mut s);
        assert!(
            !first
                .iter()
                .any(|e| matches!(e, Effect::MonitorRefresh { .. } | Effect::LoadRuns))
        );
        // The rest of start-up follows the first page of runs, once.
        let rest = update(&mut s, Action::RecentRunsLoaded(Vec::new()));
        assert!(rest.iter().any(|e| matches!(e, Effect::LoadRuns)));
        assert!(
            rest.iter()
                .any(|e| matches!(e, Effect::MonitorRefresh { ingest: true, .. }))
        );
        assert!(update(&mut s, Action::RecentRunsLoaded(Vec::new())).is_empty());
        let event = || {
            Action::Watch(WatchEvent {
                folder: Folder::Logs,
                path: "data/inference/local/1.jsonl".into(),
                via: WatchMode::Notify,
            })
        };
        // A change while the first refresh runs waits for it.
        assert!(update(&mut s, event()).is_empty());
        assert!(s.monitoring.pending);
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(crate::tui::fixtures::monitoring_snapshot(3)))),
        );
        // The next tick ingests what changed meanwhile; nothing else is pending after that.
        let e = update(&mut s, Action::Tick);
        assert!(
            e.iter()
                .any(|e| matches!(e, Effect::MonitorRefresh { ingest: true, .. }))
        );
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(crate::tui::fixtures::monitoring_snapshot(3)))),
        );
        let e = update(&mut s, Action::Tick);
        assert!(!e.iter().any(|e| matches!(e, Effect::MonitorRefresh { .. })));
        // With nothing in flight a change refreshes at once.
        let e = update(&mut s, event());
        assert!(matches!(
            e.as_slice(),
            [Effect::MonitorRefresh { ingest: true, .. }]
        ));
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(crate::tui::fixtures::monitoring_snapshot(3)))),
        );
        // w: the next configured window length, read without ingesting.
        update(&mut s, Action::TabMonitoring);
        let e = update(&mut s, Action::Granularity);
        assert!(matches!(
            e.as_slice(),
            [Effect::MonitorRefresh {
                ingest: false,
                granularity: Some(3_600_000),
                ..
            }]
        ));
        // Down moves through the features of the drift table.
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(crate::tui::fixtures::monitoring_snapshot(3)))),
        );
        update(&mut s, Action::Down);
        assert_eq!(s.monitoring.selected_feature().unwrap().name, "cat");
        // A refresh keeps the selected feature.
        update(
            &mut s,
            Action::MonitorLoaded(Ok(Box::new(crate::tui::fixtures::monitoring_snapshot(4)))),
        );
        assert_eq!(s.monitoring.selected_feature().unwrap().name, "cat");
    }

    #[test]
    fn pipelines_run_now_switch_schedules_and_follow_the_agent() {
        use cerebro::workflow::{AgentEvent, RunOutcome};
        let mut s = loaded();
        s.jobs.agent = true;
        assert!(
            startup(&mut s)
                .iter()
                .any(|e| matches!(e, Effect::LoadPipelines))
        );
        update(
            &mut s,
            Action::PipelinesLoaded(Ok(crate::tui::fixtures::pipelines())),
        );
        update(&mut s, Action::TabJobs);
        // r: run the selected pipeline through the agent; s: its schedule is on, turn it off.
        let e = update(&mut s, Action::RunPipeline);
        assert!(matches!(e.as_slice(), [Effect::RunPipeline(p)] if p == "retrain"));
        let e = update(&mut s, Action::ToggleSchedule);
        assert!(matches!(
            e.as_slice(),
            [Effect::SetSchedule { pipeline, enabled: false }] if pipeline == "retrain"
        ));
        let e = update(&mut s, Action::PipelineChanged(Ok("schedule off".into())));
        assert!(matches!(e.as_slice(), [Effect::LoadPipelines]));
        // j moves the pipelines list (focused); `ship` has no schedule to switch.
        update(&mut s, Action::Down);
        assert_eq!(s.jobs.selected_pipeline().unwrap().name, "ship");
        assert!(update(&mut s, Action::ToggleSchedule).is_empty());
        assert!(s.status.as_ref().is_some_and(|m| m.error));
        // A reload keeps the selection; an identical one is not redrawn.
        s.dirty = false;
        update(
            &mut s,
            Action::PipelinesLoaded(Ok(crate::tui::fixtures::pipelines())),
        );
        assert!(!s.dirty);
        assert_eq!(s.jobs.selected_pipeline().unwrap().name, "ship");
        // x still cancels the selected job while the pipelines have the focus.
        update(
            &mut s,
            Action::Job(cerebro::jobs::JobEvent::Started { job: 7 }),
        );
        let e = update(&mut s, Action::CancelJob);
        assert!(matches!(e.as_slice(), [Effect::CancelJob(7)]), "{e:?}");
        // l focuses the jobs; h the pipelines again.
        update(&mut s, Action::FocusRight);
        update(&mut s, Action::Up);
        assert_eq!(s.jobs.selected_pipeline().unwrap().name, "ship");
        update(&mut s, Action::FocusLeft);
        // The agent's events: a started run is polled every tick until it ends.
        let e = update(
            &mut s,
            Action::Agent(AgentEvent::RunStarted {
                pipeline: "ship".into(),
                run_id: "eeee".repeat(8),
                fired_by: "manual".into(),
            }),
        );
        assert!(matches!(e.as_slice(), [Effect::LoadPipelines]));
        assert_eq!(s.jobs.pipelines_running(), 1);
        assert!(
            update(&mut s, Action::RunPipeline).is_empty(),
            "one run at a time"
        );
        update(
            &mut s,
            Action::PipelinesLoaded(Ok(crate::tui::fixtures::pipelines())),
        );
        let polls = |s: &mut State| {
            (0..5)
                .flat_map(|_| {
                    let e = update(s, Action::Tick);
                    if e.iter().any(|e| matches!(e, Effect::LoadPipelines)) {
                        update(
                            s,
                            Action::PipelinesLoaded(Ok(crate::tui::fixtures::pipelines())),
                        );
                    }
                    e
                })
                .filter(|e| matches!(e, Effect::LoadPipelines))
                .count()
        };
        assert_eq!(polls(&mut s), 5);
        let e = update(
            &mut s,
            Action::Agent(AgentEvent::RunEnded(RunOutcome {
                run_id: "eeee".repeat(8),
                pipeline: "ship".into(),
                status: "SUCCEEDED".into(),
                steps: Vec::new(),
            })),
        );
        assert!(e.iter().any(|e| matches!(e, Effect::LoadPipelines)));
        assert!(s.status.as_ref().unwrap().text.contains("SUCCEEDED"));
        assert_eq!(s.jobs.pipelines_running(), 0);
        // Idle: once every few ticks, and never two reads at once.
        assert_eq!(polls(&mut s), 1);
        s.ticks = 4;
        assert!(
            update(&mut s, Action::Tick)
                .iter()
                .any(|e| matches!(e, Effect::LoadPipelines))
        );
        s.ticks = 9;
        assert!(
            !update(&mut s, Action::Tick)
                .iter()
                .any(|e| matches!(e, Effect::LoadPipelines))
        );
    }

    #[test]
    fn without_pipelines_the_jobs_tab_keys_act_on_jobs_and_nothing_is_polled() {
        let mut s = loaded();
        update(&mut s, Action::PipelinesLoaded(Ok(Vec::new())));
        update(&mut s, Action::TabJobs);
        assert!(update(&mut s, Action::RunPipeline).is_empty());
        assert!(s.status.as_ref().is_some_and(|m| m.error));
        let ticks: Vec<Effect> = (0..10).flat_map(|_| update(&mut s, Action::Tick)).collect();
        assert!(!ticks.iter().any(|e| matches!(e, Effect::LoadPipelines)));
    }
}
