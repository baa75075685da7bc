//! `cerebro models ...`: the model registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use super::JsonFlag;
use super::output::{Table, f4, print_json, time_ms};
use cerebro::registry::ops::{self, GateResult, PromoteError};
use cerebro::registry::{Alias, ModelName, ModelUri, Stage};
use cerebro::store::short_id;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Register a finished run as the next version of a model.
    Register {
        /// Run id or unique prefix.
        run: String,
        /// Model name: letters, digits, `-`, `_` and `.` (not only digits, not starting with `.`).
        #[arg(long)]
        name: ModelName,
        #[arg(long, default_value = "")]
        description: String,
        /// A tag, KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Registered models with their Production and Staging versions and aliases.
    List(JsonFlag),
    /// A model and its versions.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Evaluate the promotion gate for a version without changing anything (exit 1 if it fails).
    Gate {
        name: String,
        version: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Promote a version to Staging or Production through the gate.
    Promote {
        name: String,
        version: i64,
        #[arg(long, default_value = "Production")]
        to: String,
        /// Promote even if the gate fails (needs --reason).
        #[arg(long)]
        force: bool,
        /// Why; recorded in the audit trail.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Archive a version.
    Archive {
        name: String,
        version: i64,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Restore the Production version the current one replaced.
    Rollback {
        name: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The audit trail of a model.
    History {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Version -> run -> data version -> git commit -> config -> environment.
    Lineage {
        /// NAME/VERSION, NAME@ALIAS or NAME/STAGE.
        uri: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Set or remove a free-form alias.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Write a version's artifact and a manifest (signature, metrics, lineage, digest) to DIR.
    Export { uri: String, dir: PathBuf },
    /// Register the export in DIR as a new version.
    Import {
        dir: PathBuf,
        /// Register under this name instead of the manifest's.
        #[arg(long)]
        name: Option<ModelName>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at VERSION. Aliases are letters, digits, `-` and `_`; `latest` and
    /// `v<number>` are reserved, as in MLflow.
    Set {
        name: String,
        alias: Alias,
        version: i64,
    },
    /// Remove ALIAS.
    Delete { name: String, alias: String },
}

fn stage_cell(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The raw inputs (MLflow column specs) and the features of a version.
fn print_signature(sig: &cerebro::data::schema::Signature) {
    let inputs: Vec<String> = sig
        .inputs()
        .into_iter()
        .map(|(n, t)| format!("{n} ({t})"))
        .collect();
    let kind = if sig.raw_inputs.is_some() {
        "raw inputs "
    } else {
        "inputs     "
    };
    println!("{kind} {}", inputs.join(", "));
    let features: Vec<&str> = sig
        .numeric
        .iter()
        .chain(&sig.categorical)
        .map(String::as_str)
        .collect();
    println!(
        "features    {} -> {} = {}",
        features.join(", "),
        sig.target,
        sig.positive
    );
}

fn print_gate(g: &GateResult) {
    println!(
        "gate for {}/{} on data version {} ({} {:?}):",
        g.model,
        g.candidate_version,
        short_id(&g.data_version),
        g.metric,
        g.direction
    );
    println!(
        "  candidate  v{}  {}",
        g.candidate_version,
        f4(g.candidate_value)
    );
    match (g.champion_version, g.champion_value) {
        (Some(v), Some(c)) => println!(
            "  champion   v{v}  {}  (delta {:+.4})",
            f4(c),
            g.delta.unwrap_or(f64::NAN)
        ),
        (Some(v), None) => println!("  champion   v{v}  not comparable"),
        _ => println!("  champion   none (no Production version)"),
    }
    if let Some(t) = g.threshold {
        println!("  threshold  {}", f4(t));
    }
    println!(
        "  signature  {}",
        if g.signature_compatible {
            "compatible"
        } else {
            "INCOMPATIBLE"
        }
    );
    println!("  result     {}", if g.passed { "PASS" } else { "FAIL" });
    for r in &g.reasons {
        println!("    - {r}");
    }
}

pub fn run(config: &Path, cmd: ModelsCommand) -> Result<i32> {
    let mut ws = super::open(config)?;
    match cmd {
        ModelsCommand::Register {
            run,
            name,
            description,
            tags,
            json,
        } => {
            let tags: BTreeMap<String, String> = tags
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--tag `{t}`: expected KEY=VALUE"))
                })
                .collect::<Result<_>>()?;
            let v = ops::register(&mut ws, &run, &name, &description, tags)?;
            if json.json {
                print_json(&v)?;
            } else {
                println!(
                    "registered {}/{} from run {}",
                    v.name,
                    v.version,
                    v.run_id.as_deref().map_or("-", short_id)
                );
            }
            Ok(0)
        }
        ModelsCommand::List(json) => {
            let models = ws.store.list_models()?;
            if json.json {
                return print_json(&models).map(|_| 0);
            }
            let mut t = Table::new([
                "model",
                "versions",
                "latest",
                "production",
                "staging",
                "aliases",
                "updated",
            ]);
            for m in &models {
                let aliases: Vec<String> =
                    m.aliases.iter().map(|(a, v)| format!("{a}={v}")).collect();
                t.row([
                    m.name.clone(),
                    m.versions.to_string(),
                    m.latest_version.to_string(),
                    stage_cell(m.production),
                    stage_cell(m.staging),
                    aliases.join(" "),
                    time_ms(m.updated_at),
                ]);
            }
            t.print();
            Ok(0)
        }
        ModelsCommand::Show { name, json } => {
            let model = ws.store.get_model(&name)?;
            let versions = ws.store.list_versions(&name)?;
            if json.json {
                return print_json(&serde_json::json!({"model": model, "versions": versions}))
                    .map(|_| 0);
            }
            println!("{} ({} versions)", model.name, model.versions);
            let mut t = Table::new([
                "version", "stage", "aliases", "roc_auc", "f1", "run", "data", "created", "by",
            ]);
            for v in &versions {
                t.row([
                    v.version.to_string(),
                    v.stage.to_string(),
                    v.aliases.join(","),
                    v.metrics.get("roc_auc").map_or("-".into(), |x| f4(*x)),
                    v.metrics.get("f1").map_or("-".into(), |x| f4(*x)),
                    v.run_id.as_deref().map_or("-", short_id).to_string(),
                    v.data_version.as_deref().map_or("-", short_id).to_string(),
                    time_ms(v.created_at),
                    v.created_by.clone(),
                ]);
            }
            t.print();
            if let Some(v) = versions.iter().max_by_key(|v| v.version) {
                println!("version {}:", v.version);
                print_signature(&v.signature);
            }
            Ok(0)
        }
        ModelsCommand::Gate {
            name,
            version,
            json,
        } => {
            let g = ops::evaluate_gate(&ws, &name, version)?;
            if json.json {
                print_json(&g)?;
            } else {
                print_gate(&g);
            }
            Ok(if g.passed { 0 } else { 1 })
        }
        ModelsCommand::Promote {
            name,
            version,
            to,
            force,
            reason,
            json,
        } => {
            let to: Stage = to.parse()?;
            match ops::promote(&mut ws, &name, version, to, force, reason.as_deref()) {
                Ok(p) => {
                    if json.json {
                        print_json(&p)?;
                    } else {
                        print_gate(&p.gate);
                        println!(
                            "{}/{}: {} -> {}{}",
                            name,
                            version,
                            p.record.from_stage.as_deref().unwrap_or("?"),
                            to,
                            if p.forced {
                                " (forced past the gate)"
                            } else {
                                ""
                            }
                        );
                        if let Some(r) = p.record.replaced_version {
                            println!("{name}/{r}: Production -> Archived");
                        }
                    }
                    Ok(0)
                }
                Err(PromoteError::GateFailed(g)) => {
                    if json.json {
                        print_json(&g)?;
                    } else {
                        print_gate(&g);
                    }
                    anyhow::bail!(
                        "the gate refused {name}/{version}: {} (use --force --reason TEXT to override)",
                        g.reasons.join("; ")
                    )
                }
                Err(PromoteError::Other(e)) => Err(e.into()),
            }
        }
        ModelsCommand::Archive {
            name,
            version,
            reason,
            json,
        } => {
            let rec = ops::archive(&mut ws, &name, version, reason.as_deref())?;
            if json.json {
                return print_json(&rec).map(|_| 0);
            }
            println!(
                "{name}/{version}: {} -> Archived",
                rec.from_stage.as_deref().unwrap_or("?")
            );
            Ok(0)
        }
        ModelsCommand::Rollback { name, reason, json } => {
            let rec = ops::rollback(&mut ws, &name, reason.as_deref())?;
            if json.json {
                return print_json(&rec).map(|_| 0);
            }
            println!(
                "{name}: Production is version {} again (version {} archived)",
                rec.version.unwrap_or_default(),
                rec.replaced_version.map_or("-".into(), |v| v.to_string())
            );
            Ok(0)
        }
        ModelsCommand::History { name, json } => {
            let records = ws.store.history(&name)?;
            if json.json {
                return print_json(&records).map(|_| 0);
            }
            let mut t = Table::new([
                "when", "who", "action", "version", "from", "to", "alias", "reason",
            ]);
            for r in &records {
                t.row([
                    time_ms(r.at),
                    r.actor.clone(),
                    r.action.clone(),
                    r.version.map_or("-".into(), |v| v.to_string()),
                    r.from_stage.clone().unwrap_or("-".into()),
                    r.to_stage.clone().unwrap_or("-".into()),
                    r.alias.clone().unwrap_or("-".into()),
                    r.reason.clone().unwrap_or_default(),
                ]);
            }
            t.print();
            Ok(0)
        }
        ModelsCommand::Lineage { uri, json } => {
            let uri: ModelUri = uri.parse()?;
            let l = ops::lineage(&ws, &uri)?;
            if json.json {
                return print_json(&l).map(|_| 0);
            }
            let present = |b: bool| if b { "present" } else { "MISSING" };
            println!(
                "model       {}/{} ({}) {}",
                l.model,
                l.version,
                l.stage,
                l.aliases.join(",")
            );
            println!(
                "artifact    {} ({})",
                l.artifact_digest,
                present(l.artifact_present)
            );
            println!(
                "run         {} {}",
                l.run_id.as_deref().unwrap_or("-"),
                l.run_status.as_deref().unwrap_or("(not in this store)")
            );
            println!(
                "data        {} (snapshot {})",
                l.data_version.as_deref().unwrap_or("-"),
                present(l.data_snapshot_present)
            );
            if let Some(sig) = &l.signature {
                print_signature(sig);
            }
            println!(
                "git         {} {}{}",
                l.git_commit.as_deref().unwrap_or("-"),
                l.git_branch.as_deref().unwrap_or(""),
                if l.git_dirty == Some(true) {
                    " (dirty)"
                } else {
                    ""
                }
            );
            println!("config      {}", l.config_hash.as_deref().unwrap_or("-"));
            if let Some(e) = &l.environment {
                println!(
                    "environment cerebro {} {}/{} host {} user {} seed {}",
                    e.cerebro_version, e.os, e.arch, e.host, e.user, e.seed
                );
            }
            Ok(0)
        }
        ModelsCommand::Alias(AliasCommand::Set {
            name,
            alias,
            version,
        }) => {
            ws.store
                .set_alias(&name, &alias, version, &cerebro::env::user_name())?;
            println!("{name}@{alias} -> {version}");
            Ok(0)
        }
        ModelsCommand::Alias(AliasCommand::Delete { name, alias }) => {
            ws.store
                .delete_alias(&name, &alias, &cerebro::env::user_name())?;
            println!("removed {name}@{alias}");
            Ok(0)
        }
        ModelsCommand::Export { uri, dir } => {
            let uri: ModelUri = uri.parse()?;
            for p in ops::export(&ws, &uri, &dir)? {
                println!("wrote {}", p.display());
            }
            Ok(0)
        }
        ModelsCommand::Import { dir, name, json } => {
            let v = ops::import(&mut ws, &dir, name.as_ref())?;
            if json.json {
                return print_json(&v).map(|_| 0);
            }
            println!("imported {}/{}", v.name, v.version);
            Ok(0)
        }
    }
}
