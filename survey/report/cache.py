"""The report store: the last finished report of every survey view, shared by all workers and app servers.

A finished report is a row of ``report_snapshot`` (the pickled, frozen ReportEntry and the response count it
was computed from). Opening a view:

- the process keeps the entries it has read (``CACHE``); a cheap probe (DataVersion) says whether the survey
  got responses since, without counting every row;
- a current snapshot is shown at once; a stale one is shown at once too, marked "updated N s ago, M new
  responses, refreshing", while one refresh runs;
- a refresh is *claimed* in the snapshot row (an atomic UPDATE where no live claim exists and the last
  computation is older than ``REPORT_REFRESH_SECONDS``), so however many workers, app servers and managers open
  the view, one computation runs per view at a time; a claim left by a killed worker expires after
  ``REPORT_CLAIM_SECONDS`` and the next open takes it over;
- the claimed computation runs as a job (survey.jobs: RQ on Redis when ``REDIS_URL`` is set, else a thread
  of this process); a request with no report to show waits up to ``REPORT_WAIT_SECONDS`` and otherwise gets a
  progress page that refreshes itself;
- a published report holds point estimates ("point" phase); its *second pass* (bootstrap intervals, the other
  estimator's second opinion, fair group comparisons: ``survey.report.inference``) is claimed the same way in
  the row's ``interval_*`` columns, once per data version, and runs as a slow-lane job that records its
  progress (draws done of total) in the row and then publishes the entry again, now "full", at the same data
  count. A second pass left by a dead worker is taken over when its claim expires; one that failed is not
  retried until the data change.
"""
from __future__ import annotations

import copyreg
import hashlib
import logging
import pickle
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import sqlalchemy as sa
from flask import current_app

from survey import jobs
from survey.report import compute
from survey.services.reading import responses_frame
from survey.storage.db import db, write_transaction
from survey.storage.tables import ReportSnapshot, Response, Survey, utcnow

log = logging.getLogger(__name__)

def _proxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


# Frozen results hold mapping proxies; they pickle as the plain dicts they wrap.
copyreg.pickle(MappingProxyType, lambda proxy: (_proxy, (dict(proxy),)))

REFRESH_JOB = "survey.report.cache:refresh_job"
INTERVAL_JOB = "survey.report.cache:interval_job"
POLL_SECONDS = 0.05


class ReportCache:
    """This process's copies of report entries it has read (least recently used dropped beyond max_entries).

    A copy is only a shortcut: the snapshot table is the shared truth, and every copy is checked against it
    (or against the data version probe) before it is shown.
    """

    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        """Return the entry kept for key (marking it recently used) or None."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key, entry) -> None:
        """Keep an entry, dropping the least recently used beyond max_entries."""
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept entry (tests; the snapshot table still holds the shared reports)."""
        with self.lock:
            self.entries.clear()


CACHE = ReportCache()


@dataclass(frozen=True)
class Staleness:
    """How far a shown report is behind the survey's data."""

    updated_at: datetime
    new_responses: int
    refreshing: bool

    @property
    def seconds(self) -> int:
        return max(0, int((utcnow() - _aware(self.updated_at)).total_seconds()))


@dataclass
class ReportState:
    """What the report view renders: ready data (possibly stale), a computation under way, or a failure."""

    status: str  # "ready" | "pending" | "failed"
    entry: compute.ReportEntry | None = None
    n: int = 0
    elapsed: float = 0.0
    error: str | None = None
    stale: Staleness | None = None
    intervals: "SecondPass | None" = None  # the second pass of a "point" entry, while it runs or after it failed


@dataclass(frozen=True)
class SecondPass:
    """Where the second pass of a shown report is: running (draws done of total) or failed."""

    status: str  # "running" | "failed"
    done: int = 0
    total: int = 0
    error: str | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


@dataclass(frozen=True)
class DataVersion:
    """What a report was computed from: the survey's response count plus a cheap tail probe.

    Responses are append-only, so a survey's data changed iff its count grew. Counting is O(n) (140 ms at
    1M rows on PostgreSQL), so a reopen first counts only this survey's responses among the newest
    ``TAIL_IDS`` ids (a primary-key range scan); unchanged → the entry is current. Only a transaction that
    stays uncommitted while TAIL_IDS later responses commit could slip past the probe.
    """

    count: int
    tail_start: int
    tail_count: int


TAIL_IDS = 10_000


