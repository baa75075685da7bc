//! `cerebro data profile|prepare|versions`.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use super::JsonFlag;
use super::output::{Table, f4, print_json, time_ms};
use cerebro::store::short_id;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Per-column profile: type, nulls, distinct values, summary or top values, histogram.
    Profile {
        /// Profile the prepared training table instead of the raw file.
        #[arg(long)]
        prepared: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Prepare and split the data; snapshot the data version into the store.
    Prepare(JsonFlag),
    /// List data versions with their row counts and the runs that used them.
    Versions(JsonFlag),
    /// Write a data version's train and test tables as CSV files into DIR.
    Export {
        /// Data version id or unique prefix.
        version: String,
        dir: std::path::PathBuf,
    },
}

pub fn run(config: &Path, cmd: DataCommand) -> Result<i32> {
    match cmd {
        DataCommand::Profile { prepared, json } => {
            let cfg = cerebro::config::Config::load(config)?;
            let df = if prepared {
                cerebro::data::prepare(&cfg)?.prepared_train()?
            } else {
                cerebro::data::load_raw(&cfg)?.df
            };
            let profile = cerebro::data::profile::profile(&df)?;
            if json.json {
                return print_json(&profile).map(|_| 0);
            }
            println!(
                "{} rows, {} columns ({})",
                profile.rows,
                profile.columns.len(),
                if prepared {
                    "prepared train set"
                } else {
                    "raw"
                }
            );
            let mut t = Table::new(["column", "type", "nulls", "distinct", "summary"]);
            for c in &profile.columns {
                let summary = match &c.numeric {
                    Some(n) => format!(
                        "min {}  mean {}  max {}  std {}",
                        trim(n.min),
                        trim(n.mean),
                        trim(n.max),
                        trim(n.std)
                    ),
                    None => c.top_values(3),
                };
                t.row([
                    c.name.clone(),
                    c.dtype.clone(),
                    c.nulls.to_string(),
                    c.distinct.to_string(),
                    summary,
                ]);
            }
            t.print();
            Ok(0)
        }
        DataCommand::Prepare(json) => {
            let mut ws = super::open(config)?;
            let (prepared, version, new) = ws.prepare_data()?;
            let report = prepared.report(
                &ws.config,
                &ws.store_root().join(&version.snapshot_dir),
                new,
            )?;
            // Warnings go to stderr in both modes (they are also in the JSON).
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if json.json {
                return print_json(&report).map(|_| 0);
            }
            println!(
                "data version {} ({})",
                short_id(&report.data_version),
                if new {
                    "new snapshot"
                } else {
                    "already snapshotted"
                }
            );
            println!("  {} raw rows from {}", report.raw_rows, report.dataset);
            println!(
                "  steps fitted on {} (fit_statistics_on)",
                if report.fit_statistics_on == "all" {
                    "the whole table"
                } else {
                    "the training split"
                }
            );
            for s in &report.steps {
                println!("  {:<15} {} [{}]", s.step, s.summary, s.affected);
            }
            if report.dropped_missing_target > 0 {
                println!(
                    "  dropped {} rows with a missing target",
                    report.dropped_missing_target
                );
            }
            println!(
                "  train {} rows (positive {:.1}%), test {} rows (positive {:.1}%)",
                report.train_rows,
                report.train_positive_rate * 100.0,
                report.test_rows,
                report.test_positive_rate * 100.0
            );
            let inputs: Vec<String> = report
                .inputs
                .iter()
                .map(|c| format!("{} ({})", c.name, c.ty))
                .collect();
            println!("  raw inputs {}", inputs.join(", "));
            println!("  snapshot {}", report.snapshot);
            Ok(0)
        }
        DataCommand::Export { version, dir } => {
            let ws = super::open(config)?;
            let v = ws.store.get_data_version(&version)?;
            for path in cerebro::data::export_version(&ws.store_root(), &v, &dir)? {
                println!("wrote {}", path.display());
            }
            Ok(0)
        }
        DataCommand::Versions(json) => {
            let ws = super::open(config)?;
            let versions = ws.store.list_data_versions()?;
            if json.json {
                return print_json(&versions).map(|_| 0);
            }
            let mut t = Table::new(["version", "created", "dataset", "train", "test", "runs"]);
            for v in &versions {
                let runs: Vec<&str> = v.runs.iter().map(|r| short_id(r)).collect();
                t.row([
                    short_id(&v.version.id).to_string(),
                    time_ms(v.version.created_at),
                    v.version.dataset_path.clone(),
                    v.version.train_rows.to_string(),
                    v.version.test_rows.to_string(),
                    if runs.is_empty() {
                        "-".into()
                    } else {
                        format!("{} ({})", runs.len(), runs.join(" "))
                    },
                ]);
            }
            t.print();
            Ok(0)
        }
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else {
        f4(v)
    }
}
