//! Turning a training request into runs: the sweep grid of [`RunSpec`]s and the shared
//! [`TrainContext`] (prepared data version, environment, threads per fit). Front ends describe
//! what to train; this module decides how, so the CLI and the TUI name and seed runs alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::store::RunDetail;
use crate::train::{ModelKind, ModelParams};
use crate::workspace::Workspace;

use super::{RunSpec, TrainContext, load_model, reproduce_spec};

/// What to train: a kind, fixed overrides, and optional sweep axes (their grid is trained).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainRequest {
    pub kind: ModelKind,
    pub sets: Vec<(String, String)>,
    pub sweeps: Vec<(String, Vec<String>)>,
    /// Run name (sweeps append the swept values); default: the kind.
    pub name: Option<String>,
    /// Default: `[train] experiment`.
    pub experiment: Option<String>,
    /// Default: `[train] seed`.
    pub seed: Option<u64>,
}

impl TrainRequest {
    pub fn new(kind: ModelKind) -> TrainRequest {
        TrainRequest {
            kind,
            sets: Vec::new(),
            sweeps: Vec::new(),
            name: None,
            experiment: None,
            seed: None,
        }
    }
}

/// One spec per combination of the sweep grid, with params resolved against the config
/// (unknown or invalid params are errors naming the key).
pub fn specs(config: &LoadedConfig, req: &TrainRequest) -> Result<Vec<RunSpec>> {
    let base_name = req.name.clone().unwrap_or_else(|| req.kind.to_string());
    let experiment = req
        .experiment
        .clone()
        .unwrap_or_else(|| config.config.train.experiment.clone());
    let seed = req.seed.unwrap_or(config.config.train.seed);
    crate::names::check_experiment_name(&experiment)?;
    check_param_keys(req)?;
    let mut out = Vec::new();
    for combo in grid(&req.sweeps) {
        let mut overrides = req.sets.clone();
        overrides.extend(combo.iter().cloned());
        let params = ModelParams::resolve(
            req.kind,
            config.config.models.get(req.kind.as_str()),
            &overrides,
        )?;
        let name = if combo.is_empty() {
            base_name.clone()
        } else {
            let suffix: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{base_name} {}", suffix.join(" "))
        };
        crate::names::check_run_name(&name)?;
        out.push(RunSpec {
            experiment: experiment.clone(),
            name,
            params,
            seed,
            source: None,
            tags: BTreeMap::new(),
        });
    }
    Ok(out)
}

