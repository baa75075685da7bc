//! `[pipelines.NAME]` in `config.toml`: named DAGs of steps, their schedule and triggers.
//!
//! Validation ([`validate`]) runs with the rest of the config and reports the dotted key of the
//! problem (`pipelines.retrain.steps.2.after`) so the error names file, line and column, and the
//! message names the pipeline and the step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub description: String,
    /// Run on a clock: `every` (an interval) or `cron` (a 5-field pattern, UTC).
    #[serde(default)]
    pub schedule: Option<ScheduleConfig>,
    /// Run when something happens (a new file, a monitoring alert, a new Production version).
    #[serde(default)]
    pub triggers: Vec<TriggerConfig>,
    pub steps: Vec<StepConfig>,
}

/// `schedule = { every = "6h" }` or `schedule = { cron = "0 3 * * *" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    #[serde(default)]
    pub every: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    /// Whether the schedule starts enabled; `cerebro pipeline enable|disable` (or the TUI)
    /// stores an override.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// A trigger: `{ on = "file", dir = "data/incoming" }`, `{ on = "alert", kinds = [...] }`,
/// `{ on = "production", model = "characters" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerConfig {
    /// A new file (name ending in `suffix`, if given) appears in `dir` (relative to the config).
    File {
        dir: PathBuf,
        #[serde(default)]
        suffix: Option<String>,
    },
    /// A new OPEN row in `monitor_alerts` of one of `kinds` (any kind when empty), optionally
    /// for one endpoint.
    Alert {
        #[serde(default)]
        kinds: Vec<String>,
        #[serde(default)]
        endpoint: Option<String>,
    },
    /// A version of `model` (any model when absent) moved to Production.
    Production {
        #[serde(default)]
        model: Option<String>,
    },
}

impl TriggerConfig {
    /// A stable key for the trigger's cursor in the store.
    pub fn key(&self) -> String {
        match self {
            TriggerConfig::File { dir, suffix } => {
                format!("file:{}:{}", dir.display(), suffix.as_deref().unwrap_or(""))
            }
            TriggerConfig::Alert { kinds, endpoint } => format!(
                "alert:{}:{}",
                kinds.join(","),
                endpoint.as_deref().unwrap_or("")
            ),
            TriggerConfig::Production { model } => {
                format!("production:{}", model.as_deref().unwrap_or(""))
            }
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Prepare and snapshot the configured data (a data version).
    Prepare,
    /// Train one model or a sweep; outputs the run ids and the best run by the gate metric.
    Train,
    /// Evaluate the promotion gate for a registered version; fails when the gate would refuse.
    Evaluate,
    /// Register the best run of an upstream train step as the next model version.
    Register,
    /// Promote the registered version through the gate; a refusal fails the step.
    Promote,
    /// Make sure an endpoint serves the Production version (a running endpoint reloads it by
    /// itself; otherwise one is started).
    Deploy,
    /// Refresh monitoring (ingest the inference logs, evaluate alert rules).
    Monitor,
    /// Score a file of raw records with a model version (batch inference, as `cerebro
    /// predict`): `input`, `output`, `model_uri`.
    Predict,
    /// Run a program with arguments (no shell).
    Command,
}

impl StepKind {
    pub const NAMES: &[&str] = &[
        "prepare", "train", "evaluate", "register", "promote", "deploy", "monitor", "predict",
        "command",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Prepare => "prepare",
            StepKind::Train => "train",
            StepKind::Evaluate => "evaluate",
            StepKind::Register => "register",
            StepKind::Promote => "promote",
            StepKind::Deploy => "deploy",
            StepKind::Monitor => "monitor",
            StepKind::Predict => "predict",
            StepKind::Command => "command",
        }
    }
}

/// When a step runs, judged on the steps it comes `after`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunIf {
    /// Every upstream step succeeded (the default).
    #[default]
    AllSucceeded,
    /// At least one upstream step failed (clean-up, notification).
    AnyFailed,
    /// Whatever happened upstream.
    Always,
}

impl RunIf {
    pub fn as_str(self) -> &'static str {
        match self {
            RunIf::AllSucceeded => "all_succeeded",
            RunIf::AnyFailed => "any_failed",
            RunIf::Always => "always",
        }
    }
}

