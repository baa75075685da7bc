"""Peer model quality and fit time on cerebro's own split of the Marvel wikia data.

Reads the train.csv / test.csv that `cerebro data export` wrote for one data version, so
scikit-learn and LightGBM see exactly the rows cerebro trained and tested on. Features as in
shared/peers/quality.py: categorical -> 'Unknown' when missing, one-hot for sklearn, pandas
categories for LightGBM; numeric -> train median. Prints one JSON object per model.
Usage: python peers_quality.py TRAIN.csv TEST.csv [tree]   (tree: only the depth-8 tree)"""
import json, sys, time
import numpy as np, pandas as pd
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score, f1_score, accuracy_score
import lightgbm as lgb

train, test = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
cat = ["ID", "ALIGN", "EYE", "HAIR", "SEX", "GSM"]
num = ["APPEARANCES", "Year"]
ytr = (train["ALIVE"] == "Living Characters").astype(int).values
yte = (test["ALIVE"] == "Living Characters").astype(int).values
Xtr, Xte = train[cat + num].copy(), test[cat + num].copy()
for c in cat:
    Xtr[c] = Xtr[c].fillna("Unknown"); Xte[c] = Xte[c].fillna("Unknown")
med = Xtr[num].median()
Xtr[num] = Xtr[num].fillna(med); Xte[num] = Xte[num].fillna(med)
enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(Xtr[cat])
Ftr = np.hstack([enc.transform(Xtr[cat]), Xtr[num].values])
Fte = np.hstack([enc.transform(Xte[cat]), Xte[num].values])

def report(name, model, Xa, Xb, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); model.fit(Xa, ytr); ts.append(time.perf_counter() - t)
    p = model.predict_proba(Xb)[:, 1]
    print(json.dumps({"tool": name, "fit_median_ms": float(np.median(ts) * 1000), "reps": reps,
                      "roc_auc": float(roc_auc_score(yte, p)), "f1": float(f1_score(yte, p > 0.5)),
                      "accuracy": float(accuracy_score(yte, p > 0.5))}), flush=True)

report("sklearn DecisionTree depth=8", DecisionTreeClassifier(max_depth=8, random_state=42), Ftr, Fte, 21)
if sys.argv[3:] == ["tree"]:
    sys.exit(0)
report("sklearn LogisticRegression", LogisticRegression(max_iter=1000), Ftr, Fte, 1)
report("sklearn RandomForest 100", RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=1), Ftr, Fte, 3)
Ltr, Lte = Xtr.copy(), Xte.copy()
for c in cat:
    Ltr[c] = Ltr[c].astype("category"); Lte[c] = pd.Categorical(Lte[c], categories=Ltr[c].cat.categories)
report("lightgbm (course params)", lgb.LGBMClassifier(learning_rate=0.01, n_estimators=1000, max_depth=6, verbose=-1, n_jobs=1), Ltr, Lte, 3)
report("lightgbm default", lgb.LGBMClassifier(verbose=-1, n_jobs=1), Ltr, Lte, 3)
