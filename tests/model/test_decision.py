"""The decision layer (model/decision.py): levers only, gain, ties, p_top among levers, what-if.

Every number is checked against arithmetic done here from other fields of the result (paths,
loadings, weights, scores) or from the bootstrap draws' own columns, never by calling the same
function twice.
"""
import json

import numpy as np
import pandas as pd
import pytest

from model import CSISpec, fit
from model import decision
from model.cli import main

from conftest import DATA, load_csv, simulate

LEVER_CODES = {"PQ", "PV"}


def _simulated(seed, n=300, paths=None):
    """Answers 1..10 from the ACSI structure with the given structural coefficients."""
    rng = np.random.default_rng(seed)
    paths = paths or {"PQ": {"CE": 0.55}, "PV": {"CE": 0.2, "PQ": 0.5},
                      "CS": {"CE": 0.15, "PQ": 0.45, "PV": 0.3}, "CC": {"CS": -0.5},
                      "CL": {"CS": 0.55, "CC": -0.2}}
    counts = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 1, "CL": 2}
    centre = {"CE": 8.2, "PQ": 6.5, "PV": 6.8, "CS": 7, "CC": 5, "CL": 7}
    eta = {"CE": rng.standard_normal(n)}
    for code in ("PQ", "PV", "CS", "CC", "CL"):
        signal = sum(b * eta[src] for src, b in paths[code].items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.05)) * rng.standard_normal(n)
    cols = {}
    for code, k in counts.items():
        for j in range(1, k + 1):
            raw = centre[code] + 1.7 * (0.8 * eta[code] + 0.6 * rng.standard_normal(n))
            cols[f"{code}{j}"] = np.clip(np.rint(raw), 1, 10)
    return pd.DataFrame(cols)


# expectations drive satisfaction mostly directly here and score low: the all-driver map ranks CE first
CE_HEAVY = {"PQ": {"CE": 0.3}, "PV": {"CE": 0.2, "PQ": 0.3}, "CS": {"CE": 0.6, "PQ": 0.2, "PV": 0.1},
            "CC": {"CS": -0.5}, "CL": {"CS": 0.55, "CC": -0.2}}


def _fixtures():
    out = {name: load_csv(f"{name}.csv") for name in ("csi_multi", "csi_missing", "csi_single_cc")}
    for seed in (1, 2, 3):
        out[f"sim{seed}"] = _simulated(seed)
    out["ce_heavy"] = _simulated(11, paths=CE_HEAVY)
    return out


FIXTURES = _fixtures()


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def fitted(request):
    return fit(FIXTURES[request.param])


def test_the_lever_list_never_holds_expectations(fitted):
    d = fitted.to_dict()
    assert d["improve_first"], "no levers ranked"
    assert {r["construct"] for r in d["improve_first"]} <= LEVER_CODES
    assert {r["item"] for r in d["improve_first"]} == set(fitted.spec.items["PQ"] + fitted.spec.items["PV"])
    assert not any(r["item"].startswith("CE") for r in d["improve_first"])
    assert [r["construct"] for r in d["decision"]["constructs"]] and \
        {r["construct"] for r in d["decision"]["constructs"]} <= LEVER_CODES
    assert [c["construct"] for c in d["decision"]["context"]] == ["CE"]


def test_gain_and_order_by_hand(fitted):
    """importance = total_index(CS <- C) x item weight, gain = importance x (100 - score)."""
    effects = {e["from"]: e["total_index"] for e in fitted.effects if e["to"] == "CS"}
    expected = {}
    for c in ("PQ", "PV"):
        for item, w in fitted.constructs[c]["weights"].items():
            score = fitted.constructs[c]["item_scores"][item]
            expected[item] = effects[c] * w * (100 - score)
    rows = fitted.to_dict()["improve_first"]
    assert {r["item"]: r["gain"] for r in rows} == pytest.approx(expected, rel=1e-12)
    assert [r["item"] for r in rows] == sorted(expected, key=expected.get, reverse=True)
    assert [r["priority"] for r in rows] == list(range(1, len(rows) + 1))
    # without draws: the order only (no intervals, p_top, tiers or zones), and the reason is stated
    assert all(r["p_top"] is None and r["importance_ci"] is None for r in rows)
    assert all(r["tier"] is None and r["zone"] is None and r["tied"] is None for r in rows)
    dec = fitted.decision
    assert dec["tiers_known"] is False and dec["p_first"] is None and "bootstrap" in dec["p_top_reason"]
    assert dec["zones"] == []


