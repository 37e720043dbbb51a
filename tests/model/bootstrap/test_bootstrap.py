"""Bootstrap against lavaan's ``bootstrapLavaan`` (tests/model/bootstrap/reference.json).

The two bootstraps draw different resamples, so they can only agree within Monte Carlo error,
and the tolerances below are derived from the number of draws rather than picked:

* bootstrap SE: with B draws from a distribution of kurtosis κ, var(s²)/σ⁴ ≈ (κ − 1)/B, so
  s has a relative SD of √((κ − 1)/(4B)) (1/√(2B) for a normal). κ is estimated from our
  draws, because skewed (ceiling-heavy) data give heavier-tailed draws than a normal;
* percentile endpoint: the 2.5% quantile of B draws has SD √(q(1 − q)/B)/f(x_q), with the
  density f at the quantile read off our draws (over q ± 0.02) and capped at the normal
  density of the same SD, so a skewed tail widens the tolerance, never narrows it;
* mean of the draws (a bias check): SD σ/√B.

Ours (B_TEST draws, B_FIML for the FIML data set, compared when reference.json has it) and
lavaan's (1,000) errors add in quadrature; a comparison fails beyond Z_MAX = 4.5 SDs. Over the
~900 comparisons (up to 5 data sets,
paths and loadings, unstandardized and standardized, SE, mean and both endpoints) that is a
family-wise false-alarm rate of about 0.6%, while a wrong resampling (e.g. N/2 rows: SEs √2 too
large, 8 SDs at B_TEST), a wrong standardization or a biased estimator fails by many SDs.
B_TEST = 200 keeps the five bootstraps at a few seconds on an idle 2-core machine.
"""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from model import CSISpec, SpecificationError, fit, scores
from model import bootstrap as boot
from model.cli import main
from model.spec import PATHS

from conftest import DATA, load_csv

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "reference.json").read_text())
B_TEST = 200
Z_MAX = 4.5
TAIL = 0.025
B_FIML = 80     # FIML draws cost about 20x a complete-data draw: fewer, with wider tolerances
CASES = {  # reference key: (CSV, draws)
    "csi_single_cc": (DATA / "csi_single_cc.csv", B_TEST),
    "csi_multi": (DATA / "csi_multi.csv", B_TEST),
    "csi_custom_names": (DATA / "csi_custom_names.csv", B_TEST),
    "csi_ceiling": (HERE / "csi_ceiling.csv", B_TEST),    # most answers 8-10
    "csi_missing_ml": (DATA / "csi_missing.csv", B_FIML),  # 6% blanks, FIML (lavaan missing="ml")
}


def _read(path):
    import pandas as pd
    return pd.read_csv(path)


@pytest.fixture(scope="module", params=[key for key in CASES if key in REFERENCE["datasets"]])
def pair(request):
    ref = REFERENCE["datasets"][request.param]
    spec = CSISpec.from_mapping(ref["items"])
    path, draws = CASES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(_read(path), spec, bootstrap=draws, seed=11)
    return result, ref


def _our_draws(result):
    """name -> (unstandardized draws, standardized draws), names as in the reference."""
    draws, spec = result.bootstrap_draws, result.spec
    out = {}
    for i, (a, b) in enumerate(PATHS):
        out[f"{b}~{a}"] = (draws.column("path")[:, i], draws.column("path_std")[:, i])
    for j, item in enumerate(spec.observed):
        out[f"{spec.construct_of(item)}=~{item}"] = (draws.column("load")[:, j], draws.column("load_std")[:, j])
    return out


def _kurtosis(x):
    d = x - x.mean()
    return float(np.mean(d ** 4) / np.mean(d ** 2) ** 2)