/// One step. Kind-specific keys are rejected on the other kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub name: String,
    pub kind: StepKind,
    /// Steps that must be done first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Extra attempts after a failure.
    #[serde(default)]
    pub retries: u32,
    /// Wait before the first retry ("500ms", "2s"); doubled before each further one.
    #[serde(default)]
    pub backoff: Option<String>,
    /// An attempt running longer than this is killed and counts as failed ("30s", "10m").
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub run_if: RunIf,

    /// train: model kind (default `[train] model`).
    #[serde(default)]
    pub model: Option<String>,
    /// train: hyper-parameter overrides.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// train: sweep axes; the grid of all combinations is trained.
    #[serde(default)]
    pub sweep: BTreeMap<String, Vec<toml::Value>>,
    /// train: experiment (default `[train] experiment`).
    #[serde(default)]
    pub experiment: Option<String>,
    /// train: jobs at once (default `[train] max_parallel`).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// train: a search space, `{ max_depth = "int(2,10)", learning_rate = "float(0.005,0.3,log)" }`
    /// (`crate::tune::space`): the step runs a tune (trials nested under a parent run) instead
    /// of one fit or a sweep.
    #[serde(default)]
    pub space: BTreeMap<String, String>,
    /// train with `space`: `tpe` (default) or `random`.
    #[serde(default)]
    pub sampler: Option<String>,
    /// train with `space`: at most this many trials (default 20).
    #[serde(default)]
    pub trials: Option<usize>,
    /// train with `space`: `none` (default), `median` or `halving`.
    #[serde(default)]
    pub pruner: Option<String>,
    /// train with `space`: no trial starts after this long ("10m").
    #[serde(default)]
    pub time_budget: Option<String>,
    /// train with `space`: the sampler's seed (default `[train] seed`).
    #[serde(default)]
    pub seed: Option<u64>,

    /// register, evaluate, promote, deploy: the registered model (default `[serving] model`,
    /// else the workspace name).
    #[serde(default)]
    pub registered_model: Option<String>,
    /// register: the train step whose best run is registered; evaluate, promote: the register
    /// step whose version is used. Default: the nearest upstream step of that kind.
    #[serde(default)]
    pub from: Option<String>,
    /// promote: `production` (default) or `staging`.
    #[serde(default)]
    pub stage: Option<String>,
    /// deploy: start an endpoint when none serves the model (default true).
    #[serde(default)]
    pub start: Option<bool>,

    /// predict: the file of raw records to score (CSV, Parquet or JSON lines), relative to
    /// the config.
    #[serde(default)]
    pub input: Option<PathBuf>,
    /// predict: where the predictions go (Parquet for `.parquet`, else CSV), relative to the
    /// config; `{run}` in it becomes the pipeline run's short id.
    #[serde(default)]
    pub output: Option<String>,
    /// predict: the model (`NAME@champion`, `NAME/3`, `models:/...`, `runs:/RUN_ID`; default
    /// `REGISTERED_MODEL@champion`).
    #[serde(default)]
    pub model_uri: Option<String>,
    /// predict: add the positive-class probability.
    #[serde(default)]
    pub probabilities: Option<bool>,
    /// predict: `fail` (default) or `skip` records whose value does not fit its column.
    #[serde(default)]
    pub on_error: Option<String>,

    /// command: the program (looked up on PATH) and its arguments; no shell is involved.
    #[serde(default)]
    pub program: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// command: working folder, relative to the config (default: the config's folder).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// command: extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl StepConfig {
    pub fn backoff(&self) -> Duration {
        self.backoff
            .as_deref()
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(Duration::from_secs(1))
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.as_deref().and_then(|s| parse_duration(s).ok())
    }

    /// `set` as KEY=VALUE strings.
    pub fn sets(&self) -> Vec<(String, String)> {
        self.set
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect()
    }

    /// `sweep` as axes of value strings.
    pub fn sweeps(&self) -> Vec<(String, Vec<String>)> {
        self.sweep
            .iter()
            .map(|(k, vs)| (k.clone(), vs.iter().map(value_text).collect()))
            .collect()
    }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses "250ms", "30s", "5m", "2h", "1d" (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 30s, 5m, 2h or 1d"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        _ => return Err(format!("`{text}`: unknown unit (use ms, s, m, h or d)")),
    };
    Ok(Duration::from_millis(ms))
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    pub fn parse(cfg: &ScheduleConfig) -> Result<Schedule, String> {
        match (&cfg.every, &cfg.cron) {
            (Some(e), None) => {
                let d = parse_duration(e)?;
                if d < Duration::from_secs(1) {
                    return Err(format!("every = `{e}`: the shortest interval is 1s"));
                }
                Ok(Schedule::Every(d))
            }
            (None, Some(c)) => c
                .parse::<croner::Cron>()
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| format!("cron = `{c}`: {e}")),
            _ => Err("a schedule needs exactly one of `every` or `cron`".into()),
        }
    }

    /// The first slot (unix ms) strictly after `after_ms`. Interval slots are multiples of the
    /// interval since the epoch, so every process computes the same slots.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(d) => {
                let step = d.as_millis().max(1) as i64;
                Some((after_ms.div_euclid(step) + 1) * step)
            }
            Schedule::Cron(c) => {
                let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after_ms)?;
                c.find_next_occurrence(&t, false)
                    .ok()
                    .map(|n| n.timestamp_millis())
            }
        }
    }

    /// The latest slot at or before `now_ms`.
    pub fn latest_at_or_before(&self, now_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(d) => {
                let step = d.as_millis().max(1) as i64;
                Some(now_ms.div_euclid(step) * step)
            }
            Schedule::Cron(c) => {
                let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)?;
                c.find_previous_occurrence(&t, true)
                    .ok()
                    .map(|n| n.timestamp_millis())
            }
        }
    }
}