def test_expectations_are_context_where_the_all_driver_map_ranks_them_first():
    result = fit(FIXTURES["ce_heavy"])
    assert result.ipma[0]["construct"] == "CE"          # the map of every driver puts CE first
    top = result.improve_first[0]
    assert top["construct"] in LEVER_CODES
    ce = result.decision["context"][0]
    direct = next(e for e in result.effects if e["from"] == "CE" and e["to"] == "CS")
    assert ce["share_via_levers"] == pytest.approx(1 - direct["direct"] / direct["total"])
    assert ce["performance"] == pytest.approx(result.constructs["CE"]["index"])


def test_image_is_context_and_its_path_through_expectations_is_not_through_levers():
    from conftest import HERE
    result = fit(pd.read_csv(HERE / "variants" / "ccsi_small.csv"), model="ccsi")
    b = {(p["from"], p["to"]): p["estimate"] for p in result.paths}
    total = {e["from"]: e["total"] for e in result.effects if e["to"] == "CS"}
    context = {c["construct"]: c for c in result.decision["context"]}
    assert set(context) == {"IM", "CE"} and {r["construct"] for r in result.improve_first} == LEVER_CODES
    around = b[("IM", "CS")] + b[("IM", "CE")] * b[("CE", "CS")]    # IM -> CS and IM -> CE -> CS
    assert context["IM"]["share_via_levers"] == pytest.approx(1 - around / total["IM"], rel=1e-9)
    assert context["CE"]["share_via_levers"] == pytest.approx(1 - b[("CE", "CS")] / total["CE"], rel=1e-9)


def test_zones_follow_tiers_and_their_edges_separate_the_gains(booted):
    rows, zones = booted.improve_first, booted.decision["zones"]
    assert zones and [z["zone"] for z in zones] == [decision.ZONES[min(r["tier"], 3) - 1] for r in rows
                                                   if r["priority"] == 1 or r["tier"] != rows[r["priority"] - 2]["tier"]
                                                   and r["tier"] <= 3]
    for z in zones:
        inside = [r["gain"] for r in rows if r["zone"] == z["zone"]]
        assert len(inside) == z["levers"]
        if z["min_gain"] is not None:
            assert min(inside) > z["min_gain"]
            assert all(r["gain"] < z["min_gain"] for r in rows
                       if decision.ZONES.index(r["zone"]) > decision.ZONES.index(z["zone"]))


# ---------------------------------------------------------------- ties (constructed cases)


def _ranked(points, draws):
    rows = [{"item": f"L{k}", "importance": g / 100, "performance": 0.0, "gain": g}
            for k, g in enumerate(points)]
    return decision._rank(rows, None if draws is None else np.asarray(draws, dtype=float))


def test_a_lever_ahead_in_every_draw_is_not_tied():
    rng = np.random.default_rng(5)
    common = rng.normal(0, 3, 400)     # a shared shift: wide marginal intervals that overlap
    draws = np.column_stack([10 + common + rng.normal(0, .2, 400), 9 + common + rng.normal(0, .2, 400)])
    lo_a, hi_a = np.quantile(draws[:, 0], [.025, .975])
    lo_b, hi_b = np.quantile(draws[:, 1], [.025, .975])
    assert lo_a < hi_b                 # the marginal intervals overlap ...
    ranked = _ranked([10, 9], draws)
    assert [r["tier"] for r in ranked] == [1, 2] and not any(r["tied"] for r in ranked)  # ... the gap does not
    assert ranked[1]["gap_ci"][0] > 0


def test_levers_whose_gap_to_the_lever_above_straddles_zero_share_its_tier():
    rng = np.random.default_rng(6)
    n = 400
    a = 10 + rng.normal(0, 1, n)
    b = 9.6 + rng.normal(0, 1, n)      # about equal to a
    c = 9.2 + rng.normal(0, 1, n)      # about equal to b
    d = 4 + rng.normal(0, 1, n)        # clearly below c
    ranked = _ranked([10, 9.6, 9.2, 4], np.column_stack([a, b, c, d]))
    assert [r["tier"] for r in ranked] == [1, 1, 1, 2]
    assert [r["tied"] for r in ranked] == [True, True, True, False]
    assert [r["zone"] for r in ranked] == ["improve_first"] * 3 + ["next"]
    lo, hi = np.quantile(c - d, [.025, .975])
    assert ranked[3]["gap_ci"] == pytest.approx([lo, hi]) and lo > 0
    # a chain of small steps: each lever is close to the one above, so they share one tier
    steps = np.column_stack([10 - k + rng.normal(0, .5, n) for k in range(4)])
    chain = _ranked([10 - k for k in range(4)], steps)
    gaps = [np.quantile(steps[:, k] - steps[:, k + 1], [.025, .975]) for k in range(3)]
    assert all(lo < 0 < hi for lo, hi in gaps)
    assert [r["tier"] for r in chain] == [1, 1, 1, 1]
    # a clear step in the middle opens a new tier there and only there
    split = np.column_stack([10 + rng.normal(0, .3, n), 9.8 + rng.normal(0, .3, n),
                             7 + rng.normal(0, .3, n), 6.9 + rng.normal(0, .3, n)])
    assert [r["tier"] for r in _ranked([10, 9.8, 7, 6.9], split)] == [1, 1, 2, 2]


