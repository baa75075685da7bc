//! Tuning: a search over a space of hyper-parameters ([`space`]) proposed by a sampler
//! (`random`, or `tpe`: [`tpe`]), with a trial budget and a time budget, trials in parallel on
//! the job runner ([`crate::jobs::sweep`]'s adaptive sweep), unpromising trials of iterative
//! kinds stopped early ([`prune`]), every trial a tracked run nested under a parent run.
//!
//! Nesting is MLflow's: each trial's run carries `mlflow.parentRunId` (and
//! `cerebro.tune.trial`, its number); the parent run (model kind `tune`) records the space
//! (`space.<param>` params), the sampler, pruner, budgets, seed and parallelism as params, and
//! at the end the best trial (`cerebro.tune.best_run`, `best_<metric>` and its history by trial,
//! `best_<metric>_by_trial`), the trial counts and the sampler's time per trial.
//!
//! Reproducible: trial `i`'s params are drawn from a generator seeded by `(seed, i)`, and the
//! sampler and the pruner of trial `i` see exactly the trials `0..=i - p` (`p` = trials at
//! once; the ones between count as running, Optuna's constant liar), waiting for them to end if
//! needed. So the same seed and parallelism propose the same trials whatever the timing. A time
//! budget only decides how many of them start: none starts once it is spent; running trials
//! finish (Optuna's `timeout`).

pub mod prune;
pub mod sampler;
pub mod space;
pub mod tpe;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::config::Direction;
use crate::error::{Error, Result};
use crate::jobs::JobEvent;
use crate::jobs::sweep::{JobOutcome, Next, Proposal, Source, parallelism, run_adaptive};
use crate::store::{MetricPoint, NewRun, RunFilter, RunStatus, open_backend};
use crate::track::{Heartbeat, RunSpec, TrainContext, plan};
use crate::train::{ModelKind, ModelParams, Pruning};
use crate::workspace::Workspace;
use prune::PrunerKind;
use sampler::{SamplerKind, TrialRecord, TrialState};
use space::Space;

/// The tag naming a nested run's parent, as MLflow nests runs.
pub const PARENT_TAG: &str = "mlflow.parentRunId";
/// The tag holding a trial's number (0-based) on its run.
pub const TRIAL_TAG: &str = "cerebro.tune.trial";
/// The tag holding the best trial's run id on the parent run.
pub const BEST_RUN_TAG: &str = "cerebro.tune.best_run";
/// The model kind of a tune's parent run.
pub const PARENT_KIND: &str = "tune";

/// What to tune.
#[derive(Debug, Clone)]
pub struct TuneRequest {
    pub kind: ModelKind,
    /// Fixed overrides on top of `[models.<kind>]`.
    pub sets: Vec<(String, String)>,
    pub space: Space,
    pub sampler: SamplerKind,
    pub pruner: PrunerKind,
    /// At most this many trials.
    pub trials: usize,
    /// No trial starts once this much time has passed since the tune started.
    pub time_budget: Option<Duration>,
    /// Trials at once (0 = one per core).
    pub max_parallel: usize,
    /// The sampler's seed (default `[train] seed`); every trial's model uses `[train] seed`.
    pub seed: Option<u64>,
    /// Default `[train] experiment`.
    pub experiment: Option<String>,
    /// The parent run's name (trials append `#<number>`); default `tune <kind>`.
    pub name: Option<String>,
    /// The test metric to optimise (default `roc_auc`); `log_loss` is minimised, the others
    /// maximised.
    pub metric: String,
    /// Tags for the parent and every trial (a pipeline's).
    pub tags: BTreeMap<String, String>,
}

impl TuneRequest {
    /// A request with the defaults: `tpe`, no pruning, `roc_auc`, one trial per core at once.
    pub fn new(kind: ModelKind, space: Space, trials: usize) -> TuneRequest {
        TuneRequest {
            kind,
            sets: Vec::new(),
            space,
            sampler: SamplerKind::Tpe,
            pruner: PrunerKind::None,
            trials,
            time_budget: None,
            max_parallel: 0,
            seed: None,
            experiment: None,
            name: None,
            metric: "roc_auc".into(),
            tags: BTreeMap::new(),
        }
    }
}

