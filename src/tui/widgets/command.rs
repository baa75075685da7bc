//! The `:` command line: parsing (`:train KIND key=value...`, `:promote NAME VERSION`, ...) and
//! completion of the word being typed. Pure functions, so both are unit-tested; the training
//! form uses the same parameter syntax.

use cerebro::registry::Stage;
use cerebro::track::plan::TrainRequest;
use cerebro::train::{ModelKind, ModelParams};
use cerebro::tune::TuneRequest;
use cerebro::tune::space::Space;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    Train(TrainRequest),
    Promote {
        name: String,
        version: i64,
        to: Stage,
    },
    Rollback {
        name: String,
    },
    Archive {
        name: String,
        version: i64,
    },
    /// Score a file of raw records with a model (`cerebro predict`); paths are relative to
    /// the workspace folder.
    Predict {
        model: String,
        input: String,
        output: String,
    },
    Refresh,
    Help,
    /// Start (or stop) the local endpoint, as `s`/`S` on the Endpoints tab.
    Serve,
    Unserve,
}

pub const COMMANDS: &[(&str, &str)] = &[
    (
        "train",
        "train KIND [key=value | key=v1,v2 ...]  (seed= experiment= name= too)",
    ),
    (
        "promote",
        "promote NAME VERSION [staging|production]  (shows the gate first)",
    ),
    ("rollback", "rollback NAME"),
    ("archive", "archive NAME VERSION"),
    (
        "predict",
        "predict NAME/VERSION INPUT OUTPUT  (score a file of raw records; s on a version)",
    ),
    ("refresh", "reload everything from the store"),
    ("serve", "serve the Production model on the local endpoint"),
    ("unserve", "stop the local endpoint"),
    ("help", "show every key binding"),
    ("q", "quit"),
    ("quit", "quit"),
];

/// Parses `key=value` words into a training request: `key=v1,v2` sweeps; `seed`, `name`
/// and `experiment` set the run's seed, name and experiment.
pub fn train_request(kind: ModelKind, words: &[&str]) -> Result<TrainRequest, String> {
    let mut req = TrainRequest::new(kind);
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("`{w}`: expected key=value (key=v1,v2 sweeps)"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("`{w}`: expected key=value"));
        }
        match k {
            "seed" => {
                req.seed = Some(
                    v.parse()
                        .map_err(|_| format!("seed `{v}` is not a number"))?,
                )
            }
            "name" => req.name = Some(v.to_string()),
            "experiment" => req.experiment = Some(v.to_string()),
            _ if v.contains(',') => req.sweeps.push((
                k.to_string(),
                v.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            _ => req.sets.push((k.to_string(), v.to_string())),
        }
    }
    Ok(req)
}

/// The tune form's starting text for `kind`: a search space over its main params and the
/// default budget, ready to launch or edit.
pub fn tune_defaults(kind: ModelKind) -> String {
    let space = match kind {
        ModelKind::Tree => {
            "max_depth=int(2,13) min_samples_leaf=int(1,200,log) criterion=choice(gini,entropy)"
        }
        ModelKind::Logistic => "alpha=float(0.0001,10,log)",
        ModelKind::Forest => "max_depth=int(2,12) min_samples_leaf=int(1,100,log) n_trees=100",
        ModelKind::Gbt => {
            "max_depth=int(2,10) learning_rate=float(0.01,0.3,log) min_leaf_weight=float(1,80,log) n_estimators=100"
        }
    };
    format!("{space} trials=20 sampler=tpe")
}

/// Words of the tune form that are options rather than params, with what they take.
pub const TUNE_OPTIONS: &str = "trials=20 sampler=tpe|random pruner=none|median|halving \
time_budget=10m metric=roc_auc seed= max_parallel= name= experiment=";

