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

from survey.storage import packing
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


def _rows(mask: np.ndarray) -> list[int]:
    """Spreadsheet row numbers (header is row 1) of the True cells."""
    return (np.flatnonzero(mask) + 2).tolist()


def check_upload(frame: pd.DataFrame, mapping: dict[str, str], scale: tuple[int, int]) -> list[Problem]:
    """Every problem of the upload under this mapping (empty when it can be imported)."""
    problems: list[Problem] = []
    columns = {str(c): c for c in frame.columns}
    for code in CONSTRUCTS:
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
            for row in _rows((numeric.isna() & ~blank).to_numpy()):
                problems.append(Problem("err_wave" if role == "wave" else "err_not_number",
                                        {"column": name, "row": row, "value": series.iloc[row - 2]}))
            valid = numeric.notna().to_numpy()
            values = numeric.to_numpy(dtype=float, na_value=np.nan)
            if role == "wave":
                bad = valid & ((values < 1) | (values != np.round(values)))
                bad |= blank.to_numpy()
                for row in _rows(bad):
                    problems.append(Problem("err_wave", {"column": name, "row": row, "value": series.iloc[row - 2]}))
                continue
            for row in _rows(valid & ((values < lo) | (values > hi))):
                problems.append(Problem("err_out_of_scale", {"column": name, "row": row,
                                                             "value": f"{values[row - 2]:g}", "lo": lo, "hi": hi}))
            inside = valid & (values >= lo) & (values <= hi)
            for row in _rows(inside & (values != np.round(values))):
                problems.append(Problem("err_not_whole", {"column": name, "row": row, "value": f"{values[row - 2]:g}"}))
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
    """Check the upload and store it as a new (closed) survey in one transaction.

    Rows are written IMPORT_BLOCK at a time (memory stays flat whatever the file's size); ``progress(done,
    total)`` is called after each block. All or nothing: a failure anywhere rolls every block back.

    :raise ImportRejected: any problem; nothing is stored.
    """
    problems = check_upload(frame, mapping, scale)
    if problems:
        raise ImportRejected(problems[:MAX_ERRORS], len(problems))
    columns = {str(c): c for c in frame.columns}
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
            values = sorted(frame[columns[name]].dropna().astype(str).str.strip().unique())
            questions.append((name, role, Question(
                position=position, code=_code_for(name, taken), construct=None, section="about",
                kind="choice", text_en=name, text_zh=name, required=False, allow_dont_know=False,
                options=[{"value": v, "en": v, "zh": v} for v in values])))
        elif role == "comment":
            questions.append((name, role, Question(position=position, code=_code_for(name, taken),
                                                   construct=None, section="comment", kind="text",
                                                   text_en=name, text_zh=name, required=False,
                                                   allow_dont_know=False)))
    wave_col = next((columns[n] for n, r in mapping.items() if r == "wave"), None)
    wave_numbers = (pd.to_numeric(frame[wave_col]).astype(int).to_numpy() if wave_col is not None
                    else np.ones(len(frame), dtype=int))
    survey.questions = [q for _, _, q in questions]
    survey.waves = [Wave(number=int(n), label="") for n in sorted(set(wave_numbers.tolist()))]
    with write_transaction(session):  # submissions wait their turn instead of retrying against the lock
        session.add(survey)
        session.flush()
        wave_ids = {w.number: w.id for w in survey.waves}
        now = utcnow()
        n = len(frame)
        # Coded values per question (what response.packed holds) and the answer rows; ids come after the INSERT.
        coded, texts = [], []
        for name, role, question in questions:
            series = frame[columns[name]]
            if role in CONSTRUCTS:
                values = pd.to_numeric(series.astype("string").str.strip().replace("", pd.NA), errors="coerce")
                values = values.to_numpy(dtype=float, na_value=np.nan)
                coded.append((question, np.where(np.isnan(values), packing.DONT_KNOW_CODE, values).astype(np.int64)))
            else:
                text = [None if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip()
                        else str(v).strip()[:5000] for v in series.tolist()]
                texts.append((question, text))
                if role == "segment":
                    options = question.option_values
                    coded.append((question, np.array([options.index(v) if v in options else -2 for v in text])))
        blobs = packing.pack_matrix([q.id for q, _ in coded], np.column_stack([c for _, c in coded])) \
            if coded else [b""] * n
        for start in range(0, n, IMPORT_BLOCK):  # one block of rows at a time: memory stays flat
            stop = min(n, start + IMPORT_BLOCK)
            ids = session.scalars(
                sa.insert(Response).returning(Response.id, sort_by_parameter_order=True),
                [{"survey_id": survey.id, "wave_id": wave_ids[int(w)], "created_at": now, "locale": "en",
                  "complete": True, "source": "import", "token_id": None, "packed": blob}
                 for w, blob in zip(wave_numbers[start:stop], blobs[start:stop])],
            ).all()
            answers = []
            for question, codes in coded:
                if question.kind == SCALE:
                    answers.extend({"response_id": rid, "question_id": question.id,
                                    "value": None if c == packing.DONT_KNOW_CODE else int(c), "text": None}
                                   for rid, c in zip(ids, codes[start:stop].tolist()))
            for question, text in texts:
                answers.extend({"response_id": rid, "question_id": question.id, "value": None, "text": v}
                               for rid, v in zip(ids, text[start:stop]) if v is not None)
            if answers:
                session.execute(sa.insert(Answer), answers)
            del answers
            if progress is not None:
                progress(stop, n)
    return survey
