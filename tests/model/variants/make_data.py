"""Deterministic synthetic survey data for the ECSI and CCSI model variants (tests/model/variants).

Simulates each variant's structural model (model.spec.VARIANTS: corporate/brand image IM upstream
of expectations, satisfaction and loyalty) with a little unmodelled misfit, and turns latent scores
into 1..10 integer answers as tests/model/data/make_data.py does. Data sets per variant: complete
N = 400, small N = 100, ceiling-heavy N = 250 (most answers 8-10), MAR missingness N = 300
(loyalty answers missing more often when satisfaction is low, plus 4% scattered gaps) and one
bootstrap resample of the complete set; plus a two-group set (N = 360, column ``group``; in the
CCSI one the south answers IM1 1.5 points higher, an item bias). The ECSI ceiling set has a single-item CC (as ECSI's CUSCO).
Regenerate from the repo root: .venv/bin/python tests/model/variants/make_data.py
"""
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

TRUE = {  # standardized structural paths used to simulate (effect: {cause: b})
    "ecsi": {"CE": {"IM": 0.50}, "PQ": {"CE": 0.55}, "PV": {"CE": 0.20, "PQ": 0.50},
             "CS": {"IM": 0.20, "CE": 0.10, "PQ": 0.40, "PV": 0.25}, "CC": {"CS": -0.50},
             "CL": {"IM": 0.20, "CS": 0.40, "CC": -0.20, "PV": 0.15}},
    "ccsi": {"CE": {"IM": 0.55}, "PQ": {"CE": 0.50, "IM": 0.15}, "PV": {"CE": 0.20, "PQ": 0.50},
             "CS": {"IM": 0.25, "CE": 0.10, "PQ": 0.40, "PV": 0.25},
             "CL": {"IM": 0.25, "CS": 0.50}},
}
ORDER = {"ecsi": ["IM", "CE", "PQ", "PV", "CS", "CC", "CL"], "ccsi": ["IM", "CE", "PQ", "PV", "CS", "CL"]}
COUNTS = {"ecsi": {"IM": 3, "CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 2, "CL": 2},
          "ccsi": {"IM": 3, "CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CL": 3}}
MISFIT = {"PV2": 0.30, "CL2": 0.25, "IM3": 0.20}  # cross-loadings on PQ the models leave out


def latent_scores(rng, n, variant):
    eta = {"IM": rng.standard_normal(n)}
    for code in ORDER[variant][1:]:
        signal = sum(b * eta[src] for src, b in TRUE[variant][code].items())
        eta[code] = signal + np.sqrt(max(1.0 - signal.var(), 0.05)) * rng.standard_normal(n)
    return eta


def items(rng, eta, counts, centre=(6.6, 7.6), spread=(1.5, 1.9)):
    cols = {}
    for code, count in counts.items():
        for k in range(1, count + 1):
            loading = rng.uniform(0.7, 0.9)
            mid = 4.5 if code == "CC" else rng.uniform(*centre)
            sd = rng.uniform(*spread)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(len(eta[code]))
            raw = mid + sd * (loading * eta[code] + noise + MISFIT.get(f"{code}{k}", 0) * eta["PQ"])
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10).astype(int)
    return pd.DataFrame(cols)


def make(seed, n, variant, counts=None, **kw):
    rng = np.random.default_rng(seed)
    return items(rng, latent_scores(rng, n, variant), counts or COUNTS[variant], **kw)


def with_mar(df, seed):
    """Loyalty items missing with probability rising as satisfaction falls, plus scattered gaps."""
    rng = np.random.default_rng(seed)
    cs = df[[c for c in df if c.startswith("CS")]].mean(axis=1).to_numpy()
    low = (cs - cs.mean()) / cs.std()
    out = df.astype("Int64")
    p_cl = 1 / (1 + np.exp(2.0 + 1.5 * low))          # about 15%, most among the dissatisfied
    for col in [c for c in df if c.startswith("CL")]:
        out.loc[rng.random(len(df)) < p_cl, col] = pd.NA
    holes = rng.random(df.shape) < 0.04
    holes[:, [list(df).index(c) for c in df if c.startswith("CS")][0]] = False  # keep the MAR driver
    return out.mask(holes)


def main():
    for v, base in (("ecsi", 20261201), ("ccsi", 20261211)):
        full = make(base, 400, v)
        full.to_csv(HERE / f"{v}_full.csv", index=False)
        make(base + 1, 100, v).to_csv(HERE / f"{v}_small.csv", index=False)
        counts = dict(COUNTS[v], CC=1) if v == "ecsi" else COUNTS[v]
        make(base + 2, 250, v, counts, centre=(8.3, 8.9), spread=(1.0, 1.3)).to_csv(
            HERE / f"{v}_ceiling.csv", index=False)
        with_mar(make(base + 3, 300, v), base + 4).to_csv(HERE / f"{v}_mar.csv", index=False)
        rows = np.random.default_rng(base + 5).integers(0, len(full), len(full))
        full.iloc[rows].to_csv(HERE / f"{v}_boot.csv", index=False)
        groups = make(base + 6, 360, v).assign(group=np.where(np.arange(360) < 180, "north", "south"))
        if v == "ccsi":  # an item bias: the south answers IM1 1.5 points higher (scalar must fail)
            south = groups["group"] == "south"
            groups.loc[south, "IM1"] = np.clip(groups.loc[south, "IM1"] + 1.5, 1, 10).round().astype(int)
        groups.to_csv(HERE / f"{v}_groups.csv", index=False)


if __name__ == "__main__":
    main()