/// Parses the tune form's words into a tune request (`cerebro tune`'s flags as words):
/// `NAME=int(LOW,HIGH[,log])`, `NAME=float(LOW,HIGH[,log])` and `NAME=choice(A,B,...)` are the
/// searched params (no spaces inside); the words of [`TUNE_OPTIONS`] set the budgets, sampler,
/// pruner, metric, seed, parallelism, name and experiment (defaults as `cerebro tune`: 20
/// trials, tpe, no pruning, roc_auc; `max_parallel` 0 means the `[train] max_parallel` of the
/// config); any other `key=value` fixes a param for every trial. Errors quote the word (and for
/// a distribution, the column in it).
pub fn tune_request(kind: ModelKind, words: &[&str]) -> Result<TuneRequest, String> {
    let mut specs: Vec<&str> = Vec::new();
    let mut req = TuneRequest::new(kind, Space::default(), 20);
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("`{w}`: expected key=value or NAME=int(a,b)"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("`{w}`: expected key=value"));
        }
        let number = |what: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{what} `{v}` is not a whole number"))
        };
        match k {
            _ if ["int(", "float(", "choice("]
                .iter()
                .any(|p| v.to_ascii_lowercase().starts_with(p)) =>
            {
                specs.push(w)
            }
            "trials" => {
                req.trials = usize::try_from(number("trials")?).unwrap_or(usize::MAX);
            }
            "sampler" => req.sampler = v.parse().map_err(|e| format!("sampler: {e}"))?,
            "pruner" => req.pruner = v.parse().map_err(|e| format!("pruner: {e}"))?,
            "time_budget" => {
                req.time_budget = Some(
                    cerebro::workflow::config::parse_duration(v)
                        .map_err(|e| format!("time_budget: {e}"))?,
                )
            }
            "metric" => req.metric = v.to_string(),
            "seed" => req.seed = Some(number("seed")?),
            "max_parallel" => {
                req.max_parallel = usize::try_from(number("max_parallel")?).unwrap_or(0);
            }
            "name" => req.name = Some(v.to_string()),
            "experiment" => req.experiment = Some(v.to_string()),
            _ => req.sets.push((k.to_string(), v.to_string())),
        }
    }
    if specs.is_empty() {
        return Err(
            "give at least one searched param, e.g. max_depth=int(2,10) or criterion=choice(gini,entropy)"
                .into(),
        );
    }
    req.space = Space::parse(&specs).map_err(|(i, e)| format!("`{}`: {e}", specs[i]))?;
    Ok(req)
}

pub fn parse(text: &str) -> Result<Command, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((&cmd, args)) = words.split_first() else {
        return Err("type a command: train, promote, rollback, archive, q".into());
    };
    let version = |s: &str| {
        s.trim_start_matches('v')
            .parse::<i64>()
            .map_err(|_| format!("`{s}` is not a version number"))
    };
    match (cmd, args) {
        ("q" | "quit" | "q!", []) => Ok(Command::Quit),
        ("refresh", []) => Ok(Command::Refresh),
        ("serve", []) => Ok(Command::Serve),
        ("unserve", []) => Ok(Command::Unserve),
        ("help", []) => Ok(Command::Help),
        ("train", [kind, rest @ ..]) => {
            let kind: ModelKind = kind.parse().map_err(|_| {
                format!(
                    "unknown model kind `{kind}` (one of {})",
                    ModelKind::NAMES.join(", ")
                )
            })?;
            train_request(kind, rest).map(Command::Train)
        }
        ("train", []) => Err(format!(
            "usage: train KIND key=value... (KIND: {})",
            ModelKind::NAMES.join(", ")
        )),
        ("promote", [name, v]) => Ok(Command::Promote {
            name: name.to_string(),
            version: version(v)?,
            to: Stage::Production,
        }),
        ("promote", [name, v, stage]) => {
            let to: Stage = stage.parse().map_err(|e: cerebro::Error| e.to_string())?;
            if !matches!(to, Stage::Staging | Stage::Production) {
                return Err("promote moves a version to staging or production".into());
            }
            Ok(Command::Promote {
                name: name.to_string(),
                version: version(v)?,
                to,
            })
        }
        ("rollback", [name]) => Ok(Command::Rollback {
            name: name.to_string(),
        }),
        ("archive", [name, v]) => Ok(Command::Archive {
            name: name.to_string(),
            version: version(v)?,
        }),
        ("predict", [model, input, output]) => {
            model
                .parse::<cerebro::batch::ModelSource>()
                .map_err(|e| e.to_string())?;
            Ok(Command::Predict {
                model: model.to_string(),
                input: input.to_string(),
                output: output.to_string(),
            })
        }
        _ => match COMMANDS.iter().find(|(c, _)| *c == cmd) {
            Some((_, usage)) => Err(format!("usage: {usage}")),
            None => Err(format!(
                "unknown command `{cmd}` (train, promote, rollback, archive, predict, serve, unserve, refresh, q)"
            )),
        },
    }
}