def _quantile_sd(x, q, h=0.02):
    """SD of the q-quantile of len(x) draws: √(q(1 − q)/B)/f(x_q), the density f read off the
    draws over q ± h, but never above the normal density with the draws' SD (a window of a
    few draws can be narrow by chance; a skewed tail is only ever flatter)."""
    lo, hi = np.quantile(x, [max(q - h, 0), min(q + h, 1)])
    density = min(2 * h / (hi - lo), stats.norm.pdf(stats.norm.ppf(q)) / x.std(ddof=1))
    return math.sqrt(q * (1 - q) / x.size) / density


def test_reference_draws_converged(pair):
    result, ref = pair
    assert result.to_dict()["bootstrap"] == {"draws": result.bootstrap_draws.draws, "failed": 0, "seed": 11}
    assert ref["used"] >= 0.99 * ref["draws"]   # lavaan fitted (almost) every draw too
    assert result.n_used == ref["nobs"]


def test_point_estimates_match_lavaan(pair):
    """The draws are centred on the same fit: full-sample estimates agree with lavaan's."""
    result, ref = pair
    for p in result.paths:
        name = f"{p['to']}~{p['from']}"
        assert p["estimate"] == pytest.approx(ref["estimate"][name], abs=1e-4)
        assert p["std_estimate"] == pytest.approx(ref["std_estimate"][name], abs=1e-4)


@pytest.mark.parametrize("kind", ["unstandardized", "standardized"])
def test_bootstrap_se_ci_and_mean_within_monte_carlo_error(pair, kind):
    result, ref = pair
    b_ref = ref["used"]
    worst = {}
    for name, both in _our_draws(result).items():
        x = both[kind == "standardized"]
        theirs = ref[kind][name]
        if theirs["se"] < 1e-10:   # fixed: a marker loading, a single item's std loading
            assert np.ptp(x) < 1e-12
            continue
        se = x.std(ddof=1)
        rel_sd = math.sqrt((_kurtosis(x) - 1) / 4 * (1 / x.size + 1 / b_ref))
        z_se = math.log(se / theirs["se"]) / rel_sd
        z_mean = (x.mean() - theirs["mean"]) / (se * math.sqrt(1 / x.size + 1 / b_ref))
        z_ci = []
        for q, value in zip((TAIL, 1 - TAIL), theirs["ci"]):
            sd_ours = _quantile_sd(x, q)
            sd = math.hypot(sd_ours, sd_ours * math.sqrt(x.size / b_ref))
            z_ci.append((np.quantile(x, q) - value) / sd)
        worst[name] = {"se": round(z_se, 2), "mean": round(z_mean, 2), "ci": [round(z, 2) for z in z_ci]}
    z_all = [abs(v) for w in worst.values() for v in (w["se"], w["mean"], *w["ci"])]
    assert max(z_all) < Z_MAX, worst


def test_fields_on_every_row(pair):
    result, _ = pair
    d = result.to_dict()
    assert list(d)[0] == "bootstrap"
    for p in d["paths"]:
        assert p["boot_ci"][0] < p["estimate"] < p["boot_ci"][1] and p["boot_se"] > 0
        assert p["std_boot_ci"][0] < p["std_estimate"] < p["std_boot_ci"][1]
    for code, c in d["constructs"].items():
        lo, hi = c["index_boot_ci"]
        assert lo < c["index"] < hi
        for item, ld in c["loadings"].items():
            assert ld["boot_ci"][0] <= ld["estimate"] <= ld["boot_ci"][1]
    for e in d["effects"]:
        assert len(e["impact_5pt_ci"]) == 2 and e["impact_5pt_ci"][0] <= e["impact_5pt_ci"][1]
    for rows in (d["ipma"], d["ipma_items"]):
        assert sum(r["p_top"] for r in rows) == pytest.approx(1.0, abs=1e-12)
        for r in rows:
            assert r["importance_ci"][0] <= r["importance"] <= r["importance_ci"][1]


# ---------------------------------------------------------------- reproducibility


@pytest.fixture(scope="module")
def small():
    return load_csv("csi_single_cc.csv")


def _boot(df, **kwargs):
    return fit(df, bootstrap=kwargs.pop("draws", 40), **kwargs).to_dict()


