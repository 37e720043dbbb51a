"""Time opening the index report (cold and cached) against the CLI on the same data, side by side.

For each backend (SQLite file, PostgreSQL in a throwaway database) and each size (1,000 / 100,000 /
1,000,000 stored responses of the CSI template, ~20 answers each, two waves) the bench:

1. populates the database with bulk inserts (not through the web form: that is submit_bench's job),
2. opens /manage/surveys/<slug>/report through the Flask test client with an empty cache (cold: loading
   the responses, the fit and every report figure) and again (cached), reporting the load part separately,
3. exports the same responses to CSV and times ``python -m model fit data.csv --json out.json``.

Targets (issue 5): cached < 100 ms at every size; cold at 1,000,000 < 15 s and ≤ 2× the CLI.
Run from the repo root: .venv/bin/python bench/report_bench.py [--sizes 1000 100000 1000000]
[--backends sqlite postgresql]
"""
import argparse
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_SERVER = os.environ.get("CSI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PATHS = {"PQ": {"CE": 0.5}, "PV": {"CE": 0.2, "PQ": 0.5}, "CS": {"CE": 0.1, "PQ": 0.45, "PV": 0.3},
         "CC": {"CS": -0.5}, "CL": {"CS": 0.6, "CC": -0.15}}
SEGMENTS = {"customer_type": ["consumer", "business", "public"], "customer_status": ["current", "former"],
            "region": ["north", "east", "south", "central", "west"], "channel": ["online", "store", "phone"],
            "tenure": ["lt1", "1to3", "3to5", "gt5"], "key_account": ["yes", "no"]}
EMAIL, PASSWORD = "bench@example.com", "bench password 123"


def simulate(n: int, questions: dict, rng) -> pd.DataFrame:
    """Long-format answers (response_index, question_id, value, text) for n respondents, vectorized."""
    from model.spec import parse_item_code

    eta = {"CE": rng.standard_normal(n)}
    for code, parents in PATHS.items():
        signal = sum(b * eta[p] for p, b in parents.items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.1)) * rng.standard_normal(n)
    parts, wide = [], {}
    idx = np.arange(n)
    for code, qid in questions.items():
        parsed = parse_item_code(code)
        construct = parsed[0] if parsed else None
        if construct in eta:
            raw = 7.2 + 1.6 * (0.8 * eta[construct] + 0.6 * rng.standard_normal(n))
            if construct == "CC":
                raw = 10.5 - raw
            value = np.clip(np.rint(raw), 1, 10)
            value[rng.random(n) < 0.02] = np.nan  # don't know
            wide[code] = value
            parts.append(pd.DataFrame({"r": idx, "q": qid, "value": value, "text": None}))
    complained = rng.random(n) < 0.15
    parts.append(pd.DataFrame({"r": idx, "q": questions["complained"], "value": np.nan,
                               "text": np.where(complained, "yes", "no")}))
    who = idx[complained]
    parts.append(pd.DataFrame({"r": who, "q": questions["complaint_handling"],
                               "value": rng.integers(1, 11, len(who)).astype(float), "text": None}))
    parts.append(pd.DataFrame({"r": who, "q": questions["complaint_cause"], "value": np.nan,
                               "text": rng.choice(["quality", "employee;systems", "organisation"], len(who))}))
    for code, options in SEGMENTS.items():
        parts.append(pd.DataFrame({"r": idx, "q": questions[code], "value": np.nan,
                                   "text": rng.choice(options, n)}))
    some = idx[rng.random(n) < 0.05]
    parts.append(pd.DataFrame({"r": some, "q": questions["comment"], "value": np.nan,
                               "text": rng.choice(["Good service", "价格有点高", "Slow delivery"], len(some))}))
    return pd.concat(parts, ignore_index=True), pd.DataFrame(wide)


def populate(app, n: int, slug: str, rng) -> tuple[int, pd.DataFrame]:
    """Create a survey from the template with two waves and n responses.

    Returns the answer row count and the same item answers as a wide frame (what the CLI gets as CSV).
    """
    from survey import services
    from survey.storage.db import db
    from survey.storage.tables import Survey

    with app.app_context():
        survey = services.create_survey(db.session, slug=slug, title_en=f"Bench {n}", title_zh=f"基准 {n}")
        services.new_wave(db.session, survey, "second")
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        questions = {q.code: q.id for q in survey.active_questions}
        kinds = {q.id: (q.kind, tuple(q.option_values)) for q in survey.active_questions}
        waves = [w.id for w in survey.waves]
        first_id = (db.session.scalar(sa.text("SELECT max(id) FROM response")) or 0) + 1
        survey_id = survey.id
        engine = db.engine
    ids = np.arange(first_id, first_id + n)
    created = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 300, n)), unit="D")
    responses = pd.DataFrame({"id": ids, "survey_id": survey_id, "wave_id": np.where(ids < first_id + n // 2,
                              waves[0], waves[1]), "created_at": created, "locale": "en", "complete": True,
                              "token_id": None, "source": "import"})
    answers, wide = simulate(n, questions, rng)
    responses["packed"] = packed_rows(n, answers, kinds)
    answers.insert(0, "response_id", ids[answers.pop("r").to_numpy()])
    answers = answers.rename(columns={"q": "question_id"})
    answers["value"] = answers["value"].astype("Int16")
    if engine.dialect.name == "postgresql":
        _copy_pg(engine, "response", responses)
        _copy_pg(engine, "answer", answers)
    else:
        _insert_sqlite(engine, "response", responses)
        _insert_sqlite(engine, "answer", answers)
    return len(answers), wide