/// The cartesian product of sweep axes, in a fixed order (first axis slowest).
/// `axes` are `(key, values)`; the result is one override list per combination.
pub fn grid(axes: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in axes {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for v in values {
                let mut c = combo.clone();
                c.push((key.clone(), v.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

/// Each param key once: a key set twice with different values, set and swept, or swept twice
/// is refused, as MLflow refuses to log a param again with another value (a run's params are
/// write-once). The same value twice is harmless and kept once.
fn check_param_keys(req: &TrainRequest) -> Result<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &req.sets {
        crate::names::check_param_key(k)?;
        crate::names::check_param_value(k, v)?;
        if let Some(prev) = seen.insert(k, v)
            && prev != v
        {
            return Err(Error::invalid(format!(
                "param `{k}` is given twice with different values (`{prev}` and `{v}`): a run \
                 logs each param once (MLflow refuses to change a logged param); give it once"
            )));
        }
    }
    let mut swept: BTreeMap<&str, ()> = BTreeMap::new();
    for (k, _) in &req.sweeps {
        crate::names::check_param_key(k)?;
        if seen.contains_key(k.as_str()) {
            return Err(Error::invalid(format!(
                "param `{k}` is both set (--set) and swept (--sweep): give it once"
            )));
        }
        if swept.insert(k, ()).is_some() {
            return Err(Error::invalid(format!(
                "param `{k}` is swept twice: list all its values in one --sweep {k}=V1,V2"
            )));
        }
    }
    Ok(())
}

/// Prepares (and snapshots) the configured data and the context `jobs_at_once` parallel fits
/// share; each fit gets an equal share of the cores.
pub fn context(ws: &mut Workspace, jobs_at_once: usize) -> Result<TrainContext> {
    let (prepared, _, _) = ws.prepare_data()?;
    Ok(TrainContext {
        store_root: ws.store_root(),
        tracking: ws.tracking.clone(),
        data: Arc::new(prepared.train_data()?),
        environment: crate::env::capture(&ws.config.dir(), &ws.config.hash, 0),
        threads: (crate::env::cores() / jobs_at_once.max(1)).max(1),
    })
}

/// The spec and context that retrain `run` from its recorded data version snapshot, params and
/// seed (what [`super::reproduce`] runs, for front ends that run it as a background job).
pub fn reproduction(ws: &Workspace, run: &RunDetail) -> Result<(RunSpec, TrainContext)> {
    let spec = reproduce_spec(run)?;
    let version_id = run
        .summary
        .data_version
        .clone()
        .ok_or_else(|| Error::invalid("the run has no recorded data version"))?;
    let version = ws.store.get_data_version(&version_id)?;
    let model = load_model(ws.store.as_ref(), run)?;
    let data = crate::data::load_version(&ws.store_root(), &version)?
        .train_data(&model.signature.features_only(), &version.id)?;
    let ctx = TrainContext {
        store_root: ws.store_root(),
        tracking: ws.tracking.clone(),
        data: Arc::new(data),
        environment: crate::env::capture(&ws.config.dir(), &ws.config.hash, spec.seed),
        threads: crate::env::cores(),
    };
    Ok((spec, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoadedConfig {
        let src = r#"
[dataset]
path = "data.csv"
target = "y"
positive = "yes"
numeric = ["num"]
[train]
experiment = "exp"
seed = 7
[models.tree]
max_depth = 3
"#;
        crate::config::Config::parse(std::path::Path::new("/tmp/x/config.toml"), src.into())
            .unwrap()
    }

    #[test]
    fn a_sweep_gives_one_named_spec_per_combination_over_config_defaults() {
        let mut req = TrainRequest::new(ModelKind::Tree);
        req.sets = vec![("min_samples_leaf".into(), "2".into())];
        req.sweeps = vec![("criterion".into(), vec!["gini".into(), "entropy".into()])];
        let specs = specs(&config(), &req).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "tree criterion=gini");
        assert_eq!(specs[1].experiment, "exp");
        assert_eq!(specs[1].seed, 7);
        let p = specs[1].params.to_map();
        assert_eq!(p["max_depth"], "3");
        assert_eq!(p["min_samples_leaf"], "2");
        assert_eq!(p["criterion"], "entropy");
    }

    #[test]
    fn unknown_params_are_refused() {
        let mut req = TrainRequest::new(ModelKind::Tree);
        req.sets = vec![("max_dept".into(), "2".into())];
        let e = specs(&config(), &req).unwrap_err().to_string();
        assert!(e.contains("max_depth"), "{e}");
    }

    #[test]
    fn grid_is_the_cartesian_product_in_order() {
        let g = grid(&[
            ("a".into(), vec!["1".into(), "2".into()]),
            ("b".into(), vec!["x".into(), "y".into(), "z".into()]),
        ]);
        assert_eq!(g.len(), 6);
        assert_eq!(
            g[0],
            vec![("a".into(), "1".into()), ("b".into(), "x".into())]
        );
        assert_eq!(
            g[5],
            vec![("a".into(), "2".into()), ("b".into(), "z".into())]
        );
        assert_eq!(grid(&[]), vec![Vec::<(String, String)>::new()]);
    }

    #[test]
    fn a_param_given_twice_with_different_values_is_refused_as_mlflow_does() {
        let set = |pairs: &[(&str, &str)]| {
            let mut req = TrainRequest::new(ModelKind::Tree);
            req.sets = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            req
        };
        let e = specs(&config(), &set(&[("max_depth", "4"), ("max_depth", "6")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`max_depth` is given twice with different values (`4` and `6`)"),
            "{e}"
        );
        // The same value twice is one param.
        let ok = specs(&config(), &set(&[("max_depth", "4"), ("max_depth", "4")])).unwrap();
        assert_eq!(ok[0].params.to_map()["max_depth"], "4");
        let mut both = set(&[("max_depth", "4")]);
        both.sweeps = vec![("max_depth".into(), vec!["2".into(), "3".into()])];
        let e = specs(&config(), &both).unwrap_err().to_string();
        assert!(e.contains("both set (--set) and swept"), "{e}");
        let mut twice = TrainRequest::new(ModelKind::Tree);
        twice.sweeps = vec![
            ("max_depth".into(), vec!["2".into()]),
            ("max_depth".into(), vec!["3".into()]),
        ];
        assert!(specs(&config(), &twice).is_err());
        // MLflow's key rule applies before the kind's own check.
        let e = specs(&config(), &set(&[("a//b", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid param key `a//b`"), "{e}");
    }

    #[test]
    fn experiment_and_run_names_follow_mlflows_limits() {
        let mut req = TrainRequest::new(ModelKind::Tree);
        req.experiment = Some(" ".into());
        assert!(specs(&config(), &req).is_err());
        req.experiment = None;
        req.name = Some("r".repeat(251));
        let e = specs(&config(), &req).unwrap_err().to_string();
        assert!(e.contains("run name has 251 characters"), "{e}");
    }
}
