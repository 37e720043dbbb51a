"""Input checks at the boundary: each raises DataError naming the columns or rows and the fix."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import DataError
from .spec import CSISpec

_SHOW = 5  # how many offending rows/columns a message lists


def _rows(positions) -> str:
    """Format 1-based data-row numbers (header excluded), shortened to the first few."""
    positions = [int(p) + 1 for p in positions]
    shown = ", ".join(map(str, positions[:_SHOW]))
    more = f" and {len(positions) - _SHOW} more" if len(positions) > _SHOW else ""
    return f"row{'s' if len(positions) > 1 else ''} {shown}{more}"


def check_scale(scale) -> tuple[float, float]:
    """Return ``(min, max)`` as floats; raise DataError unless min < max are finite numbers."""
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise DataError(f"scale must be two numbers (min, max), got {scale!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DataError(f"scale minimum must be below maximum, got {lo:g} to {hi:g}")
    return lo, hi


def check_columns(data: pd.DataFrame, spec: CSISpec) -> None:
    """Raise DataError if an item column of the spec is absent from the data."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    names = list(map(str, data.columns))
    present = set(names)
    twice = sorted({c for c in spec.observed if names.count(c) > 1})
    if twice:
        raise DataError(f"item column(s) {twice} appear more than once in the data; rename or drop "
                        "the duplicates")
    missing = {code: [c for c in cols if c not in present] for code, cols in spec.items.items()}
    missing = {code: cols for code, cols in missing.items() if cols}
    if missing:
        listed = "; ".join(f"{code}: {', '.join(cols)}" for code, cols in missing.items())
        raise DataError(f"missing item columns ({listed}); add them to the data or fix the "
                        "construct mapping")


def check_numeric(data: pd.DataFrame, spec: CSISpec) -> np.ndarray:
    """Return the item columns as a float matrix (NaN = no answer); raise DataError on text cells."""
    return numeric_columns(data, spec.observed)


def numeric_columns(data: pd.DataFrame, cols) -> np.ndarray:
    """The columns ``cols`` as a float matrix (NaN = no answer); DataError on text cells."""
    cols = list(cols)
    frame = data.loc[:, cols]
    bad = []
    converted = {}
    for col in cols:
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_bool_dtype(series):
            blank = series.isna().to_numpy()
            numeric = pd.Series(np.nan, index=series.index)
        else:
            text = series.astype("string").str.strip()
            blank = (text.isna() | (text == "")).to_numpy()
            numeric = pd.to_numeric(text.mask(blank), errors="coerce")
        wrong = np.flatnonzero(numeric.isna().to_numpy() & ~blank)
        if len(wrong):
            first = series.iloc[wrong[0]]
            bad.append(f"{col} ({_rows(wrong)}, e.g. {str(first)!r})")
        converted[col] = numeric.astype(float)
    if bad:
        raise DataError(f"non-numeric answers in {'; '.join(bad)}; recode answers as numbers on "
                        "the scale and leave \"don't know\" blank")
    if converted:
        frame = frame.assign(**converted)
    return frame.to_numpy(dtype=float, na_value=np.nan)


def check_range(values: np.ndarray, spec: CSISpec, scale: tuple[float, float]) -> None:
    """Raise DataError if an answer lies outside the scale (or is infinite)."""
    lo, hi = scale
    with np.errstate(invalid="ignore"):
        outside = (values < lo) | (values > hi) | np.isinf(values)
    if not outside.any():
        return
    parts = []
    for j in np.flatnonzero(outside.any(axis=0)):
        rows = np.flatnonzero(outside[:, j])
        parts.append(f"{spec.observed[j]} ({_rows(rows)}, e.g. {values[rows[0], j]:g})")
    raise DataError(f"answers outside the {lo:g}-{hi:g} scale in {'; '.join(parts)}; fix the "
                    "answers or pass the scale the survey used (--scale-min/--scale-max)")


def check_answer_range(low: np.ndarray, high: np.ndarray, spec: CSISpec, scale: tuple[float, float]) -> None:
    """``check_range`` on stored statistics: each item's lowest and highest answer (NaN if
    unanswered) against the scale; the rows are not known, so the message names the items."""
    lo, hi = scale
    with np.errstate(invalid="ignore"):
        bad = [(item, a if a < lo or np.isinf(a) else b) for item, a, b in zip(spec.observed, low, high)
               if a < lo or b > hi or np.isinf(a) or np.isinf(b)]
    if bad:
        parts = "; ".join(f"{item} (e.g. {value:g})" for item, value in bad[:_SHOW])
        raise DataError(f"answers outside the {lo:g}-{hi:g} scale in {parts}; fix the answers or "
                        "pass the scale the survey used (--scale-min/--scale-max)")


