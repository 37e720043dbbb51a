"""Storing responses: one submission (web form, API) or many (bulk loading), each write one transaction."""
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.storage import packing
from survey.services import quality, snapshot
from survey.services.apikeys import find_key_by_hash
from survey.storage.db import write_transaction
from survey.exceptions import (
    InvalidResponse, InvalidRows, KeyRefused, SurveyClosed, SurveyNotFound, TokenRequired, TokenUnknown, TokenUsed,
)
from survey.services.surveys import get_survey
from survey.storage.tables import ACCESS_INVITATION, OPEN, SUBMIT, Answer, ApiKey, InvitationToken, Response, Survey, utcnow
from survey.services.cases import contact_from, store_contact
from survey.services.validation import validate

RESPONSE_TABLE, ANSWER_TABLE, SURVEY_TABLE = Response.__table__, Answer.__table__, Survey.__table__


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


def _packed(answers) -> bytes:
    """Pack the coded non-text answers of one validated submission."""
    pairs = []
    for item, value, text in answers:
        code = packing.answer_code(item.kind, item.options, value, text)
        if code is not None:
            pairs.append((item.id, code))
    return packing.pack(pairs)


def _validated(snap, data):
    """The answers and the contact details of a submission; every problem of both is reported at once.

    :raise InvalidResponse: question code -> error code.
    """
    codes, answers, contact = {}, None, None
    try:
        answers = validate(snap, data)
    except InvalidResponse as err:
        codes.update(err.codes)
    try:
        contact = contact_from(data)
    except InvalidResponse as err:
        codes.update(err.codes)
    if codes:
        raise InvalidResponse(codes)
    return answers, contact


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
# is still open at that snapshot's revision (and the API key, if any, may submit to it: ApiKey.allows, the one
# rule): the INSERT selects its survey_id from the survey row under those conditions, so no survey or key query
# runs before it. The guard is written once, in Core; PostgreSQL's one-round-trip statement embeds it compiled.
@functools.cache
def _guarded_response_insert(keyed: bool) -> sa.Insert:
    """Return the Core INSERT ... SELECT of one response under the submission guard (elsewhere than on
    PostgreSQL the answers follow in a second statement of the same transaction)."""
    s = SURVEY_TABLE.alias("s")
    columns = ("wave_id", "created_at", "locale", "complete", "source", "token_id", "packed", *quality.NO_EVIDENCE)
    source = sa.select(s.c.id, *(sa.bindparam(name, type_=RESPONSE_TABLE.c[name].type) for name in columns)).where(
        s.c.id == sa.bindparam("survey_id"), s.c.revision == sa.bindparam("revision"), s.c.status == OPEN)
    if keyed:
        source = source.where(sa.exists().where(ApiKey.key_hash == sa.bindparam("key_hash"),
                                                ApiKey.allows(s.c.id, SUBMIT)))
    return RESPONSE_TABLE.insert().from_select(["survey_id", *columns], source).returning(RESPONSE_TABLE.c.id)


@functools.cache
def _pg_record_sql(guarded: bool, keyed: bool) -> tuple[str, Mapping]:
    """Return PostgreSQL's statement that inserts a response and its answers in one round trip, with the
    constant parameters its guard's compiled text names.

    The answers travel as one JSON array of {q, v, t}, so the text and its dozen parameters are the same for every
    submission (psycopg caches the conversion and prepares it; a VALUES row per answer would be re-parsed every
    time, and three typed arrays cost more to send).
    """
    constants = {}
    if guarded:
        compiled = _guarded_response_insert(keyed).compile(dialect=psycopg.dialect())
        insert = str(compiled)
        constants = {name: value for name, value in compiled.params.items() if value is not None}
    else:
        insert = ("INSERT INTO response (survey_id, wave_id, created_at, locale, complete, source, token_id, packed, "
                  "duration_ms, device_hash, client_hash) "
                  "VALUES (%(survey_id)s, %(wave_id)s, %(created_at)s, %(locale)s, %(complete)s, %(source)s, "
                  "%(token_id)s, %(packed)s, %(duration_ms)s, %(device_hash)s, %(client_hash)s) RETURNING id")
    return (
        "WITH r AS (" + insert + "), "
        "a AS (INSERT INTO answer (response_id, question_id, value, text) SELECT r.id, u.q, u.v, u.t "
        "FROM r, json_to_recordset(%(answers)s::json) AS u(q integer, v smallint, t text)) "
        "SELECT id FROM r"
    ), MappingProxyType(constants)


