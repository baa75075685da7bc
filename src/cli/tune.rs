//! `cerebro tune`: a hyper-parameter search (`cerebro::tune`) with its trials as nested runs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::output::{Table, f4, print_json};
use cerebro::jobs::JobEvent;
use cerebro::store::short_id;
use cerebro::train::ModelKind;
use cerebro::tune::space::Space;
use cerebro::tune::{Tune, TuneRequest, TuneResult};

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Model kind: tree, logistic, forest or gbt (default: [train] model in config).
    #[arg(long, short)]
    pub model: Option<String>,
    /// A searched parameter: NAME=int(LOW,HIGH[,log]), NAME=float(LOW,HIGH[,log]) or
    /// NAME=choice(A,B,...) (repeatable).
    #[arg(long, value_name = "NAME=DISTRIBUTION", required = true)]
    pub space: Vec<String>,
    /// random or tpe (Tree-structured Parzen Estimator, Optuna's defaults).
    #[arg(long, default_value = "tpe")]
    pub sampler: String,
    /// At most this many trials.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Start no trial after this long (500ms, 30s, 5m, 2h); running trials finish.
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<String>,
    /// Stop unpromising forest/gbt trials early on roc_auc_by_trees: none, median or halving.
    #[arg(long, default_value = "none")]
    pub pruner: String,
    /// Fix a hyper-parameter for every trial, e.g. --set n_estimators=300 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The test metric to optimise: roc_auc (default), accuracy, f1, precision, recall or
    /// log_loss (minimised).
    #[arg(long, default_value = "roc_auc")]
    pub metric: String,
    /// Trials at once (default: [train] max_parallel, 0 = number of cores).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// The sampler's seed (default: [train] seed); the same seed and parallelism propose the
    /// same trials.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Experiment to log to (default: [train] experiment in config).
    #[arg(long, short)]
    pub experiment: Option<String>,
    /// The parent run's name (default: tune KIND); trials are NAME #0, NAME #1...
    #[arg(long)]
    pub name: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Path, args: TuneArgs) -> Result<i32> {
    let mut ws = super::open(config)?;
    let kind: ModelKind = args
        .model
        .as_deref()
        .unwrap_or(&ws.config.config.train.model)
        .parse()?;
    let space = Space::parse(&args.space)
        .map_err(|(i, e)| anyhow::anyhow!("--space `{}`: {e}", args.space[i]))?;
    let mut sets = Vec::new();
    for s in &args.set {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set `{s}`: expected KEY=VALUE"))?;
        if k.trim().is_empty() {
            bail!("--set `{s}`: the key is empty");
        }
        sets.push((k.trim().to_string(), v.trim().to_string()));
    }
    let time_budget = args
        .time_budget
        .as_deref()
        .map(|t| {
            cerebro::workflow::config::parse_duration(t)
                .map_err(|e| anyhow::anyhow!("--time-budget: {e}"))
        })
        .transpose()?;
    let mut req = TuneRequest::new(kind, space, args.trials);
    req.sets = sets;
    req.sampler = args.sampler.parse()?;
    req.pruner = args.pruner.parse()?;
    req.time_budget = time_budget;
    req.max_parallel = args
        .max_parallel
        .unwrap_or(ws.config.config.train.max_parallel);
    req.seed = args.seed;
    req.experiment = args.experiment;
    req.name = args.name;
    req.metric = args.metric;
    let chatty = !args.json;
    let metric = req.metric.clone();
    let result = Tune::run(
        &mut ws,
        req,
        |trial, event| {
            if chatty {
                progress_line(trial, event, &metric);
            }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )?;
    if args.json {
        print_json(&result)?;
    } else {
        print_result(&result);
    }
    Ok(if result.interrupted || result.best.is_none() {
        1
    } else {
        0
    })
}

/// One stderr line per trial end.
fn progress_line(trial: usize, event: &JobEvent, metric: &str) {
    let line = match event {
        JobEvent::Finished { result, .. } => {
            let value = result
                .metrics
                .scalars()
                .into_iter()
                .find(|(k, _)| *k == metric)
                .map_or(f64::NAN, |(_, v)| v);
            format!(
                "COMPLETE run {} {metric} {}",
                short_id(&result.run_id),
                f4(value)
            )
        }
        JobEvent::Pruned { trees, reason, .. } => format!("PRUNED at {trees} trees: {reason}"),
        JobEvent::Failed { error, .. } => format!("FAIL: {error}"),
        JobEvent::Cancelled { .. } => "cancelled".to_string(),
        _ => return,
    };
    eprintln!("[trial {trial}] {line}");
}

fn print_result(r: &TuneResult) {
    let names: Vec<String> = r
        .trials
        .first()
        .map(|t| t.params.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec![
        "trial".to_string(),
        "run".into(),
        "state".into(),
        r.metric.clone(),
    ];
    header.extend(names.iter().cloned());
    let mut t = Table::new(header);
    for trial in &r.trials {
        let mut row = vec![
            trial.number.to_string(),
            trial.run_id.as_deref().map_or("-", short_id).to_string(),
            trial.state.to_string(),
            trial.value.map_or("-".into(), f4),
        ];
        row.extend(
            names
                .iter()
                .map(|n| trial.params.get(n).cloned().unwrap_or_default()),
        );
        t.row(row);
    }
    t.print();
    println!();
    match &r.best {
        Some(b) => println!(
            "best: trial {} run {} {} {} ({})",
            b.number,
            b.run_id.as_deref().map_or("-", short_id),
            r.metric,
            b.value.map_or("-".into(), f4),
            b.params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        None => println!("no trial completed"),
    }
    println!(
        "parent run {} ({} sampler, {} pruner, seed {}, {} at once): {} trials in {:.1}s, sampler {:.2} ms/trial{}",
        short_id(&r.parent_run),
        r.sampler,
        r.pruner,
        r.seed,
        r.parallel,
        r.trials.len(),
        r.seconds,
        r.sampler_ms_per_trial,
        if r.interrupted { ", interrupted" } else { "" }
    );
}
