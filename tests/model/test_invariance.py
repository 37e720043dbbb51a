"""Multi-group invariance (fit(..., group=)) against lavaan 0.6.14 + semTools 0.5.6.

The reference (tests/model/invariance/reference.json) comes from make_reference.R: sem() with
group.equal = loadings / loadings+intercepts, compareFit deltas, group.partial refits of each
intercept, and the Chen (2007) decisions applied to lavaan's numbers."""
import csv
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from model import DataError, fit
from model.cli import main

from conftest import HERE, load_csv

INV = HERE / "invariance"
REF = json.loads((INV / "reference.json").read_text())["datasets"]
TOL = 1e-4
MEASURES = {"chi2": "chisq", "df": "df", "chi2_p_value": "pvalue", "cfi": "cfi", "tli": "tli", "rmsea": "rmsea",
            "baseline_chi2": "baseline.chisq", "baseline_df": "baseline.df", "npar": "npar"}
DELTAS = ("delta_chi2", "delta_df", "p_value", "delta_cfi", "delta_rmsea")
_CACHE = {}


def data(name):
    return pd.read_csv(INV / f"{name}.csv")


def result(name):
    if name not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # low_reliability etc. of the pooled fit
            _CACHE[name] = fit(data(name), group="group").to_dict()
    return _CACHE[name]


@pytest.mark.parametrize("name", sorted(REF))
def test_levels_and_deltas_match_lavaan_and_semtools(name):
    inv, ref = result(name)["invariance"], REF[name]
    for level in ("configural", "metric", "scalar"):
        mine, theirs = inv[level], ref["levels"][level]
        assert mine["converged"], level
        for key, rkey in MEASURES.items():
            assert mine[key] == pytest.approx(theirs[rkey], abs=TOL), (level, key)
        assert mine["rmsea_ci"] == pytest.approx([theirs["rmsea.ci.lower"], theirs["rmsea.ci.upper"]], abs=TOL)
        for key in DELTAS if level != "configural" else ():
            assert mine[key] == pytest.approx(theirs[key], abs=TOL), (level, key)
    assert inv["level"] == ref["level"]
    assert list(result(name)["groups"]) == ref["groups"]
    assert {g: v["n"] for g, v in result(name)["groups"].items()} == ref["n"]


@pytest.mark.parametrize("name", sorted(REF))
def test_intercept_tests_match_lavaan_group_partial(name):
    tests = {r["item"]: r["delta_chi2"] for r in result(name)["invariance"]["intercept_tests"]}
    assert tests.keys() == REF[name]["item_tests"].keys()
    for item, value in REF[name]["item_tests"].items():
        assert tests[item] == pytest.approx(value, abs=TOL), item


