//! Datasets: load, profile, prepare, split, fingerprint and snapshot.
//!
//! [`prepare()`] chooses the rows of the configured file (drop steps, missing targets), splits
//! them into train and test, and fits the preparation steps ([`prepare::Preparation`]) that turn
//! a raw row into the model's features. The content fingerprint of the raw rows of both splits
//! and of the fitted preparation is the **data version**: the same file, steps, option and
//! split give the same id, and [`snapshot`] writes each version once into the store (the raw
//! rows as Parquet, the preparation as JSON), so a run's exact data can be reloaded by
//! [`load_version`] long after the source file changed. [`raw`] holds the raw input schema and
//! the cells raw values travel in.
//! [`schema`] holds the model's input contract (signature, feature table, train data), which
//! training, the registry, the stores and serving all share.
//!
//! **Snapshots are verified on every read**, as artifacts are: beside the Parquet files a
//! `SNAPSHOT.json` records the version id and the SHA-256 of each file (the two tables and the
//! fitted preparation); [`load_version`] refuses a
//! snapshot whose files or id do not match (a file replaced by another valid Parquet file, a
//! folder restored from the wrong backup), naming the file and what to do, and checks the row
//! counts and columns against the store's record (all a snapshot written before the manifest
//! existed can be checked by). [`snapshot`] rewrites a version's snapshot that fails the check
//! or has no manifest.

pub mod demo;
pub mod fit;
pub mod load;
pub mod prepare;
pub mod profile;
pub mod raw;
pub mod schema;
pub mod steps;
pub mod stream;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{FitStatisticsOn, LoadedConfig};
use crate::error::{Error, Result};
use crate::names::short_id;
use prepare::TrainData;
use schema::{FeatureTable, Signature};

pub use load::Loaded;
pub use prepare::{Preparation, StepReport};
pub use raw::{Cell, RawBatch, RawColumn, RawSchema, RawType};

/// The prepared, split data of one version.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub signature: Signature,
    /// The fitted preparation: what turns the raw rows below (and any raw record) into features.
    pub preparation: Preparation,
    /// The raw rows of the training split: every column of the dataset file, as loaded.
    pub train: DataFrame,
    /// The raw rows of the test split.
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
    /// Where the steps learned their statistics: `train` or `all`.
    pub fit_statistics_on: String,
    /// The raw input schema: the dataset columns the model reads, with their types.
    pub inputs: Vec<RawColumn>,
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
        raw_inputs: None,
    }
}

