"""Reproducible data sets for the many-resamples check against lavaan (fixed seeds).

Bootstrap resamples and subsamples of the repository's data (tests/model/data), small samples,
ceiling-heavy answers (most 8-10) and MAR missingness (loyalty answers missing more often when
satisfaction is low), each with the treatment lavaan uses for it: listwise (lavaan's default)
for complete data, FIML (``missing = "ml"``) for incomplete data.

    .venv/bin/python tests/model/resamples/generate.py DIR   # writes DIR/<name>.csv + DIR/index.json
    Rscript tests/model/resamples/make_reference.R DIR       # writes reference.json here

The test calls ``datasets()`` in memory and checks each frame's fingerprint against the one the
reference was made from.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
ORDER = ["CE", "PQ", "PV", "CS", "CC", "CL"]
SEED = 14_2026

_spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
make_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_data)


def prefix_items(columns) -> dict:
    return {code: [c for c in columns if c.rstrip("0123456789") == code] for code in ORDER}


def _ceiling(rng, n, counts):
    """Answers from the same model with centres 8.3-9.0 and clipping at 10: most answers 8-10."""
    eta = make_data.latent_scores(rng, n)
    cols = {}
    for code in ORDER:
        for k in range(1, counts[code] + 1):
            loading = rng.uniform(0.7, 0.9)
            centre = 4.0 if code == "CC" else rng.uniform(8.3, 9.0)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
            raw = centre + rng.uniform(1.2, 1.6) * (loading * eta[code] + noise)
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10)
    return pd.DataFrame(cols)


def _halo(rng, n, counts):
    """Real CSI data are harder than the repository's simulation: constructs correlate .8-.95
    (the halo), R² is high and loadings range .55-.97. Such data put the optimum near a
    boundary, where semopy's SLSQP stopped short (χ² 0.2-3 above lavaan's, without a warning)."""
    paths = {"PQ": {"CE": rng.uniform(0.6, 0.85)},
             "PV": {"CE": rng.uniform(0.1, 0.3), "PQ": rng.uniform(0.5, 0.75)},
             "CS": {"CE": rng.uniform(0.0, 0.2), "PQ": rng.uniform(0.4, 0.7), "PV": rng.uniform(0.2, 0.45)},
             "CC": {"CS": -rng.uniform(0.3, 0.6)},
             "CL": {"CS": rng.uniform(0.6, 0.9), "CC": -rng.uniform(0, 0.15)}}
    eta = {"CE": rng.standard_normal(n)}
    for code in ORDER[1:]:
        signal = sum(b * eta[src] for src, b in paths[code].items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.03)) * rng.standard_normal(n)
    cols = {}
    for code in ORDER:
        for k in range(1, counts[code] + 1):
            loading = rng.uniform(0.55, 0.97)
            centre = 4.5 if code == "CC" else rng.uniform(6.8, 8.6)
            noise = np.sqrt(1 - loading ** 2) * rng.standard_normal(n)
            cols[f"{code}{k}"] = np.clip(np.rint(centre + rng.uniform(1.3, 1.9) * (loading * eta[code] + noise)), 1, 10)
    return pd.DataFrame(cols)


def _mar(rng, frame, strength):
    """CL items go missing more often when the respondent's CS answers are low (MAR: depends
    on observed CS), plus 2% of other answers at random; rows left without any answer are kept
    out by giving them one answer back."""
    frame = frame.astype(float).copy()
    cs = frame[[c for c in frame.columns if c.startswith("CS")]].mean(axis=1).to_numpy()
    z = (cs - cs.mean()) / cs.std()
    p = 1 / (1 + np.exp(-(-1.4 - strength * z)))
    for col in [c for c in frame.columns if c.startswith("CL")]:
        frame.loc[rng.random(len(frame)) < p, col] = np.nan
    other = [c for c in frame.columns if not c.startswith("CL")]
    holes = rng.random((len(frame), len(other))) < 0.02
    frame[other] = frame[other].mask(holes)
    return frame


def _usable(frame, items) -> bool:
    values = frame[sum(items.values(), [])].dropna()
    return len(values) > 40 and bool((values.std() > 0).all())


def datasets() -> dict:
    """{name: {"data": DataFrame, "items": {CODE: [cols]}, "missing": "listwise"|"ml"}}."""
    rng = np.random.default_rng(SEED)
    out = {}
    single = pd.read_csv(DATA / "csi_single_cc.csv")
    multi = pd.read_csv(DATA / "csi_multi.csv")
    custom = pd.read_csv(DATA / "csi_custom_names.csv")
    custom_items = json.loads((DATA / "csi_custom_names.map.json").read_text())
    missing = pd.read_csv(DATA / "csi_missing.csv")

    def add(name, frame, items, how):
        frame = frame.reset_index(drop=True)
        if _usable(frame, items):
            out[name] = {"data": frame, "items": items, "missing": how}

    for b in range(10):  # bootstrap resamples of the 250-respondent set, as the tester did
        add(f"boot_single_{b:02d}", single.sample(len(single), replace=True, random_state=rng.integers(2**31)),
            prefix_items(single.columns), "listwise")
    for b in range(8):   # subsamples
        n = int(rng.integers(90, 160))
        add(f"sub_multi_{b:02d}", multi.sample(n, replace=False, random_state=rng.integers(2**31)),
            prefix_items(multi.columns), "listwise")
    for b in range(4):
        add(f"boot_custom_{b:02d}", custom.sample(len(custom), replace=True, random_state=rng.integers(2**31)),
            custom_items, "listwise")
    for b in range(8):   # small N from the simulation model
        n = int(rng.integers(80, 121))
        frame = make_data.items(rng, make_data.latent_scores(rng, n), make_data.SINGLE)
        add(f"small_{b:02d}", frame, prefix_items(frame.columns), "listwise")
    for b in range(6):   # ceiling-heavy answers
        n = int(rng.integers(100, 301))
        frame = _ceiling(rng, n, make_data.SINGLE if b % 2 else make_data.MULTI)
        add(f"ceiling_{b:02d}", frame, prefix_items(frame.columns), "listwise")
    for b in range(8):   # MAR on bootstrap resamples of the 250-respondent set
        frame = single.sample(len(single), replace=True, random_state=rng.integers(2**31))
        add(f"mar_boot_{b:02d}", _mar(rng, frame.reset_index(drop=True), 1.2), prefix_items(single.columns), "ml")
    for b in range(5):   # MAR on small simulated and ceiling-heavy samples
        n = int(rng.integers(100, 201))
        frame = (_ceiling(rng, n, make_data.SINGLE) if b % 2 else
                 make_data.items(rng, make_data.latent_scores(rng, n), make_data.SINGLE))
        add(f"mar_sim_{b:02d}", _mar(rng, frame, 1.5), prefix_items(frame.columns), "ml")
    for b in range(18):  # halo data, complete and with MAR loyalty answers (FIML)
        n = int(rng.integers(80, 260))
        frame = _halo(rng, n, make_data.SINGLE if b % 2 else make_data.MULTI)
        if b % 3 == 0:
            add(f"halo_mar_{b:02d}", _mar(rng, frame, 1.5), prefix_items(frame.columns), "ml")
        else:
            add(f"halo_{b:02d}", frame, prefix_items(frame.columns), "listwise")
    for b in range(3):   # bootstrap of the MCAR set, FIML
        add(f"boot_missing_{b:02d}", missing.sample(len(missing), replace=True, random_state=rng.integers(2**31)),
            prefix_items(missing.columns), "ml")
    return out


def fingerprint(frame: pd.DataFrame) -> str:
    """Hash of the answers (NaN as blank), to tell the test its data are the reference's."""
    text = frame.to_csv(index=False, na_rep="", float_format="%.0f")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(directory: str) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, ds in datasets().items():
        ds["data"].to_csv(target / f"{name}.csv", index=False, na_rep="", float_format="%.0f")
        index[name] = {"items": ds["items"], "missing": ds["missing"], "fingerprint": fingerprint(ds["data"])}
    (target / "index.json").write_text(json.dumps(index, indent=1))
    print(f"wrote {len(index)} data sets to {target}")


if __name__ == "__main__":
    main(sys.argv[1])