def min_responses(spec: CSISpec) -> int:
    """Responses needed before a fit is attempted: one per free parameter.

    Counted as complete responses for listwise deletion, and as responses with any answer for
    FIML (complete responses are always enough).

    Below this the sample covariance cannot support the model (fewer data points than unknowns);
    results between this and five per parameter carry a ``small_sample`` warning.
    """
    return max(spec.n_free_params(), len(spec.observed) + 1)


def check_sample_size(n_used: int, n_total: int, spec: CSISpec, what: str = "complete responses") -> None:
    """Raise DataError if too few usable responses remain for the free parameters."""
    need = min_responses(spec)
    if n_used < need:
        dropped = n_total - n_used
        why = f" ({dropped} of {n_total} rows left out for missing answers)" if dropped else ""
        raise DataError(f"only {n_used} {what}{why}; the model has "
                        f"{spec.n_free_params()} free parameters and needs at least {need} {what}; "
                        "collect more responses or use fewer items")


def check_coverage(together: np.ndarray, spec: CSISpec) -> None:
    """Raise DataError if two items are (almost) never answered together (``together[i, j]``:
    rows answering both, ``SufficientStats.together``): FIML cannot then estimate their covariance."""
    i, j = np.nonzero(np.triu(together < 2))
    if i.size:
        pairs = ", ".join(f"{spec.observed[a]}/{spec.observed[b]}" for a, b in list(zip(i, j))[:_SHOW])
        raise DataError(f"items {pairs} are answered together by fewer than 2 respondents; "
                        "their relation cannot be estimated: drop one of them or collect more responses")


def check_variance(moments_cov: np.ndarray, spec: CSISpec) -> None:
    """Raise DataError on items without variance or perfectly collinear items."""
    var = np.diag(moments_cov)
    flat = [spec.observed[j] for j in np.flatnonzero(var <= 1e-12 * max(1.0, var.max()))]
    if flat:
        raise DataError(f"items without variation {flat}: every complete response gives the same "
                        "answer; drop these items from the mapping or collect more responses")
    sd = np.sqrt(var)
    corr = moments_cov / np.outer(sd, sd)
    if np.linalg.eigvalsh(corr)[0] <= 1e-10:
        i, j = np.triu_indices_from(corr, k=1)
        pairs = [f"{spec.observed[a]}/{spec.observed[b]}" for a, b in zip(i, j)
                 if abs(corr[a, b]) > 1 - 1e-9]
        what = f"items {', '.join(pairs)} are perfectly correlated" if pairs else \
            "some items are exact linear combinations of others"
        raise DataError(f"{what}; drop the duplicate items from the mapping")


# Data that fit without error but that a careful analyst would question (result warnings).
NEAR_DUPLICATE_R = 0.98   # items correlating above this are near copies of each other
RARE_ANSWER_SHARE = 0.05  # under FIML, an item answered by fewer respondents rests on few answers


def scale_mismatch(answer_range, scale):
    """``(lowest, highest)`` answer if every answer lies in the bottom half of the assumed scale
    (1-5 answers scored on the default 1-10 scale give CS 26.7 instead of 60.1, silently), else None."""
    lo, hi = scale
    low, high = answer_range
    if np.isfinite(high) and high <= lo + (hi - lo) / 2:
        return float(low), float(high)
    return None


def near_duplicates(corr: np.ndarray, spec: CSISpec) -> list[tuple[str, str, float]]:
    """Item pairs with |r| > NEAR_DUPLICATE_R (from the ML or EM covariance)."""
    i, j = np.triu_indices_from(corr, k=1)
    return [(spec.observed[a], spec.observed[b], float(corr[a, b]))
            for a, b in zip(i, j) if abs(corr[a, b]) > NEAR_DUPLICATE_R]


def rarely_answered(counts: np.ndarray, n_used: int, spec: CSISpec) -> list[tuple[str, float]]:
    """Items answered by fewer than RARE_ANSWER_SHARE of the respondents the model used."""
    share = np.asarray(counts, float) / max(n_used, 1)
    return [(spec.observed[j], float(share[j])) for j in np.flatnonzero(share < RARE_ANSWER_SHARE)]
