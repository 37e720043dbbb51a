"""ACSI-style 0-100 index scores, their weights and intervals, and the importance-performance map.

Weights
-------
A construct's index is the weighted mean of its items rescaled to 0-100:
``index = (Σ w_i·mean_i − min) / (max − min) · 100`` with ``Σ w_i = 1``. The weights are the
construct's *unstandardized* loadings from the fitted model, normalized to sum to one. All items
share one answer scale, so an unstandardized loading says how many scale points the item moves
per unit of the construct: items that track the construct more closely count more, and the
weighted mean stays on the answer scale, so the 0-100 rescaling stays exact. (ACSI rescales its
PLS outer weights to sum to one in the same way.) A single-item construct has weight 1. If the
fit did not converge, or a loading is not positive, every item gets equal weight and the result
carries an ``equal_weights`` warning.

Missing answers
---------------
The structural model uses full-information ML by default (or listwise deletion, see ``fit``).
Under FIML, index and item scores use the EM (saturated-model) item means and the CI their
sampling covariance from the saturated model's observed information (``model.fiml``): the mean
of the available answers is biased when answers are missing more often from, say, unsatisfied
customers. Under listwise deletion each item mean is taken over the respondents who answered
that item, and the CI uses the pairwise sampling covariance of those means. A respondent's own score (``respondent_scores``) is the weighted mean of the items they
answered, with the weights of the answered items renormalized.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import check_answer_range, check_columns, check_numeric, check_range, check_scale
from .fiml import Patterns
from .moments import SufficientStats
from .spec import CSISpec
from .stats import Z975, ItemMeans, Solution


def index_weights(solution: Solution, spec: CSISpec, converged: bool) -> tuple[dict, list[str]]:
    """Return ``{code: array of item weights}`` and the constructs that fell back to equal weights."""
    weights, fallback = {}, []
    for k, code in enumerate(spec.constructs):
        idx = [spec.observed.index(item) for item in spec.items[code]]
        loadings = solution.Lambda[idx, k]
        if converged and np.all(np.isfinite(loadings)) and np.all(loadings > 0):
            weights[code] = loadings / loadings.sum()
        else:
            weights[code] = np.full(len(idx), 1 / len(idx))
            fallback.append(code)
    return weights, fallback


def to_index(value, scale) -> np.ndarray:
    """Rescale answers (or means) on ``scale`` to 0-100."""
    lo, hi = scale
    return (np.asarray(value, dtype=float) - lo) / (hi - lo) * 100


def mean_ci(values) -> tuple[int, float | None, list[float] | None]:
    """(n, mean, 95% CI) of the values that are not NaN; the CI is mean ± Z975·sd/√n, None below n = 2."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return 0, None, None
    mean = float(v.mean())
    if n < 2:
        return n, mean, None
    half = float(Z975 * v.std(ddof=1) / np.sqrt(n))
    return n, mean, [mean - half, mean + half]


def construct_indices(means: ItemMeans, spec: CSISpec, weights: dict, scale) -> dict:
    """Index, 95% CI and item scores per construct from item means.

    The CI treats the weights as fixed: var(Σ w_i·x̄_i) = w' cov(x̄) w.
    """
    out = {}
    lo, hi = scale
    for code in spec.constructs:
        idx = [spec.observed.index(item) for item in spec.items[code]]
        w = weights[code]
        index = float(to_index(w @ means.mean[idx], scale))
        var = float(w @ means.cov_of_means[np.ix_(idx, idx)] @ w)
        se = float(np.sqrt(max(var, 0.0))) * 100 / (hi - lo)
        out[code] = {
            "index": index, "index_se": se, "index_ci": [index - Z975 * se, index + Z975 * se],
            "item_scores": {item: float(to_index(means.mean[j], scale))
                            for item, j in zip(spec.items[code], idx)},
            "item_n": {item: int(means.n[j]) for item, j in zip(spec.items[code], idx)},
        }
    return out


