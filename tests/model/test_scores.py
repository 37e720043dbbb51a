"""Index scores, weights, intervals, IPMA and impact checked against hand computation."""
import numpy as np
import pandas as pd
import pytest

from model import CONSTRUCTS, CSISpec, DataError, descriptive_scores, fit, respondent_scores, subset_indices
from model.scores import construct_indices, rank_priority
from model.stats import ItemMeans, Moments

from conftest import simulate, load_csv


@pytest.fixture(scope="module")
def result():
    return fit(load_csv("csi_single_cc.csv"))


def test_index_formula_by_hand():
    # CE: three items, weights .2/.3/.5, item means 7, 8, 6 -> weighted mean 6.8
    values = np.array([[7, 8, 6], [9, 8, 7], [5, 8, 5]], dtype=float)
    values = np.hstack([values, np.ones((3, 5)) * np.arange(1, 4)[:, None]])  # other constructs
    spec = CSISpec.from_columns(["CE1", "CE2", "CE3", "PQ1", "PV1", "CS1", "CC1", "CL1"])
    weights = {code: np.ones(len(spec.items[code])) / len(spec.items[code]) for code in CONSTRUCTS}
    weights["CE"] = np.array([0.2, 0.3, 0.5])
    means = ItemMeans.from_values(values)
    out = construct_indices(means, spec, weights, (1, 10))["CE"]
    assert out["index"] == pytest.approx((6.8 - 1) / 9 * 100)          # 64.444...
    assert out["item_scores"] == pytest.approx({"CE1": 600 / 9, "CE2": 700 / 9, "CE3": 500 / 9})
    # CI: per-respondent weighted means 6.8, 7.7, 5.9 -> sd 0.9, se 0.9/sqrt(3), on 0-100: ·100/9
    se = 0.9 / np.sqrt(3) * 100 / 9     # = 5.7735
    assert out["index_ci"] == pytest.approx([64.4444 - 1.959964 * se, 64.4444 + 1.959964 * se], abs=1e-3)
    assert out["index_ci"] == pytest.approx([53.12859, 75.76030], abs=1e-4)
    other = construct_indices(means, spec, weights, (0, 10))["CE"]
    assert other["index"] == pytest.approx(68.0)
    complete = ItemMeans.from_moments(Moments.from_values(values))   # the no-gaps shortcut
    assert complete.mean == pytest.approx(means.mean) and complete.cov_of_means == pytest.approx(means.cov_of_means)


def test_weights_are_normalized_unstandardized_loadings(result):
    for code, c in result.to_dict()["constructs"].items():
        loadings = np.array([c["loadings"][item]["estimate"] for item in c["items"]])
        assert list(c["weights"].values()) == pytest.approx(list(loadings / loadings.sum()))
        assert sum(c["weights"].values()) == pytest.approx(1.0)
    assert result.weights["CC"] == {"CC1": 1.0}


def test_index_matches_weighted_item_means(result):
    data = load_csv("csi_single_cc.csv")
    for code, c in result.constructs.items():
        weighted = sum(w * data[item].mean() for item, w in c["weights"].items())
        assert c["index"] == pytest.approx((weighted - 1) / 9 * 100)
        per_person = sum(w * data[item] for item, w in c["weights"].items())
        se = per_person.std(ddof=1) / np.sqrt(len(data)) * 100 / 9
        assert c["index_ci"] == pytest.approx([c["index"] - 1.959964 * se, c["index"] + 1.959964 * se])
    assert result.csi == result.constructs["CS"]["index"]


def test_listwise_model_and_scores_from_available_answers(reference):
    res2 = reference["datasets"]["csi_missing_listwise"]
    data = load_csv("csi_missing.csv")
    result = fit(data, missing="listwise")
    assert (result.n_used, result.n_dropped) == (res2["n_listwise"], res2["n_total"] - res2["n_listwise"])
    assert result.dropped_reasons == {"missing_answer": res2["n_total"] - res2["n_listwise"]}
    assert result.missing_method == "listwise"
    assert "many_dropped" in [w["code"] for w in result.warnings]
    pairwise = data.cov()                                # pandas: pairwise-complete, N - 1
    answered = data.notna().astype(float)
    n_ij = answered.T @ answered
    for code, c in result.constructs.items():
        items = c["items"]
        for item in items:
            assert c["item_n"][item] == data[item].notna().sum()
            assert c["item_scores"][item] == pytest.approx((data[item].mean() - 1) / 9 * 100)
        w = pd.Series(c["weights"])
        assert c["index"] == pytest.approx(((w * data[items].mean()).sum() - 1) / 9 * 100)
        n = data[items].notna().sum()
        cov_means = pairwise.loc[items, items] * n_ij.loc[items, items] / np.outer(n, n)
        se = np.sqrt(w @ cov_means @ w) * 100 / 9
        assert c["index_se"] == pytest.approx(se)


