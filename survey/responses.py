"""Responses: validate a submission, store it in one transaction, and read responses back as rows or pandas."""
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import packing, snapshot
from .db import writer_turn
from .exceptions import (
    InvalidResponse, KeyRefused, ServiceError, SurveyClosed, SurveyNotFound, TokenUnknown, TokenUsed,
)
from .tables import (
    CHOICE, MULTI, OPEN, SCALE, SUBMIT, TEXT, YESNO, Answer, ApiKey, InvitationToken, Response, Survey, Wave, utcnow,
)

DONT_KNOW = "dk"
MULTI_SEPARATOR = ";"
MAX_TEXT = 5000
YES_NO_ALIASES = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "1": "yes", "0": "no"}
RESPONSE_TABLE, ANSWER_TABLE, SURVEY_TABLE, API_KEY_TABLE = (
    Response.__table__, Answer.__table__, Survey.__table__, ApiKey.__table__)


class InvalidRows(ServiceError, ValueError):
    """Some rows of a bulk import failed validation; rows maps row index -> InvalidResponse."""

    def __init__(self, rows: dict[int, InvalidResponse]):
        self.rows = rows
        first = next(iter(rows.items()))
        super().__init__(f"{len(rows)} invalid row(s); first: row {first[0]}: {first[1]}")


@dataclass(frozen=True)
class Receipt:
    """What the caller learns about a stored response: plain values, no ORM object (it costs a tenth of a ms)."""

    id: int
    survey_id: int
    wave_id: int
    created_at: datetime
    locale: str
    source: str
    token_id: int | None


def _raw(data, code: str) -> list:
    """Return the submitted values for one code; None means "don't know", a missing key or "" unanswered."""
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


def _scale_value(value, scale: tuple[int, int], item: snapshot.Item):
    """Return (int or None for don't know, error code or None)."""
    if value is None or (isinstance(value, str) and value.lower() in (DONT_KNOW, "dont_know", "na")):
        return None, (None if item.allow_dont_know else "dont_know_not_allowed")
    if isinstance(value, bool):
        return None, "not_a_number"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        return None, "not_a_number"
    if not scale[0] <= value <= scale[1]:
        return None, "out_of_range"
    return value, None


def _choice_values(values: list, item: snapshot.Item) -> tuple[str | None, str | None]:
    """Return (stored text, error code) for choice, multi and yes/no questions."""
    if item.kind == YESNO:
        value = values[0]
        key = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
        return (YES_NO_ALIASES[key], None) if key in YES_NO_ALIASES else (None, "invalid_choice")
    if item.kind == CHOICE:
        value = str(values[0]) if values[0] is not None else None
        return (value, None) if value in item.options else (None, "invalid_choice")
    chosen = set()
    for value in values:
        parts = value.split(MULTI_SEPARATOR) if isinstance(value, str) else [value]
        chosen.update(str(p).strip() for p in parts if str(p).strip())
    if not chosen <= set(item.options):
        return None, "invalid_choice"
    return (MULTI_SEPARATOR.join(v for v in item.options if v in chosen) or None), None


def _validate(snap: snapshot.Snapshot, data) -> list[tuple[snapshot.Item, int | None, str | None]]:
    """Check a submission against a questionnaire snapshot; return (item, value, text) to store."""
    errors: dict[str, str] = {}
    answers = []
    for item in snap.items:
        if item.condition:
            code, wanted = item.condition
            given = _raw(data, code)
            given = YES_NO_ALIASES.get(str(given[0]).lower(), given[0]) if given else None
            if given != wanted:
                continue
        values = _raw(data, item.code)
        if not values:
            if item.required:
                errors[item.code] = "required"
            continue
        if item.kind == SCALE:
            value, error = _scale_value(values[0], snap.scale, item)
            text = None
        elif item.kind == TEXT:
            value, text = None, str(values[0])
            error = "too_long" if len(text) > MAX_TEXT else None
        else:
            value = None
            text, error = _choice_values(values, item)
        if error:
            errors[item.code] = error
        else:
            answers.append((item, value, text))
    if errors:
        raise InvalidResponse(errors)
    return answers


