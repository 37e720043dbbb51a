"""Bring your own data: check an uploaded table against a column mapping and store it as a new survey.

The import is all or nothing: every cell is checked first (errors name the column and the row as the
manager sees it in a spreadsheet: header = row 1), and the survey, its questions, waves, responses and
answers are written in one transaction, so a failure leaves nothing behind.
"""
from __future__ import annotations

import re
import secrets

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from model import CONSTRUCTS
from model.spec import parse_item_code

from survey.storage import bulk, packing
from survey.storage.db import write_transaction
from survey.exceptions import ImportRejected, Problem
from survey.storage.tables import CLOSED, SCALE, Answer, Question, Response, Survey, SurveyGrant, Wave, utcnow

ROLES = (*CONSTRUCTS, "segment", "comment", "wave", "ignore")
MAX_SEGMENT_VALUES = 20
MAX_ERRORS = 30
IMPORT_BLOCK = 20_000
SECTIONS = {"CE": "expectations", "PQ": "quality", "PV": "value", "CS": "satisfaction", "CC": "complaints",
            "CL": "loyalty"}


def propose_mapping(frame: pd.DataFrame) -> dict[str, str]:
    """Pre-fill the mapping: <CODE><n> columns → construct, 'comment' / 'wave' by name, few text values → segment."""
    out = {}
    for column in frame.columns:
        name = str(column)
        parsed = parse_item_code(name, loose=True)
        numeric = pd.to_numeric(frame[column], errors="coerce")
        if parsed:
            out[name] = parsed[0]
        elif name.strip().lower() in ("comment", "comments", "意见", "评论"):
            out[name] = "comment"
        elif name.strip().lower() in ("wave", "调查期"):
            out[name] = "wave"
        elif numeric.notna().sum() < frame[column].notna().sum() and \
                frame[column].nunique(dropna=True) <= MAX_SEGMENT_VALUES:
            out[name] = "segment"
        else:
            out[name] = "ignore"
    return out


def sample_values(frame: pd.DataFrame, column, k=4) -> str:
    """A few distinct values of a column, for the mapping page."""
    values = frame[column].dropna().astype(str).unique()[:k]
    return ", ".join(values)


def _rows(mask: np.ndarray, first_row: int = 2) -> list[int]:
    """Spreadsheet row numbers (header is row 1) of the True cells; the frame's first row is ``first_row``."""
    return (np.flatnonzero(mask) + first_row).tolist()


def check_upload(frame: pd.DataFrame, mapping: dict[str, str], scale: tuple[int, int], *,
                 first_row: int = 2) -> list[Problem]:
    """Every problem of the upload under this mapping (empty when it can be imported).

    ``frame`` may be one chunk of the file whose first row is spreadsheet row ``first_row``; the mapping's
    own problems (a construct without a column) are found with the first chunk only.
    """
    problems: list[Problem] = []
    columns = {str(c): c for c in frame.columns}
    for code in CONSTRUCTS if first_row == 2 else ():
        if not any(role == code for role in mapping.values()):
            problems.append(Problem("err_construct_empty", {"code": code}))
    lo, hi = scale
    for name, role in mapping.items():
        if role not in ROLES or name not in columns:
            continue
        series = frame[columns[name]]
        if role in CONSTRUCTS or role == "wave":
            text = series.astype("string").str.strip()
            blank = series.isna() | (text == "")
            numeric = pd.to_numeric(text.where(~blank), errors="coerce")
            for row in _rows((numeric.isna() & ~blank).to_numpy(), first_row):
                problems.append(Problem("err_wave" if role == "wave" else "err_not_number",
                                        {"column": name, "row": row, "value": series.iloc[row - first_row]}))
            valid = numeric.notna().to_numpy()
            values = numeric.to_numpy(dtype=float, na_value=np.nan)
            if role == "wave":
                bad = valid & ((values < 1) | (values != np.round(values)))
                bad |= blank.to_numpy()
                for row in _rows(bad, first_row):
                    problems.append(Problem("err_wave", {"column": name, "row": row,
                                                         "value": series.iloc[row - first_row]}))
                continue
            for row in _rows(valid & ((values < lo) | (values > hi)), first_row):
                problems.append(Problem("err_out_of_scale", {"column": name, "row": row, "lo": lo, "hi": hi,
                                                             "value": f"{values[row - first_row]:g}"}))
            inside = valid & (values >= lo) & (values <= hi)
            for row in _rows(inside & (values != np.round(values)), first_row):
                problems.append(Problem("err_not_whole", {"column": name, "row": row,
                                                          "value": f"{values[row - first_row]:g}"}))
    return problems


