//! `cerebro train` and the headless `cerebro demo`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::output::{Table, f4, print_json, stderr_is_terminal};
use cerebro::jobs::JobEvent;
use cerebro::jobs::sweep::{JobOutcome, Sweep};
use cerebro::store::short_id;
use cerebro::track::plan::{self, TrainRequest};
use cerebro::track::{RunResult, RunSpec};
use cerebro::train::ModelKind;
use cerebro::workspace::Workspace;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model kind: tree, logistic, forest or gbt (default: [train] model in config).
    #[arg(long, short)]
    pub model: Option<String>,
    /// Override a hyper-parameter, e.g. --set max_depth=6 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Sweep a hyper-parameter over values, e.g. --sweep max_depth=4,6,8 (repeatable; the
    /// grid of all combinations is trained).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub sweep: Vec<String>,
    /// Experiment to log to (default: [train] experiment in config).
    #[arg(long, short)]
    pub experiment: Option<String>,
    /// Run name (sweeps append the swept values).
    #[arg(long)]
    pub name: Option<String>,
    /// Seed for model randomness (default: [train] seed in config).
    #[arg(long)]
    pub seed: Option<u64>,
    /// At most this many jobs at once (default: [train] max_parallel, 0 = number of cores).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

fn key_value(s: &str, flag: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("{flag} `{s}`: expected KEY=VALUE"))?;
    if k.trim().is_empty() {
        bail!("{flag} `{s}`: the key is empty");
    }
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// One job's outcome as printed. `run` and `error` are both always written (`null` when absent),
/// as the README documents the shape.
#[derive(Debug, Serialize)]
struct Outcome {
    name: String,
    status: &'static str,
    run: Option<RunResult>,
    error: Option<String>,
}

