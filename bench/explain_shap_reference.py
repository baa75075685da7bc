"""Reference SHAP values for the unit test `train::explain::tests::matches_the_shap_package`.

The small tree of that test, given to the `shap` package (an independent TreeSHAP
implementation, C++) as a custom tree model, explained with the path-dependent algorithm on the
test's rows. Prints the expected value and each row's values to 17 significant digits, ready to
paste into the test. Run with a venv that has `shap` (e.g. /root/.cache/cerebro/shap):

    /root/.cache/cerebro/shap/bin/python bench/explain_shap_reference.py
"""

import numpy as np
import shap

# index: feature, threshold, left, right (-1: leaf), cover, value; `x <= threshold` goes left.
NODES = [
    (0, 0.5, 1, 2, 100.0, 0.0),
    (1, 2.5, 3, 4, 60.0, 0.0),
    (2, 1.5, 5, 6, 40.0, 0.0),
    (-2, 0.0, -1, -1, 35.0, 0.2),
    (0, 0.25, 7, 8, 25.0, 0.0),
    (-2, 0.0, -1, -1, 10.0, 0.9),
    (-2, 0.0, -1, -1, 30.0, 0.6),
    (-2, 0.0, -1, -1, 5.0, 0.1),
    (-2, 0.0, -1, -1, 20.0, 0.7),
]
ROWS = [
    [0.0, 0.0, 0.0],
    [0.3, 3.0, 9.0],
    [0.1, 3.0, 0.0],
    [1.0, 0.0, 1.0],
    [1.0, 9.0, 2.0],
]

tree = {
    "children_left": np.array([n[2] for n in NODES]),
    "children_right": np.array([n[3] for n in NODES]),
    "children_default": np.array([n[2] for n in NODES]),
    "features": np.array([n[0] for n in NODES]),
    "thresholds": np.array([n[1] for n in NODES]),
    "values": np.array([[n[5]] for n in NODES]),
    "node_sample_weight": np.array([n[4] for n in NODES]),
}
explainer = shap.TreeExplainer({"trees": [tree]}, feature_perturbation="tree_path_dependent")
values = explainer.shap_values(np.array(ROWS))
print("shap", shap.__version__)
print("expected", repr(float(np.ravel(explainer.expected_value)[0])))
for row, v in zip(ROWS, values):
    print(row, [float(f"{x:.17g}") for x in v])