def validate_answers(snap: snapshot.Snapshot, data) -> list[tuple[snapshot.Item, int | None, str | None]]:
    """Check a submission against a questionnaire snapshot's active questions; return (item, value, text).

    :raise InvalidResponse: with one error code per question code at fault.
    """
    return _validate(snap, data)


def _packed(answers) -> bytes:
    """Pack the coded non-text answers of one validated submission."""
    pairs = []
    for item, value, text in answers:
        code = packing.answer_code(item.kind, item.options, value, text)
        if code is not None:
            pairs.append((item.id, code))
    return packing.pack(pairs)


def _wave_id(snap: snapshot.Snapshot, number: int | None) -> int:
    """Return the id of the wave with this number, or of the newest wave."""
    if number is None:
        if snap.current_wave_id is None:
            raise ServiceError(f"survey {snap.slug} has no wave")
        return snap.current_wave_id
    try:
        return snap.waves[int(number)]
    except (KeyError, TypeError, ValueError):
        raise InvalidResponse({"wave": "invalid_choice"}) from None


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


def _answer_rows(response_id: int, answers) -> list[dict]:
    return [{"response_id": response_id, "question_id": item.id, "value": value, "text": text}
            for item, value, text in answers]


# A submission validated against a cached snapshot is stored only if, at the moment of the INSERT, the survey
# is still open at that snapshot's revision (and the API key, if any, may submit to it): the INSERT selects its
# survey_id from the survey row under those conditions, so no survey or key query runs before it.
_GUARD = "s.id = %(survey_id)s AND s.revision = %(revision)s AND s.status = 'open'"
_KEY_GUARD = (f" AND EXISTS (SELECT 1 FROM api_key k WHERE k.key_hash = %(key_hash)s AND k.kind = '{SUBMIT}'"
              " AND k.revoked_at IS NULL AND (k.survey_id = s.id OR k.survey_id IS NULL))")


@functools.cache
def _pg_record_sql(guarded: bool, keyed: bool) -> str:
    """Return PostgreSQL's statement that inserts a response and its answers in one round trip.

    The answers travel as one JSON array of {q, v, t}, so the text and its dozen parameters are the same for every
    submission (psycopg caches the conversion and prepares it; a VALUES row per answer would be re-parsed every
    time, and three typed arrays cost more to send).
    """
    source = ("SELECT s.id, %(wave_id)s, %(created_at)s, %(locale)s, %(complete)s, %(source)s, %(token_id)s, "
              "%(packed)s FROM survey s WHERE " + _GUARD + (_KEY_GUARD if keyed else "")) if guarded else (
        "VALUES (%(survey_id)s, %(wave_id)s, %(created_at)s, %(locale)s, %(complete)s, %(source)s, %(token_id)s, "
        "%(packed)s)")
    return (
        "WITH r AS (INSERT INTO response (survey_id, wave_id, created_at, locale, complete, source, token_id, "
        "packed) " + source + " RETURNING id), "
        "a AS (INSERT INTO answer (response_id, question_id, value, text) SELECT r.id, u.q, u.v, u.t "
        "FROM r, json_to_recordset(%(answers)s::json) AS u(q integer, v smallint, t text)) "
        "SELECT id FROM r"
    )


@functools.cache
def _guarded_response_insert(keyed: bool) -> sa.Insert:
    """Return the Core INSERT ... SELECT of one response under the submission guard (for databases other than
    PostgreSQL, where the answers follow in a second statement of the same transaction)."""
    s = SURVEY_TABLE.alias("s")
    columns = ("wave_id", "created_at", "locale", "complete", "source", "token_id", "packed")
    source = sa.select(s.c.id, *(sa.bindparam(name, type_=RESPONSE_TABLE.c[name].type) for name in columns)).where(
        s.c.id == sa.bindparam("survey_id"), s.c.revision == sa.bindparam("revision"), s.c.status == OPEN)
    if keyed:
        k = API_KEY_TABLE.alias("k")
        source = source.where(sa.exists().where(
            k.c.key_hash == sa.bindparam("key_hash"), k.c.kind == SUBMIT, k.c.revoked_at.is_(None),
            sa.or_(k.c.survey_id == s.c.id, k.c.survey_id.is_(None))))
    return RESPONSE_TABLE.insert().from_select(["survey_id", *columns], source).returning(RESPONSE_TABLE.c.id)