def packed_rows(n: int, answers: pd.DataFrame, kinds: dict) -> list[bytes]:
    """response.packed for every row, as the app writes it (survey.packing), so the fast load path is used."""
    from survey.storage.packing import pack_matrix

    qids = [qid for qid, (kind, _) in kinds.items() if kind != "text"]
    codes = np.full((n, len(qids)), -2, dtype=np.int64)  # < -1 = unanswered
    for j, qid in enumerate(qids):
        kind, options = kinds[qid]
        part = answers[answers["q"] == qid]
        rows = part["r"].to_numpy()
        if kind == "scale":
            codes[rows, j] = part["value"].fillna(-1).to_numpy(dtype=np.int64)
        elif kind == "multi":
            masks = {t: sum(1 << options.index(o) for o in t.split(";") if o in options)
                     for t in part["text"].unique()}
            codes[rows, j] = part["text"].map(masks).to_numpy(dtype=np.int64)
        else:
            index = pd.Categorical(part["text"], categories=list(options)).codes.astype(np.int64)
            codes[rows, j] = np.where(index >= 0, index, -2)
    return pack_matrix(qids, codes)


def _copy_pg(engine, table, frame, chunk=500_000):
    if "packed" in frame:  # bytea in CSV: hex format
        frame = frame.assign(packed=["\\x" + b.hex() for b in frame["packed"]])
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # bulk load: skip per-row FK triggers
            for start in range(0, len(frame), chunk):
                buf = io.StringIO()
                frame.iloc[start:start + chunk].to_csv(buf, index=False, header=False, na_rep="\\N")
                with cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN "
                              "WITH (FORMAT csv, NULL '\\N')") as copy:
                    copy.write(buf.getvalue())
        raw.commit()
        raw.driver_connection.autocommit = True
        with raw.driver_connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {table}")
        raw.driver_connection.autocommit = False
    finally:
        raw.close()


def _insert_sqlite(engine, table, frame, chunk=500_000):
    raw = engine.raw_connection()
    try:
        cols = ", ".join(frame.columns)
        marks = ", ".join("?" * len(frame.columns))
        if "created_at" in frame:
            frame = frame.assign(created_at=frame["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"))
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA foreign_keys=OFF")
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start:start + chunk]
            columns = [part[c].astype(object).where(part[c].notna(), None).tolist() for c in part.columns]
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", zip(*columns))
        raw.commit()
        cur.execute("ANALYZE")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


def make_app(url):
    from survey import create_app, services
    from survey.storage.db import db, upgrade_db

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "REPORT_WAIT_SECONDS": 3600})
    with app.app_context():
        upgrade_db()
        services.create_manager(db.session, EMAIL, PASSWORD)
    return app


def time_report(app, slug):
    """(cold seconds, load seconds inside cold, cached seconds) for one report open."""
    from survey.services import reading
    from survey.report import cache as reporting

    reporting.CACHE.clear()
    client = app.test_client()
    assert client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 302
    loads = []
    real = reading.responses_frame

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        out = real(*args, **kwargs)
        loads.append(time.perf_counter() - t0)
        return out

    reporting.responses_frame = timed
    try:
        t0 = time.perf_counter()
        page = client.get(f"/manage/surveys/{slug}/report")
        cold = time.perf_counter() - t0
    finally:
        reporting.responses_frame = real
    assert page.status_code == 200, page.status_code
    cached = []
    for _ in range(5):
        t0 = time.perf_counter()
        again = client.get(f"/manage/surveys/{slug}/report")
        cached.append(time.perf_counter() - t0)
        assert again.status_code == 200
    return cold, (loads[0] if loads else float("nan")), float(np.median(cached))


def time_cli(wide: pd.DataFrame, folder) -> float:
    """Write the stored item answers to CSV (not timed) and time the CLI fit on it in a fresh process."""
    path = Path(folder) / "cli.csv"
    wide.to_csv(path, index=False, float_format="%g")
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "model", "fit", str(path), "--json", str(path) + ".json"],
                         cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"CLI failed: {run.stderr.strip()}")
    return seconds


def backend_url(name, folder):
    if name == "sqlite":
        return f"sqlite:///{folder}/bench.sqlite3", None
    server = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    db_name = f"csi_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    url = sa.engine.make_url(PG_SERVER).set(database=db_name).render_as_string(hide_password=False)

    def drop():
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        server.dispose()
    return url, drop


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    rows = []
    print(f"{'backend':<11}{'responses':>10}{'answers':>11}{'populate s':>11}{'cold s':>9}{'load s':>8}"
          f"{'cached ms':>10}{'CLI s':>8}{'cold/CLI':>9}  targets", flush=True)
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="csi-report-bench-") as folder:
            url, drop = backend_url(backend, folder)
            try:
                app = make_app(url)
                rng = np.random.default_rng(2026)
                for n in args.sizes:
                    slug = f"bench-{n}"
                    t0 = time.perf_counter()
                    n_answers, wide = populate(app, n, slug, rng)
                    populate_s = time.perf_counter() - t0
                    cold, load, cached = time_report(app, slug)
                    cli = time_cli(wide, folder)
                    del wide
                    ok = cached < 0.1 and (n < 1_000_000 or (cold < 15 and cold <= 2 * cli))
                    verdict = "ok" if ok else "MISSED"
                    print(f"{backend:<11}{n:>10,}{n_answers:>11,}{populate_s:>11.1f}{cold:>9.2f}{load:>8.2f}"
                          f"{cached * 1000:>10.1f}{cli:>8.2f}{cold / cli:>9.2f}  {verdict}", flush=True)
                    rows.append((backend, n, cold, load, cached, cli))
                with app.app_context():
                    from survey.storage.db import db
                    db.engine.dispose()
            finally:
                if drop:
                    drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
