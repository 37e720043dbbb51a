"""Submission throughput under gunicorn, SQLite and PostgreSQL, against a trivial endpoint in the same run.

    .venv/bin/python bench/submit_bench.py [--requests 600] [--clients 8] [--workers 8] [--seconds 30]

For each database the script prepares a fresh database with one open survey, starts gunicorn on
127.0.0.1 (a separate process tree), and drives it from client processes over loopback:

  trivial  GET /__bench/ping       a Flask endpoint that returns a constant, same server and app
  form     POST /s/<slug>          the respondent's path: CSRF token from the form page, redirect to thanks
  api      POST /api/v1/...        the JSON API with a survey key, 201 with the stored id

It prints accepted responses per second, p50/p95 latency, responses stored versus acknowledged (must be
equal: every acknowledgement means a committed row), and each submission path's throughput as a ratio of
the trivial endpoint's. Every path is first warmed in every worker (8 requests a worker, not counted); then
the phases run in --rounds interleaved rounds, so a change in machine load (other processes) hits all three
alike. Bounded: at most --requests and --seconds per phase. The PostgreSQL
database is throwaway (csi_bench_<pid>_<hex>), created and dropped here; PostgreSQL is skipped with a
message when 127.0.0.1:5432 is not reachable. This is a benchmark, not a test: it asserts nothing.
"""
import argparse
import contextlib
import http.client
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
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PING_PATH = "/__bench/ping"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def wsgi_app():
    """Build the real app plus a trivial endpoint; gunicorn loads this as `submit_bench:wsgi_app()`."""
    from survey import create_app

    app = create_app()

    @app.get(PING_PATH)
    def ping():
        return "pong"

    return app


# --- database preparation (runs in this process, before the server starts) ------------------------

ITEMS = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")
SLUG = "bench"


def prepare_database(database_url: str) -> dict:
    """Migrate a fresh database, create one open survey from the template and a submit key.

    Returns what the clients need: paths, a complete form submission and the equivalent JSON body.
    """
    from survey.services import apikeys
    from survey import create_app, services
    from survey.storage.db import db, upgrade_db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": secrets.token_hex(16)})
    with app.app_context():
        upgrade_db()
        survey = services.create_survey(db.session, slug=SLUG, title_en="Bench", title_zh="基准")
        key = apikeys.issue_key(db.session, apikeys.SUBMIT, survey=survey, label="bench")
        db.session.remove()
        db.engine.dispose()
    form = {code: str(3 + i % 8) for i, code in enumerate(ITEMS)}
    form.update(PV2="dk", complained="yes", complaint_handling="4", complaint_cause=["quality", "systems"],
                customer_type="business", key_account="no", customer_status="current", region="east",
                channel="online", tenure="1to3", comment="送货慢了两天 / delivery two days late")
    answers = {code: (None if value == "dk" else value) for code, value in form.items()}
    answers.update({code: int(v) for code, v in answers.items() if isinstance(v, str) and v.isdigit()})
    return {
        "slug": SLUG,
        "form_path": f"/s/{SLUG}",
        "form_fields": form,
        "api_path": f"/api/v1/surveys/{SLUG}/responses",
        "api_key": key,
        "api_body": {"locale": "zh", "answers": answers},
    }


def count_stored(database_url: str, slug: str) -> int:
    """Count committed responses of the bench survey straight from the database."""
    import sqlalchemy as sa

    from survey.config import database_url as normalise

    engine = sa.create_engine(normalise(database_url, str(ROOT / "instance")))
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "select count(*) from response join survey on survey.id = response.survey_id "
                    "where survey.slug = :slug"
                ),
                {"slug": slug},
            ).scalar_one()
    finally:
        engine.dispose()


def create_pg_database() -> str | None:
    """Create a throwaway PostgreSQL database; return its URL, or None when the server is unreachable."""
    import psycopg

    name = f"csi_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'create database "{name}"')
    except psycopg.OperationalError as err:
        print(f"PostgreSQL skipped: {err}".splitlines()[0], file=sys.stderr)
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop the throwaway database, ending any connections gunicorn left behind."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


# --- the server --------------------------------------------------------------------------------------

