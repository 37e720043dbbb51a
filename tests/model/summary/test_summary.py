"""The summary numbers against lavaan 0.6.14 (tests/model/summary/reference.json) and the text
summary against ``to_dict()``.

res1 is our fit, res2 lavaan's (make_reference.R): log-likelihoods (H0, H1), AIC, BIC, adjusted
BIC, npar, RMSEA p-close, item R² and the variance estimates with their SEs and std.all, on the
lavaan reference sets (ML), the resample sets of tests/model/mlr (MLR: robust SEs; bootstrap
resamples, subsamples, ceiling-heavy answers, MAR missingness under FIML) and every third of the
tests/model/resamples sets (ML; bootstrap, subsamples, small N, ceiling, halo, MAR under FIML)
where lavaan's solution is proper.
"""
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from model import CSISpec, fit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REFERENCE = json.loads((HERE / "reference.json").read_text())["datasets"]

LOGLIK_RTOL = 1e-5      # relative: log-likelihoods, AIC, BIC (sums over N rows)
DECIMAL = 1e-4          # absolute: p-close, R², variances, their SEs and std.all
MEASURES = [("loglik", "logl"), ("loglik_h1", "unrestricted.logl"), ("aic", "aic"), ("bic", "bic"),
            ("bic_adjusted", "bic2")]


RESAMPLES = json.loads((ROOT / "tests/model/resamples/reference.json").read_text())["datasets"]
# lavaan's solution is improper (a negative variance, which we bound at zero): nothing to compare
PROPER = [name for name, r in REFERENCE.items()
          if not name.startswith("resample_") or RESAMPLES[name[len("resample_"):]]["proper"]]