def test_without_draws_only_the_order_is_known():
    ranked = _ranked([1, 3, 2], None)
    assert [r["item"] for r in ranked] == ["L1", "L2", "L0"] and [r["priority"] for r in ranked] == [1, 2, 3]
    assert all(r["tier"] is None and r["zone"] is None for r in ranked)
    assert decision._zones(ranked) == []


# ---------------------------------------------------------------- with bootstrap draws


@pytest.fixture(scope="module")
def booted():
    return fit(FIXTURES["ce_heavy"], bootstrap=60, seed=4)


def test_p_top_is_the_share_of_draws_where_the_lever_ranks_first_among_levers(booted):
    draws, layout = booted.bootstrap_draws, booted.bootstrap_draws.layout
    first = {}
    for item_imp, item_perf in zip(draws.column("item_imp"), draws.column("item_perf")):
        gains = {x: i * (100 - p) for (x, c), i, p in zip(layout.items, item_imp, item_perf) if c in LEVER_CODES}
        best = max(gains, key=gains.get)
        first[best] = first.get(best, 0) + 1
    rows = booted.to_dict()["improve_first"]
    assert {r["item"]: r["p_top"] for r in rows} == pytest.approx(
        {r["item"]: first.get(r["item"], 0) / 60 for r in rows})
    assert sum(r["p_top"] for r in rows) == pytest.approx(1)
    assert booted.decision["p_first"] == rows[0]["p_top"]
    # the all-driver p_top lets CE items win draws; among levers they cannot
    assert sum(r["p_top"] for r in booted.ipma_items if r["construct"] == "CE") > 0


def test_intervals_are_percentiles_of_the_draws(booted):
    draws, layout = booted.bootstrap_draws, booted.bootstrap_draws.layout
    pos = {x: k for k, (x, _) in enumerate(layout.items)}
    for row in booted.improve_first:
        imp = draws.column("item_imp")[:, pos[row["item"]]]
        gain = imp * (100 - draws.column("item_perf")[:, pos[row["item"]]])
        assert row["importance_ci"] == pytest.approx(np.quantile(imp, [.025, .975]).tolist())
        assert row["gain_ci"] == pytest.approx(np.quantile(gain, [.025, .975]).tolist())
    assert booted.decision["tiers_known"] is True and booted.decision["p_top_reason"] is None


# ---------------------------------------------------------------- what-if by hand


def _by_hand(result):
    """Total effects on the 0-100 metric from the paths, loadings and weights of the result."""
    b = {(p["from"], p["to"]): p["estimate"] for p in result.paths}
    to_cs = {"PQ": b[("PQ", "CS")] + b[("PQ", "PV")] * b[("PV", "CS")], "PV": b[("PV", "CS")]}
    cs_to_cl = b[("CS", "CL")] + b[("CS", "CC")] * b[("CC", "CL")]
    lo, hi = result.scale
    units = {c: 100 * sum(w * result.constructs[c]["loadings"][x]["estimate"]
                          for x, w in result.constructs[c]["weights"].items()) / (hi - lo)
             for c in ("PQ", "PV", "CS", "CL")}
    return {(c, "CS"): to_cs[c] * units["CS"] / units[c] for c in to_cs} | \
        {(c, "CL"): to_cs[c] * cs_to_cl * units["CL"] / units[c] for c in to_cs}