def test_respondent_scores_renormalize_weights_over_answered_items(result):
    data = pd.DataFrame({item: [7.0, 7.0] for item in result.spec.observed}, index=["a", "b"])
    data.loc["b", "CE1"] = np.nan
    data.loc["b", "CE2"] = 10.0
    data.loc["b", "CC1"] = np.nan
    scores = respondent_scores(data, result)
    assert list(scores.index) == ["a", "b"] and list(scores.columns) == list(CONSTRUCTS)
    assert scores.loc["a"].tolist() == pytest.approx([600 / 9] * 6)
    w = result.weights["CE"]
    expected = (w["CE2"] * 10 + w["CE3"] * 7) / (w["CE2"] + w["CE3"])
    assert scores.loc["b", "CE"] == pytest.approx((expected - 1) / 9 * 100)
    assert np.isnan(scores.loc["b", "CC"])


def test_respondent_scores_reject_bad_answers(result):
    data = pd.DataFrame({item: [12.0] for item in result.spec.observed})
    with pytest.raises(DataError, match="outside the 1-10 scale"):
        respondent_scores(data, result)


def test_descriptive_scores_work_with_one_response_and_missing_answers():
    spec = CSISpec.from_columns(["CE1", "CE2", "PQ1", "PV1", "CS1", "CC1", "CL1"])
    one = pd.DataFrame([[7, np.nan, 10, 1, 4, 5, 6]], columns=list(spec.observed))
    out = descriptive_scores(one, spec)
    assert out["n"] == 1
    assert out["constructs"]["CE"] == {"score": pytest.approx(600 / 9), "n": 1, "ci": None,
                                       "items": {"CE1": {"score": pytest.approx(600 / 9), "n": 1, "ci": None},
                                                 "CE2": {"score": None, "n": 0, "ci": None}}}
    two = pd.DataFrame([[7, 9, 10, 1, 4, 5, 6], [9, np.nan, 8, 1, 4, 5, 6]], columns=list(spec.observed))
    ce = descriptive_scores(two, spec, scale=(0, 10))["constructs"]["CE"]
    assert ce["score"] == pytest.approx((80 + 90) / 2)           # person means 8 and 9 on 0-10
    assert ce["ci"] == pytest.approx([85 - 1.959964 * np.sqrt(50) / np.sqrt(2),
                                      85 + 1.959964 * np.sqrt(50) / np.sqrt(2)])
    assert ce["items"]["CE2"]["n"] == 1


def test_impact_is_total_effect_on_the_index_metric(result):
    d = result.to_dict()
    c = d["constructs"]

    def units(code):  # index points per latent unit: 100 · Σ w·λ / (max − min)
        return 100 * sum(c[code]["weights"][i] * c[code]["loadings"][i]["estimate"] for i in c[code]["items"]) / 9

    for e in d["effects"]:
        rescaled = e["total"] * units(e["to"]) / units(e["from"])
        assert e["total_index"] == pytest.approx(rescaled)
        assert e["impact_5pt"] == pytest.approx(5 * rescaled)
        assert e["total"] == pytest.approx(e["direct"] + e["indirect"])
    assert {(e["from"], e["to"]) for e in d["effects"]} == {
        ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"),
        ("CE", "CL"), ("PQ", "CL"), ("PV", "CL"), ("CS", "CL"), ("CC", "CL")}