def response_count(session, survey_id: int, after_id: int = 0) -> int:
    """Stored responses of the survey (with id > after_id)."""
    query = sa.select(sa.func.count()).select_from(Response).where(Response.survey_id == survey_id)
    if after_id:
        query = query.where(Response.id > after_id)
    return session.scalar(query) or 0


def data_version(session, survey_id: int) -> DataVersion:
    """The exact version of a survey's responses, with a fresh tail window for cheap rechecks."""
    top = session.scalar(sa.select(sa.func.max(Response.id))) or 0
    start = max(0, top - TAIL_IDS)
    return DataVersion(response_count(session, survey_id), start, response_count(session, survey_id, start))


def view_key(survey: Survey, wave, segment) -> str:
    """Key of a report view: filters, whether flagged responses are left out, the estimator, plus a digest of the
    questionnaire and scale (edits make a new view) and the survey's erasure count (after an erasure the response
    count may return to an old value; the data did not)."""
    parts = repr((wave, segment, survey.scale_min, survey.scale_max, str(survey.created_at), survey.erasures,
                  survey.estimator, survey.exclude_flagged,
                  [(q.id, q.code, q.construct, q.kind, q.text_en, q.text_zh) for q in survey.active_questions]))
    return hashlib.sha256(parts.encode()).hexdigest()[:40]


def _local_key(survey: Survey, key: str) -> tuple:
    return (current_app.config["SQLALCHEMY_DATABASE_URI"], survey.id, key)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes that are UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _snapshot_meta(session, survey_id: int, key: str):
    """The snapshot row's bookkeeping (no payload), or None when the view was never opened."""
    t = ReportSnapshot
    return session.execute(sa.select(t.id, t.data_count, t.computed_at, t.claim_until, t.claimed_at, t.error,
                                     t.interval_count, t.interval_claim_until, t.interval_done, t.interval_total,
                                     t.interval_error)
                           .where(t.survey_id == survey_id, t.view_key == key)).first()


def _load_entry(session, snapshot_id: int) -> compute.ReportEntry | None:
    payload = session.scalar(sa.select(ReportSnapshot.payload).where(ReportSnapshot.id == snapshot_id))
    return pickle.loads(payload) if payload is not None else None


def _ensure_row(session, survey_id: int, key: str) -> None:
    """Create the view's snapshot row once (concurrent creators: one wins, the others find it)."""
    if _snapshot_meta(session, survey_id, key) is not None:
        return
    try:
        with write_transaction(session):
            session.execute(sa.insert(ReportSnapshot).values(survey_id=survey_id, view_key=key))
    except sa.exc.IntegrityError:
        pass  # created meanwhile by another worker


def claim_refresh(session, survey_id: int, key: str, count: int) -> datetime | None:
    """Take the view's refresh claim if no live claim exists and the stored report holds fewer than ``count``
    responses and the last computation is older than REPORT_REFRESH_SECONDS; return the claim's time (which
    names it) when this caller now owns the computation, else None. The freshness test is part of the one
    UPDATE, so a report published between a reader's look and its claim is not computed again."""
    config = current_app.config
    now = utcnow()
    t = ReportSnapshot
    interval = timedelta(seconds=float(config.get("REPORT_REFRESH_SECONDS", 30)))
    condition = sa.and_(t.survey_id == survey_id, t.view_key == key,
                        sa.or_(t.claim_until.is_(None), t.claim_until < now),
                        sa.or_(t.data_count.is_(None), t.data_count < count),
                        sa.or_(t.computed_at.is_(None), t.computed_at <= now - interval))
    claim = timedelta(seconds=float(config.get("REPORT_CLAIM_SECONDS", 900)))
    with write_transaction(session):
        taken = session.execute(sa.update(t).where(condition).values(claim_until=now + claim, claimed_at=now)
                                .execution_options(synchronize_session=False))
    return now if taken.rowcount == 1 else None


def request_refresh(session, survey: Survey, wave, segment, key: str, count: int) -> bool:
    """Claim the view's refresh (data of ``count`` responses) and hand it to a job; return whether a
    computation is now under way."""
    _ensure_row(session, survey.id, key)
    claimed = claim_refresh(session, survey.id, key, count)
    if claimed is not None:
        jobs.enqueue(REFRESH_JOB, survey.id, wave, list(segment) if segment else None, key, claimed.isoformat())
        return True
    meta = _snapshot_meta(session, survey.id, key)
    return meta is not None and meta.claim_until is not None and _aware(meta.claim_until) > utcnow()