def test_same_seed_same_numbers_any_number_of_processes(small):
    one = _boot(small, seed=5, workers=1)
    assert _boot(small, seed=5, workers=2) == one
    assert _boot(small, seed=5, workers=2) == one
    other = _boot(small, seed=6, workers=2)
    assert other["bootstrap"]["seed"] == 6
    assert other["paths"][0]["boot_ci"] != one["paths"][0]["boot_ci"]
    assert other["paths"][0]["estimate"] == one["paths"][0]["estimate"]   # same fit, other draws


def test_no_seed_draws_one_and_reports_it(small):
    first = _boot(small, draws=10)
    assert isinstance(first["bootstrap"]["seed"], int)
    again = _boot(small, draws=10, seed=first["bootstrap"]["seed"])
    assert again == first


# ---------------------------------------------------------------- p_top


def test_share_top_counts_ties_fairly_by_hand():
    # draws x rows: gain = importance * (100 - performance); performance 0, so gain = 100 * importance
    importance = np.array([[3.0, 1.0, 2.0],     # row 0 first
                           [2.0, 2.0, 1.0],     # rows 0 and 1 tie: 1/2 each
                           [1.0, 2.0, 5.0],     # row 2 first
                           [4.0, 4.0, 4.0],     # three-way tie: 1/3 each
                           [np.nan, 1.0, 0.5]]) # undefined gain ranks last: row 1 first
    share = boot.share_top(importance, np.zeros_like(importance))
    assert share.tolist() == pytest.approx([(1 + 1 / 2 + 1 / 3) / 5, (1 / 2 + 1 / 3 + 1) / 5, (1 + 1 / 3) / 5])


def test_p_top_is_the_share_of_draws_where_rank_priority_puts_it_first(small):
    result = fit(small, bootstrap=60, seed=3)
    draws = result.bootstrap_draws
    layout = draws.layout
    first = {c: 0 for c in layout.drivers}
    items_first = {item: 0 for item, _ in layout.items}
    for imp, perf, item_imp, item_perf in zip(draws.column("imp"), draws.column("perf"),
                                              draws.column("item_imp"), draws.column("item_perf")):
        ranked = scores.rank_priority([{"construct": c, "importance": i, "performance": p}
                                       for c, i, p in zip(layout.drivers, imp, perf)])
        first[ranked[0]["construct"]] += 1
        ranked = scores.rank_priority([{"item": x, "importance": i, "performance": p}
                                       for (x, _), i, p in zip(layout.items, item_imp, item_perf)])
        items_first[ranked[0]["item"]] += 1
    d = result.to_dict()
    assert {r["construct"]: r["p_top"] for r in d["ipma"]} == pytest.approx({c: n / 60 for c, n in first.items()})
    assert {r["item"]: r["p_top"] for r in d["ipma_items"]} == pytest.approx(
        {x: n / 60 for x, n in items_first.items()})


# ---------------------------------------------------------------- failures and bad input


def test_failed_draws_are_counted_left_out_and_reported(small):
    base = fit(small)
    spec = base.spec
    structure = boot.Structure(spec)
    ml = boot.ml_estimate(structure)
    calls = []

    def flaky(resample, start):
        calls.append(1)
        fitted = ml(resample, start)
        return boot.DrawFit(None, False) if resample.counts[0] % 2 else fitted

    values = small[list(spec.observed)].to_numpy(float)
    from model.fit import estimate
    from model.stats import Moments
    est = estimate(Moments.from_values(values), spec)
    draws = boot.run(values, spec, (1, 10), flaky, boot.ml_start(structure, est), draws=30, seed=1, workers=1)
    odd = sum(np.bincount(np.random.default_rng(np.random.SeedSequence(1, spawn_key=(i,))).integers(0, 250, 250),
                          minlength=250)[0] % 2 for i in range(30))
    assert 0 < odd < 30 and draws.failed == odd and draws.stats.shape[0] == 30 - odd
    d = boot.attach(base, draws).to_dict()
    assert d["bootstrap"]["failed"] == odd
    assert any(w["code"] == "bootstrap_failed" and f"{odd} of 30" in w["message"] for w in d["warnings"])