def _insert_response(session: Session, values: dict, answers, guard: dict | None = None) -> int | None:
    """Insert one response and its validated answers in the session's transaction; return the response id.

    With a guard ({"revision", "key_hash"}) nothing is inserted and None is returned unless the guard holds.
    """
    connection = session.connection()
    keyed = guard is not None and guard.get("key_hash") is not None
    if connection.dialect.name == "postgresql":
        params = {**values, **(guard or {}), "answers": json.dumps(
            [{"q": item.id, "v": value, "t": text} for item, value, text in answers], ensure_ascii=False)}
        return connection.exec_driver_sql(_pg_record_sql(guard is not None, keyed), params).scalar_one_or_none()
    if guard is None:
        statement = RESPONSE_TABLE.insert().returning(RESPONSE_TABLE.c.id)
    else:
        statement, values = _guarded_response_insert(keyed), {**values, **guard}
    response_id = connection.execute(statement, values).scalar_one_or_none()
    if response_id is not None and answers:
        connection.execute(ANSWER_TABLE.insert(), _answer_rows(response_id, answers))
    return response_id


def _copy_answers(session: Session, rows: list[tuple]) -> None:
    """Insert (response_id, question_id, value, text) rows in the session's transaction: COPY on PostgreSQL
    (about 10x faster than batched INSERTs), executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy("COPY answer (response_id, question_id, value, text) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.close()
    else:
        connection.execute(ANSWER_TABLE.insert(), [
            {"response_id": r, "question_id": q, "value": v, "text": t} for r, q, v, t in rows])


def record_response(session: Session, survey: Survey, data, *, locale: str = "en", token: str | None = None,
                    source: str = "web", wave: int | None = None) -> Receipt:
    """Validate one submission and store it with its answers in one committed transaction.

    Returns the stored response's Receipt.

    :raise SurveyClosed, TokenUnknown, TokenUsed, InvalidResponse: nothing is stored.
    """
    if not survey.is_open:
        raise SurveyClosed(survey.slug)
    token_row = find_token(session, survey, token) if token else None
    if token_row is not None and token_row.used_at is not None:
        raise TokenUsed(token)
    snap = snapshot.take(survey)
    answers = _validate(snap, data)
    wave_id = _wave_id(snap, wave)
    with writer_turn(session):  # before the first write of the transaction (the token's UPDATE)
        try:
            if token_row is not None:
                claimed = session.execute(
                    sa.update(InvitationToken)
                    .where(InvitationToken.id == token_row.id, InvitationToken.used_at.is_(None))
                    .values(used_at=utcnow())
                )
                if claimed.rowcount != 1:
                    raise TokenUsed(token)
            values = {"survey_id": survey.id, "wave_id": wave_id, "created_at": utcnow(), "locale": str(locale),
                      "complete": True, "source": source,
                      "token_id": token_row.id if token_row is not None else None, "packed": _packed(answers)}
            response_id = _insert_response(session, values, answers)
            session.commit()
        except IntegrityError:
            session.rollback()
            if token_row is not None:
                raise TokenUsed(token) from None
            raise
        except BaseException:
            session.rollback()
            raise
    return _receipt(response_id, values)


def _receipt(response_id: int, values: dict) -> Receipt:
    return Receipt(response_id, values["survey_id"], values["wave_id"], values["created_at"], values["locale"],
                   values["source"], values["token_id"])


def submit(session: Session, slug: str, data, *, locale: str = "en", token: str | None = None, source: str = "web",
           wave: int | None = None, key_hash: str | None = None) -> Receipt:
    """Record one submission to the survey at `slug`: the respondent's and the API's path.

    It is validated against this process's snapshot of the survey and stored by one INSERT that checks, as it
    writes, that the survey is still open at that revision and that the API key (by hash, if given) may submit:
    so the common case runs no other query. When that check fails, or an invitation token is involved, the survey
    is loaded and record_response stores the response or says exactly why not. Returns the stored response's
    Receipt.

    :raise SurveyNotFound, KeyRefused, SurveyClosed, TokenUnknown, TokenUsed, InvalidResponse: nothing is stored.
    """
    snap = snapshot.by_slug(session, slug)
    if snap is not None and snap.is_open and not token:
        try:
            answers = _validate(snap, data)
            wave_id = _wave_id(snap, wave)
        except InvalidResponse:
            if snapshot.by_slug(session, slug, fresh=True) is snap:
                raise
        else:
            values = {"survey_id": snap.survey_id, "wave_id": wave_id, "created_at": utcnow(),
                      "locale": str(locale), "complete": True, "source": source, "token_id": None,
                      "packed": _packed(answers)}
            with writer_turn(session):
                try:
                    response_id = _insert_response(session, values, answers,
                                                   guard={"revision": snap.revision, "key_hash": key_hash})
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
            if response_id is not None:
                return _receipt(response_id, values)
    survey = session.scalar(sa.select(Survey).where(Survey.slug == slug))
    if survey is None:
        raise SurveyNotFound(slug)
    if key_hash is not None:
        key = session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == key_hash))
        if key is None or not key.allows(survey, SUBMIT):
            raise KeyRefused(slug)
    return record_response(session, survey, data, locale=locale, token=token, source=source, wave=wave)


def record_responses_bulk(session: Session, survey: Survey, rows: Iterable[Mapping], *, wave: int | None = None,
                          source: str = "import", locale: str = "en") -> int:
    """Validate many rows and insert them all in one transaction with batched INSERTs; return the count.

    A row may carry "created_at" (datetime) and "locale" besides question codes. Nothing is stored if any row is
    invalid. Callers loading millions of rows call this once per chunk (one transaction per chunk).

    :raise InvalidRows: row index -> InvalidResponse for every bad row.
    """
    snap = snapshot.take(survey)
    wave_id = _wave_id(snap, wave)
    rows = list(rows)
    validated, bad = [], {}
    for index, row in enumerate(rows):
        try:
            validated.append(_validate(snap, row))
        except InvalidResponse as err:
            bad[index] = err
    if bad:
        raise InvalidRows(bad)
    if not rows:
        return 0
    now = utcnow()
    with writer_turn(session):
        try:
            ids = session.execute(
                RESPONSE_TABLE.insert().returning(RESPONSE_TABLE.c.id, sort_by_parameter_order=True),
                [
                    {"survey_id": survey.id, "wave_id": wave_id, "created_at": row.get("created_at") or now,
                     "locale": str(row.get("locale") or locale), "complete": True, "source": source,
                     "token_id": None, "packed": _packed(answers)}
                    for row, answers in zip(rows, validated)
                ],
            ).scalars().all()
            _copy_answers(session, [(rid, item.id, value, text) for rid, answers in zip(ids, validated)
                                    for item, value, text in answers])
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return len(ids)


def _response_filter(snap: snapshot.Snapshot, survey: Survey, wave: int | None) -> list:
    """Return WHERE clauses selecting the complete responses of a survey (and one wave)."""
    clauses = [Response.survey_id == survey.id, Response.complete.is_(True)]
    if wave is not None:
        clauses.append(Response.wave_id == _wave_id(snap, wave))
    return clauses


def _aware(moment: datetime) -> datetime:
    """Return the time as aware UTC (SQLite hands back naive datetimes)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _fetch_raw(connection, statement) -> list[tuple]:
    """Run a SELECT on the DBAPI cursor of this transaction and return plain tuples (no Row objects or result
    processing: a million rows come back twice as fast)."""
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    if connection.dialect.name == "postgresql":  # psycopg binary rows: bytea and numbers without text parsing
        cursor = connection.connection.driver_connection.cursor(binary=True)
    else:
        cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _unpacked_from_answers(session: Session, snap: snapshot.Snapshot, ids: np.ndarray) -> list[bytes]:
    """Pack the answers of rows stored without `packed` (written by other loaders) from the answer table."""
    items = {i.id: i for i in snap.items if i.kind != TEXT}
    pairs: dict[int, list] = {int(rid): [] for rid in ids}
    for start in range(0, len(ids), 5000):
        chunk = [int(r) for r in ids[start:start + 5000]]
        for rid, qid, value, text in session.execute(
            sa.select(Answer.response_id, Answer.question_id, Answer.value, Answer.text)
            .where(Answer.response_id.in_(chunk), Answer.question_id.in_(list(items)))
        ):
            code = packing.answer_code(items[qid].kind, items[qid].options, value, text)
            if code is not None:
                pairs[rid].append((qid, code))
    return [packing.pack(pairs[int(rid)]) for rid in ids]


