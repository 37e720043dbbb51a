"""In-database sufficient statistics: the report of a large survey from its moments, not from its rows.

Per (survey, wave, segment, answered-item pattern) a ``response_moments`` row holds the count, sums and raw
cross-products of the scale answers, their minima and maxima, and the count and sum of every derived
per-response figure the report shows (``derived_columns``: satisfaction level, complaint, handling, causes,
loyalty intent). Responses are append-only, so ``update`` reads only the responses after ``moments_state.last_id``
(plus the few ids that were not yet visible last time: ``gaps``), adds their cells into the stored ones and moves
the mark, in one transaction: a refresh costs O(new responses + patterns). Integer answers make every sum exact in
float64, so the moments give the same estimates as the rows (tests/report/test_report_moments.py).

A questionnaire edit, a scale change or an erasure changes the *basis* (the layout the vectors follow); the
cells are then rebuilt from the rows, a block of ``BLOCK`` responses at a time.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from model.scores import to_index
from survey.report import figures as rs
from survey.services.reading import coded_frame, fetch_raw
from survey.storage.db import write_transaction
from survey.storage.tables import SCALE, MomentsState, Response, ResponseMoments, Survey, utcnow

BLOCK = 50_000       # responses read at once while (re)building: bounds a worker's memory (~150 MB)
GAP_SECONDS = 600    # how long an id below the mark that was not visible is looked for again
MAX_GAPS = 1000      # at most this many such ids (the highest) are kept
ALL = ""             # the segment of every response
LIKELY_SHARE = 0.7   # top 30% of the scale: 'likely' to recommend, handled 'well' (as survey.report.figures)


@dataclass(frozen=True)
class Layout:
    """What the vectors of one basis hold: the scale items (column order) and the derived figures."""

    items: tuple[str, ...]
    derived: tuple[str, ...]
    segments: tuple[tuple[str, tuple[str, ...]], ...]  # (question code, its options)
    scale: tuple[int, int]
    ce: tuple[str, ...]
    pq: tuple[str, ...]
    cl: tuple[str, ...]
    causes: tuple[str, ...]

    @property
    def p(self) -> int:
        return len(self.items)

    @property
    def size(self) -> int:
        p, d = self.p, len(self.derived)
        return 1 + p + p * (p + 1) // 2 + 2 * p + 2 * d


def layout_for(info: dict, spec) -> Layout:
    """The layout of a survey's cells (``info``: compute.survey_info; ``spec``: its CSISpec)."""
    from survey.report.compute import segment_questions

    questions = {q["code"]: q for q in info["questions"]}
    items = tuple(q["code"] for q in info["questions"] if q["kind"] == SCALE)
    cl = tuple(spec.items.get("CL", ()))
    causes = _values(questions["complaint_cause"]["options"]) if "complaint_cause" in questions else ()
    derived = [f"level:{name}" for name in rs.LEVELS]
    if "complained" in questions:
        derived += ["complained", "complained:short"]
        if "complaint_handling" in questions:
            derived += ["handling", "handling:well"]
        derived += [f"cause:{c}" for c in causes]
    derived += [f"likely:{item}" for item in cl]
    segments = tuple((q["code"], _values(q["options"])) for q in segment_questions(info))
    return Layout(items, tuple(derived), segments, tuple(info["scale"]), tuple(spec.items["CE"]),
                  tuple(spec.items["PQ"]), cl, causes)


def _values(options) -> tuple[str, ...]:
    """Option values of a question (options are {value, en, zh} or plain strings)."""
    return tuple(o["value"] if isinstance(o, dict) else str(o) for o in options)


def basis_of(survey: Survey, layout: Layout) -> str:
    """Digest naming the layout and the survey's data epoch (an erasure starts a new one)."""
    parts = repr((layout, survey.erasures, str(survey.created_at),
                  [(q.id, q.code, q.kind, tuple(q.option_values)) for q in survey.active_questions]))
    return hashlib.sha256(parts.encode()).hexdigest()[:40]


