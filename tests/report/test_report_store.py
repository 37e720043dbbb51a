"""The shared report store on both databases: one computation per view across app servers, the last report
served while it refreshes, claims taken over after a dead worker, and jobs on a real RQ queue in Redis."""
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey import services
from survey.report import cache, compute
from survey.storage.tables import ReportSnapshot, utcnow

URL = "/manage/surveys/demo/report"
REDIS = os.environ.get("CSI_TEST_REDIS", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]


def counting(monkeypatch, delay: threading.Event | None = None):
    """Count report computations (optionally holding each one until `delay` is set)."""
    calls = []
    real = compute.compute_report

    def wrapped(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if delay is not None:
            delay.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "compute_report", wrapped)
    return calls


@pytest.fixture
def second_server(app, manager):
    """Another app object on the same database: what a second app server (or gunicorn worker) sees."""
    from survey import create_app
    from survey.storage.db import db

    other = create_app({k: app.config[k] for k in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                                   "WTF_CSRF_ENABLED", "PASSWORD_HASH_METHOD")})
    other.config.update({k: v for k, v in app.config.items() if k.startswith("REPORT_")})
    client = other.test_client()
    assert client.post("/auth/login", data={"email": "manager@example.com",
                                            "password": "correct horse battery"}).status_code == 302
    yield client
    with other.app_context():
        db.engine.dispose()


def add_response(db_session, demo):
    frame = services.responses_frame(db_session, demo)
    row = frame.drop(columns=["response_id", "created_at", "wave", "locale", "source"]).iloc[0].to_dict()
    services.record_response(db_session, demo, {k: v for k, v in row.items() if v is not None and v == v})


def test_a_report_computed_by_one_server_is_served_by_another(client, manager, demo, second_server, monkeypatch):
    calls = counting(monkeypatch)
    first = client.get(URL + ".json").get_json()
    cache.CACHE.clear()  # the other server has nothing in memory
    other = second_server
    assert other.get(URL + ".json").get_json() == first
    assert other.get(URL).status_code == 200
    assert len(calls) == 1


