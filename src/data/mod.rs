//! Datasets: load, profile, prepare, split, fingerprint and snapshot.
//!
//! [`prepare`] turns the configured file into a train and a test table holding exactly the
//! model's columns (id, numeric features as Float64, categorical features and target as text).
//! Their content fingerprint is the **data version**: the same file, steps and split give the
//! same id, and [`snapshot`] writes each version once as Parquet into the store, so a run's
//! exact data can be reloaded by [`load_version`] long after the source file changed.
//! [`schema`] holds the model's input contract (signature, feature table, train data), which
//! training, the registry, the stores and serving all share.

pub mod demo;
pub mod load;
pub mod prepare;
pub mod profile;
pub mod schema;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use schema::{FeatureTable, Signature, TrainData};

pub use load::Loaded;
pub use prepare::StepReport;

/// The prepared, split data of one version.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub signature: Signature,
    pub train: DataFrame,
    pub test: DataFrame,
    pub raw_rows: usize,
    pub steps: Vec<StepReport>,
    /// Rows dropped because the target was missing.
    pub dropped_missing_target: usize,
    /// Target values that differ from `dataset.positive` only by case or surrounding spaces
    /// (`Yes` for `yes`): they count as negatives, which is rarely what was meant.
    pub positive_near_misses: Vec<NearMiss>,
    /// What the user should know before training on this version (see [`warnings`]).
    pub warnings: Vec<String>,
}

/// A target value that is almost the positive class, and how many rows hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NearMiss {
    pub value: String,
    pub rows: usize,
}

/// Below this many rows of a class in the test split, test metrics are noise (one row moves
/// recall by a tenth or more).
pub const MIN_TEST_CLASS_ROWS: usize = 10;

/// A prepared, split dataset, identified by a fingerprint of its content and preparation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVersion {
    /// Content fingerprint, lowercase hex.
    pub id: String,
    pub dataset_path: String,
    pub train_rows: i64,
    pub test_rows: i64,
    pub columns: Vec<String>,
    pub config_hash: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Where the snapshot lives, relative to the store root.
    pub snapshot_dir: String,
}

/// What `cerebro data prepare` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    pub data_version: String,
    pub dataset: String,
    pub raw_rows: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    pub train_positive_rate: f64,
    pub test_positive_rate: f64,
    pub dropped_missing_target: usize,
    /// Positive and negative rows of each split.
    pub train_classes: ClassCounts,
    pub test_classes: ClassCounts,
    /// Target values that differ from `dataset.positive` only by case or spaces, with their
    /// row counts; they were counted as negatives.
    pub positive_near_misses: Vec<NearMiss>,
    pub steps: Vec<StepReport>,
    pub snapshot: String,
    pub new_version: bool,
    /// Human-readable warnings (a near-miss positive value, a test split with one class or
    /// very few rows of one); empty when all is well.
    pub warnings: Vec<String>,
}

/// Rows of each class in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub positive: usize,
    pub negative: usize,
}

impl ClassCounts {
    pub fn of(labels: &[u8]) -> ClassCounts {
        let positive = labels.iter().filter(|&&y| y == 1).count();
        ClassCounts {
            positive,
            negative: labels.len() - positive,
        }
    }
}

/// Loads the configured dataset without preparing it.
pub fn load_raw(config: &LoadedConfig) -> Result<Loaded> {
    load::load(&config.dataset_path(), &config.config.dataset)
}

/// The model signature the config describes.
pub fn signature(config: &LoadedConfig) -> Signature {
    let d = &config.config.dataset;
    Signature {
        numeric: d.numeric.clone(),
        categorical: d.categorical.clone(),
        id: d.id.clone(),
        target: d.target.clone(),
        positive: d.positive.clone(),
    }
}