@lru_cache(maxsize=1)
def _resamples():
    spec = importlib.util.spec_from_file_location("resample_generate", ROOT / "tests/model/resamples/generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.datasets()


def load(res2):
    if res2["file"].startswith("resamples:"):  # generated with fixed seeds, see make_reference.R
        return _resamples()[res2["file"].split(":", 1)[1]]["data"]
    return pd.read_csv(ROOT / res2["file"])


@pytest.fixture(scope="module", params=PROPER)
def pair(request):
    res2 = REFERENCE[request.param]
    data = load(res2)
    missing = "fiml" if res2["missing"] == "ml" else "listwise"
    res1 = fit(data, CSISpec.from_mapping(res2["items"]), missing=missing,
               estimator=res2["estimator"].lower()).to_dict()
    return res1, res2


def test_reference_covers_both_treatments():
    kinds = {(r["missing"], r["estimator"], r["meanstructure"]) for r in REFERENCE.values()}
    assert kinds == {("listwise", "ML", False), ("ml", "ML", True), ("listwise", "MLR", False),
                     ("ml", "MLR", True)}
    assert len(REFERENCE) >= 40 and len(PROPER) >= 40


def test_likelihood_and_information_criteria(pair):
    res1, res2 = pair
    fm = res2["fit_measures"]
    assert res1["n_used"] == res2["nobs"] and res2["converged"]
    assert res1["fit"]["npar"] == fm["npar"]  # intercepts count under FIML only, as lavaan
    for ours, theirs in MEASURES:
        assert res1["fit"][ours] == pytest.approx(fm[theirs], rel=LOGLIK_RTOL), ours
    assert res1["fit"]["rmsea_pclose"] == pytest.approx(fm["rmsea.pvalue"], abs=DECIMAL)


def test_item_r2(pair):
    res1, res2 = pair
    ours = {item: ld["r2"] for c in res1["constructs"].values() for item, ld in c["loadings"].items()}
    assert set(ours) == set(res2["r2_items"])
    for item, value in res2["r2_items"].items():
        assert ours[item] == pytest.approx(value, abs=DECIMAL), item


def test_variances(pair):
    res1, res2 = pair
    ours = {**res1["variances"]["items"], **res1["variances"]["constructs"]}
    assert set(ours) == {v["lhs"] for v in res2["variances"]}
    for lav in res2["variances"]:
        mine = ours[lav["lhs"]]
        assert mine["estimate"] == pytest.approx(lav["est"], abs=DECIMAL), lav["lhs"]
        assert mine["std_estimate"] == pytest.approx(lav["std.all"], abs=DECIMAL), lav["lhs"]
        if lav["se"] == 0:  # fixed: a single item's error variance
            assert mine["fixed"] and mine["se"] is None
        else:
            assert not mine["fixed"]
            assert mine["se"] == pytest.approx(lav["se"], abs=DECIMAL), lav["lhs"]
            assert mine["z"] == pytest.approx(lav["z"], abs=1e-3 * max(1, abs(lav["z"]))), lav["lhs"]
    kinds = res1["variances"]["constructs"]
    assert kinds["CE"]["kind"] == "variance" and {kinds[c]["kind"] for c in kinds if c != "CE"} == {"disturbance"}


NUM = r"(-?\d+\.\d+|-|fixed)"


def _number(text):
    return None if text in ("-", "fixed") else float(text)


def _rows(text, head, pattern):
    """Lines of the section whose column line starts with ``head``, matched by ``pattern``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head)) + 1
    block = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("Bootstrap:"):  # the table's end
            break
        match = re.fullmatch(pattern, line)
        assert match, line
        block.append(match.groups())
    return block


@pytest.fixture(scope="module", params=[("csi_single_cc", "ml"), ("mlr_mar_single_fiml", "mlr"),
                                        ("csi_multi", "pls")])
def summary(request):
    name, estimator = request.param
    res2 = REFERENCE[name]
    missing = "fiml" if res2["missing"] == "ml" else "listwise"
    result = fit(pd.read_csv(ROOT / res2["file"]), CSISpec.from_mapping(res2["items"]),
                 missing=missing, estimator=estimator)
    return result.to_text(), result.to_dict()


def _close(shown, value, decimals=3):
    if value is None:
        return shown is None
    return shown is not None and abs(shown - value) <= 0.5 * 10 ** -decimals + 1e-12


def test_text_loadings(summary):
    text, d = summary
    rows = _rows(text, "Loading ", rf"(\w+) =~ (\S+)\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}")
    expected = [(code, item, ld) for code, c in d["constructs"].items() for item, ld in c["loadings"].items()]
    assert [(r[0], r[1]) for r in rows] == [(code, item) for code, item, _ in expected]
    for (_, _, est, se, z, p, std, r2), (_, _, ld) in zip(rows, expected):
        assert _close(_number(est), ld["estimate"]) and _close(_number(std), ld["std_estimate"])
        assert _close(_number(r2), ld["r2"]) and _close(_number(p), ld["p_value"])
        assert _close(_number(z), ld["z"], 2)
        assert (se == "fixed") == ld["fixed"] and (ld["fixed"] or _close(_number(se), ld["se"]))


def test_text_variances(summary):
    text, d = summary
    rows = _rows(text, "Variance ", rf"(\w+)(?: \((variance|disturbance)\))?\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}")
    expected = {**d["variances"]["items"], **d["variances"]["constructs"]}
    assert [r[0] for r in rows] == list(expected)
    for name, kind, est, se, z, p, std in rows:
        row = expected[name]
        assert kind == (row.get("kind") or None)
        assert _close(_number(est), row["estimate"]) and _close(_number(std), row["std_estimate"])
        assert (se == "fixed") == row["fixed"] and (row["fixed"] or _close(_number(se), row["se"]))
        assert _close(_number(p), row["p_value"]) and _close(_number(z), row["z"], 2)


def test_text_effects(summary):
    text, d = summary
    rows = _rows(text, "Effect ", rf"(\w+) -> (\w+)\s+{NUM}\s+{NUM}\s+{NUM}\s+\|\s+{NUM}\s+{NUM}\s+{NUM}")
    assert [(r[0], r[1]) for r in rows] == [(e["from"], e["to"]) for e in d["effects"]]
    keys = ("direct", "indirect", "total", "std_direct", "std_indirect", "std_total")
    for row, e in zip(rows, d["effects"]):
        for shown, key in zip(row[2:], keys):
            assert _close(_number(shown), e[key]), key


def test_text_likelihood(summary):
    text, d = summary
    fit_ = d["fit"]
    match = re.search(rf"Log-likelihood: model \(H0\) {NUM}, saturated \(H1\) {NUM}; npar (\d+); "
                      rf"AIC {NUM}, BIC {NUM}, adjusted BIC {NUM}", text)
    close = re.search(rf"p-close \(RMSEA <= \.05\) = {NUM}", text)
    if d["estimator"] == "pls":
        assert match is None and close is None and fit_["loglik"] is None and fit_["npar"] is None
        return
    ll, ll1, npar, aic, bic, bic2 = match.groups()
    assert int(npar) == fit_["npar"]
    for shown, key in zip((ll, ll1, aic, bic, bic2), ("loglik", "loglik_h1", "aic", "bic", "bic_adjusted")):
        assert _close(_number(shown), fit_[key]), key
    assert _close(_number(close.group(1)), fit_["rmsea_pclose"])


def test_text_bootstrap_columns():
    """With ``bootstrap=B`` the path and loading tables gain the bootstrap SE and interval."""
    res2 = REFERENCE["csi_single_cc"]
    result = fit(pd.read_csv(ROOT / res2["file"]), CSISpec.from_mapping(res2["items"]),
                 missing="listwise", bootstrap=20, seed=7, workers=1)
    text, d = result.to_text(), result.to_dict()
    cell = rf"{NUM}\s+(?:\[{NUM}, {NUM}\]|-)"
    rows = _rows(text, "Loading ", rf"(\w+) =~ (\S+)\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{cell}")
    loadings = {(code, item): ld for code, c in d["constructs"].items() for item, ld in c["loadings"].items()}
    assert [r[:2] for r in rows] == list(loadings)
    for row in rows:
        ld = loadings[row[:2]]
        boot_se, lo, hi = row[8:]
        if ld["fixed"]:
            assert boot_se == "-" and lo is None
        else:
            assert _close(_number(boot_se), ld["boot_se"])
            assert _close(_number(lo), ld["boot_ci"][0]) and _close(_number(hi), ld["boot_ci"][1])
    paths = _rows(text, "Path ", rf"(\w+) -> (\w+)\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{cell}")
    assert len(paths) == len(d["paths"])
    for row, p in zip(paths, d["paths"]):
        assert _close(_number(row[7]), p["boot_se"]) and _close(_number(row[8]), p["boot_ci"][0])
    assert f"Bootstrap: {d['bootstrap']['draws']} draws" in text and d["bootstrap"]["seed"] == 7
