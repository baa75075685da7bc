//! Versioned schema migrations for the SQLite store. The schema version lives in
//! `PRAGMA user_version`; migration `i` (0-based) takes the database from version `i` to `i + 1`
//! and runs in its own transaction together with the version bump, so a crash leaves the database
//! at a whole version. Migrations are append-only: never edit one that has shipped, add a new one.
//!
//! Opening a database written by a newer cerebro is refused rather than guessed at.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema, one step per entry.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE experiments (
        experiment_id INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL
    );

    CREATE TABLE runs (
        run_id         TEXT PRIMARY KEY,
        experiment_id  INTEGER NOT NULL REFERENCES experiments(experiment_id),
        name           TEXT NOT NULL,
        model_kind     TEXT NOT NULL,
        status         TEXT NOT NULL
                       CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
        start_time     INTEGER NOT NULL,
        end_time       INTEGER,
        pid            INTEGER,
        host           TEXT NOT NULL,
        last_heartbeat INTEGER,
        -- A soft link: the data version may be recorded before or after the run starts.
        data_version   TEXT,
        source         TEXT,
        error          TEXT,
        environment    TEXT NOT NULL  -- JSON of store::Environment
    );
    -- list_runs sorts newest first, optionally within one experiment or status; the reaper scans
    -- RUNNING runs; data versions list the runs that used them.
    CREATE INDEX runs_by_start ON runs(start_time);
    CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
    CREATE INDEX runs_by_status ON runs(status, start_time);
    CREATE INDEX runs_by_data_version ON runs(data_version, start_time)
        WHERE data_version IS NOT NULL;

    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;

    -- Every logged point, clustered by (run, key, step): one B-tree serves both inserts and
    -- history reads, which is what lets log_metrics sustain hundreds of thousands of points per
    -- second. `seq` is the logging order from metric_seq; it tells apart points with equal step
    -- and timestamp. The run is checked once per batch by log_metrics rather than by a foreign
    -- key per row. `value` is NULL for NaN, which SQLite cannot store as a REAL.
    CREATE TABLE metrics (
        run_id    TEXT NOT NULL,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        value     REAL,
        PRIMARY KEY (run_id, key, step, timestamp, seq)
    ) WITHOUT ROWID;

    -- The next metrics.seq; a single row, advanced once per logged batch.
    CREATE TABLE metric_seq (
        id   INTEGER PRIMARY KEY CHECK (id = 0),
        next INTEGER NOT NULL
    );
    INSERT INTO metric_seq (id, next) VALUES (0, 0);

    -- The latest point per (run, key): highest step, then latest timestamp. Kept up to date by
    -- log_metrics so that listing runs never scans the series.
    CREATE TABLE latest_metrics (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        value     REAL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE artifacts (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        name   TEXT NOT NULL,
        digest TEXT NOT NULL,
        size   INTEGER NOT NULL,
        path   TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX artifacts_by_digest ON artifacts(digest);

    CREATE TABLE data_versions (
        id           TEXT PRIMARY KEY,
        dataset_path TEXT NOT NULL,
        train_rows   INTEGER NOT NULL,
        test_rows    INTEGER NOT NULL,
        columns      TEXT NOT NULL,  -- JSON array of column names
        config_hash  TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        snapshot_dir TEXT NOT NULL
    );
    CREATE INDEX data_versions_by_created ON data_versions(created_at);
    "#,
    // 2: the model registry.
    r#"
    CREATE TABLE registered_models (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );

    CREATE TABLE model_versions (
        name            TEXT NOT NULL REFERENCES registered_models(name),
        version         INTEGER NOT NULL,
        -- A soft link: imported versions name a run of another store.
        run_id          TEXT,
        stage           TEXT NOT NULL DEFAULT 'None'
                        CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
        artifact_digest TEXT NOT NULL,
        signature       TEXT NOT NULL,  -- JSON of train::Signature
        data_version    TEXT,
        metrics         TEXT NOT NULL,  -- JSON object of the run's test metrics
        tags            TEXT NOT NULL,  -- JSON object
        description     TEXT NOT NULL DEFAULT '',
        source          TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE UNIQUE INDEX model_versions_by_run ON model_versions(name, run_id)
        WHERE run_id IS NOT NULL;
    -- At most one Production and one Staging version per model, enforced by the database.
    CREATE UNIQUE INDEX one_production ON model_versions(name) WHERE stage = 'Production';
    CREATE UNIQUE INDEX one_staging ON model_versions(name) WHERE stage = 'Staging';

    CREATE TABLE model_aliases (
        name    TEXT NOT NULL,
        alias   TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
    ) WITHOUT ROWID;

    -- Append-only: rows are inserted, never updated or deleted.
    CREATE TABLE registry_audit (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        name             TEXT NOT NULL,
        version          INTEGER,
        action           TEXT NOT NULL,
        from_stage       TEXT,
        to_stage         TEXT,
        alias            TEXT,
        replaced_version INTEGER,
        actor            TEXT NOT NULL,
        at               INTEGER NOT NULL,
        reason           TEXT,
        gate             TEXT  -- JSON of registry::GateResult
    );
    CREATE INDEX registry_audit_by_model ON registry_audit(name, id);
    CREATE TRIGGER registry_audit_no_update BEFORE UPDATE ON registry_audit
        BEGIN SELECT RAISE(ABORT, 'the registry audit trail is append-only'); END;
    CREATE TRIGGER registry_audit_no_delete BEFORE DELETE ON registry_audit
        BEGIN SELECT RAISE(ABORT, 'the registry audit trail is append-only'); END;
    "#,
    // 3: serving endpoints, each registering itself and heartbeating (see `serve::status`).
    r#"
    CREATE TABLE endpoints (
        name           TEXT PRIMARY KEY,
        address        TEXT NOT NULL,
        pid            INTEGER NOT NULL,
        host           TEXT NOT NULL,
        model          TEXT NOT NULL,
        served         TEXT NOT NULL,  -- JSON array of serve::status::ServedArm
        started_at     INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL,
        stopped_at     INTEGER,
        stats          TEXT NOT NULL   -- JSON of serve::status::EndpointStats
    );
    "#,
    // 4: monitoring: inference-log ingestion offsets, window aggregates, quarantined lines.
    r#"
    -- How far each inference-log file has been ingested. Updated in the same transaction as the
    -- aggregates its lines fed, so every complete line is counted exactly once.
    CREATE TABLE monitor_files (
        path        TEXT PRIMARY KEY,
        identity    TEXT NOT NULL,     -- device:inode; a different one means the file was replaced
        offset      INTEGER NOT NULL,  -- bytes consumed (always just after a newline)
        lines       INTEGER NOT NULL,  -- complete lines consumed
        corrupt     INTEGER NOT NULL DEFAULT 0,
        resets      INTEGER NOT NULL DEFAULT 0,  -- times truncated or replaced and read again
        deleted_at  INTEGER,
        updated_at  INTEGER NOT NULL
    );

    -- One row per endpoint, model version, granularity and window start (unix ms).
    CREATE TABLE monitor_windows (
        endpoint        TEXT NOT NULL,
        model           TEXT NOT NULL,
        version         INTEGER NOT NULL,  -- 0 when the line names none (failed requests)
        granularity_ms  INTEGER NOT NULL,
        window_start    INTEGER NOT NULL,
        requests        INTEGER NOT NULL,
        errors          INTEGER NOT NULL,
        records         INTEGER NOT NULL,
        latency_sum_us  INTEGER NOT NULL,
        latency_max_us  INTEGER NOT NULL,
        aggregates      TEXT NOT NULL,     -- JSON of monitor::ingest::WindowAggregates
        PRIMARY KEY (endpoint, model, version, granularity_ms, window_start)
    ) WITHOUT ROWID;

    -- Lines that did not parse, kept with their place for inspection.
    CREATE TABLE monitor_quarantine (
        path       TEXT NOT NULL,
        line       INTEGER NOT NULL,  -- 1-based
        offset     INTEGER NOT NULL,
        error      TEXT NOT NULL,
        text       TEXT NOT NULL,     -- the line, cut at 4 KiB
        at         INTEGER NOT NULL,
        PRIMARY KEY (path, line, offset)
    ) WITHOUT ROWID;
    "#,
    // 5: monitoring: predictions kept for the late-label join, ground-truth labels, alerts.
    // Label files share `monitor_files` (offsets) and `monitor_quarantine` (bad lines) with the
    // inference log.
    r#"
    -- One row per scored record, written by ingestion in the same transaction as its window rows
    -- when a labels folder is configured, so labels arriving later can be joined by record id.
    CREATE TABLE monitor_predictions (
        record_id     TEXT NOT NULL,     -- the record's id column, else '<request_id>:<row>'
        endpoint      TEXT NOT NULL,
        model         TEXT NOT NULL,
        version       INTEGER NOT NULL,
        timestamp_ms  INTEGER NOT NULL,
        prediction    INTEGER NOT NULL,  -- 0/1
        probability   REAL               -- positive class, when the line has it
    );
    CREATE INDEX monitor_predictions_by_id ON monitor_predictions(record_id);
    CREATE INDEX monitor_predictions_by_time
        ON monitor_predictions(endpoint, model, version, timestamp_ms);

    -- Ground truth as it arrives (a label may come before or after its prediction is ingested).
    CREATE TABLE monitor_labels (
        record_id   TEXT PRIMARY KEY,
        label       INTEGER NOT NULL,  -- 1 = the positive class
        arrived_at  INTEGER NOT NULL,
        source      TEXT NOT NULL      -- '<file>:<line>'
    ) WITHOUT ROWID;

    -- Alert state: one row per opening; resolving sets resolved_at. At most one open alert per
    -- rule, endpoint and subject.
    CREATE TABLE monitor_alerts (
        alert_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        rule            TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('feature_drift', 'dataset_drift',
                        'prediction_drift', 'quality_drop', 'error_rate', 'latency',
                        'endpoint_down')),
        endpoint        TEXT NOT NULL,
        subject         TEXT NOT NULL,  -- feature or metric name; '' when the rule has none
        state           TEXT NOT NULL CHECK (state IN ('OPEN', 'RESOLVED')),
        opened_at       INTEGER NOT NULL,
        resolved_at     INTEGER,
        granularity_ms  INTEGER,
        window_start    INTEGER,
        value           REAL,
        threshold       REAL,
        message         TEXT NOT NULL,
        hook_status     TEXT            -- what the hook command did on open/resolve, if any
    );
    CREATE UNIQUE INDEX monitor_alerts_one_open
        ON monitor_alerts(rule, endpoint, subject) WHERE state = 'OPEN';
    "#,
    // 6: workflows: pipeline runs and their steps, per-pipeline locks, schedule switches and
    // trigger cursors (see `workflow::store`).
    r#"
    CREATE TABLE pipeline_runs (
        run_id       TEXT PRIMARY KEY,
        pipeline     TEXT NOT NULL,
        status       TEXT NOT NULL
                     CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'INTERRUPTED')),
        fired_by     TEXT NOT NULL,   -- manual | schedule | file | alert | production
        detail       TEXT,            -- what fired it (file path, alert id, audit id)
        -- The scheduled time (unix ms) this run is for; unique per pipeline, so a slot is
        -- claimed by exactly one process.
        slot         INTEGER,
        pid          INTEGER NOT NULL,
        host         TEXT NOT NULL,
        started_at   INTEGER NOT NULL,
        ended_at     INTEGER,
        heartbeat    INTEGER NOT NULL,
        resumes      INTEGER NOT NULL DEFAULT 0,
        config_hash  TEXT NOT NULL,
        definition   TEXT NOT NULL,   -- JSON of workflow::config::PipelineConfig as run
        error        TEXT
    );
    CREATE UNIQUE INDEX pipeline_runs_one_per_slot ON pipeline_runs(pipeline, slot)
        WHERE slot IS NOT NULL;
    CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs(pipeline, started_at);
    CREATE INDEX pipeline_runs_by_status ON pipeline_runs(status);

    CREATE TABLE pipeline_steps (
        run_id       TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,
        step         TEXT NOT NULL,
        position     INTEGER NOT NULL,  -- execution order
        kind         TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED',
                     'FAILED', 'SKIPPED', 'INTERRUPTED')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        started_at   INTEGER,
        ended_at     INTEGER,
        duration_ms  INTEGER,           -- all attempts, backoff included
        child_pid    INTEGER,           -- the process of the running attempt
        log          TEXT NOT NULL DEFAULT '',
        error        TEXT,
        outputs      TEXT,              -- JSON of workflow::StepOutputs
        PRIMARY KEY (run_id, step)
    ) WITHOUT ROWID;

    -- What a step produced: training runs, data versions, model versions ('name/version').
    CREATE TABLE pipeline_links (
        run_id  TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,
        step    TEXT NOT NULL,
        kind    TEXT NOT NULL CHECK (kind IN ('run', 'data_version', 'model_version')),
        ref     TEXT NOT NULL,
        PRIMARY KEY (run_id, step, kind, ref)
    ) WITHOUT ROWID;
    CREATE INDEX pipeline_links_by_ref ON pipeline_links(kind, ref);

    -- One run at a time per pipeline: the holder's run and process.
    CREATE TABLE pipeline_locks (
        pipeline     TEXT PRIMARY KEY,
        run_id       TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        host         TEXT NOT NULL,
        acquired_at  INTEGER NOT NULL
    );

    -- Stored schedule switches (enable/disable from the CLI or the TUI).
    CREATE TABLE pipeline_schedules (
        pipeline    TEXT PRIMARY KEY,
        enabled     INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );

    -- How far each trigger has looked (last alert id, last audit id); files already seen.
    CREATE TABLE pipeline_cursors (
        pipeline     TEXT NOT NULL,
        trigger_key  TEXT NOT NULL,
        cursor       INTEGER NOT NULL,
        PRIMARY KEY (pipeline, trigger_key)
    ) WITHOUT ROWID;
    CREATE TABLE pipeline_seen_files (
        pipeline     TEXT NOT NULL,
        trigger_key  TEXT NOT NULL,
        path         TEXT NOT NULL,
        size         INTEGER NOT NULL,
        mtime_ms     INTEGER NOT NULL,
        PRIMARY KEY (pipeline, trigger_key, path)
    ) WITHOUT ROWID;
    "#,
    // 7: webhooks (notify). The outbox: events written in the transaction of the registry
    // change or alert they describe; how far each configured URL has been fanned out; one
    // delivery per event and URL with its state and last outcome.
    r#"
    CREATE TABLE notification_events (
        event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
        event       TEXT NOT NULL,     -- MLflow's <entity>.<action>, e.g. model_version.created
        data        TEXT NOT NULL,     -- JSON: the envelope's data
        text        TEXT NOT NULL,     -- one line for people (Slack's text)
        created_at  INTEGER NOT NULL
    );

    CREATE TABLE notification_targets (
        url     TEXT PRIMARY KEY,
        cursor  INTEGER NOT NULL       -- the last event_id fanned out to this URL
    );

    CREATE TABLE notification_deliveries (
        delivery_id      TEXT PRIMARY KEY,   -- X-MLflow-Delivery-Id, kept across retries
        event_id         INTEGER NOT NULL REFERENCES notification_events(event_id),
        url              TEXT NOT NULL,
        status           TEXT NOT NULL
                         CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED', 'DROPPED')),
        attempts         INTEGER NOT NULL,
        next_attempt_at  INTEGER NOT NULL,
        lease_until      INTEGER,            -- set while an attempt runs
        last_status      INTEGER,            -- HTTP status of the last answer
        last_error       TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        UNIQUE (event_id, url)
    );
    CREATE INDEX notification_deliveries_due ON notification_deliveries(status, next_attempt_at);
    "#,
    // 8: run filters (store::query). A metric, param or tag predicate is a semi-join
    // `run_id IN (SELECT run_id FROM <table> WHERE key = ? AND <test on value>)`: with these
    // indexes it reads only that key's rows (a range of them for a comparison of a metric or an
    // equality of a param or tag) instead of scanning the whole table. The tables are WITHOUT
    // ROWID, so each index entry carries the run_id and the subquery never touches the table.
    r#"
    CREATE INDEX latest_metrics_by_key_value ON latest_metrics(key, value);
    CREATE INDEX params_by_key_value ON params(key, value);
    CREATE INDEX tags_by_key_value ON tags(key, value);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Creates the database at `db_path` at schema `version` (at most [`SCHEMA_VERSION`]), as a
/// cerebro of that schema left it: for tests that open a store of an older schema.
pub fn create_at_version(db_path: &Path, version: u32) -> Result<()> {
    let mut conn =
        Connection::open(db_path).map_err(|e| Error::io(db_path, std::io::Error::other(e)))?;
    migrate_to(&mut conn, db_path, version.min(SCHEMA_VERSION))
}

/// Brings the database at `db_path` (open as `conn`) up to [`SCHEMA_VERSION`].
///
/// Each step takes the write lock first and re-reads the version under it, so two processes
/// opening a fresh store at once apply every migration exactly once.
pub(crate) fn migrate(conn: &mut Connection, db_path: &Path) -> Result<()> {
    migrate_to(conn, db_path, SCHEMA_VERSION)
}

/// Checks that the database at `db_path` (open read-only as `conn`) is at [`SCHEMA_VERSION`]:
/// a read-only store cannot be migrated, so an older one is refused with what to do.
pub(crate) fn check_current(conn: &Connection, db_path: &Path) -> Result<()> {
    let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        return Err(Error::invalid(format!(
            "{}: the store has schema version {version}, but this cerebro only knows versions \
             up to {SCHEMA_VERSION}; upgrade cerebro to open it",
            db_path.display()
        )));
    }
    Err(Error::StoreFile {
        path: db_path.to_path_buf(),
        message: format!(
            "the store is read-only and at schema version {version}; this cerebro needs version \
             {SCHEMA_VERSION} and cannot upgrade a store it cannot write: open it once where it \
             is writable (or with a cerebro of its version)"
        ),
    })
}