def _insert_response(session: Session, values: dict, answers, guard: dict | None = None) -> int | None:
    """Insert one response and its validated answers in the session's transaction; return the response id.

    With a guard ({"revision", "key_hash"}) nothing is inserted and None is returned unless the guard holds.
    """
    connection = session.connection()
    keyed = guard is not None and guard.get("key_hash") is not None
    if connection.dialect.name == "postgresql":
        params = {**values, **(guard or {}), "answers": json.dumps(
            [{"q": item.id, "v": value, "t": text} for item, value, text in answers], ensure_ascii=False)}
        statement, constants = _pg_record_sql(guard is not None, keyed)
        return connection.exec_driver_sql(statement, {**params, **constants}).scalar_one_or_none()
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
                    source: str = "web", wave: int | None = None, evidence: Mapping | None = None) -> Receipt:
    """Validate one submission and store it with its answers in one committed transaction.

    evidence: the web form's quality columns (services.quality.evidence); unknown when None.

    Returns the stored response's Receipt.

    :raise SurveyClosed, TokenUnknown, TokenUsed, InvalidResponse: nothing is stored.
    """
    if not survey.is_open:
        raise SurveyClosed(survey.slug)
    if survey.access == ACCESS_INVITATION and not token and source == "web":
        raise TokenRequired(survey.slug)
    token_row = find_token(session, survey, token) if token else None
    if token_row is not None and token_row.used_at is not None:
        raise TokenUsed(token)
    snap = snapshot.take(survey)
    answers, contact = _validated(snap, data)
    wave_id = snap.wave_id(wave)
    try:
        with write_transaction(session):  # the writers' turn comes before the token's UPDATE
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
                      "token_id": token_row.id if token_row is not None else None, "packed": _packed(answers),
                      **_evidence(evidence)}
            response_id = _insert_response(session, values, answers)
            if contact:
                store_contact(session, response_id, contact)
    except IntegrityError:
        if token_row is not None:
            raise TokenUsed(token) from None
        raise
    return _receipt(response_id, values)


def _evidence(evidence: Mapping | None) -> dict:
    """The quality columns of a response row: the given evidence, unknown (None) for anything missing."""
    return {name: (evidence or {}).get(name) for name in quality.NO_EVIDENCE}


def _receipt(response_id: int, values: dict) -> Receipt:
    return Receipt(response_id, values["survey_id"], values["wave_id"], values["created_at"], values["locale"],
                   values["source"], values["token_id"])


def submit(session: Session, slug: str, data, *, locale: str = "en", token: str | None = None, source: str = "web",
           wave: int | None = None, key_hash: str | None = None, evidence: Mapping | None = None) -> Receipt:
    """Record one submission to the survey at `slug`: the respondent's and the API's path.

    It is validated against this process's snapshot of the survey and stored by one INSERT that checks, as it
    writes, that the survey is still open at that revision and that the API key (by hash, if given) may submit:
    so the common case runs no other query. When that check fails, or an invitation token is involved, the survey
    is loaded and record_response stores the response or says exactly why not. Returns the stored response's
    Receipt.

    evidence: the web form's quality columns (services.quality.evidence), stored by the same INSERT; the API
    has none (unknown).

    An invitation-only survey takes web submissions only with a token (TokenRequired); API keys and imports
    are trusted sources and are not asked for one.

    :raise SurveyNotFound, KeyRefused, SurveyClosed, TokenRequired, TokenUnknown, TokenUsed, InvalidResponse:
        nothing is stored.
    """
    snap = snapshot.by_slug(session, slug)
    if snap is not None and snap.is_open and not token and (snap.access != ACCESS_INVITATION or source != "web"):
        try:
            answers, contact = _validated(snap, data)
            wave_id = snap.wave_id(wave)
        except InvalidResponse:
            if snapshot.by_slug(session, slug, fresh=True) is snap:
                raise
        else:
            values = {"survey_id": snap.survey_id, "wave_id": wave_id, "created_at": utcnow(),
                      "locale": str(locale), "complete": True, "source": source, "token_id": None,
                      "packed": _packed(answers), **_evidence(evidence)}
            with write_transaction(session):
                response_id = _insert_response(session, values, answers,
                                               guard={"revision": snap.revision, "key_hash": key_hash})
                if response_id is not None and contact:
                    store_contact(session, response_id, contact)
            if response_id is not None:
                return _receipt(response_id, values)
    survey = get_survey(session, slug)
    if survey is None:
        raise SurveyNotFound(slug)
    if key_hash is not None:
        key = find_key_by_hash(session, key_hash)
        if key is None or not key.allows(survey.id, SUBMIT):
            raise KeyRefused(slug)
    return record_response(session, survey, data, locale=locale, token=token, source=source, wave=wave,
                           evidence=evidence)


def record_responses_bulk(session: Session, survey: Survey, rows: Iterable[Mapping], *, wave: int | None = None,
                          source: str = "import", locale: str = "en") -> int:
    """Validate many rows and insert them all in one transaction with batched INSERTs; return the count.

    A row may carry "created_at" (datetime) and "locale" besides question codes. Nothing is stored if any row is
    invalid. Callers loading millions of rows call this once per chunk (one transaction per chunk).

    :raise InvalidRows: row index -> InvalidResponse for every bad row.
    """
    snap = snapshot.take(survey)
    wave_id = snap.wave_id(wave)
    rows = list(rows)
    validated, bad = [], {}
    for index, row in enumerate(rows):
        try:
            validated.append(validate(snap, row))
        except InvalidResponse as err:
            bad[index] = err
    if bad:
        raise InvalidRows(bad)
    if not rows:
        return 0
    now = utcnow()
    with write_transaction(session):
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
    return len(ids)
