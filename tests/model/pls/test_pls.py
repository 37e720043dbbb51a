"""PLS (``estimator="pls"``) against seminr 0.2.1 and openpls-engine 1.13.0 (reference.json, from
make_reference.py) on the repo's data and 26 variants: bootstrap resamples, subsamples, small N,
ceiling-heavy answers, MAR loyalty gaps (FIML: PLS on the EM covariance), a reverse-coded item.
Neither seminr nor R is needed here."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import ConvergenceWarning, SpecificationError, fit, pls
from model.cli import main
from model.fiml import Patterns

from pls_data import CODES, PATHS, checksum, datasets

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "reference.json").read_text())["datasets"]
DATASETS = datasets()
DECIMAL = 1e-5


def _fit(name, **kwargs):
    frame, mapping, missing = DATASETS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # low_reliability etc. on small samples: in the result
        return fit(frame, mapping, missing=missing, estimator="pls", **kwargs).to_dict()


@pytest.fixture(scope="module", params=sorted(REFERENCE))
def pair(request):
    return _fit(request.param), REFERENCE[request.param], request.param


def test_reference_covers_the_same_rows():
    assert set(REFERENCE) == set(DATASETS)
    for name, (frame, mapping, _) in DATASETS.items():
        assert checksum(frame, mapping) == pytest.approx(REFERENCE[name]["checksum"], rel=1e-12)


def test_outer_weights_and_loadings(pair):
    res, ref, _ = pair
    assert res["estimator"] == "pls" and res["converged"] is True and res["n_used"] == ref["n"]
    for code, c in res["constructs"].items():
        for item in c["items"]:
            assert c["outer_weights"][item] == pytest.approx(ref["outer_weights"][item], abs=DECIMAL)
            assert c["loadings"][item]["std_estimate"] == pytest.approx(ref["loadings"][item], abs=DECIMAL)


def test_paths_and_r2(pair):
    res, ref, _ = pair
    for p in res["paths"]:
        beta = ref["paths"][f"{p['from']}->{p['to']}"]
        assert p["estimate"] == pytest.approx(beta, abs=DECIMAL)
        assert p["std_estimate"] == pytest.approx(beta, abs=DECIMAL)
        assert p["se"] is None and p["p_value"] is None  # no SEs without a bootstrap
    for code in CODES:
        expected = ref["r2"].get(code)
        assert res["constructs"][code]["r2"] == (None if expected is None else pytest.approx(expected, abs=DECIMAL))


def test_reliability(pair):
    res, ref, _ = pair
    for code, c in res["constructs"].items():
        rel = ref["reliability"][code]
        if len(c["items"]) == 1:  # seminr reports 1 for a single item; we do not rate it
            assert c["alpha"] is None and c["rho_a"] is None
            continue
        assert c["alpha"] == pytest.approx(rel["alpha"], abs=DECIMAL)
        assert c["rho_a"] == pytest.approx(rel["rhoA"], abs=DECIMAL)
        assert c["cr"] == pytest.approx(rel["rhoC"], abs=DECIMAL)
        assert c["ave"] == pytest.approx(rel["AVE"], abs=DECIMAL)


def test_second_implementation_openpls(pair):
    """openpls-engine (a plspm fork, its own iteration and stopping rule) agrees as well."""
    res, ref, _ = pair
    for p in res["paths"]:
        assert p["estimate"] == pytest.approx(ref["openpls"]["paths"][f"{p['from']}->{p['to']}"], abs=DECIMAL)
    for c in res["constructs"].values():
        for item, ld in c["loadings"].items():
            assert ld["std_estimate"] == pytest.approx(ref["openpls"]["loadings"][item], abs=DECIMAL)


def test_srmr_of_the_saturated_model(pair):
    res, ref, _ = pair
    assert res["fit"]["srmr"] == pytest.approx(ref["srmr"], abs=DECIMAL)


def test_fiml_runs_on_the_em_covariance():
    """The reference's own row-wise EM gives the covariance seminr was fitted to."""
    for name, (frame, mapping, missing) in DATASETS.items():
        if missing != "fiml":
            continue
        items = [i for c in CODES for i in mapping[c]]
        values = frame[items].to_numpy(float)
        mean, cov = Patterns.from_values(values[~np.isnan(values).all(axis=1)]).saturated()
        assert cov == pytest.approx(np.array(REFERENCE[name]["em_cov"]), abs=1e-6)
        assert mean == pytest.approx(np.array(REFERENCE[name]["em_mean"]), abs=1e-6)