/// A validation problem: the dotted key it is about, the message and an optional hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub at: String,
    pub message: String,
    pub hint: Option<String>,
}

fn problem(at: String, message: String, hint: Option<String>) -> Problem {
    Problem { at, message, hint }
}

const ALERT_KINDS: &[&str] = &[
    "feature_drift",
    "dataset_drift",
    "prediction_drift",
    "quality_drop",
    "error_rate",
    "latency",
    "endpoint_down",
];

/// Checks every pipeline: names, step references, cycles, kind-specific keys, durations,
/// schedules and triggers.
pub fn validate(pipelines: &BTreeMap<String, PipelineConfig>) -> Result<(), Problem> {
    for (name, p) in pipelines {
        validate_one(name, p)?;
    }
    Ok(())
}

fn validate_one(name: &str, p: &PipelineConfig) -> Result<(), Problem> {
    let base = format!("pipelines.{name}");
    // Pipeline names follow the model-name rule (they name folders and appear in URIs).
    if let Err(e) = crate::names::ModelName::parse_as("pipeline name", name) {
        return Err(problem(base, e.to_string(), None));
    }
    if p.steps.is_empty() {
        return Err(problem(
            base,
            format!("pipeline `{name}` has no steps"),
            None,
        ));
    }
    let mut names = BTreeSet::new();
    for (i, s) in p.steps.iter().enumerate() {
        let at = format!("{base}.steps.{i}");
        if s.name.trim().is_empty() {
            return Err(problem(
                at,
                format!("pipeline `{name}`: step {} has an empty name", i + 1),
                None,
            ));
        }
        if !names.insert(s.name.as_str()) {
            return Err(problem(
                format!("{at}.name"),
                format!("pipeline `{name}`: step `{}` is defined twice", s.name),
                None,
            ));
        }
    }
    let all: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    for (i, s) in p.steps.iter().enumerate() {
        let at = format!("{base}.steps.{i}");
        let who = format!("pipeline `{name}`: step `{}`", s.name);
        for dep in &s.after {
            if !names.contains(dep.as_str()) {
                return Err(problem(
                    format!("{at}.after"),
                    format!("{who} comes after unknown step `{dep}`"),
                    crate::error::closest(dep, &all).map(|c| format!("did you mean `{c}`?")),
                ));
            }
            if dep == &s.name {
                return Err(problem(
                    format!("{at}.after"),
                    format!("{who} comes after itself (a cycle: `{dep}` -> `{dep}`)"),
                    None,
                ));
            }
        }
        for (key, text) in [("backoff", &s.backoff), ("timeout", &s.timeout)] {
            if let Some(t) = text {
                let d = parse_duration(t)
                    .map_err(|m| problem(format!("{at}.{key}"), format!("{who}: {m}"), None))?;
                if key == "timeout" && d.is_zero() {
                    return Err(problem(
                        format!("{at}.{key}"),
                        format!("{who}: the timeout must be more than 0"),
                        None,
                    ));
                }
            }
        }
        check_kind_keys(s, &at, &who)?;
        if let Some(from) = &s.from {
            let want = match s.kind {
                StepKind::Register => StepKind::Train,
                _ => StepKind::Register,
            };
            match p.steps.iter().find(|o| &o.name == from) {
                None => {
                    return Err(problem(
                        format!("{at}.from"),
                        format!("{who} takes its input from unknown step `{from}`"),
                        crate::error::closest(from, &all).map(|c| format!("did you mean `{c}`?")),
                    ));
                }
                Some(o) if o.kind != want => {
                    return Err(problem(
                        format!("{at}.from"),
                        format!(
                            "{who} takes its input from `{from}`, a {} step, but needs a {} step",
                            o.kind.as_str(),
                            want.as_str()
                        ),
                        None,
                    ));
                }
                Some(_) => {}
            }
            if !ancestors(p, &s.name).contains(from.as_str()) {
                return Err(problem(
                    format!("{at}.from"),
                    format!("{who} takes its input from `{from}`, which it does not come after"),
                    Some(format!("add `{from}` (or a step after it) to `after`")),
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(p) {
        let i = p.steps.iter().position(|s| s.name == cycle[0]).unwrap_or(0);
        let path: Vec<String> = cycle.iter().map(|s| format!("`{s}`")).collect();
        return Err(problem(
            format!("{base}.steps.{i}.after"),
            format!(
                "pipeline `{name}`: steps {} -> `{}` form a cycle",
                path.join(" -> "),
                cycle[0]
            ),
            Some("a step cannot (even indirectly) come after itself".into()),
        ));
    }
    // Inputs that must exist upstream once the DAG is known to be acyclic.
    for (i, s) in p.steps.iter().enumerate() {
        let need = match s.kind {
            StepKind::Register => Some(StepKind::Train),
            StepKind::Evaluate | StepKind::Promote => Some(StepKind::Register),
            _ => None,
        };
        if let Some(kind) = need
            && s.from.is_none()
            && nearest_upstream(p, &s.name, kind).is_none()
        {
            return Err(problem(
                format!("{base}.steps.{i}"),
                format!(
                    "pipeline `{name}`: step `{}` ({}) needs a {} step before it",
                    s.name,
                    s.kind.as_str(),
                    kind.as_str()
                ),
                Some("list it in `after`".into()),
            ));
        }
    }
    if let Some(sc) = &p.schedule {
        Schedule::parse(sc).map_err(|m| {
            problem(
                format!("{base}.schedule"),
                format!("pipeline `{name}`: {m}"),
                None,
            )
        })?;
    }
    for (i, t) in p.triggers.iter().enumerate() {
        if let TriggerConfig::Alert { kinds, .. } = t {
            for k in kinds {
                if !ALERT_KINDS.contains(&k.as_str()) {
                    return Err(problem(
                        format!("{base}.triggers.{i}.kinds"),
                        format!("pipeline `{name}`: unknown alert kind `{k}`"),
                        Some(format!("one of {}", ALERT_KINDS.join(", "))),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A train step's search keys: a space that parses (the column of a bad distribution named),
/// no sweep beside it, the tune-only keys only with a space, at least one trial, a duration.
/// Sampler and pruner names are checked when the step runs (`tune::sampler` and `tune::prune`
/// read `config`, which reads this file: importing them here would make a cycle).
fn check_tune_keys(s: &StepConfig, at: &str, who: &str) -> Result<(), Problem> {
    if s.space.is_empty() {
        for (key, set) in [
            ("sampler", s.sampler.is_some()),
            ("trials", s.trials.is_some()),
            ("pruner", s.pruner.is_some()),
            ("time_budget", s.time_budget.is_some()),
            ("seed", s.seed.is_some()),
        ] {
            if set {
                return Err(problem(
                    format!("{at}.{key}"),
                    format!("{who}: `{key}` applies to a search: give a `space` too"),
                    Some("space = { max_depth = \"int(2,10)\" }".into()),
                ));
            }
        }
        return Ok(());
    }
    if !s.sweep.is_empty() {
        return Err(problem(
            format!("{at}.sweep"),
            format!("{who}: a step either sweeps a grid or searches a space, not both"),
            None,
        ));
    }
    for (name, text) in &s.space {
        crate::tune::space::Space::parse_distribution(text).map_err(|e| {
            problem(
                format!("{at}.space.{name}"),
                format!("{who}: `{text}`: {e}"),
                Some("int(2,10), float(0.005,0.3,log) or choice(gini,entropy)".into()),
            )
        })?;
    }
    if s.trials == Some(0) {
        return Err(problem(
            format!("{at}.trials"),
            format!("{who}: a search needs at least 1 trial"),
            None,
        ));
    }
    if let Some(t) = &s.time_budget {
        parse_duration(t)
            .map_err(|m| problem(format!("{at}.time_budget"), format!("{who}: {m}"), None))?;
    }
    Ok(())
}

fn check_kind_keys(s: &StepConfig, at: &str, who: &str) -> Result<(), Problem> {
    let k = s.kind;
    let present: [(&str, bool, &[StepKind]); 24] = [
        ("model", s.model.is_some(), &[StepKind::Train]),
        ("space", !s.space.is_empty(), &[StepKind::Train]),
        ("sampler", s.sampler.is_some(), &[StepKind::Train]),
        ("trials", s.trials.is_some(), &[StepKind::Train]),
        ("pruner", s.pruner.is_some(), &[StepKind::Train]),
        ("time_budget", s.time_budget.is_some(), &[StepKind::Train]),
        ("seed", s.seed.is_some(), &[StepKind::Train]),
        ("set", !s.set.is_empty(), &[StepKind::Train]),
        ("sweep", !s.sweep.is_empty(), &[StepKind::Train]),
        ("experiment", s.experiment.is_some(), &[StepKind::Train]),
        ("max_parallel", s.max_parallel.is_some(), &[StepKind::Train]),
        (
            "registered_model",
            s.registered_model.is_some(),
            &[
                StepKind::Register,
                StepKind::Evaluate,
                StepKind::Promote,
                StepKind::Deploy,
                StepKind::Predict,
            ],
        ),
        (
            "from",
            s.from.is_some(),
            &[StepKind::Register, StepKind::Evaluate, StepKind::Promote],
        ),
        ("stage", s.stage.is_some(), &[StepKind::Promote]),
        ("start", s.start.is_some(), &[StepKind::Deploy]),
        ("input", s.input.is_some(), &[StepKind::Predict]),
        ("output", s.output.is_some(), &[StepKind::Predict]),
        ("model_uri", s.model_uri.is_some(), &[StepKind::Predict]),
        (
            "probabilities",
            s.probabilities.is_some(),
            &[StepKind::Predict],
        ),
        ("on_error", s.on_error.is_some(), &[StepKind::Predict]),
        ("program", s.program.is_some(), &[StepKind::Command]),
        ("args", !s.args.is_empty(), &[StepKind::Command]),
        ("dir", s.dir.is_some(), &[StepKind::Command]),
        ("env", !s.env.is_empty(), &[StepKind::Command]),
    ];
    for (key, set, kinds) in present {
        if set && !kinds.contains(&k) {
            return Err(problem(
                format!("{at}.{key}"),
                format!("{who}: `{key}` does not apply to a {} step", k.as_str()),
                None,
            ));
        }
    }
    check_tune_keys(s, at, who)?;
    if k == StepKind::Command && s.program.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(problem(
            at.to_string(),
            format!("{who}: a command step needs `program`"),
            Some("program = \"python3\", args = [\"train.py\"]".into()),
        ));
    }
    if k == StepKind::Predict {
        for (key, missing) in [
            ("input", s.input.is_none()),
            (
                "output",
                s.output.as_deref().is_none_or(|o| o.trim().is_empty()),
            ),
        ] {
            if missing {
                return Err(problem(
                    at.to_string(),
                    format!("{who}: a predict step needs `{key}`"),
                    Some(
                        "input = \"data/incoming.csv\", output = \"predictions/{run}.parquet\""
                            .into(),
                    ),
                ));
            }
        }
    }
    if let Some(e) = &s.on_error
        && !matches!(e.as_str(), "fail" | "skip")
    {
        return Err(problem(
            format!("{at}.on_error"),
            format!("{who}: on_error `{e}`: write `fail` or `skip`"),
            None,
        ));
    }
    if let Some(m) = &s.model
        && !crate::train::ModelKind::NAMES.contains(&m.as_str())
    {
        return Err(problem(
            format!("{at}.model"),
            format!("{who}: unknown model kind `{m}`"),
            Some(format!(
                "one of {}",
                crate::train::ModelKind::NAMES.join(", ")
            )),
        ));
    }
    if let Some(st) = &s.stage
        && !matches!(st.to_ascii_lowercase().as_str(), "production" | "staging")
    {
        return Err(problem(
            format!("{at}.stage"),
            format!("{who}: stage `{st}`: promote to `production` or `staging`"),
            None,
        ));
    }
    if let Some(m) = &s.registered_model
        && let Err(e) = m.parse::<crate::names::ModelName>()
    {
        return Err(problem(
            format!("{at}.registered_model"),
            format!("{who}: {e}"),
            None,
        ));
    }
    Ok(())
}

/// A cycle as step names (first one not repeated), if the DAG has one.
pub fn find_cycle(p: &PipelineConfig) -> Option<Vec<String>> {
    let index: BTreeMap<&str, usize> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; p.steps.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        p: &PipelineConfig,
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        stack.push(i);
        for dep in &p.steps[i].after {
            let Some(&j) = index.get(dep.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let from = stack.iter().position(|&x| x == j).unwrap_or(0);
                // The stack runs from dependant to dependency; print in execution order.
                let mut cycle: Vec<String> = stack[from..]
                    .iter()
                    .map(|&x| p.steps[x].name.clone())
                    .collect();
                cycle.reverse();
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, p, index, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    for i in 0..p.steps.len() {
        if state[i] == 0
            && let Some(c) = visit(i, p, &index, &mut state, &mut stack)
        {
            return Some(c);
        }
    }
    None
}

/// Step indices in an order where every step comes after its dependencies (declaration order
/// among independent steps). Assumes a validated, acyclic pipeline.
pub fn topo_order(p: &PipelineConfig) -> Vec<usize> {
    let mut done = vec![false; p.steps.len()];
    let mut order = Vec::with_capacity(p.steps.len());
    while order.len() < p.steps.len() {
        let before = order.len();
        for (i, s) in p.steps.iter().enumerate() {
            if done[i] {
                continue;
            }
            let ready = s.after.iter().all(|d| {
                p.steps
                    .iter()
                    .position(|o| &o.name == d)
                    .is_none_or(|j| done[j])
            });
            if ready {
                done[i] = true;
                order.push(i);
                break;
            }
        }
        if order.len() == before {
            break; // a cycle; validation rejects these
        }
    }
    order
}

/// Every step `step` comes after, directly or not.
pub fn ancestors<'a>(p: &'a PipelineConfig, step: &str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = p
        .steps
        .iter()
        .find(|s| s.name == step)
        .map(|s| s.after.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(n) = todo.pop() {
        let Some(s) = p.steps.iter().find(|s| s.name == n) else {
            continue;
        };
        if seen.insert(s.name.as_str()) {
            todo.extend(s.after.iter().map(String::as_str));
        }
    }
    seen
}

/// The closest step of `kind` upstream of `step` (breadth first over `after`).
pub fn nearest_upstream<'a>(p: &'a PipelineConfig, step: &str, kind: StepKind) -> Option<&'a str> {
    let mut seen = BTreeSet::new();
    let mut frontier: Vec<&str> = vec![step];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for n in frontier {
            let Some(s) = p.steps.iter().find(|s| s.name == n) else {
                continue;
            };
            for d in &s.after {
                if !seen.insert(d.as_str()) {
                    continue;
                }
                if let Some(o) = p.steps.iter().find(|o| &o.name == d) {
                    if o.kind == kind {
                        return Some(o.name.as_str());
                    }
                    next.push(o.name.as_str());
                }
            }
        }
        frontier = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> BTreeMap<String, PipelineConfig> {
        #[derive(Deserialize)]
        struct Doc {
            pipelines: BTreeMap<String, PipelineConfig>,
        }
        toml::from_str::<Doc>(src).unwrap().pipelines
    }

    #[test]
    fn a_cycle_is_rejected_naming_its_steps() {
        let p = parse(
            r#"
[[pipelines.p.steps]]
name = "a"
kind = "prepare"
after = ["c"]
[[pipelines.p.steps]]
name = "b"
kind = "train"
after = ["a"]
[[pipelines.p.steps]]
name = "c"
kind = "command"
program = "true"
after = ["b"]
"#,
        );
        let e = validate(&p).unwrap_err();
        assert!(e.message.contains("form a cycle"), "{e:?}");
        for s in ["`a`", "`b`", "`c`"] {
            assert!(e.message.contains(s), "{e:?}");
        }
    }

    #[test]
    fn unknown_steps_and_misplaced_keys_are_named() {
        let p = parse(
            r#"
[[pipelines.p.steps]]
name = "train"
kind = "train"
[[pipelines.p.steps]]
name = "reg"
kind = "register"
after = ["trian"]
"#,
        );
        let e = validate(&p).unwrap_err();
        assert_eq!(e.at, "pipelines.p.steps.1.after");
        assert!(e.message.contains("`reg`") && e.message.contains("`trian`"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `train`?"));

        let p =
            parse("[[pipelines.p.steps]]\nname = \"x\"\nkind = \"prepare\"\nprogram = \"ls\"\n");
        let e = validate(&p).unwrap_err();
        assert_eq!(e.at, "pipelines.p.steps.0.program");
    }

    #[test]
    fn topological_order_and_upstream_lookup() {
        let p = parse(
            r#"
[[pipelines.p.steps]]
name = "promote"
kind = "promote"
after = ["register"]
[[pipelines.p.steps]]
name = "train"
kind = "train"
after = ["prepare"]
[[pipelines.p.steps]]
name = "register"
kind = "register"
after = ["train"]
[[pipelines.p.steps]]
name = "prepare"
kind = "prepare"
"#,
        );
        validate(&p).unwrap();
        let pp = &p["p"];
        let names: Vec<&str> = topo_order(pp)
            .into_iter()
            .map(|i| pp.steps[i].name.as_str())
            .collect();
        assert_eq!(names, ["prepare", "train", "register", "promote"]);
        assert_eq!(
            nearest_upstream(pp, "promote", StepKind::Train),
            Some("train")
        );
        assert_eq!(nearest_upstream(pp, "prepare", StepKind::Train), None);
    }

    #[test]
    fn schedules_give_the_same_slots_everywhere() {
        let every = Schedule::parse(&ScheduleConfig {
            every: Some("10s".into()),
            cron: None,
            enabled: true,
        })
        .unwrap();
        assert_eq!(every.next_after(12_345), Some(20_000));
        assert_eq!(every.next_after(20_000), Some(30_000));
        assert_eq!(every.latest_at_or_before(29_999), Some(20_000));
        let cron = Schedule::parse(&ScheduleConfig {
            every: None,
            cron: Some("30 3 * * *".into()),
            enabled: true,
        })
        .unwrap();
        // 1970-01-01 03:30 UTC
        assert_eq!(cron.next_after(0), Some((3 * 60 + 30) * 60_000));
        assert!(
            Schedule::parse(&ScheduleConfig {
                every: Some("1s".into()),
                cron: Some("* * * * *".into()),
                enabled: true
            })
            .is_err()
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 weeks").is_err());
    }
}
