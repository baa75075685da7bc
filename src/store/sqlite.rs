//! The embedded [`TrackingStore`]: one SQLite database (`<root>/cerebro.db`) in WAL mode, so a
//! training process can log while any number of readers (the TUI, `cerebro runs`) look on, next
//! to the content-addressed artifact folder (`<root>/artifacts`).
//!
//! Every write that touches more than one row runs in one `BEGIN IMMEDIATE` transaction: a
//! process that dies mid-call leaves the store as it was before the call, and taking the write
//! lock up front lets SQLite's busy timeout queue concurrent writers instead of failing them.
//! Multi-statement reads run in one read transaction so they see a single snapshot.
//!
//! Listing stays fast on large stores because the latest value of every metric is kept in its
//! own table (`latest_metrics`) as points are logged, and params and metrics for a page of runs
//! are fetched with one query each rather than one per run.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Type, ValueRef};
use rusqlite::{
    Connection, OptionalExtension, Row, ToSql, Transaction, TransactionBehavior, params,
};

use super::{
    Artifact, ArtifactStore, DataVersionSummary, Environment, Experiment, MIN_PREFIX_LEN,
    MetricPoint, NewRun, RunDetail, RunFilter, RunStatus, RunSummary, TrackingStore, host_name,
    migrations, new_run_id, open, pid_alive,
};
use crate::clock::now_ms;
use crate::data::DataVersion;
use crate::error::{Error, Result};
use open::Access;

/// File name of the database inside the store root.
const DB_FILE: &str = "cerebro.db";

/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL pages (4 KiB each) between automatic checkpoints: 16 MiB.
const WAL_CHECKPOINT_PAGES: i64 = 4096;

/// Size the WAL file is truncated back to after a checkpoint, in bytes.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Rows per multi-row `INSERT` in `log_metrics`. Executing a statement has a fixed cost that,
/// paid once per point, would dominate bulk logging; 100 rows per execution more than halves the
/// time of a 100,000-point load.
const METRIC_CHUNK_ROWS: usize = 100;

/// Inserts [`METRIC_CHUNK_ROWS`] metric points; see [`metric_insert_sql`].
static METRIC_CHUNK_INSERT: LazyLock<String> =
    LazyLock::new(|| metric_insert_sql(METRIC_CHUNK_ROWS));

/// Inserts one metric point, for the tail of a batch that does not fill a chunk.
static METRIC_ROW_INSERT: LazyLock<String> = LazyLock::new(|| metric_insert_sql(1));

/// The columns [`summary_from_row`] expects, in order; `r` is `runs`, `e` is `experiments`.
const SUMMARY_COLUMNS: &str = "r.run_id, e.name, r.name, r.model_kind, r.status, r.start_time, \
                               r.end_time, r.data_version";

/// The SQLite tracking store. See the module documentation.
#[derive(Debug)]
pub struct SqliteStore {
    pub(super) conn: Connection,
    root: PathBuf,
    db_path: PathBuf,
    artifacts: ArtifactStore,
    /// This machine's name, to tell which RUNNING runs can be checked by pid.
    host: String,
    access: Access,
}

impl SqliteStore {
    /// Opens the store at `root` (e.g. `<workspace>/.cerebro`), creating the folder, the artifact
    /// folder and the database as needed and migrating the schema to the current version.
    ///
    /// A store that cannot be written (a read-only file, folder or mount) is opened read-only:
    /// every read works, every write fails naming the file (`store::open`). A zero-length
    /// database is refused, not taken for a new store.
    pub fn open(root: &Path) -> Result<SqliteStore> {
        let db_path = root.join(DB_FILE);
        fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let artifacts = ArtifactStore::open(root)?;
        open::create_if_missing(&db_path)?;
        let (mut conn, access) = open::connect(&db_path)?;
        let setup = |conn: &mut Connection| -> Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(64);
            super::query::register_sql_functions(conn)?;
            if access == Access::ReadOnly {
                return Ok(());
            }
            // WAL lets readers proceed while a run is logging. Some file systems cannot do WAL;
            // SQLite then keeps its rollback journal, which is slower but still correct, so the
            // answer is not checked.
            let _mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            // In WAL mode NORMAL still never corrupts the database; a power cut may only lose
            // the last transactions, which is the right trade for metric logging.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Checkpoints (copying the WAL back into the database, with an fsync) cost as much
            // as the logging itself when they come every 4 MB, SQLite's default; every 16 MB
            // they cost about a third as much. The size limit truncates the WAL file after a
            // checkpoint.
            conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
            conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
            Ok(())
        };
        setup(&mut conn).map_err(|e| match e {
            Error::Store(e) => open::open_error(&db_path, &e),
            e => e,
        })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        match access {
            Access::ReadWrite => migrations::migrate(&mut conn, &db_path)?,
            Access::ReadOnly => migrations::check_current(&conn, &db_path)?,
        }
        Ok(SqliteStore {
            conn,
            root: root.to_path_buf(),
            db_path,
            artifacts,
            host: host_name(),
            access,
        })
    }

    /// Whether this store can be written (see [`SqliteStore::open`]).
    pub fn access(&self) -> Access {
        self.access
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The store folder; artifact and snapshot paths are relative to it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content-addressed artifact folder of this store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// Runs SQLite's full consistency check; returns `"ok"` for a healthy database, otherwise the
    /// problems found, one per line.
    pub fn integrity_check(&self) -> Result<String> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(lines.join("\n"))
    }

    /// A write transaction holding the write lock from the start.
    pub(super) fn write_tx(&mut self) -> Result<Transaction<'_>> {
        if self.access == Access::ReadOnly {
            return Err(open::read_only_error(&self.db_path));
        }
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::DiskFull) => {
                    open::open_error(&self.db_path, &e)
                }
                _ => Error::Store(e),
            })
    }

    /// A read transaction, so that several queries see one snapshot. Reads take `&self`, hence
    /// the unchecked variant; no other transaction can be open on this connection meanwhile,
    /// because writes hold `&mut self` for their whole transaction.
    pub(super) fn read_tx(&self) -> Result<Transaction<'_>> {
        Ok(self.conn.unchecked_transaction()?)
    }
}

