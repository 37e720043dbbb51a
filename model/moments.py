"""Sufficient statistics of the answers: what a database can keep instead of the rows.

Per pattern of answered items the count, the sums and the raw cross-products X'X of the
answers, and each item's lowest and highest answer. Everything ``fit`` estimates without
resampling rows follows from them: the complete-data moments, the FIML patterns (each
pattern's mean and ML covariance), the available-case item means with their pairwise sampling
covariance, the coverage and range checks. ``fit`` itself turns its rows into these statistics
first, so ``fit_stats`` on the statistics of the same rows runs the same pipeline on the same
numbers.

Exactness: answers on a 1..10 (any integer) scale give integer sums and cross-products, which
float64 holds exactly below 2**53 (about 10**14 respondents for answers up to 10), so merging
the statistics of disjoint chunks gives, bit for bit, the statistics of the union, in any
order. Moments are formed as (n·C − s·s')/n², whose two products are again exact integers for
integer answers (while n·C < 2**53: N up to about 9·10**6 at answers up to 10); the one
subtraction then cancels nothing that was rounded, and one division rounds the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .exceptions import DataError
from .fiml import Patterns
from .stats import ItemMeans, Moments

_EXACT = 2.0 ** 53


def mean_cov(n: float, sums: np.ndarray, cross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ML covariance (divide by n) from the count, sums and raw cross-products."""
    n = float(n)
    return sums / n, (n * cross - np.outer(sums, sums)) / (n * n)


def _frozen(array) -> np.ndarray:
    out = np.array(array, dtype=float)
    out.setflags(write=False)
    return out


def _plain(array: np.ndarray) -> list:
    """A list for JSON: ints when every entry is a whole number float64 holds exactly."""
    a = np.asarray(array, dtype=float)
    if np.all(np.isfinite(a)) and np.all(a == np.rint(a)) and np.all(np.abs(a) < _EXACT):
        return a.astype(np.int64).tolist()
    return a.tolist()


@dataclass(frozen=True, eq=False)
class PatternStats:
    """Count, sums, raw cross-products X'X and answer range of the rows answering exactly ``mask``.

    ``sums``, ``cross``, ``low`` and ``high`` run over the answered items only, in item order.
    """

    mask: tuple[bool, ...]
    n: int
    sums: np.ndarray
    cross: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @cached_property
    def obs(self) -> np.ndarray:
        """The answered items' indices (computed once: every statistic of the fit reads them)."""
        obs = np.flatnonzero(self.mask)
        obs.setflags(write=False)
        return obs

    @property
    def code(self) -> int:
        """The pattern's canonical sort key (bit j set when item j is answered)."""
        return sum(1 << j for j, m in enumerate(self.mask) if m)

    def __add__(self, other: "PatternStats") -> "PatternStats":
        if other.mask != self.mask:
            raise ValueError("only statistics of the same answer pattern add")
        return PatternStats(self.mask, self.n + other.n, _frozen(self.sums + other.sums),
                            _frozen(self.cross + other.cross), _frozen(np.minimum(self.low, other.low)),
                            _frozen(np.maximum(self.high, other.high)))

    def moments(self) -> Moments:
        return Moments(self.n, *mean_cov(self.n, self.sums, self.cross))


