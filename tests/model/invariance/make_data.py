"""Seeded two- and three-group CSI data for the invariance reference (lavaan + semTools).

Every group shares one measurement model (item loadings, intercepts and spreads drawn once per
data set) and differs in its latent means, unless a data set plants a difference: an item bias
(one group answers one item higher than its construct explains) or a weaker loading.
Regenerate from the repo root:  .venv/bin/python tests/model/invariance/make_data.py
then  Rscript tests/model/invariance/make_reference.R
"""
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
ORDER = ["CE", "PQ", "PV", "CS", "CC", "CL"]
PATHS = {"PQ": {"CE": 0.55}, "PV": {"CE": 0.20, "PQ": 0.50}, "CS": {"CE": 0.15, "PQ": 0.45, "PV": 0.30},
         "CC": {"CS": -0.50}, "CL": {"CS": 0.45, "CC": -0.20, "PV": 0.20}}
MULTI = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 2, "CL": 2}
MULTI_ITEMS = [f"{code}{k}" for code in ORDER for k in range(1, MULTI[code] + 1)]
SINGLE = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 1, "CL": 2}


def measurement(rng, counts, centre=(6.6, 7.6)):
    """Item parameters shared by every group: (construct, loading, centre, spread) per item."""
    return {f"{code}{k}": (code, rng.uniform(0.7, 0.9), 4.5 if code == "CC" else rng.uniform(*centre),
                           rng.uniform(1.5, 1.9))
            for code in ORDER for k in range(1, counts[code] + 1)}


def group(rng, n, items, shift=None, bias=None, loading=None):
    """n answers on 1..10; ``shift`` adds to latent disturbances, ``bias`` adds scale points to
    items, ``loading`` overrides an item's loading (a metric difference)."""
    shift, bias, loading = shift or {}, bias or {}, loading or {}
    eta = {"CE": rng.standard_normal(n) + shift.get("CE", 0)}
    for code in ORDER[1:]:
        signal = sum(b * eta[src] for src, b in PATHS[code].items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.05)) * rng.standard_normal(n) + shift.get(code, 0)
    cols = {}
    for item, (code, lam, centre, spread) in items.items():
        lam = loading.get(item, lam)
        noise = np.sqrt(1 - min(lam, 0.95) ** 2) * rng.standard_normal(n)
        raw = centre + spread * (lam * eta[code] + noise) + bias.get(item, 0)
        cols[item] = np.clip(np.rint(raw), 1, 10).astype(int)
    return pd.DataFrame(cols)


def groups(seed, specs, counts=MULTI, centre=(6.6, 7.6)):
    rng = np.random.default_rng(seed)
    items = measurement(rng, counts, centre)
    frames = [group(rng, n, items, **kw).assign(group=label) for label, n, kw in specs]
    return pd.concat(frames, ignore_index=True).sample(frac=1, random_state=seed).reset_index(drop=True)


def main():
    multi = pd.read_csv(DATA / "csi_multi.csv")
    labels = np.random.default_rng(20261201).choice(["north", "south"], size=len(multi))
    multi.assign(group=labels).to_csv(HERE / "multi_split.csv", index=False)
    sets = {
        "nobias": (1, [("a", 300, {}), ("b", 300, {"shift": {"CE": 0.3, "CS": 0.2}})]),
        # group b is truly less satisfied but answers CS1 1.5 points higher
        "bias": (2, [("a", 300, {}), ("b", 300, {"shift": {"CS": -0.3}, "bias": {"CS1": 1.5}})]),
        "unequal": (3, [("a", 450, {}), ("b", 150, {"shift": {"PQ": -0.3}})]),
        "three": (4, [("a", 200, {}), ("b", 200, {"shift": {"CE": 0.3}}), ("c", 200, {"shift": {"CS": -0.3}})]),
        "small": (5, [("a", 90, {}), ("b", 90, {"shift": {"CE": 0.2}})]),
        "loading": (6, [("a", 300, {}), ("b", 300, {"loading": {"PQ2": 0.25, "CS2": 0.3}})]),
    }
    for name, (seed, specs) in sets.items():
        groups(seed, specs).to_csv(HERE / f"{name}.csv", index=False)
    groups(7, [("a", 250, {}), ("b", 250, {"shift": {"CS": 0.2}})], centre=(8.4, 9.0)) \
        .to_csv(HERE / "ceiling.csv", index=False)  # most answers 8-10
    groups(8, [("x", 220, {}), ("y", 180, {"shift": {"CC": 0.3}})], counts=SINGLE) \
        .to_csv(HERE / "single_cc.csv", index=False)
    rng = np.random.default_rng(9)  # resamples of the repo's own data sets
    boot = multi.iloc[rng.integers(0, len(multi), len(multi))].reset_index(drop=True)
    boot.assign(group=rng.choice(["p", "q", "r"], size=len(boot), p=[0.5, 0.3, 0.2])) \
        .to_csv(HERE / "multi_boot.csv", index=False)
    single = pd.read_csv(DATA / "csi_single_cc.csv")
    sub = single.iloc[np.sort(rng.choice(len(single), 220, replace=False))].reset_index(drop=True)
    sub.assign(group=rng.choice(["m", "w"], size=len(sub))).to_csv(HERE / "single_sub.csv", index=False)
    # MAR: loyalty answers missing more often when satisfaction is low; listwise within groups
    mar = groups(10, [("a", 300, {}), ("b", 300, {"shift": {"CS": 0.3}})])
    mar[list(MULTI_ITEMS)] = mar[list(MULTI_ITEMS)].astype("Int64")
    low = (mar["CS1"] <= 6).to_numpy()
    for item in ("CL1", "CL2"):
        mar[item] = mar[item].mask(rng.random(len(mar)) < np.where(low, 0.35, 0.05))
    mar.to_csv(HERE / "mar.csv", index=False)


if __name__ == "__main__":
    main()