def derived_columns(frame: pd.DataFrame, layout: Layout) -> np.ndarray:
    """The per-response figures (rows x derived, NaN where a figure does not apply), defined as
    survey.report.figures defines them on rows."""
    lo, hi = layout.scale
    cut = lo + LIKELY_SHARE * (hi - lo)
    levels = rs.satisfaction_level_per_row(frame, layout.ce, layout.pq)
    cols = {f"level:{name}": (levels == name).astype(float).where(levels.notna()) for name in rs.LEVELS}
    if "complained" in layout.derived:
        flag = rs.yes_no(frame["complained"])
        cols["complained"] = flag
        cols["complained:short"] = flag.where(levels == "short")
        if "handling" in layout.derived:
            handling = pd.to_numeric(frame["complaint_handling"], errors="coerce").where(flag == 1.0)
            cols["handling"] = handling
            cols["handling:well"] = (handling >= cut).astype(float).where(handling.notna())
        if layout.causes:
            answers = frame["complaint_cause"]
            picked = {value: set(rs.split_choices(value)) for value in pd.unique(answers.dropna().to_numpy())}
            for cause in layout.causes:  # looked up per distinct answer: a handful of combinations
                cols[f"cause:{cause}"] = answers.map({v: float(cause in c) for v, c in picked.items()}).fillna(
                    0.0).where(flag == 1.0)
    for item in layout.cl:
        values = pd.to_numeric(frame[item], errors="coerce")
        cols[f"likely:{item}"] = (values >= cut).astype(float).where(values.notna())
    return np.column_stack([cols[name].to_numpy(dtype=float) for name in layout.derived]) if layout.derived \
        else np.zeros((len(frame), 0))


def cells_of(frame: pd.DataFrame, layout: Layout) -> dict[tuple, np.ndarray]:
    """{(wave_id, segment, pattern): vector} of a block of responses (``coded_frame`` rows)."""
    if frame.empty:
        return {}
    values = frame[list(layout.items)].to_numpy(dtype=float)
    answered = ~np.isnan(values)
    filled = np.where(answered, values, 0.0)
    derived = derived_columns(frame, layout)
    known = ~np.isnan(derived)
    derived_filled = np.where(known, derived, 0.0)
    text = np.ascontiguousarray(answered.astype(np.uint8) + ord("0"))  # '0'/'1' per item, one string per row
    patterns = text.view(f"S{layout.p}").ravel().astype(str) if layout.p else np.full(len(frame), "")
    waves = frame["wave_id"].to_numpy()
    upper = np.triu_indices(layout.p)
    groupings = [(ALL, np.full(len(frame), ALL, dtype=object))]
    for code, _options in layout.segments:
        answers = frame[code].to_numpy(dtype=object)
        groupings.append((code, np.array([None if a is None else f"{code}={a}" for a in answers], dtype=object)))
    out: dict[tuple, np.ndarray] = {}
    for _name, segment in groupings:
        keys = pd.DataFrame({"w": waves, "s": segment, "p": patterns})
        keys = keys[keys["s"].notna()]
        for (wave_id, seg, pattern), index in keys.groupby(["w", "s", "p"], sort=False).indices.items():
            rows = keys.index.to_numpy()[index]
            x = filled[rows]
            mask = answered[rows[0]]
            low = np.where(mask, values[rows].min(axis=0, initial=np.inf, where=answered[rows]), np.inf)
            high = np.where(mask, values[rows].max(axis=0, initial=-np.inf, where=answered[rows]), -np.inf)
            vector = np.concatenate([[len(rows)], x.sum(axis=0), (x.T @ x)[upper], low, high,
                                     known[rows].sum(axis=0), derived_filled[rows].sum(axis=0)])
            out[(int(wave_id), seg, pattern)] = vector
    return out


