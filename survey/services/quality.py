"""Response quality: the evidence a web submission carries and the three flags computed from it, in one home.

Evidence, stored with each web response (NULL when unknown, and always NULL for API and imported responses,
which have no form to time or browser to recognise):

- ``duration_ms``: milliseconds from the form's render to its submission. The form carries a render token
  signed with the app's secret (itsdangerous), so a respondent cannot claim to have taken longer; a missing,
  tampered or implausible token only makes the duration unknown, it never refuses the answers.
- ``device_hash``: a keyed hash of a random first-party cookie id the form sets (``DEVICE_COOKIE``).
- ``client_hash``: a keyed hash of the client's address and user agent.

The hashes are HMAC-SHA256 under the app's secret and the survey's slug, cut to 128 bits: the raw cookie id,
address and user agent are never stored, and one browser's hashes differ between surveys.

Flags (``flag_responses``), recomputed whenever the report or an export reads the responses, because the
speeder threshold moves with the median:

- ``straight_lining`` (``straight_lined``): the answers do not depend on the items.
- ``speeder`` (``speeders``): far faster than the survey's typical respondent.
- ``repeat`` (``repeats``): a later submission of a browser that already answered this wave.

A flag is evidence, not a verdict: flagged responses stay stored and exported; a manager may leave them out
of the report (``set_exclusion``, reversible and in the audit log).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from survey.storage.db import write_transaction
from survey.storage.tables import SCALE, Survey

FLAGS = ("straight_lining", "speeder", "repeat")
FLAG_COLUMNS = tuple(f"flag_{name}" for name in FLAGS)  # boolean columns of the responses frame
THRESHOLD_ATTR = "speeder_threshold_ms"  # responses_frame(...).attrs: the survey-wide cut-off it flagged by

RENDER_FIELD = "rendered"  # the form's hidden field holding the signed render time
RENDER_SALT = "csi-form-render"
MAX_DURATION_MS = 7 * 24 * 3600 * 1000  # a week: longer is a tab left open, not a measured answer time
DEVICE_COOKIE = "csi_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# straight-lining
MIN_BLOCK_ITEMS = 3  # a construct block counts when at least this many of its scale items were answered
MIN_BLOCKS = 2  # ... and a respondent is flagged when every such block (at least this many) is uniform
MIN_FLAT_ANSWERS = 6  # or when at least this many scale answers are all the same value
# speeders (a third of the median; judged from 100 timed responses on, as Qualtrics waits for 100)
SPEEDER_FRACTION = 1 / 3
MIN_DURATIONS = 100
# repeats
REPEAT_WINDOW_SECONDS = 30 * 60


# --- evidence: the web form's side -------------------------------------------------------------------------

def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=RENDER_SALT)


def render_token(secret: str, slug: str, now_ms: int | None = None) -> str:
    """Sign the moment the form of survey `slug` is rendered (milliseconds since the epoch)."""
    return _serializer(secret).dumps([slug, int(time.time() * 1000) if now_ms is None else int(now_ms)])


def form_duration_ms(secret: str, slug: str, token: str | None, now_ms: int | None = None) -> int | None:
    """Milliseconds from the signed render of this survey's form to now, or None (unknown).

    Unknown when the token is missing, forged or altered, signed for another survey, or gives a time in the
    future or over ``MAX_DURATION_MS`` ago: the duration then stays empty and the response is still stored.
    """
    if not token:
        return None
    try:
        signed_slug, rendered = _serializer(secret).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if signed_slug != slug or not isinstance(rendered, int) or isinstance(rendered, bool):
        return None
    duration = (int(time.time() * 1000) if now_ms is None else int(now_ms)) - rendered
    return duration if 0 <= duration <= MAX_DURATION_MS else None


def new_device_id() -> str:
    """A fresh random id for the first-party device cookie."""
    return secrets.token_urlsafe(18)


def valid_device_id(value: str | None) -> bool:
    """Whether a cookie value looks like an id this app issued (anything else is ignored and replaced)."""
    return bool(value) and _DEVICE_ID.match(value) is not None


def _keyed_hash(secret: str, slug: str, *parts: str) -> str:
    message = "\x1f".join((slug, *parts)).encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def evidence(secret: str, slug: str, *, token: str | None, device_id: str | None, address: str | None,
             user_agent: str | None, now_ms: int | None = None) -> dict:
    """The quality columns of one web submission: duration and the two keyed hashes (None when unknown)."""
    return {
        "duration_ms": form_duration_ms(secret, slug, token, now_ms),
        "device_hash": _keyed_hash(secret, slug, "device", device_id) if valid_device_id(device_id) else None,
        "client_hash": _keyed_hash(secret, slug, "client", address, user_agent or "") if address else None,
    }


NO_EVIDENCE = MappingProxyType({"duration_ms": None, "device_hash": None, "client_hash": None})  # API, imports


# --- flags ---------------------------------------------------------------------------------------------------

def construct_blocks(items) -> dict[str, list[str]]:
    """Construct code -> its scale item codes in questionnaire order (from snapshot items)."""
    blocks: dict[str, list[str]] = {}
    for item in items:
        if item.construct and item.kind == SCALE:
            blocks.setdefault(item.construct, []).append(item.code)
    return blocks


def _answered_and_flat(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a float matrix (NaN = not rated): how many values, and whether they are all one value."""
    missing = np.isnan(values)
    low = np.where(missing, np.inf, values).min(axis=1, initial=np.inf)
    high = np.where(missing, -np.inf, values).max(axis=1, initial=-np.inf)
    return (~missing).sum(axis=1), low == high


