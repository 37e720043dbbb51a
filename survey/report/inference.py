"""The report's second pass: what takes longer than the point estimates and is added to the entry afterwards.

- **Intervals**: the survey's estimator refitted with ``bootstrap=B`` draws (seeded by the data version, so the
  same data give the same intervals on any worker); the entry's ``result_obj`` is then that bootstrapped result
  and keeps its ``bootstrap_draws`` (other report sections read the draws from there).
- **Second opinion**: the other estimator (PLS beside robust ML, or robust ML beside PLS), and where the two
  disagree on the top lever or on a path's sign.
- **Fair comparisons**: measurement invariance across waves and across each segment question's groups
  (``model.groups``); a group index with its interval is shown only where (partial) scalar invariance holds.

Runs without a request (in a job): plain frames and the questionnaire description in, a new frozen entry out.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import partial

import pandas as pd

import model
from model import ModelError
from model.exceptions import silenced

from survey.report import figures as rs
from survey.report.compute import ReportEntry, freeze, response_quality_figures, segment_questions, spec_for

LEVERS = ("PQ", "PV")  # what a company can act on (issue 10): perceived quality and value, not expectations
OTHER = {"mlr": "pls", "pls": "mlr"}
SIGN_TOLERANCE = 1e-9  # |std path| at or below this has no sign to disagree on


def seed_for(survey_id: int, key: str, count: int) -> int:
    """The bootstrap seed of one survey view at one data version (the same data give the same draws)."""
    digest = hashlib.sha256(f"{survey_id}/{key}/{count}".encode()).hexdigest()
    return int(digest[:15], 16)


def _fit(frame: pd.DataFrame, spec, scale, estimator: str, **options):
    with silenced():
        return model.fit(frame, spec=spec, scale=scale, estimator=estimator, **options)


def top_lever(result: dict) -> dict | None:
    """The first lever of a result: its ``improve_first`` list when it has one, else the item of a lever
    construct (perceived quality or value) with the best priority."""
    listed = result.get("improve_first")
    if listed:
        return {"item": listed[0]["item"], "construct": listed[0]["construct"]}
    rows = [r for r in result.get("ipma_items", []) if r.get("construct") in LEVERS and r.get("priority") is not None]
    if not rows:
        return None
    best = min(rows, key=lambda r: r["priority"])
    return {"item": best["item"], "construct": best["construct"]}


def _sign(value) -> int:
    if value is None or value != value or abs(value) <= SIGN_TOLERANCE:
        return 0
    return 1 if value > 0 else -1


def second_opinion(primary: dict, other: dict) -> dict:
    """Compare two fits of the same data: CS index, top lever and every path's standardized coefficient."""
    others = {(p["from"], p["to"]): p for p in other["paths"]}
    paths = []
    for p in primary["paths"]:
        q = others.get((p["from"], p["to"]), {})
        a, b = p.get("std_estimate"), q.get("std_estimate")
        paths.append({"from": p["from"], "to": p["to"], "estimate": a, "other": b,
                      "sign_differs": _sign(a) * _sign(b) < 0})
    mine, theirs = top_lever(primary), top_lever(other)
    top_differs = mine is not None and theirs is not None and mine["item"] != theirs["item"]
    flips = [p for p in paths if p["sign_differs"]]
    return {"estimator": other["estimator"], "primary": primary["estimator"],
            "index": other["constructs"]["CS"]["index"], "primary_index": primary["constructs"]["CS"]["index"],
            "top_lever": mine, "other_top_lever": theirs, "top_differs": top_differs,
            "paths": paths, "sign_flips": [f"{p['from']}->{p['to']}" for p in flips],
            "agree": not top_differs and not flips}