/// Load, prepare and split the configured dataset; computes the data version id.
pub fn prepare(config: &LoadedConfig) -> Result<Prepared> {
    let loaded = load_raw(config)?;
    let raw_rows = loaded.df.height();
    let (df, steps) = prepare::apply(config, loaded.df.clone())?;
    let sig = signature(config);
    check_columns(config, &df, &sig)?;

    // Keep the model's columns only, typed uniformly.
    let mut cols: Vec<Column> = Vec::new();
    if let Some(id) = &sig.id {
        cols.push(df.column(id)?.cast(&DataType::String)?);
    }
    for n in &sig.numeric {
        let c = df.column(n)?;
        if c.dtype() == &DataType::String {
            return Err(config.error_at(
                "dataset.numeric",
                format!("numeric feature `{n}` holds text after preparation"),
                Some("list it under `categorical`, or fix its values".into()),
            ));
        }
        cols.push(c.cast(&DataType::Float64)?);
    }
    for n in sig.categorical.iter().chain(std::iter::once(&sig.target)) {
        cols.push(df.column(n)?.cast(&DataType::String)?);
    }
    let df = DataFrame::new(df.height(), cols)?;

    // Rows with an unknown target cannot be learned from.
    let target = prepare::strings(&df, &sig.target)?;
    let keep: Vec<bool> = target
        .iter()
        .map(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()))
        .collect();
    let dropped_missing_target = keep.iter().filter(|k| !**k).count();
    let df = df.filter(&BooleanChunked::from_slice(PlSmallStr::from("keep"), &keep))?;
    let labels = labels(&df, &sig)?;
    let positive_near_misses = near_misses(&prepare::strings(&df, &sig.target)?, &sig.positive);
    let positives = labels.iter().filter(|&&y| y == 1).count();
    if positives == 0 {
        let values = prepare::value_counts(&prepare::strings(&df, &sig.target)?);
        let seen: Vec<String> = values
            .iter()
            .take(5)
            .map(|(v, _)| format!("`{}`", v.as_deref().unwrap_or("")))
            .collect();
        return Err(config.error_at(
            "dataset.positive",
            format!(
                "the positive class `{}` never occurs in target `{}` after preparation",
                sig.positive, sig.target
            ),
            Some(match positive_near_misses.first() {
                Some(m) => format!(
                    "`{}` ({} rows) differs only by case or spaces: set `positive = \"{}\"` or fix the data",
                    m.value, m.rows, m.value
                ),
                None => format!("values seen: {}", seen.join(", ")),
            }),
        ));
    }
    if positives == labels.len() {
        return Err(config.error_at(
            "dataset.target",
            format!(
                "target `{}` has one class only (`{}` in all {} rows): a classifier needs two",
                sig.target,
                sig.positive,
                labels.len()
            ),
            None,
        ));
    }
    let split = &config.config.split;
    let (train_idx, test_idx) =
        split_indices(&labels, split.test_fraction, split.seed, split.stratify);
    let take = |idx: &[u32]| -> Result<DataFrame> {
        let ca = IdxCa::from_vec(PlSmallStr::from("idx"), idx.to_vec());
        Ok(df.take(&ca)?)
    };
    let train = take(&train_idx)?;
    let test = take(&test_idx)?;
    if train.height() == 0 || test.height() == 0 {
        return Err(config.error_at(
            "split.test_fraction",
            format!(
                "the split leaves {} train and {} test rows: too few rows for this test_fraction",
                train.height(),
                test.height()
            ),
            None,
        ));
    }
    let id = fingerprint(&sig, &train, &test)?;
    let warnings = warnings(
        &sig,
        &positive_near_misses,
        ClassCounts::of(&labels_at(&labels, &test_idx)),
    );
    Ok(Prepared {
        id,
        signature: sig,
        train,
        test,
        raw_rows,
        steps,
        dropped_missing_target,
        positive_near_misses,
        warnings,
    })
}

fn labels_at(labels: &[u8], idx: &[u32]) -> Vec<u8> {
    idx.iter().map(|&i| labels[i as usize]).collect()
}