def _release(claimed: str | None):
    """claim_until's new value: released (NULL) only while the claim is still the one this job was given
    (``claimed``: its claimed_at); a job that outlived its claim must not release the live claim of the job
    that took over."""
    t = ReportSnapshot
    if claimed is None:  # a job enqueued before claims were named
        return None
    return sa.case((t.claimed_at == datetime.fromisoformat(claimed), None), else_=t.claim_until)


def refresh_job(survey_id: int, wave, segment, key: str, claimed: str | None = None) -> None:
    """The job: compute one survey view from its stored responses and publish it (runs in an app context).

    The data version is taken before the responses are read, so a snapshot never claims more data than it
    holds. A failure is recorded on the row (the last good report stays) and the claim released.
    """
    session = db.session
    segment = tuple(segment) if segment else None
    try:
        survey = session.get(Survey, survey_id)
        version = data_version(session, survey_id)
        info = compute.survey_info(survey)
        entry = _from_moments(session, survey, info, wave, segment, version.count, key)
        if entry is None:
            frame = responses_frame(session, survey, None, segment)
            session.rollback()  # end the read transaction before the long computation
            entry = compute.compute_report(frame, info, wave=wave, segment=segment)
            del frame
        entry = entry.with_version(version)
        payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        t = ReportSnapshot
        with write_transaction(session):
            session.execute(sa.update(t).where(
                t.survey_id == survey_id, t.view_key == key,
                sa.or_(t.data_count.is_(None), t.data_count <= version.count),
            ).values(payload=payload, data_count=version.count, computed_at=utcnow(), claim_until=_release(claimed),
                     error=None).execution_options(synchronize_session=False))
        if entry.phase == "point" and second_pass_enabled():
            request_intervals(session, survey_id, wave, segment, key, version.count)
    except Exception as err:
        log.exception("report computation failed")
        session.rollback()
        with write_transaction(session):
            session.execute(sa.update(ReportSnapshot).where(
                ReportSnapshot.survey_id == survey_id, ReportSnapshot.view_key == key,
            ).values(claim_until=_release(claimed), error=f"{type(err).__name__}: {err}"[:2000])
                .execution_options(synchronize_session=False))


def _from_moments(session, survey: Survey, info: dict, wave, segment, count: int, key: str | None = None):
    """The view computed from the survey's in-database moments (survey.report.moments), brought up to date
    first; None where the rows are needed: a small survey (fewer than REPORT_MOMENTS_MIN_RESPONSES responses,
    whose rows are cheap), flagged responses left out (the flags are judged on every row), too few responses
    for a fit, or a fit that fails (the row path then explains it)."""
    from model import ModelError
    from survey.report import moments
    from survey.services.reading import recent_comments_frame

    threshold = current_app.config.get("REPORT_MOMENTS_MIN_RESPONSES", 20_000)
    spec = compute.spec_for(info)
    if threshold is None or count < int(threshold) or info.get("exclude_flagged") or spec is None:
        return None
    layout = moments.layout_for(info, spec)
    # a first build (or a rebuild after an edit) reads every response here, in blocks: at 1,000,000 responses
    # that is faster than the row path and holds ~150 MB instead of ~2 GB
    done = moments.update(session, survey, info, spec)
    every, segments = moments.load_all(session, survey.id, done["basis"], layout)
    wave_ids = {w.number: w.id for w in survey.waves}
    cells = (segments.get(segment[0], {}).get(segment[1]) or moments.Cells.empty(layout)) if segment else every
    if cells.of_wave(None if wave is None else wave_ids.get(wave, -1)).count < compute.model.min_responses(spec):
        return None
    comments = recent_comments_frame(session, survey, compute.COMMENTS_WINDOW)
    meta = _snapshot_meta(session, survey.id, key) if key else None
    previous = _load_entry(session, meta.id) if meta is not None and meta.computed_at is not None else None
    session.rollback()  # end the read transaction before the fit
    try:
        return compute.compute_from_moments(every, segments, info, wave=wave, wave_ids=wave_ids, segment=segment,
                                            comments=comments if len(comments) else None,
                                            start=previous.result_obj if previous is not None else None)
    except ModelError:
        return None


def moments_job(survey_id: int) -> dict | None:
    """Bring a survey's in-database moments up to date (a first build reads every response in blocks; the
    ``moments`` command runs it after a bulk load); return what moments.update did (None: no such survey, or a
    construct without items)."""
    from survey.report import moments

    session = db.session
    survey = session.get(Survey, survey_id)
    if survey is None:
        return None
    info = compute.survey_info(survey)
    spec = compute.spec_for(info)
    if spec is None:
        return None
    done = moments.update(session, survey, info, spec)
    log.info("moments of survey %s: %s responses read in %.1f s", survey_id, done["read"], done["seconds"])
    return done