/// Load the configured dataset, choose its rows (drop steps, missing targets), split them, fit
/// the preparation (on the training split or the whole table, `[split] fit_statistics_on`) and
/// compute the data version id.
pub fn prepare(config: &LoadedConfig) -> Result<Prepared> {
    let loaded = load_raw(config)?;
    let df = loaded.df;
    let raw_rows = df.height();
    let sig = signature(config);
    // Rows are chosen on the whole table: drop steps and the target never depend on what the
    // steps learn (the fit refuses such configs), so this choice is the same in both modes.
    let whole = Preparation::fit(config, &df, None)?;
    let mut rows: Vec<u32> = Vec::new();
    let mut labels: Vec<u8> = Vec::new();
    let mut dropped_missing_target = 0;
    let mut targets: Vec<Option<String>> = Vec::new();
    for (i, (kept, target)) in whole.kept.iter().zip(&whole.target).enumerate() {
        if !kept {
            continue;
        }
        match target {
            Some(t) if !t.trim().is_empty() => {
                rows.push(i as u32);
                labels.push(u8::from(*t == sig.positive));
                targets.push(Some(t.clone()));
            }
            _ => dropped_missing_target += 1,
        }
    }
    let positive_near_misses = near_misses(&targets, &sig.positive);
    let positives = labels.iter().filter(|&&y| y == 1).count();
    if positives == 0 {
        let values = prepare::value_counts(&targets);
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
    let (train_pos, test_pos) =
        split_indices(&labels, split.test_fraction, split.seed, split.stratify);
    let train_idx: Vec<u32> = train_pos.iter().map(|&p| rows[p as usize]).collect();
    let test_idx: Vec<u32> = test_pos.iter().map(|&p| rows[p as usize]).collect();
    if train_idx.is_empty() || test_idx.is_empty() {
        return Err(config.error_at(
            "split.test_fraction",
            format!(
                "the split leaves {} train and {} test rows: too few rows for this test_fraction",
                train_idx.len(),
                test_idx.len()
            ),
            None,
        ));
    }
    let fit = match split.fit_statistics_on {
        FitStatisticsOn::All => whole,
        FitStatisticsOn::Train => Preparation::fit(config, &df, Some(&train_idx))?,
    };
    let take = |idx: &[u32]| -> Result<DataFrame> {
        let ca = IdxCa::from_vec(PlSmallStr::from("idx"), idx.to_vec());
        Ok(df.take(&ca)?)
    };
    let train = take(&train_idx)?;
    let test = take(&test_idx)?;
    let id = fingerprint(&sig, &fit.preparation, &train, &test)?;
    let warnings = warnings(
        &sig,
        &positive_near_misses,
        ClassCounts::of(&labels_at(&labels, &test_pos)),
    );
    Ok(Prepared {
        id,
        signature: sig,
        preparation: fit.preparation,
        train,
        test,
        raw_rows,
        steps: fit.reports,
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

/// sha256 over the signature, the fitted preparation (its steps, what they learned and where:
/// `fit_statistics_on`) and every raw value of train then test, in order.
pub fn fingerprint(
    sig: &Signature,
    preparation: &Preparation,
    train: &DataFrame,
    test: &DataFrame,
) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"cerebro-data-v2\n");
    h.update(serde_json::to_vec(sig)?);
    h.update(serde_json::to_vec(preparation)?);
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

/// Folder of a version's snapshot inside the store. `id` is a lowercase hex digest; anything
/// else cannot name a snapshot folder.
pub fn snapshot_dir(store_root: &Path, id: &str) -> PathBuf {
    store_root.join("data").join(id)
}

/// The file of a snapshot holding the fitted preparation. Snapshots written before preparation
/// was fitted lack it: their tables hold the prepared columns instead of the raw ones.
pub const PREPARATION_FILE: &str = "preparation.json";

/// The snapshot's manifest file, beside its Parquet files.
pub const SNAPSHOT_MANIFEST: &str = "SNAPSHOT.json";

/// The files a snapshot holds, each recorded in its manifest by digest.
const SNAPSHOT_FILES: [&str; 3] = ["train.parquet", "test.parquet", PREPARATION_FILE];

/// What a snapshot holds: its data version and each file's `sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotManifest {
    data_version: String,
    files: std::collections::BTreeMap<String, String>,
}

fn file_digest(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// Why the snapshot in `dir` does not hold version `id` (`Ok(None)`: it does, or it predates
/// manifests and has none).
fn snapshot_mismatch(dir: &Path, id: &str) -> Result<Option<String>> {
    let manifest_path = dir.join(SNAPSHOT_MANIFEST);
    let text = match std::fs::read_to_string(&manifest_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&manifest_path, e)),
    };
    let manifest: SnapshotManifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Some(format!(
                "{} does not parse: {e}",
                manifest_path.display()
            )));
        }
    };
    if manifest.data_version != id {
        return Ok(Some(format!(
            "{} belongs to data version {}, not {}",
            manifest_path.display(),
            short_id(&manifest.data_version),
            short_id(id)
        )));
    }
    for name in SNAPSHOT_FILES {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(Some(format!("{} is missing", path.display())));
        }
        let recorded = manifest
            .files
            .get(name)
            .map(String::as_str)
            .unwrap_or("none");
        let actual = file_digest(&path)?;
        if actual != recorded {
            return Ok(Some(format!(
                "{} has {actual}, but the snapshot recorded {recorded}: it was changed or replaced",
                path.display()
            )));
        }
    }
    Ok(None)
}