def _code_for(name: str, taken: set) -> str:
    """A snake_case question code for a non-item column that cannot be mistaken for a model item."""
    base = re.sub(r"\W+", "_", name.strip().lower()).strip("_")[:32] or "column"
    if parse_item_code(base, loose=True) or base[0].isdigit():
        base = "q_" + base
    code, k = base, 2
    while code in taken:
        code, k = f"{base}_{k}", k + 1
    taken.add(code)
    return code


def import_survey(session: Session, frame: pd.DataFrame, mapping: dict[str, str], *, title: str,
                  scale: tuple[int, int], created_by=None, progress=None) -> Survey:
    """A table in memory imported as one chunk (see import_chunks)."""
    return import_chunks(session, lambda: iter([frame]), mapping, title=title, scale=scale,
                         created_by=created_by, progress=progress)


def _text(series: pd.Series) -> list[str | None]:
    """Cells as stored text: stripped, at most 5,000 characters, None when blank."""
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip()
            else str(v).strip()[:5000] for v in series.tolist()]


def import_chunks(session: Session, chunks, mapping: dict[str, str], *, title: str, scale: tuple[int, int],
                  created_by=None, progress=None) -> Survey:
    """Check an upload and store it as a new (closed) survey in one transaction, a chunk of rows at a time.

    ``chunks()`` gives a fresh iterator over the table's rows in frames (model.read_table_chunks); it is
    called twice: the first pass checks every cell and collects the segment values and waves, so nothing is
    written unless the whole file is good; the second writes IMPORT_BLOCK rows at a time through bulk
    inserts (COPY on PostgreSQL) and calls ``progress(done, total)`` after each block. Memory stays at one
    chunk whatever the file's size. All or nothing: a failure anywhere rolls every block back.

    :raise ImportRejected: any problem; nothing is stored.
    """
    problems: list[Problem] = []
    found, n, names = 0, 0, None
    segments: dict[str, set] = {name: set() for name, role in mapping.items() if role == "segment"}
    wave_name = next((name for name, role in mapping.items() if role == "wave"), None)
    wave_set: set[int] = set()
    for chunk in chunks():
        names = names or {str(c): c for c in chunk.columns}
        more = check_upload(chunk, mapping, scale, first_row=n + 2)
        found += len(more)
        problems.extend(more[:max(0, MAX_ERRORS - len(problems))])
        n += len(chunk)
        if found:
            continue  # keep counting problems; what is collected below is not needed any more
        for name, values in segments.items():
            if name in names:
                values.update(chunk[names[name]].dropna().astype(str).str.strip().unique().tolist())
        if wave_name in names:
            wave_set.update(pd.to_numeric(chunk[names[wave_name]]).astype(int).unique().tolist())
    if found:
        raise ImportRejected(problems, found)
    columns = names or {}
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "upload"
    slug = f"{slug}-{secrets.token_hex(3)}"
    survey = Survey(slug=slug, title_en=title, title_zh=title, intro_en="", intro_zh="", status=CLOSED,
                    imported=True, scale_min=scale[0], scale_max=scale[1], created_by_id=getattr(created_by, "id", None))
    if survey.created_by_id is not None:  # the manager who imported it may read and change it
        survey.grants = [SurveyGrant(manager_id=survey.created_by_id)]
    questions, counters, taken = [], dict.fromkeys(CONSTRUCTS, 0), set()
    for position, (name, role) in enumerate(mapping.items(), 1):
        if role in CONSTRUCTS:
            counters[role] += 1
            code = f"{role}{counters[role]}"
            questions.append((name, role, Question(position=position, code=code, construct=role,
                                                   section=SECTIONS[role], kind=SCALE, text_en=name,
                                                   text_zh=name, required=False, allow_dont_know=True)))
        elif role == "segment":
            values = sorted(segments.get(name, ()))
            questions.append((name, role, Question(
                position=position, code=_code_for(name, taken), construct=None, section="about",
                kind="choice", text_en=name, text_zh=name, required=False, allow_dont_know=False,
                options=[{"value": v, "en": v, "zh": v} for v in values])))
        elif role == "comment":
            questions.append((name, role, Question(position=position, code=_code_for(name, taken),
                                                   construct=None, section="comment", kind="text",
                                                   text_en=name, text_zh=name, required=False,
                                                   allow_dont_know=False)))
    survey.questions = [q for _, _, q in questions]
    survey.waves = [Wave(number=int(k), label="") for k in sorted(wave_set or {1})]
    with write_transaction(session):  # submissions wait their turn instead of retrying against the lock
        session.add(survey)
        session.flush()
        wave_ids = {w.number: w.id for w in survey.waves}
        now = utcnow()
        done = 0
        for chunk in chunks():
            for start in range(0, len(chunk), IMPORT_BLOCK):  # one block of rows at a time: memory stays flat
                _write_block(session, survey.id, chunk.iloc[start:start + IMPORT_BLOCK], questions, columns,
                             wave_ids, wave_name, now)
                done += min(IMPORT_BLOCK, len(chunk) - start)
                if progress is not None:
                    progress(done, n)
    return survey