impl TrackingStore for SqliteStore {
    fn get_or_create_experiment(&mut self, name: &str) -> Result<i64> {
        let tx = self.write_tx()?;
        let id = ensure_experiment(&tx, name)?;
        tx.commit()?;
        Ok(id)
    }

    fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.experiment_id, e.name, e.created_at,
                    (SELECT count(*) FROM runs r WHERE r.experiment_id = e.experiment_id)
             FROM experiments e
             ORDER BY e.experiment_id",
        )?;
        let experiments = stmt
            .query_map([], |row| {
                Ok(Experiment {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    created_at: row.get(2)?,
                    run_count: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(experiments)
    }

    fn create_run(&mut self, new: &NewRun) -> Result<String> {
        let environment = serde_json::to_string(&new.environment)?;
        // The run is created by this process, so an unset host can only mean this machine.
        let host = match new.environment.host.trim() {
            "" => self.host.clone(),
            host => host.to_string(),
        };
        let run_id = new_run_id();
        let now = now_ms();

        let tx = self.write_tx()?;
        let experiment_id = ensure_experiment(&tx, &new.experiment)?;
        tx.prepare_cached(
            "INSERT INTO runs (run_id, experiment_id, name, model_kind, status, start_time,
                               pid, host, last_heartbeat, data_version, source, environment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6, ?9, ?10, ?11)",
        )?
        .execute(params![
            run_id,
            experiment_id,
            new.name,
            new.model_kind,
            RunStatus::Running,
            now,
            i64::from(new.pid),
            host,
            new.data_version,
            new.source,
            environment,
        ])?;
        insert_params(&tx, &run_id, &new.params)?;
        upsert_tags(&tx, &run_id, &new.tags)?;
        tx.commit()?;
        Ok(run_id)
    }

    fn heartbeat(&mut self, run_id: &str) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE runs SET last_heartbeat = ?2 WHERE run_id = ?1 AND status = 'RUNNING'",
            )?
            .execute(params![run_id, now_ms()])?;
        if changed == 0 {
            let status = run_status(&self.conn, run_id)?;
            return Err(Error::invalid(format!(
                "run {run_id} is {status}, not RUNNING; it no longer takes heartbeats"
            )));
        }
        Ok(())
    }

    fn log_params(&mut self, run_id: &str, params: &BTreeMap<String, String>) -> Result<()> {
        let tx = self.write_tx()?;
        run_status(&tx, run_id)?;
        insert_params(&tx, run_id, params)?;
        tx.commit()?;
        Ok(())
    }

    fn set_tags(&mut self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        let tx = self.write_tx()?;
        run_status(&tx, run_id)?;
        upsert_tags(&tx, run_id, tags)?;
        tx.commit()?;
        Ok(())
    }

    fn log_metrics(&mut self, run_id: &str, points: &[MetricPoint]) -> Result<()> {
        if let Some(bad) = points.iter().find(|p| p.key.trim().is_empty()) {
            return Err(Error::invalid(format!(
                "metric key must not be empty (value {} at step {})",
                bad.value, bad.step
            )));
        }
        let tx = self.write_tx()?;
        // One existence check per batch stands in for a per-row foreign key on `metrics`.
        run_status(&tx, run_id)?;
        if points.is_empty() {
            return Ok(());
        }

        // Points get consecutive `seq` numbers, reserved with one statement for the whole batch.
        let count = i64::try_from(points.len()).expect("a slice length fits in i64");
        let first_seq: i64 = tx
            .prepare_cached(
                "UPDATE metric_seq SET next = next + ?1 WHERE id = 0 RETURNING next - ?1",
            )?
            .query_row([count], |row| row.get(0))?;
        {
            let mut chunk_insert = tx.prepare_cached(&METRIC_CHUNK_INSERT)?;
            let mut row_insert = tx.prepare_cached(&METRIC_ROW_INSERT)?;
            // The run id (?1) is the same for every row: bind it once; SQLite keeps bindings
            // across executions.
            chunk_insert.raw_bind_parameter(1, run_id)?;
            row_insert.raw_bind_parameter(1, run_id)?;
            let mut seq = first_seq;
            let mut chunks = points.chunks_exact(METRIC_CHUNK_ROWS);
            for chunk in &mut chunks {
                for (row, point) in chunk.iter().enumerate() {
                    bind_metric_row(&mut chunk_insert, row, point, seq)?;
                    seq += 1;
                }
                chunk_insert.raw_execute()?;
            }
            for point in chunks.remainder() {
                bind_metric_row(&mut row_insert, 0, point, seq)?;
                seq += 1;
                row_insert.raw_execute()?;
            }
        }

        // The newest point per key in this batch; ties go to the later point, as they would had
        // the points been logged one by one.
        let mut latest: HashMap<&str, &MetricPoint> = HashMap::new();
        for point in points {
            latest
                .entry(point.key.as_str())
                .and_modify(|cur| {
                    if (point.step, point.timestamp) >= (cur.step, cur.timestamp) {
                        *cur = point;
                    }
                })
                .or_insert(point);
        }
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO latest_metrics (run_id, key, value, step, timestamp)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_id, key) DO UPDATE
                 SET value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
                 WHERE excluded.step > latest_metrics.step
                    OR (excluded.step = latest_metrics.step
                        AND excluded.timestamp >= latest_metrics.timestamp)",
            )?;
            for point in latest.values() {
                upsert.execute(params![
                    run_id,
                    point.key,
                    storable(point.value),
                    point.step,
                    point.timestamp
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn log_artifact(&mut self, run_id: &str, artifact: &Artifact) -> Result<()> {
        if artifact.name.trim().is_empty() {
            return Err(Error::invalid("artifact name must not be empty"));
        }
        let size = i64::try_from(artifact.size).map_err(|_| {
            Error::invalid(format!(
                "artifact {} is too large to record ({} bytes)",
                artifact.name, artifact.size
            ))
        })?;
        let tx = self.write_tx()?;
        run_status(&tx, run_id)?;
        tx.prepare_cached(
            "INSERT INTO artifacts (run_id, name, digest, size, path) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (run_id, name) DO UPDATE
             SET digest = excluded.digest, size = excluded.size, path = excluded.path",
        )?
        .execute(params![
            run_id,
            artifact.name,
            artifact.digest,
            size,
            artifact.path
        ])?;
        tx.commit()?;
        Ok(())
    }

    fn finish_run(&mut self, run_id: &str, status: RunStatus, error: Option<&str>) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::invalid(format!(
                "cannot finish run {run_id} with status RUNNING; use FINISHED, FAILED or KILLED"
            )));
        }
        // The status guard makes check-and-set one atomic statement; max() keeps the duration
        // non-negative if the clock stepped back.
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, end_time = max(?3, start_time), error = ?4
                 WHERE run_id = ?1 AND status = 'RUNNING'",
            )?
            .execute(params![run_id, status, now_ms(), error])?;
        if changed == 0 {
            let current = run_status(&self.conn, run_id)?;
            return Err(Error::invalid(format!(
                "run {run_id} is already {current}; only a RUNNING run can be finished"
            )));
        }
        Ok(())
    }

    fn get_run(&self, id_or_prefix: &str) -> Result<RunDetail> {
        let tx = self.read_tx()?;
        let run_id = resolve_id(&tx, IdKind::Run, id_or_prefix)?;
        let (mut summary, rest) = tx
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, r.environment, r.error, r.pid, r.host,
                        r.last_heartbeat, r.source
                 FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
                 WHERE r.run_id = ?1"
            ))?
            .query_row([&run_id], |row| {
                let summary = summary_from_row(row)?;
                let rest: (
                    String,
                    Option<String>,
                    Option<i64>,
                    String,
                    Option<i64>,
                    Option<String>,
                ) = (
                    row.get(8)?,
                    row.get(9)?,
                    row.get(10)?,
                    row.get(11)?,
                    row.get(12)?,
                    row.get(13)?,
                );
                Ok((summary, rest))
            })?;
        let (environment, error, pid, host, last_heartbeat, source) = rest;
        let environment: Environment = serde_json::from_str(&environment)?;

        summary.metrics = tx
            .prepare_cached("SELECT key, value FROM latest_metrics WHERE run_id = ?1")?
            .query_map([&run_id], |row| Ok((row.get(0)?, loaded(row.get(1)?))))?
            .collect::<rusqlite::Result<_>>()?;
        summary.params = key_values(&tx, "params", &run_id)?;
        let tags = key_values(&tx, "tags", &run_id)?;
        let artifacts = tx
            .prepare_cached(
                "SELECT name, digest, size, path FROM artifacts WHERE run_id = ?1 ORDER BY name",
            )?
            .query_map([&run_id], |row| {
                Ok(Artifact {
                    name: row.get(0)?,
                    digest: row.get(1)?,
                    size: u64::try_from(row.get::<_, i64>(2)?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(2, Type::Integer, Box::new(e))
                    })?,
                    path: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        Ok(RunDetail {
            summary,
            tags,
            environment,
            artifacts,
            error,
            pid: pid.and_then(|p| u32::try_from(p).ok()),
            host,
            last_heartbeat,
            source,
        })
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let (query, order) = filter.parsed()?;
        let tx = self.read_tx()?;
        let experiment_id = match &filter.experiment {
            Some(name) => Some(
                tx.prepare_cached("SELECT experiment_id FROM experiments WHERE name = ?1")?
                    .query_row([name], |row| row.get::<_, i64>(0))
                    .optional()?
                    .ok_or_else(|| Error::not_found("experiment", name.as_str()))?,
            ),
            None => None,
        };
        // A negative LIMIT means none in SQLite.
        let limit = filter
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));

        // Only the conditions in use appear in the SQL, so SQLite can pick the matching index;
        // the few variants each get a cached statement. A filter expression is compiled to SQL
        // (store::query), its values bound positionally after the named ones.
        let mut conditions = Vec::new();
        let mut args: Vec<(String, Box<dyn ToSql>)> = vec![(":limit".into(), Box::new(limit))];
        if let Some(id) = experiment_id {
            conditions.push("r.experiment_id = :experiment".to_string());
            args.push((":experiment".into(), Box::new(id)));
        }
        if let Some(status) = filter.status {
            conditions.push("r.status = :status".to_string());
            args.push((":status".into(), Box::new(status)));
        }
        if let Some(q) = &query {
            let (sql, values) = q.to_sql();
            let mut sql = sql;
            // Name every placeholder so it can sit beside the named ones.
            let mut named = String::with_capacity(sql.len() + 8 * values.len());
            for (n, part) in sql.split('?').enumerate() {
                if n > 0 {
                    let _ = write!(named, ":q{n}");
                }
                named.push_str(part);
            }
            sql = named;
            conditions.push(sql);
            for (i, v) in values.into_iter().enumerate() {
                let boxed: Box<dyn ToSql> = match v {
                    super::query::SqlValue::Text(t) => Box::new(t),
                    super::query::SqlValue::Real(x) => Box::new(x),
                    super::query::SqlValue::Integer(x) => Box::new(x),
                };
                args.push((format!(":q{}", i + 1), boxed));
            }
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order_clause = match &order {
            None => "r.start_time DESC, r.rowid DESC".to_string(),
            Some(o) => order_sql(o, &mut args),
        };
        let named: Vec<(&str, &dyn ToSql)> =
            args.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
        let mut runs = tx
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}
                 FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
                 {where_clause}
                 ORDER BY {order_clause}
                 LIMIT :limit"
            ))?
            .query_map(named.as_slice(), summary_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if runs.is_empty() {
            return Ok(runs);
        }

        // Metrics and params of the whole page in one query each. The page's ids go in as a JSON
        // array; json_each's `key` is each id's position, i.e. the index into `runs`, so rows
        // come back already addressed to their run.
        let ids = serde_json::to_string(&runs.iter().map(|r| &r.run_id).collect::<Vec<_>>())?;
        {
            let mut stmt = tx.prepare_cached(
                "SELECT page.key, m.key, m.value
                 FROM json_each(?1) AS page JOIN latest_metrics m ON m.run_id = page.value",
            )?;
            let mut rows = stmt.query([&ids])?;
            while let Some(row) = rows.next()? {
                if let Some(run) = runs.get_mut(page_index(row)?) {
                    run.metrics.insert(row.get(1)?, loaded(row.get(2)?));
                }
            }
        }
        {
            let mut stmt = tx.prepare_cached(
                "SELECT page.key, p.key, p.value
                 FROM json_each(?1) AS page JOIN params p ON p.run_id = page.value",
            )?;
            let mut rows = stmt.query([&ids])?;
            while let Some(row) = rows.next()? {
                if let Some(run) = runs.get_mut(page_index(row)?) {
                    run.params.insert(row.get(1)?, row.get(2)?);
                }
            }
        }
        {
            let mut stmt = tx.prepare_cached(
                "SELECT page.key, t.key, t.value
                 FROM json_each(?1) AS page JOIN tags t ON t.run_id = page.value",
            )?;
            let mut rows = stmt.query([&ids])?;
            while let Some(row) = rows.next()? {
                if let Some(run) = runs.get_mut(page_index(row)?) {
                    run.tags.insert(row.get(1)?, row.get(2)?);
                }
            }
        }
        if let Some(o) = &order {
            // SQL ordered the page; the same comparison in Rust settles text ties exactly as the
            // in-memory path does (numbers before text, by value).
            o.sort(&mut runs);
        }
        Ok(runs)
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        let tx = self.read_tx()?;
        run_status(&tx, run_id)?;
        let points = tx
            .prepare_cached(
                "SELECT value, step, timestamp FROM metrics
                 WHERE run_id = ?1 AND key = ?2
                 ORDER BY step, timestamp, seq",
            )?
            .query_map([run_id, key], |row| {
                Ok(MetricPoint {
                    key: key.to_string(),
                    value: loaded(row.get(0)?),
                    step: row.get(1)?,
                    timestamp: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(points)
    }

    fn record_data_version(&mut self, dv: &DataVersion) -> Result<bool> {
        if self.access == Access::ReadOnly {
            return Err(open::read_only_error(&self.db_path));
        }
        if dv.id.trim().is_empty() {
            return Err(Error::invalid("data version id must not be empty"));
        }
        let columns = serde_json::to_string(&dv.columns)?;
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO data_versions (id, dataset_path, train_rows, test_rows, columns,
                                            config_hash, created_at, snapshot_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                dv.id,
                dv.dataset_path,
                dv.train_rows,
                dv.test_rows,
                columns,
                dv.config_hash,
                dv.created_at,
                dv.snapshot_dir
            ])?;
        Ok(inserted == 1)
    }

    fn get_data_version(&self, id_or_prefix: &str) -> Result<DataVersion> {
        let tx = self.read_tx()?;
        let id = resolve_id(&tx, IdKind::DataVersion, id_or_prefix)?;
        let raw = tx
            .prepare_cached(&format!("{DATA_VERSION_SELECT} WHERE id = ?1"))?
            .query_row([&id], raw_data_version)?;
        raw.into_data_version()
    }

    fn list_data_versions(&self) -> Result<Vec<DataVersionSummary>> {
        let tx = self.read_tx()?;
        let raws = tx
            .prepare_cached(&format!(
                "{DATA_VERSION_SELECT} ORDER BY created_at DESC, id"
            ))?
            .query_map([], raw_data_version)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut runs_by_version: HashMap<String, Vec<String>> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT data_version, run_id FROM runs
                 WHERE data_version IS NOT NULL
                 ORDER BY start_time, rowid",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                runs_by_version
                    .entry(row.get(0)?)
                    .or_default()
                    .push(row.get(1)?);
            }
        }
        raws.into_iter()
            .map(|raw| {
                let version = raw.into_data_version()?;
                let runs = runs_by_version.remove(&version.id).unwrap_or_default();
                Ok(DataVersionSummary { version, runs })
            })
            .collect()
    }

    fn reap_dead_runs(&mut self, stale_after_ms: i64) -> Result<Vec<(String, RunStatus)>> {
        if self.access == Access::ReadOnly {
            // Nothing can be closed in a store that cannot be written; the next writable open
            // reaps them.
            return Ok(Vec::new());
        }
        let host = self.host.clone();
        let now = now_ms();
        let tx = self.write_tx()?;
        let running = tx
            .prepare_cached(
                "SELECT run_id, pid, host, coalesce(last_heartbeat, start_time)
                 FROM runs WHERE status = 'RUNNING' ORDER BY start_time",
            )?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        let mut reaped = Vec::new();
        {
            let mut settle = tx.prepare_cached(
                "UPDATE runs SET status = ?2, end_time = max(?3, start_time), error = ?4
                 WHERE run_id = ?1 AND status = 'RUNNING'",
            )?;
            for (run_id, pid, run_host, last_beat) in running {
                let dead_pid = pid
                    .and_then(|p| u32::try_from(p).ok())
                    .filter(|&p| run_host == host && !pid_alive(p));
                let silence = now.saturating_sub(last_beat);
                let (status, error) = if let Some(pid) = dead_pid {
                    (
                        RunStatus::Killed,
                        format!("process {pid} exited without finishing the run"),
                    )
                } else if silence > stale_after_ms {
                    (
                        RunStatus::Failed,
                        format!("no heartbeat for {} s", silence / 1000),
                    )
                } else {
                    continue;
                };
                if settle.execute(params![run_id, status, now, error])? == 1 {
                    reaped.push((run_id, status));
                }
            }
        }
        tx.commit()?;
        Ok(reaped)
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for RunStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse()
            .map_err(|_| FromSqlError::Other(format!("unknown run status {text:?}").into()))
    }
}