def test_concurrent_opens_on_two_servers_compute_once(client, manager, demo, app, second_server, monkeypatch):
    release = threading.Event()
    calls = counting(monkeypatch, release)
    app.config["REPORT_WAIT_SECONDS"] = 0.05
    other = second_server
    other.application.config["REPORT_WAIT_SECONDS"] = 0.05
    statuses = []
    threads = [threading.Thread(target=lambda c=c: statuses.append(c.get(URL).status_code))
               for c in (client, other, client, other)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert statuses == [202] * 4  # all pending on the one computation
    release.set()
    app.config["REPORT_WAIT_SECONDS"] = other.application.config["REPORT_WAIT_SECONDS"] = 20
    assert client.get(URL).status_code == 200 and other.get(URL).status_code == 200
    assert len(calls) == 1


def test_stale_report_is_served_at_once_while_one_refresh_runs(client, manager, demo, app, db_session,
                                                               monkeypatch):
    assert client.get(URL).status_code == 200
    release = threading.Event()
    calls = counting(monkeypatch, release)
    app.config.update(REPORT_STALE_WAIT_SECONDS=0, REPORT_REFRESH_SECONDS=0)
    add_response(db_session, demo)
    t0 = time.monotonic()
    pages = [client.get(URL + "?lang=en") for _ in range(3)]
    assert time.monotonic() - t0 < 5
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'data-new="1"' in html and "Refreshing" in html
        assert "Report on 200 responses" in html  # the latest wave (200 of the 400)
    deadline = time.monotonic() + 20
    while not calls and time.monotonic() < deadline:  # the refresh job reads the responses first
        time.sleep(0.05)
    assert len(calls) == 1  # three opens, one refresh
    release.set()
    deadline = time.monotonic() + 20
    while "data-new=" in (html := client.get(URL + "?lang=en").get_data(as_text=True)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Report on 201 responses" in html and "data-new=" not in html
    assert len(calls) == 1


def test_refreshes_are_not_more_frequent_than_the_interval(client, manager, demo, app, db_session, monkeypatch):
    assert client.get(URL).status_code == 200
    calls = counting(monkeypatch)
    app.config.update(REPORT_STALE_WAIT_SECONDS=0, REPORT_REFRESH_SECONDS=3600)
    add_response(db_session, demo)
    html = client.get(URL + "?lang=en").get_data(as_text=True)
    assert 'data-new="1"' in html and "Refreshing" not in html
    assert calls == []


def test_a_dead_workers_claim_is_taken_over(client, manager, demo, app, db_session, monkeypatch):
    calls = counting(monkeypatch)
    with app.test_request_context():
        key = cache.view_key(demo, demo.current_wave.number, None)  # the default view: the latest wave
    db_session.add(ReportSnapshot(survey_id=demo.id, view_key=key, claim_until=utcnow() + timedelta(hours=1),
                                  claimed_at=utcnow()))
    db_session.commit()
    app.config["REPORT_WAIT_SECONDS"] = 0.05
    assert client.get(URL).status_code == 202  # someone holds the claim
    assert calls == []
    db_session.execute(sa.update(ReportSnapshot).values(claim_until=utcnow() - timedelta(seconds=1)))
    db_session.commit()  # ... and died: its claim expired
    app.config["REPORT_WAIT_SECONDS"] = 20
    assert client.get(URL).status_code == 200
    assert len(calls) == 1


def test_a_job_that_outlived_its_claim_does_not_release_the_claim_that_took_over(app, demo, db_session):
    """Job A's claim expires while it still runs; job B takes over. A publishing must leave B's claim alone (else
    the next open starts a third computation of the same data); B's own publish releases it."""
    with app.app_context():
        key = cache.view_key(demo, None, None)
        cache._ensure_row(db_session, demo.id, key)
        claimed_a = cache.claim_refresh(db_session, demo.id, key, 400)
        assert claimed_a is not None and cache.claim_refresh(db_session, demo.id, key, 400) is None
        db_session.execute(sa.update(ReportSnapshot).values(claim_until=utcnow() - timedelta(seconds=1)))
        db_session.commit()  # A is slow: its claim expired
        claimed_b = cache.claim_refresh(db_session, demo.id, key, 400)
        assert claimed_b is not None and claimed_b != claimed_a
        cache.refresh_job(demo.id, None, None, key, claimed_a.isoformat())  # A finishes
        db_session.rollback()
        row = db_session.scalar(sa.select(ReportSnapshot))
        assert row.data_count == 400 and row.claim_until is not None  # published, and B still holds the claim
        assert cache.claim_refresh(db_session, demo.id, key, 401) is None
        cache.refresh_job(demo.id, None, None, key, claimed_b.isoformat())  # B finishes
        db_session.rollback()
        assert db_session.scalar(sa.select(ReportSnapshot.claim_until)) is None


def test_a_failed_computation_keeps_the_last_report(client, manager, demo, app, db_session, monkeypatch):
    assert client.get(URL).status_code == 200
    app.config.update(REPORT_STALE_WAIT_SECONDS=0, REPORT_REFRESH_SECONDS=0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(compute, "compute_report", broken)
    add_response(db_session, demo)
    assert client.get(URL).status_code == 200  # the last report, while the refresh fails
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = db_session.scalar(sa.select(ReportSnapshot))
        db_session.rollback()
        if row.error:
            break
        time.sleep(0.05)
    assert "disk on fire" in row.error and row.data_count == 400 and row.claim_until is None
    assert "Report on 200 responses" in client.get(URL + "?lang=en").get_data(as_text=True)


@pytest.fixture
def redis_queue(app):
    """A private RQ queue in the test Redis database; skips where no Redis server answers."""
    import redis

    connection = redis.Redis.from_url(REDIS)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as err:
        pytest.skip(f"Redis not reachable at {REDIS}: {err}")
    name = "csi-test-" + secrets.token_hex(4)
    app.config.update(REDIS_URL=REDIS, JOB_QUEUE=name)
    yield name
    from rq import Queue

    Queue(name, connection=connection).delete(delete_jobs=True)
    connection.close()


def test_jobs_go_to_the_redis_queue_and_a_worker_runs_them(client, manager, demo, app, redis_queue):
    from rq import Queue, SimpleWorker

    import redis

    app.config["REPORT_WAIT_SECONDS"] = 0.05
    assert client.get(URL).status_code == 202  # queued; no worker yet
    connection = redis.Redis.from_url(REDIS)
    queue = Queue(redis_queue, connection=connection)
    assert queue.count == 1
    with app.app_context():
        SimpleWorker([queue], connection=connection).work(burst=True)
    assert client.get(URL).status_code == 200
    assert queue.count == 0


def test_the_worker_command_processes_the_queue(client, manager, demo, app, redis_queue):
    app.config["REPORT_WAIT_SECONDS"] = 0.05
    assert client.get(URL).status_code == 202
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": REDIS,
           "SECRET_KEY": "x", "CSI_JOB_QUEUE": redis_queue, "CSI_REPORT_SECOND_PASS": "0"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "survey", "worker", "--burst"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    app.config["REPORT_WAIT_SECONDS"] = 5
    assert client.get(URL).status_code == 200


def test_without_redis_the_app_computes_in_process(client, manager, demo, app, monkeypatch):
    calls = counting(monkeypatch)
    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens: the queue is down
    assert client.get(URL).status_code == 200
    assert len(calls) == 1 and calls[0].startswith("csi-job")
