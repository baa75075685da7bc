//! `D` on an empty workspace: the demo as a sequence of effects over `cerebro::demo`. The runtime
//! writes the demo data if needed and queues the demo's training jobs (they show on the Jobs
//! tab); when every one of them is over, the best run is registered and promoted through the
//! gate; then the local endpoint serves it and the Endpoints tab is shown.

use cerebro::jobs::JobId;

use super::app::{State, Tab};
use super::effects::Effect;
use super::tabs::endpoints;
use super::tabs::jobs::JobStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoPhase {
    /// Preparing the data and queuing the jobs.
    Preparing,
    Training(Vec<JobId>),
    Registering,
}

impl DemoPhase {
    pub fn describe(&self) -> String {
        match self {
            DemoPhase::Preparing => "demo: preparing the data…".into(),
            DemoPhase::Training(jobs) => format!("demo: training {} models…", jobs.len()),
            DemoPhase::Registering => "demo: registering and promoting the best model…".into(),
        }
    }
}

/// Whether `D` is on offer: the runs are loaded, there are none, and no demo is under way.
/// The demo's simulated traffic: requests per second, for how long, and the drift scenario's
/// factor on the first numeric feature (as the course scales one feature by 1.5).
pub const TRAFFIC_RATE: f64 = 20.0;
pub const TRAFFIC_SECONDS: u64 = 600;
pub const TRAFFIC_SCALE: f64 = 1.5;

pub fn offered(state: &State) -> bool {
    state.experiments.loaded && state.experiments.runs.is_empty() && state.demo.is_none()
}

pub fn start(state: &mut State) -> Vec<Effect> {
    if state.demo.is_some() {
        state.info("the demo is already running");
        return Vec::new();
    }
    if !state.experiments.loaded {
        state.error("still reading the runs; try D again in a moment");
        return Vec::new();
    }
    if !state.experiments.runs.is_empty() {
        state.error(format!(
            "the demo runs on an empty workspace; this one has {} run(s) (t trains more)",
            state.experiments.runs.len()
        ));
        return Vec::new();
    }
    state.demo = Some(DemoPhase::Preparing);
    state.tab = Tab::Jobs;
    state.info("demo: preparing the data and queuing tree, forest and gbt…");
    vec![Effect::Demo]
}

/// The runtime queued the demo's jobs (or failed to).
pub fn on_queued(state: &mut State, result: Result<Vec<JobId>, String>) -> Vec<Effect> {
    match result {
        Ok(jobs) => {
            state.demo = Some(DemoPhase::Training(jobs));
            // Jobs may already be over (tiny data).
            check_jobs(state)
        }
        Err(e) => {
            state.demo = None;
            state.error(format!("demo: {e}"));
            Vec::new()
        }
    }
}

/// After a job event: once every demo job is over, register the best finished run.
pub fn check_jobs(state: &mut State) -> Vec<Effect> {
    let Some(DemoPhase::Training(ids)) = &state.demo else {
        return Vec::new();
    };
    let rows: Vec<_> = ids
        .iter()
        .map(|id| state.jobs.jobs.iter().find(|j| j.id == *id))
        .collect();
    if rows
        .iter()
        .any(|r| r.is_none_or(|r| !r.status.is_terminal()))
    {
        return Vec::new();
    }
    let runs: Vec<String> = rows
        .into_iter()
        .flatten()
        .filter(|r| r.status == JobStatus::Finished)
        .filter_map(|r| r.run.clone())
        .collect();
    if runs.is_empty() {
        state.demo = None;
        state.error("demo: no training job finished (see the Jobs tab)");
        return Vec::new();
    }
    state.demo = Some(DemoPhase::Registering);
    state.info(format!(
        "demo: {} models trained; registering the best by ROC AUC…",
        runs.len()
    ));
    vec![Effect::DemoRegister(runs), Effect::LoadRecentRuns]
}

/// The best run was registered and promoted (or not): serve it.
pub fn on_registered(state: &mut State, result: Result<(String, i64), String>) -> Vec<Effect> {
    state.demo = None;
    match result {
        Ok((model, version)) => {
            let mut effects = vec![Effect::LoadModels, Effect::LoadRecentRuns];
            state.tab = Tab::Endpoints;
            if state.endpoints.local.is_none() {
                let share = state.endpoints.share;
                effects.extend(endpoints::start(state, model.clone(), share));
                state.demo_traffic = true;
            }
            state.info(format!(
                "demo: {model}/{version} is in Production; starting the local endpoint…"
            ));
            effects
        }
        Err(e) => {
            state.error(format!("demo: {e}"));
            vec![Effect::LoadModels, Effect::LoadRecentRuns]
        }
    }
}