/// The id of experiment `name`, created if missing. Must run inside a write transaction.
fn ensure_experiment(conn: &Connection, name: &str) -> Result<i64> {
    if name.trim().is_empty() {
        return Err(Error::invalid("experiment name must not be empty"));
    }
    conn.prepare_cached(
        "INSERT INTO experiments (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, now_ms()])?;
    let id = conn
        .prepare_cached("SELECT experiment_id FROM experiments WHERE name = ?1")?
        .query_row([name], |row| row.get(0))?;
    Ok(id)
}

/// The status of a run, or [`Error::NotFound`]; doubles as the existence check before writes.
fn run_status(conn: &Connection, run_id: &str) -> Result<RunStatus> {
    conn.prepare_cached("SELECT status FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found("run", run_id))
}

/// Adds params, which are write-once: an existing key must keep its value.
fn insert_params(conn: &Connection, run_id: &str, params: &BTreeMap<String, String>) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO NOTHING",
    )?;
    for (key, value) in params {
        if key.trim().is_empty() {
            return Err(Error::invalid("parameter name must not be empty"));
        }
        if insert.execute(params![run_id, key, value])? == 0 {
            let existing: String = conn
                .prepare_cached("SELECT value FROM params WHERE run_id = ?1 AND key = ?2")?
                .query_row(params![run_id, key], |row| row.get(0))?;
            if existing != *value {
                return Err(Error::invalid(format!(
                    "parameter {key} of run {run_id} is already {existing:?}; parameters cannot \
                     change (tried {value:?})"
                )));
            }
        }
    }
    Ok(())
}