/// Writes the version's raw train and test rows as Parquet, its fitted preparation as JSON and
/// their manifest, once (again when an existing snapshot fails its check or has no manifest).
/// Returns the store record and whether the snapshot was written.
pub fn snapshot(
    store_root: &Path,
    config: &LoadedConfig,
    prepared: &Prepared,
) -> Result<(DataVersion, bool)> {
    let dir = crate::paths::child(&store_root.join("data"), &prepared.id, "data version")?;
    let rel = PathBuf::from("data").join(&prepared.id);
    // A snapshot from before manifests is rewritten too: same content, now with its manifest.
    let intact = dir.join(PREPARATION_FILE).exists()
        && dir.join(SNAPSHOT_MANIFEST).exists()
        && match snapshot_mismatch(&dir, &prepared.id)? {
            None => true,
            Some(why) => {
                tracing::warn!(version = %prepared.id, "snapshot does not match, rewritten: {why}");
                false
            }
        };
    let created = if intact {
        false
    } else {
        let tmp =
            store_root
                .join("data")
                .join(format!(".tmp-{}-{}", prepared.id, std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut manifest = SnapshotManifest {
            data_version: prepared.id.clone(),
            files: Default::default(),
        };
        for (name, df) in [
            ("train.parquet", &prepared.train),
            ("test.parquet", &prepared.test),
        ] {
            let path = tmp.join(name);
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            ParquetWriter::new(file).finish(&mut df.clone())?;
            manifest.files.insert(name.to_string(), file_digest(&path)?);
        }
        let path = tmp.join(PREPARATION_FILE);
        std::fs::write(&path, serde_json::to_vec_pretty(&prepared.preparation)?)
            .map_err(|e| Error::io(&path, e))?;
        manifest
            .files
            .insert(PREPARATION_FILE.to_string(), file_digest(&path)?);
        let manifest_path = tmp.join(SNAPSHOT_MANIFEST);
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)
            .map_err(|e| Error::io(&manifest_path, e))?;
        if dir.exists() && !intact {
            // A damaged snapshot of this version: the freshly written one replaces it.
            let _ = std::fs::remove_dir_all(&dir);
        }
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => true,
            // Another process snapshotted the same version first: same content, keep theirs.
            Err(_) if dir.join(PREPARATION_FILE).exists() => {
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

/// A data version's tables as snapshotted.
#[derive(Debug, Clone)]
pub struct VersionData {
    pub train: DataFrame,
    pub test: DataFrame,
    /// The fitted preparation; `None` for a snapshot from before preparation was fitted, whose
    /// tables hold the prepared columns.
    pub preparation: Option<Preparation>,
}

impl VersionData {
    /// The preparation that turns these tables into `sig`'s features: the fitted one, or for an
    /// older snapshot the identity (its tables are prepared already).
    pub fn preparation_for(&self, sig: &Signature) -> Preparation {
        self.preparation
            .clone()
            .unwrap_or_else(|| Preparation::identity(sig))
    }

    /// 0/1 labels of one of the tables.
    pub fn labels(&self, df: &DataFrame, sig: &Signature) -> Result<Vec<u8>> {
        match &self.preparation {
            Some(p) => p.labels_frame(df),
            None => labels(df, sig),
        }
    }

    /// Training input of the version, through its preparation.
    pub fn train_data(&self, sig: &Signature, id: &str) -> Result<TrainData> {
        let preparation = self.preparation_for(sig);
        Ok(TrainData {
            signature: sig.clone(),
            train: preparation.transform_frame(&self.train)?,
            train_y: self.labels(&self.train, sig)?,
            test: preparation.transform_frame(&self.test)?,
            test_y: self.labels(&self.test, sig)?,
            data_version: id.to_string(),
            preparation,
        })
    }

    /// The prepared table of `df` (id, features, target after the steps), to show or export.
    pub fn prepared_frame(&self, df: &DataFrame) -> Result<DataFrame> {
        match &self.preparation {
            Some(p) => p.prepared_frame(df),
            None => Ok(df.clone()),
        }
    }
}

/// Reloads a version's tables (and fitted preparation) from its snapshot, verified first (see the module
/// doc).
///
/// Errors: the snapshot is missing, or does not match the version (naming the file, what is
/// wrong and how to rebuild it).
pub fn load_version(store_root: &Path, version: &DataVersion) -> Result<VersionData> {
    let dir = crate::paths::join_under(
        store_root,
        Path::new(&version.snapshot_dir),
        "snapshot folder",
    )?;
    let fix = || {
        format!(
            "restore the folder from a backup, or run `cerebro data prepare` on the data and config that made version {} (the same data gives the same version, and its snapshot is rewritten)",
            short_id(&version.id)
        )
    };
    if let Some(why) = snapshot_mismatch(&dir, &version.id)? {
        return Err(Error::invalid(format!(
            "the snapshot of data version {} does not match it: {why}; {}",
            short_id(&version.id),
            fix()
        )));
    }
    let read = |name: &str| -> Result<DataFrame> {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(format!(
                    "the snapshot of data version {} is missing ({} not found); {}",
                    short_id(&version.id),
                    path.display(),
                    fix()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        let df = ParquetReader::new(file).finish().map_err(|e| {
            Error::invalid(format!(
                "the snapshot file {} of data version {} cannot be read ({e}); {}",
                path.display(),
                short_id(&version.id),
                fix()
            ))
        })?;
        Ok(df)
    };
    let (train, test) = (read("train.parquet")?, read("test.parquet")?);
    // The store's record: what any snapshot, with a manifest or from before them, must hold.
    for (name, df, rows) in [
        ("train.parquet", &train, version.train_rows),
        ("test.parquet", &test, version.test_rows),
    ] {
        let columns: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if df.height() as i64 != rows || (!version.columns.is_empty() && columns != version.columns)
        {
            return Err(Error::invalid(format!(
                "the snapshot file {} does not match data version {}: {} rows and columns {columns:?}, the version has {rows} rows and columns {:?}; {}",
                dir.join(name).display(),
                short_id(&version.id),
                df.height(),
                version.columns,
                fix()
            )));
        }
    }
    let path = dir.join(PREPARATION_FILE);
    let preparation = match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
            Error::data_at(
                &path,
                e.line(),
                Some(e.column()),
                format!("not a fitted preparation: {e}"),
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&path, e)),
    };
    Ok(VersionData {
        train,
        test,
        preparation,
    })
}

/// Writes a version's prepared tables as `train.csv` and `test.csv` into `dir` (for other
/// tools), and for a fitted snapshot its raw rows as `raw_train.csv`, `raw_test.csv` and the
/// preparation as `preparation.json`.
pub fn export_version(
    store_root: &Path,
    version: &DataVersion,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let data = load_version(store_root, version)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let mut tables = vec![
        ("train.csv", data.prepared_frame(&data.train)?),
        ("test.csv", data.prepared_frame(&data.test)?),
    ];
    if let Some(p) = &data.preparation {
        tables.push(("raw_train.csv", data.train.clone()));
        tables.push(("raw_test.csv", data.test.clone()));
        let path = dir.join(PREPARATION_FILE);
        std::fs::write(&path, serde_json::to_vec_pretty(p)?).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    for (name, mut df) in tables {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        CsvWriter::new(file).finish(&mut df)?;
        written.push(path);
    }
    Ok(written)
}

/// Feature table of a prepared frame (an older snapshot's), in signature order.
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

impl Prepared {
    /// Training input: the raw rows of both splits through the fitted preparation.
    pub fn train_data(&self) -> Result<TrainData> {
        VersionData {
            train: self.train.clone(),
            test: self.test.clone(),
            preparation: Some(self.preparation.clone()),
        }
        .train_data(&self.signature, &self.id)
    }

    /// The prepared training table (id, features, target after the steps), to show.
    pub fn prepared_train(&self) -> Result<DataFrame> {
        self.preparation.prepared_frame(&self.train)
    }

    pub fn report(
        &self,
        config: &LoadedConfig,
        snapshot: &Path,
        new_version: bool,
    ) -> Result<PrepareReport> {
        let rate = |df: &DataFrame| -> Result<f64> {
            let l = self.preparation.labels_frame(df)?;
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
            train_classes: ClassCounts::of(&self.preparation.labels_frame(&self.train)?),
            test_classes: ClassCounts::of(&self.preparation.labels_frame(&self.test)?),
            positive_near_misses: self.positive_near_misses.clone(),
            fit_statistics_on: self.preparation.fit_statistics_on.as_str().to_string(),
            inputs: self.preparation.schema.inputs.clone(),
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
}
