"""MLR (lavaan ``estimator="MLR"``) against lavaan 0.6.14 on 17 data sets (tests/model/mlr/).

res1 is our fit, res2 lavaan's (reference.json, from make_reference.R). Every robust SE of a
path and a free loading, its z and p, and every robust fit measure is compared; the data sets
are the repo's own plus bootstrap resamples, subsamples (N 85-150), ceiling-heavy answers and
MAR missingness fitted by FIML (make_data.py).
"""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from model import CSISpec, fit
from model.exceptions import SpecificationError

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())
REFERENCE = json.loads((HERE / "reference.json").read_text())["datasets"]

SE_RTOL = 1e-4         # relative, standard errors
DECIMAL = 1e-4         # absolute: z/p, scaling factor, CFI, TLI, RMSEA
DECIMAL_CHI2 = 1e-3    # absolute: scaled chi² (N·F scaled, about 1e-5 relative)
MEASURES = [("chi2_scaled", "chisq.scaled"), ("scaling_factor", "chisq.scaling.factor"),
            ("p_value_scaled", "pvalue.scaled"), ("cfi_robust", "cfi.robust"),
            ("tli_robust", "tli.robust"), ("rmsea_robust", "rmsea.robust"),
            ("cfi_scaled", "cfi.scaled"), ("tli_scaled", "tli.scaled"),
            ("rmsea_scaled", "rmsea.scaled"), ("baseline_chi2_scaled", "baseline.chisq.scaled"),
            ("baseline_scaling_factor", "baseline.chisq.scaling.factor")]


def load(name):
    entry = MANIFEST[name]
    return pd.read_csv(HERE / "data" / entry["file"]), CSISpec.from_mapping(entry["items"])


@pytest.fixture(scope="module", params=list(MANIFEST))
def pair(request):
    name = request.param
    data, spec = load(name)
    missing = "fiml" if MANIFEST[name]["missing"] == "ml" else "listwise"
    res1 = fit(data, spec, missing=missing, estimator="mlr").to_dict()
    res2 = REFERENCE[name]
    params = {(p["lhs"], p["op"], p["rhs"]): p for p in res2["parameters"]}
    return res1, res2, params


def _ours(res1):
    """(lhs, op, rhs) -> our path or loading row."""
    rows = {(p["to"], "~", p["from"]): p for p in res1["paths"]}
    for code, c in res1["constructs"].items():
        rows.update({(code, "=~", item): ld for item, ld in c["loadings"].items()})
    return rows


def test_reference_is_mlr(pair):
    res1, res2, _ = pair
    assert res1["estimator"] == "mlr"
    assert res2["options"]["se"] == "robust.huber.white" and res2["options"]["test"] == "yuan.bentler.mplus"
    assert res1["n_used"] == res2["nobs"] and res1["converged"] and res2["converged"]
    assert res1["missing_method"] == ("fiml" if res2["missing"] == "ml" else "listwise")


def test_robust_standard_errors(pair):
    res1, _, params = pair
    ours = _ours(res1)
    free = [key for key in ours if params[key]["se"] not in (None, 0)]
    assert len(free) >= 9 + 8  # nine paths and the free loadings
    for key in free:
        mine, theirs = ours[key], params[key]
        assert mine["estimate"] == pytest.approx(theirs["est"], abs=DECIMAL), key
        assert mine["se"] == pytest.approx(theirs["se"], rel=SE_RTOL), key
        assert mine["z"] == pytest.approx(theirs["z"], abs=DECIMAL * max(1, abs(theirs["z"]))), key
        assert mine["p_value"] == pytest.approx(theirs["pvalue"], abs=DECIMAL), key
    for key in set(ours) - set(free):  # marker and single-item loadings stay fixed
        assert ours[key]["fixed"] and ours[key]["se"] is None


@pytest.mark.parametrize("ours, theirs", MEASURES)
def test_robust_fit_measures(pair, ours, theirs):
    res1, res2, _ = pair
    tol = DECIMAL_CHI2 if "chi2" in ours else DECIMAL
    assert res1["fit"][ours] == pytest.approx(res2["fit_measures"][theirs], abs=tol)


def test_robust_fields_are_json_and_listed(pair):
    res1, _, _ = pair
    assert json.loads(json.dumps(res1, allow_nan=False)) == res1
    assert {ours for ours, _ in MEASURES} <= set(res1["fit"])


def test_ml_is_unchanged_and_has_no_robust_fields():
    data, spec = load("single_cc")
    ml, mlr = fit(data, spec).to_dict(), fit(data, spec, estimator="mlr").to_dict()
    assert ml["estimator"] == "ml" and "chi2_scaled" not in ml["fit"]
    assert [p["estimate"] for p in ml["paths"]] == [p["estimate"] for p in mlr["paths"]]
    assert ml["fit"]["chi2"] == mlr["fit"]["chi2"]


def test_text_summary_shows_robust_columns():
    data, spec = load("ceiling_small")
    text = fit(data, spec, estimator="mlr").to_text()
    assert "MLR estimation" in text and "Rob.SE" in text and "Robust: scaled chi2(" in text


def test_unknown_estimator_is_a_specification_error():
    data, spec = load("single_cc")
    with pytest.raises(SpecificationError, match="estimator must be one of"):
        fit(data, spec, estimator="wls")


def test_cli_estimator(tmp_path):
    data = HERE / "data" / MANIFEST["single_sub85"]["file"]
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "model", "fit", str(data), "--estimator", "mlr",
                          "--json", str(out)], capture_output=True, text=True,
                         cwd=HERE.parents[2])
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["estimator"] == "mlr"
    assert result["fit"]["scaling_factor"] == pytest.approx(
        REFERENCE["single_sub85"]["fit_measures"]["chisq.scaling.factor"], abs=DECIMAL)
    bad = subprocess.run([sys.executable, "-m", "model", "fit", str(data), "--estimator", "wls"],
                         capture_output=True, text=True, cwd=HERE.parents[2])
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