fn upsert_tags(conn: &Connection, run_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for (key, value) in tags {
        if key.trim().is_empty() {
            return Err(Error::invalid("tag name must not be empty"));
        }
        upsert.execute(params![run_id, key, value])?;
    }
    Ok(())
}

/// All `key, value` rows of `table` (`params` or `tags`) for one run.
fn key_values(conn: &Connection, table: &str, run_id: &str) -> Result<BTreeMap<String, String>> {
    let map = conn
        .prepare_cached(&format!("SELECT key, value FROM {table} WHERE run_id = ?1"))?
        .query_map([run_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(map)
}

/// Reads a [`RunSummary`] (without metrics and params) from a row led by [`SUMMARY_COLUMNS`].
fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RunSummary> {
    let start_time: i64 = row.get(5)?;
    let end_time: Option<i64> = row.get(6)?;
    Ok(RunSummary {
        run_id: row.get(0)?,
        experiment: row.get(1)?,
        name: row.get(2)?,
        model_kind: row.get(3)?,
        status: row.get(4)?,
        start_time,
        end_time,
        duration_ms: end_time.map(|end| end - start_time),
        data_version: row.get(7)?,
        metrics: BTreeMap::new(),
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
    })
}

/// `ORDER BY` terms for an ordering: per key, runs without a value last, then numbers by value
/// before text (params and tags read with `cerebro_number`), then the tie-breaks of
/// [`super::query::OrderBy::compare`].
fn order_sql(order: &super::query::OrderBy, args: &mut Vec<(String, Box<dyn ToSql>)>) -> String {
    use super::query::{Attribute, Field};
    let mut terms = Vec::new();
    for (i, key) in order.keys.iter().enumerate() {
        let dir = if key.descending { "DESC" } else { "ASC" };
        let name = format!(":o{i}");
        let sub = |table: &str| {
            format!("(SELECT x.value FROM {table} x WHERE x.run_id = r.run_id AND x.key = {name})")
        };
        let value = match &key.field {
            Field::Metric(k) => {
                args.push((name.clone(), Box::new(k.clone())));
                sub("latest_metrics")
            }
            Field::Param(k) => {
                args.push((name.clone(), Box::new(k.clone())));
                sub("params")
            }
            Field::Tag(k) => {
                args.push((name.clone(), Box::new(k.clone())));
                sub("tags")
            }
            Field::Attribute(a) => match a {
                Attribute::RunId => "r.run_id",
                Attribute::RunName => "r.name",
                Attribute::Status => "r.status",
                Attribute::StartTime => "r.start_time",
                Attribute::EndTime => "r.end_time",
                Attribute::Experiment => "e.name",
                Attribute::ModelKind => "r.model_kind",
                Attribute::DataVersion => "r.data_version",
            }
            .to_string(),
        };
        match &key.field {
            Field::Param(_) | Field::Tag(_) => terms.push(format!(
                "{value} IS NULL, cerebro_number({value}) IS NULL, cerebro_number({value}) {dir}, \
                 {value} {dir}"
            )),
            _ => terms.push(format!("{value} IS NULL, {value} {dir}")),
        }
    }
    terms.push("r.start_time DESC, r.run_id".to_string());
    terms.join(", ")
}

/// An `INSERT` of `rows` metric points. `?1` is the run id, shared by all rows; row `r` then
/// takes key, step, timestamp, seq and value as parameters `2 + 5r` to `6 + 5r`.
fn metric_insert_sql(rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO metrics (run_id, key, step, timestamp, seq, value) VALUES ");
    for row in 0..rows {
        let first = 2 + 5 * row;
        if row > 0 {
            sql.push_str(", ");
        }
        let _ = write!(
            sql,
            "(?1, ?{}, ?{}, ?{}, ?{}, ?{})",
            first,
            first + 1,
            first + 2,
            first + 3,
            first + 4
        );
    }
    sql
}

/// Binds one point as row `row` of a statement from [`metric_insert_sql`].
fn bind_metric_row(
    stmt: &mut rusqlite::Statement<'_>,
    row: usize,
    point: &MetricPoint,
    seq: i64,
) -> rusqlite::Result<()> {
    let first = 2 + 5 * row;
    stmt.raw_bind_parameter(first, point.key.as_str())?;
    stmt.raw_bind_parameter(first + 1, point.step)?;
    stmt.raw_bind_parameter(first + 2, point.timestamp)?;
    stmt.raw_bind_parameter(first + 3, seq)?;
    stmt.raw_bind_parameter(first + 4, storable(point.value))
}

/// The position of a run in the page, from column 0 of a `json_each` join in `list_runs`.
fn page_index(row: &Row<'_>) -> rusqlite::Result<usize> {
    let index: i64 = row.get(0)?;
    usize::try_from(index)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Integer, Box::new(e)))
}