def fair_comparison(frame: pd.DataFrame, column: str, spec, scale, min_n: int) -> dict:
    """Measurement invariance of ``column``'s groups and, where it holds, each group's CS index with its CI.

    Groups with fewer than ``min_n`` complete responses (and never fewer than the model needs) are left out
    and named in ``small``; with fewer than two groups left the comparison is ``too_few``.
    """
    need = max(int(min_n), model.min_responses(spec))
    labels = frame[column].astype("string").str.strip()
    labels = labels.mask(labels == "")
    complete = frame[list(spec.observed)].notna().all(axis=1)
    counts = labels[complete].value_counts()
    kept = sorted(str(v) for v, n in counts.items() if n >= need)
    small = sorted(str(v) for v in labels.dropna().unique() if str(v) not in kept)
    out = {"column": column, "min_n": need, "small": small, "groups": [], "level": None, "comparable": False,
           "partial": False, "differing_items": [], "status": "too_few", "error": None}
    if len(kept) < 2:
        return out
    part = frame.loc[labels.isin(kept), list(spec.observed)].copy()
    part["_group"] = labels[labels.isin(kept)].astype(str)
    try:
        fitted = _fit(part, spec, scale, "ml", group="_group")
    except ModelError as err:
        return {**out, "status": "failed", "error": str(err)}
    inv = fitted.invariance
    partial = inv.get("partial_scalar") or {}
    out.update(status="compared", level=inv["level"], comparable=bool(inv["comparable"]),
               partial=bool(inv["comparable"] and inv["level"] == "metric" and partial.get("holds")),
               differing_items=list(inv["differing_items"]))
    for value, g in fitted.groups.items():
        cs = g["constructs"]["CS"]
        row = {"value": value, "n": g["n"], "index": None, "ci": None}
        if out["comparable"]:
            row.update(index=cs["index_invariant"], ci=list(cs["index_invariant_ci"]))
        out["groups"].append(row)
    return out


def comparisons(frame: pd.DataFrame, view: pd.DataFrame, info: dict, spec, scale, segment, min_n: int) -> dict:
    """Fair comparisons of the waves (all waves of the frame) and of each segment question's groups (the view)."""
    out = {"waves": None, "segments": {}}
    if frame["wave"].nunique() > 1:
        out["waves"] = fair_comparison(frame, "wave", spec, scale, min_n)
    for q in segment_questions(info):
        if q["code"] in view and (segment is None or segment[0] != q["code"]):
            out["segments"][q["code"]] = fair_comparison(view, q["code"], spec, scale, min_n)
    return out


def second_pass(entry: ReportEntry, frame: pd.DataFrame, info: dict, *, draws: int, seed: int,
                workers: int | None = None, compare: bool = True, min_n: int = 30, progress=None) -> ReportEntry:
    """The entry with the second opinion, the fair comparisons and (``draws`` > 0) bootstrap intervals.

    ``frame`` holds every wave of the view's segment, as for ``compute_report``; ``progress(done, total)`` is
    called as bootstrap draws finish.
    """
    if entry.result_obj is None:
        return replace(entry, phase="full")
    spec, scale = spec_for(info), tuple(info["scale"])
    view = frame[frame["wave"] == entry.wave] if entry.wave is not None else frame
    primary = entry.result_obj
    extra = {}
    if entry.source == "moments":  # point estimates came from the stored moments: what needs the rows is done here
        estimator = info.get("estimator") or primary.estimator
        if primary.estimator != estimator:  # MLR: the same estimates as the ML stand-in, now with robust SEs
            primary = _fit(view, spec, scale, estimator)
        score = partial(model.respondent_scores, result=primary)
        extra["response_quality"] = freeze(response_quality_figures(view, score, bool(info.get("exclude_flagged"))))
        if entry.segment is not None:  # the other segment questions within this segment: cells are not crossed
            cs = score(view)["CS"]
            extra["segments"] = freeze({q["code"]: rs.segment_scores(cs, view[q["code"]], min_n)
                                        for q in segment_questions(info)
                                        if q["code"] in view and q["code"] != entry.segment[0]})
    opinion = None
    try:
        other = _fit(view, spec, scale, OTHER.get(primary.estimator, "pls"))
        opinion = second_opinion(entry.result, other.to_dict())
    except ModelError as err:
        opinion = {"estimator": OTHER.get(primary.estimator, "pls"), "error": str(err)}
    fair = comparisons(frame, view, info, spec, scale, entry.segment, min_n) if compare else None
    result = primary
    if draws > 0:
        result = _fit(view, spec, scale, primary.estimator, bootstrap=int(draws), seed=int(seed), workers=workers,
                      progress=progress)
    return replace(entry, result=freeze(result.to_dict()), result_obj=result, second_opinion=freeze(opinion),
                   comparisons=freeze(fair), phase="full", **extra)


__all__ = ["LEVERS", "comparisons", "fair_comparison", "second_opinion", "second_pass", "seed_for", "top_lever"]
