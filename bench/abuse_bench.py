"""Respondent throughput alone vs under a flood of wrong-password logins, on gunicorn (4 sync workers, loopback).

    .venv/bin/python bench/abuse_bench.py [--rounds 3] [--seconds 8] [--respondents 4] [--flooders 8]
                                          [--flood-rate 0] [--workers 4] [--redis] [--distributed] [--profile DIR]

The server runs the production password hash (scrypt) and the default login limits. Each round runs a phase of
respondents posting the questionnaire alone, then the same with `--flooders` client processes posting wrong
passwords for one manager (a new account every run), each with its own session and CSRF token, as a browser
would: as fast as each can (a closed loop, default) or `--flood-rate` posts a second each (8 x 12.5 = 100 a
second in all, an attacker's many addresses against one server). Every loop is bounded by --seconds and a
request count. All clients share 127.0.0.1, so the questionnaire's per-address limit is raised (real respondents
come from many addresses); the login limits stay at their defaults. --redis keeps the limits in Redis
(REDIS_URL, shared by the workers, as in production) instead of per-worker memory (limits x workers);
--distributed makes every flood request claim a new client address (X-Forwarded-For, with CSI_PROXY_HOPS=1)
and a new account, which the per-address and per-account limits cannot stop. --profile DIR runs each worker
under cProfile and times every request (bench/gunicorn_profile.py).

Besides respondents/s and p95 it prints, per phase, the CPU cores the app, the respondents' and the flooders'
client processes and the whole machine kept busy, and the 1-minute load: the clients run on the server's
cores (2 here, shared with other work), so a phase where the machine is saturated measures the host as much as
the product. The flood's allowed wrong passwords each cost a scrypt (~140 ms CPU): the limits let 5 a minute
per account through (x workers with memory storage), so the first flood phase of each minute pays for them and
the later ones mostly see ready-made 429s (web/shield.py).
Target: respondents keep >= 80% of their throughput under the flood.
"""
import argparse
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import submit_bench as sb  # noqa: E402  (server, clients and database helpers)

# a new account every run: with --redis the limits outlive the server (up to a day), and an earlier run's
# refusals would otherwise shield this one
EMAIL, PASSWORD = f"flood-target-{secrets.token_hex(4)}@example.com", "the right password 123"
MAX_REQUESTS = 20_000  # per client and phase: a bound besides the clock


def prepare(database_url: str) -> dict:
    """The bench survey (submit_bench's) plus a manager with a scrypt hash, as in production."""
    from survey import create_app, services
    from survey.storage.db import db

    job = sb.prepare_database(database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": secrets.token_hex(16)})
    with app.app_context():
        services.create_manager(db.session, EMAIL, PASSWORD, method="scrypt")
        db.session.remove()
        db.engine.dispose()
    return job


def login_session(port: int) -> dict:
    """GET the login page once: the flooder's cookie and CSRF token."""
    status, headers, page = sb.request("127.0.0.1", port, "GET", "/auth/login")
    match = sb.CSRF_RE.search(page.decode("utf-8", "replace"))
    if match is None:
        raise RuntimeError(f"GET /auth/login gave {status} without a CSRF token")
    return {"cookie": headers.get("Set-Cookie", "").split(";", 1)[0], "csrf": match.group(1) or match.group(2),
            "email": EMAIL}


def own_cpu_seconds() -> float:
    """User+system CPU of this (client) process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (every engineer's work)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick  # minus idle and iowait


def respondent(port: int, job: dict, deadline: float) -> tuple[list, float]:
    """submit_bench's form client, plus the CPU this client process spent."""
    cpu = own_cpu_seconds()
    results = sb.client("form", port, job, MAX_REQUESTS, deadline)
    return results, own_cpu_seconds() - cpu


def flooder(port: int, session: dict, deadline: float, distributed: bool, rate: float = 0.0) -> tuple[dict, float]:
    """Post wrong passwords until the deadline (at most `rate` a second when rate > 0); return the count per
    status and the CPU this client process spent."""
    cpu = own_cpu_seconds()
    counts: dict[int, int] = {}
    rng = random.Random()
    next_at = time.monotonic()
    for n in range(MAX_REQUESTS):
        if rate > 0:
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() > deadline:
            break
        email = f"guess{rng.randrange(10**9)}@example.com" if distributed else session["email"]
        body = urllib.parse.urlencode({"email": email, "password": f"wrong-{n}", "csrf_token": session["csrf"]})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": session["cookie"]}
        if distributed:
            headers["X-Forwarded-For"] = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        try:
            status, _, _ = sb.request("127.0.0.1", port, "POST", "/auth/login", body.encode(), headers)
        except OSError:
            status = 0
        counts[status] = counts.get(status, 0) + 1
    return counts, own_cpu_seconds() - cpu


def phase(port: int, job: dict, args, flood: bool, pgid: int) -> dict:
    """Respondents for args.seconds, with or without the flood beside them."""
    respondents = [sb.respondent_session(port, job) for _ in range(args.respondents)]
    floods = [login_session(port) for _ in range(args.flooders)] if flood else []
    with ProcessPoolExecutor(max_workers=len(respondents) + len(floods)) as pool:
        for warm in [pool.submit(time.sleep, 0.05) for _ in range(len(respondents) + len(floods))]:
            warm.result()
        deadline = time.monotonic() + args.seconds
        cpu_before, busy_before = sb.group_cpu_seconds(pgid), machine_busy()
        started = time.perf_counter()
        flooding = [pool.submit(flooder, port, s, deadline, args.distributed, args.flood_rate) for s in floods]
        answering = [pool.submit(respondent, port, j, deadline) for j in respondents]
        answered = [f.result() for f in answering]
        results = [r for rows, _ in answered for r in rows]
        elapsed = time.perf_counter() - started
        statuses: dict[int, int] = {}
        flood_cpu = 0.0
        for f in flooding:
            counts, spent = f.result()
            flood_cpu += spent
            for status, n in counts.items():
                statuses[status] = statuses.get(status, 0) + n
        cpu = sb.group_cpu_seconds(pgid) - cpu_before
        busy_after = machine_busy()
        load = os.getloadavg()[0]
    accepted = sorted(t for s, t in results if s > 0)
    return {"rate": len(accepted) / elapsed, "accepted": len(accepted), "failed": sum(1 for s, _ in results if s <= 0),
            "p95": statistics.quantiles(accepted, n=20)[18] if len(accepted) > 1 else float("nan"),
            "flood": statuses, "cpu": cpu, "seconds": elapsed, "flood_cpu": flood_cpu,
            "respondent_cpu": sum(spent for _, spent in answered), "load": load,
            "machine": (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]) * os.cpu_count()}


