"""Log the peer for bench/serving.sh: a scikit-learn depth-8 decision-tree pipeline (one-hot
categoricals with unknowns ignored, median-filled numerics) trained on the Marvel wikia data, as an
MLflow model in a local SQLite tracking store. Prints the model URI.

Usage: mlflow_serve_model.py CSV DIR"""
import os
import sys

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

csv, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
df = pd.read_csv(csv)
df = df[df["ALIVE"].notna()]
cat = ["ID", "ALIGN", "EYE", "HAIR", "SEX", "GSM"]
num = ["APPEARANCES", "Year"]
X = df[cat + num].copy()
for c in cat:
    X[c] = X[c].fillna("Unknown")
y = (df["ALIVE"] == "Living Characters").astype(int)
pre = ColumnTransformer(
    [
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
        ("num", SimpleImputer(strategy="median"), num),
    ]
)
pipe = Pipeline([("pre", pre), ("tree", DecisionTreeClassifier(max_depth=8, random_state=42))])
pipe.fit(X, y)
mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
with mlflow.start_run():
    kwargs = {"input_example": X.iloc[:1]}
    try:
        info = mlflow.sklearn.log_model(
            pipe, name="model", skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"], **kwargs
        )
    except TypeError:  # older MLflow: no `name`/skops arguments
        info = mlflow.sklearn.log_model(pipe, artifact_path="model", **kwargs)
print(info.model_uri)
