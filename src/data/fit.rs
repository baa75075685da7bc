//! Fitting the configured preparation steps on a loaded table (see `data::prepare` for what
//! each step learns and how rows are chosen). Kept apart from the fitted preparation itself,
//! which a model artifact holds: this half reads `config.toml` and points its errors into it.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::prepare::{
    FittedStep, Plan, Preparation, StepReport, frame_rows, learn, raw_schema, summary,
};
use super::raw::Cell;
use super::schema::Signature;
use crate::config::LoadedConfig;
use crate::data::steps::PrepareStep;
use crate::error::{Error, Result};

/// The result of fitting on a loaded table.
#[derive(Debug, Clone)]
pub struct Fit {
    pub preparation: Preparation,
    /// Per step, what it did to the whole table.
    pub reports: Vec<StepReport>,
    /// Rows no `drop_rows` step dropped.
    pub kept: Vec<bool>,
    /// The target's value after the steps, per row.
    pub target: Vec<Option<String>>,
}

impl Preparation {
    /// Checks the configured steps against the loaded table `df` and fits them, learning from
    /// the rows `fit_rows` (indices into `df`; `None`: every row, as each step sees the table).
    /// Errors point into `config.toml`: a step reading a column the data lacks, a feature
    /// missing after preparation, a `drop_rows` step or target depending on a learned statistic.
    pub fn fit(config: &LoadedConfig, df: &DataFrame, fit_rows: Option<&[u32]>) -> Result<Fit> {
        let features = super::signature(config);
        let steps = &config.config.prepare;
        check_steps(config, df, &features)?;
        let schema = raw_schema(df, &features, steps);
        let plan = Plan::layout(&schema, &features, steps);
        let mut rows = frame_rows(&plan, df)?;
        let mut fit: Vec<bool> = match fit_rows {
            None => vec![true; df.height()],
            Some(ix) => {
                let mut f = vec![false; df.height()];
                for &i in ix {
                    f[i as usize] = true;
                }
                f
            }
        };
        let mut kept = vec![true; df.height()];
        let mut fitted = Vec::with_capacity(steps.len());
        let mut reports = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let at = |e: Error| match e {
                Error::Invalid(m) => config.error_at(
                    &format!("prepare.{i}"),
                    format!("step {} ({}): {m}", i + 1, step.name()),
                    None,
                ),
                other => other,
            };
            let learned = learn(step, &plan, &rows, &fit).map_err(at)?;
            let f = FittedStep {
                config: step.clone(),
                learned,
            };
            let op = plan.compile(&f).map_err(at)?;
            let mut affected = 0;
            for (r, k) in rows.iter_mut().zip(kept.iter_mut()) {
                if !*k {
                    continue;
                }
                let (n, keep) = op.apply(r);
                affected += n;
                *k = keep;
            }
            for (f, k) in fit.iter_mut().zip(&kept) {
                *f &= *k;
            }
            reports.push(StepReport {
                step: step.name().to_string(),
                summary: summary(&f),
                affected,
            });
            fitted.push(f);
        }
        let target_slot = plan.slot(&features.target);
        let target = rows
            .iter()
            .map(|r| r[target_slot].text().map(|t| t.into_owned()))
            .collect();
        let preparation = Preparation::assemble(
            config.config.split.fit_statistics_on,
            schema,
            features,
            fitted,
        )?;
        // The numeric features must come out numeric.
        for (name, &s) in preparation
            .features
            .numeric
            .iter()
            .zip(&preparation.plan.numeric)
        {
            if rows
                .iter()
                .zip(&kept)
                .any(|(r, k)| *k && matches!(r[s], Cell::Text(_)))
            {
                return Err(config.error_at(
                    "dataset.numeric",
                    format!("numeric feature `{name}` holds text after preparation"),
                    Some("list it under `categorical`, or fix its values".into()),
                ));
            }
        }
        Ok(Fit {
            preparation,
            reports,
            kept,
            target,
        })
    }
}

