//! `cerebro predict`: batch scoring of a file of raw records with a registered version or a
//! run's model, as `mlflow models predict` (core: `cerebro::batch`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::print_json;
use cerebro::batch::{self, BatchOptions, BatchProgress, ModelSource, OnError};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model: NAME/VERSION, NAME@ALIAS, NAME/STAGE, models:/NAME/VERSION or runs:/RUN_ID.
    pub model_uri: String,
    /// Raw records: CSV, Parquet (.parquet) or JSON lines (.jsonl), as the dataset file holds them.
    #[arg(long, short)]
    pub input: PathBuf,
    /// Where the predictions go: Parquet (.parquet) or CSV.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Add the positive-class probability of each record.
    #[arg(long)]
    pub probabilities: bool,
    /// Add each record's per-feature contributions to the raw score (TreeSHAP for tree kinds,
    /// coefficient x value for logistic): a `base_value` column and `contribution_<FEATURE>`
    /// per model feature.
    #[arg(long)]
    pub explain: bool,
    /// What a record with a value that does not fit its column does: fail (stop, write
    /// nothing) or skip (leave it out and count it).
    #[arg(long, default_value = "fail", value_parser = ["fail", "skip"])]
    pub on_error: String,
    /// Records scored at a time.
    #[arg(long, default_value_t = batch::CHUNK_ROWS)]
    pub chunk_rows: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Path, args: PredictArgs) -> Result<i32> {
    let source: ModelSource = args.model_uri.parse()?;
    let on_error: OnError = args.on_error.parse()?;
    let ws = super::open(config)?;
    let (model, name) =
        batch::load_model(&ws, &source).with_context(|| format!("loading {}", args.model_uri))?;
    let opts = BatchOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        probabilities: args.probabilities,
        explain: args.explain,
        on_error,
        chunk_rows: args.chunk_rows,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} ({elapsed}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = |p: &BatchProgress| {
        if let Some(b) = &bar {
            b.set_length(p.total);
            b.set_position(p.done);
            b.set_message(format!("{} records", p.records));
        }
    };
    let cancel = AtomicBool::new(false);
    let report = batch::score_file(&model, &name, &opts, &mut progress, &cancel)
        .with_context(|| format!("scoring {}", args.input.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.json {
        print_json(&report)?;
    } else {
        println!("model      {}", report.model);
        println!("input      {} ({} records)", report.input, report.records);
        println!("output     {}", report.output);
        println!(
            "scored     {} ({} predicted positive, {} unseen categorical values)",
            report.scored, report.positives, report.unseen_categories
        );
        println!("skipped    {}", report.skipped);
        for b in &report.bad_records {
            println!(
                "  line {}{}: {}",
                b.line,
                b.column
                    .as_ref()
                    .map(|c| format!(", column `{c}`"))
                    .unwrap_or_default(),
                b.message
            );
        }
        println!(
            "time       {:.2} s ({:.0} records/s)",
            report.seconds, report.records_per_second
        );
    }
    Ok(0)
}