def straight_lined(frame: pd.DataFrame, blocks: Mapping[str, list[str]], scale_codes: list[str]) -> pd.Series:
    """Flag respondents whose rated answers do not depend on the items.

    Rule: a construct block *counts* for a respondent when at least ``MIN_BLOCK_ITEMS`` (3) of its scale
    items were rated (don't know and unanswered are left out). A respondent is flagged when

    - at least ``MIN_BLOCKS`` (2) blocks count and every block that counts has one answer for all its items
      (the answer may differ between blocks: 8-8-8 for expectations, 10-10-10 for quality), or
    - at least ``MIN_FLAT_ANSWERS`` (6) scale items were rated, all with the same value (zero variance).

    Why: one uniform block is common among attentive customers (three quality items all rated 9), so it is
    not flagged; uniform answers in every block, whose items ask different things, or one value for every
    item, is the pattern of clicking down a column without reading.
    """
    counted = np.zeros(len(frame), dtype=np.int64)
    uniform = np.zeros(len(frame), dtype=np.int64)
    for codes in blocks.values():
        answered, flat = _answered_and_flat(frame[list(codes)].to_numpy(dtype="float64"))
        counts = answered >= MIN_BLOCK_ITEMS
        counted += counts
        uniform += counts & flat
    flagged_rows = (counted >= MIN_BLOCKS) & (uniform == counted)
    if scale_codes:
        answered, flat = _answered_and_flat(frame[list(scale_codes)].to_numpy(dtype="float64"))
        flagged_rows |= (answered >= MIN_FLAT_ANSWERS) & flat
    return pd.Series(flagged_rows, index=frame.index)


def speeder_threshold_ms(durations: pd.Series) -> float | None:
    """The speeder cut-off: a third of the median known duration, or None while fewer than 100 are known.

    Why: answer times are skewed (a few leave the tab open for hours), so the median, not the mean, is the
    typical respondent, and under a third of it is too fast to have read the questions (a common market
    research convention). Qualtrics flags "more than two standard deviations" below the median instead; with
    such a tail the standard deviation easily exceeds the median (95 answers of 4 min and 5 tabs left open
    for 10 h: SD 130 min), so that cut-off falls below zero and flags no one. Like Qualtrics, nobody is judged before ``MIN_DURATIONS`` (100) durations are known: with
    fewer, the median is too unsteady to judge anyone by.
    """
    known = durations.dropna()
    if len(known) < MIN_DURATIONS:
        return None
    return float(known.median()) * SPEEDER_FRACTION


def speeders(durations: pd.Series) -> pd.Series:
    """Flag responses answered in under a third of the median time (none while fewer than 100 are timed)."""
    threshold = speeder_threshold_ms(durations)
    if threshold is None:
        return pd.Series(False, index=durations.index)
    return (durations < threshold).fillna(False).astype(bool)