def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, args, port: int, log) -> subprocess.Popen:
    """Start gunicorn on 127.0.0.1:port in its own process group and wait until it answers."""
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", "gthread" if args.threads > 1 else "sync",
        "--threads", str(args.threads),
        "--pythonpath", f"{ROOT},{ROOT / 'bench'}",
        "--chdir", str(ROOT),
        "--log-level", "warning",
        "submit_bench:wsgi_app()",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
        try:
            status, _, _ = request("127.0.0.1", port, "GET", PING_PATH)
            if status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("gunicorn did not answer within 30 s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the gunicorn we started (its own process group), gracefully first."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def group_cpu_seconds(pgid: int) -> float:
    """Sum user+system CPU of every live process in a process group (the gunicorn master and workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is pgrp; utime, stime are fields[11], fields[12]
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --- the clients (separate processes) ----------------------------------------------------------------

def request(host, port, method, path, body=None, headers=None):
    """Send one HTTP request on a fresh connection; return (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def client(kind: str, port: int, job: dict, count: int, deadline: float) -> list[tuple[int, float]]:
    """Run one client: up to count requests of the given kind before deadline; return (status, seconds)."""
    host = "127.0.0.1"
    results = []
    if kind == "trivial":
        make = lambda: ("GET", PING_PATH, None, {})  # noqa: E731
        ok = {200}
    elif kind == "api":
        body = json.dumps(job["api_body"]).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {job['api_key']}"}
        make = lambda: ("POST", job["api_path"], body, headers)  # noqa: E731
        ok = {201}
    else:  # form: one respondent session (cookie + CSRF token, fetched before the clock) for every post
        make = lambda: ("POST", job["form_path"], job["form_body"], job["form_headers"])  # noqa: E731
        ok = {302, 303}
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        method, path, body, headers = make()
        started = time.perf_counter()
        try:
            status, _, _ = request(host, port, method, path, body, headers)
        except OSError:
            status = 0
        results.append((status if status in ok else -status, time.perf_counter() - started))
    return results


def respondent_session(port: int, job: dict) -> dict:
    """Open the form as a respondent does; return the job with that session's cookie and CSRF token."""
    status, headers, page = request("127.0.0.1", port, "GET", job["form_path"])
    match = CSRF_RE.search(page.decode("utf-8", "replace"))
    if match is None:
        raise RuntimeError(f"GET {job['form_path']} gave {status} without a CSRF token: {page[:200]!r}")
    fields = dict(job["form_fields"], csrf_token=match.group(1) or match.group(2))
    cookie = headers.get("Set-Cookie", "").split(";", 1)[0]
    return {**job, "form_body": urllib.parse.urlencode(fields, doseq=True).encode(),
            "form_headers": {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}}


def run_phase(kind, port, job, total, clients, seconds, server_pgid):
    """Drive one phase with parallel client processes; return a dict of figures."""
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    jobs = [respondent_session(port, job) if kind == "form" else job for _ in range(clients)]
    with ProcessPoolExecutor(max_workers=clients) as pool:
        for warm in [pool.submit(time.sleep, 0.05) for _ in range(clients)]:  # start every client process
            warm.result()
        cpu_before = group_cpu_seconds(server_pgid)
        started = time.perf_counter()
        deadline = time.monotonic() + seconds
        futures = [pool.submit(client, kind, port, j, n, deadline) for j, n in zip(jobs, per_client)]
        results = [r for f in futures for r in f.result()]
        elapsed = time.perf_counter() - started
        cpu = group_cpu_seconds(server_pgid) - cpu_before
    accepted = [t for s, t in results if s > 0]
    return {
        "kind": kind, "accepted": len(accepted), "failed": [-s for s, _ in results if s <= 0],
        "seconds": elapsed, "rate": len(accepted) / elapsed if elapsed else 0.0, "latencies": accepted,
        "cpu": cpu,
    }


# --- one backend, end to end ------------------------------------------------------------------------

def merge(rows: list[dict]) -> dict:
    """Combine the rounds of one phase: totals, rate over the summed time, latency quantiles over all."""
    latencies = sorted(t for row in rows for t in row["latencies"])
    seconds = sum(row["seconds"] for row in rows)
    accepted = sum(row["accepted"] for row in rows)
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return {
        "kind": rows[0]["kind"], "backend": rows[0]["backend"], "accepted": accepted,
        "failed": [code for row in rows for code in row["failed"]], "seconds": seconds,
        "rate": accepted / seconds if seconds else 0.0,
        "p50": statistics.median(latencies) if latencies else float("nan"), "p95": quantiles[18],
        "stored": sum(row.get("stored", 0) for row in rows),
        "cpu_ms": 1000 * sum(row["cpu"] for row in rows) / accepted if accepted else float("nan"),
        "rates": [row["rate"] for row in rows],
    }


def bench_backend(label: str, database_url: str, args, log) -> list[dict]:
    """Prepare, serve, and drive the three phases in interleaved rounds (so a load change on the machine
    hits every phase alike), counting what each submission phase stored."""
    job = prepare_database(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secrets.token_hex(16),
           # every client runs on loopback (one address): limits high enough never to refuse, still counted
           "CSI_SUBMIT_LIMIT_PER_ADDRESS": "1000000 per minute", "CSI_API_LIMIT_PER_KEY": "1000000 per minute"}
    port = free_port()
    proc = start_server(env, args, port, log)
    per_round = max(1, args.requests // args.rounds)
    try:
        phases: dict[str, list[dict]] = {"trivial": [], "form": [], "api": []}
        # warm every path in every worker (connections, snapshots, compiled and prepared statements) so the
        # first round measures the same steady state as the others; warm-up submissions are not counted
        for kind in phases:
            run_phase(kind, port, job, 8 * args.workers, args.clients, args.seconds, proc.pid)
        for _ in range(args.rounds):
            for kind in phases:
                before = count_stored(database_url, job["slug"])
                row = run_phase(kind, port, job, per_round, args.clients, args.seconds / args.rounds, proc.pid)
                row["stored"] = count_stored(database_url, job["slug"]) - before
                row["backend"] = label
                phases[kind].append(row)
        return [merge(rows) for rows in phases.values()]
    finally:
        stop_server(proc)


def print_table(rows: list[dict]) -> None:
    """Print figures side by side, with the submission paths as a ratio of the trivial endpoint.

    "ratio" pools all rounds; "median" is the median of per-round ratios (each round's phases run back to
    back, so it is the steadier figure when other processes load the machine). "app CPU" is the gunicorn
    process tree's CPU per accepted request (the database server's is not counted).
    """
    print(f"{'backend':<11}{'path':<9}{'accepted':>9}{'failed':>7}{'resp/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'stored':>7}{'lost':>5}{'ratio':>7}{'median':>7}{'app CPU ms':>11}   per round resp/s")
    trivial = {}
    for row in rows:
        if row["kind"] == "trivial":
            trivial[row["backend"]] = row
        base = trivial[row["backend"]]
        ratio = row["rate"] / base["rate"] if base["rate"] else float("nan")
        median = statistics.median(r / b if b else float("nan") for r, b in zip(row["rates"], base["rates"]))
        submitted = row["kind"] != "trivial"
        stored = f"{row['stored']}" if submitted else "-"
        lost = f"{row['accepted'] - row['stored']}" if submitted else "-"
        print(f"{row['backend']:<11}{row['kind']:<9}{row['accepted']:>9}{len(row['failed']):>7}"
              f"{row['rate']:>8.1f}{row['p50'] * 1000:>8.1f}{row['p95'] * 1000:>8.1f}{stored:>7}{lost:>5}"
              f"{ratio:>7.0%}{median:>7.0%}{row['cpu_ms']:>11.2f}   " + " / ".join(f"{r:.0f}" for r in row["rates"]))
        if row["failed"]:
            codes = sorted(set(row["failed"]))
            print(f"{'':<11}  failures by status: " + ", ".join(f"{c}: {row['failed'].count(c)}" for c in codes))
    print("ratio = resp/s of the path / resp/s of the trivial endpoint on the same server in the same run "
          "(target >= 25%); lost = acknowledged - stored (must be 0)")


@contextlib.contextmanager
def show_log_on_error(path: Path):
    """On any failure, print the end of the server log before the temp folder is removed."""
    try:
        yield
    except BaseException:
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        print("--- last lines of the gunicorn log ---\n" + "\n".join(lines[-25:]), file=sys.stderr)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per phase (default 600)")
    parser.add_argument("--clients", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--workers", type=int, default=8,
                        help="gunicorn worker processes (default 8: commits wait on fsync, not CPU)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker; above 1 uses gunicorn's gthread worker (default 1: sync)")
    parser.add_argument("--seconds", type=float, default=30, help="time limit per phase (default 30)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three phases")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="run one backend only")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="csi_bench_"))
    rows = []
    try:
        with open(tmp / "gunicorn.log", "w") as log, show_log_on_error(tmp / "gunicorn.log"):
            if args.only in (None, "sqlite"):
                rows += bench_backend("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}", args, log)
            if args.only in (None, "postgresql"):
                url = create_pg_database()
                if url:
                    try:
                        rows += bench_backend("postgresql", url, args, log)
                    finally:
                        drop_pg_database(url)
        kind = f"gthread workers x {args.threads} threads" if args.threads > 1 else "sync workers"
        print(f"gunicorn {args.workers} {kind}, {args.clients} client processes, loopback, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; up to {args.requests} requests or "
              f"{args.seconds:g} s per phase, in {args.rounds} interleaved rounds")
        print_table(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
