"""Live survey at scale: submissions and two polling managers on two app servers, with job workers, sharing
PostgreSQL and Redis.

    .venv/bin/python bench/scale_bench.py [--responses 300000] [--seconds 120] [--idle-seconds 20] [--rate 4]
        [--web-workers 4] [--job-workers 2] [--poll-interval 1] [--second-pass]

The bench loads a throwaway PostgreSQL database (csi_bench_<pid>_<hex>, dropped at the end) with --responses
stored responses of the CSI template in two waves (bench/report_bench.py's bulk loader), starts a Redis server
of its own (no persistence, on a free port, with a throwaway queue name), two gunicorn app servers of
--web-workers sync workers each and --job-workers ``flask --app survey worker`` processes, then runs:

1. idle: API submissions at --rate per second (alternating servers), nobody reading the report;
2. loaded: the same submissions plus two managers, one logged in on each server, each GETting the report
   page every --poll-interval seconds (the first open starts the computation; the page answers "pending"
   with 202 until a report exists) for --seconds.

It samples the resident memory (/proc/<pid>/status VmRSS, and VmHWM, the peak) of every gunicorn worker and
every job worker and its work horses, and prints side by side: submission p95 loaded / idle, polls answered
with a report among the polls after the first report, and how many of those within 1 s, and the max RSS.
Targets (issue 11): loaded p95 <= 1.5x idle; every poll after the first report a report within 1 s; every
worker under 300 MB. The server's settings are the defaults (REPORT_REFRESH_SECONDS 30 …) except the second
pass (bootstrap intervals), off unless --second-pass. A benchmark, not a test: it asserts nothing.
"""
import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import report_bench  # noqa: E402  (the bulk loader, a neighbour script)

SLUG = "live"
REPORT_ON = re.compile(r"Report on ([\d,]+) responses")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ITEMS = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")
ANSWERS = {**{code: 3 + i % 8 for i, code in enumerate(ITEMS)}, "complained": "no", "customer_type": "business",
           "key_account": "no", "customer_status": "current", "region": "east", "channel": "online",
           "tenure": "1to3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url: str, n: int) -> str:
    """Migrate, create the manager and a survey with n stored responses; return a submit key of it."""
    from survey.services import apikeys
    from survey.storage.db import db
    from survey.storage.tables import Survey

    app = report_bench.make_app(url)
    t0 = time.perf_counter()
    report_bench.populate(app, n, SLUG, np.random.default_rng(2026))
    with app.app_context():
        # the loader copies ids in: move the sequence past them for the responses the servers will store
        db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('response', 'id'), max(id)) FROM response"))
        db.session.commit()
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == SLUG))
        key = apikeys.issue_key(db.session, apikeys.SUBMIT, survey=survey, label="scale bench")
        db.session.remove()
        db.engine.dispose()
    print(f"loaded {n:,} responses in {time.perf_counter() - t0:.1f} s", flush=True)
    return key


# --- processes ---------------------------------------------------------------------------------------

class Fleet:
    """The processes the bench started (each in its own session), stopped together at the end."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env, self.procs = folder, env, {}

    def start(self, name: str, *argv) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "w") as log:
            proc = subprocess.Popen([str(a) for a in argv], cwd=ROOT, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                for pid in [*descendants(proc.pid), proc.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.wait()

    def tail(self, lines: int = 15) -> str:
        out = []
        for name in self.procs:
            text = (self.folder / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name}.log\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid, from /proc (gunicorn workers; RQ work horses, which leave the group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB; (0, 0) once it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        return 0, 0
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


class MemorySampler(threading.Thread):
    """Every 0.25 s: the RSS and peak RSS of every web worker (children of a gunicorn master) and every job
    worker process with its work horses; keeps the max per role and per process."""

    def __init__(self, masters: list[int], job_workers: list[int]):
        super().__init__(daemon=True)
        self.masters, self.job_workers = masters, job_workers
        self.peak = {"web": {}, "job": {}}  # role -> pid -> max kB (of VmRSS and VmHWM)
        self.halt = threading.Event()

    def sample(self) -> None:
        roles = [("web", pid) for master in self.masters for pid in descendants(master)]
        roles += [("job", pid) for worker in self.job_workers for pid in (worker, *descendants(worker))]
        for role, pid in roles:
            rss, hwm = memory_kb(pid)
            seen = self.peak[role]
            seen[pid] = max(seen.get(pid, 0), rss, hwm)

    def run(self) -> None:
        while not self.halt.wait(0.25):
            self.sample()

    def max_mb(self, role: str) -> float:
        return max(self.peak[role].values(), default=0) / 1024


# --- HTTP --------------------------------------------------------------------------------------------

def wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app server on {port} did not answer within {timeout:g} s")


def login(port: int):
    """A manager's browser: log in through the form on one server; an opener carrying the session cookie."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"http://127.0.0.1:{port}/auth/login", timeout=30).read().decode()
    body = urllib.parse.urlencode({"email": report_bench.EMAIL, "password": report_bench.PASSWORD,
                                   "csrf_token": CSRF.search(page).group(1)}).encode()
    final = opener.open(f"http://127.0.0.1:{port}/auth/login", body, timeout=30)
    if "/auth/login" in final.url:
        raise RuntimeError(f"login on {port} failed")
    return opener