/// What completion may offer beyond the fixed words.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub models: Vec<String>,
    /// Versions of the model currently loaded in the Registry tab.
    pub versions: Vec<(String, i64)>,
}

/// Parameter keys accepted by a kind (defaults included), plus the run-level keys.
pub fn param_keys(kind: ModelKind) -> Vec<String> {
    let mut keys: Vec<String> = ModelParams::resolve(kind, None, &[])
        .map(|p| p.to_map().into_keys().collect())
        .unwrap_or_default();
    keys.extend(["seed", "name", "experiment"].map(String::from));
    keys
}

/// Completes the last word of `text`: one candidate replaces it (with a space or `=` after);
/// several extend it to their common prefix and are returned for display.
pub fn complete(text: &str, known: &Known) -> (String, Vec<String>) {
    let ends_with_space = text.is_empty() || text.ends_with(char::is_whitespace);
    let words: Vec<&str> = text.split_whitespace().collect();
    let (done, partial): (&[&str], &str) = if ends_with_space {
        (&words[..], "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let candidates: Vec<String> = match done {
        [] => COMMANDS.iter().map(|(c, _)| c.to_string()).collect(),
        ["train"] => ModelKind::NAMES.iter().map(|s| s.to_string()).collect(),
        ["train", kind, ..] => match kind.parse::<ModelKind>() {
            Ok(k) if !partial.contains('=') => param_keys(k)
                .into_iter()
                .map(|key| format!("{key}="))
                .collect(),
            _ => Vec::new(),
        },
        ["promote" | "rollback" | "archive"] => known.models.clone(),
        ["promote" | "archive", name] => known
            .versions
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .collect(),
        ["promote", _, _] => vec!["production".into(), "staging".into()],
        _ => Vec::new(),
    };
    let matching: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    let prefix = |word: &str| {
        let mut out: Vec<&str> = done.to_vec();
        out.push(word);
        out.join(" ")
    };
    match matching.as_slice() {
        [] => (text.to_string(), Vec::new()),
        [one] => {
            let sep = if one.ends_with('=') { "" } else { " " };
            (format!("{}{sep}", prefix(one)), Vec::new())
        }
        many => {
            let mut common = many[0].clone();
            for m in &many[1..] {
                while !m.starts_with(&common) {
                    common.pop();
                }
            }
            let text = if common.len() > partial.len() {
                prefix(&common)
            } else {
                text.to_string()
            };
            (text, matching)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tune_form_reads_spaces_options_and_fixed_params() {
        let words = [
            "max_depth=int(2,10)",
            "learning_rate=float(0.01,0.3,log)",
            "n_estimators=300",
            "trials=8",
            "trials=5",
            "sampler=random",
            "pruner=median",
            "time_budget=2m",
            "seed=7",
            "max_parallel=2",
            "metric=f1",
            "name=mine",
        ];
        let req = tune_request(ModelKind::Gbt, &words).unwrap();
        assert_eq!(
            req.space.specs(),
            vec![
                ("max_depth".to_string(), "int(2,10)".to_string()),
                (
                    "learning_rate".to_string(),
                    "float(0.01,0.3,log)".to_string()
                ),
            ]
        );
        assert_eq!(req.sets, vec![("n_estimators".into(), "300".into())]);
        assert_eq!(req.trials, 5, "the last word wins");
        assert_eq!(req.sampler.to_string(), "random");
        assert_eq!(req.pruner.to_string(), "median");
        assert_eq!(req.time_budget, Some(std::time::Duration::from_secs(120)));
        assert_eq!((req.seed, req.max_parallel), (Some(7), 2));
        assert_eq!(
            (req.metric.as_str(), req.name.as_deref()),
            ("f1", Some("mine"))
        );
        // Every kind's defaults parse.
        for kind in ModelKind::ALL {
            let text = tune_defaults(kind);
            let words: Vec<&str> = text.split_whitespace().collect();
            let req = tune_request(kind, &words).unwrap();
            assert_eq!(req.trials, 20, "{kind}");
        }
        let err = |words: &[&str]| tune_request(ModelKind::Tree, words).unwrap_err();
        assert!(err(&["max_depth=4"]).contains("at least one searched param"));
        assert!(err(&["max_depth=int(2,"]).contains("`max_depth=int(2,`: column"));
        assert!(err(&["max_depth=int(2,5)", "sampler=grid"]).contains("unknown sampler `grid`"));
        assert!(err(&["max_depth=int(2,5)", "trials=x"]).contains("trials `x`"));
        assert!(err(&["max_depth"]).contains("expected key=value"));
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse("q"), Ok(Command::Quit));
        assert_eq!(
            parse("promote characters 3"),
            Ok(Command::Promote {
                name: "characters".into(),
                version: 3,
                to: Stage::Production
            })
        );
        assert_eq!(
            parse("promote characters v2 staging"),
            Ok(Command::Promote {
                name: "characters".into(),
                version: 2,
                to: Stage::Staging
            })
        );
        let Ok(Command::Train(req)) = parse("train tree max_depth=6 min_samples_leaf=1,20 seed=3")
        else {
            panic!("train parses");
        };
        assert_eq!(req.kind, ModelKind::Tree);
        assert_eq!(req.sets, vec![("max_depth".to_string(), "6".to_string())]);
        assert_eq!(
            req.sweeps,
            vec![(
                "min_samples_leaf".to_string(),
                vec!["1".to_string(), "20".to_string()]
            )]
        );
        assert_eq!(req.seed, Some(3));
    }

    #[test]
    fn bad_commands_say_what_is_expected() {
        assert!(
            parse("train pony")
                .unwrap_err()
                .contains("unknown model kind")
        );
        assert!(
            parse("promote characters")
                .unwrap_err()
                .contains("usage: promote")
        );
        assert!(
            parse("promote characters x")
                .unwrap_err()
                .contains("not a version")
        );
        assert!(parse("fly").unwrap_err().contains("unknown command"));
        assert!(parse("train tree depth").unwrap_err().contains("key=value"));
    }

    #[test]
    fn completion_fills_commands_kinds_params_models_and_versions() {
        let known = Known {
            models: vec!["characters".into(), "churn".into()],
            versions: vec![("characters".into(), 1), ("characters".into(), 2)],
        };
        assert_eq!(complete("tr", &known).0, "train ");
        assert_eq!(complete("train fo", &known).0, "train forest ");
        assert_eq!(
            complete("train tree max_d", &known).0,
            "train tree max_depth="
        );
        let (text, many) = complete("train tree min_", &known);
        assert_eq!(text, "train tree min_samples_");
        assert_eq!(many.len(), 2);
        assert_eq!(complete("promote ch", &known).0, "promote ch");
        assert_eq!(complete("promote cha", &known).0, "promote characters ");
        let (_, versions) = complete("promote characters ", &known);
        assert_eq!(versions, vec!["1", "2"]);
        assert_eq!(
            complete("promote characters 2 st", &known).0,
            "promote characters 2 staging "
        );
        let (_, all) = complete("", &known);
        assert!(all.contains(&"promote".to_string()));
    }
}
