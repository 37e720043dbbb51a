"""Faults under load on gunicorn: kill -9 while respondents submit, and invitation tokens raced 20 ways.

    .venv/bin/python bench/fault_bench.py [--rounds 6] [--seconds 5] [--clients 4] [--workers 4]
                                          [--tokens 20] [--racers 20] [--backend sqlite|postgresql|both]

Kill: each round runs --clients client processes posting the questionnaire (half as a browser form, half through
the JSON API), every post carrying a unique id in its comment; meanwhile one gunicorn worker is killed with
SIGKILL every --kill-every seconds (1 s), and at the end of the round the whole server (master and workers) is killed with SIGKILL
and started again. Afterwards every acknowledged id (a 303 to the thank-you page or a 201) must be stored:
lost = acknowledged − stored must be 0. Stored but unacknowledged ids (a worker killed after its commit and
before its answer) are counted, not an error.
Race: --tokens single-use invitation tokens; for each, --racers client threads that each opened the form with
that token post it at the same instant (a barrier). Exactly one may be accepted and exactly one response stored.
"""
import argparse
import http.client
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import submit_bench as sb  # noqa: E402  (server, clients and database helpers)
from abuse_bench import start_server  # noqa: E402  (waits up to 120 s for every worker on a loaded machine)


def kill_client(kind: str, port: int, job: dict, tag: str, deadline: float) -> tuple[list[str], int]:
    """Post until the deadline, each post with comment `tag-<n>`; return (acknowledged ids, failed posts)."""
    acked, failed, n = [], 0, 0
    session = None
    while time.monotonic() < deadline:
        ident = f"{tag}-{n}"
        n += 1
        try:
            if kind == "api":
                body = json.loads(json.dumps(job["api_body"]))
                body["answers"]["comment"] = ident
                status, _, _ = sb.request("127.0.0.1", port, "POST", job["api_path"], json.dumps(body).encode(),
                                          {"Content-Type": "application/json",
                                           "Authorization": f"Bearer {job['api_key']}"})
                ok = status == 201
            else:
                if session is None:
                    session = sb.respondent_session(port, job)
                fields = dict(job["form_fields"], comment=ident)
                fields["csrf_token"] = urllib.parse.parse_qs(session["form_body"].decode())["csrf_token"][0]
                status, _, _ = sb.request("127.0.0.1", port, "POST", job["form_path"],
                                          urllib.parse.urlencode(fields, doseq=True).encode(), session["form_headers"])
                ok = status in (302, 303)
        except (OSError, RuntimeError, http.client.HTTPException):
            # connection reset by a killed worker, the server restarting, or an answer cut short (IncompleteRead:
            # the worker died while writing it; not an acknowledgement)
            ok, session = False, None
        if ok:
            acked.append(ident)
        else:
            failed += 1
            time.sleep(0.02)
    return acked, failed


def stored_comments(database_url: str, slug: str) -> set[str]:
    """Every comment stored for the bench survey, read back through the service layer."""
    from survey import create_app, services
    from survey.storage.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "read"})
    with app.app_context():
        frame = services.responses_frame(db.session, services.get_survey(db.session, slug))
        out = set(frame["comment"].dropna()) if "comment" in frame else set()
        db.session.remove()
        db.engine.dispose()
    return out


