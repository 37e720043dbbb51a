"""Data sets for the MLR (robust) reference: resamples and variants of tests/model/data, fixed seeds.

Writes tests/model/mlr/data/*.csv and manifest.json ({name: {file, missing, items}}), which both
make_reference.R (lavaan) and test_mlr.py read. Variants: bootstrap resamples, subsamples and
small samples, ceiling-heavy answers (most 8-10, as real CSI surveys are), and MAR missingness
(loyalty answers missing more often when satisfaction is low), fitted by FIML.
Regenerate from the repo root: .venv/bin/python tests/model/mlr/make_data.py
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "data"
SOURCE = HERE.parent / "data"
sys.path.insert(0, str(SOURCE))
import make_data  # noqa: E402  (the repo's simulator: latent_scores, PATHS, MISFIT)

SINGLE = make_data.SINGLE
MULTI = make_data.MULTI


def prefix_items(columns):
    return {code: [c for c in columns if c.rstrip("0123456789") == code] for code in make_data.ORDER}


def ceiling(seed, n, counts):
    """Answers piled up at the top: centre 8.4-9.0 on 1-10, so 40-60% of answers are 9 or 10."""
    rng = np.random.default_rng(seed)
    eta = make_data.latent_scores(rng, n)
    cols = {}
    for code in make_data.ORDER:
        for k in range(1, counts[code] + 1):
            loading = rng.uniform(0.7, 0.9)
            centre = 5.0 if code == "CC" else rng.uniform(8.4, 9.0)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
            raw = centre + 1.6 * (loading * eta[code] + noise + make_data.MISFIT.get(f"{code}{k}", 0) * eta["PQ"])
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10).astype(int)
    return pd.DataFrame(cols)


def mar(df, seed, base=0.03, extra=0.35):
    """MAR holes: CL items missing with probability base + extra when CS1 is at or below its
    median (CS1 itself is always answered), plus MCAR holes of rate base elsewhere."""
    rng = np.random.default_rng(seed)
    df = df.astype("Int64")
    low = (df["CS1"] <= df["CS1"].median()).to_numpy()
    holes = rng.random(df.shape) < base
    for col in [c for c in df.columns if c.startswith("CL")]:
        j = df.columns.get_loc(col)
        holes[:, j] |= low & (rng.random(len(df)) < extra)
    holes[:, df.columns.get_loc("CS1")] = False
    return df.mask(holes)


def main():
    OUT.mkdir(exist_ok=True)
    multi = pd.read_csv(SOURCE / "csi_multi.csv")
    single = pd.read_csv(SOURCE / "csi_single_cc.csv")
    missing = pd.read_csv(SOURCE / "csi_missing.csv")
    custom_map = json.loads((SOURCE / "csi_custom_names.map.json").read_text())
    rng = np.random.default_rng(20261201)

    def boot(df, n=None):
        n = len(df) if n is None else n
        return df.iloc[rng.integers(0, len(df), n)].reset_index(drop=True)

    def sub(df, n):
        return df.iloc[np.sort(rng.choice(len(df), n, replace=False))].reset_index(drop=True)

    sets = {  # name: (frame or file in tests/model/data, missing)
        "multi": ("csi_multi.csv", "listwise"),
        "single_cc": ("csi_single_cc.csv", "listwise"),
        "custom_names": ("csi_custom_names.csv", "listwise"),
        "missing_fiml": ("csi_missing.csv", "ml"),
        "single_boot1": (boot(single), "listwise"),
        "single_boot2": (boot(single), "listwise"),
        "multi_boot1": (boot(multi), "listwise"),
        "multi_sub120": (sub(multi, 120), "listwise"),
        "single_sub100": (sub(single, 100), "listwise"),
        "single_sub85": (sub(single, 85), "listwise"),
        "ceiling_single": (ceiling(20261202, 300, SINGLE), "listwise"),
        "ceiling_multi": (ceiling(20261203, 400, MULTI), "listwise"),
        "ceiling_small": (ceiling(20261204, 110, SINGLE), "listwise"),
        "missing_boot_fiml": (boot(missing), "ml"),
        "mar_single_fiml": (mar(boot(single), 20261205), "ml"),
        "mar_ceiling_fiml": (mar(ceiling(20261206, 300, SINGLE), 20261207), "ml"),
        "mar_multi_sub_fiml": (mar(sub(multi, 150), 20261208), "ml"),
    }
    manifest = {}
    for name, (frame, how) in sets.items():
        if isinstance(frame, str):
            file = f"../../data/{frame}"
            columns = pd.read_csv(SOURCE / frame, nrows=0).columns
        else:
            file = f"{name}.csv"
            frame.to_csv(OUT / file, index=False)
            columns = frame.columns
        items = custom_map if name == "custom_names" else prefix_items(list(columns))
        manifest[name] = {"file": file, "missing": how, "items": items}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
