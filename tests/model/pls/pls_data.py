"""The data sets of the PLS reference: the repo's CSVs and reproducible variants of them.

Imported by make_reference.py (run with seminr in its own venv) and by test_pls.py, so both see
the same rows: numpy and pandas only, every random draw from a fixed seed. Each entry is
``name -> (frame, mapping, missing)`` with ``missing`` the treatment the product uses
("listwise": complete rows; "fiml": the EM covariance of every row with an answer).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
CODES = ("CE", "PQ", "PV", "CS", "CC", "CL")
PATHS = (("CE", "PQ"), ("CE", "PV"), ("PQ", "PV"), ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"),
         ("CS", "CC"), ("CS", "CL"), ("CC", "CL"))


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prefix_mapping(columns):
    return {c: [x for x in columns if x.rstrip("0123456789") == c] for c in CODES}


def _ceiling(seed, n):
    """Ceiling-heavy 1-10 answers (most 8-10), the shape of real CSI surveys."""
    make_data = _make_data()
    rng = np.random.default_rng(seed)
    eta = make_data.latent_scores(rng, n)
    cols = {}
    for code, count in make_data.SINGLE.items():
        for k in range(1, count + 1):
            loading = rng.uniform(0.7, 0.9)
            centre = 6.0 if code == "CC" else rng.uniform(8.6, 9.3)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
            raw = centre + 1.3 * (loading * eta[code] + noise)
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10)
    return pd.DataFrame(cols)


def _mar(frame, seed, low=0.55, high=0.05):
    """Loyalty answers missing more often when satisfaction is low (MAR), plus 3% random gaps."""
    rng = np.random.default_rng(seed)
    out = frame.astype(float).copy()
    cs = out[[c for c in out.columns if c.startswith("CS")]].mean(axis=1)
    p = np.where(cs < cs.quantile(0.35), low, high)
    for col in [c for c in out.columns if c.startswith("CL")]:
        out.loc[rng.random(len(out)) < p, col] = np.nan
    holes = rng.random(out.shape) < 0.03
    holes[:, [out.columns.get_loc(c) for c in out.columns if c.startswith("CS")]] = False
    return out.mask(holes)


def datasets() -> dict:
    multi = pd.read_csv(DATA / "csi_multi.csv")
    single = pd.read_csv(DATA / "csi_single_cc.csv")
    custom = pd.read_csv(DATA / "csi_custom_names.csv")
    custom_map = json.loads((DATA / "csi_custom_names.map.json").read_text())
    missing = pd.read_csv(DATA / "csi_missing.csv")
    out = {
        "csi_multi": (multi, prefix_mapping(multi.columns), "listwise"),
        "csi_single_cc": (single, prefix_mapping(single.columns), "listwise"),
        "csi_custom_names": (custom, custom_map, "listwise"),
        "csi_missing_listwise": (missing, prefix_mapping(missing.columns), "listwise"),
        "csi_missing_fiml": (missing, prefix_mapping(missing.columns), "fiml"),
    }
    for i, (name, base) in enumerate([("multi", multi), ("single", single), ("custom", custom)] * 3):
        rng = np.random.default_rng(1400 + i)
        rows = rng.integers(0, len(base), len(base))
        mapping = custom_map if name == "custom" else prefix_mapping(base.columns)
        out[f"boot_{name}_{i}"] = (base.iloc[rows].reset_index(drop=True), mapping, "listwise")
    for i, (size, base) in enumerate([(240, multi), (200, single), (180, custom), (300, multi)]):
        rng = np.random.default_rng(1500 + i)
        rows = np.sort(rng.choice(len(base), size, replace=False))
        mapping = custom_map if base is custom else prefix_mapping(base.columns)
        out[f"sub{size}_{i}"] = (base.iloc[rows].reset_index(drop=True), mapping, "listwise")
    for i, (size, base) in enumerate([(80, single), (100, multi), (120, custom), (90, multi)]):
        rng = np.random.default_rng(1600 + i)
        rows = np.sort(rng.choice(len(base), size, replace=False))
        mapping = custom_map if base is custom else prefix_mapping(base.columns)
        out[f"small{size}_{i}"] = (base.iloc[rows].reset_index(drop=True), mapping, "listwise")
    for i, n in enumerate([250, 400, 120, 1000]):
        frame = _ceiling(1700 + i, n)
        out[f"ceiling{n}_{i}"] = (frame, prefix_mapping(frame.columns), "listwise")
    for i, base in enumerate([single, multi, _ceiling(1800, 300)]):
        frame = _mar(base, 1900 + i)
        out[f"mar_fiml_{i}"] = (frame, prefix_mapping(frame.columns), "fiml")
    out["mar_listwise_0"] = (out["mar_fiml_0"][0], out["mar_fiml_0"][1], "listwise")
    reversed_item = single.copy()
    reversed_item["CE2"] = 11 - reversed_item["CE2"]   # a reverse-coded item: negative PLS weight
    out["reversed_item"] = (reversed_item, prefix_mapping(single.columns), "listwise")
    return out


def checksum(frame: pd.DataFrame, mapping: dict) -> list:
    """Rows, answered cells and their sum: a drift check that the rows are the reference's."""
    items = [i for c in CODES for i in mapping[c]]
    values = frame[items].to_numpy(float)
    return [int(values.shape[0]), int(np.isfinite(values).sum()), float(np.nansum(values))]
