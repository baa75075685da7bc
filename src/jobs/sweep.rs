//! Submitting a sweep: the one way every front end and workflow step turns run specs into
//! training jobs. How many run at once comes from `max_parallel` (0 = one per core,
//! [`parallelism`]); the data version is prepared once into the [`TrainContext`] they share, each
//! fit getting an equal share of the cores ([`crate::track::plan::context`]); then one job per
//! spec is queued on a [`JobRunner`]. A front end with its own event loop (the TUI) calls
//! [`Sweep::spawn`] on its long-lived runner; a caller that just waits for the results (the CLI,
//! a pipeline's train step) calls [`Sweep::run`].

use std::future::Future;
use std::sync::Arc;

use super::{JobEvent, JobHandle, JobRunner};
use crate::error::{Error, Result};
use crate::track::{RunResult, RunSpec, TrainContext, plan};
use crate::workspace::Workspace;

/// How many jobs run at once for a `max_parallel` setting: the setting itself, or the number of
/// cores ([`crate::env::cores`]) for 0.
pub fn parallelism(max_parallel: usize) -> usize {
    if max_parallel == 0 {
        crate::env::cores()
    } else {
        max_parallel
    }
}

/// Run specs ready to queue: the context they share and how many run at once.
#[derive(Clone)]
pub struct Sweep {
    pub specs: Vec<RunSpec>,
    pub context: Arc<TrainContext>,
    /// Jobs at once (at least 1).
    pub parallel: usize,
}

/// How one job of a sweep ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Finished(Box<RunResult>),
    Failed(String),
    /// Cancelled before or while it ran; its run (if started) is KILLED.
    Cancelled,
}

impl Sweep {
    /// Prepares (and snapshots) the configured data for `specs`, with `max_parallel` jobs at once
    /// (0 = one per core); each fit gets `cores / min(parallel, specs)` threads. Errors are the
    /// data preparation's (file, column, step).
    pub fn prepare(ws: &mut Workspace, specs: Vec<RunSpec>, max_parallel: usize) -> Result<Sweep> {
        let parallel = parallelism(max_parallel);
        let context = Arc::new(plan::context(ws, parallel.min(specs.len()))?);
        Ok(Sweep {
            specs,
            context,
            parallel,
        })
    }

    /// One job: `spec` with its own context (a reproduction, whose data is the original run's).
    pub fn single(spec: RunSpec, context: TrainContext) -> Sweep {
        Sweep {
            specs: vec![spec],
            context: Arc::new(context),
            parallel: 1,
        }
    }

    /// Queues one job per spec on `runner` (whose own limit bounds how many run at once) and
    /// returns their handles in spec order.
    pub fn spawn(self, runner: &JobRunner) -> Vec<JobHandle> {
        self.specs
            .into_iter()
            .map(|spec| runner.spawn_training(self.context.clone(), spec))
            .collect()
    }

    /// Runs the sweep to its end on a private tokio runtime (two workers; the fits run on its
    /// blocking pool) with `parallel` jobs at once. `observe(i, event)` sees every event of the
    /// job of spec `i`, in order; when `interrupt` resolves, every job is cancelled (their runs
    /// close as KILLED) and the sweep still waits for each job's last event. Returns one outcome
    /// per spec, in spec order.
    pub fn run(
        self,
        mut observe: impl FnMut(usize, &JobEvent),
        interrupt: impl Future<Output = ()>,
    ) -> Result<Vec<JobOutcome>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let n = self.specs.len();
        runtime.block_on(async move {
            let (runner, mut events) = JobRunner::new(self.parallel);
            let handles = self.spawn(&runner);
            let index_of = |job: u64| handles.iter().position(|h| h.id == job);
            let mut outcomes: Vec<Option<JobOutcome>> = vec![None; n];
            let mut remaining = n;
            let mut interrupt = std::pin::pin!(interrupt);
            let mut interrupted = false;
            while remaining > 0 {
                let event = tokio::select! {
                    e = events.recv() => match e { Some(e) => e, None => break },
                    () = &mut interrupt, if !interrupted => {
                        interrupted = true;
                        for h in &handles {
                            h.cancel();
                        }
                        continue;
                    }
                };
                let Some(i) = index_of(event.job()) else {
                    continue;
                };
                observe(i, &event);
                if event.is_terminal() {
                    remaining -= 1;
                    outcomes[i] = Some(match event {
                        JobEvent::Finished { result, .. } => JobOutcome::Finished(result),
                        JobEvent::Failed { error, .. } => JobOutcome::Failed(error),
                        _ => JobOutcome::Cancelled,
                    });
                }
            }
            Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or(JobOutcome::Cancelled))
                .collect())
        })
    }
}
