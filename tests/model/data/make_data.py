"""Deterministic synthetic CSI survey data for the lavaan reference tests.

Simulates the six-construct ACSI-style structural model (CE→PQ→PV→CS→CC/CL) and turns
latent scores into 1..10 integer answers, so the model engine is checked on data that look
like real surveys (skewed to the top of the scale, discrete, clipped).
Regenerate from the repo root: .venv/bin/python tests/model/data/make_data.py
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# Standardized structural paths: positive ACSI paths, satisfaction lowers complaints,
# complaints lower loyalty. PV→CL is deliberately NOT in the fitted model, and items get a
# little misfit below, so chi², RMSEA and CFI land on non-trivial values (not clipped 0 / 1).
PATHS = {
    "PQ": {"CE": 0.55},
    "PV": {"CE": 0.20, "PQ": 0.50},
    "CS": {"CE": 0.15, "PQ": 0.45, "PV": 0.30},
    "CC": {"CS": -0.50},
    "CL": {"CS": 0.45, "CC": -0.20, "PV": 0.20},
}
ORDER = ["CE", "PQ", "PV", "CS", "CC", "CL"]
# Unmodelled cross-loadings on perceived quality (the halo that real CSI data show).
MISFIT = {"PV2": 0.35, "CL2": 0.30, "CE3": 0.25}


def latent_scores(rng, n):
    """Latent scores with unit variance: each disturbance tops the variance up to 1."""
    eta = {"CE": rng.standard_normal(n)}
    for code in ORDER[1:]:
        signal = sum(b * eta[src] for src, b in PATHS[code].items())
        resid_sd = np.sqrt(max(1.0 - signal.var(), 0.05))
        eta[code] = signal + resid_sd * rng.standard_normal(n)
    return eta


def items(rng, eta, counts):
    """1..10 answers: centre ~7, loadings 0.7-0.9, rounded and clipped like a real scale."""
    cols = {}
    for code in ORDER:
        for k in range(1, counts[code] + 1):
            loading = rng.uniform(0.7, 0.9)
            centre = 4.5 if code == "CC" else rng.uniform(6.6, 7.6)
            spread = rng.uniform(1.5, 1.9)
            noise = np.sqrt(1 - loading**2) * rng.standard_normal(len(eta[code]))
            raw = centre + spread * (loading * eta[code] + noise + MISFIT.get(f"{code}{k}", 0) * eta["PQ"])
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10).astype(int)
    return pd.DataFrame(cols)


def make(seed, n, counts):
    rng = np.random.default_rng(seed)
    return items(rng, latent_scores(rng, n), counts)


MULTI = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 2, "CL": 2}
SINGLE = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 1, "CL": 2}
CUSTOM = {"CE": 2, "PQ": 3, "PV": 2, "CS": 3, "CC": 2, "CL": 2}


def main():
    make(20240401, 400, MULTI).to_csv(HERE / "csi_multi.csv", index=False)
    make(20240402, 250, SINGLE).to_csv(HERE / "csi_single_cc.csv", index=False)

    df = make(20240403, 300, SINGLE).astype("Int64")
    rng = np.random.default_rng(20240404)
    holes = rng.random(df.shape) < 0.06
    holes[holes.all(axis=1)] = False  # a fully blank respondent carries no information
    df = df.mask(holes)
    df.to_csv(HERE / "csi_missing.csv", index=False)  # NA -> empty cell ("don't know")

    df = make(20240405, 300, CUSTOM)
    names = [f"q{i:02d}" for i in range(1, len(df.columns) + 1)]
    order = np.random.default_rng(20240406).permutation(len(names))
    renamed = {old: names[pos] for old, pos in zip(df.columns, order)}
    df = df.rename(columns=renamed)[names]
    mapping = {code: [renamed[c] for c in renamed if c.rstrip("0123456789") == code] for code in ORDER}
    df.to_csv(HERE / "csi_custom_names.csv", index=False)
    (HERE / "csi_custom_names.map.json").write_text(json.dumps(mapping, indent=2) + "\n")


if __name__ == "__main__":
    main()
