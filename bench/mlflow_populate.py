"""Fills an MLflow SQLite tracking database with N finished runs for bench/mlflow_list.sh.

The first 100 runs are written through MLflow's own store (SqlAlchemyStore: schema, params,
metrics, latest metrics, tags exactly as MLflow writes them); the rest are copies of those rows
with fresh run ids and later start times, made in SQL because the store API takes ~90 ms a run.

    python mlflow_populate.py DB N ARTIFACT_ROOT
"""
import sqlite3
import sys
import uuid

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

db, n, artifact_root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
T0 = 1_700_000_000_000
store = SqlAlchemyStore(f"sqlite:///{db}", artifact_root)
exp = store.create_experiment("bench-list")
templates = []
for i in range(min(n, 100)):
    run = store.create_run(exp, user_id="bench", start_time=T0 + i,
                           tags=[RunTag("cerebro.model_kind", "tree")], run_name=f"run-{i}")
    rid = run.info.run_id
    store.log_batch(
        rid,
        metrics=[Metric(k, 0.5 + i / 400, T0 + i, 0)
                 for k in ("roc_auc", "f1", "accuracy", "log_loss", "fit_seconds")],
        params=[Param(k, str(i % 7)) for k in ("max_depth", "min_samples_leaf", "seed")],
        tags=[],
    )
    store.update_run_info(rid, RunStatus.FINISHED, T0 + i + 500, None)
    templates.append(rid)

con = sqlite3.connect(db)
cur = con.cursor()
for i in range(len(templates), n):
    src = templates[i % len(templates)]
    new = uuid.uuid4().hex
    cur.execute(
        "INSERT INTO runs SELECT ?, ?, source_type, source_name, entry_point_name, user_id, status,"
        " ?, ?, source_version, lifecycle_stage, replace(artifact_uri, run_uuid, ?), experiment_id,"
        " deleted_time FROM runs WHERE run_uuid = ?",
        (new, f"run-{i}", T0 + i, T0 + i + 500, new, src))
    for table in ("params", "tags"):
        cur.execute(f'INSERT INTO {table} ("key", value, run_uuid) '
                    f'SELECT "key", value, ? FROM {table} WHERE run_uuid = ?', (new, src))
    cur.execute('INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
                'SELECT "key", value, timestamp, ?, step, is_nan FROM metrics WHERE run_uuid = ?',
                (new, src))
    cur.execute('INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) '
                'SELECT "key", value, timestamp, step, is_nan, ? FROM latest_metrics '
                'WHERE run_uuid = ?', (new, src))
cur.execute("UPDATE tags SET value = (SELECT name FROM runs WHERE runs.run_uuid = tags.run_uuid)"
            " WHERE key = 'mlflow.runName'")
con.commit()
print(cur.execute("SELECT count(*) FROM runs").fetchone()[0])