/// Metrics a tune can optimise, with their direction.
pub const METRICS: [(&str, Direction); 6] = [
    ("roc_auc", Direction::Maximize),
    ("accuracy", Direction::Maximize),
    ("f1", Direction::Maximize),
    ("precision", Direction::Maximize),
    ("recall", Direction::Maximize),
    ("log_loss", Direction::Minimize),
];

/// One trial as reported.
#[derive(Debug, Clone, Serialize)]
pub struct TrialSummary {
    pub number: usize,
    pub run_id: Option<String>,
    /// `COMPLETE`, `PRUNED`, `FAIL` (Optuna's names).
    pub state: &'static str,
    /// The metric, for complete trials.
    pub value: Option<f64>,
    /// The sampled params.
    pub params: BTreeMap<String, String>,
}

/// What a tune did.
#[derive(Debug, Clone, Serialize)]
pub struct TuneResult {
    pub parent_run: String,
    pub experiment: String,
    pub model_kind: ModelKind,
    pub sampler: &'static str,
    pub pruner: &'static str,
    pub metric: String,
    pub direction: Direction,
    pub seed: u64,
    pub parallel: usize,
    pub data_version: String,
    /// In trial order.
    pub trials: Vec<TrialSummary>,
    pub best: Option<TrialSummary>,
    /// Wall time of the whole tune.
    pub seconds: f64,
    /// Time the sampler took to propose a trial, on average (its overhead, apart from training).
    pub sampler_ms_per_trial: f64,
    /// Whether it was interrupted (Ctrl-C, a cancelled trial); the parent run is then KILLED.
    pub interrupted: bool,
}

/// The fixed part of a tune, shared by its source and its trials' pruning hooks.
struct Plan {
    kind: ModelKind,
    base: Option<toml::Table>,
    sets: Vec<(String, String)>,
    space: Space,
    sampler: SamplerKind,
    pruner: PrunerKind,
    trials: usize,
    deadline: Option<Instant>,
    seed: u64,
    model_seed: u64,
    direction: Direction,
    metric: String,
    experiment: String,
    name: String,
    parent_run: String,
    tags: BTreeMap<String, String>,
    parallel: usize,
    /// Rungs of the pruner (tree counts), empty without one.
    rungs: Vec<usize>,
}

impl Plan {
    /// The run spec of trial `number` with sampled internal values `x`.
    fn spec(&self, number: usize, x: &[f64]) -> Result<RunSpec> {
        let mut overrides = self.sets.clone();
        overrides.extend(self.sampled(x));
        let params = ModelParams::resolve(self.kind, self.base.as_ref(), &overrides)?;
        let mut tags = self.tags.clone();
        tags.insert(PARENT_TAG.into(), self.parent_run.clone());
        tags.insert(TRIAL_TAG.into(), number.to_string());
        Ok(RunSpec {
            experiment: self.experiment.clone(),
            name: format!("{} #{number}", self.name),
            params,
            seed: self.model_seed,
            source: Some(format!("tune:{}", self.parent_run)),
            tags,
        })
    }

    /// The sampled params as `(name, value)` text.
    fn sampled(&self, x: &[f64]) -> Vec<(String, String)> {
        self.space
            .params
            .iter()
            .zip(x)
            .map(|(p, v)| (p.name.clone(), p.distribution.external(*v)))
            .collect()
    }
}

/// Proposes the params of the next trial from `history` (every earlier trial the sampler may
/// see; running ones included, which TPE counts as bad, Optuna's constant liar), drawing from
/// `rng`.
pub fn sample(
    kind: SamplerKind,
    space: &Space,
    history: &[TrialRecord],
    direction: Direction,
    rng: &mut StdRng,
) -> Vec<f64> {
    match kind {
        SamplerKind::Random => sampler::random(space, rng),
        SamplerKind::Tpe => {
            tpe::sample(&tpe::TpeSettings::default(), space, history, direction, rng)
        }
    }
}

