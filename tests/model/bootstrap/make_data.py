"""Ceiling-heavy CSI answers for the bootstrap reference (most answers 8-10, as real CSI surveys).

Same structural model as tests/model/data/make_data.py, but item centres near 9 and answers
clipped at 10, so items are skewed and ML's normal-theory SEs are too small: the case the
bootstrap is for. Regenerate from the repo root: .venv/bin/python tests/model/bootstrap/make_data.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "data"))
from make_data import SINGLE, latent_scores  # noqa: E402

import pandas as pd  # noqa: E402


def ceiling(seed: int, n: int, counts=SINGLE) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    eta = latent_scores(rng, n)
    cols = {}
    for code, k in counts.items():
        for j in range(1, k + 1):
            loading = rng.uniform(0.7, 0.9)
            centre = 5.0 if code == "CC" else rng.uniform(8.6, 9.2)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
            raw = centre + 1.5 * (loading * eta[code] + noise)
            cols[f"{code}{j}"] = np.clip(np.rint(raw), 1, 10).astype(int)
    return pd.DataFrame(cols)


if __name__ == "__main__":
    frame = ceiling(20261201, 250)
    frame.to_csv(HERE / "csi_ceiling.csv", index=False)
    top = (frame.drop(columns="CC1") >= 8).to_numpy().mean()
    print(f"share of answers 8-10 (CC excluded): {top:.2f}")
