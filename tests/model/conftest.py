"""Fixtures for the model engine tests: a local RNG, survey simulation, lavaan references."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
REFERENCE = HERE / "lavaan" / "reference.json"

ORDER = ("CE", "PQ", "PV", "CS", "CC", "CL")
PATHS = {"PQ": {"CE": 0.55}, "PV": {"CE": 0.2, "PQ": 0.5}, "CS": {"CE": 0.15, "PQ": 0.45, "PV": 0.3},
         "CC": {"CS": -0.5}, "CL": {"CS": 0.55, "CC": -0.2}}
COUNTS = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 1, "CL": 2}


def simulate(rng, n, counts=COUNTS, loading=0.8, centre=7.0, spread=1.7):
    """1..10 survey answers from the six-construct model with unit-variance latents."""
    eta = {"CE": rng.standard_normal(n)}
    for code in ORDER[1:]:
        signal = sum(b * eta[src] for src, b in PATHS[code].items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.05)) * rng.standard_normal(n)
    cols = {}
    for code in ORDER:
        for k in range(1, counts[code] + 1):
            noise = np.sqrt(1 - loading**2) * rng.standard_normal(n)
            raw = centre + spread * (loading * eta[code] + noise)
            cols[f"{code}{k}"] = np.clip(np.rint(raw), 1, 10)
    return pd.DataFrame(cols), eta


@pytest.fixture
def rng():
    return np.random.default_rng(2021)


@pytest.fixture
def survey(rng):
    """300 simulated complete responses, single-item CC."""
    return simulate(rng, 300)[0]


@pytest.fixture(scope="session")
def reference():
    return json.loads(REFERENCE.read_text())


def load_csv(name):
    return pd.read_csv(DATA / name)
