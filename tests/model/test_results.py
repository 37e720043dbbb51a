"""CSIResult: frozen, JSON round trip with the contract's keys, readable text."""
import dataclasses
import json

import pytest

from model import CONSTRUCTS, CSIResult, fit

from conftest import load_csv

TOP = {"n_total", "n_used", "n_dropped", "dropped_reasons", "missing_method", "estimator", "converged",
       "scale", "csi", "warnings", "constructs", "paths", "effects", "fit", "reliability_verdicts",
       "discriminant", "ipma", "ipma_items", "improve_first", "decision", "latent_correlations",
       "model_syntax", "variances"}
CONSTRUCT = {"name_en", "name_zh", "items", "weights", "index", "index_se", "index_ci", "r2", "alpha",
             "cr", "ave", "item_scores", "item_n", "loadings"}
PATH = {"from", "to", "estimate", "std_estimate", "se", "z", "p_value", "ci"}
EFFECT = {"from", "to", "direct", "indirect", "total", "std_direct", "std_indirect", "std_total",
          "total_index", "impact_5pt"}
FIT = {"chi2", "df", "p_value", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "baseline_chi2",
       "baseline_df", "verdicts", "loglik", "loglik_h1", "npar", "aic", "bic", "bic_adjusted", "rmsea_pclose"}
LOADING = {"estimate", "std_estimate", "fixed", "se", "z", "p_value", "ci", "r2"}
VARIANCE = {"estimate", "std_estimate", "fixed", "se", "z", "p_value", "ci"}


@pytest.fixture(scope="module")
def result():
    return fit(load_csv("csi_missing.csv"))


def test_to_dict_json_round_trip_with_required_keys(result):
    d = result.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert set(d) == TOP
    assert list(d["constructs"]) == list(CONSTRUCTS)
    for c in d["constructs"].values():
        assert set(c) == CONSTRUCT and len(c["index_ci"]) == 2
        assert all(set(ld) == LOADING for ld in c["loadings"].values())
    assert set(d["variances"]) == {"items", "constructs"}
    assert list(d["variances"]["items"]) == list(result.spec.observed)
    assert all(set(v) == VARIANCE for v in d["variances"]["items"].values())
    assert list(d["variances"]["constructs"]) == list(CONSTRUCTS)
    assert all(set(v) == VARIANCE | {"kind"} for v in d["variances"]["constructs"].values())
    assert d["constructs"]["CE"]["r2"] is None and d["constructs"]["CC"]["alpha"] is None
    assert len(d["paths"]) == 9 and all(set(p) == PATH for p in d["paths"])
    assert all(set(e) == EFFECT for e in d["effects"])
    assert set(d["fit"]) == FIT and len(d["fit"]["rmsea_ci"]) == 2
    assert set(d["fit"]["verdicts"]) == {"chi2", "cfi", "tli", "rmsea", "srmr"}
    assert all(set(v) == {"value", "threshold", "good", "verdict", "ok", "text"}
               for v in d["fit"]["verdicts"].values())
    assert all(set(w) == {"code", "message"} for w in d["warnings"])
    assert all(set(r) == {"construct", "importance", "performance", "priority", "impact_5pt"}
               for r in d["ipma"])
    assert all(set(r) == {"item", "construct", "importance", "performance", "priority", "impact_5pt"}
               for r in d["ipma_items"])
    assert set(d["discriminant"]) >= {"fornell_larcker", "htmt", "ok"}
    assert d["scale"] == [1.0, 10.0] and d["missing_method"] == "fiml"


def test_result_is_frozen(result):
    assert isinstance(result, CSIResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.converged = False


def test_params_table_is_float(result):
    params = result.params
    assert params.loc["CS ~ PQ", "estimate"] == result.paths[4]["estimate"]
    assert params.loc["CE =~ CE1", "se"] != params.loc["CE =~ CE1", "se"]  # fixed marker: NaN
    assert all(dtype.kind == "f" for dtype in params.dtypes)


def test_to_text_summarises(result):
    text = result.to_text()
    assert f"CSI (customer satisfaction, 0-100): {result.csi:.1f}" in text
    assert f"{result.n_used} used, {result.n_dropped} dropped" in text
    for code in CONSTRUCTS:
        assert f"\n{code} " in text
    assert "CFI = " in text and "[discriminant_validity]" in text
    assert "full-information ML" in text
    assert "1. " in text and "impact" in text