@pytest.mark.parametrize("name", sorted(REF))
def test_common_weights_are_the_metric_loadings_and_index_the_weighted_group_means(name):
    res, ref = result(name), REF[name]
    frame = data(name)
    frame = frame[frame.drop(columns="group").notna().all(axis=1)]  # listwise within groups
    for code, weights in res["invariance"]["weights"].items():
        loadings = np.array([ref["metric_loadings"].get(item, 1.0) if len(weights) > 1 else 1.0
                             for item in weights])
        assert list(weights.values()) == pytest.approx(list(loadings / loadings.sum()), abs=1e-5)
        for label, group in res["groups"].items():
            means = frame.loc[frame.group.astype(str) == label, list(weights)].mean()
            expected = (means @ (loadings / loadings.sum()) - 1) / 9 * 100
            assert group["constructs"][code]["index"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("name", [n for n in sorted(REF) if REF[n]["level"] == "scalar" or REF[n]["partial"]])
def test_latent_means_match_lavaan_where_comparable(name):
    res, ref = result(name), REF[name]
    means = ref["partial"]["latent_means"] if ref["partial"] else ref["latent_means"]
    assert res["invariance"]["comparable"] is True
    for label, group in res["groups"].items():
        for code, value in means[label].items():
            assert group["constructs"][code]["latent_mean"] == pytest.approx(value, abs=TOL), (label, code)


def test_planted_item_bias_fails_scalar_is_named_and_the_adjusted_index_restores_the_ranking():
    res, ref = result("bias"), REF["bias"]
    inv = res["invariance"]
    assert inv["scalar"]["holds"] is False and inv["scalar"]["delta_chi2"] > 100
    assert inv["intercept_tests"][0]["item"] == "CS1"
    assert inv["intercept_tests"][0]["difference"]["b"] == pytest.approx(1.5, abs=0.3)  # planted +1.5
    partial = inv["partial_scalar"]
    assert partial["free_intercepts"] == ref["partial"]["free_intercepts"] == ["CS1"]
    for key in ("chi2", "df", "cfi", "rmsea"):
        assert partial[key] == pytest.approx(ref["partial"][MEASURES[key]], abs=TOL)
    assert partial["holds"] is ref["partial"]["holds"] is True
    assert inv["differing_items"] == ["CS1"] and inv["comparable"] is True
    cs = {g: v["constructs"]["CS"] for g, v in res["groups"].items()}
    assert cs["b"]["index"] > cs["a"]["index"]                      # the biased item misleads ...
    assert cs["b"]["index_invariant"] < cs["a"]["index_invariant"]  # ... b is truly less satisfied


def test_metric_failure_names_the_items_whose_loadings_differ():
    res = result("loading")
    inv = res["invariance"]
    assert inv["level"] == "configural" and inv["comparable"] is False
    assert set(inv["differing_items"]) == {"PQ2", "CS2"}  # the planted weaker loadings
    assert all(c["index_invariant"] is None for g in res["groups"].values() for c in g["constructs"].values())
    warning = [w for w in res["warnings"] if w["code"] == "not_invariant"]
    assert warning and "PQ2" in warning[0]["message"]


def test_mar_data_are_fitted_listwise_within_groups_as_lavaan():
    res = result("mar")
    assert res["missing_method"] == "fiml" and res["n_used"] == 600  # the pooled fit keeps FIML
    assert res["invariance"]["excluded"] == {"missing_answer": 600 - sum(REF["mar"]["n"].values())}


@pytest.mark.parametrize("name", sorted(REF))
def test_negative_variances_are_reported_where_lavaan_warns(name):
    lavaan = any("variances are negative" in w for w in REF[name]["lavaan_warnings"])
    assert ("group_heywood" in [w["code"] for w in result(name)["warnings"]]) is lavaan


def test_no_invariance_keys_without_group():
    assert "invariance" not in fit(load_csv("csi_single_cc.csv")).to_dict()


def test_rows_without_group_or_with_missing_answers_are_excluded_and_counted():
    frame = data("small")
    frame.loc[:4, "group"] = np.nan
    frame.loc[10:12, "CS2"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(frame, group="group").to_dict()
    assert res["invariance"]["excluded"] == {"missing_group": 5, "missing_answer": 3}
    assert sum(g["n"] for g in res["groups"].values()) == len(frame) - 8


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns="group"), "not in the data"),
    (lambda d: d.assign(group="all"), "at least 2"),
    (lambda d: d.assign(group=np.arange(len(d)) % 21), "at most 20"),
    (lambda d: d.assign(group=np.where(np.arange(len(d)) < 20, "tiny", "rest")), "'tiny': 20"),
])
def test_bad_group_column_is_a_data_error(mutate, message):
    with pytest.raises(DataError, match=message):
        fit(mutate(data("small")), group="group")


def test_group_column_that_is_an_item_is_a_data_error():
    with pytest.raises(DataError, match="is an item"):
        fit(data("small"), group="CS1")


def test_cli_prints_invariance_table_and_group_indices(tmp_path, capsys):
    out, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["fit", str(INV / "small.csv"), "--group", "group", "--json", str(out), "--csv", str(out_csv)]) == 0
    text = capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d["invariance"]["level"] == REF["small"]["level"] == "scalar"
    assert "Measurement invariance" in text and "Invariance level: scalar" in text
    assert f"{d['invariance']['scalar']['chi2']:.2f}" in text
    assert f"{d['groups']['b']['constructs']['CS']['index']:.1f}" in text
    with out_csv.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert {"section": "invariance", "name": "scalar", "statistic": "delta_cfi",
            "value": str(d["invariance"]["scalar"]["delta_cfi"])} in rows
    assert {"section": "group", "name": "b CS", "statistic": "index",
            "value": str(d["groups"]["b"]["constructs"]["CS"]["index"])} in rows


