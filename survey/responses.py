"""Responses: validate a submission, store it in one transaction, and read responses back as rows or pandas."""
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .exceptions import InvalidResponse, ServiceError, SurveyClosed, TokenUnknown, TokenUsed
from .tables import (
    CHOICE, MULTI, SCALE, TEXT, YESNO, Answer, InvitationToken, Question, Response, Survey, Wave, utcnow,
)

DONT_KNOW = "dk"
MULTI_SEPARATOR = ";"
MAX_TEXT = 5000
YES_NO_ALIASES = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "1": "yes", "0": "no"}


class InvalidRows(ServiceError, ValueError):
    """Some rows of a bulk import failed validation; rows maps row index -> InvalidResponse."""

    def __init__(self, rows: dict[int, InvalidResponse]):
        self.rows = rows
        first = next(iter(rows.items()))
        super().__init__(f"{len(rows)} invalid row(s); first: row {first[0]}: {first[1]}")


def _raw(data, code: str) -> list:
    """Return the submitted values for one code; None means "don't know", a missing key means unanswered."""
    if hasattr(data, "getlist"):
        values = data.getlist(code)
    elif code in data:
        value = data[code]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
    else:
        values = []
    cleaned = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
        cleaned.append(value)
    return cleaned


def _scale_value(value, survey: Survey, question: Question):
    """Return (int or None for don't know, error code or None)."""
    if value is None or (isinstance(value, str) and value.lower() in (DONT_KNOW, "dont_know", "na")):
        return None, (None if question.allow_dont_know else "dont_know_not_allowed")
    if isinstance(value, bool):
        return None, "not_a_number"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        return None, "not_a_number"
    if not survey.scale_min <= value <= survey.scale_max:
        return None, "out_of_range"
    return value, None


def _choice_values(values: list, question: Question) -> tuple[str | None, str | None]:
    """Return (stored text, error code) for choice, multi and yes/no questions."""
    if question.kind == YESNO:
        value = values[0]
        key = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
        return (YES_NO_ALIASES[key], None) if key in YES_NO_ALIASES else (None, "invalid_choice")
    allowed = question.option_values
    if question.kind == CHOICE:
        value = str(values[0]) if values[0] is not None else None
        return (value, None) if value in allowed else (None, "invalid_choice")
    chosen = set()
    for value in values:
        parts = value.split(MULTI_SEPARATOR) if isinstance(value, str) else [value]
        chosen.update(str(p).strip() for p in parts if str(p).strip())
    if not chosen <= set(allowed):
        return None, "invalid_choice"
    return (MULTI_SEPARATOR.join(v for v in allowed if v in chosen) or None), None


def validate_answers(survey: Survey, data) -> list[tuple[Question, int | None, str | None]]:
    """Check a submission against the survey's active questions; return (question, value, text) to store.

    :raise InvalidResponse: with one error code per question code at fault.
    """
    questions = survey.active_questions
    errors: dict[str, str] = {}
    answers = []
    for question in questions:
        if question.condition:
            code, wanted = question.condition
            given = _raw(data, code)
            given = YES_NO_ALIASES.get(str(given[0]).lower(), given[0]) if given else None
            if given != wanted:
                continue
        values = _raw(data, question.code)
        if not values:
            if question.required:
                errors[question.code] = "required"
            continue
        if question.kind == SCALE:
            value, error = _scale_value(values[0], survey, question)
            text = None
        elif question.kind == TEXT:
            value, text = None, str(values[0])
            error = "too_long" if len(text) > MAX_TEXT else None
        else:
            value = None
            text, error = _choice_values(values, question)
        if error:
            errors[question.code] = error
        else:
            answers.append((question, value, text))
    if errors:
        raise InvalidResponse(errors)
    return answers


def _wave(session: Session, survey: Survey, number: int | None) -> Wave:
    """Return the wave with this number, or the newest wave."""
    if number is None:
        if survey.current_wave is None:
            raise ServiceError(f"survey {survey.slug} has no wave")
        return survey.current_wave
    wave = session.scalar(sa.select(Wave).where(Wave.survey_id == survey.id, Wave.number == int(number)))
    if wave is None:
        raise InvalidResponse({"wave": "invalid_choice"})
    return wave