/// Every step reads columns that exist when it runs; features, id and target exist after the
/// steps; no `drop_rows` step and not the target depend on a learned statistic.
fn check_steps(config: &LoadedConfig, df: &DataFrame, sig: &Signature) -> Result<()> {
    let mut available: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Columns whose values depend on a learned statistic, with the step that learned it.
    let mut learned_from: BTreeMap<String, usize> = BTreeMap::new();
    for (i, step) in config.config.prepare.iter().enumerate() {
        for input in step.inputs() {
            if !available.iter().any(|a| a == input) {
                let refs: Vec<&str> = available.iter().map(String::as_str).collect();
                let hint = crate::error::closest(input, &refs)
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("columns are: {}", available.join(", "))));
                return Err(config.error_at(
                    &format!("prepare.{i}"),
                    format!(
                        "step {} ({}) reads column `{input}`, which the data does not have",
                        i + 1,
                        step.name()
                    ),
                    hint,
                ));
            }
        }
        match step {
            PrepareStep::FillMedian { columns } | PrepareStep::GroupRare { columns, .. } => {
                for c in columns {
                    learned_from.entry(c.clone()).or_insert(i);
                }
            }
            PrepareStep::KeywordBucket { column, output, .. }
            | PrepareStep::ContainsFlag { column, output, .. }
            | PrepareStep::PresenceFlag { column, output, .. } => {
                match learned_from.get(column).copied() {
                    Some(j) => learned_from.insert(output.clone(), j),
                    None => learned_from.remove(output),
                };
            }
            PrepareStep::DropRows { column, .. } => {
                if let Some(&j) = learned_from.get(column) {
                    return Err(config.error_at(
                        &format!("prepare.{i}"),
                        format!(
                            "step {} (drop_rows) reads `{column}`, whose values depend on what step {} ({}) learns from the data; rows to drop are chosen before anything is learned",
                            i + 1,
                            j + 1,
                            config.config.prepare[j].name()
                        ),
                        Some(format!("move this step before step {}", j + 1)),
                    ));
                }
            }
            _ => {}
        }
        if let Some(o) = step.output()
            && !available.iter().any(|a| a == o)
        {
            available.push(o.to_string());
        }
    }
    if let Some(&j) = learned_from.get(&sig.target) {
        return Err(config.error_at(
            &format!("prepare.{j}"),
            format!(
                "step {} ({}) learns from the data and changes the target `{}`: labels must not depend on learned statistics",
                j + 1,
                config.config.prepare[j].name(),
                sig.target
            ),
            Some("leave the target out of this step".into()),
        ));
    }
    let refs: Vec<&str> = available.iter().map(String::as_str).collect();
    let mut wanted: Vec<(&str, &String)> = vec![("dataset.target", &sig.target)];
    if let Some(id) = &sig.id {
        wanted.push(("dataset.id", id));
    }
    wanted.extend(sig.numeric.iter().map(|n| ("dataset.numeric", n)));
    wanted.extend(sig.categorical.iter().map(|n| ("dataset.categorical", n)));
    for (key, col) in wanted {
        if !available.contains(col) {
            let hint = crate::error::closest(col, &refs)
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("columns are: {}", available.join(", ")));
            return Err(config.error_at(
                key,
                format!(
                    "`{col}` is not a column of {} (after preparation)",
                    config.dataset_path().display()
                ),
                Some(hint),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prepare::Learned;
    use crate::data::raw::{RawBatch, RawType};

    /// Every step kind, over columns with missing values.
    const CONFIG: &str = r#"
[dataset]
path = "d.csv"
id = "id"
target = "y"
positive = "Yes"
numeric = ["n", "flag_a", "flag_b"]
categorical = ["a", "c", "d", "t", "m"]

[[prepare]]
step = "strip_suffix"
columns = ["a", "y"]
suffix = " X"

[[prepare]]
step = "drop_rows"
column = "y"
missing = true

[[prepare]]
step = "fill_missing"
columns = ["a"]
value = "Unknown"

[[prepare]]
step = "fill_median"
columns = ["n"]

[[prepare]]
step = "group_rare"
columns = ["c"]
min_count = 3

[[prepare]]
step = "allowed_values"
column = "d"
values = ["p", "q"]

[[prepare]]
step = "keyword_bucket"
column = "text"
output = "t"
default = "None"
buckets = [{ label = "Doc", keywords = ["doctor"] }]

[[prepare]]
step = "contains_flag"
column = "text"
output = "flag_a"
substring = "(earth)"

[[prepare]]
step = "presence_flag"
column = "g"
output = "flag_b"

[[prepare]]
step = "map_values"
column = "m"
mapping = { "Widow" = "Widowed" }
"#;

    fn parse(source: &str) -> LoadedConfig {
        crate::config::Config::parse(
            std::path::Path::new("/tmp/x/config.toml"),
            source.to_string(),
        )
        .unwrap()
    }

    fn config() -> LoadedConfig {
        parse(CONFIG)
    }

    /// 40 rows; every column has missing values, `c` rare and frequent levels.
    fn frame() -> DataFrame {
        let n = 40;
        let opt = |i: usize, every: usize, v: String| (!i.is_multiple_of(every)).then_some(v);
        let id: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let a: Vec<Option<String>> = (0..n)
            .map(|i| opt(i, 5, ["Good X", "Bad", "Neutral X"][i % 3].to_string()))
            .collect();
        let num: Vec<Option<f64>> = (0..n).map(|i| (i % 4 != 0).then_some(i as f64)).collect();
        let c: Vec<Option<String>> = (0..n)
            .map(|i| {
                opt(
                    i,
                    7,
                    if i % 9 == 0 {
                        format!("rare{i}")
                    } else {
                        ["u", "v"][i % 2].into()
                    },
                )
            })
            .collect();
        let d: Vec<Option<String>> = (0..n)
            .map(|i| opt(i, 6, ["p", "q", "r"][i % 3].into()))
            .collect();
        let text: Vec<Option<String>> = (0..n)
            .map(|i| {
                opt(
                    i,
                    8,
                    ["Doctor Who (Earth)", "Plain", "the doctor"][i % 3].into(),
                )
            })
            .collect();
        let g: Vec<Option<String>> = (0..n)
            .map(|i| (i % 3 == 0).then(|| "yes".to_string()))
            .collect();
        let m: Vec<Option<String>> = (0..n)
            .map(|i| opt(i, 4, ["Widow", "Single"][i % 2].into()))
            .collect();
        let y: Vec<Option<String>> = (0..n)
            .map(|i| (i != 13).then(|| if i % 2 == 0 { "Yes X" } else { "No" }.to_string()))
            .collect();
        DataFrame::new(
            n,
            vec![
                Column::new("id".into(), id),
                Column::new("a".into(), a),
                Column::new("n".into(), num),
                Column::new("c".into(), c),
                Column::new("d".into(), d),
                Column::new("text".into(), text),
                Column::new("g".into(), g),
                Column::new("m".into(), m),
                Column::new("y".into(), y),
            ],
        )
        .unwrap()
    }

    #[test]
    fn every_step_scores_a_raw_record_as_its_training_row() {
        let df = frame();
        let train: Vec<u32> = (0..30).collect();
        let fit = Preparation::fit(&config(), &df, Some(&train)).unwrap();
        let p = &fit.preparation;
        // The raw schema: what the features depend on, typed as loaded; the target, the id and
        // the drop column are not inputs.
        let names: Vec<&str> = p.schema.inputs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "n", "c", "d", "text", "g", "m"]);
        assert_eq!(p.schema.inputs[1].ty, RawType::Double);
        assert_eq!(p.schema.ignored, ["y"]);
        // Learned from the training rows only: the median of `n` over rows 0..30 that have it,
        // without row 13, which the drop step removed before (21 values: the 11th).
        let present: Vec<f64> = (0..30)
            .filter(|i| i % 4 != 0 && *i != 13)
            .map(|i| i as f64)
            .collect();
        let median = present[10];
        assert_eq!(p.steps[3].learned, Learned::Medians(vec![median]));
        assert!(!fit.kept[13], "the row with a missing target is dropped");

        // The training path: the whole table through the fitted steps.
        let training = p.transform_frame(&df).unwrap();
        // The scoring path: each row as a request holds it, one record at a time, missing
        // values as nulls, the target and id absent.
        let columns: Vec<Vec<Cell>> = p
            .schema
            .inputs
            .iter()
            .map(|c| crate::data::raw::column_cells(df.column(&c.name).unwrap()).unwrap())
            .collect();
        for r in 0..df.height() {
            let batch = RawBatch {
                rows: 1,
                columns: columns.iter().map(|c| vec![c[r].clone()]).collect(),
            };
            let one = p.transform(&batch).unwrap();
            for (j, col) in one.numeric.iter().enumerate() {
                assert_eq!(
                    col[0].map(f64::to_bits),
                    training.numeric[j][r].map(f64::to_bits),
                    "row {r}, numeric {}",
                    p.features.numeric[j]
                );
            }
            for (j, col) in one.categorical.iter().enumerate() {
                assert_eq!(
                    col[0], training.categorical[j][r],
                    "row {r}, categorical {}",
                    p.features.categorical[j]
                );
            }
        }
        // What each step made of a missing or raw value, as training made it.
        let at = |name: &str, r: usize| -> Option<String> {
            let j = p
                .features
                .categorical
                .iter()
                .position(|c| c == name)
                .unwrap();
            training.categorical[j][r].clone()
        };
        assert_eq!(
            at("a", 0).as_deref(),
            Some("Unknown"),
            "fill_missing of a null"
        );
        assert_eq!(at("a", 1).as_deref(), Some("Bad"));
        assert_eq!(at("a", 2).as_deref(), Some("Neutral"), "strip_suffix");
        assert_eq!(
            training.numeric[0][0],
            Some(median),
            "fill_median of a null"
        );
        assert_eq!(at("c", 9).as_deref(), Some("Other"), "group_rare");
        assert_eq!(at("c", 0), None, "a missing level stays missing");
        assert_eq!(at("d", 2).as_deref(), Some("Other"), "allowed_values");
        assert_eq!(
            at("t", 0).as_deref(),
            Some("None"),
            "keyword_bucket of a null"
        );
        assert_eq!(at("t", 2).as_deref(), Some("Doc"));
        assert_eq!(training.numeric[1][3], Some(1.0), "contains_flag");
        assert_eq!(training.numeric[2][1], Some(0.0), "presence_flag of a null");
        assert_eq!(at("m", 1).as_deref(), Some("Single"));
        assert_eq!(at("m", 2).as_deref(), Some("Widowed"), "map_values");
        // A level never seen in training is grouped like a rare one, and the whole table's
        // statistics differ from the training split's.
        let unseen = RawBatch {
            rows: 1,
            columns: p
                .schema
                .inputs
                .iter()
                .map(|c| {
                    vec![if c.name == "c" {
                        Cell::Text("brand-new".into())
                    } else {
                        Cell::Null
                    }]
                })
                .collect(),
        };
        assert_eq!(
            p.transform(&unseen).unwrap().categorical[1][0].as_deref(),
            Some("Other")
        );
        let all = Preparation::fit(&config(), &df, None).unwrap().preparation;
        assert_ne!(all.steps[3].learned, p.steps[3].learned);
    }

    #[test]
    fn a_drop_step_reading_a_learned_column_is_refused() {
        let bad = CONFIG.to_string()
            + "\n[[prepare]]\nstep = \"drop_rows\"\ncolumn = \"c\"\nvalues = [\"Other\"]\n";
        let e = Preparation::fit(&parse(&bad), &frame(), None).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("depend on what step 5 (group_rare) learns"),
            "{m}"
        );
        assert!(m.contains("move this step before step 5"), "{m}");
    }
}
