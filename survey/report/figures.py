"""Report figures computed straight from the responses frame (pandas in, plain dicts out).

The SEM numbers come from ``model``; these are the descriptive figures around them that quality managers
read next to the index: satisfaction levels, complaints, intent, wave change, segments and comments.

Satisfaction level (documented definition): for each respondent, the mean of their perceived-quality (PQ)
answers minus the mean of their expectation (CE) answers, on the item scale. A gap below ``-tolerance``
means performance *fell short* of expectations (dissatisfied), above ``+tolerance`` it *exceeded* them
(highly satisfied), otherwise it *matched* (satisfied). The default tolerance is half a scale point, so a
respondent needs at least one CE and one PQ answer and a gap of a whole point is never "matched".
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from model.scores import mean_ci, to_index
from model.stats import Z975

LEVELS = ("short", "matched", "exceeded")
YES = {"yes", "y", "true", "1", "是"}
NO = {"no", "n", "false", "0", "否"}
CAUSES = ("organisation", "effectiveness", "quality", "employee", "systems")
BANDS = {"low": (0.0, 60.0), "mid": (60.0, 80.0), "high": (80.0, 100.0 + 1e-9)}


def satisfaction_level_per_row(df: pd.DataFrame, ce_items, pq_items, tolerance=0.5) -> pd.Series:
    """'short' / 'matched' / 'exceeded' per respondent, NaN where CE or PQ is unanswered."""
    ce = df[list(ce_items)].mean(axis=1, skipna=True) if ce_items else pd.Series(np.nan, index=df.index)
    pq = df[list(pq_items)].mean(axis=1, skipna=True) if pq_items else pd.Series(np.nan, index=df.index)
    gap = pq - ce
    level = pd.Series(np.where(gap < -tolerance, "short", np.where(gap > tolerance, "exceeded", "matched")),
                      index=df.index, dtype=object)
    return level.where(gap.notna())


def satisfaction_levels(levels: pd.Series) -> dict:
    """Counts and shares of the three levels among respondents who have one."""
    known = levels.dropna()
    n = int(len(known))
    out = {"n": n}
    for name in LEVELS:
        count = int((known == name).sum())
        out[name] = {"count": count, "share": count / n if n else None}
    return out


def yes_no(series: pd.Series) -> pd.Series:
    """Map yes/no answers (strings, bools, 0/1) to 1.0 / 0.0, anything else to NaN.

    Looked up per distinct answer (there are a handful), so a million rows cost one hash pass.
    """
    def one(value):
        text = str(value).strip().lower()
        return 1.0 if text in YES else 0.0 if text in NO else np.nan

    known = series.dropna()
    mapping = {value: one(value) for value in pd.unique(known.to_numpy())}
    return series.map(mapping).astype(float)


def split_choices(value) -> list[str]:
    """A multi-choice answer as a list, whether stored as a list or as 'a;b' / 'a,b' / 'a|b' text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[;,|]", str(value)) if part.strip()]


