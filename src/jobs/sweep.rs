//! Submitting a sweep: the one way every front end and workflow step turns run specs into
//! training jobs. How many run at once comes from `max_parallel` (0 = one per core,
//! [`parallelism`]); the data version is prepared once into the [`TrainContext`] they share, each
//! fit getting an equal share of the cores ([`crate::track::plan::context`]); then one job per
//! spec is queued on a [`JobRunner`]. A front end with its own event loop (the TUI) calls
//! [`Sweep::spawn`] on its long-lived runner; a caller that just waits for the results (the CLI,
//! a pipeline's train step) calls [`Sweep::run`].
//!
//! An adaptive sweep (a tune) does not know its specs up front: a [`Source`] proposes the next
//! spec whenever a job slot is free, sees every event of the jobs it proposed, and may attach a
//! pruning hook to each job. [`drive`] runs one on a runner (inside the caller's runtime: the
//! TUI's); [`run_adaptive`] on a private runtime as [`Sweep::run`] does. A fixed sweep is the
//! adaptive sweep whose source proposes its specs in order, so both share one loop.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{JobEvent, JobHandle, JobRunner};
use crate::error::{Error, Result};
use crate::track::{RunResult, RunSpec, TrainContext, plan};
use crate::train::Pruning;
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
    /// Stopped by its pruning hook after `trees` trees; its run is KILLED and tagged PRUNED.
    Pruned {
        trees: usize,
        roc_auc: f64,
    },
}

impl JobOutcome {
    /// The outcome a terminal event means (`None` for the others).
    pub fn of(event: &JobEvent) -> Option<JobOutcome> {
        Some(match event {
            JobEvent::Finished { result, .. } => JobOutcome::Finished(result.clone()),
            JobEvent::Failed { error, .. } => JobOutcome::Failed(error.clone()),
            JobEvent::Cancelled { .. } => JobOutcome::Cancelled,
            JobEvent::Pruned { trees, roc_auc, .. } => JobOutcome::Pruned {
                trees: *trees,
                roc_auc: *roc_auc,
            },
            _ => return None,
        })
    }
}

/// One job of an adaptive sweep: its spec and, for a tune's trial, its pruning hook.
pub struct Proposal {
    pub spec: RunSpec,
    pub pruning: Option<Arc<dyn Pruning>>,
}

/// What a [`Source`] answers when asked for the next job.
pub enum Next {
    Submit(Proposal),
    /// Nothing yet: ask again after the next job ends (never while no job runs).
    Wait,
    /// No more jobs.
    Done,
}

/// Where the jobs of an adaptive sweep come from (a tuner). Asked for the next job whenever
/// fewer than the sweep's parallelism run, and told every event of its jobs by submission index
/// (the order of its `Submit`s, from 0).
pub trait Source: Send {
    fn next(&mut self) -> Next;
    fn observe(&mut self, index: usize, event: &JobEvent);
}

/// Runs `source` on `runner` until it is done and its jobs have ended, at most `parallel` at
/// once (the runner's own limit also applies), every job sharing `context`. `submitted` sees
/// each job's handle as it is queued (the TUI keeps them for cancelling). When `interrupt`
/// resolves, every job is cancelled, the source is asked no more, and the loop still waits for
/// each job's last event. Returns one outcome per submitted job, in submission order. Must run
/// inside a tokio runtime.
pub async fn drive(
    runner: &JobRunner,
    context: Arc<TrainContext>,
    parallel: usize,
    source: &mut dyn Source,
    mut submitted: impl FnMut(&JobHandle),
    interrupt: impl Future<Output = ()>,
) -> Vec<JobOutcome> {
    let (tx, mut events) = mpsc::unbounded_channel::<JobEvent>();
    let parallel = parallel.max(1);
    let mut handles: Vec<JobHandle> = Vec::new();
    let mut outcomes: Vec<Option<JobOutcome>> = Vec::new();
    let mut running = 0usize;
    let mut exhausted = false;
    let mut interrupt = std::pin::pin!(interrupt);
    let mut interrupted = false;
    loop {
        while !exhausted && running < parallel {
            match source.next() {
                Next::Submit(p) => {
                    let h = runner.spawn_job(context.clone(), p.spec, p.pruning, Some(tx.clone()));
                    submitted(&h);
                    handles.push(h);
                    outcomes.push(None);
                    running += 1;
                }
                Next::Wait => break,
                Next::Done => exhausted = true,
            }
        }
        if running == 0 {
            // Done, or a source waiting with nothing running (which would wait forever).
            break;
        }
        let event = tokio::select! {
            e = events.recv() => match e { Some(e) => e, None => break },
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                exhausted = true;
                for h in &handles {
                    h.cancel();
                }
                continue;
            }
        };
        let Some(i) = handles.iter().position(|h| h.id == event.job()) else {
            continue;
        };
        source.observe(i, &event);
        if let Some(outcome) = JobOutcome::of(&event) {
            running -= 1;
            outcomes[i] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(JobOutcome::Cancelled))
        .collect()
}

/// [`drive`] on a private tokio runtime (two workers; the fits run on its blocking pool) with a
/// runner of its own: for callers that just wait for the results (the CLI, a pipeline step).
pub fn run_adaptive(
    context: Arc<TrainContext>,
    parallel: usize,
    source: &mut dyn Source,
    interrupt: impl Future<Output = ()>,
) -> Result<Vec<JobOutcome>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    runtime.block_on(async move {
        // Events come back on the sweep's own channel; nobody reads the runner's.
        let (runner, _unread) = JobRunner::new(parallel.max(1));
        Ok(drive(&runner, context, parallel, source, |_| {}, interrupt).await)
    })
}

/// A fixed sweep as a [`Source`]: its specs in order, each event handed to `observe`.
struct Fixed<F> {
    specs: std::vec::IntoIter<RunSpec>,
    observe: F,
}

impl<F: FnMut(usize, &JobEvent) + Send> Source for Fixed<F> {
    fn next(&mut self) -> Next {
        match self.specs.next() {
            Some(spec) => Next::Submit(Proposal {
                spec,
                pruning: None,
            }),
            None => Next::Done,
        }
    }

    fn observe(&mut self, index: usize, event: &JobEvent) {
        (self.observe)(index, event);
    }
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

    /// Runs the sweep to its end on a private tokio runtime with `parallel` jobs at once.
    /// `observe(i, event)` sees every event of the job of spec `i`, in order; when `interrupt`
    /// resolves, every job is cancelled (their runs close as KILLED) and the sweep still waits
    /// for each job's last event. Returns one outcome per spec, in spec order.
    pub fn run(
        self,
        observe: impl FnMut(usize, &JobEvent) + Send,
        interrupt: impl Future<Output = ()>,
    ) -> Result<Vec<JobOutcome>> {
        let n = self.specs.len();
        let mut source = Fixed {
            specs: self.specs.into_iter(),
            observe,
        };
        let mut outcomes = run_adaptive(self.context, self.parallel, &mut source, interrupt)?;
        outcomes.resize_with(n, || JobOutcome::Cancelled);
        Ok(outcomes)
    }
}