pub fn run(config: &Path, args: TrainArgs) -> Result<i32> {
    let mut ws = super::open(config)?;
    let kind: ModelKind = args
        .model
        .as_deref()
        .unwrap_or(&ws.config.config.train.model)
        .parse()?;
    let sets: Vec<(String, String)> = args
        .set
        .iter()
        .map(|s| key_value(s, "--set"))
        .collect::<Result<_>>()?;
    let axes: Vec<(String, Vec<String>)> = args
        .sweep
        .iter()
        .map(|s| {
            let (k, v) = key_value(s, "--sweep")?;
            let values: Vec<String> = v
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect();
            if values.is_empty() {
                bail!("--sweep `{s}`: no values");
            }
            Ok((k, values))
        })
        .collect::<Result<_>>()?;
    let specs = plan::specs(
        &ws.config,
        &TrainRequest {
            kind,
            sets,
            sweeps: axes,
            name: args.name.clone(),
            experiment: args.experiment.clone(),
            seed: args.seed,
        },
    )?;
    let max_parallel = args
        .max_parallel
        .unwrap_or(ws.config.config.train.max_parallel);
    let outcomes = train_specs(&mut ws, specs, max_parallel, !args.json)?;
    let failed = outcomes.iter().filter(|o| o.run.is_none()).count();
    if args.json {
        print_json(&outcomes)?;
    } else {
        print_outcomes(&outcomes);
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Prepares the data version and trains `specs` as background jobs, showing progress; Ctrl-C
/// cancels every job (their runs are closed as KILLED).
fn train_specs(
    ws: &mut Workspace,
    specs: Vec<RunSpec>,
    max_parallel: usize,
    chatty: bool,
) -> Result<Vec<Outcome>> {
    let sweep = Sweep::prepare(ws, specs, max_parallel)?;
    if chatty {
        eprintln!(
            "data version {} ({} train / {} test rows)",
            short_id(&sweep.context.data.data_version),
            sweep.context.data.train.rows,
            sweep.context.data.test.rows
        );
    }
    let names: Vec<String> = sweep.specs.iter().map(|s| s.name.clone()).collect();
    let display = Display::new(&names, chatty);
    let outcomes = sweep.run(|i, event| display.update(i, event), async {
        let _ = tokio::signal::ctrl_c().await;
    })?;
    display.finish();
    Ok(names
        .into_iter()
        .zip(outcomes)
        .map(|(name, outcome)| match outcome {
            JobOutcome::Finished(result) => Outcome {
                name,
                status: "FINISHED",
                run: Some(*result),
                error: None,
            },
            JobOutcome::Failed(error) => Outcome {
                name,
                status: "FAILED",
                run: None,
                error: Some(error),
            },
            JobOutcome::Cancelled => Outcome {
                name,
                status: "KILLED",
                run: None,
                error: Some("cancelled".into()),
            },
            JobOutcome::Pruned { trees, .. } => Outcome {
                name,
                status: "KILLED",
                run: None,
                error: Some(format!("pruned at {trees} trees")),
            },
        })
        .collect())
}

/// Progress bars on a terminal, one plain line per stage change otherwise.
enum Display {
    Quiet,
    Bars(MultiProgress, Vec<ProgressBar>),
    Lines(Vec<String>, std::sync::Mutex<Vec<String>>),
}

impl Display {
    fn new(names: &[String], chatty: bool) -> Display {
        if !chatty {
            Display::Quiet
        } else if stderr_is_terminal() {
            let multi = MultiProgress::new();
            let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {percent:>3}% {msg}")
                .expect("valid template")
                .progress_chars("=> ");
            let bars = names
                .iter()
                .map(|n| {
                    let b = multi.add(ProgressBar::new(1000));
                    b.set_style(style.clone());
                    b.set_prefix(n.clone());
                    b.set_message("queued");
                    b
                })
                .collect();
            Display::Bars(multi, bars)
        } else {
            Display::Lines(
                names.to_vec(),
                std::sync::Mutex::new(vec![String::new(); names.len()]),
            )
        }
    }

    fn update(&self, i: usize, event: &JobEvent) {
        match self {
            Display::Quiet => {}
            Display::Bars(_, bars) => {
                let b = &bars[i];
                match event {
                    JobEvent::Started { .. } => b.set_message("started"),
                    JobEvent::Progress {
                        fraction, message, ..
                    } => {
                        b.set_position((fraction * 1000.0) as u64);
                        b.set_message(message.clone());
                    }
                    JobEvent::Finished { result, .. } => b.finish_with_message(format!(
                        "run {} roc_auc {}",
                        short_id(&result.run_id),
                        f4(result.metrics.roc_auc)
                    )),
                    JobEvent::Failed { error, .. } => {
                        b.abandon_with_message(format!("FAILED: {error}"))
                    }
                    JobEvent::Cancelled { .. } => b.abandon_with_message("cancelled"),
                    JobEvent::Pruned { trees, .. } => {
                        b.abandon_with_message(format!("pruned at {trees} trees"))
                    }
                    JobEvent::Queued { .. } => {}
                }
            }
            Display::Lines(names, last) => {
                let line = match event {
                    JobEvent::Started { .. } => Some("started".to_string()),
                    JobEvent::Progress { stage, .. } => {
                        let mut last = last.lock().expect("not poisoned");
                        if last[i] == *stage {
                            None
                        } else {
                            last[i] = stage.clone();
                            Some(stage.clone())
                        }
                    }
                    JobEvent::Finished { result, .. } => Some(format!(
                        "finished run {} roc_auc {}",
                        short_id(&result.run_id),
                        f4(result.metrics.roc_auc)
                    )),
                    JobEvent::Failed { error, .. } => Some(format!("FAILED: {error}")),
                    JobEvent::Cancelled { .. } => Some("cancelled".into()),
                    JobEvent::Pruned { trees, .. } => Some(format!("pruned at {trees} trees")),
                    JobEvent::Queued { .. } => None,
                };
                if let Some(l) = line {
                    eprintln!("[{}] {l}", names[i]);
                }
            }
        }
    }

    fn finish(&self) {
        if let Display::Bars(multi, _) = self {
            let _ = multi.clear();
        }
    }
}

fn print_outcomes(outcomes: &[Outcome]) {
    let mut t = Table::new([
        "run", "name", "status", "roc_auc", "f1", "accuracy", "log_loss", "fit",
    ]);
    for o in outcomes {
        match &o.run {
            Some(r) => t.row([
                short_id(&r.run_id).to_string(),
                o.name.clone(),
                o.status.to_string(),
                f4(r.metrics.roc_auc),
                f4(r.metrics.f1),
                f4(r.metrics.accuracy),
                f4(r.metrics.log_loss),
                format!("{:.3}s", r.fit_seconds),
            ]),
            None => t.row([
                "-".to_string(),
                o.name.clone(),
                o.status.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        }
    }
    t.print();
    for o in outcomes {
        if let Some(e) = &o.error {
            eprintln!("{}: {e}", o.name);
        }
    }
}

/// The headless demo: prepare, train every kind with its defaults, print the comparison.
pub fn demo(config: &Path, json: bool) -> Result<i32> {
    if !config.exists() {
        bail!(
            "{} not found: run cerebro from a workspace (the repository root holds the demo one), \
             or create one with `cerebro init DIR`",
            config.display()
        );
    }
    let mut ws = super::open(config)?;
    if cerebro::demo::ensure_data(&ws)? {
        eprintln!(
            "generated the demo data at {}",
            ws.config.dataset_path().display()
        );
    }
    let specs = cerebro::demo::specs(&ws.config, &cerebro::demo::comparison_requests())?;
    let max_parallel = ws.config.config.train.max_parallel;
    let mut outcomes = train_specs(&mut ws, specs, max_parallel, !json)?;
    // Best first; failed runs and undefined AUCs (NaN) last.
    outcomes.sort_by(|a, b| {
        let auc = |o: &Outcome| {
            o.run
                .as_ref()
                .map(|r| r.metrics.roc_auc)
                .filter(|v| !v.is_nan())
                .unwrap_or(f64::NEG_INFINITY)
        };
        auc(b).total_cmp(&auc(a))
    });
    let failed = outcomes.iter().filter(|o| o.run.is_none()).count();
    if json {
        print_json(&outcomes)?;
    } else {
        println!("model comparison on the test set (best first):");
        print_outcomes(&outcomes);
        println!(
            "\nnext: cerebro runs list · cerebro runs compare RUN RUN · cerebro runs reproduce RUN"
        );
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
