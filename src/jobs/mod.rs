//! Background training jobs.
//!
//! A job owns its inputs (a cloned [`RunSpec`] and a shared [`TrainContext`]), runs on tokio's
//! blocking pool (never on the async workers), and reports by id over one channel: started,
//! progress (stage, fraction, message), finished, failed, cancelled. A semaphore bounds how
//! many run at once (sweeps), and each job has a cancellation flag checked between units of
//! work. A job's failure is an event and a FAILED run in the store, never silent.
//!
//! [`sweep`] is how specs become jobs: parallelism (0 = cores), the shared context, the spawn,
//! and adaptive sweeps whose next spec depends on the results so far (a tuner's trials, each
//! with its pruning hook).

pub mod sweep;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Semaphore, mpsc};

use crate::error::Error;
use crate::track::{self, RunResult, RunSpec, TrainContext};
use crate::train::{Progress, Pruning};

pub type JobId = u64;

/// What a job reports.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Queued {
        job: JobId,
        label: String,
    },
    Started {
        job: JobId,
    },
    Progress {
        job: JobId,
        stage: String,
        fraction: f64,
        message: String,
    },
    Finished {
        job: JobId,
        result: Box<RunResult>,
    },
    Failed {
        job: JobId,
        error: String,
    },
    Cancelled {
        job: JobId,
    },
    /// A tuner's pruner stopped the fit after `trees` trees (its run is KILLED and tagged
    /// PRUNED).
    Pruned {
        job: JobId,
        trees: usize,
        roc_auc: f64,
        reason: String,
    },
}

impl JobEvent {
    pub fn job(&self) -> JobId {
        match self {
            JobEvent::Queued { job, .. }
            | JobEvent::Started { job }
            | JobEvent::Progress { job, .. }
            | JobEvent::Finished { job, .. }
            | JobEvent::Failed { job, .. }
            | JobEvent::Cancelled { job }
            | JobEvent::Pruned { job, .. } => *job,
        }
    }

    /// True for the last event a job sends.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobEvent::Finished { .. }
                | JobEvent::Failed { .. }
                | JobEvent::Cancelled { .. }
                | JobEvent::Pruned { .. }
        )
    }
}

/// A handle to cancel a job.
#[derive(Debug, Clone)]
pub struct JobHandle {
    pub id: JobId,
    cancel: Arc<AtomicBool>,
}

impl JobHandle {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// Starts jobs and bounds their concurrency. Must be used inside a tokio runtime.
pub struct JobRunner {
    events: mpsc::UnboundedSender<JobEvent>,
    slots: Arc<Semaphore>,
    next: AtomicU64,
}

impl JobRunner {
    /// A runner allowing `max_parallel` jobs at once (0 = number of cores), and the receiving
    /// end of its event channel.
    pub fn new(max_parallel: usize) -> (JobRunner, mpsc::UnboundedReceiver<JobEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let n = sweep::parallelism(max_parallel);
        (
            JobRunner {
                events,
                slots: Arc::new(Semaphore::new(n)),
                next: AtomicU64::new(1),
            },
            rx,
        )
    }

    /// Queues a training run.
    pub fn spawn_training(&self, ctx: Arc<TrainContext>, spec: RunSpec) -> JobHandle {
        self.spawn_job(ctx, spec, None, None)
    }

    /// Queues a training run with an optional pruning hook (a tuner's trial), sending a copy of
    /// each of its events to `copy` as well as to the runner's channel (the submitter of an
    /// adaptive sweep listens there, whoever reads the runner's channel).
    pub fn spawn_job(
        &self,
        ctx: Arc<TrainContext>,
        spec: RunSpec,
        pruning: Option<Arc<dyn Pruning>>,
        copy: Option<mpsc::UnboundedSender<JobEvent>>,
    ) -> JobHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        let handle = JobHandle {
            id,
            cancel: cancel.clone(),
        };
        let events = Events {
            main: self.events.clone(),
            copy,
        };
        let slots = self.slots.clone();
        events.send(JobEvent::Queued {
            job: id,
            label: spec.name.clone(),
        });
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                return;
            };
            if cancel.load(Ordering::SeqCst) {
                events.send(JobEvent::Cancelled { job: id });
                return;
            }
            events.send(JobEvent::Started { job: id });
            let reporter = Reporter {
                job: id,
                events: events.clone(),
                cancel,
                pruning,
            };
            let outcome =
                tokio::task::spawn_blocking(move || track::execute(&ctx, &spec, &reporter)).await;
            let event = match outcome {
                Ok(Ok(result)) => JobEvent::Finished {
                    job: id,
                    result: Box::new(result),
                },
                Ok(Err(Error::Cancelled)) => JobEvent::Cancelled { job: id },
                Ok(Err(Error::Pruned(p))) => JobEvent::Pruned {
                    job: id,
                    trees: p.trees,
                    roc_auc: p.roc_auc,
                    reason: p.reason,
                },
                Ok(Err(e)) => JobEvent::Failed {
                    job: id,
                    error: e.to_string(),
                },
                Err(join) => JobEvent::Failed {
                    job: id,
                    error: format!("the training thread panicked: {join}"),
                },
            };
            events.send(event);
        });
        handle
    }
}

/// Where a job's events go: the runner's channel, and a copy for its submitter if it asked.
#[derive(Clone)]
struct Events {
    main: mpsc::UnboundedSender<JobEvent>,
    copy: Option<mpsc::UnboundedSender<JobEvent>>,
}

impl Events {
    fn send(&self, event: JobEvent) {
        if let Some(copy) = &self.copy {
            let _ = copy.send(event.clone());
        }
        let _ = self.main.send(event);
    }
}

struct Reporter {
    job: JobId,
    events: Events,
    cancel: Arc<AtomicBool>,
    pruning: Option<Arc<dyn Pruning>>,
}

impl Progress for Reporter {
    fn report(&self, stage: &str, fraction: f64, message: &str) {
        self.events.send(JobEvent::Progress {
            job: self.job,
            stage: stage.to_string(),
            fraction,
            message: message.to_string(),
        });
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn pruning(&self) -> Option<&dyn Pruning> {
        self.pruning.as_deref()
    }
}