/// Target values equal to `positive` once case and surrounding spaces are ignored, but not
/// equal to it: most rows first.
fn near_misses(target: &[Option<String>], positive: &str) -> Vec<NearMiss> {
    let norm = |s: &str| s.trim().to_lowercase();
    let want = norm(positive);
    prepare::value_counts(target)
        .into_iter()
        .filter_map(|(v, rows)| {
            let v = v?;
            (v != positive && norm(&v) == want).then_some(NearMiss { value: v, rows })
        })
        .collect()
}

/// The warnings of a prepared version: near-miss positive values, and a test split whose
/// metrics will be undefined (one class: ROC AUC needs both, as scikit-learn's `roc_auc_score`
/// says) or noisy (fewer than [`MIN_TEST_CLASS_ROWS`] rows of a class).
fn warnings(sig: &Signature, near: &[NearMiss], test: ClassCounts) -> Vec<String> {
    let mut out = Vec::new();
    for m in near {
        out.push(format!(
            "target `{}`: {} row(s) hold `{}`, which differs from the positive class `{}` only by \
             case or spaces; they count as negatives",
            sig.target, m.rows, m.value, sig.positive
        ));
    }
    for (class, n) in [
        (format!("positive (`{}`)", sig.positive), test.positive),
        ("negative".to_string(), test.negative),
    ] {
        if n == 0 {
            out.push(format!(
                "the test split has no {class} rows: ROC AUC will be undefined (null) for every \
                 run on this version, and the promotion gate refuses undefined metrics; add \
                 rows of that class or raise split.test_fraction"
            ));
        } else if n < MIN_TEST_CLASS_ROWS {
            out.push(format!(
                "the test split has only {n} {class} row(s) (fewer than {MIN_TEST_CLASS_ROWS}): \
                 test metrics will move a lot with a single row"
            ));
        }
    }
    out
}