def submit(port: int, key: str) -> tuple[int, float]:
    """One API submission; (status, seconds)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/surveys/{SLUG}/responses", method="POST",
        data=json.dumps({"locale": "en", "answers": ANSWERS}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def submissions(ports, key: str, rate: float, seconds: float) -> list[tuple[int, float]]:
    """Open-loop: submission i is sent at start + i / rate whatever the earlier ones are doing."""
    count = int(rate * seconds)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(submit, ports[i % len(ports)], key))
        return [f.result() for f in futures]


def poll(opener, port: int, interval: float, until: float, out: list) -> None:
    """A manager watching the report: GET the page every interval seconds; (start time, status, seconds, n
    shown or None, whether it is marked stale)."""
    url = f"http://127.0.0.1:{port}/manage/surveys/{SLUG}/report?lang=en"
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            with opener.open(url, timeout=60) as response:
                status, html = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, html = err.code, ""
        except OSError:
            status, html = 0, ""
        seconds = time.perf_counter() - started
        match = REPORT_ON.search(html) if status == 200 else None
        out.append((time.monotonic() - seconds, status, seconds, int(match.group(1).replace(",", "")) if match
                    else None, 'data-new="' in html))
        time.sleep(max(0.0, interval - seconds))


def p95(values) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else float("nan")


# --- the run -----------------------------------------------------------------------------------------

def run(args, folder: Path, url: str) -> None:
    key = prepare(url, args.responses)
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL,
                             start_new_session=True)
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
           "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CSI_JOB_QUEUE": "csi-bench-" + secrets.token_hex(4),
           "CSI_API_LIMIT_PER_KEY": "1000000 per minute",
           "CSI_REPORT_SECOND_PASS": "1" if args.second_pass else "0"}
    fleet = Fleet(folder, env)
    try:
        ports = [free_port(), free_port()]
        masters = [fleet.start(f"web-{i}", BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
                               args.web_workers, "--log-level", "warning", "survey:create_app()").pid
                   for i, port in enumerate(ports)]
        job_workers = [fleet.start(f"job-{i}", BIN / "flask", "--app", "survey", "worker").pid
                       for i in range(args.job_workers)]
        for port in ports:
            wait_up(port)
        sampler = MemorySampler(masters, job_workers)
        sampler.start()
        # warm every web worker's submission path (connections, imports) before measuring
        submissions(ports, key, 20, max(2.0, 2 * args.web_workers / 10))

        idle = submissions(ports, key, args.rate, args.idle_seconds)
        managers = [login(port) for port in ports]
        polls: list[list] = [[] for _ in managers]
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=poll, args=(m, port, args.poll_interval, until, out))
                   for m, port, out in zip(managers, ports, polls)]
        for th in threads:
            th.start()
        loaded = submissions(ports, key, args.rate, args.seconds)
        for th in threads:
            th.join()
        sampler.halt.set()
        sampler.join()
        sampler.sample()
    except BaseException:
        print(fleet.tail(), file=sys.stderr)
        raise
    finally:
        fleet.stop()
        redis.kill()
        redis.wait()
    report(args, idle, loaded, polls, sampler)


def report(args, idle, loaded, polls, sampler) -> None:
    ok = lambda rows: [t for s, t in rows if s == 201]  # noqa: E731
    idle_ok, loaded_ok = ok(idle), ok(loaded)
    every = sorted(p for manager in polls for p in manager)
    # the first report: when the first poll answered with one ended; "after" = polls started after that
    first_report = min((t + s for t, status, s, n, _ in every if status == 200 and n is not None), default=None)
    after = [p for p in every if first_report is not None and p[0] > first_report]
    answered = [p for p in after if p[1] == 200 and p[3] is not None]
    within = [p for p in answered if p[2] <= 1.0]
    before = [p for p in every if first_report is None or p[0] <= first_report]
    missed = sorted({p[1] for p in after if p not in answered})
    statuses = sorted({p[1] for p in every})
    idle_p95, loaded_p95 = p95(idle_ok), p95(loaded_ok)
    print(f"\n{args.responses:,} stored responses; gunicorn 2 servers x {args.web_workers} sync workers; "
          f"{args.job_workers} job worker(s); {args.rate:g} submissions/s; 2 managers polling every "
          f"{args.poll_interval:g} s for {args.seconds:g} s (idle phase {args.idle_seconds:g} s); second pass "
          f"{'on' if args.second_pass else 'off'}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<34}{'idle':>10}{'loaded':>10}{'ratio':>8}  target")
    print(f"{'submissions accepted / sent':<34}{f'{len(idle_ok)}/{len(idle)}':>10}"
          f"{f'{len(loaded_ok)}/{len(loaded)}':>10}")
    print(f"{'submission p50 ms':<34}{statistics.median(idle_ok) * 1000:>10.1f}"
          f"{statistics.median(loaded_ok) * 1000:>10.1f}")
    print(f"{'submission p95 ms':<34}{idle_p95 * 1000:>10.1f}{loaded_p95 * 1000:>10.1f}"
          f"{loaded_p95 / idle_p95:>8.2f}  <= 1.5")
    first_s = first_report - every[0][0] if first_report is not None and every else float("nan")
    print(f"{'polls until the first report':<34}{len(before):>10}   (first report {first_s:.1f} s after the first "
          f"poll; statuses seen {statuses})")
    share = len(answered) / len(after) if after else float("nan")
    print(f"{'polls after it: report / all':<34}{f'{len(answered)}/{len(after)}':>20}{share:>8.0%}  100%"
          + (f"   (others answered {missed})" if missed else ""))
    print(f"{'... of which marked stale':<34}{sum(p[4] for p in answered):>20}")
    share = len(within) / len(after) if after else float("nan")
    print(f"{'... a report within 1 s':<34}{f'{len(within)}/{len(after)}':>20}{share:>8.0%}  100%")
    if answered:
        print(f"{'poll p50 / p95 / max ms':<34}{statistics.median(p[2] for p in answered) * 1000:>10.1f}"
              f"{p95([p[2] for p in answered]) * 1000:>10.1f}{max(p[2] for p in answered) * 1000:>8.0f}")
        shown = sorted({p[3] for p in answered})
        print(f"{'report n shown (first .. last)':<34}{shown[0]:>10,}{shown[-1]:>10,}   ({len(shown)} distinct)")
    web, job = sampler.max_mb("web"), sampler.max_mb("job")
    print(f"{'max RSS MB: web worker / job':<34}{web:>10.0f}{job:>10.0f}{'':>8}  < 300 each")
    per_web = sorted(v // 1024 for v in sampler.peak["web"].values())
    workers = sorted(sampler.peak["job"].get(pid, 0) // 1024 for pid in sampler.job_workers)
    horses = [v // 1024 for pid, v in sampler.peak["job"].items() if pid not in sampler.job_workers]
    print(f"  per web worker MB {per_web}; job worker processes MB {workers}; their work horses: "
          f"{len(horses)} seen, max {max(horses, default=0)} MB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=300_000, help="stored responses (default 300,000)")
    parser.add_argument("--seconds", type=float, default=120,
                        help="loaded phase (default 120: long enough for a refresh after the first report)")
    parser.add_argument("--idle-seconds", type=float, default=20, help="idle phase (default 20)")
    parser.add_argument("--rate", type=float, default=4, help="submissions per second (default 4)")
    parser.add_argument("--web-workers", type=int, default=4, help="sync workers per app server (default 4)")
    parser.add_argument("--job-workers", type=int, default=2, help="flask --app survey worker processes")
    parser.add_argument("--poll-interval", type=float, default=1, help="seconds between a manager's polls")
    parser.add_argument("--second-pass", action="store_true", help="bootstrap intervals after each report")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: nothing to run", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="csi-scale-bench-"))
    try:
        url, drop = report_bench.backend_url("postgresql", folder)
    except sa.exc.OperationalError as err:
        print(f"PostgreSQL not reachable: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    try:
        run(args, folder, url)
    finally:
        drop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