def repeats(frame: pd.DataFrame, device_hash, client_hash) -> pd.Series:
    """Flag a response when the same browser already answered the same wave before it.

    The same browser is the same device cookie (at any time in the wave), or the same address and user agent
    within ``REPEAT_WINDOW_SECONDS`` (30 min) of the earlier response, which catches a second answer from a
    private window or after clearing cookies. The first response is kept unflagged.

    Why the window: colleagues behind one company address often run the same browser build; they answer over
    days, while a repeat in a fresh window follows within minutes. Why per wave: the same customer answering
    again in a later wave is the point of a tracking survey, not a repeat.
    """
    parts = pd.DataFrame({"wave": frame["wave"].to_numpy(), "device": np.asarray(device_hash, dtype=object),
                          "client": np.asarray(client_hash, dtype=object),
                          "at": frame["created_at"].to_numpy(), "id": frame["response_id"].to_numpy()},
                         index=frame.index).sort_values(["at", "id"], kind="stable")
    by_device = parts["device"].notna() & parts.duplicated(["wave", "device"], keep="first")
    known = parts[parts["client"].notna()]
    gap = known.groupby(["wave", "client"], sort=False)["at"].diff()
    by_client = pd.Series(False, index=parts.index)
    by_client.loc[known.index] = (gap <= pd.Timedelta(seconds=REPEAT_WINDOW_SECONDS)).to_numpy()
    return (by_device | by_client).reindex(frame.index).astype(bool)


def flag_responses(frame: pd.DataFrame, items, device_hash, client_hash) -> pd.DataFrame:
    """The boolean ``FLAG_COLUMNS`` of every row of a whole-survey responses frame (response_id, created_at,
    wave, duration_ms and the item columns of the snapshot `items`), aligned on its index; device_hash and
    client_hash are the rows' stored hashes (None where unknown)."""
    blocks = construct_blocks(items)
    scale_codes = [item.code for item in items if item.kind == SCALE]
    return pd.DataFrame({
        "flag_straight_lining": straight_lined(frame, blocks, scale_codes),
        "flag_speeder": speeders(frame["duration_ms"]),
        "flag_repeat": repeats(frame, device_hash, client_hash),
    }, index=frame.index)


def flagged(frame: pd.DataFrame) -> pd.Series:
    """Whether each row of a responses frame carries any flag."""
    return frame[list(FLAG_COLUMNS)].any(axis=1)


def flag_names(frame: pd.DataFrame) -> pd.Series:
    """Each row's flags as one ';'-joined text ('' for none), for exports."""
    rows = frame[list(FLAG_COLUMNS)].to_numpy(dtype=bool)
    return pd.Series([";".join(name for name, on in zip(FLAGS, row) if on) for row in rows.tolist()],
                     index=frame.index, dtype=object)


def summary(frame: pd.DataFrame) -> dict:
    """Counts of each flag and of flagged rows in (a view of) a responses frame, and the speeder rule's state:
    how many of these rows are timed, their median, and the survey-wide cut-off (None: fewer than 100 timed).
    """
    durations = frame["duration_ms"]
    threshold = frame.attrs.get(THRESHOLD_ATTR, speeder_threshold_ms(durations))
    return {"n": int(len(frame)), "flagged": int(flagged(frame).sum()),
            "counts": {name: int(frame[column].sum()) for name, column in zip(FLAGS, FLAG_COLUMNS)},
            "timed": int(durations.notna().sum()), "min_timed": MIN_DURATIONS,
            "median_seconds": float(durations.median()) / 1000 if durations.notna().any() else None,
            "threshold_seconds": None if threshold is None else threshold / 1000,
            "rule": {"block_items": MIN_BLOCK_ITEMS, "blocks": MIN_BLOCKS, "flat_answers": MIN_FLAT_ANSWERS,
                     "window_minutes": REPEAT_WINDOW_SECONDS // 60}}


EXPORT_COLUMNS = ("duration_s", "quality_flags", "excluded_from_report")


def export_rows(rows, frame: pd.DataFrame, excluded: bool):
    """Add EXPORT_COLUMNS to export rows (dicts with response_id) from the survey's whole responses frame:
    the form duration in seconds, the ';'-joined flags, and whether the report leaves the row out."""
    names = dict(zip(frame["response_id"].tolist(), flag_names(frame).tolist()))
    seconds = dict(zip(frame["response_id"].tolist(), (frame["duration_ms"] / 1000).round(1).tolist()))
    for row in rows:
        flags = names.get(row["response_id"], "")
        yield {**row, "duration_s": seconds.get(row["response_id"]), "quality_flags": flags,
               "excluded_from_report": bool(excluded and flags)}


# --- the manager's choice ------------------------------------------------------------------------------------

def set_exclusion(session: Session, survey: Survey, exclude: bool) -> bool:
    """Leave flagged responses out of the survey's report (or take them back in); return whether it changed.

    Nothing is deleted: the report reads the choice and filters rows; exports keep every response.
    """
    if bool(survey.exclude_flagged) == bool(exclude):
        return False
    with write_transaction(session):
        survey.exclude_flagged = bool(exclude)
    return True