def test_ipma_ranks_by_importance_times_gap(result):
    d = result.to_dict()
    total = {e["from"]: e["total_index"] for e in d["effects"] if e["to"] == "CS"}
    assert [r["construct"] for r in d["ipma"]] == sorted(
        total, key=lambda k: total[k] * (100 - d["constructs"][k]["index"]), reverse=True)
    for row in d["ipma"]:
        assert row["importance"] == total[row["construct"]]
        assert row["performance"] == d["constructs"][row["construct"]]["index"]
    assert [r["priority"] for r in d["ipma"]] == [1, 2, 3]
    items = d["ipma_items"]
    assert len(items) == 8 and [r["priority"] for r in items] == list(range(1, 9))
    for code in total:
        share = sum(r["importance"] for r in items if r["construct"] == code)
        assert share == pytest.approx(total[code])      # item importances split the construct's
    for row in d["ipma"] + items:
        assert row["impact_5pt"] == pytest.approx(5 * row["importance"])


def test_rank_priority_rule():
    rows = [{"name": "a", "importance": 0.5, "performance": 90},   # gain 5
            {"name": "b", "importance": 0.2, "performance": 40},   # gain 12
            {"name": "c", "importance": 0.4, "performance": 70}]   # gain 12 (tie keeps order)
    assert [(r["name"], r["priority"]) for r in rank_priority(rows)] == [("b", 1), ("c", 2), ("a", 3)]


def test_fiml_uses_every_row_and_scores_the_em_means():
    """FIML scores items by the EM means (checked against lavaan in test_resamples); listwise
    by the available answers. Hand check: one item answered only when another is high - its
    available mean is biased upwards, the EM mean uses the regression on the other item."""
    data = load_csv("csi_missing.csv")
    fiml, listwise = fit(data), fit(data, missing="listwise")
    assert (fiml.n_used, fiml.n_dropped, fiml.missing_method) == (300, 0, "fiml")
    assert fiml.dropped_reasons == {}
    for code in CONSTRUCTS:
        for item, score in listwise.constructs[code]["item_scores"].items():
            assert score == pytest.approx((data[item].mean() - 1) / 9 * 100)
            assert fiml.constructs[code]["item_n"][item] == data[item].notna().sum()
    rng = np.random.default_rng(5)
    complete = simulate(rng, 400)[0]
    gappy = complete.copy()
    gappy.loc[gappy["CL1"] < 7, "CL2"] = np.nan  # MAR: CL2 missing when CL1 is low
    result = fit(gappy)
    x, y = gappy["CL1"], gappy["CL2"]
    seen = y.notna()
    slope = np.cov(x[seen], y[seen], bias=True)[0, 1] / x[seen].var(ddof=0)
    regression_mean = y[seen].mean() + slope * (x.mean() - x[seen].mean())  # EM for a bivariate pair
    assert y[seen].mean() > complete["CL2"].mean() + 0.3            # available answers: biased
    assert result.constructs["CL"]["item_scores"]["CL2"] == pytest.approx(
        (regression_mean - 1) / 9 * 100, abs=2.0)                    # other items add a little
    assert abs(result.constructs["CL"]["item_scores"]["CL2"] - (complete["CL2"].mean() - 1) / 9 * 100) < \
        abs((y[seen].mean() - complete["CL2"].mean()) / 9 * 100)
    blank = data.copy()
    blank.iloc[:3] = np.nan
    result = fit(blank)
    assert (result.n_used, result.n_dropped, result.dropped_reasons) == (297, 3, {"no_answer": 3})


def test_subset_indices_put_other_rows_on_the_fits_yardstick(result):
    """Another set of rows (another wave) scored with the fit's weights: by hand on complete rows, and on the
    fitted rows themselves (with gaps, FIML) exactly the fit's own indices and intervals."""
    data = load_csv("csi_single_cc.csv")
    part = data.iloc[::3]
    out = subset_indices(part, result)
    for code, c in result.constructs.items():
        per_person = sum(w * part[item] for item, w in c["weights"].items())
        index = (per_person.mean() - 1) / 9 * 100
        se = per_person.std(ddof=1) / np.sqrt(len(part)) * 100 / 9
        assert out[code]["index"] == pytest.approx(index)
        assert out[code]["index_ci"] == pytest.approx([index - 1.959964 * se, index + 1.959964 * se])
    gappy = load_csv("csi_missing.csv")
    for missing in ("fiml", "listwise"):
        fitted = fit(gappy, missing=missing)
        again = subset_indices(gappy, fitted)
        for code, c in fitted.constructs.items():
            assert again[code]["index"] == pytest.approx(c["index"], abs=1e-9), (missing, code)
            assert again[code]["index_ci"] == pytest.approx(c["index_ci"], abs=1e-9), (missing, code)