def _decoded_column(item: snapshot.Item, codes: np.ndarray):
    """Turn one column of int codes (missing = a sentinel below -1) into floats or option strings."""
    if item.kind == SCALE:
        return np.where(codes < 0, np.nan, codes.astype("float64"))
    if item.kind == MULTI:
        present = np.unique(codes[codes >= 0])
        labels = [MULTI_SEPARATOR.join(o for i, o in enumerate(item.options) if int(m) >> i & 1) or None
                  for m in present]
        lookup = np.array(labels + [None], dtype=object)
        where = np.searchsorted(present, codes)
        found = (codes >= 0) & (where < len(present))
        found[found] = present[where[found]] == codes[found]
        return lookup[np.where(found, where, len(present))]
    options = np.array(item.options + (None,), dtype=object)
    valid = (codes >= 0) & (codes < len(item.options))
    return options[np.where(valid, codes, len(item.options))]


def responses_frame(session: Session, survey: Survey, wave: int | None = None, segment=None) -> pd.DataFrame:
    """Return one row per complete response: response_id, created_at (UTC), wave, locale, source, then one
    column per active question code in questionnaire order (scale items float with NaN for don't know or
    unanswered; other questions str or None; multi choices joined with ';').

    wave is a wave number; segment is {code: value} or (code, value) on a choice or yes/no question.
    """
    snap = snapshot.take(survey)
    clauses = _response_filter(snap, survey, wave)
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    # PostgreSQL: epoch seconds (a million aware datetimes take seconds to convert); SQLite: ISO text
    created = sa.cast(sa.extract("epoch", Response.created_at), sa.Float) if postgresql else Response.created_at
    # No join to wave: SQLite would nest a wave scan inside the million-row scan; numbers are mapped below.
    rows = _fetch_raw(connection, (
        sa.select(Response.id, created, Response.wave_id, Response.locale, Response.source, Response.packed)
        .where(*clauses).order_by(Response.id)
    ))
    n = len(rows)
    waves = session.execute(sa.select(Wave.id, Wave.number).where(Wave.survey_id == survey.id)).all()
    wave_number = np.zeros(max((w for w, _ in waves), default=0) + 1, dtype=np.int64)
    for wave_id, number in waves:
        wave_number[wave_id] = number
    if postgresql:
        micros = np.round(np.fromiter((r[1] for r in rows), dtype=np.float64, count=n) * 1e6).astype(np.int64)
        created_at = pd.to_datetime(micros, unit="us", utc=True)
    else:
        created_at = pd.to_datetime(pd.Series([r[1] for r in rows], dtype=object), utc=True, format="ISO8601")
    frame = pd.DataFrame({  # column by column: much faster than zip(*rows) on a million tuples
        "response_id": np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        "created_at": created_at,
        "wave": wave_number[np.fromiter((r[2] for r in rows), dtype=np.int64, count=n)],
        "locale": np.array([r[3] for r in rows], dtype=object),
        "source": np.array([r[4] for r in rows], dtype=object),
    })
    blobs = [r[5] for r in rows]
    del rows
    legacy = [i for i, blob in enumerate(blobs) if blob is None]
    if legacy:
        for i, blob in zip(legacy, _unpacked_from_answers(session, snap, frame["response_id"].to_numpy()[legacy])):
            blobs[i] = blob
    row_index, qids, codes = packing.unpack(blobs)
    position = {item.id: j for j, item in enumerate(snap.items)}
    lookup = np.full(max(max(position, default=0), int(qids.max(initial=0))) + 1, -1, dtype=np.int64)
    for qid, j in position.items():
        lookup[qid] = j
    col = lookup[qids]  # -1: a dropped question
    keep = col >= 0
    matrix = np.full((len(snap.items), n), -2, dtype=np.int16)  # one row per question; -2: unanswered
    matrix.reshape(-1)[col[keep] * n + row_index[keep]] = codes[keep]
    data = {}
    for j, item in enumerate(snap.items):
        data[item.code] = _decoded_column(item, matrix[j]) if item.kind != TEXT else np.full(n, None, object)
    texts = [item for item in snap.items if item.kind == TEXT]
    if texts and n:
        where = {item.id: item.code for item in texts}
        ids = frame["response_id"].to_numpy()
        # Questions belong to one survey, so no join: answers of responses outside the frame (incomplete,
        # another wave) are dropped by looking their id up in the sorted ids.
        found = _fetch_raw(connection, sa.select(Answer.response_id, Answer.question_id, Answer.text)
                           .where(Answer.question_id.in_(list(where))))
        if found:
            rids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
            at = np.minimum(np.searchsorted(ids, rids), n - 1)
            for (rid, qid, text), i, hit in zip(found, at.tolist(), (ids[at] == rids).tolist()):
                if hit:
                    data[where[qid]][i] = text
    frame = pd.concat([frame, pd.DataFrame(data, index=frame.index)], axis=1)
    if segment:
        code, value = next(iter(segment.items())) if isinstance(segment, Mapping) else segment
        if snap.item(code) is None:
            raise InvalidResponse({code: "invalid_choice"})
        frame = frame[frame[code] == str(value)].reset_index(drop=True)
    return frame