def kill_round(env, args, port, job, log, round_no: int) -> dict:
    """One round: clients post, workers die one by one, then the whole server; count acknowledged vs stored."""
    proc = start_server(env, args, port, log)
    deadline = time.monotonic() + args.seconds
    kinds = ["form" if i % 2 == 0 else "api" for i in range(args.clients)]
    kills = 0
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        futures = [pool.submit(kill_client, kind, port, job, f"r{round_no}c{i}", deadline)
                   for i, kind in enumerate(kinds)]
        while time.monotonic() < deadline - 0.5:
            time.sleep(args.kill_every)
            workers = worker_pids(proc.pid)
            if workers:
                try:
                    os.kill(random.choice(workers), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        os.killpg(proc.pid, signal.SIGKILL)  # the whole server, mid-load
        proc.wait()
        results = [f.result() for f in futures]
    acked = {ident for ids, _ in results for ident in ids}
    return {"acked": acked, "failed": sum(f for _, f in results), "kills": kills + 1}


def worker_pids(master: int) -> list[int]:
    """The live children of the gunicorn master."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # ppid
            out.append(int(stat.parent.name))
    return out


def race(env, args, port, database_url: str, log) -> dict:
    """Race each of args.tokens tokens args.racers ways; count acceptances and stored responses per token."""
    from survey import create_app, services
    from survey.storage.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "race"})
    with app.app_context():
        tokens = services.generate_tokens(db.session, services.get_survey(db.session, sb.SLUG), args.tokens)
        db.session.remove()
        db.engine.dispose()
    proc = start_server(env, args, port, log)
    accepted, statuses = {}, {}
    try:
        for token in tokens:
            sessions = []
            for _ in range(args.racers):
                status, headers, page = sb.request("127.0.0.1", port, "GET", f"/s/{sb.SLUG}?t={token}")
                match = sb.CSRF_RE.search(page.decode("utf-8", "replace"))
                sessions.append((headers.get("Set-Cookie", "").split(";", 1)[0], match.group(1) or match.group(2)))
            barrier = threading.Barrier(args.racers)
            results = []

            def post(cookie, csrf, fields=RACE_FIELDS):
                body = urllib.parse.urlencode(dict(fields, csrf_token=csrf, t=token), doseq=True).encode()
                barrier.wait()
                try:
                    status, _, _ = sb.request("127.0.0.1", port, "POST", f"/s/{sb.SLUG}", body,
                                              {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
                except OSError:
                    status = 0
                results.append(status)

            threads = [threading.Thread(target=post, args=s) for s in sessions]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            accepted[token] = sum(s in (302, 303) for s in results)
            for s in results:
                statuses[s] = statuses.get(s, 0) + 1
    finally:
        sb.stop_server(proc)
    stored = stored_tokens(database_url, tokens)
    return {"tokens": len(tokens), "accepted": accepted, "stored": stored, "statuses": statuses}


RACE_FIELDS = None  # the bench survey's complete form fields (set in main)


def stored_tokens(database_url: str, tokens: list[str]) -> dict[str, int]:
    """How many stored responses each token has (response.token_id points at the invitation it used)."""
    import sqlalchemy as sa

    from survey.config import database_url as normalise

    engine = sa.create_engine(normalise(database_url, str(sb.ROOT / "instance")))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "select t.token, count(r.id) from invitation_token t left join response r on r.token_id = t.id "
                "group by t.token")).all()
    finally:
        engine.dispose()
    counts = dict(rows)
    return {token: int(counts.get(token, 0)) for token in tokens}


def run_backend(label: str, database_url: str, args, log) -> dict:
    global RACE_FIELDS
    job = sb.prepare_database(database_url)
    RACE_FIELDS = job["form_fields"]
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(16), CSI_RATELIMIT_ENABLED="0",
               PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    port = sb.free_port()
    acked, failed, kills = set(), 0, 0
    for r in range(args.rounds):
        out = kill_round(env, args, port, job, log, r)
        acked |= out["acked"]
        failed += out["failed"]
        kills += out["kills"]
    stored = stored_comments(database_url, sb.SLUG)
    figures = {"backend": label, "acknowledged": len(acked), "stored": len(stored), "lost": len(acked - stored),
               "stored_unacknowledged": len(stored - acked),
               "refused_or_reset": failed, "kills": kills}
    if args.tokens:
        raced = race(env, args, port, database_url, log)
        figures.update(tokens=raced["tokens"], racers=args.racers,
                       tokens_accepted_more_than_once=sum(v > 1 for v in raced["accepted"].values()),
                       tokens_accepted_once=sum(v == 1 for v in raced["accepted"].values()),
                       tokens_stored_more_than_once=sum(v > 1 for v in raced["stored"].values()),
                       tokens_stored_once=sum(v == 1 for v in raced["stored"].values()),
                       race_statuses=raced["statuses"])
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=1.0, help="seconds between two worker kills")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--racers", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "gunicorn.log", "w") as log:
        if args.backend in ("sqlite", "both"):
            rows.append(run_backend("SQLite", f"sqlite:///{tmp}/fault.sqlite3", args, log))
        if args.backend in ("postgresql", "both"):
            url = sb.create_pg_database()
            if url is None:
                print("PostgreSQL unreachable: skipped", file=sys.stderr)
            else:
                try:
                    rows.append(run_backend("PostgreSQL", url, args, log))
                finally:
                    sb.drop_pg_database(url)
    bad = False
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
        bad |= (row["lost"] > 0 or row.get("tokens_accepted_more_than_once", 0) > 0
                or row.get("tokens_stored_more_than_once", 0) > 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