def em_item_means(patterns: Patterns, mu: np.ndarray, sigma: np.ndarray) -> ItemMeans:
    """FIML item means: the saturated model's EM means ``mu`` with their sampling covariance."""
    return ItemMeans(patterns.available()[0].astype(int), mu, patterns.mean_covariance(mu, sigma))


def item_means(stats: SufficientStats, missing: str = "fiml", items=None) -> ItemMeans:
    """Item means of a set of respondents as ``fit`` estimates its own, from their statistics
    only: the EM (saturated-model) means and their sampling covariance under FIML when some
    answers are missing, else the available-answer means (``SufficientStats.item_means``).

    This is the data-only part of ``subset_indices`` (at 500,000 responses nearly all of it: EM
    and the saturated information); compute it once per wave and pass it as
    ``subset_indices(None, result, means=...)`` to score that wave with the weights of several
    fits. ``items`` (default ``stats.items``) selects and orders the items: it must be the
    ``spec.observed`` of the results it is used with.
    """
    stats = stats.select(items if items is not None else stats.items)
    if missing == "fiml" and stats.n_complete < stats.n_total:
        patterns = stats.to_patterns()
        return em_item_means(patterns, *patterns.saturated())
    return stats.item_means()


def subset_indices(data, result, *, means: ItemMeans | None = None) -> dict:
    """Construct indices of any set of respondents with a fitted result's weights.

    The item means are estimated as ``fit`` estimates its own (EM means under FIML, available
    answers under listwise deletion), so on the rows the result was fitted to this returns the
    result's own indices and CIs; on other rows (another wave) it puts them on the same yardstick.

    Parameters
    ----------
    data : pandas.DataFrame or model.moments.SufficientStats or None
        Respondents with the item columns of ``result.spec``, or the stored sufficient
        statistics of such respondents (the same numbers: the rows are turned into those
        statistics first). Not read (may be None) when ``means`` is given.
    result : CSIResult
        A fitted result; its weights, scale and missing-data method are used.
    means : ItemMeans, optional
        The respondents' item means from ``item_means(stats, result.missing_method,
        result.spec.observed)``, computed once and reused across results (their answers'
        range was checked when ``fit_stats`` or this function read them; it is not rechecked).

    Returns
    -------
    dict
        ``{CODE: {index, index_se, index_ci, item_scores, item_n}}`` as ``CSIResult.constructs``.
        Raises ``DataError`` on bad answers, as ``respondent_scores``; ValueError when ``means``
        does not cover ``result.spec.observed``.
    """
    spec = result.spec
    if means is None:
        if isinstance(data, SufficientStats):
            stats = data.select(spec.observed)
            check_answer_range(*stats.answer_range(), spec, result.scale)
        else:
            stats = SufficientStats.from_values(_item_matrix(data, spec, result.scale), spec.observed)
        means = item_means(stats, result.missing_method)
    elif np.shape(means.mean) != (len(spec.observed),):
        raise ValueError(f"means cover {np.size(means.mean)} items, the result's spec {len(spec.observed)}")
    weights = {code: np.array([result.weights[code][item] for item in spec.items[code]])
               for code in spec.constructs}
    return construct_indices(means, spec, weights, result.scale)


def score_units(solution: Solution, spec: CSISpec, weights: dict, scale) -> np.ndarray:
    """Index points per unit of each latent variable: 100·Σ w_i·λ_i / (max − min).

    Multiplying a total effect by units[target] / units[driver] puts it on the 0-100 metric:
    index points of the target per index point of the driver.
    """
    lo, hi = scale
    units = np.empty(len(spec.constructs))
    for k, code in enumerate(spec.constructs):
        idx = [spec.observed.index(item) for item in spec.items[code]]
        units[k] = 100 * float(weights[code] @ solution.Lambda[idx, k]) / (hi - lo)
    return units


