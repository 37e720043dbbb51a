"""The report computation: a responses frame → model fit → every figure the report shows (plain data).

Runs without a request (in the cache's background thread): it reads nothing from Flask or the ORM session,
only the frame and the questionnaire description that ``survey_info`` makes.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

import model
from model import CSISpec, ModelError
from model.exceptions import silenced
from model.scores import mean_ci, to_index

from survey.exceptions import BadFilter
from survey.report import figures as rs
from survey.services import quality
from survey.services.reading import responses_frame
from survey.storage.tables import ESTIMATOR_MLR, SCALE, Survey

DEFAULT_ESTIMATOR = ESTIMATOR_MLR  # robust ML: the report's default for survey data (ceiling-heavy answers)

def freeze(value):
    """A read-only deep copy of JSON-like data: dicts become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """A plain, JSON-serialisable copy of frozen data."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class ReportEntry(Mapping):
    """One computed survey view, read by any number of request threads at once and never changed.

    The figures are plain, read-only data (``freeze``); ``result_obj`` is the frozen CSIResult behind
    ``result``. Read it as attributes or as a mapping (templates and the presenter use ``entry["waves"]``).
    A newer data version is a new entry (``dataclasses.replace``), never an edit of this one.
    """

    state: str
    n: int
    n_all_waves: int
    wave: int | None
    segment: tuple | None
    scale: tuple
    computed_at: str
    seconds: float = 0.0
    result: Mapping | None = None
    result_obj: Any = None
    descriptive: Mapping | None = None
    error: str | None = None
    min_responses: int | None = None
    needed: int = 0
    complete: int | None = None
    waves: tuple = ()
    change: Mapping | None = None
    levels: Mapping | None = None
    complaints: Mapping | None = None
    intent: Mapping | None = None
    segments: Mapping = field(default_factory=lambda: MappingProxyType({}))
    comments: Mapping | None = None
    response_quality: Mapping | None = None
    version: Any = None
    model: str = "acsi"  # the survey's model variant (model.spec.VARIANTS), known before any fit
    # "point": the second pass (bootstrap intervals, second opinion, comparisons; survey.report.inference) is
    # still to come; "full": it is done, or there is nothing to add (no fit)
    phase: str = "point"
    second_opinion: Mapping | None = None
    comparisons: Mapping | None = None
    # "rows": computed from the responses; "moments": point estimates from the in-database sufficient statistics
    # (survey.report.moments), with ML standing in for MLR (same estimates) until the second pass reads the rows
    source: str = "rows"

    @classmethod
    def build(cls, figures: dict) -> "ReportEntry":
        """Freeze a dict of computed figures (the CSIResult itself is already frozen)."""
        return cls(**{k: v if k in ("result_obj", "version", "phase", "source") else freeze(v)
                      for k, v in figures.items()})

    def with_version(self, version) -> "ReportEntry":
        """The same figures, known to be current at ``version``."""
        return replace(self, version=version)

    def __getitem__(self, key):
        if key not in _ENTRY_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(_ENTRY_FIELDS)

    def __len__(self):
        return len(_ENTRY_FIELDS)

    __eq__ = object.__eq__  # identity, as eq=False intends (Mapping would compare contents)
    __hash__ = object.__hash__


_ENTRY_FIELDS = tuple(f.name for f in fields(ReportEntry))

SEGMENT_SECTION = "about"
MIN_SEGMENT_N = 30
COMMENTS_PER_BAND = 100
COMMENTS_WINDOW = 1000  # from moments: each band's comments are looked for among this many newest ones



def survey_info(survey: Survey) -> dict:
    """Plain description of the questionnaire a background thread can use without the ORM session."""
    questions = [{"code": q.code, "construct": q.construct, "kind": q.kind, "section": q.section,
                  "text_en": q.text_en, "text_zh": q.text_zh, "options": q.options or []}
                 for q in survey.active_questions]
    return {"id": survey.id, "slug": survey.slug, "scale": (survey.scale_min, survey.scale_max),
            "model": survey.model,
            "questions": questions, "waves": [w.number for w in survey.waves],
            "wave_labels": {w.number: w.label for w in survey.waves if w.label},
            "estimator": survey.estimator or DEFAULT_ESTIMATOR, "exclude_flagged": bool(survey.exclude_flagged)}


def spec_for(info: dict) -> CSISpec | None:
    """The spec of the survey's model variant from its construct items, or None when a construct has no item."""
    variant = info.get("model", model.DEFAULT_MODEL)
    items = {code: [q["code"] for q in info["questions"] if q["construct"] == code and q["kind"] == SCALE]
             for code in model.VARIANTS[variant][0]}
    if not all(items.values()):
        return None
    return CSISpec.from_mapping(items, variant)


