"""Optuna's TPESampler on the gbt space of bench/tune.sh (100 trees), each trial trained by cerebro's gbt.

Usage: python tune_optuna.py CEREBRO_BIN CONFIG TRIALS SEED
Prints one JSON object: the best test roc_auc, each trial's value, and the sampler's time per
trial (the time of `study.ask()`, which is where Optuna's sampler runs, apart from training).
"""

import json
import subprocess
import sys
import time

import optuna

binary, config, trials, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
space = {
    "max_depth": optuna.distributions.IntDistribution(2, 10),
    "learning_rate": optuna.distributions.FloatDistribution(0.01, 0.3, log=True),
    "min_leaf_weight": optuna.distributions.FloatDistribution(1, 80, log=True),
}
asked = 0.0
values = []
for _ in range(trials):
    t0 = time.perf_counter()
    trial = study.ask(space)
    asked += time.perf_counter() - t0
    sets = ["--set", "n_estimators=100"]
    for k, v in trial.params.items():
        sets += ["--set", f"{k}={v}"]
    out = subprocess.run(
        [binary, "--config", config, "train", "--model", "gbt", "--experiment", "optuna", "--json", *sets],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    auc = json.loads(out)[0]["run"]["metrics"]["roc_auc"]
    values.append(auc)
    study.tell(trial, auc)
print(
    json.dumps(
        {
            "seed": seed,
            "optuna": optuna.__version__,
            "best": study.best_value,
            "values": values,
            "sampler_ms_per_trial": asked * 1e3 / trials,
        }
    )
)
