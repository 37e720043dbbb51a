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
from survey.services.reading import coded_frame
from survey.storage.db import write_transaction
from survey.storage.tables import SCALE, MomentsState, Response, ResponseMoments, Survey, utcnow

BLOCK = 200_000      # responses read at once while (re)building: bounds a worker's memory
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

    def parts(self, vector: np.ndarray):
        """(n, sums, cross (p x p), minima, maxima, derived counts, derived sums) of one cell vector."""
        p, d = self.p, len(self.derived)
        at = np.cumsum([1, p, p * (p + 1) // 2, p, p, d])
        n, sums, upper, low, high, counts, totals = np.split(vector, at)
        cross = np.zeros((p, p))
        cross[np.triu_indices(p)] = upper
        cross = cross + np.triu(cross, 1).T
        return float(n[0]), sums, cross, low, high, counts, totals


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
            chosen = frame["complaint_cause"].map(rs.split_choices)
            for cause in layout.causes:
                cols[f"cause:{cause}"] = chosen.map(lambda picked, c=cause: float(c in picked)).where(flag == 1.0)
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
    stored = {}
    keys = list(cells)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for row_id, wave_id, segment, pattern, data in session.execute(
            sa.select(t.id, t.wave_id, t.segment, t.pattern, t.data).where(
                t.survey_id == survey_id, t.basis == basis,
                sa.tuple_(t.wave_id, t.segment, t.pattern).in_(chunk))):
            stored[(wave_id, segment, pattern)] = (row_id, np.frombuffer(data, dtype=np.float64))
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


def load(session, survey_id: int, basis: str, layout: Layout, segment: str = ALL) -> dict[int, list]:
    """{wave_id: [(pattern mask, vector), ...]} of one segment's stored cells."""
    t = ResponseMoments
    out: dict[int, list] = {}
    for wave_id, pattern, data in session.execute(
            sa.select(t.wave_id, t.pattern, t.data).where(t.survey_id == survey_id, t.basis == basis,
                                                           t.segment == segment)):
        mask = np.frombuffer(pattern.encode(), dtype=np.uint8) == ord("1")
        out.setdefault(wave_id, []).append((mask, np.frombuffer(data, dtype=np.float64)))
    return out


def load_all(session, survey_id: int, basis: str) -> tuple[dict, dict]:
    """The stored cells of every response ({wave_id: cells}) and of every segment
    ({question code: {option: {wave_id: cells}}}); a cell is (pattern mask, vector)."""
    t = ResponseMoments
    every: dict[int, list] = {}
    segments: dict[str, dict] = {}
    for wave_id, segment, pattern, data in session.execute(
            sa.select(t.wave_id, t.segment, t.pattern, t.data).where(t.survey_id == survey_id, t.basis == basis)):
        cell = (np.frombuffer(pattern.encode(), dtype=np.uint8) == ord("1"), np.frombuffer(data, dtype=np.float64))
        if segment == ALL:
            every.setdefault(wave_id, []).append(cell)
        else:
            code, _, value = segment.partition("=")
            segments.setdefault(code, {}).setdefault(value, {}).setdefault(wave_id, []).append(cell)
    return every, segments


def to_stats(layout: Layout, cells):
    """model.SufficientStats of the responses behind cells (the scale items of the layout)."""
    from model.moments import PatternStats, SufficientStats

    by_mask: dict[tuple, PatternStats] = {}
    n_empty = 0
    for mask, vector in cells:
        n, sums, cross, low, high, _k, _t = layout.parts(vector)
        if not mask.any():
            n_empty += int(n)
            continue
        obs = np.flatnonzero(mask)
        part = PatternStats(tuple(bool(m) for m in mask), int(n), sums[obs], cross[np.ix_(obs, obs)],
                            low[obs], high[obs])
        key = part.mask
        by_mask[key] = by_mask[key] + part if key in by_mask else part
    return SufficientStats(layout.items, tuple(sorted(by_mask.values(), key=lambda s: s.code)), n_empty)


def answered(layout: Layout, cells, items) -> int:
    """Responses behind cells with an answer to at least one of ``items``."""
    idx = [layout.items.index(i) for i in items]
    return int(sum(vector[0] for mask, vector in cells if mask[idx].any()))


def segment_key(segment: tuple | None) -> str:
    """The stored segment of a report filter (code, value)."""
    return ALL if not segment else f"{segment[0]}={segment[1]}"


# --- figures from the cells ---------------------------------------------------------------------------------

def totals(layout: Layout, cells) -> tuple[dict, dict]:
    """({figure: count}, {figure: sum}) of the derived figures over cells."""
    d = len(layout.derived)
    counts, sums = np.zeros(d), np.zeros(d)
    for _mask, vector in cells:
        _n, _s, _c, _lo, _hi, k, t = layout.parts(vector)
        counts += k
        sums += t
    return dict(zip(layout.derived, counts.tolist())), dict(zip(layout.derived, sums.tolist()))


def satisfaction_levels(layout: Layout, cells) -> dict:
    """As figures.satisfaction_levels on the rows behind the cells."""
    counts, sums = totals(layout, cells)
    n = int(round(counts["level:short"]))
    out = {"n": n}
    for name in rs.LEVELS:
        count = int(round(sums[f"level:{name}"]))
        out[name] = {"count": count, "share": count / n if n else None}
    return out


def complaints(layout: Layout, cells) -> dict:
    """As figures.complaints on the rows behind the cells."""
    if "complained" not in layout.derived:
        return {"n": 0, "count": 0, "rate": None, "n_dissatisfied": 0, "rate_dissatisfied": None,
                "handling": None, "causes": []}
    counts, sums = totals(layout, cells)
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


def intent(layout: Layout, cells) -> list[dict]:
    """As figures.intent on the rows behind the cells."""
    counts, sums = totals(layout, cells)
    out = []
    for item in layout.cl:
        j = layout.items.index(item)
        n, total = 0.0, 0.0
        for mask, vector in cells:
            if mask[j]:
                cell_n, cell_sums, *_ = layout.parts(vector)
                n += cell_n
                total += cell_sums[j]
        out.append({"item": item, "n": int(n),
                    "score": float(to_index(total / n, layout.scale)) if n else None,
                    "share_likely": sums[f"likely:{item}"] / counts[f"likely:{item}"] if n else None})
    return out


def score_summary(layout: Layout, cells, items, weights) -> tuple[int, float | None, list | None]:
    """(n, mean, 95% CI) of the respondents' 0-100 scores Σ w·x / Σ w over their answered ``items`` (as
    model.respondent_scores and model.scores.mean_ci on the rows): per pattern the score is linear in the
    answers, so its sum and sum of squares follow from the pattern's sums and cross-products."""
    from model.stats import Z975

    idx = np.array([layout.items.index(i) for i in items])
    w = np.asarray(weights, dtype=float)
    n = s1 = s2 = 0.0
    lo, hi = layout.scale
    for mask, vector in cells:
        use = mask[idx]
        if not use.any() or w[use].sum() == 0:
            continue
        cell_n, sums, cross, *_ = layout.parts(vector)
        a = np.zeros(layout.p)
        a[idx[use]] = w[use] / w[use].sum()
        # score = 100 (a·x - lo) / (hi - lo) = c·x + b
        c, b = 100 * a / (hi - lo), -100 * lo / (hi - lo)
        n += cell_n
        s1 += c @ sums + b * cell_n
        s2 += c @ cross @ c + 2 * b * (c @ sums) + b * b * cell_n
    if n == 0:
        return 0, None, None
    mean = s1 / n
    if n < 2:
        return int(n), float(mean), None
    var = max(s2 - n * mean * mean, 0.0) / (n - 1)
    half = float(Z975 * np.sqrt(var) / np.sqrt(n))
    return int(n), float(mean), [mean - half, mean + half]


__all__ = ["ALL", "Layout", "answered", "basis_of", "cells_of", "complaints", "derived_columns", "intent", "layout_for",
           "load", "load_all", "merge", "to_stats", "satisfaction_levels", "score_summary", "segment_key", "totals", "update"]
