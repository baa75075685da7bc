//! `cerebro runs list|show|compare|reproduce`.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use super::JsonFlag;
use super::output::{Table, duration_ms, f4, print_json, short, time_ms};
use cerebro::store::{RunDetail, RunFilter, RunStatus};
use cerebro::track;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this experiment.
        #[arg(long, short)]
        experiment: Option<String>,
        /// Only runs with this status (RUNNING, FINISHED, FAILED, KILLED).
        #[arg(long)]
        status: Option<String>,
        /// At most this many runs.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Everything recorded about one run (id or unique prefix).
    Show {
        run: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Params and metrics of runs side by side; the best value of each metric is marked.
    Compare {
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
        /// Only rows whose values differ.
        #[arg(long)]
        diff: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Retrain a run from its recorded data version, params and seed; report whether every
    /// metric matches exactly (exit code 1 if not).
    Reproduce {
        run: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub fn run(config: &Path, cmd: RunsCommand) -> Result<i32> {
    let ws = super::open(config)?;
    match cmd {
        RunsCommand::List {
            experiment,
            status,
            limit,
            json,
        } => {
            let status = status
                .map(|s| s.to_uppercase().parse::<RunStatus>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            let runs = ws.store.list_runs(&RunFilter {
                experiment,
                status,
                limit,
            })?;
            if json.json {
                return print_json(&runs).map(|_| 0);
            }
            let mut t = Table::new([
                "run",
                "experiment",
                "name",
                "kind",
                "status",
                "started",
                "duration",
                "roc_auc",
                "f1",
                "data",
            ]);
            for r in &runs {
                t.row([
                    short(&r.run_id).to_string(),
                    r.experiment.clone(),
                    r.name.clone(),
                    r.model_kind.clone(),
                    r.status.as_str().to_string(),
                    time_ms(r.start_time),
                    duration_ms(r.duration_ms),
                    r.metrics.get("roc_auc").map_or("-".into(), |v| f4(*v)),
                    r.metrics.get("f1").map_or("-".into(), |v| f4(*v)),
                    r.data_version.as_deref().map_or("-", short).to_string(),
                ]);
            }
            t.print();
            Ok(0)
        }
        RunsCommand::Show { run, json } => {
            let detail = ws.store.get_run(&run)?;
            if json.json {
                return print_json(&detail).map(|_| 0);
            }
            print_detail(&detail);
            Ok(0)
        }
        RunsCommand::Compare { runs, diff, json } => {
            let details = runs
                .iter()
                .map(|r| ws.store.get_run(r).map_err(anyhow::Error::from))
                .collect::<Result<Vec<_>>>()?;
            let summaries: Vec<&cerebro::store::RunSummary> =
                details.iter().map(|d| &d.summary).collect();
            let cmp = cerebro::track::compare::compare(&summaries, diff);
            if json.json {
                return print_json(&cmp).map(|_| 0);
            }
            let mut header = vec!["".to_string()];
            header.extend(cmp.runs.iter().map(|r| short(r).to_string()));
            let mut t = Table::new(header);
            let row = |t: &mut Table, label: String, cells: Vec<String>| {
                let mut r = vec![label];
                r.extend(cells);
                t.row(r);
            };
            row(
                &mut t,
                "name".into(),
                details.iter().map(|d| d.summary.name.clone()).collect(),
            );
            row(
                &mut t,
                "kind".into(),
                details
                    .iter()
                    .map(|d| d.summary.model_kind.clone())
                    .collect(),
            );
            for (k, vals) in &cmp.params {
                row(
                    &mut t,
                    format!("param {k}"),
                    vals.iter()
                        .map(|v| v.clone().unwrap_or("-".into()))
                        .collect(),
                );
            }
            for (k, vals) in &cmp.metrics {
                let best = cmp.best.get(k);
                row(
                    &mut t,
                    format!("metric {k}"),
                    vals.iter()
                        .enumerate()
                        .map(|(i, v)| match v {
                            Some(x) if best == Some(&cmp.runs[i]) => format!("{}*", f4(*x)),
                            Some(x) => f4(*x),
                            None => "-".into(),
                        })
                        .collect(),
                );
            }
            t.print();
            println!("* best value");
            Ok(0)
        }
        RunsCommand::Reproduce { run, json } => {
            if !json.json {
                eprintln!("reproducing run {run} from its recorded data version, params and seed");
            }
            let repro = track::reproduce(&ws, &run, &cerebro::train::Silent)?;
            if json.json {
                print_json(&repro)?;
            } else {
                let mut t = Table::new(["metric", "original", "reproduced", "match"]);
                for m in &repro.metrics {
                    t.row([
                        m.key.clone(),
                        format!("{}", m.original),
                        format!("{}", m.reproduced),
                        if m.exact { "exact" } else { "DIFFERS" }.to_string(),
                    ]);
                }
                t.print();
                println!(
                    "{}: new run {}",
                    if repro.exact_match {
                        "exact match"
                    } else {
                        "MISMATCH"
                    },
                    short(&repro.new_run)
                );
            }
            Ok(if repro.exact_match { 0 } else { 1 })
        }
    }
}

fn print_detail(d: &RunDetail) {
    let s = &d.summary;
    println!("run        {}", s.run_id);
    println!("name       {}", s.name);
    println!("experiment {}", s.experiment);
    println!("kind       {}", s.model_kind);
    println!("status     {}", s.status.as_str());
    println!("started    {}", time_ms(s.start_time));
    println!("duration   {}", duration_ms(s.duration_ms));
    if let Some(e) = &d.error {
        println!("error      {e}");
    }
    if let Some(src) = &d.source {
        println!("source     {src}");
    }
    println!("data       {}", s.data_version.as_deref().unwrap_or("-"));
    let e = &d.environment;
    println!(
        "env        cerebro {} on {}/{} host {} user {} seed {}",
        e.cerebro_version, e.os, e.arch, e.host, e.user, e.seed
    );
    println!(
        "git        {} {}{}",
        e.git_commit.as_deref().unwrap_or("-"),
        e.git_branch.as_deref().unwrap_or(""),
        match e.git_dirty {
            Some(true) => " (dirty)",
            _ => "",
        }
    );
    println!("config     sha256:{}", e.config_hash);
    println!("params");
    for (k, v) in &s.params {
        println!("  {k} = {v}");
    }
    println!("metrics");
    for (k, v) in &s.metrics {
        println!("  {k} = {v}");
    }
    if !d.tags.is_empty() {
        println!("tags");
        for (k, v) in &d.tags {
            println!("  {k} = {v}");
        }
    }
    println!("artifacts");
    for a in &d.artifacts {
        println!("  {} {} ({} bytes)", a.name, a.digest, a.size);
    }
}