def merge(layout: Layout, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The vector of the union of two disjoint sets of responses."""
    p = layout.p
    lo = 1 + p + p * (p + 1) // 2
    out = a + b
    out[lo:lo + p] = np.minimum(a[lo:lo + p], b[lo:lo + p])
    out[lo + p:lo + 2 * p] = np.maximum(a[lo + p:lo + 2 * p], b[lo + p:lo + 2 * p])
    return out


def _state(session, survey_id: int) -> MomentsState | None:
    query = sa.select(MomentsState).where(MomentsState.survey_id == survey_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # one updater at a time per survey; the others wait, then see its mark
    return session.scalar(query)


def _ensure_state(session, survey_id: int, basis: str) -> None:
    if session.scalar(sa.select(MomentsState.survey_id).where(MomentsState.survey_id == survey_id)) is not None:
        return
    try:
        with write_transaction(session):
            session.add(MomentsState(survey_id=survey_id, basis=basis, last_id=0, gaps="{}"))
    except sa.exc.IntegrityError:
        pass  # created meanwhile by another worker


def update(session, survey: Survey, info: dict, spec, *, block: int = BLOCK) -> dict:
    """Bring the survey's cells up to date with its stored responses; return what was done
    ({basis, read, rebuilt, seconds}). Safe to run from any number of workers at once."""
    started = time.perf_counter()
    layout = layout_for(info, spec)
    basis = basis_of(survey, layout)
    _ensure_state(session, survey.id, basis)
    read, rebuilt = 0, False
    while True:
        with write_transaction(session):
            state = _state(session, survey.id)
            if state.basis != basis:
                session.execute(sa.delete(ResponseMoments).where(ResponseMoments.survey_id == survey.id))
                state.basis, state.last_id, state.gaps, rebuilt = basis, 0, "{}", True
            top = session.scalar(sa.select(sa.func.max(Response.id))) or 0
            up_to = min(top, state.last_id + block)
            gaps = {int(k): v for k, v in json.loads(state.gaps or "{}").items()}
            frame = coded_frame(session, survey, after_id=state.last_id, up_to=up_to, ids=list(gaps))
            _add(session, survey.id, basis, layout, cells_of(frame, layout))
            now = time.time()
            seen = set(frame["response_id"].tolist())
            gaps = {i: t for i, t in gaps.items() if i not in seen and now - t < GAP_SECONDS}
            # in-flight ids sit near the top; a long run of absent ids (a deleted survey) need not be kept
            if up_to > state.last_id:  # ids of the window that no survey has: transactions still in flight
                present = set(session.scalars(sa.select(Response.id).where(
                    Response.id > state.last_id, Response.id <= up_to)).all())
                gaps.update({i: now for i in range(state.last_id + 1, up_to + 1) if i not in present})
            gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
            read += len(frame)
            state.last_id, state.gaps, state.updated_at = up_to, json.dumps(gaps), utcnow()
            done = up_to >= top
        del frame
        if done:
            break
    return {"basis": basis, "read": read, "rebuilt": rebuilt, "seconds": time.perf_counter() - started}


def _add(session, survey_id: int, basis: str, layout: Layout, cells: dict) -> None:
    """Add new cells into the stored ones (inside the caller's transaction)."""
    if not cells:
        return
    t = ResponseMoments
    # the keys of every stored cell of the survey (small rows), then the vectors of the touched ones by id: one
    # index scan each, where a row-value IN list over the keys would scan the table on PostgreSQL
    ids = {(w, seg, pat): i for i, w, seg, pat in session.execute(
        sa.select(t.id, t.wave_id, t.segment, t.pattern).where(t.survey_id == survey_id, t.basis == basis))}
    touched = [ids[key] for key in cells if key in ids]
    by_id = {}
    for start in range(0, len(touched), 1000):
        by_id.update(session.execute(sa.select(t.id, t.data).where(t.id.in_(touched[start:start + 1000]))).all())
    stored = {key: (ids[key], np.frombuffer(by_id[ids[key]], dtype=np.float64)) for key in cells if key in ids}
    inserts, updates = [], []
    for key, vector in cells.items():
        if key in stored:
            row_id, old = stored[key]
            new = merge(layout, old, vector)
            updates.append({"row_id": row_id, "n": int(new[0]), "data": new.tobytes()})
        else:
            inserts.append({"survey_id": survey_id, "basis": basis, "wave_id": key[0], "segment": key[1],
                            "pattern": key[2], "n": int(vector[0]), "data": vector.tobytes()})
    table = t.__table__  # Core statements: plain executemany, no ORM bookkeeping of a thousand rows
    if inserts:
        session.connection().execute(sa.insert(table), inserts)
    if updates:
        session.connection().execute(sa.update(table).where(table.c.id == sa.bindparam("row_id"))
                                     .values(n=sa.bindparam("n"), data=sa.bindparam("data")), updates)


@dataclass(frozen=True)
class Cells:
    """A block of stored cells as arrays (one row per cell), so every figure is a few array operations
    whatever the number of patterns: ``masks`` (cells x items, answered), ``data`` (cells x Layout.size),
    ``waves`` (wave id per cell)."""

    layout: Layout
    masks: np.ndarray
    data: np.ndarray
    waves: np.ndarray

    @classmethod
    def empty(cls, layout: Layout) -> "Cells":
        return cls(layout, np.zeros((0, layout.p), bool), np.zeros((0, layout.size)), np.zeros(0, np.int64))

    def where(self, keep) -> "Cells":
        return Cells(self.layout, self.masks[keep], self.data[keep], self.waves[keep])

    def of_wave(self, wave_id: int | None) -> "Cells":
        """The cells of one wave (None: all)."""
        return self if wave_id is None else self.where(self.waves == wave_id)

    def _block(self, k: int) -> np.ndarray:
        p, d = self.layout.p, len(self.layout.derived)
        bounds = np.cumsum([0, 1, p, p * (p + 1) // 2, p, p, d, d])
        return self.data[:, bounds[k]:bounds[k + 1]]

    @property
    def n(self) -> np.ndarray:
        return self.data[:, 0]

    @property
    def count(self) -> int:
        return int(self.n.sum())

    sums = property(lambda self: self._block(1))
    upper = property(lambda self: self._block(2))
    low = property(lambda self: self._block(3))
    high = property(lambda self: self._block(4))
    derived_counts = property(lambda self: self._block(5))
    derived_sums = property(lambda self: self._block(6))

    def cross(self, items: np.ndarray | None = None) -> np.ndarray:
        """Raw cross-products per cell (cells x m x m) over item positions ``items`` (default: all)."""
        p = self.layout.p
        position = np.zeros((p, p), dtype=np.int64)
        position[np.triu_indices(p)] = np.arange(p * (p + 1) // 2)
        position = np.maximum(position, position.T)  # symmetric: (i, j) and (j, i) read the same entry
        if items is not None:
            position = position[np.ix_(items, items)]
        return self.upper[:, position]


def load_all(session, survey_id: int, basis: str, layout: Layout) -> tuple[Cells, dict]:
    """The stored cells of every response and of every segment ({question code: {option: Cells}})."""
    t = ResponseMoments
    rows = fetch_raw(session.connection(), sa.select(t.wave_id, t.segment, t.pattern, t.data)
                     .where(t.survey_id == survey_id, t.basis == basis))
    if not rows:
        return Cells.empty(layout), {}
    data = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float64).reshape(len(rows), layout.size)
    masks = np.frombuffer("".join(r[2] for r in rows).encode(), dtype=np.uint8).reshape(len(rows), layout.p) \
        == ord("1")
    waves = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    segment = np.array([r[1] for r in rows], dtype=object)
    everything = Cells(layout, masks, data, waves)
    every = everything.where(segment == ALL)
    by_segment: dict[str, dict] = {}
    for name in sorted(set(segment.tolist()) - {ALL}):
        code, _, value = name.partition("=")
        by_segment.setdefault(code, {})[value] = everything.where(segment == name)
    return every, by_segment


def to_stats(cells: Cells):
    """model.SufficientStats of the responses behind cells (the layout's scale items), cells of one answer
    pattern (several waves) added up."""
    from model.moments import PatternStats, SufficientStats

    layout = cells.layout
    if not len(cells.n):
        return SufficientStats(layout.items, (), 0)
    _, group = np.unique(np.packbits(cells.masks, axis=1), axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    k = int(group.max()) + 1
    data = np.zeros((k, layout.size))
    np.add.at(data, group, cells.data)
    p = layout.p
    lo = 1 + p + p * (p + 1) // 2
    data[:, lo:lo + p] = np.inf
    data[:, lo + p:lo + 2 * p] = -np.inf
    np.minimum.at(data[:, lo:lo + p], group, cells.low)
    np.maximum.at(data[:, lo + p:lo + 2 * p], group, cells.high)
    masks = np.zeros((k, p), bool)
    masks[group] = cells.masks
    merged = Cells(layout, masks, data, np.zeros(k, np.int64))
    cross = merged.cross()
    patterns, n_empty = [], 0
    for g in range(k):
        mask = masks[g]
        if not mask.any():
            n_empty += int(data[g, 0])
            continue
        obs = np.flatnonzero(mask)
        patterns.append(PatternStats(tuple(bool(m) for m in mask), int(data[g, 0]), merged.sums[g, obs],
                                     cross[g][np.ix_(obs, obs)], merged.low[g, obs], merged.high[g, obs]))
    return SufficientStats(layout.items, tuple(sorted(patterns, key=lambda s: s.code)), n_empty)


def answered(cells: Cells, items) -> int:
    """Responses behind cells with an answer to at least one of ``items``."""
    idx = [cells.layout.items.index(i) for i in items]
    return int(cells.n[cells.masks[:, idx].any(axis=1)].sum())


def segment_key(segment: tuple | None) -> str:
    """The stored segment of a report filter (code, value)."""
    return ALL if not segment else f"{segment[0]}={segment[1]}"


# --- figures from the cells ---------------------------------------------------------------------------------

def totals(cells: Cells) -> tuple[dict, dict]:
    """({figure: count}, {figure: sum}) of the derived figures over cells."""
    names = cells.layout.derived
    return (dict(zip(names, cells.derived_counts.sum(axis=0).tolist())),
            dict(zip(names, cells.derived_sums.sum(axis=0).tolist())))


def satisfaction_levels(cells: Cells) -> dict:
    """As figures.satisfaction_levels on the rows behind the cells."""
    counts, sums = totals(cells)
    n = int(round(counts["level:short"]))
    out = {"n": n}
    for name in rs.LEVELS:
        count = int(round(sums[f"level:{name}"]))
        out[name] = {"count": count, "share": count / n if n else None}
    return out


def complaints(cells: Cells) -> dict:
    """As figures.complaints on the rows behind the cells."""
    layout = cells.layout
    if "complained" not in layout.derived:
        return {"n": 0, "count": 0, "rate": None, "n_dissatisfied": 0, "rate_dissatisfied": None,
                "handling": None, "causes": []}
    counts, sums = totals(cells)
    n, count = int(round(counts["complained"])), int(round(sums["complained"]))
    n_short = int(round(counts["complained:short"]))
    out = {"n": n, "count": count, "rate": count / n if n else None, "n_dissatisfied": n_short,
           "rate_dissatisfied": sums["complained:short"] / n_short if n_short else None, "handling": None}
    if "handling" in layout.derived and counts["handling"]:
        k = counts["handling"]
        out["handling"] = {"n": int(round(k)), "score": float(to_index(sums["handling"] / k, layout.scale)),
                           "share_well": sums["handling:well"] / k}
    causes = [(c, int(round(sums[f"cause:{c}"]))) for c in layout.causes]
    out["causes"] = [{"cause": c, "count": k, "share": k / count if count else None}
                     for c, k in sorted(causes, key=lambda kv: (-kv[1], kv[0])) if k]
    return out


def intent(cells: Cells) -> list[dict]:
    """As figures.intent on the rows behind the cells."""
    layout = cells.layout
    counts, sums = totals(cells)
    out = []
    for item in layout.cl:
        j = layout.items.index(item)
        n = float(cells.n[cells.masks[:, j]].sum())
        total = float(cells.sums[:, j].sum())  # zero where unanswered
        out.append({"item": item, "n": int(n),
                    "score": float(to_index(total / n, layout.scale)) if n else None,
                    "share_likely": sums[f"likely:{item}"] / counts[f"likely:{item}"] if n else None})
    return out


def score_summary(cells: Cells, items, weights) -> tuple[int, float | None, list | None]:
    """(n, mean, 95% CI) of the respondents' 0-100 scores Σ w·x / Σ w over their answered ``items`` (as
    model.respondent_scores and model.scores.mean_ci on the rows): per pattern the score is linear in the
    answers, c·x + b, so its sum and sum of squares follow from the pattern's sums and cross-products."""
    from model.stats import Z975

    layout = cells.layout
    idx = np.array([layout.items.index(i) for i in items])
    w = np.asarray(weights, dtype=float)
    lo, hi = layout.scale
    weight = cells.masks[:, idx] * w  # cells x items: the weights of the answered items
    total = weight.sum(axis=1)
    use = total > 0
    if not use.any():
        return 0, None, None
    cells = cells.where(use)
    c = 100 * weight[use] / total[use, None] / (hi - lo)
    b = -100 * lo / (hi - lo)
    n_cell = cells.n
    linear = (c * cells.sums[:, idx]).sum(axis=1)
    quadratic = np.einsum("ki,kij,kj->k", c, cells.cross(idx), c)
    n = float(n_cell.sum())
    s1 = float((linear + b * n_cell).sum())
    s2 = float((quadratic + 2 * b * linear + b * b * n_cell).sum())
    mean = s1 / n
    if n < 2:
        return int(n), float(mean), None
    var = max(s2 - n * mean * mean, 0.0) / (n - 1)
    half = float(Z975 * np.sqrt(var) / np.sqrt(n))
    return int(n), float(mean), [mean - half, mean + half]


__all__ = ["ALL", "Cells", "Layout", "answered", "basis_of", "cells_of", "complaints", "derived_columns", "intent", "layout_for",
           "load_all", "merge", "to_stats", "satisfaction_levels", "score_summary", "segment_key", "totals", "update"]