#[cfg(test)]
mod tests {
    use cerebro::jobs::JobEvent;

    use super::*;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{loaded, state};
    use crate::tui::update::update;

    #[test]
    fn the_demo_needs_an_empty_loaded_workspace() {
        let mut s = state();
        assert!(update(&mut s, Action::Demo).is_empty(), "runs not read yet");
        let mut s = loaded();
        assert!(update(&mut s, Action::Demo).is_empty());
        assert!(s.status.as_ref().unwrap().text.contains("empty workspace"));
        assert!(!offered(&s));
    }

    #[test]
    fn the_demo_trains_registers_the_best_and_serves_it() {
        let mut s = state();
        update(&mut s, Action::RunsLoaded(Vec::new()));
        assert!(offered(&s));
        let e = update(&mut s, Action::Demo);
        assert!(matches!(e.as_slice(), [Effect::Demo]));
        assert_eq!(s.tab, Tab::Jobs);
        assert!(update(&mut s, Action::Demo).is_empty(), "once");
        for job in 1..=3 {
            update(
                &mut s,
                Action::Job(JobEvent::Queued {
                    job,
                    label: format!("demo-{job}"),
                }),
            );
        }
        assert!(update(&mut s, Action::DemoQueued(Ok(vec![1, 2, 3]))).is_empty());
        assert_eq!(s.demo, Some(DemoPhase::Training(vec![1, 2, 3])));
        update(
            &mut s,
            Action::Job(JobEvent::Failed {
                job: 1,
                error: "boom".into(),
            }),
        );
        for job in 2..=3 {
            update(
                &mut s,
                Action::Job(JobEvent::Progress {
                    job,
                    stage: "start".into(),
                    fraction: 0.0,
                    message: format!("run r{job}"),
                }),
            );
        }
        update(&mut s, Action::Job(JobEvent::Cancelled { job: 2 }));
        assert!(matches!(s.demo, Some(DemoPhase::Training(_))), "job 3 runs");
        // Job 3 finishes: its run is registered.
        let mut row = s.jobs.jobs.iter().find(|j| j.id == 3).unwrap().clone();
        row.status = JobStatus::Finished;
        row.run = Some("r3-full".into());
        *s.jobs.jobs.iter_mut().find(|j| j.id == 3).unwrap() = row;
        let e = check_jobs(&mut s);
        assert!(
            matches!(e.as_slice(), [Effect::DemoRegister(runs), Effect::LoadRecentRuns] if runs == &["r3-full".to_string()])
        );
        assert_eq!(s.demo, Some(DemoPhase::Registering));

        let e = update(&mut s, Action::DemoRegistered(Ok(("characters".into(), 1))));
        assert_eq!(s.tab, Tab::Endpoints);
        assert!(s.demo.is_none());
        let generation = e
            .iter()
            .find_map(|e| match e {
                Effect::StartEndpoint {
                    model, generation, ..
                } if model == "characters" => Some(*generation),
                _ => None,
            })
            .expect("the demo starts the endpoint");
        // Once it listens, the simulator sends it drifted traffic; only once.
        let e = update(
            &mut s,
            Action::EndpointStarted {
                generation,
                address: "127.0.0.1:4000".into(),
            },
        );
        assert!(e.iter().any(|e| matches!(
            e,
            Effect::Simulate { endpoint } if endpoint == "http://127.0.0.1:4000"
        )));
        assert!(s.status.as_ref().unwrap().text.contains("demo traffic"));
        let e = update(
            &mut s,
            Action::EndpointStarted {
                generation,
                address: "127.0.0.1:4000".into(),
            },
        );
        assert!(!e.iter().any(|e| matches!(e, Effect::Simulate { .. })));
    }

    #[test]
    fn a_failed_demo_says_why_and_can_be_retried() {
        let mut s = state();
        update(&mut s, Action::RunsLoaded(Vec::new()));
        update(&mut s, Action::Demo);
        update(&mut s, Action::DemoQueued(Err("no data".into())));
        assert!(s.demo.is_none());
        assert!(s.status.as_ref().unwrap().error);
        assert!(offered(&s));
    }
}