def test_what_if_matches_total_effects_by_hand(fitted):
    t = _by_hand(fitted)
    w = fitted.weights
    item = fitted.spec.items["PQ"][1]
    changes = {item: 5.0, "PV": -2.0, fitted.spec.items["PV"][0]: 3.0}
    rows = {r["target"]: r for r in decision.what_if(fitted, changes)}
    for target in ("CS", "CL"):
        pq = 5 * w["PQ"][item]
        pv = -2 + 3 * w["PV"][fitted.spec.items["PV"][0]]
        assert rows[target]["change"] == pytest.approx(t[("PQ", target)] * pq + t[("PV", target)] * pv, rel=1e-9)
        assert rows[target]["ci"] is None and rows[target]["changes"] == changes


def test_what_if_interval_is_the_hand_arithmetic_per_draw(booted):
    draws, layout, spec = booted.bootstrap_draws, booted.bootstrap_draws.layout, booted.spec
    paths = dict(zip(spec.paths, draws.column("path").T))
    loads = dict(zip(spec.observed, draws.column("load").T))
    weights = dict(zip([x for x, _ in layout.items], draws.column("item_w").T))
    lo, hi = booted.scale
    units = {c: 100 * sum(weights[x] * loads[x] for x in spec.items[c]) / (hi - lo) for c in ("PQ", "PV")}
    for c in ("CS", "CL"):   # CS and CL are not IPMA drivers: their weights come from the loadings
        lam = np.column_stack([loads[x] for x in spec.items[c]])
        wc = lam / lam.sum(axis=1, keepdims=True)
        units[c] = 100 * (wc * lam).sum(axis=1) / (hi - lo)
    to_cs = paths[("PQ", "CS")] + paths[("PQ", "PV")] * paths[("PV", "CS")]
    cs_to_cl = paths[("CS", "CL")] + paths[("CS", "CC")] * paths[("CC", "CL")]
    pq_change = 4 * weights["PQ1"]
    expected = {"CS": to_cs * units["CS"] / units["PQ"] * pq_change,
                "CL": to_cs * cs_to_cl * units["CL"] / units["PQ"] * pq_change}
    for row in decision.what_if(booted, {"PQ1": 4}):
        assert row["ci"] == pytest.approx(np.quantile(expected[row["target"]], [.025, .975]).tolist(), rel=1e-9)
        assert row["ci"][0] < row["change"] < row["ci"][1]


@pytest.mark.parametrize("changes, message", [
    ({"CE1": 5}, "context, not levers"),
    ({"CE": 5}, "context, not levers"),
    ({"XX9": 5}, "unknown name"),
    ({"PQ1": float("nan")}, "not a finite number"),
    ({"PQ1": "many"}, "not a number"),
    ({"PQ1": 80}, "0-100 range"),
    ({}, "at least one change"),
])
def test_what_if_refuses_what_is_not_a_lever_change(changes, message):
    result = fit(FIXTURES["csi_multi"])
    with pytest.raises(decision.WhatIfError, match=message):
        decision.what_if(result, changes)


@pytest.mark.parametrize("text, parsed", [("PQ2=+5", ("PQ2", 5.0)), ("PV1 = -2.5", ("PV1", -2.5)),
                                          ("PQ=3", ("PQ", 3.0))])
def test_parse_change(text, parsed):
    assert decision.parse_change(text) == parsed


# ---------------------------------------------------------------- CLI


def test_cli_what_if_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["fit", str(DATA / "csi_multi.csv"), "--what-if", "PQ2=+5", "--what-if", "PQ=+5,PV1=+3",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    d = json.loads(out.read_text())
    rows = d["what_if"]
    assert [(r["changes"], r["target"]) for r in rows] == [
        ({"PQ2": 5.0}, "CS"), ({"PQ2": 5.0}, "CL"), ({"PQ": 5.0, "PV1": 3.0}, "CS"), ({"PQ": 5.0, "PV1": 3.0}, "CL")]
    result = fit(FIXTURES["csi_multi"])
    t = _by_hand(result)
    assert rows[0]["change"] == pytest.approx(t[("PQ", "CS")] * 5 * result.weights["PQ"]["PQ2"], rel=1e-9)
    assert f"PQ2 +5: CS {rows[0]['change']:+.2f} (no interval: no bootstrap)" in text
    assert "Context, not a lever: CE" in text and d["improve_first"][0]["priority"] == 1


@pytest.mark.parametrize("spec, message", [("PQ2", "not LEVER=CHANGE"), ("PQ2=five", "not LEVER=CHANGE"),
                                           ("CE1=+5", "context, not levers"), ("PQ2=+90", "0-100 range")])
def test_cli_bad_what_if_is_one_error_line_exit_2(spec, message, capsys):
    assert main(["fit", str(DATA / "csi_multi.csv"), "--what-if", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