def segment_questions(info: dict) -> list[dict]:
    """Choice questions that split respondents into groups (the questionnaire's 'about you' section)."""
    return [q for q in info["questions"]
            if q["kind"] in ("choice", "yesno") and q["section"] == SEGMENT_SECTION and q["options"]]


ALL_WAVES = "all"


def parse_filters(survey: Survey, wave: str | None, segment: str | None) -> tuple[int | None, tuple | None]:
    """Turn ?wave=<number> and ?segment=<code>:<value> into checked filter values.

    No wave means the latest one, so "now" is one number on the page; ?wave=all (``ALL_WAVES``) pools
    every wave (returned as None).

    :raise BadFilter: the wave or the segment does not exist in this survey.
    """
    numbers = [w.number for w in survey.waves]
    wave_number = max(numbers) if numbers and wave in (None, "") else None
    if wave not in (None, "", ALL_WAVES):
        try:
            wave_number = int(wave)
        except ValueError:
            raise BadFilter("bad_wave", wave) from None
        if wave_number not in numbers:
            raise BadFilter("bad_wave", wave)
    seg = None
    if segment:
        code, _, value = segment.partition(":")
        question = next((q for q in survey.active_questions if q.code == code), None)
        if question is None or not value or value not in question.option_values:
            raise BadFilter("bad_segment", segment)
        seg = (code, value)
    return wave_number, seg


def _fit_quietly(frame: pd.DataFrame, spec: CSISpec, scale, estimator: str = DEFAULT_ESTIMATOR):
    """Fit the model; engine warnings are already in result.warnings, so they are not issued again (in this
    thread only: the process's warnings filters are left alone while other threads fit)."""
    with silenced():
        return model.fit(frame, spec=spec, scale=scale, estimator=estimator)


def equal_weight_scores(frame: pd.DataFrame, spec: CSISpec, scale) -> pd.DataFrame:
    """0–100 construct scores per respondent with equal item weights (used before a model can be fitted)."""
    out = {}
    for code in spec.constructs:
        values = frame[list(spec.items[code])].astype(float)
        out[code] = to_index(values.mean(axis=1, skipna=True), scale)
    return pd.DataFrame(out, index=frame.index)


def wave_scores(scores: pd.DataFrame, waves: pd.Series) -> list[dict]:
    """Mean construct scores with 95% CIs per wave number, in wave order."""
    out = []
    for number, part in scores.groupby(waves.to_numpy(), sort=True):
        out.append({"wave": int(number), "n": int(len(part)),
                    "scores": {code: dict(zip(("n", "mean", "ci"), mean_ci(part[code]))) for code in scores.columns}})
    return out


def fitted_wave_scores(frame: pd.DataFrame, result) -> list[dict]:
    """Construct indices with 95% CIs per wave number on the fit's yardstick (its weights, its way of
    estimating item means), in wave order: the fitted wave's row is the fit's own index."""
    out = []
    for number, part in frame.groupby(frame["wave"].to_numpy(), sort=True):
        indices = model.subset_indices(part, result)
        answered = {code: int(part[list(result.spec.items[code])].notna().any(axis=1).sum())
                    for code in result.spec.constructs}
        out.append({"wave": int(number), "n": int(len(part)),
                    "scores": {code: {"n": answered[code], "mean": float(c["index"]),
                                      "ci": [float(v) for v in c["index_ci"]]}
                               for code, c in indices.items()}})
    return out