@dataclass(frozen=True, eq=False)
class SufficientStats:
    """Sufficient statistics of a set of respondents over ``items`` (the column order).

    ``patterns`` are sorted by ``PatternStats.code``, one per answer pattern present; rows
    without any answer are only counted (``n_empty``): they matter for ``n_total`` and
    ``n_dropped``. Equality (``==``) is exact, number for number.
    """

    items: tuple[str, ...]
    patterns: tuple[PatternStats, ...] = ()
    n_empty: int = 0

    # construction ----------------------------------------------------------------------
    @classmethod
    def from_values(cls, values, items) -> "SufficientStats":
        """Statistics of a (rows × items) matrix, NaN for no answer (numbers only; the range
        is checked by whoever fits them, against the scale it is given)."""
        items = tuple(map(str, items))
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(items):
            raise DataError(f"values must be a (rows × {len(items)}) matrix, got shape {values.shape}")
        answered = ~np.isnan(values)
        p = len(items)
        if answered.all():  # complete data (the common case): one pattern, no copies of the rows
            if not values.shape[0]:
                return cls(items)
            cross = values.T @ values
            return cls(items, (PatternStats((True,) * p, int(values.shape[0]), _frozen(values.sum(axis=0)),
                                            _frozen((cross + cross.T) / 2), _frozen(values.min(axis=0)),
                                            _frozen(values.max(axis=0))),))
        keep = answered.any(axis=1)
        n_empty = int(values.shape[0] - keep.sum())
        values, answered = values[keep], answered[keep]
        if p <= 62:
            _, inverse = np.unique(answered.astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64)),
                                   return_inverse=True)
        else:
            _, inverse = np.unique(answered, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        patterns = []
        for rows in np.split(order, bounds) if order.size else []:
            obs = np.flatnonzero(answered[rows[0]])
            block = values[np.ix_(rows, obs)]
            cross = block.T @ block
            patterns.append(PatternStats(tuple(bool(m) for m in answered[rows[0]]), int(rows.size),
                                         _frozen(block.sum(axis=0)), _frozen((cross + cross.T) / 2),
                                         _frozen(block.min(axis=0)), _frozen(block.max(axis=0))))
        return cls(items, tuple(sorted(patterns, key=lambda s: s.code)), n_empty)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, items) -> "SufficientStats":
        """Statistics of the ``items`` columns of a frame (blank or NaN = no answer); raises
        DataError on missing columns or text that is not a number, as ``fit`` does."""
        from .checks import numeric_columns
        items = tuple(map(str, items))
        absent = [c for c in items if c not in set(map(str, frame.columns))]
        if absent:
            raise DataError(f"missing item columns {absent}; add them to the data or fix the item list")
        return cls.from_values(numeric_columns(frame, items), items)

    # combination -----------------------------------------------------------------------
    def merge(self, other: "SufficientStats") -> "SufficientStats":
        """Statistics of the union of two disjoint sets of rows (exact for integer answers).
        ``other`` may list the same items in another order."""
        if other.items != self.items:
            if sorted(other.items) != sorted(self.items):
                raise DataError(f"cannot merge statistics of different items: {list(self.items)} "
                                f"and {list(other.items)}")
            other = other.select(self.items)
        by_mask = {s.mask: s for s in self.patterns}
        for s in other.patterns:
            by_mask[s.mask] = by_mask[s.mask] + s if s.mask in by_mask else s
        return SufficientStats(self.items, tuple(sorted(by_mask.values(), key=lambda s: s.code)),
                               self.n_empty + other.n_empty)

    __add__ = merge

    def select(self, items) -> "SufficientStats":
        """The statistics of the same rows over ``items`` (a subset of ``self.items``, any
        order); rows left without an answer among them join ``n_empty``."""
        items = tuple(map(str, items))
        absent = [c for c in items if c not in self.items]
        if absent:
            raise DataError(f"missing item columns {absent}; the statistics hold {list(self.items)}")
        if items == self.items:
            return self
        idx = [self.items.index(c) for c in items]
        n_empty, by_mask = self.n_empty, {}
        for s in self.patterns:
            mask = tuple(s.mask[j] for j in idx)
            if not any(mask):
                n_empty += s.n
                continue
            rank = np.cumsum(s.mask) - 1     # position of item j among the pattern's answered ones
            pos = [int(rank[j]) for j in idx if s.mask[j]]
            part = PatternStats(mask, s.n, _frozen(s.sums[pos]), _frozen(s.cross[np.ix_(pos, pos)]),
                                _frozen(s.low[pos]), _frozen(s.high[pos]))
            by_mask[mask] = by_mask[mask] + part if mask in by_mask else part
        return SufficientStats(items, tuple(sorted(by_mask.values(), key=lambda s: s.code)), n_empty)

    # JSON --------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Plain lists and numbers (ints where the answers are whole numbers); ``from_json``
        restores the same statistics exactly (floats go through Python's round-trip repr)."""
        return {"items": list(self.items), "n_empty": int(self.n_empty),
                "patterns": [{"mask": list(s.mask), "n": int(s.n), "sums": _plain(s.sums),
                              "cross": _plain(s.cross), "min": _plain(s.low), "max": _plain(s.high)}
                             for s in self.patterns]}

    @classmethod
    def from_json(cls, data: dict) -> "SufficientStats":
        items = tuple(map(str, data["items"]))
        patterns = []
        for s in data["patterns"]:
            mask = tuple(bool(m) for m in s["mask"])
            k = sum(mask)
            if len(mask) != len(items) or k == 0:
                raise DataError("a pattern's mask must have one entry per item and at least one answer")
            arrays = [_frozen(s[key]) for key in ("sums", "cross", "min", "max")]
            if arrays[1].shape != (k, k) or any(a.shape != (k,) for a in arrays[::2] + arrays[3:]):
                raise DataError("a pattern's sums, cross-products and ranges must cover its answered items")
            patterns.append(PatternStats(mask, int(s["n"]), *arrays))
        by_mask = {}
        for s in patterns:
            by_mask[s.mask] = by_mask[s.mask] + s if s.mask in by_mask else s
        return cls(items, tuple(sorted(by_mask.values(), key=lambda s: s.code)), int(data.get("n_empty", 0)))

    def __eq__(self, other) -> bool:
        return isinstance(other, SufficientStats) and self.to_json() == other.to_json()

    __hash__ = None

    # what the fit reads --------------------------------------------------------------------
    @property
    def n_answered(self) -> int:
        """Rows with at least one answer."""
        return sum(s.n for s in self.patterns)

    @property
    def n_total(self) -> int:
        return self.n_answered + self.n_empty

    @property
    def complete(self) -> PatternStats | None:
        """The pattern of the rows answering every item (None if there are none)."""
        last = self.patterns[-1] if self.patterns else None
        return last if last is not None and all(last.mask) else None

    @property
    def n_complete(self) -> int:
        return self.complete.n if self.complete is not None else 0

    def _full(self, s: PatternStats):
        """A pattern's sums and cross-products laid out over all items (zeros elsewhere)."""
        p, obs = len(self.items), s.obs
        sums, cross = np.zeros(p), np.zeros((p, p))
        sums[obs] = s.sums
        cross[np.ix_(obs, obs)] = s.cross
        return sums, cross

    def together(self) -> np.ndarray:
        """Rows answering both item i and item j (the diagonal: rows answering item i)."""
        p = len(self.items)
        if not self.patterns:
            return np.zeros((p, p))
        masks = np.array([s.mask for s in self.patterns], dtype=float)
        counts = np.array([s.n for s in self.patterns], dtype=float)
        return (masks * counts[:, None]).T @ masks    # whole counts: exact in any order

    def answer_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item the lowest and highest answer (NaN for an item nobody answered)."""
        p = len(self.items)
        low, high = np.full((len(self.patterns) + 1, p), np.inf), np.full((len(self.patterns) + 1, p), -np.inf)
        if self.patterns:
            at = np.concatenate([r * p + s.obs for r, s in enumerate(self.patterns)])
            low.flat[at] = np.concatenate([s.low for s in self.patterns])
            high.flat[at] = np.concatenate([s.high for s in self.patterns])
        low, high = low.min(axis=0), high.max(axis=0)
        answered = np.diag(self.together()) > 0
        return np.where(answered, low, np.nan), np.where(answered, high, np.nan)

    def complete_moments(self) -> Moments:
        """Means and ML covariance of the complete rows (listwise deletion)."""
        return self.complete.moments()

    def to_patterns(self) -> Patterns:
        """``fiml.Patterns`` of the rows with an answer (each pattern's n, mean and covariance)."""
        return Patterns.from_moments(len(self.items), [(s.obs, s.n, *mean_cov(s.n, s.sums, s.cross))
                                                      for s in self.patterns])

    def item_means(self) -> ItemMeans:
        """Available-case item means and their pairwise sampling covariance, the same formula
        as ``ItemMeans.from_values`` on the rows: cov(x̄_i, x̄_j) = n_ij·s_ij / (n_i·n_j), s_ij
        the covariance over the n_ij rows answering both."""
        p = len(self.items)
        n_ij = self.together()
        total, pair_sum, cross = np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
        for s in self.patterns:
            sums, c = self._full(s)
            total += sums
            pair_sum += np.outer(sums, np.asarray(s.mask, float))  # [i, j]: Σ x_i over rows answering i and j
            cross += c
        n_i = np.diag(n_ij).copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n_i
            centred = (n_ij * cross - pair_sum * pair_sum.T) / n_ij  # exact numerator for integers
            s_ij = np.where(n_ij > 1, centred / (n_ij - 1), 0.0)
            cov = np.where(n_ij > 1, n_ij * s_ij / np.outer(n_i, n_i), 0.0)
        return ItemMeans(n_i.astype(int), mean, (cov + cov.T) / 2)
