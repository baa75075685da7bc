"""Writes the small dataset of bench/false_alarms.sh: 500 rows, seeded, standard library only.
Columns: id; level ~ N(50, 10); amount ~ lognormal (heavy tail); visits ~ Poisson(2) (a small
count); flag = 1 in 4% of rows (a rare 0/1 flag); plan in basic/plus/gold (70/25/5%); region in
north/south/east/west; label yes/no from a logistic model of level, flag and plan.
Usage: false_alarms_data.py OUT.csv"""
import csv, math, random, sys

rng = random.Random(7)
def poisson(lam):
    k, p, l = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "level", "amount", "visits", "flag", "plan", "region", "label"])
    for i in range(500):
        level = rng.gauss(50, 10)
        amount = math.exp(rng.gauss(3, 1))
        visits = poisson(2)
        flag = int(rng.random() < 0.04)
        u = rng.random()
        plan = "basic" if u < 0.7 else ("plus" if u < 0.95 else "gold")
        region = rng.choice(["north", "south", "east", "west"])
        z = 0.08 * (level - 50) + 1.5 * flag + (0.8 if plan != "basic" else -0.3)
        label = "yes" if rng.random() < 1 / (1 + math.exp(-z)) else "no"
        w.writerow([f"r{i}", f"{level:.3f}", f"{amount:.2f}", visits, flag, plan, region, label])