def start_server(env: dict, args, port: int, log):
    """submit_bench's gunicorn command, waiting up to 120 s for 4 workers to boot on a loaded machine."""
    import subprocess

    cmd = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
           str(args.workers), "--pythonpath", f"{sb.ROOT},{sb.ROOT / 'bench'}", "--chdir", str(sb.ROOT),
           "--log-level", "warning", "submit_bench:wsgi_app()"]
    if getattr(args, "profile", None):  # fault_bench and its test pass their own arguments
        cmd[1:1] = ["--config", str(sb.ROOT / "bench" / "gunicorn_profile.py")]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
        try:
            if sb.request("127.0.0.1", port, "GET", sb.PING_PATH)[0] == 200:
                time.sleep(3 * args.workers)  # let every worker finish booting, not only the first
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    sb.stop_server(proc)
    raise RuntimeError("gunicorn did not answer within 120 s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--respondents", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--redis", action="store_true", help="limits in Redis (REDIS_URL, default 127.0.0.1:6379)")
    parser.add_argument("--distributed", action="store_true", help="a new address and account for every guess")
    parser.add_argument("--flood-rate", type=float, default=0.0,
                        help="wrong-password posts a second per flooder (default 0: as fast as it can)")
    parser.add_argument("--profile", metavar="DIR",
                        help="run the workers under cProfile and time every request; write both to DIR")
    args = parser.parse_args(argv)
    args.threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = "sqlite:///" + str(tmp / "abuse.sqlite3")
        job = prepare(url)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
               "CSI_SUBMIT_LIMIT_PER_ADDRESS": "1000000 per minute"}
        if args.redis:
            env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if args.distributed:
            env["CSI_PROXY_HOPS"] = "1"
        if getattr(args, "profile", None):  # fault_bench and its test pass their own arguments
            os.makedirs(args.profile, exist_ok=True)
            env["CSI_BENCH_PROFILE"] = os.path.abspath(args.profile)
        port = sb.free_port()
        with open(tmp / "gunicorn.log", "w") as log, sb.show_log_on_error(tmp / "gunicorn.log"):
            proc = start_server(env, args, port, log)
            try:
                phase(port, job, argparse.Namespace(**{**vars(args), "seconds": 2}), False, proc.pid)  # warm up
                rows = []
                for _ in range(args.rounds):
                    rows.append(("alone", phase(port, job, args, False, proc.pid)))
                    rows.append(("flood", phase(port, job, args, True, proc.pid)))
            finally:
                sb.stop_server(proc)
            stored = sb.count_stored(url, job["slug"])
    storage = "Redis" if args.redis else "memory (per worker)"
    print(f"gunicorn {args.workers} sync workers, SQLite, scrypt, limits in {storage}, {args.respondents} respondents"
          f"{f', {args.flooders} wrong-password flooders' if args.flooders else ''}"
          f"{' from random addresses and accounts' if args.distributed else ' (one address, one account)'}"
          f"{f' at {args.flood_rate:g}/s each' if args.flood_rate else ' as fast as they can'}, "
          f"{args.rounds} rounds of {args.seconds:g} s")
    print("CPU columns are cores busy on average over the phase: the app (gunicorn), the respondents' and the "
          "flooders' client processes, and the whole machine (all of these, the bench and anyone else's work)")
    print(f"{'phase':<6} {'resp/s':>7} {'p95 ms':>7} {'failed':>6} {'flood/s':>7} {'flood answers':<24} "
          f"{'app':>5} {'resp':>5} {'flood':>5} {'mach':>5} {'load1':>5}")
    for name, row in rows:
        flood = ", ".join(f"{s}: {n}" for s, n in sorted(row["flood"].items())) or "-"
        per_s = sum(row["flood"].values()) / row["seconds"]
        cores = [row[k] / row["seconds"] for k in ("cpu", "respondent_cpu", "flood_cpu")]
        print(f"{name:<6} {row['rate']:7.1f} {1000 * row['p95']:7.1f} {row['failed']:6d} {per_s:7.1f} {flood:<24} "
              + " ".join(f"{c:5.2f}" for c in cores) + f" {row['machine']:5.2f} {row['load']:5.2f}")
    alone = statistics.median(r["rate"] for n, r in rows if n == "alone")
    flooded = statistics.median(r["rate"] for n, r in rows if n == "flood")
    ratio = flooded / alone if alone else float("nan")
    acknowledged = sum(r["accepted"] for _, r in rows)
    print(f"median respondents/s alone {alone:.1f}, under the flood {flooded:.1f}: {100 * ratio:.0f}% kept "
          f"(target >= 80%: {'met' if ratio >= 0.8 else 'NOT met'}); stored {stored} >= acknowledged {acknowledged} "
          f"(+ warm-up)")
    return 0 if ratio >= 0.8 and stored >= acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