/// A trial's seed for the sampler: `(seed, number)` mixed as the forest mixes tree seeds.
fn trial_seed(seed: u64, number: usize) -> u64 {
    seed ^ (number as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The trials so far (shared by the source and the trials' pruning hooks).
#[derive(Default)]
struct Study {
    trials: Vec<TrialRecord>,
    /// Trial number of each submitted job, by submission index.
    submitted: Vec<usize>,
    sampler_time: Duration,
    /// A trial was cancelled from outside (or the tune interrupted): no new trials.
    stopped: bool,
}

/// A prepared tune: its parent run is created (RUNNING), its data version prepared.
pub struct Tune {
    pub parent_run: String,
    pub context: Arc<TrainContext>,
    /// Trials at once.
    pub parallel: usize,
    plan: Arc<Plan>,
    study: Arc<Mutex<Study>>,
    started: Instant,
    heartbeat: Option<Heartbeat>,
}

impl Tune {
    /// Checks the request (the space against the kind's params: each bound and choice must be
    /// a valid value; pruning needs an iterative kind and `roc_auc`), prepares the data version
    /// and creates the parent run. Errors name the parameter and the value.
    pub fn prepare(ws: &mut Workspace, req: TuneRequest) -> Result<Tune> {
        let config = &ws.config.config;
        if req.trials == 0 {
            return Err(Error::invalid("a tune needs at least 1 trial"));
        }
        if req.space.is_empty() {
            return Err(Error::invalid(
                "the search space is empty: give at least one --space NAME=int(a,b)|float(a,b)|choice(x,y)",
            ));
        }
        let direction = METRICS
            .iter()
            .find(|(m, _)| *m == req.metric)
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                let names: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
                Error::invalid(format!(
                    "cannot tune on metric `{}` (one of {})",
                    req.metric,
                    names.join(", ")
                ))
            })?;
        let base = config.models.get(req.kind.as_str()).cloned();
        for p in &req.space.params {
            if req.sets.iter().any(|(k, _)| k == &p.name) {
                return Err(Error::invalid(format!(
                    "`{}` is both set and searched: drop one",
                    p.name
                )));
            }
            for v in p.distribution.extremes() {
                let mut overrides = req.sets.clone();
                overrides.push((p.name.clone(), v.clone()));
                ModelParams::resolve(req.kind, base.as_ref(), &overrides).map_err(|e| {
                    Error::invalid(format!(
                        "space `{}={}`: {} at `{v}`: {e}",
                        p.name, p.distribution, req.kind
                    ))
                })?;
            }
        }
        let steps_param = match req.kind {
            ModelKind::Forest => Some("n_trees"),
            ModelKind::Gbt => Some("n_estimators"),
            ModelKind::Tree | ModelKind::Logistic => None,
        };
        let rungs = if req.pruner == PrunerKind::None {
            Vec::new()
        } else {
            let Some(steps_param) = steps_param else {
                return Err(Error::invalid(format!(
                    "pruning needs an iterative kind (forest, gbt): {} reports no intermediate \
                     roc_auc",
                    req.kind
                )));
            };
            if req.metric != "roc_auc" {
                return Err(Error::invalid(
                    "pruning reads roc_auc_by_trees: tune on --metric roc_auc",
                ));
            }
            // The most trees a trial can have: the space's high bound, else the base value.
            let max_steps = match req.space.params.iter().find(|p| p.name == steps_param) {
                Some(p) => match &p.distribution {
                    space::Distribution::Int { high, .. } => *high as usize,
                    _ => 0,
                },
                None => {
                    let params = ModelParams::resolve(req.kind, base.as_ref(), &req.sets)?;
                    params
                        .to_map()
                        .get(steps_param)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                }
            };
            prune::rungs(max_steps)
        };
        let experiment = req
            .experiment
            .clone()
            .unwrap_or_else(|| config.train.experiment.clone());
        let seed = req.seed.unwrap_or(config.train.seed);
        let model_seed = config.train.seed;
        let name = req
            .name
            .clone()
            .unwrap_or_else(|| format!("tune {}", req.kind));
        let parallel = parallelism(req.max_parallel).min(req.trials).max(1);
        let context = Arc::new(plan::context(ws, parallel)?);

        let mut params: BTreeMap<String, String> = req
            .space
            .specs()
            .into_iter()
            .map(|(k, v)| (format!("space.{k}"), v))
            .collect();
        for (k, v) in &req.sets {
            params.insert(format!("set.{k}"), v.clone());
        }
        params.insert("model".into(), req.kind.to_string());
        params.insert("sampler".into(), req.sampler.to_string());
        params.insert("pruner".into(), req.pruner.to_string());
        params.insert("n_trials".into(), req.trials.to_string());
        params.insert(
            "time_budget_seconds".into(),
            req.time_budget
                .map_or("none".into(), |d| format!("{}", d.as_secs_f64())),
        );
        params.insert("max_parallel".into(), parallel.to_string());
        params.insert("seed".into(), seed.to_string());
        params.insert("metric".into(), req.metric.clone());
        params.insert(
            "direction".into(),
            match direction {
                Direction::Maximize => "maximize",
                Direction::Minimize => "minimize",
            }
            .into(),
        );
        let mut environment = context.environment.clone();
        environment.seed = seed;
        let parent_run = ws.store.create_run(&NewRun {
            experiment: experiment.clone(),
            name: name.clone(),
            model_kind: PARENT_KIND.into(),
            params,
            tags: req.tags.clone(),
            environment,
            data_version: Some(context.data.data_version.clone()),
            pid: std::process::id(),
            source: Some("tune".into()),
        })?;
        let heartbeat = Heartbeat::start(&context, &parent_run);
        let started = Instant::now();
        let plan = Plan {
            kind: req.kind,
            base,
            sets: req.sets,
            space: req.space,
            sampler: req.sampler,
            pruner: req.pruner,
            trials: req.trials,
            deadline: req.time_budget.map(|d| started + d),
            seed,
            model_seed,
            direction,
            metric: req.metric,
            experiment,
            name,
            parent_run: parent_run.clone(),
            tags: req.tags,
            parallel,
            rungs,
        };
        Ok(Tune {
            parent_run,
            context,
            parallel,
            plan: Arc::new(plan),
            study: Arc::new(Mutex::new(Study::default())),
            started,
            heartbeat: Some(heartbeat),
        })
    }

    /// The adaptive sweep's source of this tune's trials.
    pub fn source(&self) -> Tuner {
        Tuner {
            plan: self.plan.clone(),
            study: self.study.clone(),
        }
    }

    /// Prepares and runs a tune to its end on a private runtime (the CLI, a pipeline step):
    /// `observe(trial, event)` sees every event of each trial; `interrupt` stops it (running
    /// trials are cancelled, the parent run closes KILLED).
    pub fn run(
        ws: &mut Workspace,
        req: TuneRequest,
        observe: impl FnMut(usize, &JobEvent) + Send,
        interrupt: impl std::future::Future<Output = ()>,
    ) -> Result<TuneResult> {
        let tune = Tune::prepare(ws, req)?;
        let mut source = Observed {
            inner: tune.source(),
            observe,
        };
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = interrupted.clone();
        let outcomes = run_adaptive(tune.context.clone(), tune.parallel, &mut source, async {
            interrupt.await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(e) => {
                let _ = tune.finish(&[], true);
                return Err(e);
            }
        };
        tune.finish(
            &outcomes,
            interrupted.load(std::sync::atomic::Ordering::SeqCst),
        )
    }

    /// Records the outcome on the parent run (best trial, counts, history) and closes it:
    /// FINISHED, KILLED when `interrupted` or a trial was cancelled, FAILED when no trial
    /// completed.
    pub fn finish(mut self, outcomes: &[JobOutcome], interrupted: bool) -> Result<TuneResult> {
        if let Some(h) = self.heartbeat.take() {
            h.stop();
        }
        let _ = outcomes;
        let mut store = open_backend(&self.context.store_root, self.context.tracking.as_ref())?;
        let plan = &self.plan;
        let (trials, sampler_time, stopped) = {
            let st = self.study.lock().expect("not poisoned");
            (st.trials.clone(), st.sampler_time, st.stopped)
        };
        // The trials' run ids, from their tags.
        let children = store.list_runs(&RunFilter {
            filter: Some(format!(
                "tags.`{PARENT_TAG}` = '{}' and tags.`{TRIAL_TAG}` is not null",
                plan.parent_run
            )),
            ..RunFilter::default()
        })?;
        let mut run_of: BTreeMap<usize, String> = BTreeMap::new();
        for r in &children {
            if let Some(n) = r.tags.get(TRIAL_TAG).and_then(|t| t.parse().ok()) {
                run_of.insert(n, r.run_id.clone());
            }
        }
        let summaries: Vec<TrialSummary> = trials
            .iter()
            .map(|t| TrialSummary {
                number: t.number,
                run_id: run_of.get(&t.number).cloned(),
                state: match t.state {
                    // A trial still marked running here never reported its end (interrupted).
                    TrialState::Running => TrialState::Failed.as_str(),
                    s => s.as_str(),
                },
                value: t.value,
                params: plan.sampled(&t.params).into_iter().collect(),
            })
            .collect();
        let better = |a: f64, b: f64| match plan.direction {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        };
        let mut best: Option<&TrialSummary> = None;
        let mut history: Vec<MetricPoint> = Vec::new();
        let now = crate::clock::now_ms();
        let key = format!("best_{}", plan.metric);
        for t in &summaries {
            if let Some(v) = t.value
                && !v.is_nan()
                && best.is_none_or(|b| better(v, b.value.unwrap_or(f64::NAN)))
            {
                best = Some(t);
            }
            if let Some(b) = best.and_then(|b| b.value) {
                history.push(MetricPoint {
                    key: format!("{key}_by_trial"),
                    value: b,
                    step: t.number as i64,
                    timestamp: now,
                });
            }
        }
        let count = |s: &str| summaries.iter().filter(|t| t.state == s).count() as f64;
        let n = trials.len().max(1) as f64;
        let sampler_ms = sampler_time.as_secs_f64() * 1e3 / n;
        let seconds = self.started.elapsed().as_secs_f64();
        let mut points = history;
        for (k, v) in [
            ("trials_complete", count("COMPLETE")),
            ("trials_pruned", count("PRUNED")),
            ("trials_failed", count("FAIL")),
            ("sampler_ms_per_trial", sampler_ms),
            ("tune_seconds", seconds),
        ] {
            points.push(MetricPoint {
                key: k.into(),
                value: v,
                step: 0,
                timestamp: now,
            });
        }
        if let Some(v) = best.and_then(|b| b.value) {
            points.push(MetricPoint {
                key,
                value: v,
                step: 0,
                timestamp: now,
            });
        }
        store.log_metrics(&plan.parent_run, &points)?;
        if let Some(b) = best {
            let mut tags =
                BTreeMap::from([("cerebro.tune.best_trial".to_string(), b.number.to_string())]);
            if let Some(id) = &b.run_id {
                tags.insert(BEST_RUN_TAG.into(), id.clone());
            }
            tags.insert(
                "cerebro.tune.best_params".into(),
                serde_json::to_string(&b.params)?,
            );
            store.set_tags(&plan.parent_run, &tags)?;
        }
        let interrupted = interrupted || stopped;
        let (status, error) = if interrupted {
            (
                RunStatus::Killed,
                Some("the tune was interrupted".to_string()),
            )
        } else if best.is_none() {
            (
                RunStatus::Failed,
                Some(format!("none of {} trials completed", trials.len())),
            )
        } else {
            (RunStatus::Finished, None)
        };
        store.finish_run(&plan.parent_run, status, error.as_deref())?;
        let best = best.cloned();
        Ok(TuneResult {
            parent_run: plan.parent_run.clone(),
            experiment: plan.experiment.clone(),
            model_kind: plan.kind,
            sampler: plan.sampler.as_str(),
            pruner: plan.pruner.as_str(),
            metric: plan.metric.clone(),
            direction: plan.direction,
            seed: plan.seed,
            parallel: plan.parallel,
            data_version: self.context.data.data_version.clone(),
            trials: summaries,
            best,
            seconds,
            sampler_ms_per_trial: sampler_ms,
            interrupted,
        })
    }
}

impl Drop for Tune {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.stop();
        }
    }
}

