"""Sufficient statistics (model.moments) and fit_stats: the report's estimates from stored
moments must be the estimates from the rows.

Data: the resamples of tests/model/resamples/generate.py (bootstrap, subsamples, small N,
ceiling-heavy, halo and MAR missingness) and the ECSI/CCSI data of tests/model/variants.
Statistics handed to ``fit_stats`` are built the way the service builds them: in uneven chunks
of shuffled rows, merged in another order, and through JSON.
"""
import importlib.util
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import (CSISpec, DataError, ModelWarning, SpecificationError, SufficientStats, fit, fit_stats,
                   subset_indices)
from model.fiml import Patterns
from model.moments import mean_cov
from model.stats import ItemMeans, Moments

HERE = Path(__file__).resolve().parent
REL = 1e-7  # observed: 0 (the same pipeline on the same, exact, statistics)

_spec = importlib.util.spec_from_file_location("resample_generate_moments", HERE / "resamples" / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


@pytest.fixture(scope="module")
def resamples():
    return generate.datasets()


# (source, name, model variant, missing): complete, small N, ceiling-heavy, halo, custom item names,
# multi-item CC, MAR by FIML, MAR by listwise deletion (available-case item means)
ML_CASES = [
    ("resample", "boot_single_00", "acsi", "fiml"),
    ("resample", "boot_custom_01", "acsi", "fiml"),
    ("resample", "sub_multi_02", "acsi", "fiml"),
    ("resample", "small_02", "acsi", "fiml"),
    ("resample", "small_06", "acsi", "listwise"),
    ("resample", "ceiling_00", "acsi", "fiml"),
    ("resample", "ceiling_03", "acsi", "fiml"),
    ("resample", "halo_07", "acsi", "fiml"),
    ("resample", "mar_boot_00", "acsi", "fiml"),
    ("resample", "mar_sim_03", "acsi", "fiml"),
    ("resample", "halo_mar_06", "acsi", "fiml"),
    ("resample", "halo_mar_12", "acsi", "fiml"),
    ("resample", "boot_missing_01", "acsi", "fiml"),
    ("resample", "mar_sim_01", "acsi", "listwise"),
    ("variant", "ecsi_full", "ecsi", "fiml"),
    ("variant", "ecsi_small", "ecsi", "fiml"),
    ("variant", "ecsi_ceiling", "ecsi", "fiml"),
    ("variant", "ecsi_mar", "ecsi", "fiml"),
    ("variant", "ccsi_full", "ccsi", "fiml"),
    ("variant", "ccsi_small", "ccsi", "fiml"),
    ("variant", "ccsi_ceiling", "ccsi", "fiml"),
    ("variant", "ccsi_mar", "ccsi", "fiml"),
    ("variant", "ecsi_mar", "ecsi", "listwise"),
]
PLS_CASES = [
    ("resample", "boot_single_03", "acsi", "fiml"),
    ("resample", "ceiling_01", "acsi", "fiml"),
    ("resample", "mar_sim_00", "acsi", "fiml"),
    ("resample", "mar_boot_02", "acsi", "listwise"),
    ("variant", "ecsi_mar", "ecsi", "fiml"),
    ("variant", "ccsi_ceiling", "ccsi", "fiml"),
]


def load(case, resamples):
    source, name, variant, missing = case
    if source == "resample":
        ds = resamples[name]
        return ds["data"], CSISpec.from_mapping(ds["items"], variant)
    data = pd.read_csv(HERE / "variants" / f"{name}.csv")
    return data, CSISpec.from_columns(data.columns, variant)


def stored_stats(data, items, seed, chunks=3):
    """As the service keeps them: uneven chunks of shuffled rows, merged in reverse, via JSON."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    cuts = np.sort(rng.choice(np.arange(1, len(data)), chunks - 1, replace=False))
    parts = [SufficientStats.from_frame(data.iloc[idx], items) for idx in np.split(order, cuts)]
    merged = parts[-1]
    for part in reversed(parts[:-1]):
        merged = merged + part
    return SufficientStats.from_json(json.loads(json.dumps(merged.to_json())))


def assert_same(a, b, path="", rel=REL):
    """Every number of two to_dict() trees within ``rel`` (relative; absolute near zero)."""
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            assert_same(a[key], b[key], f"{path}/{key}", rel)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), path
        else:
            assert abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-300, (path, a, b)
    else:
        assert a == b, (path, a, b)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("case", ML_CASES, ids=lambda c: f"{c[1]}-{c[3]}")
def test_fit_stats_is_fit_on_the_rows(case, resamples):
    data, spec = load(case, resamples)
    missing = case[3]
    rows = quietly(fit, data, spec, missing=missing, model=case[2])
    stats = stored_stats(data, list(data.columns), seed=len(data))  # every column: fit_stats selects
    from_stats = quietly(fit_stats, stats, spec, missing=missing, model=case[2])
    d_rows, d_stats = rows.to_dict(), from_stats.to_dict()
    assert_same(d_rows, d_stats)
    assert d_stats["n_total"] == len(data) and d_stats["estimator"] == "ml"
    assert d_stats["fit"]["chi2"] > 0 and all(p["se"] > 0 for p in d_stats["paths"])
    # and the per-wave indices from the statistics of a subset are the row version's
    half = data.iloc[: len(data) // 2]
    assert_same(subset_indices(half, rows), subset_indices(SufficientStats.from_frame(half, spec.observed), rows))


@pytest.mark.parametrize("case", PLS_CASES, ids=lambda c: f"{c[1]}-{c[3]}")
def test_pls_fit_stats_is_fit_on_the_rows(case, resamples):
    data, spec = load(case, resamples)
    rows = quietly(fit, data, spec, missing=case[3], estimator="pls", model=case[2])
    stats = stored_stats(data, spec.observed, seed=7)
    from_stats = quietly(fit_stats, stats, spec, missing=case[3], estimator="pls", model=case[2])
    assert_same(rows.to_dict(), from_stats.to_dict())
    assert from_stats.to_dict()["paths"][0]["estimate"] == rows.to_dict()["paths"][0]["estimate"]


def test_rows_without_answers_count_as_dropped(resamples):
    data = resamples["small_04"]["data"]  # complete rows plus empty ones: FIML with one pattern
    spec = CSISpec.from_mapping(resamples["small_04"]["items"])
    padded = pd.concat([data, pd.DataFrame(np.nan, index=range(4), columns=data.columns)], ignore_index=True)
    stats = SufficientStats.from_frame(padded, spec.observed)
    assert (stats.n_empty, stats.n_total, stats.n_answered) == (4, len(data) + 4, len(data))
    rows, from_stats = quietly(fit, padded, spec), quietly(fit_stats, stats, spec)
    assert from_stats.n_dropped == 4 and from_stats.dropped_reasons == {"no_answer": 4}
    assert_same(rows.to_dict(), from_stats.to_dict())


def test_chunks_merge_exactly_in_any_order(resamples):
    for name in ("boot_single_01", "mar_boot_03", "halo_mar_00", "ceiling_02"):
        data = resamples[name]["data"]
        whole = SufficientStats.from_frame(data, data.columns)
        for seed in range(3):
            assert stored_stats(data, data.columns, seed, chunks=2 + seed) == whole, (name, seed)
        a, b = (SufficientStats.from_frame(part, data.columns) for part in (data.iloc[:37], data.iloc[37:]))
        assert a + b == b + a == whole
        assert (a + b).patterns[0].sums is not whole.patterns[0].sums  # new arrays, inputs untouched
        assert sum(s.n for s in whole.patterns) + whole.n_empty == len(data)


def test_json_round_trip_is_exact_and_plain(resamples):
    data = resamples["mar_boot_01"]["data"]
    stats = SufficientStats.from_frame(data, data.columns)
    doc = stats.to_json()
    text = json.dumps(doc)
    assert SufficientStats.from_json(json.loads(text)) == stats
    first = doc["patterns"][0]
    assert all(type(v) is int for v in first["sums"] + sum(first["cross"], []) + first["min"] + first["max"])
    assert type(first["n"]) is int and all(type(m) is bool for m in first["mask"])
    # non-integer answers stay floats and still round-trip bit for bit
    odd = SufficientStats.from_values(data.to_numpy(float)[:50] / 3, data.columns)
    again = SufficientStats.from_json(json.loads(json.dumps(odd.to_json())))
    assert again == odd and isinstance(odd.to_json()["patterns"][0]["sums"][0], float)
    for s, t in zip(odd.patterns, again.patterns):
        assert np.array_equal(s.cross, t.cross) and np.array_equal(s.sums, t.sums)


def test_derived_moments_match_row_computations(resamples):
    """Against independent row computations (centred, ``Moments``/``Patterns``/``ItemMeans``)."""
    data = resamples["halo_mar_00"]["data"]
    values = data.to_numpy(float)
    stats = SufficientStats.from_values(values, data.columns)
    complete = values[~np.isnan(values).any(axis=1)]
    ref = Moments.from_values(complete)
    got = stats.complete_moments()
    assert got.n == ref.n and np.allclose(got.mean, ref.mean, rtol=1e-14)
    assert np.allclose(got.cov, ref.cov, rtol=1e-12, atol=1e-14)
    ours, theirs = stats.to_patterns(), Patterns.from_values(values)
    assert ours.n == theirs.n and len(ours.groups) == len(theirs.groups)
    for g, h in zip(ours.groups, theirs.groups):
        assert np.array_equal(g.obs, h.obs) and np.array_equal(g.n, h.n)
        assert np.allclose(g.mean, h.mean, rtol=1e-14) and np.allclose(g.cov, h.cov, rtol=1e-12, atol=1e-13)
    avail, ref_avail = stats.item_means(), ItemMeans.from_values(values)
    assert np.array_equal(avail.n, ref_avail.n) and np.allclose(avail.mean, ref_avail.mean, rtol=1e-14)
    assert np.allclose(avail.cov_of_means, ref_avail.cov_of_means, rtol=1e-12, atol=1e-16)
    answered = (~np.isnan(values)).astype(float)
    assert np.array_equal(stats.together(), answered.T @ answered)
    low, high = stats.answer_range()
    assert np.array_equal(low, np.nanmin(values, axis=0)) and np.array_equal(high, np.nanmax(values, axis=0))


def test_no_cancellation_at_a_million_rows():
    """1..10 answers, N = 1,000,000, means near 8: raw-moment covariance = centred covariance."""
    rng = np.random.default_rng(11)
    n, p = 1_000_000, 4
    latent = rng.standard_normal(n)
    values = np.clip(np.rint(8 + 1.5 * (0.8 * latent[:, None] + 0.6 * rng.standard_normal((n, p)))), 1, 10)
    stats = SufficientStats.from_values(values, [f"x{j}" for j in range(p)])
    mean, cov = mean_cov(n, stats.complete.sums, stats.complete.cross)
    centred = values - values.mean(axis=0)
    ref = centred.T @ centred / n
    assert np.max(np.abs(cov - ref) / np.abs(ref)) < 1e-9
    assert np.max(np.abs(mean - values.mean(axis=0))) < 1e-12
    # chunks of 100,000 merge to the same integers
    parts = [SufficientStats.from_values(values[i:i + 100_000], stats.items) for i in range(0, n, 100_000)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    assert merged == stats and float(stats.complete.cross[0, 0]) == float(np.sum(values[:, 0] ** 2))


def test_select_reorders_and_drops_items():
    values = np.array([[1, np.nan, 3], [np.nan, np.nan, 2], [4, 5, 6], [np.nan, 2, np.nan]], float)
    stats = SufficientStats.from_values(values, ["a", "b", "c"])
    picked = stats.select(["c", "a"])
    assert picked == SufficientStats.from_values(values[:, [2, 0]], ["c", "a"])
    assert picked.n_empty == 1 and picked.n_total == 4  # the row answering only b
    assert stats.merge(SufficientStats.from_values(values[:, [1, 2, 0]], ["b", "c", "a"])) == \
        SufficientStats.from_values(np.vstack([values, values]), ["a", "b", "c"])
    with pytest.raises(DataError, match="missing item columns"):
        stats.select(["a", "z"])


def test_checks_read_the_stored_statistics(resamples):
    data = resamples["small_00"]["data"]
    spec = CSISpec.from_mapping(resamples["small_00"]["items"])
    bad = data.copy()
    bad.iloc[3, 2] = 11
    with pytest.raises(DataError, match=r"outside the 1-10 scale in .*e\.g\. 11"):
        fit_stats(SufficientStats.from_frame(bad, spec.observed), spec)
    with pytest.raises(DataError, match="only 20 complete responses"):
        fit_stats(SufficientStats.from_frame(data.iloc[:20], spec.observed), spec)
    with pytest.raises(SpecificationError, match="needs the rows"):
        fit_stats(SufficientStats.from_frame(data, spec.observed), spec, estimator="mlr")
    with pytest.raises(DataError, match="missing item columns"):
        fit_stats(SufficientStats.from_frame(data, spec.observed[:-1]), spec)
