"""Peers of `cerebro predict` for bench/predict.sh: LightGBM and `mlflow models predict`.

Subcommands (paths are the bench's work folder):
  data SPLIT ROWS OUT [raw]   cycle the data version's rows (raw_train/raw_test as cerebro reads
                              them, train/test as prepared) to ROWS rows: OUT/raw_ROWS.csv for
                              cerebro, OUT/features_ROWS.csv (prepared features, categoricals as
                              integer codes of the training levels) for the peers; with
                              `raw`, only the raw file
  fit SPLIT OUT               LightGBM with cerebro's gbt settings (1000 trees of depth 6, learning
                              rate 0.01) on the prepared training split; saved as an MLflow model
                              (pyfunc over the lightgbm flavor) in OUT/mlflow-model
  lgbm OUT ROWS REPS THREADS  LightGBM Booster.predict (num_threads=THREADS, as many as cerebro
                              may use) on the ROWS feature rows already in memory, and end to end
                              (read the CSV, predict, write Parquet): medians
"""

import json
import statistics
import sys
import time
from pathlib import Path

NUMERIC = ["APPEARANCES", "Year", "HAS_GSM", "EARTH616"]
CATEGORICAL = ["ID", "ALIGN", "EYE", "HAIR", "SEX", "TITLE"]
TARGET, POSITIVE = "ALIVE", "Living"


def levels(split):
    import pandas as pd

    train = pd.read_csv(Path(split) / "train.csv", dtype=str, keep_default_na=False)
    return {c: sorted(set(train[c]) - {""}) for c in CATEGORICAL}


def features(frame, lv):
    import pandas as pd

    out = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in NUMERIC})
    for c in CATEGORICAL:
        code = {v: i for i, v in enumerate(lv[c])}
        # Unseen and missing levels: -1 (LightGBM treats negative categories as missing).
        out[c] = frame[c].map(lambda v: code.get(v, -1)).astype("int64")
    return out


def data(split, rows, out, only=None):
    import csv

    import pandas as pd

    split, out, rows = Path(split), Path(out), int(rows)

    def read(name):
        with open(split / name, newline="") as f:
            r = csv.reader(f)
            return next(r), list(r)

    header, raw = read("raw_train.csv")
    raw += read("raw_test.csv")[1]
    prep = pd.concat(
        [pd.read_csv(split / f, dtype=str, keep_default_na=False) for f in ("train.csv", "test.csv")],
        ignore_index=True,
    )
    assert len(raw) == len(prep), (len(raw), len(prep))
    feats = features(prep, levels(split))
    coded = [[("" if pd.isna(v) else repr(float(v)) if c in NUMERIC else str(int(v))) for c, v in zip(feats.columns, row)] for row in feats.itertuples(index=False)]
    files = [(f"raw_{rows}.csv", header, raw), (f"features_{rows}.csv", list(feats.columns), coded)]
    for name, head, body in files[:1] if only == "raw" else files:
        with open(out / name, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(head)
            for i in range(rows):
                w.writerow(body[i % len(body)])


def fit(split, out):
    import lightgbm as lgb
    import mlflow.lightgbm
    import pandas as pd

    split, out = Path(split), Path(out)
    train = pd.read_csv(split / "train.csv", dtype=str, keep_default_na=False)
    x = features(train, levels(split))
    y = (train[TARGET] == POSITIVE).astype(int)
    params = {
        "objective": "binary",
        "learning_rate": 0.01,
        "max_depth": 6,
        "num_leaves": 64,
        "min_data_in_leaf": 1,
        "verbosity": -1,
        "num_threads": 1,
    }
    booster = lgb.train(
        params, lgb.Dataset(x, y, categorical_feature=CATEGORICAL), num_boost_round=1000
    )
    booster.save_model(str(out / "lightgbm.txt"))
    mlflow.lightgbm.save_model(booster, str(out / "mlflow-model"), input_example=x.head(2))
    print(json.dumps({"trees": booster.num_trees(), "train_rows": len(x)}))


def lgbm(out, rows, reps, threads):
    import lightgbm as lgb
    import pandas as pd

    out, rows, reps, threads = Path(out), int(rows), int(reps), int(threads)
    booster = lgb.Booster(model_file=str(out / "lightgbm.txt"), params={"num_threads": threads})
    path = out / f"features_{rows}.csv"
    x = pd.read_csv(path)
    predict, end_to_end = [], []
    for _ in range(reps):
        t = time.perf_counter()
        booster.predict(x, num_threads=threads)
        predict.append(time.perf_counter() - t)
    for _ in range(reps):
        t = time.perf_counter()
        frame = pd.read_csv(path)
        p = booster.predict(frame, num_threads=threads)
        pd.DataFrame({"probability": p}).to_parquet(out / "lgbm.parquet")
        end_to_end.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "predict_median_s": statistics.median(predict),
                "end_to_end_median_s": statistics.median(end_to_end),
                "predict_s": predict,
                "end_to_end_s": end_to_end,
            }
        )
    )


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"data": data, "fit": fit, "lgbm": lgbm}[cmd](*args)
