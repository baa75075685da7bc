//! The workbench demo on an empty workspace, as core calls a front end strings together: make
//! sure the demo data exists, train a few model kinds with modest settings (as background jobs,
//! through [`crate::track::plan`] and [`crate::jobs::JobRunner`]), then register the best run by
//! test ROC AUC as the workspace's model and promote it to Production through the gate. The TUI
//! runs the training as jobs and calls [`register_best`] when they are done; serving it is the
//! front end's business (the TUI's local endpoint). The headless `cerebro demo` trains
//! [`comparison_requests`] instead (every kind with its defaults) and prints the comparison.

use std::collections::BTreeMap;

use crate::config::{Direction, LoadedConfig};
use crate::error::{Error, Result};
use crate::registry::ops::{self, PromoteError};
use crate::registry::{ModelName, ModelVersion, Stage};
use crate::store::RunStatus;
use crate::track::RunSpec;
use crate::track::plan::{self, TrainRequest};
use crate::train::ModelKind;
use crate::workspace::Workspace;

/// Tag on every demo run.
pub const TAG: &str = "cerebro.demo";

/// What the demo trains: a tree, a forest and boosted trees, small enough to finish within a
/// minute on two cores.
pub fn requests() -> Vec<TrainRequest> {
    let set = |kind: ModelKind, sets: &[(&str, &str)]| {
        let mut r = TrainRequest::new(kind);
        r.name = Some(format!("demo-{kind}"));
        r.sets = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r
    };
    vec![
        set(ModelKind::Tree, &[("max_depth", "6")]),
        set(ModelKind::Forest, &[("n_trees", "40"), ("max_depth", "8")]),
        set(
            ModelKind::Gbt,
            &[
                ("n_estimators", "150"),
                ("learning_rate", "0.05"),
                ("max_depth", "4"),
            ],
        ),
    ]
}

/// What the headless demo (`cerebro demo`) compares: every kind with its defaults, named
/// `demo-KIND`.
pub fn comparison_requests() -> Vec<TrainRequest> {
    ModelKind::ALL
        .into_iter()
        .map(|kind| {
            let mut r = TrainRequest::new(kind);
            r.name = Some(format!("demo-{kind}"));
            r
        })
        .collect()
}

/// The run specs of `requests` (see [`plan::specs`]), each tagged [`TAG`].
pub fn specs(config: &LoadedConfig, requests: &[TrainRequest]) -> Result<Vec<RunSpec>> {
    let mut specs = Vec::new();
    for request in requests {
        for mut spec in plan::specs(config, request)? {
            spec.tags.insert(TAG.to_string(), "true".to_string());
            specs.push(spec);
        }
    }
    Ok(specs)
}

/// Writes the synthetic demo data if the workspace points at a missing `characters.csv`.
/// Returns whether it wrote it.
pub fn ensure_data(ws: &Workspace) -> Result<bool> {
    let path = ws.config.dataset_path();
    if path.exists() || !ws.config.config.dataset.path.ends_with("characters.csv") {
        return Ok(false);
    }
    crate::data::demo::write_demo(&path)?;
    Ok(true)
}

/// The registered model the demo creates: the workspace name, made a valid model name.
pub fn model_name(workspace: &str) -> String {
    let name: String = workspace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match name.parse::<ModelName>() {
        Ok(n) => n.into(),
        Err(_) => "demo".into(),
    }
}

/// Registers the finished run with the best test ROC AUC among `runs` as the next version of
/// [`model_name`] and promotes it to Production through the gate (a refusal is an error naming
/// the gate's reasons).
pub fn register_best(ws: &mut Workspace, runs: &[String]) -> Result<ModelVersion> {
    let mut best: Option<(f64, String)> = None;
    for id in runs {
        let run = ws.store.get_run(id)?;
        if run.summary.status != RunStatus::Finished {
            continue;
        }
        let auc = run
            .summary
            .metrics
            .get("roc_auc")
            .copied()
            .unwrap_or(f64::NAN);
        // The first finished run counts even with an undefined AUC; a defined one beats it.
        if best.is_none() || Direction::Maximize.better(auc, best.as_ref().map(|b| b.0)) {
            best = Some((auc, run.summary.run_id));
        }
    }
    let (_, run) =
        best.ok_or_else(|| Error::invalid("no demo run finished: nothing to register"))?;
    let name: ModelName = model_name(&ws.config.config.workspace.name).parse()?;
    let tags = BTreeMap::from([(TAG.to_string(), "true".to_string())]);
    let version = ops::register(ws, &run, &name, "best demo run by test ROC AUC", tags)?;
    match ops::promote(ws, &name, version.version, Stage::Production, false, None) {
        Ok(_) => {}
        Err(PromoteError::GateFailed(g)) => {
            return Err(Error::invalid(format!(
                "the gate refused {name}/{}: {}",
                version.version,
                g.reasons.join("; ")
            )));
        }
        Err(PromoteError::Other(e)) => return Err(e),
    }
    ws.store.get_version(&name, version.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Silent;

    #[test]
    fn model_names_are_valid() {
        assert_eq!(model_name("cerebro"), "cerebro");
        assert_eq!(model_name("my ws"), "my-ws");
        assert_eq!(model_name("2024"), "demo");
        assert_eq!(model_name(""), "demo");
    }

    #[test]
    fn the_best_run_is_registered_and_promoted_to_production() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[workspace]\nname = \"demo ws\"\n[dataset]\npath = \"data/characters.csv\"\n\
             id = \"page_id\"\ntarget = \"ALIVE\"\npositive = \"Living Characters\"\n\
             numeric = [\"APPEARANCES\"]\ncategorical = [\"SEX\", \"ALIGN\"]\n",
        )
        .unwrap();
        let mut ws = Workspace::open(&dir.path().join("config.toml")).unwrap();
        assert!(ensure_data(&ws).unwrap(), "the demo data is written");
        assert!(!ensure_data(&ws).unwrap(), "once");
        let ctx = plan::context(&mut ws, 1).unwrap();
        let mut runs = Vec::new();
        for req in requests() {
            for spec in plan::specs(&ws.config, &req).unwrap() {
                // Keep the test quick: the settings are checked, the fits kept tiny.
                let mut spec = spec;
                spec.params = crate::train::ModelParams::resolve(
                    req.kind,
                    None,
                    &match req.kind {
                        ModelKind::Forest => vec![("n_trees".into(), "5".into())],
                        ModelKind::Gbt => vec![("n_estimators".into(), "20".into())],
                        _ => req.sets.clone(),
                    },
                )
                .unwrap();
                runs.push(crate::track::execute(&ctx, &spec, &Silent).unwrap().run_id);
            }
        }
        assert_eq!(runs.len(), 3);
        let v = register_best(&mut ws, &runs).unwrap();
        assert_eq!(v.name, "demo-ws");
        assert_eq!(v.stage, Stage::Production);
        let best = runs
            .iter()
            .map(|r| ws.store.get_run(r).unwrap().summary)
            .max_by(|a, b| a.metrics["roc_auc"].total_cmp(&b.metrics["roc_auc"]))
            .unwrap();
        assert_eq!(v.run_id.as_deref(), Some(best.run_id.as_str()));
        assert!(register_best(&mut ws, &[]).is_err());
    }
}
