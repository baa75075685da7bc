//! `cerebro runs list|importance|show|compare|reproduce`.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use super::JsonFlag;
use super::output::{Table, duration_ms, f4, print_json, time_ms};
use cerebro::store::query::{Field, OrderBy, Query, QueryError};
use cerebro::store::short_id;
use cerebro::store::{RunDetail, RunFilter, RunStatus};
use cerebro::track;
use cerebro::track::compare::format_metric;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first (or in `--order-by` order).
    List {
        /// Only runs of this experiment.
        #[arg(long, short)]
        experiment: Option<String>,
        /// Only runs with this status (RUNNING, FINISHED, FAILED, KILLED).
        #[arg(long)]
        status: Option<String>,
        /// Only runs matching this expression, in MLflow's search syntax plus `or`, parentheses,
        /// `not` and `in`: "metrics.roc_auc > 0.7 and (params.max_depth >= 6 or tags.note is not null)".
        #[arg(long)]
        filter: Option<String>,
        /// Order of the runs: "metrics.roc_auc DESC, params.max_depth" (ASC by default).
        #[arg(long)]
        order_by: Option<String>,
        /// At most this many runs.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// How much each param matters for a metric over a set of runs (share of split gain in a
    /// boosted regression of the metric on the params, with Spearman correlations).
    Importance {
        /// The metric explained.
        #[arg(long, default_value = "roc_auc")]
        metric: String,
        /// Only runs of this experiment.
        #[arg(long, short)]
        experiment: Option<String>,
        /// Only runs matching this filter expression (as `runs list --filter`).
        #[arg(long)]
        filter: Option<String>,
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
            filter,
            order_by,
            limit,
            json,
        } => {
            let status = status
                .map(|s| s.to_uppercase().parse::<RunStatus>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            // Parsed here first so a mistake is shown under the expression with a caret.
            let query = filter
                .as_deref()
                .map(|f| Query::parse(f).map_err(|e| pointed("--filter", f, &e)))
                .transpose()?;
            let order = order_by
                .as_deref()
                .map(|o| OrderBy::parse(o).map_err(|e| pointed("--order-by", o, &e)))
                .transpose()?;
            let runs = ws.store.list_runs(&RunFilter {
                experiment,
                status,
                limit,
                filter,
                order_by,
            })?;
            if json.json {
                return print_json(&runs).map(|_| 0);
            }
            // Metrics and params the filter or ordering names get a column each.
            let mut extra: Vec<Field> = Vec::new();
            let named = query
                .iter()
                .flat_map(|q| q.fields().into_iter().cloned())
                .chain(
                    order
                        .iter()
                        .flat_map(|o| o.keys.iter().map(|k| k.field.clone())),
                );
            for f in named {
                let shown = matches!(&f, Field::Metric(k) if k == "roc_auc" || k == "f1");
                if matches!(f, Field::Metric(_) | Field::Param(_) | Field::Tag(_))
                    && !shown
                    && !extra.contains(&f)
                    && extra.len() < 4
                {
                    extra.push(f);
                }
            }
            let mut header: Vec<String> = [
                "run",
                "experiment",
                "name",
                "kind",
                "status",
                "started",
                "duration",
                "roc_auc",
                "f1",
            ]
            .map(String::from)
            .to_vec();
            header.extend(extra.iter().map(|f| match f {
                Field::Metric(k) | Field::Param(k) | Field::Tag(k) => k.clone(),
                Field::Attribute(a) => a.name().to_string(),
            }));
            header.push("data".into());
            let mut t = Table::new(header);
            for r in &runs {
                let mut row = vec![
                    short_id(&r.run_id).to_string(),
                    r.experiment.clone(),
                    r.name.clone(),
                    r.model_kind.clone(),
                    r.status.as_str().to_string(),
                    time_ms(r.start_time),
                    duration_ms(r.duration_ms),
                    r.metrics.get("roc_auc").map_or("-".into(), |v| f4(*v)),
                    r.metrics.get("f1").map_or("-".into(), |v| f4(*v)),
                ];
                for f in &extra {
                    row.push(match f {
                        Field::Metric(k) => r
                            .metrics
                            .get(k)
                            .map_or("-".into(), |v| format_metric(k, *v)),
                        Field::Param(k) => r.params.get(k).cloned().unwrap_or("-".into()),
                        Field::Tag(k) => r.tags.get(k).cloned().unwrap_or("-".into()),
                        Field::Attribute(_) => "-".into(),
                    });
                }
                row.push(r.data_version.as_deref().map_or("-", short_id).to_string());
                t.row(row);
            }
            t.print();
            Ok(0)
        }
        RunsCommand::Importance {
            metric,
            experiment,
            filter,
            json,
        } => {
            if let Some(f) = filter.as_deref() {
                Query::parse(f).map_err(|e| pointed("--filter", f, &e))?;
            }
            let runs = ws.store.list_runs(&RunFilter {
                experiment,
                filter,
                ..RunFilter::default()
            })?;
            let report = cerebro::track::importance::param_importance(&runs, &metric)?;
            if json.json {
                return print_json(&report).map(|_| 0);
            }
            println!(
                "importance of each param for {} over {} runs",
                report.metric, report.runs
            );
            let mut t = Table::new(["param", "importance", "", "spearman", "values"]);
            for p in &report.params {
                let width = (p.importance * 30.0).round() as usize;
                t.row([
                    p.param.clone(),
                    format!("{:.3}", p.importance),
                    "#".repeat(width),
                    p.correlation.map_or("-".into(), |c| format!("{c:+.3}")),
                    p.distinct.to_string(),
                ]);
            }
            t.print();
            println!("method: {}", report.method);
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
            header.extend(cmp.runs.iter().map(|r| short_id(r).to_string()));
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
                            Some(x) if best == Some(&cmp.runs[i]) => {
                                format!("{}*", format_metric(k, *x))
                            }
                            Some(x) => format_metric(k, *x),
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
                    short_id(&repro.new_run)
                );
            }
            Ok(if repro.exact_match { 0 } else { 1 })
        }
    }
}

/// A filter error with the expression and a caret under the column.
fn pointed(flag: &str, source: &str, e: &QueryError) -> anyhow::Error {
    anyhow::anyhow!(
        "{flag} column {}: {}\n  {source}\n  {}^",
        e.column,
        e.message,
        " ".repeat(e.column.saturating_sub(1))
    )
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
        println!("  {k} = {}", format_metric(k, *v));
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