/// A tune's trials as an adaptive sweep's [`Source`].
pub struct Tuner {
    plan: Arc<Plan>,
    study: Arc<Mutex<Study>>,
}

impl Source for Tuner {
    fn next(&mut self) -> Next {
        let plan = &self.plan;
        let mut st = self.study.lock().expect("not poisoned");
        loop {
            let i = st.trials.len();
            if st.stopped || i >= plan.trials || plan.deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Next::Done;
            }
            // Trial i sees trials 0..visible as they ended, the rest as running.
            let visible = (i + 1).saturating_sub(plan.parallel);
            if st.trials[..visible]
                .iter()
                .any(|t| t.state == TrialState::Running)
            {
                return Next::Wait;
            }
            let history: Vec<TrialRecord> = st
                .trials
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    if j < visible {
                        t.clone()
                    } else {
                        TrialRecord {
                            state: TrialState::Running,
                            value: None,
                            intermediate: BTreeMap::new(),
                            ..t.clone()
                        }
                    }
                })
                .collect();
            let t0 = Instant::now();
            let mut rng = StdRng::seed_from_u64(trial_seed(plan.seed, i));
            let x = sample(
                plan.sampler,
                &plan.space,
                &history,
                plan.direction,
                &mut rng,
            );
            st.sampler_time += t0.elapsed();
            let spec = plan.spec(i, &x);
            st.trials.push(TrialRecord {
                number: i,
                params: x,
                state: TrialState::Running,
                value: None,
                intermediate: BTreeMap::new(),
            });
            match spec {
                Ok(spec) => {
                    st.submitted.push(i);
                    let pruning: Option<Arc<dyn Pruning>> =
                        (plan.pruner != PrunerKind::None).then(|| {
                            Arc::new(TrialPruning {
                                plan: plan.clone(),
                                study: self.study.clone(),
                                number: i,
                                visible,
                            }) as Arc<dyn Pruning>
                        });
                    return Next::Submit(Proposal { spec, pruning });
                }
                Err(e) => {
                    // A combination the kind refuses is a failed trial; the next one is drawn.
                    tracing::warn!(trial = i, error = %e, "a sampled trial is not valid");
                    st.trials[i].state = TrialState::Failed;
                }
            }
        }
    }

    fn observe(&mut self, index: usize, event: &JobEvent) {
        let mut st = self.study.lock().expect("not poisoned");
        let Some(&number) = st.submitted.get(index) else {
            return;
        };
        let metric = self.plan.metric.clone();
        let t = &mut st.trials[number];
        match event {
            JobEvent::Finished { result, .. } => {
                t.state = TrialState::Complete;
                t.value = result
                    .metrics
                    .scalars()
                    .into_iter()
                    .find(|(k, _)| *k == metric)
                    .map(|(_, v)| v);
            }
            JobEvent::Pruned { .. } => t.state = TrialState::Pruned,
            JobEvent::Failed { .. } => t.state = TrialState::Failed,
            JobEvent::Cancelled { .. } => {
                t.state = TrialState::Failed;
                st.stopped = true;
            }
            _ => {}
        }
    }
}