def second_pass_enabled() -> bool:
    """Whether published reports get a second pass (REPORT_SECOND_PASS, default on)."""
    return bool(current_app.config.get("REPORT_SECOND_PASS", True))


def claim_intervals(session, survey_id: int, key: str, count: int) -> bool:
    """Take the second-pass claim of the view's stored report of ``count`` responses; return whether this
    caller now owns it. Claimable where no second pass of that data version has run (or one of an older
    version is still running: it is superseded) or its claim expired; one that finished or failed is not
    run again for the same data."""
    config = current_app.config
    now = utcnow()
    t = ReportSnapshot
    condition = sa.and_(t.survey_id == survey_id, t.view_key == key, t.data_count == count,
                        sa.or_(t.interval_count.is_(None), t.interval_count < count,
                               sa.and_(t.interval_claim_until.is_not(None), t.interval_claim_until < now)))
    claim = timedelta(seconds=float(config.get("REPORT_CLAIM_SECONDS", 900)))
    with write_transaction(session):
        taken = session.execute(sa.update(t).where(condition).values(
            interval_count=count, interval_claim_until=now + claim, interval_done=0,
            interval_total=int(config.get("REPORT_BOOTSTRAP_DRAWS", 1000)), interval_error=None))
    return taken.rowcount == 1


def request_intervals(session, survey_id: int, wave, segment, key: str, count: int) -> bool:
    """Claim the second pass of the stored report (``count`` responses) and hand it to a slow-lane job;
    return whether this caller started it."""
    if not claim_intervals(session, survey_id, key, count):
        return False
    jobs.enqueue(INTERVAL_JOB, survey_id, wave, list(segment) if segment else None, key, count, lane="slow")
    return True


class _Superseded(Exception):
    """The second pass's claim was taken over (newer data, or an expired claim): stop."""


def interval_job(survey_id: int, wave, segment, key: str, count: int) -> None:
    """The job: add the second pass to the view's stored report of ``count`` responses and publish it again.

    Draws done are written to the row as they finish; the result is published only while the stored report
    is still of ``count`` responses and the claim is still this job's. A failure is recorded in
    ``interval_error`` (the point estimates stay) and the claim released.
    """
    from survey.report import inference

    session = db.session
    segment = tuple(segment) if segment else None
    config = current_app.config
    t = ReportSnapshot
    mine = sa.and_(t.survey_id == survey_id, t.view_key == key, t.data_count == count, t.interval_count == count)

    def progress(done: int, total: int) -> None:
        with write_transaction(session):
            moved = session.execute(sa.update(t).where(mine).values(interval_done=done, interval_total=total))
        if moved.rowcount != 1:
            raise _Superseded

    try:
        meta = _snapshot_meta(session, survey_id, key)
        if meta is None or meta.data_count != count:
            return  # the row moved on: its new report gets its own second pass
        entry = _load_entry(session, meta.id)
        survey = session.get(Survey, survey_id)
        info = compute.survey_info(survey)
        frame = responses_frame(session, survey, None, segment)
        session.rollback()  # end the read transaction before the long computation
        workers = config.get("REPORT_BOOTSTRAP_WORKERS")
        full = inference.second_pass(
            entry, frame, info, draws=int(config.get("REPORT_BOOTSTRAP_DRAWS", 1000)),
            seed=inference.seed_for(survey_id, key, count), workers=int(workers) if workers else None,
            compare=bool(config.get("REPORT_COMPARE_GROUPS", True)), min_n=compute.MIN_SEGMENT_N,
            progress=progress)
        del frame
        payload = pickle.dumps(full, protocol=pickle.HIGHEST_PROTOCOL)
        with write_transaction(session):
            session.execute(sa.update(t).where(mine).values(payload=payload, interval_claim_until=None,
                                                            interval_error=None))
    except _Superseded:
        session.rollback()
    except Exception as err:
        log.exception("report second pass failed")
        session.rollback()
        with write_transaction(session):
            session.execute(sa.update(t).where(mine).values(
                interval_claim_until=None, interval_error=f"{type(err).__name__}: {err}"[:2000]))


