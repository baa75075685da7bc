//! Background jobs through the library: progress events, cancellation, bounded concurrency.

use std::sync::Arc;
use std::time::Duration;

use cerebro::jobs::{JobEvent, JobRunner};
use cerebro::store::{RunFilter, RunStatus};
use cerebro::track::{RunSpec, TrainContext};
use cerebro::train::{ModelKind, ModelParams};
use cerebro::workspace::Workspace as Ws;

use crate::common::Workspace;

fn context(ws: &Workspace) -> (Ws, Arc<TrainContext>) {
    let mut w = Ws::open(&ws.path().join("config.toml")).unwrap();
    let (prepared, _, _) = w.prepare_data().unwrap();
    let ctx = Arc::new(TrainContext {
        store_root: w.store_root(),
        tracking: w.tracking.clone(),
        data: Arc::new(prepared.train_data().unwrap()),
        environment: cerebro::env::capture(ws.path(), &w.config.hash, 1),
        threads: 1,
    });
    (w, ctx)
}

fn spec(name: &str, overrides: &[(&str, &str)], kind: ModelKind) -> RunSpec {
    let o: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    RunSpec {
        experiment: "jobs".into(),
        name: name.into(),
        params: ModelParams::resolve(kind, None, &o).unwrap(),
        seed: 1,
        source: None,
        tags: Default::default(),
    }
}

#[test]
fn a_cancelled_job_reports_cancelled_and_its_run_is_killed() {
    let ws = Workspace::demo();
    let (w, ctx) = context(&ws);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events: Vec<JobEvent> = rt.block_on(async {
        let (runner, mut rx) = JobRunner::new(1);
        let handle = runner.spawn_training(
            ctx,
            spec("long", &[("n_trees", "100000")], ModelKind::Forest),
        );
        let mut seen = Vec::new();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(120), rx.recv())
                .await
                .expect("job events keep coming")
                .expect("channel open");
            // Cancel once the forest is growing.
            if matches!(&e, JobEvent::Progress { message, .. } if message.starts_with("tree ")) {
                handle.cancel();
            }
            let done = e.is_terminal();
            seen.push(e);
            if done {
                break seen;
            }
        }
    });
    assert!(matches!(events.first(), Some(JobEvent::Queued { .. })));
    assert!(events.iter().any(|e| matches!(e, JobEvent::Started { .. })));
    assert!(
        matches!(events.last(), Some(JobEvent::Cancelled { .. })),
        "{events:?}"
    );
    let runs = w.store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Killed);
}

#[test]
fn a_sweep_never_runs_more_jobs_than_allowed() {
    let ws = Workspace::demo();
    let (_w, ctx) = context(&ws);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let max_running = rt.block_on(async {
        let (runner, mut rx) = JobRunner::new(2);
        for d in 1..=5 {
            let depth = d.to_string();
            runner.spawn_training(
                ctx.clone(),
                spec(&format!("d{d}"), &[("max_depth", &depth)], ModelKind::Tree),
            );
        }
        let (mut running, mut max, mut done) = (0usize, 0usize, 0);
        while done < 5 {
            match rx.recv().await.unwrap() {
                JobEvent::Started { .. } => {
                    running += 1;
                    max = max.max(running);
                }
                JobEvent::Finished { .. } => {
                    running -= 1;
                    done += 1;
                }
                JobEvent::Failed { error, .. } => panic!("job failed: {error}"),
                _ => {}
            }
        }
        max
    });
    assert!((1..=2).contains(&max_running), "{max_running}");
}