def complaints(df: pd.DataFrame, levels: pd.Series | None = None, scale=(1, 10)) -> dict:
    """Complaint rate overall and among the dissatisfied, handling score (0–100) and causes."""
    if "complained" not in df:
        return {"n": 0, "count": 0, "rate": None, "n_dissatisfied": 0, "rate_dissatisfied": None,
                "handling": None, "causes": []}
    flag = yes_no(df["complained"])
    answered = flag.dropna()
    out = {"n": int(len(answered)), "count": int(answered.sum()),
           "rate": float(answered.mean()) if len(answered) else None}
    if levels is not None:
        among = flag[(levels == "short") & flag.notna()]
        out["n_dissatisfied"] = int(len(among))
        out["rate_dissatisfied"] = float(among.mean()) if len(among) else None
    else:
        out["n_dissatisfied"], out["rate_dissatisfied"] = 0, None
    complainers = df[flag == 1.0]
    handling = None
    if "complaint_handling" in df:
        h = pd.to_numeric(complainers["complaint_handling"], errors="coerce").dropna()
        if len(h):
            handling = {"n": int(len(h)), "score": float(to_index(h, scale).mean()),
                        "share_well": float((h >= scale[0] + 0.7 * (scale[1] - scale[0])).mean())}
    out["handling"] = handling
    counts: dict[str, int] = {}
    if "complaint_cause" in df:
        causes = complainers["complaint_cause"].dropna()
        is_text = causes.map(type) == str
        for value, k in causes[is_text].value_counts().items():  # few distinct combinations
            for cause in split_choices(value):
                counts[cause] = counts.get(cause, 0) + int(k)
        for value in causes[~is_text]:
            for cause in split_choices(value):
                counts[cause] = counts.get(cause, 0) + 1
    n_complainers = len(complainers)
    out["causes"] = [{"cause": c, "count": k, "share": k / n_complainers if n_complainers else None}
                     for c, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return out


def intent(df: pd.DataFrame, cl_items, scale=(1, 10)) -> list[dict]:
    """Per loyalty item: n, mean on 0–100 and the share 'likely' (top 30% of the scale, 8–10 on 1–10)."""
    cut = scale[0] + 0.7 * (scale[1] - scale[0])
    out = []
    for item in cl_items:
        values = pd.to_numeric(df[item], errors="coerce").dropna()
        out.append({"item": item, "n": int(len(values)),
                    "score": float(to_index(values, scale).mean()) if len(values) else None,
                    "share_likely": float((values >= cut).mean()) if len(values) else None})
    return out


def se_from_ci(ci) -> float | None:
    """Standard error implied by a symmetric 95% confidence interval."""
    if not ci or ci[0] is None or ci[1] is None:
        return None
    return (ci[1] - ci[0]) / (2 * Z975)


def wave_change(current: dict, previous: dict, alpha=0.05) -> dict | None:
    """Difference of two independent index means with a z test on the SEs taken from their 95% CIs.

    ``current`` / ``previous`` are ``{index, index_ci}``. Independence holds because a respondent
    answers once per wave.
    """
    if not current or not previous or current.get("index") is None or previous.get("index") is None:
        return None
    diff = current["index"] - previous["index"]
    se1, se2 = se_from_ci(current.get("index_ci")), se_from_ci(previous.get("index_ci"))
    if se1 is None or se2 is None:
        return {"diff": diff, "se": None, "z": None, "p_value": None, "significant": None}
    se = math.hypot(se1, se2)
    z = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    return {"diff": diff, "se": se, "z": z, "p_value": p, "significant": p < alpha}


def segment_scores(scores: pd.Series, groups: pd.Series, min_n=30) -> list[dict]:
    """Index per segment value with a 95% CI; groups smaller than ``min_n`` are suppressed (no numbers)."""
    frame = pd.DataFrame({"score": pd.to_numeric(scores, errors="coerce"), "group": groups}).dropna(subset=["group"])
    out = []
    for value, part in frame.groupby("group", sort=True)["score"]:
        n, mean, ci = mean_ci(part)
        if n < min_n:
            out.append({"value": str(value), "n": n, "mean": None, "ci": None, "suppressed": True})
            continue
        out.append({"value": str(value), "n": n, "mean": mean, "ci": ci, "suppressed": False})
    return out


def comments_by_band(df: pd.DataFrame, scores: pd.Series, limit=200, bands=(None, *BANDS)) -> dict:
    """{band: comments} for each requested band (None = all), preparing the columns once: the non-empty
    comments, newest first, with the respondent's 0-100 satisfaction score and its band (BANDS: low < 60,
    mid 60-79.9, high >= 80)."""
    if "comment" not in df:
        return {b: [] for b in bands}
    text = df["comment"].astype("string").str.strip()
    keep = (text.notna() & (text != "")).to_numpy(dtype=bool)
    score = (pd.to_numeric(scores, errors="coerce").reindex(df.index) if scores is not None
             else pd.Series(np.nan, index=df.index)).to_numpy(dtype=float)
    band_of = np.full(len(df), None, dtype=object)
    for name, (lo, hi) in BANDS.items():
        band_of[(score >= lo) & (score < hi)] = name
    rows = np.flatnonzero(keep)
    created = None
    if "created_at" in df:  # as UTC datetime64: iterating tz-aware values would build 1M Timestamps
        created = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None).to_numpy()
        rows = rows[np.argsort(created[rows], kind="stable")[::-1]]
    ids = df["response_id"].to_numpy() if "response_id" in df else df.index.to_numpy()
    out = {}
    for band in bands:
        chosen = rows if not band else rows[band_of[rows] == band]
        out[band] = [{"id": ids[i].item() if hasattr(ids[i], "item") else ids[i],
                      "created_at": pd.Timestamp(created[i], tz="UTC") if created is not None else None,
                      "comment": str(text.iloc[i]), "score": None if np.isnan(score[i]) else float(score[i]),
                      "band": band_of[i]} for i in chosen[:limit]]
    return out