def index_effects(total: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Total effects on the 0-100 metric: ``total[t, d] · units[t] / units[d]``, index points
    of target t per index point of driver d (``total_index``; ``impact_5pt`` is 5 times it)."""
    return total * units[:, None] / units[None, :]


def priority_gain(importance, performance):
    """importance × (100 − performance), the target points to gain if the driver reached 100;
    −inf where undefined, so it ranks last. Works on scalars and arrays."""
    value = np.asarray(importance, dtype=float) * (100 - np.asarray(performance, dtype=float))
    return np.where(np.isfinite(value), value, -np.inf)


def rank_priority(rows: list[dict]) -> list[dict]:
    """Rank by importance × (100 − performance), largest first: priority 1 = improve first.

    The product is the target points to gain if the driver reached 100, so a driver that matters
    much and performs poorly comes first; ties keep the input order.
    """
    def gain(row):
        return float(priority_gain(row["importance"], row["performance"]))

    ranked = sorted(rows, key=gain, reverse=True)
    return [{**row, "priority": rank} for rank, row in enumerate(ranked, start=1)]


def _item_matrix(data: pd.DataFrame, spec: CSISpec, scale) -> np.ndarray:
    check_columns(data, spec)
    values = check_numeric(data, spec)
    check_range(values, spec, scale)
    return values


def respondent_scores(data: pd.DataFrame, result) -> pd.DataFrame:
    """0-100 construct scores for every respondent, with the result's index weights.

    Parameters
    ----------
    data : pandas.DataFrame
        Respondents with the item columns of ``result.spec``.
    result : CSIResult
        A fitted result; its weights and scale are used.

    Returns
    -------
    pandas.DataFrame
        One column per construct, same index as ``data``. A missing answer is skipped and the
        remaining weights of that construct are renormalized; NaN when no item was answered.

    Raises
    ------
    DataError
        Missing item columns, non-numeric answers or answers outside the scale.
    """
    spec, scale = result.spec, result.scale
    values = _item_matrix(data, spec, scale)
    answered = ~np.isnan(values)
    filled = np.where(answered, values, 0.0)
    out = {}
    for code in spec.constructs:
        idx = [spec.observed.index(item) for item in spec.items[code]]
        w = np.array([result.weights[code][item] for item in spec.items[code]])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (filled[:, idx] @ w) / (answered[:, idx] @ w)
        out[code] = to_index(mean, scale)
    return pd.DataFrame(out, index=data.index)


def descriptive_scores(data: pd.DataFrame, spec: CSISpec, scale=(1, 10)) -> dict:
    """Equal-weight 0-100 construct and item scores with n and 95% CI, for any n ≥ 1.

    Uses every available answer (no listwise deletion), so it works before a model can be fitted.
    A construct score is the mean over respondents of their equal-weight mean of answered items.
    CIs are mean ± 1.96·sd/√n (None when n < 2).

    Returns
    -------
    dict
        ``{"n": rows, "scale": [min, max], "constructs": {CODE: {score, n, ci, items:
        {item: {score, n, ci}}}}}``.

    Raises
    ------
    DataError
        Missing item columns, non-numeric answers or answers outside the scale.
    """
    scale = check_scale(scale)
    values = _item_matrix(data, spec, scale)
    scores = to_index(values, scale)

    def summary(column):
        n, mean, ci = mean_ci(column)
        return {"score": mean, "n": n, "ci": ci}

    constructs = {}
    for code in spec.constructs:
        idx = [spec.observed.index(item) for item in spec.items[code]]
        block = scores[:, idx]
        count = (~np.isnan(block)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_person = np.where(count > 0, np.nansum(block, axis=1) / count, np.nan)
        constructs[code] = {**summary(per_person),
                            "items": {item: summary(scores[:, j]) for item, j in zip(spec.items[code], idx)}}
    return {"n": int(values.shape[0]), "scale": list(scale), "constructs": constructs}
