//! Background training jobs.
//!
//! A job owns its inputs (a cloned [`RunSpec`] and a shared [`TrainContext`]), runs on tokio's
//! blocking pool (never on the async workers), and reports by id over one channel: started,
//! progress (stage, fraction, message), finished, failed, cancelled. A semaphore bounds how
//! many run at once (sweeps), and each job has a cancellation flag checked between units of
//! work. A job's failure is an event and a FAILED run in the store, never silent.
//!
//! [`sweep`] is how specs become jobs: parallelism (0 = cores), the shared context, the spawn.

pub mod sweep;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Semaphore, mpsc};

use crate::error::Error;
use crate::track::{self, RunResult, RunSpec, TrainContext};
use crate::train::Progress;

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
}

impl JobEvent {
    pub fn job(&self) -> JobId {
        match self {
            JobEvent::Queued { job, .. }
            | JobEvent::Started { job }
            | JobEvent::Progress { job, .. }
            | JobEvent::Finished { job, .. }
            | JobEvent::Failed { job, .. }
            | JobEvent::Cancelled { job } => *job,
        }
    }

    /// True for the last event a job sends.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobEvent::Finished { .. } | JobEvent::Failed { .. } | JobEvent::Cancelled { .. }
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
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        let handle = JobHandle {
            id,
            cancel: cancel.clone(),
        };
        let events = self.events.clone();
        let slots = self.slots.clone();
        let _ = events.send(JobEvent::Queued {
            job: id,
            label: spec.name.clone(),
        });
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                return;
            };
            if cancel.load(Ordering::SeqCst) {
                let _ = events.send(JobEvent::Cancelled { job: id });
                return;
            }
            let _ = events.send(JobEvent::Started { job: id });
            let reporter = Reporter {
                job: id,
                events: events.clone(),
                cancel,
            };
            let outcome =
                tokio::task::spawn_blocking(move || track::execute(&ctx, &spec, &reporter)).await;
            let event = match outcome {
                Ok(Ok(result)) => JobEvent::Finished {
                    job: id,
                    result: Box::new(result),
                },
                Ok(Err(Error::Cancelled)) => JobEvent::Cancelled { job: id },
                Ok(Err(e)) => JobEvent::Failed {
                    job: id,
                    error: e.to_string(),
                },
                Err(join) => JobEvent::Failed {
                    job: id,
                    error: format!("the training thread panicked: {join}"),
                },
            };
            let _ = events.send(event);
        });
        handle
    }
}

struct Reporter {
    job: JobId,
    events: mpsc::UnboundedSender<JobEvent>,
    cancel: Arc<AtomicBool>,
}

impl Progress for Reporter {
    fn report(&self, stage: &str, fraction: f64, message: &str) {
        let _ = self.events.send(JobEvent::Progress {
            job: self.job,
            stage: stage.to_string(),
            fraction,
            message: message.to_string(),
        });
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}