fn migrate_to(conn: &mut Connection, db_path: &Path, target: u32) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::invalid(format!(
                "{}: the store has schema version {version}, but this cerebro only knows versions \
                 up to {SCHEMA_VERSION}; upgrade cerebro to open it",
                db_path.display()
            )));
        }
        let Some(step) = MIGRATIONS
            .get(version as usize)
            .filter(|_| version < target)
        else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn migrates_a_fresh_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let tables: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // Every table some migration creates, and nothing else.
        let mut expected: Vec<&str> = [
            // 1: tracking, plus sqlite_sequence (AUTOINCREMENT)
            "experiments",
            "runs",
            "params",
            "metrics",
            "latest_metrics",
            "tags",
            "artifacts",
            "metric_seq",
            "data_versions",
            "sqlite_sequence",
            // 2: registry
            "registered_models",
            "model_versions",
            "model_aliases",
            "registry_audit",
            // 3: serving
            "endpoints",
            // 4 and 5: monitoring
            "monitor_files",
            "monitor_windows",
            "monitor_quarantine",
            "monitor_predictions",
            "monitor_labels",
            "monitor_alerts",
            // 6: workflows
            "pipeline_runs",
            "pipeline_steps",
            "pipeline_links",
            "pipeline_locks",
            "pipeline_schedules",
            "pipeline_cursors",
            "pipeline_seen_files",
            // 7: webhooks
            "notification_events",
            "notification_targets",
            "notification_deliveries",
        ]
        .to_vec();
        expected.sort_unstable();
        assert_eq!(tables, expected);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, Path::new("x/cerebro.db")).unwrap_err();
        assert!(matches!(&err, Error::Invalid(msg) if msg.contains("upgrade cerebro")));
    }
}