def test_acsi_index_weights_and_impacts_by_hand():
    """csi_single_cc: index, weights and index-unit effects from seminr's weights and the raw rows."""
    frame, mapping, _ = DATASETS["csi_single_cc"]
    ref = REFERENCE["csi_single_cc"]
    res = _fit("csi_single_cc")
    scores = {}
    for code in CODES:
        items = mapping[code]
        raw = np.array([ref["outer_weights"][i] / frame[i].std() for i in items])
        w = raw / raw.sum()
        got = res["constructs"][code]
        assert [got["weights"][i] for i in items] == pytest.approx(w, abs=1e-6)
        assert got["index"] == pytest.approx((w @ frame[items].mean().to_numpy() - 1) / 9 * 100, abs=1e-5)
        scores[code] = (frame[items].to_numpy(float) @ w - 1) / 9 * 100   # each respondent's index
    # a driver's direct effect in index points = the OLS slope of the target's index on the
    # predecessors' indices, computed on the respondents' scores
    for target in ("CS", "CL"):
        preds = [a for a, b in PATHS if b == target]
        x = np.column_stack([np.ones(len(frame))] + [scores[a] for a in preds])
        slopes = np.linalg.lstsq(x, scores[target], rcond=None)[0][1:]
        for a, slope in zip(preds, slopes):
            effect = next(e for e in res["effects"] if e["from"] == a and e["to"] == target)
            assert effect["direct"] * _units(scores, target) / _units(scores, a) == pytest.approx(slope, abs=1e-6)
    # total effects: (I - B)^-1 - I on seminr's coefficients, times the index SD ratio
    b = np.zeros((6, 6))
    for (a, t) in PATHS:
        b[CODES.index(t), CODES.index(a)] = ref["paths"][f"{a}->{t}"]
    total = np.linalg.inv(np.eye(6) - b) - np.eye(6)
    for e in res["effects"]:
        t, d = CODES.index(e["to"]), CODES.index(e["from"])
        expected = total[t, d] * _units(scores, e["to"]) / _units(scores, e["from"])
        assert e["total_index"] == pytest.approx(expected, abs=1e-5)
        assert e["impact_5pt"] == pytest.approx(5 * expected, abs=5e-5)
    cs_drivers = {row["construct"]: row for row in res["ipma"]}
    for row in res["ipma_items"]:
        assert row["importance"] == pytest.approx(
            cs_drivers[row["construct"]]["importance"] * res["constructs"][row["construct"]]["weights"][row["item"]])


def _units(scores, code):
    return scores[code].std()   # index points per composite SD (ddof cancels in the ratios)


def test_reverse_coded_item_gets_a_warning_and_equal_weights():
    res = _fit("reversed_item")
    assert res["constructs"]["CE"]["outer_weights"]["CE2"] < 0
    codes = [w["code"] for w in res["warnings"]]
    assert "negative_weight" in codes and "equal_weights" not in codes
    assert "CE2" in next(w["message"] for w in res["warnings"] if w["code"] == "negative_weight")
    assert list(res["constructs"]["CE"]["weights"].values()) == pytest.approx([1 / 3] * 3)
    assert all(w > 0 for w in res["constructs"]["PQ"]["weights"].values())


def test_fields_without_pls_meaning_are_none_and_no_verdict_claims_them():
    res = _fit("csi_missing_fiml")
    assert json.loads(json.dumps(res, allow_nan=False)) == res
    f = res["fit"]
    assert all(f[k] is None for k in ("chi2", "df", "p_value", "cfi", "tli", "rmsea", "baseline_chi2"))
    assert set(f["verdicts"]) == {"srmr"} and f["verdicts"]["srmr"]["value"] == f["srmr"]
    assert "fit_index_undefined" not in [w["code"] for w in res["warnings"]]
    for c in res["constructs"].values():
        assert all(ld["se"] is None and ld["fixed"] is False for ld in c["loadings"].values())
    frame, mapping, _ = DATASETS["csi_missing_fiml"]
    text = fit(frame, mapping, estimator="pls").to_text()
    assert "PLS path modelling" in text and "SRMR = " in text
    assert "CFI =" not in text and "chi2(" not in text


def test_not_converged_falls_back_to_equal_weights(monkeypatch):
    monkeypatch.setattr(pls, "MAX_ITER", 1)
    frame, mapping, _ = DATASETS["small80_0"]
    with pytest.warns(ConvergenceWarning, match="PLS did not converge"):
        res = fit(frame, mapping, estimator="pls").to_dict()
    codes = [w["code"] for w in res["warnings"]]
    assert res["converged"] is False and "not_converged" in codes and "equal_weights" in codes
    for c in res["constructs"].values():
        assert list(c["weights"].values()) == pytest.approx([1 / len(c["items"])] * len(c["items"]))


def test_pls_is_the_same_from_any_number_of_copies_of_the_rows():
    """Only the correlations matter: the rows stacked three times give the same estimates."""
    frame, mapping, _ = DATASETS["small100_1"]
    one = _fit("small100_1")
    three = fit(pd.concat([frame] * 3, ignore_index=True), mapping, estimator="pls").to_dict()
    assert [p["estimate"] for p in three["paths"]] == pytest.approx([p["estimate"] for p in one["paths"]], abs=1e-12)
    assert three["csi"] == pytest.approx(one["csi"], abs=1e-10)


def test_unknown_estimator_is_a_specification_error(tmp_path, capsys):
    frame, mapping, _ = DATASETS["csi_multi"]
    with pytest.raises(SpecificationError, match="estimator must be one of"):
        fit(frame, mapping, estimator="gls")
    assert main(["fit", str(HERE.parent / "data" / "csi_multi.csv"), "--estimator", "gls"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_cli_estimator_pls_writes_json(tmp_path, capsys):
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["fit", str(HERE.parent / "data" / "csi_multi.csv"), "--estimator", "pls", "--json", str(out),
                 "--csv", str(table)]) == 0
    d = json.loads(out.read_text())
    rows = pd.read_csv(table, encoding="utf-8-sig")
    w = rows[(rows["statistic"] == "outer_weight") & (rows["name"] == "CL2")]["value"]
    assert float(w.iloc[0]) == pytest.approx(REFERENCE["csi_multi"]["outer_weights"]["CL2"], abs=DECIMAL)
    assert d["estimator"] == "pls"
    beta = REFERENCE["csi_multi"]["paths"]["CS->CL"]
    assert next(p for p in d["paths"] if p["from"] == "CS" and p["to"] == "CL")["estimate"] == pytest.approx(beta, abs=DECIMAL)
    assert "PLS path modelling" in capsys.readouterr().out