/// SQLite turns NaN into NULL; store it as NULL explicitly and read NULL back as NaN.
fn storable(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

fn loaded(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

/// The tables whose ids can be looked up by prefix.
#[derive(Clone, Copy)]
enum IdKind {
    Run,
    DataVersion,
}

impl IdKind {
    fn what(self) -> &'static str {
        match self {
            IdKind::Run => "run",
            IdKind::DataVersion => "data version",
        }
    }

    fn exact_sql(self) -> &'static str {
        match self {
            IdKind::Run => "SELECT run_id FROM runs WHERE run_id = ?1",
            IdKind::DataVersion => "SELECT id FROM data_versions WHERE id = ?1",
        }
    }

    /// Ids in `[?1, ?2)`, i.e. starting with the prefix; a range so the primary key index is used.
    fn prefix_sql(self) -> &'static str {
        match self {
            IdKind::Run => {
                "SELECT run_id FROM runs WHERE run_id >= ?1 AND run_id < ?2 ORDER BY run_id LIMIT ?3"
            }
            IdKind::DataVersion => {
                "SELECT id FROM data_versions WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3"
            }
        }
    }
}

/// Resolves a full id or a unique prefix of at least [`MIN_PREFIX_LEN`] characters.
fn resolve_id(conn: &Connection, kind: IdKind, input: &str) -> Result<String> {
    /// How many candidates an ambiguity error lists.
    const SHOWN: usize = 5;

    let wanted = input.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return Err(Error::invalid(format!("empty {} id", kind.what())));
    }
    if let Some(id) = conn
        .prepare_cached(kind.exact_sql())?
        .query_row([&wanted], |row| row.get::<_, String>(0))
        .optional()?
    {
        return Ok(id);
    }
    if wanted.chars().count() < MIN_PREFIX_LEN {
        return Err(Error::invalid(format!(
            "{} id prefix {input:?} is too short; give at least {MIN_PREFIX_LEN} characters",
            kind.what()
        )));
    }
    // Every id starting with the prefix sorts below prefix + the largest character.
    let upper = format!("{wanted}{}", char::MAX);
    let candidates = conn
        .prepare_cached(kind.prefix_sql())?
        .query_map(params![wanted, upper, SHOWN as i64 + 1], |row| {
            row.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match candidates.as_slice() {
        [] => Err(Error::not_found(kind.what(), input)),
        [id] => Ok(id.clone()),
        many => {
            let more = if many.len() > SHOWN { ", ..." } else { "" };
            Err(Error::invalid(format!(
                "{} id prefix {input:?} is ambiguous: it matches {}{more}",
                kind.what(),
                many[..many.len().min(SHOWN)].join(", ")
            )))
        }
    }
}

const DATA_VERSION_SELECT: &str = "SELECT id, dataset_path, train_rows, test_rows, columns, \
                                   config_hash, created_at, snapshot_dir FROM data_versions";

/// A `data_versions` row with its columns list still as JSON, decoded outside the row closure so
/// a bad list reports as a JSON error.
struct RawDataVersion {
    version: DataVersion,
    columns_json: String,
}

impl RawDataVersion {
    fn into_data_version(self) -> Result<DataVersion> {
        let mut version = self.version;
        version.columns = serde_json::from_str(&self.columns_json)?;
        Ok(version)
    }
}

fn raw_data_version(row: &Row<'_>) -> rusqlite::Result<RawDataVersion> {
    Ok(RawDataVersion {
        version: DataVersion {
            id: row.get(0)?,
            dataset_path: row.get(1)?,
            train_rows: row.get(2)?,
            test_rows: row.get(3)?,
            columns: Vec::new(),
            config_hash: row.get(5)?,
            created_at: row.get(6)?,
            snapshot_dir: row.get(7)?,
        },
        columns_json: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&tmp.path().join(".cerebro")).unwrap();
        (tmp, store)
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn new_run(experiment: &str, name: &str) -> NewRun {
        NewRun {
            experiment: experiment.to_string(),
            name: name.to_string(),
            model_kind: "decision_tree".to_string(),
            params: map(&[("max_depth", "8")]),
            tags: map(&[("team", "x-men")]),
            environment: Environment {
                cerebro_version: "0.1.0".to_string(),
                os: "linux".to_string(),
                arch: "x86_64".to_string(),
                host: host_name(),
                user: "logan".to_string(),
                git_commit: Some("abc123".to_string()),
                git_branch: Some("main".to_string()),
                git_dirty: Some(false),
                config_hash: "cfg".to_string(),
                seed: 42,
            },
            data_version: None,
            pid: std::process::id(),
            source: None,
        }
    }

    fn point(key: &str, value: f64, step: i64, timestamp: i64) -> MetricPoint {
        MetricPoint {
            key: key.to_string(),
            value,
            step,
            timestamp,
        }
    }

    /// The pid of a process that has certainly exited (and been waited for).
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn creates_lists_and_finishes_runs() {
        let (_tmp, mut store) = store();
        let a = store.create_run(&new_run("marvel", "first")).unwrap();
        let b = store.create_run(&new_run("marvel", "second")).unwrap();
        let c = store.create_run(&new_run("other", "third")).unwrap();
        assert_eq!(a.len(), 32);

        let all = store.list_runs(&RunFilter::default()).unwrap();
        let ids: Vec<_> = all.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()], "newest first");
        assert!(all.iter().all(|r| r.status == RunStatus::Running));
        assert_eq!(all[2].params, map(&[("max_depth", "8")]));
        assert_eq!(all[2].end_time, None);

        store.finish_run(&a, RunStatus::Finished, None).unwrap();
        store
            .finish_run(&b, RunStatus::Failed, Some("out of memory"))
            .unwrap();
        let err = store.finish_run(&a, RunStatus::Failed, None).unwrap_err();
        assert!(matches!(&err, Error::Invalid(m) if m.contains("already FINISHED")));
        assert!(matches!(
            store.finish_run(&c, RunStatus::Running, None),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            store.finish_run("nope", RunStatus::Finished, None),
            Err(Error::NotFound { what: "run", .. })
        ));
        assert!(matches!(store.heartbeat(&a), Err(Error::Invalid(_))));
        store.heartbeat(&c).unwrap();

        let marvel = RunFilter {
            experiment: Some("marvel".to_string()),
            ..RunFilter::default()
        };
        assert_eq!(store.list_runs(&marvel).unwrap().len(), 2);
        let failed = RunFilter {
            status: Some(RunStatus::Failed),
            ..marvel.clone()
        };
        let failed = store.list_runs(&failed).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].run_id, b);
        let limited = RunFilter {
            limit: Some(1),
            ..RunFilter::default()
        };
        assert_eq!(store.list_runs(&limited).unwrap()[0].run_id, c);
        assert!(matches!(
            store.list_runs(&RunFilter {
                experiment: Some("missing".to_string()),
                ..RunFilter::default()
            }),
            Err(Error::NotFound {
                what: "experiment",
                ..
            })
        ));

        let detail = store.get_run(&b).unwrap();
        assert_eq!(detail.summary.status, RunStatus::Failed);
        assert_eq!(detail.error.as_deref(), Some("out of memory"));
        assert!(detail.summary.duration_ms.unwrap() >= 0);
        assert_eq!(detail.tags, map(&[("team", "x-men")]));
        assert_eq!(detail.environment, new_run("m", "n").environment);
        assert_eq!(detail.pid, Some(std::process::id()));
        assert_eq!(detail.host, host_name());

        let experiments = store.list_experiments().unwrap();
        let counts: Vec<_> = experiments
            .iter()
            .map(|e| (e.name.as_str(), e.run_count))
            .collect();
        assert_eq!(counts, [("marvel", 2), ("other", 1)]);
        assert_eq!(
            store.get_or_create_experiment("marvel").unwrap(),
            experiments[0].id
        );
        assert!(matches!(
            store.get_or_create_experiment("  "),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn params_are_write_once_and_tags_overwrite() {
        let (_tmp, mut store) = store();
        let id = store.create_run(&new_run("e", "r")).unwrap();
        store
            .log_params(&id, &map(&[("max_depth", "8"), ("lr", "0.1")]))
            .unwrap();
        let err = store
            .log_params(&id, &map(&[("lr", "0.2"), ("new", "1")]))
            .unwrap_err();
        assert!(matches!(&err, Error::Invalid(m) if m.contains("lr")));
        store.set_tags(&id, &map(&[("team", "avengers")])).unwrap();

        let detail = store.get_run(&id).unwrap();
        // The failed call changed nothing, not even its valid part.
        assert_eq!(
            detail.summary.params,
            map(&[("lr", "0.1"), ("max_depth", "8")])
        );
        assert_eq!(detail.tags, map(&[("team", "avengers")]));
        assert!(matches!(
            store.log_params("missing", &map(&[("a", "b")])),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn finds_runs_by_unique_prefix() {
        let (_tmp, mut store) = store();
        let mut ids: Vec<String> = (0..40)
            .map(|i| store.create_run(&new_run("e", &format!("r{i}"))).unwrap())
            .collect();
        ids.sort();
        let id = &ids[0];
        assert_eq!(store.get_run(id).unwrap().summary.run_id, *id);
        assert_eq!(
            store.get_run(&id.to_uppercase()).unwrap().summary.run_id,
            *id
        );
        // The shortest prefix that only this id has.
        let unique = (MIN_PREFIX_LEN..=32)
            .map(|n| &id[..n])
            .find(|p| ids.iter().filter(|other| other.starts_with(p)).count() == 1)
            .unwrap();
        assert_eq!(store.get_run(unique).unwrap().summary.run_id, *id);

        assert!(
            matches!(store.get_run(&id[..3]), Err(Error::Invalid(m)) if m.contains("too short"))
        );
        assert!(matches!(
            store.get_run("ffffffffffffffffffffffffffffffff0"),
            Err(Error::NotFound { what: "run", .. })
        ));

        // Force an ambiguity: two ids that share a prefix of at least four characters exist among
        // 40 random ids only by luck, so fabricate one with a known shared prefix instead.
        let twin = format!("{}{}", &id[..6], "0".repeat(26));
        store
            .conn
            .execute(
                "INSERT INTO runs (run_id, experiment_id, name, model_kind, status, start_time,
                                   host, environment)
                 SELECT ?2, experiment_id, name, model_kind, status, start_time, host, environment
                 FROM runs WHERE run_id = ?1",
                params![id, twin],
            )
            .unwrap();
        let err = store.get_run(&id[..6]).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains("ambiguous") && m.contains(&twin) && m.contains(id.as_str())),
            "{err}"
        );
    }

    #[test]
    fn keeps_the_latest_metric_and_the_full_history() {
        let (_tmp, mut store) = store();
        let id = store.create_run(&new_run("e", "r")).unwrap();
        store
            .log_metrics(
                &id,
                &[
                    point("loss", 0.9, 0, 100),
                    point("loss", 0.5, 2, 100),
                    point("loss", 0.7, 1, 300),
                    point("auc", 0.6, 0, 100),
                ],
            )
            .unwrap();
        // A later batch with an older step must not replace the latest value; a newer one must.
        store
            .log_metrics(
                &id,
                &[point("loss", 0.8, 1, 400), point("auc", 0.65, 1, 50)],
            )
            .unwrap();
        // Same step, later timestamp wins; NaN survives the round trip.
        store
            .log_metrics(
                &id,
                &[point("loss", 0.4, 2, 200), point("nan", f64::NAN, 0, 1)],
            )
            .unwrap();
        store.log_metrics(&id, &[]).unwrap();

        let run = &store.list_runs(&RunFilter::default()).unwrap()[0];
        assert_eq!(run.metrics["loss"], 0.4);
        assert_eq!(run.metrics["auc"], 0.65);
        assert!(run.metrics["nan"].is_nan());
        assert_eq!(store.get_run(&id).unwrap().summary.metrics["loss"], 0.4);

        let history = store.metric_history(&id, "loss").unwrap();
        let steps: Vec<_> = history.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(steps, [(0, 0.9), (1, 0.7), (1, 0.8), (2, 0.5), (2, 0.4)]);
        assert!(store.metric_history(&id, "unknown").unwrap().is_empty());
        assert!(matches!(
            store.log_metrics("missing", &[point("loss", 1.0, 0, 0)]),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            store.log_metrics(&id, &[point("", 1.0, 0, 0)]),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn bulk_batches_keep_every_point_in_order() {
        let (_tmp, mut store) = store();
        let id = store.create_run(&new_run("e", "r")).unwrap();
        // Two full chunks and a tail, interleaving keys, logged newest step first; then points
        // that tie on step and timestamp, which must come back in logging order.
        let n = 2 * METRIC_CHUNK_ROWS as i64 + 37;
        let batch: Vec<_> = (0..n)
            .rev()
            .map(|i| point(if i % 2 == 0 { "even" } else { "odd" }, i as f64, i, 7))
            .collect();
        store.log_metrics(&id, &batch).unwrap();
        store
            .log_metrics(&id, &[point("tie", 1.0, 0, 5), point("tie", 2.0, 0, 5)])
            .unwrap();
        store.log_metrics(&id, &[point("tie", 3.0, 0, 5)]).unwrap();

        let even = store.metric_history(&id, "even").unwrap();
        let odd = store.metric_history(&id, "odd").unwrap();
        assert_eq!(even.len() + odd.len(), n as usize);
        assert!(even.windows(2).all(|w| w[0].step < w[1].step));
        let last_odd = if (n - 1) % 2 == 1 { n - 1 } else { n - 2 };
        assert_eq!(odd.last().unwrap().step, last_odd);
        let ties: Vec<_> = store
            .metric_history(&id, "tie")
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(ties, [1.0, 2.0, 3.0]);
        let latest = &store.get_run(&id).unwrap().summary.metrics;
        assert_eq!(latest["tie"], 3.0);
        assert_eq!(latest["even"], even.last().unwrap().value);
    }

    #[test]
    fn reaps_dead_and_silent_runs_but_not_live_ones() {
        let (_tmp, mut store) = store();
        let live = store.create_run(&new_run("e", "live")).unwrap();
        let mut dead_run = new_run("e", "dead");
        let pid = dead_pid();
        dead_run.pid = pid;
        let dead = store.create_run(&dead_run).unwrap();
        let mut remote_run = new_run("e", "remote");
        remote_run.environment.host = "some-other-host".to_string();
        remote_run.pid = pid;
        let remote = store.create_run(&remote_run).unwrap();

        // Nothing is stale yet: only the dead local pid is reaped.
        let reaped = store.reap_dead_runs(60_000).unwrap();
        assert_eq!(reaped, [(dead.clone(), RunStatus::Killed)]);
        let detail = store.get_run(&dead).unwrap();
        assert_eq!(detail.summary.status, RunStatus::Killed);
        assert_eq!(
            detail.error.unwrap(),
            format!("process {pid} exited without finishing the run")
        );
        assert!(detail.summary.end_time.is_some());

        // An old heartbeat fails the remote run (its pid cannot be checked from here).
        store
            .conn
            .execute(
                "UPDATE runs SET last_heartbeat = last_heartbeat - 120000 WHERE run_id = ?1",
                [&remote],
            )
            .unwrap();
        let reaped = store.reap_dead_runs(60_000).unwrap();
        assert_eq!(reaped, [(remote.clone(), RunStatus::Failed)]);
        let error = store.get_run(&remote).unwrap().error.unwrap();
        assert!(error.starts_with("no heartbeat for 12"), "{error}");

        assert!(store.reap_dead_runs(60_000).unwrap().is_empty());
        assert_eq!(
            store.get_run(&live).unwrap().summary.status,
            RunStatus::Running
        );
    }

    #[test]
    fn data_versions_are_recorded_once_and_list_their_runs() {
        let (_tmp, mut store) = store();
        let dv = |id: &str, created_at| DataVersion {
            id: id.to_string(),
            dataset_path: "data/marvel.csv".to_string(),
            train_rows: 13_098,
            test_rows: 3_275,
            columns: vec!["ALIGN".to_string(), "EYE".to_string()],
            config_hash: "cfg".to_string(),
            created_at,
            snapshot_dir: format!("snapshots/{id}"),
        };
        let old = dv("aaaa1111", 1);
        let new = dv("bbbb2222", 2);
        assert!(store.record_data_version(&old).unwrap());
        assert!(store.record_data_version(&new).unwrap());
        let mut changed = old.clone();
        changed.train_rows = 1;
        assert!(!store.record_data_version(&changed).unwrap());
        assert_eq!(store.get_data_version("aaaa").unwrap(), old);
        assert_eq!(store.get_data_version("bbbb2222").unwrap(), new);
        assert!(matches!(
            store.get_data_version("cccc"),
            Err(Error::NotFound {
                what: "data version",
                ..
            })
        ));

        let mut with_data = new_run("e", "r1");
        with_data.data_version = Some(old.id.clone());
        let r1 = store.create_run(&with_data).unwrap();
        let r2 = store.create_run(&with_data).unwrap();
        let listed = store.list_data_versions().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].version, new);
        assert!(listed[0].runs.is_empty());
        assert_eq!(listed[1].runs, [r1.clone(), r2]);
        assert_eq!(
            store.get_run(&r1).unwrap().summary.data_version,
            Some(old.id)
        );
    }

    #[test]
    fn artifacts_are_attached_to_runs() {
        let (_tmp, mut store) = store();
        let id = store.create_run(&new_run("e", "r")).unwrap();
        let bytes = b"{\"tree\": []}";
        let (digest, path) = store.artifacts().put_bytes(bytes).unwrap();
        let artifact = Artifact {
            name: "model.json".to_string(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            path: path.clone(),
        };
        store.log_artifact(&id, &artifact).unwrap();
        let detail = store.get_run(&id).unwrap();
        assert_eq!(detail.artifacts, [artifact]);
        assert_eq!(store.artifacts().get(&digest).unwrap(), bytes);
        assert!(store.root().join(path).is_file());
    }

    #[test]
    fn reopening_keeps_data_and_schema_and_passes_integrity_check() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".cerebro");
        let id = {
            let mut store = SqliteStore::open(&root).unwrap();
            assert_eq!(store.db_path(), root.join("cerebro.db"));
            assert!(root.join("artifacts").is_dir());
            store.create_run(&new_run("e", "r")).unwrap()
        };
        let store = SqliteStore::open(&root).unwrap();
        let version: u32 = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, crate::store::SCHEMA_VERSION);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(store.get_run(&id).unwrap().summary.run_id, id);
        assert_eq!(store.integrity_check().unwrap(), "ok");

        // A database from a newer cerebro is refused, not misread.
        store.conn.pragma_update(None, "user_version", 999).unwrap();
        drop(store);
        let err = SqliteStore::open(&root).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains("999")),
            "{err}"
        );
    }

    #[test]
    fn the_store_is_usable_as_a_trait_object() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store: Box<dyn TrackingStore> = Box::new(SqliteStore::open(tmp.path()).unwrap());
        let id = store.create_run(&new_run("e", "r")).unwrap();
        store.finish_run(&id, RunStatus::Finished, None).unwrap();
        assert_eq!(
            store.get_run(&id).unwrap().summary.status,
            RunStatus::Finished
        );
    }
}