def _second_pass_state(session, survey: Survey, wave, segment, key: str, local, entry):
    """The entry to show (the full one once its second pass is published) and the second pass's state."""
    if entry.phase != "point" or not second_pass_enabled():
        return entry, None
    meta = _snapshot_meta(session, survey.id, key)
    if meta is None or meta.data_count != entry.version.count:
        return entry, None  # a newer report is being published; it gets its own second pass
    count = meta.data_count
    if meta.interval_count == count and meta.interval_claim_until is None:
        if meta.interval_error:
            return entry, SecondPass("failed", error=meta.interval_error)
        fresh = _load_entry(session, meta.id)
        if fresh is not None and fresh.phase == "full":
            entry = fresh.with_version(entry.version)
            CACHE.put(local, entry)
            return entry, None
    live = (meta.interval_count == count and meta.interval_claim_until is not None
            and _aware(meta.interval_claim_until) > utcnow())
    if not live and request_intervals(session, survey.id, wave, segment, key, count):
        meta = _snapshot_meta(session, survey.id, key)
    return entry, SecondPass("running", meta.interval_done or 0, meta.interval_total or 0)


def _wait_for(session, survey_id: int, key: str, count: int, seconds: float):
    """Poll the snapshot row until it holds data of at least ``count`` responses or fails; its meta or None."""
    deadline = time.monotonic() + seconds
    while True:
        session.rollback()  # see other transactions' commits (PostgreSQL snapshot, SQLite read lock)
        meta = _snapshot_meta(session, survey_id, key)
        if meta is not None and meta.computed_at is not None and (meta.data_count or 0) >= count:
            return meta
        if meta is not None and meta.error and meta.claim_until is None:
            return meta
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def open_report(session, survey: Survey, wave: int | None = None, segment: tuple | None = None, *,
                wait: float | None = None) -> ReportState:
    """Return the report of a survey view: current, or the last one with a refresh under way, or pending.

    ``wait``: seconds to wait for a report when there is none yet (default REPORT_WAIT_SECONDS); a stale
    report waits REPORT_STALE_WAIT_SECONDS (default 0: shown at once) for its refresh.
    """
    config = current_app.config
    key = view_key(survey, wave, segment)
    local = _local_key(survey, key)
    entry = CACHE.get(local)
    if entry is not None and response_count(session, survey.id, entry.version.tail_start) == entry.version.tail_count:
        if entry.phase != "point" or not second_pass_enabled():
            return ReportState("ready", entry, n=entry.n)
        return _ready(session, survey, wave, segment, key, local, entry)
    version = data_version(session, survey.id)
    meta = _snapshot_meta(session, survey.id, key)
    if meta is not None and meta.computed_at is not None:
        if entry is None or entry.version.count != meta.data_count:
            entry = _load_entry(session, meta.id)
        if meta.data_count == version.count:
            entry = entry.with_version(version)  # same data; the probe window moves forward
            CACHE.put(local, entry)
            return _ready(session, survey, wave, segment, key, local, entry)
        CACHE.put(local, entry)
        refreshing = request_refresh(session, survey, wave, segment, key, version.count)
        stale_wait = float(config.get("REPORT_STALE_WAIT_SECONDS", 0))
        if refreshing and stale_wait > 0 and (fresh := _wait_for(session, survey.id, key, version.count,
                                                                  stale_wait)) is not None and not fresh.error:
            entry = _load_entry(session, fresh.id).with_version(version)
            CACHE.put(local, entry)
            return _ready(session, survey, wave, segment, key, local, entry)
        return ReportState("ready", entry, n=entry.n, stale=Staleness(
            meta.computed_at, version.count - (meta.data_count or 0), refreshing))
    refreshing = request_refresh(session, survey, wave, segment, key, version.count)
    if wait is None:
        wait = float(config.get("REPORT_WAIT_SECONDS", 1.0))
    meta = _wait_for(session, survey.id, key, version.count, wait) if refreshing else _snapshot_meta(
        session, survey.id, key)
    if meta is not None and meta.computed_at is not None:
        entry = _load_entry(session, meta.id).with_version(version)
        CACHE.put(local, entry)
        return _ready(session, survey, wave, segment, key, local, entry)
    if meta is not None and meta.error and meta.claim_until is None:
        return ReportState("failed", n=version.count, error=meta.error)
    meta = meta or _snapshot_meta(session, survey.id, key)
    started = _aware(meta.claimed_at) if meta is not None and meta.claimed_at is not None else utcnow()
    return ReportState("pending", n=version.count, elapsed=(utcnow() - started).total_seconds())


def _ready(session, survey: Survey, wave, segment, key: str, local, entry) -> ReportState:
    """A current report, with its second pass's state (started here if nobody runs it)."""
    entry, intervals = _second_pass_state(session, survey, wave, segment, key, local, entry)
    return ReportState("ready", entry, n=entry.n, intervals=intervals)