/// A [`Tuner`] that also hands each event to a closure (by trial number).
struct Observed<F> {
    inner: Tuner,
    observe: F,
}

impl<F: FnMut(usize, &JobEvent) + Send> Source for Observed<F> {
    fn next(&mut self) -> Next {
        self.inner.next()
    }

    fn observe(&mut self, index: usize, event: &JobEvent) {
        self.inner.observe(index, event);
        let number = self
            .inner
            .study
            .lock()
            .expect("not poisoned")
            .submitted
            .get(index)
            .copied();
        if let Some(n) = number {
            (self.observe)(n, event);
        }
    }
}

/// The pruning hook of one trial: reports go into the study; decisions look at the trials
/// visible to it (see the module docs).
struct TrialPruning {
    plan: Arc<Plan>,
    study: Arc<Mutex<Study>>,
    number: usize,
    visible: usize,
}

impl Pruning for TrialPruning {
    fn rungs(&self, total: usize) -> Vec<usize> {
        self.plan
            .rungs
            .iter()
            .copied()
            .filter(|&r| r < total)
            .collect()
    }

    fn report(&self, trees: usize, roc_auc: f64) -> Option<String> {
        let mut st = self.study.lock().expect("not poisoned");
        let own = &mut st.trials[self.number].intermediate;
        own.insert(trees, roc_auc);
        let best = own
            .values()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| match self.plan.direction {
                Direction::Maximize => a.max(b),
                Direction::Minimize => a.min(b),
            })
            .unwrap_or(f64::NAN);
        prune::decide(
            self.plan.pruner,
            self.plan.direction,
            &st.trials[..self.visible],
            trees,
            roc_auc,
            best,
        )
    }
}
