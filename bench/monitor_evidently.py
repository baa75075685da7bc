"""Evidently DataDriftPreset on the data benches/monitor.rs uses (as ../shared/peers/evidently_drift.py
makes it): R rows of reference and of current, 10 features (6 numeric, 4 categorical), odd
columns shifted. Prints the median of REPEATS runs in ms and which columns drifted.
Usage: monitor_evidently.py ROWS REPEATS"""
import statistics, sys, time
import numpy as np, pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
rng = np.random.default_rng(0)
def frame(shift):
    d = {f"num{i}": rng.normal(shift * (i % 2), 1.0, n) for i in range(6)}
    for i in range(4):
        p = np.array([0.5, 0.3, 0.15, 0.05]); p = np.roll(p, int(shift) * (i % 2))
        d[f"cat{i}"] = rng.choice(["a", "b", "c", "d"], n, p=p)
    return pd.DataFrame(d)
ref, cur = frame(0), frame(1)
dd = DataDefinition(numerical_columns=[f"num{i}" for i in range(6)], categorical_columns=[f"cat{i}" for i in range(4)])
times = []
for _ in range(repeats):
    t = time.perf_counter()
    r = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=dd), Dataset.from_pandas(ref, data_definition=dd))
    times.append((time.perf_counter() - t) * 1000)
    r.dict()
print(f"evidently_median_ms {statistics.median(times):.1f}")
