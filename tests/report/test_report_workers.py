"""Faults of the shared report store with real processes: job workers (``flask --app survey worker``) and app
servers (gunicorn) as subprocesses, a Redis server of the test's own and a throwaway PostgreSQL database.

- a worker killed (SIGKILL, its work horse with it) in the middle of a computation: the claim in the snapshot
  row expires, the next open claims it again and the other worker finishes it; the manager gets the last
  report (200) all along, and the report is published once;
- Redis killed and started again: reports are served from report_snapshot, a refresh runs in the app process
  while the queue is down, and on the queue again once Redis is back;
- two app servers and one worker: responses posted through the API on one server, the report opened on the
  other is computed once by the worker and served by both.
"""
import importlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey import services
from survey.storage.tables import ReportSnapshot

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REPORT_ON = re.compile(r"Report on ([\d,]+) responses")
pytestmark = pytest.mark.parametrize("app", ["postgresql"], indirect=True)  # workers share one server database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, step: float = 0.1):
    """Poll predicate until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class RedisServer:
    """A redis-server of this test only, on a free port, without persistence (a restart starts empty)."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.proc = None

    def start(self):
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        connection = redis.Redis.from_url(self.url)

        def answers():
            try:
                return connection.ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_until(answers, 10, "redis-server to answer", 0.05)
        connection.close()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def connection(self):
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server started for the test (skips where the binary is not installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid: bench/scale_bench.py's reading of /proc."""
    return bench_module("scale_bench").descendants(pid)


class Processes:
    """Subprocesses of a test, each in its own process group (a SIGKILL takes an RQ work horse with it)."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env, self.procs = folder, env, []

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.log_path = log.name
        log.close()  # the child has its own descriptor
        self.procs.append(proc)
        return proc

    def worker(self, name: str) -> subprocess.Popen:
        return self.start(name, str(BIN / "flask"), "--app", "survey", "worker")

    def server(self, name: str, port: int) -> subprocess.Popen:
        return self.start(name, str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
                          "--log-level", "warning", "survey:create_app()")

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL a process and every descendant: an RQ work horse runs in a process group of its own, and
        would finish the job with its parent gone (what a lost machine or the OOM killer does not allow)."""
        for pid in [*descendants(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill(proc)

    def logs(self) -> str:
        return "\n".join(f"--- {Path(p.log_path).name}\n" + Path(p.log_path).read_text(errors="replace")[-1500:]
                         for p in self.procs)


@pytest.fixture
def processes(app, own_redis, tmp_path):
    """Starts workers and servers on the test's database and Redis, on a queue of the test's own."""
    queue = "csi-test-" + secrets.token_hex(4)
    app.config.update(REDIS_URL=own_redis.url, JOB_QUEUE=queue)
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": own_redis.url,
           "CSI_JOB_QUEUE": queue, "SECRET_KEY": app.config["SECRET_KEY"], "CSI_REPORT_SECOND_PASS": "0"}
    procs = Processes(tmp_path, env)
    procs.queue = queue
    yield procs
    procs.stop_all()


def shown_count(page) -> int | None:
    """The response count a report page says it is on (None: not a report)."""
    match = REPORT_ON.search(page.get_data(as_text=True))
    return int(match.group(1).replace(",", "")) if match else None


def add_response(db_session, survey, valid_answers):
    """Store one more complete response (the report becomes stale)."""
    services.record_response(db_session, survey, valid_answers())


def snapshot_row(db_session):
    db_session.rollback()  # a fresh snapshot of the other processes' commits
    return db_session.execute(sa.select(ReportSnapshot.data_count, ReportSnapshot.computed_at,
                                        ReportSnapshot.claim_until, ReportSnapshot.claimed_at)).one()


def registries(redis_server, queue: str):
    from rq import Queue
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

    connection = redis_server.connection()
    q = Queue(queue, connection=connection)
    return q, StartedJobRegistry(queue=q), FinishedJobRegistry(queue=q), FailedJobRegistry(queue=q)


def refresh_jobs(registry) -> list[str]:
    """Ids of the report computations in an RQ registry (submissions also queue case sweeps)."""
    from rq.job import Job

    from survey.report.cache import REFRESH_JOB

    jobs = Job.fetch_many(registry.get_job_ids(), connection=registry.connection)
    return [job.id for job in jobs if job is not None and job.args and job.args[0] == REFRESH_JOB]


def bench_module(name: str):
    """A script of bench/ as a module (its helpers are the tests' too)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def bench_loader():
    """bench/report_bench.py's bulk loader (COPY into PostgreSQL): a survey large enough that its computation
    takes seconds, loaded in a few."""
    return bench_module("report_bench")


BIG = 12_000  # responses: ~3 s of computation on this machine, so the kill lands inside it
CLAIM = 10  # REPORT_CLAIM_SECONDS: longer than the computation, so the taking-over job is not claimed again


def test_a_killed_worker_s_job_is_taken_over_and_the_last_report_stays_served(app, client, manager, db_session,
                                                                              own_redis, processes, valid_answers):
    import numpy as np
    from rq import Worker

    from survey.report.cache import REFRESH_JOB
    from survey.storage.tables import Survey

    workers = {p.pid: p for p in (processes.worker("worker-a"), processes.worker("worker-b"))}  # start meanwhile
    bench_loader().populate(app, BIG, "big", np.random.default_rng(11))
    db_session.execute(sa.text("SELECT setval(pg_get_serial_sequence('response', 'id'), max(id)) FROM response"))
    db_session.commit()  # the loader copies ids in; later responses take the next ones
    survey = db_session.scalar(sa.select(Survey).where(Survey.slug == "big"))
    url = "/manage/surveys/big/report?lang=en"
    app.config.update(REPORT_WAIT_SECONDS=0.05, REPORT_STALE_WAIT_SECONDS=0, REPORT_REFRESH_SECONDS=0,
                      REPORT_CLAIM_SECONDS=120)  # the first report: one computation, however slow to start
    queue, started, finished, failed = registries(own_redis, processes.queue)

    assert client.get(url).status_code == 202  # queued for the workers
    first = wait_until(lambda: shown_count(client.get(url)), 60, "the first report", 0.3)
    assert first == BIG // 2  # the latest wave holds half the responses

    app.config["REPORT_CLAIM_SECONDS"] = CLAIM
    add_response(db_session, survey, valid_answers)
    page = client.get(url)
    assert page.status_code == 200 and shown_count(page) == first and "Refreshing" in page.get_data(as_text=True)

    def busy_worker():  # the one computing the report (a case sweep of the new response may run on the other)
        for worker in Worker.all(queue=queue):
            job = worker.get_current_job()
            if job is not None and job.args and job.args[0] == REFRESH_JOB:
                return worker
        return None

    worker = wait_until(busy_worker, 20, "a worker to take the refresh", 0.05)
    killed_job = worker.get_current_job_id()
    time.sleep(1.0)  # into the computation (responses read, model fitting)
    victim = workers.pop(worker.pid)
    horses = descendants(victim.pid)
    assert horses, "the worker runs its job in a forked work horse"
    processes.kill(victim)
    before = snapshot_row(db_session)
    assert before.data_count == BIG, "the computation finished before the kill: make BIG larger"
    assert before.claim_until is not None  # the dead worker's claim is still live

    statuses, counts, t_kill = [], [], time.monotonic()
    while time.monotonic() - t_kill < CLAIM + 40:
        page = client.get(url)
        statuses.append(page.status_code)
        counts.append(shown_count(page))
        if counts[-1] == first + 1:
            break
        time.sleep(0.3)
    assert set(statuses) == {200}, statuses  # the last report the whole time: never pending, never a 500
    assert counts[-1] == first + 1, processes.logs()
    assert set(counts[:-1]) == {first}
    published = snapshot_row(db_session)
    assert published.claimed_at >= before.claim_until  # taken over only once the dead worker's claim expired
    assert published.claim_until is None and published.data_count == BIG + 1
    time.sleep(2)
    assert snapshot_row(db_session) == published  # published once: no second job came after it
    (survivor,) = workers.values()
    assert survivor.poll() is None
    done = refresh_jobs(finished)
    assert len(done) == 2 and killed_job not in done  # the first report and the taking-over refresh
    assert queue.count == 0
    from rq.job import Job

    assert not Job.fetch(killed_job, connection=queue.connection).retries_left  # RQ itself never re-runs it
    assert killed_job in started.get_job_ids() + failed.get_job_ids()  # abandoned, not finished


def test_redis_restarted_reports_are_served_and_jobs_run_in_process_meanwhile(app, client, manager, demo,
                                                                              db_session, own_redis, processes,
                                                                              valid_answers):
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    url = "/manage/surveys/demo/report?lang=en"
    app.config.update(REPORT_WAIT_SECONDS=30, REPORT_STALE_WAIT_SECONDS=30, REPORT_REFRESH_SECONDS=0)
    processes.worker("worker")

    def finished_on_queue() -> int:
        connection = own_redis.connection()
        return len(refresh_jobs(FinishedJobRegistry(queue=Queue(processes.queue, connection=connection))))

    page = client.get(url)
    assert page.status_code == 200 and shown_count(page) == 200
    assert finished_on_queue() == 1  # computed by the worker

    own_redis.kill()
    from survey.report import cache

    cache.CACHE.clear()  # this process forgets: the report must come from report_snapshot
    page = client.get(url)
    assert page.status_code == 200 and shown_count(page) == 200
    add_response(db_session, demo, valid_answers)
    page = client.get(url)  # the queue is down: the refresh runs in this process, and the open waits for it
    assert page.status_code == 200 and shown_count(page) == 201
    assert "Refreshing" not in page.get_data(as_text=True)

    own_redis.start()  # empty: no registries, no jobs
    add_response(db_session, demo, valid_answers)
    page = client.get(url)
    assert page.status_code == 200 and shown_count(page) == 202, processes.logs()
    assert finished_on_queue() == 1  # on the queue again, run by the worker that outlived the outage


def login(port: int, email: str, password: str) -> "http.cookiejar.CookieJar":
    """Log in through a real server's login form (CSRF token and all); the session's cookie jar."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"http://127.0.0.1:{port}/auth/login", timeout=20).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    opener.open(f"http://127.0.0.1:{port}/auth/login", body, timeout=20)
    assert any(cookie.name == "session" for cookie in jar)
    opener.port = port
    return opener


def fetch(opener, path: str) -> tuple[int, str]:
    import urllib.error

    try:
        with opener.open(f"http://127.0.0.1:{opener.port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_two_app_servers_and_one_worker_compute_a_report_once(app, manager, demo, db_session, own_redis,
                                                              processes, valid_answers):
    import json
    import urllib.request

    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from survey.services import apikeys

    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo, label="test")
    ports = free_port(), free_port()
    for name, port in zip("ab", ports):
        processes.server(f"server-{name}", port)
    processes.worker("worker")

    def up(port):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=2).status == 200
        except OSError:
            return False

    for port in ports:
        wait_until(lambda: up(port), 30, f"the app server on {port}", 0.2)
    a, b = (login(port, "manager@example.com", "correct horse battery") for port in ports)

    answers = {k: (int(v) if v.isdigit() else v) for k, v in valid_answers().items() if v != ""}
    for _ in range(5):
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[0]}/api/v1/surveys/demo/responses", method="POST",
            data=json.dumps({"locale": "en", "answers": answers}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        assert urllib.request.urlopen(request, timeout=20).status == 201

    def report_on(opener):
        status, html = fetch(opener, "/manage/surveys/demo/report?lang=en")
        assert status in (200, 202), (status, html[:500])
        match = REPORT_ON.search(html) if status == 200 else None
        return int(match.group(1)) if match else None

    assert wait_until(lambda: report_on(b), 60, "the report on server B", 0.3) == 205  # latest wave: 200 + 5
    assert report_on(a) == 205
    status_a, json_a = fetch(a, "/manage/surveys/demo/report.json")
    status_b, json_b = fetch(b, "/manage/surveys/demo/report.json")
    assert status_a == status_b == 200 and json.loads(json_a) == json.loads(json_b)
    finished = FinishedJobRegistry(queue=Queue(processes.queue, connection=own_redis.connection()))
    assert len(refresh_jobs(finished)) == 1  # computed once, by the worker
    row = snapshot_row(db_session)
    assert row.data_count == 405 and row.claim_until is None