def test_cli_bad_group_is_one_error_line(capsys):
    assert main(["fit", str(INV / "small.csv"), "--group", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("estimator", ["mlr", "pls"])
def test_other_estimators_get_the_same_ml_invariance_tests(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(data("small"), group="group", estimator=estimator).to_dict()
    assert res["estimator"] == estimator
    assert res["invariance"]["scalar"]["chi2"] == pytest.approx(REF["small"]["levels"]["scalar"]["chisq"], abs=TOL)


def _group_data(name):
    from model import CSISpec
    from model.groups import split
    frame = data(name)
    spec = CSISpec.from_columns(frame.columns)
    return spec, split(frame, "group", frame[list(spec.observed)].to_numpy(float), spec)[0]


def test_analytic_gradient_matches_finite_differences():
    from model.groups import _objective, layout
    spec, gd = _group_data("three")
    lay = layout(spec, 3, "scalar")
    x = np.random.default_rng(0).uniform(0.3, 0.9, lay.n_par)  # an arbitrary admissible point
    _, grad, _ = _objective(x, lay, gd)
    h = 1e-6
    numeric = [(_objective(x + h * e, lay, gd, False, False)[0] - _objective(x - h * e, lay, gd, False, False)[0])
               / (2 * h) for e in np.eye(lay.n_par)]
    assert np.max(np.abs(grad - numeric)) < 1e-6 * max(1, np.max(np.abs(grad)))


def test_a_crude_start_reaches_lavaans_optimum():
    from model.groups import LEVELS, fit_level
    spec, gd = _group_data("unequal")
    p, k = len(spec.observed), 6
    crude = [(np.ones((p, k)), np.zeros((k, k)), np.full(k, 0.5), np.full(p, 1.0), m.mean, np.zeros(k))
             for m in gd.moments]  # unit loadings, no paths: far from the solution
    for level in LEVELS:
        res = fit_level(spec, gd, level, crude)
        assert res.converged and res.grad_max < 1e-6
        assert res.measures["chi2"] == pytest.approx(REF["unequal"]["levels"][level]["chisq"], abs=TOL)


def test_numeric_group_values_are_sorted_as_numbers():
    frame = data("small")
    frame["group"] = frame["group"].map({"a": 10, "b": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(frame, group="group").to_dict()
    assert list(res["groups"]) == ["2", "10"] and res["invariance"]["reference_group"] == "2"
    # the reference group does not change the fit of any level
    assert res["invariance"]["scalar"]["chi2"] == pytest.approx(REF["small"]["levels"]["scalar"]["chisq"], abs=TOL)


def test_an_unverified_optimum_warns_and_is_reported(monkeypatch):
    import model.groups
    from model import InvarianceWarning
    monkeypatch.setattr(model.groups, "GRAD_TOL", -1.0)  # no gradient passes the check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", InvarianceWarning)
        with pytest.warns(InvarianceWarning, match="verified optimum"):
            res = fit(data("small"), group="group").to_dict()
    assert "invariance_not_converged" in [w["code"] for w in res["warnings"]]
    assert res["invariance"]["scalar"]["converged"] is False


COMPARABLE = [n for n in sorted(REF) if REF[n]["level"] == "scalar" or REF[n]["partial"]]


@pytest.mark.parametrize("name", COMPARABLE)
def test_latent_intercepts_and_their_standard_errors_match_lavaan(name):
    from model.groups import covariance, fit_level
    ref = REF[name]["partial"] or REF[name]
    spec, gd = _group_data(name)
    p, k = len(spec.observed), 6
    crude = [(np.ones((p, k)), np.zeros((k, k)), np.full(k, 0.5), np.full(p, 1.0), m.mean, np.zeros(k))
             for m in gd.moments]
    freed = tuple(list(spec.observed).index(i) for i in (REF[name]["partial"] or {}).get("free_intercepts", []))
    basis = fit_level(spec, gd, "scalar", crude, free_intercepts=freed)
    se = np.sqrt(np.diag(covariance(basis, gd)))
    for g, label in enumerate(gd.labels[1:], start=1):
        for c, code in enumerate(("CE", "PQ", "PV", "CS", "CC", "CL")):
            theirs = ref["latent_intercepts"][label][code]
            pid = basis.layout.alpha[g, c]
            assert basis.x[pid] == pytest.approx(theirs["est"], abs=TOL), (label, code)
            assert se[pid] == pytest.approx(theirs["se"], abs=TOL), (label, code)
    # public: CE is exogenous, so its latent mean is its intercept, with the same SE
    for label, group in list(result(name)["groups"].items())[1:]:
        assert group["constructs"]["CE"]["latent_mean_se"] == pytest.approx(
            ref["latent_intercepts"][label]["CE"]["se"], abs=TOL)
