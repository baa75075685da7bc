#!/usr/bin/env python3
"""The MLflow side of bench/tracking.sh: metric logging throughput of MLflow's local SQLite
tracking store, measured the way cerebro's `store/log_metrics_100k` bench measures its own.

A fresh store in a temporary folder, one experiment and one run (not timed), then POINTS metric
points for one key logged with `MlflowClient().log_batch`, BATCH points per call (MLflow accepts at
most 1,000 metrics per call). Building the `Metric` objects is inside the timed loop, as it is on
the Rust side.

Prints exactly one JSON line on stdout:
    {"tool": "mlflow", "points": N, "seconds": S, "points_per_s": R}
MLflow's own logging goes to stderr.

Usage: mlflow_tracking.py [--points N] [--batch B]
"""

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="metric points to log")
    parser.add_argument("--batch", type=int, default=1_000, help="points per log_batch call")
    args = parser.parse_args()
    if args.points <= 0 or not 0 < args.batch <= 1_000:
        parser.error("--points must be positive and --batch between 1 and 1000")

    # Imported late so that argument errors are quick; MLflow's import is slow.
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory(prefix="mlflow-tracking-bench-") as folder:
        # MLflow resolves relative artifact locations against the working directory: keep
        # everything it creates inside the temporary folder.
        os.chdir(folder)
        client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
        experiment = client.create_experiment(
            "bench", artifact_location=f"file://{folder}/artifacts"
        )
        run_id = client.create_run(experiment).info.run_id
        timestamp = int(time.time() * 1000)

        start = time.perf_counter()
        for first in range(0, args.points, args.batch):
            last = min(args.points, first + args.batch)
            client.log_batch(
                run_id,
                metrics=[Metric("loss", float(i), timestamp, i) for i in range(first, last)],
            )
        seconds = time.perf_counter() - start

        # Sanity check outside the timing: everything arrived.
        logged = len(client.get_metric_history(run_id, "loss"))
        if logged != args.points:
            raise SystemExit(f"mlflow stored {logged} points, expected {args.points}")
        os.chdir("/")

    print(
        json.dumps(
            {
                "tool": "mlflow",
                "points": args.points,
                "seconds": round(seconds, 4),
                "points_per_s": round(args.points / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
