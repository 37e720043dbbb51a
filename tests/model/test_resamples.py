"""Many resamples against lavaan 0.6.14 (tests/model/resamples/reference.json).

The data sets come from ``resamples/generate.py`` (fixed seeds; fingerprints checked). Wherever
lavaan converged to a proper solution, our χ² must not exceed lavaan's by more than 1e-3 (we
reach at least lavaan's optimum), and where ours is verified and proper too, standardized paths,
R² and fit indices agree to 1e-4. Where lavaan's solution is improper (a negative variance,
which lavaan allows and we bound at zero), ours must not claim a clean fit: it is at a bound
(a ``heywood`` warning) or flagged ``not_converged``.
"""
import importlib.util
import json
import warnings
from pathlib import Path

import pytest

from model import CSISpec, ModelWarning, fit

HERE = Path(__file__).resolve().parent / "resamples"
REFERENCE = json.loads((HERE / "reference.json").read_text())["datasets"]
DECIMAL = 1e-4
DECIMAL_CHI2 = 1e-3

_spec = importlib.util.spec_from_file_location("resample_generate", HERE / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)
DATASETS = generate.datasets()


def codes(result):
    return {w["code"] for w in result["warnings"]}


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, ds in DATASETS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelWarning)
            result = fit(ds["data"], CSISpec.from_mapping(ds["items"]),
                         missing="fiml" if ds["missing"] == "ml" else "listwise")
        out[name] = result.to_dict()
    return out


def test_data_sets_are_the_references():
    assert set(DATASETS) == set(REFERENCE) and len(DATASETS) >= 50
    for name, ds in DATASETS.items():
        assert generate.fingerprint(ds["data"]) == REFERENCE[name]["fingerprint"], name
        assert ds["missing"] == REFERENCE[name]["missing"]


def test_chi2_never_above_lavaans_proper_optimum(fits):
    checked = 0
    for name, lav in REFERENCE.items():
        if not (lav["converged"] and lav["proper"]):
            continue
        ours = fits[name]
        assert ours["n_used"] == lav["nobs"], name
        assert ours["fit"]["chi2"] <= lav["fit"]["chisq"] + DECIMAL_CHI2, name
        assert ours["converged"], name
        checked += 1
    assert checked >= 45


def test_proper_solutions_agree(fits):
    checked = 0
    for name, lav in REFERENCE.items():
        ours = fits[name]
        if not (lav["converged"] and lav["proper"] and ours["converged"] and "heywood" not in codes(ours)):
            continue
        assert ours["fit"]["chi2"] == pytest.approx(lav["fit"]["chisq"], abs=DECIMAL_CHI2), name
        assert ours["fit"]["df"] == lav["fit"]["df"]
        for key in ("cfi", "tli", "rmsea", "srmr"):
            assert ours["fit"][key] == pytest.approx(lav["fit"][key], abs=DECIMAL), (name, key)
        paths = {(p["from"], p["to"]): p for p in ours["paths"]}
        for p in lav["paths"]:
            mine = paths[(p["from"], p["to"])]
            assert mine["estimate"] == pytest.approx(p["est"], abs=DECIMAL), (name, p)
            assert mine["std_estimate"] == pytest.approx(p["std"], abs=DECIMAL), (name, p)
        for ld in lav["loadings"]:
            mine = ours["constructs"][ld["construct"]]["loadings"][ld["item"]]
            assert mine["std_estimate"] == pytest.approx(ld["std"], abs=DECIMAL), (name, ld)
        for code, value in lav["r2"].items():
            assert ours["constructs"][code]["r2"] == pytest.approx(value, abs=DECIMAL), (name, code)
        checked += 1
    assert checked >= 45


def test_improper_lavaan_solutions_are_flagged(fits):
    improper = [name for name, lav in REFERENCE.items() if lav["converged"] and not lav["proper"]]
    assert improper  # the generator produces some (negative variances in lavaan)
    for name in improper:
        ours = fits[name]
        assert "heywood" in codes(ours) or not ours["converged"], name
        if ours["converged"]:  # bounded at zero: a constrained optimum, never better than lavaan's
            assert ours["fit"]["chi2"] >= REFERENCE[name]["fit"]["chisq"] - DECIMAL_CHI2, name


def test_fiml_index_uses_lavaans_saturated_means_and_their_covariance(fits):
    """Under FIML the item scores are the EM (saturated-model) means and the index SE uses
    their sampling covariance: lavaan's saturated model with missing = "ml", vcov() of ~1."""
    import numpy as np
    checked = 0
    for name, lav in REFERENCE.items():
        if lav["missing"] != "ml":
            continue
        ours = fits[name]
        lo, hi = ours["scale"]
        items = [i for c in ours["constructs"].values() for i in c["items"]]
        mean_cov = np.array(lav["h1_mean_cov"])
        order = {item: k for k, item in enumerate(DATASETS[name]["data"][items].columns)}
        lav_items = sum(DATASETS[name]["items"].values(), [])
        for code, c in ours["constructs"].items():
            for item, score in c["item_scores"].items():
                assert lo + score / 100 * (hi - lo) == pytest.approx(lav["h1_mean"][item], abs=DECIMAL), (name, item)
            idx = [lav_items.index(i) for i in c["items"]]
            w = np.array([c["weights"][i] for i in c["items"]])
            se = np.sqrt(w @ mean_cov[np.ix_(idx, idx)] @ w) * 100 / (hi - lo)
            assert c["index_se"] == pytest.approx(se, rel=1e-3, abs=1e-4), (name, code)
        checked += 1
    assert checked >= 15