def find_token(session: Session, survey: Survey, token: str) -> InvitationToken:
    """Return the survey's invitation token.

    :raise TokenUnknown: no such token for this survey.
    """
    row = session.scalar(
        sa.select(InvitationToken).where(InvitationToken.survey_id == survey.id, InvitationToken.token == token)
    )
    if row is None:
        raise TokenUnknown(token)
    return row


def record_response(session: Session, survey: Survey, data, *, locale: str = "en", token: str | None = None,
                    source: str = "web", wave: int | None = None) -> Response:
    """Validate one submission and store it with its answers in one committed transaction.

    :raise SurveyClosed, TokenUnknown, TokenUsed, InvalidResponse: nothing is stored.
    """
    if not survey.is_open:
        raise SurveyClosed(survey.slug)
    token_row = find_token(session, survey, token) if token else None
    if token_row is not None and token_row.used_at is not None:
        raise TokenUsed(token)
    answers = validate_answers(survey, data)
    wave_row = _wave(session, survey, wave)
    try:
        if token_row is not None:
            claimed = session.execute(
                sa.update(InvitationToken)
                .where(InvitationToken.id == token_row.id, InvitationToken.used_at.is_(None))
                .values(used_at=utcnow())
            )
            if claimed.rowcount != 1:
                raise TokenUsed(token)
        response = Response(survey_id=survey.id, wave_id=wave_row.id, locale=str(locale), source=source,
                            token_id=token_row.id if token_row is not None else None, complete=True)
        session.add(response)
        session.flush()
        if answers:
            session.execute(sa.insert(Answer), [
                {"response_id": response.id, "question_id": q.id, "value": value, "text": text}
                for q, value, text in answers
            ])
        session.commit()
    except IntegrityError:
        session.rollback()
        if token_row is not None:
            raise TokenUsed(token) from None
        raise
    except BaseException:
        session.rollback()
        raise
    return response