def compute_report(frame: pd.DataFrame, info: dict, *, wave: int | None = None,
                   segment: tuple | None = None) -> ReportEntry:
    """Compute everything the report shows from the responses frame of all waves (already segment-filtered).

    The fit uses the selected wave (or all); trend and wave change apply that fit's weights to every wave,
    so waves are compared on one yardstick. When the survey excludes flagged responses (info
    "exclude_flagged"), every figure is computed as if those rows were not there.
    """
    started = time.perf_counter()
    scale = tuple(info["scale"])
    spec = spec_for(info)
    flagged_view = frame[frame["wave"] == wave] if wave is not None else frame
    if info.get("exclude_flagged"):
        frame = frame[~quality.flagged(frame)]
    view = frame[frame["wave"] == wave] if wave is not None else frame
    entry = {"n": int(len(view)), "n_all_waves": int(len(frame)), "wave": wave, "segment": segment,
             "scale": list(scale), "result": None, "result_obj": None, "descriptive": None,
             "error": None, "min_responses": None, "needed": 0, "state": "empty",
             "model": info.get("model", model.DEFAULT_MODEL),
             "computed_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
    if spec is None:
        entry.update(state="fit_failed", error="every construct needs at least one scale item", phase="full")
        return _finish(entry, started)
    entry["min_responses"] = need = model.min_responses(spec)
    if len(view) == 0:
        entry["phase"] = "full"
        return _finish(entry, started)
    # The engine uses full-information ML: every row with at least one rated answer counts.
    complete = int(view[list(spec.observed)].notna().any(axis=1).sum())
    result = None
    if complete >= need:
        try:
            result = _fit_quietly(view, spec, scale, info.get("estimator", DEFAULT_ESTIMATOR))
        except ModelError as err:
            entry.update(state="fit_failed", error=str(err))
    else:
        entry.update(state="too_few", needed=need - complete, complete=complete)
    if result is not None:
        entry.update(state="fitted", result=result.to_dict(), result_obj=result)
        yardstick = partial(model.respondent_scores, result=result)
        entry["waves"] = fitted_wave_scores(frame, result)
    else:
        entry["phase"] = "full"  # nothing for a second pass to add
        entry["descriptive"] = model.descriptive_scores(view, spec, scale)
        yardstick = partial(equal_weight_scores, spec=spec, scale=scale)
    scores_all = yardstick(frame)
    if result is None:
        entry["waves"] = wave_scores(scores_all, frame["wave"])
    scores_view = scores_all.loc[view.index]
    entry["change"] = _change(entry["waves"], wave)
    levels = rs.satisfaction_level_per_row(view, spec.items["CE"], spec.items["PQ"])
    entry["levels"] = rs.satisfaction_levels(levels)
    entry["complaints"] = rs.complaints(view, levels, scale)
    entry["intent"] = rs.intent(view, spec.items["CL"], scale)
    entry["segments"] = {}
    for q in segment_questions(info):
        if q["code"] in view and (segment is None or segment[0] != q["code"]):
            entry["segments"][q["code"]] = rs.segment_scores(scores_view["CS"], view[q["code"]], MIN_SEGMENT_N)
    entry["comments"] = rs.comments_by_band(view, scores_view["CS"], COMMENTS_PER_BAND)
    entry["response_quality"] = response_quality_figures(flagged_view, yardstick, bool(info.get("exclude_flagged")))
    return _finish(entry, started)


def compute_from_moments(every, segments: dict, info: dict, *, wave: int | None, wave_ids: dict,
                         segment: tuple | None = None, comments: pd.DataFrame | None = None,
                         start=None) -> ReportEntry:
    """A survey view from its stored cells (survey.report.moments) instead of its rows.

    ``every``: the Cells of every response; ``segments``: {question code: {option: Cells}}; ``wave_ids``: {wave
    number: wave id}. The fit, indices, trend, levels, complaints, intent and segment scores equal
    ``compute_report``'s on the rows behind the cells. MLR is fitted as ML (the same point estimates; its
    robust SEs need the rows, which the second pass reads, as it does for response quality and, in a segment's
    view, the other segment questions' scores: cells are not crossed by two segments). The comments come from
    ``comments``, the newest commented responses. ``start``: the view's last result, a warm start for the fit
    (the same optimum: model.fit_stats)."""
    from survey.report import moments

    started = time.perf_counter()
    scale = tuple(info["scale"])
    spec = spec_for(info)
    layout = every.layout
    cells = every
    if segment is not None:
        cells = segments.get(segment[0], {}).get(segment[1]) or moments.Cells.empty(layout)
    wave_id = None if wave is None else wave_ids.get(wave, -1)
    view = cells.of_wave(wave_id)
    entry = {"n": view.count, "n_all_waves": cells.count, "wave": wave, "segment": segment,
             "scale": list(scale), "result": None, "result_obj": None, "descriptive": None, "error": None,
             "min_responses": model.min_responses(spec), "needed": 0, "state": "fitted", "source": "moments",
             "model": info.get("model", model.DEFAULT_MODEL),
             "computed_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
    estimator = "pls" if info.get("estimator") == "pls" else "ml"
    result = _fit_stats_quietly(moments.to_stats(view), spec, scale, estimator, start)
    entry.update(result=result.to_dict(), result_obj=result)
    waves = []
    for number in sorted(wave_ids):
        part = cells.of_wave(wave_ids[number])
        if not part.count:
            continue
        indices = result.constructs if part.count == view.count and wave == number else \
            model.subset_indices(moments.to_stats(part), result)  # the fitted wave's row is the fit's own index
        answered = {code: moments.answered(part, spec.items[code]) for code in spec.constructs}
        waves.append({"wave": int(number), "n": part.count,
                      "scores": {code: {"n": answered[code], "mean": float(indices[code]["index"]),
                                        "ci": [float(v) for v in indices[code]["index_ci"]]}
                                 for code in spec.constructs}})
    entry["waves"] = waves
    entry["change"] = _change(waves, wave)
    entry["levels"] = moments.satisfaction_levels(view)
    entry["complaints"] = moments.complaints(view)
    entry["intent"] = moments.intent(view)
    cs_items = list(spec.items["CS"])
    cs_weights = [result.weights["CS"][item] for item in cs_items]
    entry["segments"] = {}
    for code, _options in layout.segments if segment is None else ():  # within a segment: the second pass
        rows = []
        for value, part in sorted(segments.get(code, {}).items()):
            part = part.of_wave(wave_id)
            if not len(part.n):
                continue
            n, mean, ci = moments.score_summary(part, cs_items, cs_weights)
            suppressed = n < MIN_SEGMENT_N
            rows.append({"value": value, "n": n, "mean": None if suppressed else mean,
                         "ci": None if suppressed else ci, "suppressed": suppressed})
        entry["segments"][code] = rows
    if comments is not None:
        shown = comments[comments["wave"] == wave] if wave is not None else comments
        if segment is not None:
            shown = shown[shown[segment[0]] == segment[1]]
        entry["comments"] = rs.comments_by_band(shown, model.respondent_scores(shown, result)["CS"],
                                                COMMENTS_PER_BAND)
    entry["response_quality"] = None
    return _finish(entry, started)


def _fit_stats_quietly(stats, spec: CSISpec, scale, estimator: str, start=None):
    with silenced():
        return model.fit_stats(stats, spec=spec, scale=scale, estimator=estimator, start=start)


def response_quality_figures(view: pd.DataFrame, score, excluded: bool) -> dict:
    """The view's quality flags (services.quality) and its mean satisfaction score with and without the
    flagged responses, both on this report's yardstick (``score``: rows -> 0-100 construct scores with the
    fitted weights, or equal weights), so the difference is the rows', not the weights'. Cheap: no second fit
    (leaving the flagged rows out refits the whole report)."""
    out = {**quality.summary(view), "excluded": excluded}
    if not len(view):
        return out
    cs = score(view)["CS"]
    keep = ~quality.flagged(view)
    return {**out, "with_flagged": {"n": int(len(view)), "index": _mean(cs)},
            "without_flagged": {"n": int(keep.sum()), "index": _mean(cs[keep])}}


def _mean(values: pd.Series) -> float | None:
    value = values.mean()
    return None if pd.isna(value) else float(value)


def _finish(entry: dict, started: float) -> ReportEntry:
    entry["seconds"] = time.perf_counter() - started
    return ReportEntry.build(entry)


def _change(waves: list[dict], wave: int | None) -> dict | None:
    """CS change of the shown wave (or the newest one) against the wave before it, with its z test."""
    if len(waves) < 2:
        return None
    numbers = [w["wave"] for w in waves]
    pos = numbers.index(wave) if wave in numbers else len(waves) - 1
    if pos == 0:
        return None
    cur, prev = waves[pos]["scores"]["CS"], waves[pos - 1]["scores"]["CS"]
    test = rs.wave_change({"index": cur["mean"], "index_ci": cur["ci"]},
                          {"index": prev["mean"], "index_ci": prev["ci"]})
    if test is None:
        return None
    return {**test, "wave": numbers[pos], "previous": numbers[pos - 1]}


def respondent_rows(session, survey: Survey, entry: dict, wave=None, segment=None):
    """Yield one dict per respondent with 0–100 construct scores (fitted weights, or equal weights)."""
    info = survey_info(survey)
    frame = responses_frame(session, survey, wave, segment)
    spec = spec_for(info)
    if spec is None or frame.empty:
        return
    if entry.get("result_obj") is not None:
        scores = model.respondent_scores(frame, entry["result_obj"])
    else:
        scores = equal_weight_scores(frame, spec, tuple(info["scale"]))
    out = pd.concat([frame[["response_id", "wave", "created_at"]], scores.round(4)], axis=1)
    out = out.replace({np.nan: None})
    yield from out.to_dict("records")


def _interval_rows(section: str, name: str, stat: str, interval):
    """The low and high rows of an interval (the delta-method index CI always; bootstrap ones when present)."""
    if interval is None and stat != "index_ci":
        return
    lo, hi = interval or (None, None)
    yield {"section": section, "name": name, "statistic": f"{stat}_low", "value": lo}
    yield {"section": section, "name": name, "statistic": f"{stat}_high", "value": hi}


def estimate_rows(entry: dict):
    """Yield tidy (section, name, statistic, value) rows of every estimate and score in the entry."""
    result = entry.get("result")
    if result is None:
        desc = entry.get("descriptive") or {"constructs": {}}
        for code, c in desc["constructs"].items():
            yield {"section": "construct", "name": code, "statistic": "score", "value": c["score"]}
            for item, s in c["items"].items():
                yield {"section": "item", "name": item, "statistic": "score", "value": s["score"]}
        return
    for code, c in result["constructs"].items():
        for stat in ("index", "r2", "alpha", "cr", "ave"):
            yield {"section": "construct", "name": code, "statistic": stat, "value": c.get(stat)}
        yield from _interval_rows("construct", code, "index_ci", c.get("index_ci"))
        yield from _interval_rows("construct", code, "index_boot_ci", c.get("index_boot_ci"))
        for item, score in (c.get("item_scores") or {}).items():
            yield {"section": "item", "name": item, "statistic": "score", "value": score}
            yield {"section": "item", "name": item, "statistic": "weight", "value": c["weights"].get(item)}
    for p in result["paths"]:
        name = f"{p['from']}->{p['to']}"
        for stat in ("estimate", "std_estimate", "se", "z", "p_value"):
            yield {"section": "path", "name": name, "statistic": stat, "value": p.get(stat)}
        yield from _interval_rows("path", name, "std_boot_ci", p.get("std_boot_ci"))
    for e in result.get("effects", []):
        name = f"{e['from']}->{e['to']}"
        for stat in ("direct", "indirect", "total", "impact_5pt"):
            yield {"section": "effect", "name": name, "statistic": stat, "value": e.get(stat)}
        yield from _interval_rows("effect", name, "impact_5pt_ci", e.get("impact_5pt_ci"))
    for stat, value in result["fit"].items():
        if isinstance(value, (int, float)) or value is None:
            yield {"section": "fit", "name": stat, "statistic": "value", "value": value}
    for row in result.get("ipma_items", []):
        yield {"section": "ipma_item", "name": row["item"], "statistic": "priority", "value": row["priority"]}
    for row in result.get("improve_first", []):
        for stat in ("priority", "tier", "gain", "p_top"):
            yield {"section": "improve_first", "name": row["item"], "statistic": stat, "value": row.get(stat)}


__all__ = ["ALL_WAVES", "ReportEntry", "compute_report", "freeze", "thaw", "estimate_rows", "parse_filters", "respondent_rows", "segment_questions", "spec_for",
           "survey_info"]