/// Every column the config names must exist after preparation.
fn check_columns(config: &LoadedConfig, df: &DataFrame, sig: &Signature) -> Result<()> {
    let available: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let refs: Vec<&str> = available.iter().map(String::as_str).collect();
    let mut wanted: Vec<(&str, &String)> = Vec::new();
    wanted.push(("dataset.target", &sig.target));
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

/// 0/1 labels of a prepared table.
pub fn labels(df: &DataFrame, sig: &Signature) -> Result<Vec<u8>> {
    Ok(prepare::strings(df, &sig.target)?
        .iter()
        .map(|v| u8::from(v.as_deref() == Some(sig.positive.as_str())))
        .collect())
}

/// Seeded shuffle split; stratified keeps each class's share equal on both sides. Indices
/// come back sorted so tables keep the file's order.
pub fn split_indices(
    labels: &[u8],
    test_fraction: f64,
    seed: u64,
    stratify: bool,
) -> (Vec<u32>, Vec<u32>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let groups: Vec<Vec<u32>> = if stratify {
        (0..=1u8)
            .map(|c| {
                (0..labels.len() as u32)
                    .filter(|&i| labels[i as usize] == c)
                    .collect()
            })
            .collect()
    } else {
        vec![(0..labels.len() as u32).collect()]
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut g in groups {
        g.shuffle(&mut rng);
        let mut n_test = (g.len() as f64 * test_fraction).round() as usize;
        if g.len() >= 2 {
            n_test = n_test.clamp(1, g.len() - 1);
        }
        test.extend_from_slice(&g[..n_test.min(g.len())]);
        train.extend_from_slice(&g[n_test.min(g.len())..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// sha256 over the signature and every value of train then test, in order.
pub fn fingerprint(sig: &Signature, train: &DataFrame, test: &DataFrame) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"cerebro-data-v1\n");
    h.update(serde_json::to_vec(sig)?);
    for df in [train, test] {
        h.update((df.height() as u64).to_le_bytes());
        for col in df.columns() {
            h.update(col.name().as_bytes());
            h.update([0]);
            match col.dtype() {
                DataType::Float64 => {
                    for v in col.f64()?.iter() {
                        match v {
                            Some(x) => {
                                h.update([1]);
                                h.update(x.to_bits().to_le_bytes());
                            }
                            None => h.update([0]),
                        }
                    }
                }
                _ => {
                    let s = col.cast(&DataType::String)?;
                    for v in s.str()?.iter() {
                        match v {
                            Some(x) => {
                                h.update([1]);
                                h.update((x.len() as u64).to_le_bytes());
                                h.update(x.as_bytes());
                            }
                            None => h.update([0]),
                        }
                    }
                }
            }
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Folder of a version's snapshot inside the store.
pub fn snapshot_dir(store_root: &Path, id: &str) -> PathBuf {
    store_root.join("data").join(id)
}

/// Writes the version's train and test tables as Parquet, once. Returns the store record and
/// whether the snapshot was new.
pub fn snapshot(
    store_root: &Path,
    config: &LoadedConfig,
    prepared: &Prepared,
) -> Result<(DataVersion, bool)> {
    let dir = snapshot_dir(store_root, &prepared.id);
    let rel = PathBuf::from("data").join(&prepared.id);
    let created = if dir.join("test.parquet").exists() {
        false
    } else {
        let tmp =
            store_root
                .join("data")
                .join(format!(".tmp-{}-{}", prepared.id, std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        for (name, df) in [
            ("train.parquet", &prepared.train),
            ("test.parquet", &prepared.test),
        ] {
            let path = tmp.join(name);
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            ParquetWriter::new(file).finish(&mut df.clone())?;
        }
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => true,
            // Another process snapshotted the same version first: same content, keep theirs.
            Err(_) if dir.join("test.parquet").exists() => {
                let _ = std::fs::remove_dir_all(&tmp);
                false
            }
            Err(e) => return Err(Error::io(&dir, e)),
        }
    };
    let version = DataVersion {
        id: prepared.id.clone(),
        dataset_path: config.config.dataset.path.display().to_string(),
        train_rows: prepared.train.height() as i64,
        test_rows: prepared.test.height() as i64,
        columns: prepared
            .train
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        config_hash: config.hash.clone(),
        created_at: chrono::Utc::now().timestamp_millis(),
        snapshot_dir: rel.display().to_string(),
    };
    Ok((version, created))
}

/// Reloads a version's train and test tables from its snapshot.
pub fn load_version(store_root: &Path, version: &DataVersion) -> Result<(DataFrame, DataFrame)> {
    let dir = store_root.join(&version.snapshot_dir);
    let read = |name: &str| -> Result<DataFrame> {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(format!(
                    "the snapshot of data version {} is missing ({} not found)",
                    &version.id[..12.min(version.id.len())],
                    path.display()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        Ok(ParquetReader::new(file).finish()?)
    };
    Ok((read("train.parquet")?, read("test.parquet")?))
}

/// Writes a version's snapshot as `train.csv` and `test.csv` into `dir` (for other tools).
pub fn export_version(
    store_root: &Path,
    version: &DataVersion,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let (train, test) = load_version(store_root, version)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    for (name, df) in [("train.csv", train), ("test.csv", test)] {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        CsvWriter::new(file).finish(&mut df.clone())?;
        written.push(path);
    }
    Ok(written)
}

/// Feature table of a prepared frame, in signature order.
pub fn feature_table(df: &DataFrame, sig: &Signature) -> Result<FeatureTable> {
    Ok(FeatureTable {
        rows: df.height(),
        numeric: sig
            .numeric
            .iter()
            .map(|n| prepare::numbers(df, n))
            .collect::<Result<_>>()?,
        categorical: sig
            .categorical
            .iter()
            .map(|n| prepare::strings(df, n))
            .collect::<Result<_>>()?,
    })
}

/// Training input of a version's tables.
pub fn train_data(
    sig: &Signature,
    id: &str,
    train: &DataFrame,
    test: &DataFrame,
) -> Result<TrainData> {
    Ok(TrainData {
        signature: sig.clone(),
        train: feature_table(train, sig)?,
        train_y: labels(train, sig)?,
        test: feature_table(test, sig)?,
        test_y: labels(test, sig)?,
        data_version: id.to_string(),
    })
}

impl Prepared {
    pub fn train_data(&self) -> Result<TrainData> {
        train_data(&self.signature, &self.id, &self.train, &self.test)
    }

    pub fn report(
        &self,
        config: &LoadedConfig,
        snapshot: &Path,
        new_version: bool,
    ) -> Result<PrepareReport> {
        let rate = |df: &DataFrame| -> Result<f64> {
            let l = labels(df, &self.signature)?;
            Ok(l.iter().map(|&v| f64::from(v)).sum::<f64>() / l.len().max(1) as f64)
        };
        Ok(PrepareReport {
            data_version: self.id.clone(),
            dataset: config.config.dataset.path.display().to_string(),
            raw_rows: self.raw_rows,
            train_rows: self.train.height(),
            test_rows: self.test.height(),
            train_positive_rate: rate(&self.train)?,
            test_positive_rate: rate(&self.test)?,
            dropped_missing_target: self.dropped_missing_target,
            train_classes: ClassCounts::of(&labels(&self.train, &self.signature)?),
            test_classes: ClassCounts::of(&labels(&self.test, &self.signature)?),
            positive_near_misses: self.positive_near_misses.clone(),
            steps: self.steps.clone(),
            snapshot: snapshot.display().to_string(),
            new_version,
            warnings: self.warnings.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_class_shares_and_is_seeded() {
        let labels: Vec<u8> = (0..1000).map(|i| u8::from(i % 4 != 0)).collect();
        let (train, test) = split_indices(&labels, 0.2, 42, true);
        assert_eq!(train.len() + test.len(), 1000);
        assert_eq!(test.len(), 200);
        let pos = test.iter().filter(|&&i| labels[i as usize] == 1).count();
        assert_eq!(pos, 150);
        assert_eq!(
            split_indices(&labels, 0.2, 42, true),
            (train.clone(), test.clone())
        );
        assert_ne!(split_indices(&labels, 0.2, 43, true).1, test);
    }

    #[test]
    fn near_misses_of_the_positive_class_are_counted() {
        let target: Vec<Option<String>> = ["yes", "Yes", "no", " yes", "YES ", "Yes", "yess", "No"]
            .iter()
            .map(|s| Some(s.to_string()))
            .chain([None])
            .collect();
        assert_eq!(
            near_misses(&target, "yes"),
            vec![
                NearMiss {
                    value: "Yes".into(),
                    rows: 2
                },
                NearMiss {
                    value: " yes".into(),
                    rows: 1
                },
                NearMiss {
                    value: "YES ".into(),
                    rows: 1
                },
            ]
        );
        assert!(near_misses(&target, "maybe").is_empty());
    }

    #[test]
    fn a_test_split_with_one_class_or_few_rows_of_one_is_warned_about() {
        let sig = Signature {
            numeric: vec![],
            categorical: vec![],
            id: None,
            target: "churned".into(),
            positive: "yes".into(),
        };
        let none = warnings(
            &sig,
            &[],
            ClassCounts {
                positive: 0,
                negative: 10,
            },
        );
        assert_eq!(none.len(), 1, "{none:?}");
        assert!(none[0].contains("no positive (`yes`) rows"), "{none:?}");
        assert!(none[0].contains("ROC AUC will be undefined"), "{none:?}");
        let few = warnings(
            &sig,
            &[],
            ClassCounts {
                positive: 9,
                negative: 3,
            },
        );
        assert_eq!(few.len(), 2, "{few:?}");
        assert!(few[0].contains("only 9 positive"), "{few:?}");
        assert!(few[1].contains("only 3 negative"), "{few:?}");
        let fine = warnings(
            &sig,
            &[],
            ClassCounts {
                positive: 10,
                negative: 10,
            },
        );
        assert!(fine.is_empty(), "{fine:?}");
        let near = [NearMiss {
            value: "Yes".into(),
            rows: 4,
        }];
        let w = warnings(
            &sig,
            &near,
            ClassCounts {
                positive: 10,
                negative: 10,
            },
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("4 row(s) hold `Yes`"), "{w:?}");
    }
}