def _write_block(session, survey_id: int, frame: pd.DataFrame, questions, columns, wave_ids, wave_name, now):
    """Store one block of rows: their responses (response.packed holds the coded values) and answers."""
    m = len(frame)
    waves = (pd.to_numeric(frame[columns[wave_name]]).astype(int).tolist() if wave_name in columns
             else [1] * m)
    coded, scales, texts = [], [], []
    for name, role, question in questions:
        series = frame[columns[name]]
        if role in CONSTRUCTS:
            values = pd.to_numeric(series.astype("string").str.strip().replace("", pd.NA), errors="coerce")
            values = values.to_numpy(dtype=float, na_value=np.nan)
            codes = np.where(np.isnan(values), packing.DONT_KNOW_CODE, values).astype(np.int64)
            coded.append((question, codes))
            scales.append((question, codes))
        else:
            text = _text(series)
            texts.append((question, text))
            if role == "segment":
                index = {v: k for k, v in enumerate(question.option_values)}
                coded.append((question, np.array([index.get(v, -2) for v in text], dtype=np.int64)))
    blobs = packing.pack_matrix([q.id for q, _ in coded], np.column_stack([c for _, c in coded])) \
        if coded else [b""] * m
    ids = bulk.next_ids(session, Response.__table__, m)
    bulk.insert_rows(session, Response.__table__,
                     ("id", "survey_id", "wave_id", "created_at", "locale", "complete", "source", "token_id", "packed"),
                     [(rid, survey_id, wave_ids[w], now, "en", True, "import", None, blob)
                      for rid, w, blob in zip(ids, waves, blobs)])
    answers = []
    for question, codes in scales:
        qid, dont_know = question.id, packing.DONT_KNOW_CODE
        answers.extend((rid, qid, None if c == dont_know else c, None) for rid, c in zip(ids, codes.tolist()))
    for question, text in texts:
        qid = question.id
        answers.extend((rid, qid, None, v) for rid, v in zip(ids, text) if v is not None)
    answers.sort(key=lambda row: row[0])  # in primary-key order: the index grows at its end
    bulk.insert_rows(session, Answer.__table__, ("response_id", "question_id", "value", "text"), answers)
