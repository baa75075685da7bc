"""The summary of bench/false_alarms.sh: cerebro's verdicts (read from each run's
`monitor drift --json`) and Evidently's DataDriftPreset on the same windows, side by side.

For each no-drift run folder OUT/DATASET/I (train.csv and test.csv from `cerebro data export`,
log.jsonl the endpoint's inference log, drift.json cerebro's verdict): the window is the logged
records' test ids (`<test id>~<run>-<seq>`) looked up in test.csv, the reference is train.csv,
each feature tested as cerebro tested it (KS or chi-square at its threshold, 0.05).
Usage: false_alarms_evidently.py OUT RUNS"""
import collections, csv, json, os, sys, time, warnings
import pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset

warnings.filterwarnings("ignore")
out, runs = sys.argv[1], int(sys.argv[2])
EV = {"ks": "ks", "chi_square": "chisquare"}


def window_ids(log, id_col):
    ids = []
    for line in open(log):
        rec = json.loads(line)
        inputs = rec.get("inputs") or []
        if isinstance(inputs, dict):
            inputs = inputs.get("dataframe_records") or []
        for r in inputs:
            if isinstance(r, dict) and r.get(id_col) is not None:
                ids.append(str(r[id_col]).split("~")[0])
    return ids


def summary(name, rows):
    """rows: list of (dataset_drift, {feature: drifted}) per run."""
    n = len(rows)
    per = collections.Counter()
    for _, f in rows:
        per.update(k for k, v in f.items() if v)
    feats = sorted({k for _, f in rows for k in f})
    checks = sum(len(f) for _, f in rows)
    flags = sum(per.values())
    dataset = sum(d for d, _ in rows)
    print(f"  {name}: per-feature false alarms {flags}/{checks} = {flags / max(checks, 1):.3f}; "
          f"dataset drift {dataset}/{n} = {dataset / max(n, 1):.3f}")
    print("    by feature: " + ", ".join(f"{k} {per[k] / n:.3f}" for k in feats))


for dataset in ("demo", "small"):
    base = os.path.join(out, dataset)
    if not os.path.isdir(base):
        continue
    ours, theirs, multi, sizes, ev_ms = [], [], [], [], []
    for i in range(1, runs + 1):
        d = os.path.join(base, str(i))
        if not os.path.exists(os.path.join(d, "drift.json")):
            continue
        w = json.load(open(os.path.join(d, "drift.json")))[0]
        if w.get("note"):
            print(f"  {dataset} run {i}: {w['note']}")
            continue
        feats = [f for f in w["features"] if not f["name"].startswith("raw:")]
        ours.append((bool(w["dataset_drift"]), {f["name"]: bool(f["drifted"]) for f in feats}))
        mv = w.get("multivariate")
        if mv:
            multi.append(bool(mv["drifted"]))
        train = pd.read_csv(os.path.join(d, "train.csv"))
        test = pd.read_csv(os.path.join(d, "test.csv"))
        id_col = train.columns[0]
        for c in ("page_id", "id"):
            if c in test.columns:
                id_col = c
        test[id_col] = test[id_col].astype(str)
        ids = window_ids(os.path.join(d, "log.jsonl"), id_col)
        cur = test.set_index(id_col).loc[ids].reset_index()
        sizes.append(len(cur))
        num = [f["name"] for f in feats if f["test"] == "ks"]
        cat = [f["name"] for f in feats if f["test"] == "chi_square"]
        for c in cat:
            train[c] = train[c].astype(str)
            cur[c] = cur[c].astype(str)
        dd = DataDefinition(numerical_columns=num, categorical_columns=cat)
        preset = DataDriftPreset(
            columns=num + cat,
            per_column_method={f["name"]: EV[f["test"]] for f in feats},
            per_column_threshold={f["name"]: f["threshold"] for f in feats},
        )
        t = time.perf_counter()
        r = Report([preset]).run(Dataset.from_pandas(cur[num + cat], data_definition=dd),
                                 Dataset.from_pandas(train[num + cat], data_definition=dd)).dict()
        ev_ms.append((time.perf_counter() - t) * 1000)
        drifted = {}
        share = 0.0
        for m in r["metrics"]:
            cfg = m["config"]
            if cfg["type"].endswith("ValueDrift"):
                drifted[cfg["column"]] = m["value"] < cfg["threshold"]
            elif cfg["type"].endswith("DriftedColumnsCount"):
                share = m["value"]["share"]
        theirs.append((share >= 0.5, drifted))
    if not ours:
        continue
    sizes.sort()
    print(f"{dataset}: {len(ours)} no-drift runs, windows of {sizes[0]}-{sizes[-1]} records "
          f"(each test id found in that run's test table)")
    summary("cerebro  ", ours)
    summary("Evidently", theirs)
    agree = sum(a[1] == b[1] for a, b in zip(ours, theirs))
    print(f"  runs where both tools flagged the same features: {agree}/{len(ours)}")
    if multi:
        print(f"  cerebro domain classifier (multivariate) flagged {sum(multi)}/{len(multi)} "
              f"no-drift windows = {sum(multi) / len(multi):.3f}")
    ev_ms.sort()
    print(f"  Evidently median time per window {ev_ms[len(ev_ms) // 2]:.0f} ms")
    idx = os.path.join(base, "scenarios", "index.tsv")
    if not os.path.exists(idx):
        continue
    found = collections.defaultdict(lambda: [0, 0])
    mfound = collections.defaultdict(int)
    for s, i, ep in csv.reader(open(idx), delimiter="\t"):
        w = json.load(open(os.path.join(base, "scenarios", ep + ".drift.json")))[0]
        flagged = {f["name"] for f in w["features"] if f["drifted"]}
        if s == "concept":
            q = json.load(open(os.path.join(base, "scenarios", ep + ".quality.json")))
            q = [x for x in q if x.get("realised")]
            hit = bool(q) and q[-1]["test"].get("accuracy", 1) - q[-1]["realised"]["accuracy"] > 0.1
        else:
            feature = s.split(":", 1)[1].split("=")[0]
            hit = feature in flagged
        found[s][0] += int(hit)
        found[s][1] += 1
        mfound[s] += int(bool((w.get("multivariate") or {}).get("drifted")))
    for s, (h, n) in found.items():
        how = "realised accuracy < test - 0.1" if s == "concept" else "its feature flagged"
        print(f"  scenario {s}: detected ({how}) in {h}/{n} runs = {h / n:.3f}; "
              f"domain classifier flagged {mfound[s]}/{n}")