def iter_responses(session: Session, survey: Survey, *, wave: int | None = None, after_id: int | None = None,
                   limit: int | None = None, batch_size: int = 500) -> Iterator[dict]:
    """Yield complete responses as plain dicts in id order, a batch at a time (for exports and paging).

    Keys: response_id, created_at (aware UTC), wave, locale, source, and every active question code (scale ->
    int or None, multi -> list of str, others -> str or None). The questionnaire is read when this is called,
    so the iterator can be consumed later (a streamed download).
    """
    snap = snapshot.take(survey)
    return _iter_batches(session, snap, _response_filter(snap, survey, wave), after_id or 0, limit, batch_size)


def _iter_batches(session, snap, clauses, last, remaining, batch_size) -> Iterator[dict]:
    items = {i.id: i for i in snap.items}
    codes = [i.code for i in snap.items]
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
            .where(Answer.response_id.in_(list(rows)), Answer.question_id.in_(list(items)))
        ):
            item = items[qid]
            if item.kind == SCALE:
                rows[rid][item.code] = value
            elif item.kind == MULTI:
                rows[rid][item.code] = text.split(MULTI_SEPARATOR) if text else []
            else:
                rows[rid][item.code] = text
        yield from rows.values()
        last = meta[-1][0]
        if remaining is not None:
            remaining -= len(meta)


def count_responses(session: Session, survey: Survey) -> dict[int, int]:
    """Return wave number -> number of complete responses (every wave, zero included)."""
    return dict(session.execute(
        sa.select(Wave.number, sa.func.count(Response.id))
        .select_from(Wave).outerjoin(Response, sa.and_(Response.wave_id == Wave.id, Response.complete.is_(True)))
        .where(Wave.survey_id == survey.id).group_by(Wave.number).order_by(Wave.number)
    ).all())