@pytest.mark.parametrize("kwargs", [{"bootstrap": -1}, {"bootstrap": 2.5}, {"bootstrap": True},
                                    {"bootstrap": 10, "seed": -3}, {"bootstrap": 10, "seed": "x"},
                                    {"bootstrap": 10, "workers": 0}])
def test_bad_bootstrap_arguments(small, kwargs):
    with pytest.raises(SpecificationError):
        fit(small, **kwargs)


def test_cli_bootstrap(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["fit", str(DATA / "csi_single_cc.csv"), "--bootstrap", "20", "--seed", "4",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Bootstrap: 20 draws (0 failed, left out), seed 4" in text and "boot 95% CI" in text
    d = json.loads(out.read_text())
    assert list(d)[0] == "bootstrap" and d["bootstrap"] == {"draws": 20, "failed": 0, "seed": 4}
    assert main(["fit", str(DATA / "csi_single_cc.csv"), "--bootstrap", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_a_draw_is_the_fit_of_its_resample():
    """Draw i refitted from scratch by ``fit`` (semopy + polish) gives the draw's numbers: the
    counts-to-moments shortcut, the warm-started Newton fit and the per-draw weights are right."""
    df = load_csv("csi_single_cc.csv")
    result = fit(df, bootstrap=3, seed=9, workers=1)
    draws = result.bootstrap_draws
    assert draws.failed == 0
    n = len(df)
    for i in range(3):
        rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(i,)))
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        again = fit(df.iloc[np.repeat(np.arange(n), counts)].reset_index(drop=True), result.spec).to_dict()
        for j, (a, b) in enumerate(PATHS):
            path = next(p for p in again["paths"] if (p["from"], p["to"]) == (a, b))
            assert draws.column("path")[i, j] == pytest.approx(path["estimate"], abs=1e-4)
            assert draws.column("path_std")[i, j] == pytest.approx(path["std_estimate"], abs=1e-4)
        codes = list(again["constructs"])
        assert draws.column("index")[i] == pytest.approx([again["constructs"][c]["index"] for c in codes], abs=1e-4)
        impact = {(e["from"], e["to"]): e["impact_5pt"] for e in again["effects"]}
        assert draws.column("impact")[i] == pytest.approx([impact[k] for k in draws.layout.effects], abs=1e-4)


def test_fiml_draws_reach_at_least_the_products_fiml_optimum():
    """A FIML draw (Newton over (θ, μ), warm start) against the product's own FIML fit of the same
    resample: never a lower log-likelihood, and the same estimates where both reach the optimum."""
    from model.fiml import Patterns
    from model.fit import estimate
    from model.stats import Moments
    df = load_csv("csi_missing.csv")
    spec = CSISpec.from_columns(df.columns)
    values = df[list(spec.observed)].to_numpy(float)
    structure = boot.Structure(spec)
    full = Patterns.from_values(values)
    start = boot.ml_start(structure, estimate(Moments(full.n, *full.saturated()), spec, patterns=full))
    for i in range(3):
        rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(i,)))
        pat = Patterns.from_values(values[rng.integers(0, len(values), len(values))])
        theirs = estimate(Moments(pat.n, *pat.saturated()), spec, patterns=pat)
        x, mu, ok = boot.fiml_newton(structure, pat, start["x"], start["mu"])
        assert ok
        ours_ll = pat.loglik(mu, structure.sigma(x))
        theirs_ll = pat.loglik(theirs.fiml.mu, theirs.solution.sigma)
        assert ours_ll >= theirs_ll - 1e-6
        if ours_ll - theirs_ll < 1e-6:
            assert structure.unpack(x).B == pytest.approx(theirs.solution.B, abs=1e-4)