def record_responses_bulk(session: Session, survey: Survey, rows: Iterable[Mapping], *, wave: int | None = None,
                          source: str = "import", locale: str = "en") -> int:
    """Validate many rows and insert them all in one transaction with batched INSERTs; return the count.

    A row may carry "created_at" (datetime) and "locale" besides question codes. Nothing is stored if any row is
    invalid. Callers loading millions of rows call this once per chunk (one transaction per chunk).

    :raise InvalidRows: row index -> InvalidResponse for every bad row.
    """
    wave_row = _wave(session, survey, wave)
    rows = list(rows)
    validated, bad = [], {}
    for index, row in enumerate(rows):
        try:
            validated.append(validate_answers(survey, row))
        except InvalidResponse as err:
            bad[index] = err
    if bad:
        raise InvalidRows(bad)
    if not rows:
        return 0
    now = utcnow()
    try:
        ids = session.scalars(
            sa.insert(Response).returning(Response.id, sort_by_parameter_order=True),
            [
                {"survey_id": survey.id, "wave_id": wave_row.id, "created_at": row.get("created_at") or now,
                 "locale": str(row.get("locale") or locale), "complete": True, "source": source, "token_id": None}
                for row in rows
            ],
        ).all()
        answer_rows = [
            {"response_id": rid, "question_id": q.id, "value": value, "text": text}
            for rid, answers in zip(ids, validated)
            for q, value, text in answers
        ]
        if answer_rows:
            session.execute(sa.insert(Answer), answer_rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(ids)


def _response_filter(session: Session, survey: Survey, wave: int | None, segment) -> list:
    """Return WHERE clauses selecting the complete responses of a survey, one wave and one segment."""
    clauses = [Response.survey_id == survey.id, Response.complete.is_(True)]
    if wave is not None:
        clauses.append(Response.wave_id == _wave(session, survey, wave).id)
    if segment:
        code, value = next(iter(segment.items())) if isinstance(segment, Mapping) else segment
        question = next((q for q in survey.questions if q.code == code), None)
        if question is None:
            raise InvalidResponse({code: "invalid_choice"})
        clauses.append(Response.id.in_(
            sa.select(Answer.response_id).where(Answer.question_id == question.id, Answer.text == str(value))
        ))
    return clauses


def _aware(moment: datetime) -> datetime:
    """Return the time as aware UTC (SQLite hands back naive datetimes)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def responses_frame(session: Session, survey: Survey, wave: int | None = None, segment=None) -> pd.DataFrame:
    """Return one row per complete response: response_id, created_at (UTC), wave, locale, source, then one
    column per active question code in questionnaire order (scale items float with NaN for don't know or
    unanswered; other questions str or None; multi choices joined with ';').

    wave is a wave number; segment is {code: value} or (code, value).
    """
    clauses = _response_filter(session, survey, wave, segment)
    meta = session.execute(
        sa.select(Response.id, Response.created_at, Wave.number, Response.locale, Response.source)
        .join(Wave, Wave.id == Response.wave_id).where(*clauses).order_by(Response.id)
    ).all()
    frame = pd.DataFrame(meta, columns=["response_id", "created_at", "wave", "locale", "source"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["wave"] = frame["wave"].astype("int64")
    frame["response_id"] = frame["response_id"].astype("int64")
    questions = survey.active_questions
    answers = pd.DataFrame(
        session.execute(
            sa.select(Answer.response_id, Answer.question_id, Answer.value, Answer.text)
            .join(Response, Response.id == Answer.response_id).where(*clauses)
        ).all(),
        columns=["response_id", "question_id", "value", "text"],
    )
    by_question = dict(tuple(answers.groupby("question_id", sort=False))) if len(answers) else {}
    index = pd.Index(frame["response_id"])
    columns = {}
    for question in questions:
        part = by_question.get(question.id)
        field = "value" if question.kind == SCALE else "text"
        if part is None:
            series = pd.Series(float("nan") if question.kind == SCALE else None, index=index, dtype=(
                "float64" if question.kind == SCALE else "object"))
        else:
            series = pd.Series(part[field].to_numpy(), index=part["response_id"].to_numpy()).reindex(index)
            series = series.astype("float64") if question.kind == SCALE else series.astype("object").where(
                series.notna(), None)
        columns[question.code] = series.to_numpy()
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def iter_responses(session: Session, survey: Survey, *, wave: int | None = None, after_id: int | None = None,
                   limit: int | None = None, batch_size: int = 500) -> Iterator[dict]:
    """Yield complete responses as plain dicts in id order, a batch at a time (for exports and paging).

    Keys: response_id, created_at (aware UTC), wave, locale, source, and every active question code (scale ->
    int or None, multi -> list of str, others -> str or None).
    """
    clauses = _response_filter(session, survey, wave, None)
    questions = {q.id: q for q in survey.active_questions}
    codes = [q.code for q in questions.values()]
    last, remaining = after_id or 0, limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        meta = session.execute(
            sa.select(Response.id, Response.created_at, Wave.number, Response.locale, Response.source)
            .join(Wave, Wave.id == Response.wave_id).where(*clauses, Response.id > last)
            .order_by(Response.id).limit(size)
        ).all()
        if not meta:
            return
        rows = {}
        for rid, created_at, number, locale, source in meta:
            row = {"response_id": rid, "created_at": _aware(created_at), "wave": number, "locale": locale,
                   "source": source}
            row.update(dict.fromkeys(codes))
            rows[rid] = row
        for rid, qid, value, text in session.execute(
            sa.select(Answer.response_id, Answer.question_id, Answer.value, Answer.text)
            .where(Answer.response_id.in_(list(rows)), Answer.question_id.in_(list(questions)))
        ):
            question = questions[qid]
            if question.kind == SCALE:
                rows[rid][question.code] = value
            elif question.kind == MULTI:
                rows[rid][question.code] = text.split(MULTI_SEPARATOR) if text else []
            else:
                rows[rid][question.code] = text
        yield from rows.values()
        last = meta[-1][0]
        if remaining is not None:
            remaining -= len(meta)


def count_responses(session: Session, survey: Survey) -> dict[int, int]:
    """Return wave number -> number of complete responses (every wave, zero included)."""
    counts = dict(session.execute(
        sa.select(Wave.number, sa.func.count(Response.id))
        .select_from(Wave).outerjoin(Response, sa.and_(Response.wave_id == Wave.id, Response.complete.is_(True)))
        .where(Wave.survey_id == survey.id).group_by(Wave.number).order_by(Wave.number)
    ).all())
    return counts
