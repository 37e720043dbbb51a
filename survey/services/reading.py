"""Reading stored responses back: row dicts for the API and exports, a pandas frame for the report, counts."""
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from survey.storage import packing
from survey.services import quality, snapshot
from survey.exceptions import InvalidResponse
from survey.storage.tables import MULTI, SCALE, TEXT, Answer, Response, Survey, Wave
from survey.services.validation import MULTI_SEPARATOR


def _response_filter(snap: snapshot.Snapshot, survey: Survey, wave: int | None) -> list:
    """Return WHERE clauses selecting the complete responses of a survey (and one wave)."""
    clauses = [Response.survey_id == survey.id, Response.complete.is_(True)]
    if wave is not None:
        clauses.append(Response.wave_id == snap.wave_id(wave))
    return clauses


def _aware(moment: datetime) -> datetime:
    """Return the time as aware UTC (SQLite hands back naive datetimes)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def fetch_raw(connection, statement) -> list[tuple]:
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


def _decoded_answers(session: Session, snap: snapshot.Snapshot, ids: np.ndarray, blobs: list) -> dict:
    """{question code: column} of the packed answers of the responses ``ids`` (text questions: all None)."""
    n = len(ids)
    legacy = [i for i, blob in enumerate(blobs) if blob is None]
    if legacy:
        for i, blob in zip(legacy, _unpacked_from_answers(session, snap, ids[legacy])):
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
    return {item.code: _decoded_column(item, matrix[j]) if item.kind != TEXT else np.full(n, None, object)
            for j, item in enumerate(snap.items)}


def coded_frame(session: Session, survey: Survey, *, after_id: int | None = 0, up_to: int | None = None,
                ids=()) -> pd.DataFrame:
    """The complete responses of the survey with after_id < id <= up_to (none when after_id is None), plus those
    with an id in ``ids``: columns response_id, wave_id, then every active non-text question as in
    ``responses_frame`` (no text, no quality flags: what the in-database moments count, a block at a time)."""
    snap = snapshot.take(survey)
    listed = Response.id.in_(sorted(int(i) for i in ids))
    if after_id is None:
        window = listed
    else:
        window = Response.id > after_id
        if up_to is not None:
            window = sa.and_(window, Response.id <= up_to)
        if ids:
            window = sa.or_(window, listed)
    rows = fetch_raw(session.connection(), sa.select(Response.id, Response.wave_id, Response.packed)
                      .where(*_response_filter(snap, survey, None), window).order_by(Response.id))
    n = len(rows)
    response_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    frame = pd.DataFrame({"response_id": response_ids,
                          "wave_id": np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)})
    data = _decoded_answers(session, snap, response_ids, [r[2] for r in rows])
    del rows
    texts = {item.code for item in snap.items if item.kind == TEXT}
    return pd.concat([frame, pd.DataFrame({k: v for k, v in data.items() if k not in texts})], axis=1)


def recent_comments_frame(session: Session, survey: Survey, limit: int = 1000, code: str = "comment") -> pd.DataFrame:
    """The newest ``limit`` complete responses with a non-empty ``code`` text answer, as ``coded_frame`` rows plus
    wave (number), created_at and the comment: what the report's comments list needs without reading every row."""
    snap = snapshot.take(survey)
    item = snap.item(code)
    if item is None or item.kind != TEXT:
        return pd.DataFrame()
    texts = dict(session.execute(
        sa.select(Answer.response_id, Answer.text).join(Response, Response.id == Answer.response_id)
        .where(Answer.question_id == item.id, Answer.text.is_not(None), Answer.text != "",
               Response.complete.is_(True))
        .order_by(Answer.response_id.desc()).limit(limit)).all())
    if not texts:
        return pd.DataFrame()
    frame = coded_frame(session, survey, after_id=None, ids=list(texts))
    meta = dict(session.execute(sa.select(Response.id, Response.created_at).where(Response.id.in_(list(texts)))).all())
    number = {wid: n for n, wid in snap.waves.items()}
    frame["wave"] = frame["wave_id"].map(number)
    frame["created_at"] = pd.to_datetime([_aware(meta[i]) for i in frame["response_id"]], utc=True)
    frame[code] = [texts[i] for i in frame["response_id"]]
    return frame


def responses_frame(session: Session, survey: Survey, wave: int | None = None, segment=None) -> pd.DataFrame:
    """Return one row per complete response: response_id, created_at (UTC), wave, locale, source, duration_ms
    (float, NaN when unknown), then one column per active question code in questionnaire order (scale items
    float with NaN for don't know or unanswered; other questions str or None; multi choices joined with ';'),
    then the boolean quality.FLAG_COLUMNS (judged against the whole survey, before any segment filter).

    wave is a wave number; segment is {code: value} or (code, value) on a choice or yes/no question.
    """
    snap = snapshot.take(survey)
    clauses = _response_filter(snap, survey, wave)
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    # PostgreSQL: epoch seconds (a million aware datetimes take seconds to convert); SQLite: ISO text
    created = sa.cast(sa.extract("epoch", Response.created_at), sa.Float) if postgresql else Response.created_at
    # No join to wave: SQLite would nest a wave scan inside the million-row scan; numbers are mapped below.
    rows = fetch_raw(connection, (
        sa.select(Response.id, created, Response.wave_id, Response.locale, Response.source, Response.packed,
                  Response.duration_ms, Response.device_hash, Response.client_hash)
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
        "duration_ms": np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=np.float64),
    })
    blobs = [r[5] for r in rows]
    device, client = [r[7] for r in rows], [r[8] for r in rows]
    del rows
    data = _decoded_answers(session, snap, frame["response_id"].to_numpy(), blobs)
    texts = [item for item in snap.items if item.kind == TEXT]
    if texts and n:
        where = {item.id: item.code for item in texts}
        ids = frame["response_id"].to_numpy()
        # Questions belong to one survey, so no join: answers of responses outside the frame (incomplete,
        # another wave) are dropped by looking their id up in the sorted ids.
        found = fetch_raw(connection, sa.select(Answer.response_id, Answer.question_id, Answer.text)
                           .where(Answer.question_id.in_(list(where))))
        if found:
            rids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
            at = np.minimum(np.searchsorted(ids, rids), n - 1)
            for (rid, qid, text), i, hit in zip(found, at.tolist(), (ids[at] == rids).tolist()):
                if hit:
                    data[where[qid]][i] = text
    frame = pd.concat([frame, pd.DataFrame(data, index=frame.index)], axis=1)
    frame = pd.concat([frame, quality.flag_responses(frame, snap.items, device, client)], axis=1)
    frame.attrs[quality.THRESHOLD_ATTR] = quality.speeder_threshold_ms(frame["duration_ms"])  # survey-wide
    if segment:
        code, value = next(iter(segment.items())) if isinstance(segment, Mapping) else segment
        if snap.item(code) is None:
            raise InvalidResponse({code: "invalid_choice"})
        frame = frame[frame[code] == str(value)].reset_index(drop=True)
    return frame


def iter_responses(session: Session, survey: Survey, *, wave: int | None = None, after_id: int | None = None,
                   limit: int | None = None, batch_size: int = 500, dont_know=None) -> Iterator[dict]:
    """Yield complete responses as plain dicts in id order, a batch at a time (for exports and paging).

    Keys: response_id, created_at (aware UTC), wave, locale, source, and every active question code (scale ->
    int, `dont_know` for a stored "don't know", None when unanswered; multi -> list of str; others -> str or
    None). The questionnaire is read when this is called, so the iterator can be consumed later (a streamed
    download).
    """
    snap = snapshot.take(survey)
    return _iter_batches(session, snap, _response_filter(snap, survey, wave), after_id or 0, limit, batch_size,
                         dont_know)


def _iter_batches(session, snap, clauses, last, remaining, batch_size, dont_know=None) -> Iterator[dict]:
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
                rows[rid][item.code] = dont_know if value is None else value
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
