"""Reports from the in-database moments against the rows and the CLI, side by side in one run (issue 11).

    .venv/bin/python bench/moments_bench.py [--size 1000000] [--new 1000] [--backends postgresql sqlite]

Per backend, in a throwaway database: a survey from the CSI template with --size stored responses (two waves,
bulk-loaded as bench/report_bench.py does), then

* build   : the first ``moments.update`` (every response read once, in blocks)
* cold    : a report computed from the stored moments (load every cell, fit, every figure) — what a worker with
            nothing in memory does once the moments exist; target ≤ 1 s at 1,000,000
* refresh : --new more responses stored, then one refresh (``moments.update`` over the new ones + the
            computation, its fit started from the last result as the app's refresh does); target ≤ 0.5 s at
            1,000,000 after 1,000 new
* rows    : the same view computed from the rows (``responses_frame`` + ``compute_report``): the path before
* CLI     : ``python -m model fit data.csv --json`` on the same answers in a fresh process

It prints seconds and the ratios cold/CLI, refresh/CLI and rows/cold, and the peak RSS of this process. The
estimates from moments and from rows are compared (max |Δ| over paths and indices), so a fast wrong answer shows.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report_bench as rb  # noqa: E402  (the loader, the app and the CLI timer)


def compute_moments(app, slug: str, update: bool = True, start=None):
    """(seconds of update, seconds of load+fit, entry, update stats) for the unsegmented all-waves view."""
    from survey.report import compute, moments
    from survey.services.reading import recent_comments_frame
    from survey.storage.db import db
    from survey.storage.tables import Survey

    with app.app_context():
        session = db.session
        survey = session.scalar(sa.select(Survey).where(Survey.slug == slug))
        info = compute.survey_info(survey)
        spec = compute.spec_for(info)
        t0 = time.perf_counter()
        done = moments.update(session, survey, info, spec) if update else None
        t1 = time.perf_counter()
        layout = moments.layout_for(info, spec)
        basis = moments.basis_of(survey, layout)
        every, segments = moments.load_all(session, survey.id, basis, layout)
        comments = recent_comments_frame(session, survey, compute.COMMENTS_WINDOW)
        wave_ids = {w.number: w.id for w in survey.waves}
        entry = compute.compute_from_moments(every, segments, info, wave=None, wave_ids=wave_ids,
                                             comments=comments if len(comments) else None, start=start)
        t2 = time.perf_counter()
        session.rollback()
        return t1 - t0, t2 - t1, entry, done


def compute_rows(app, slug: str):
    from survey.report import compute
    from survey.services.reading import responses_frame
    from survey.storage.db import db
    from survey.storage.tables import Survey

    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        info = {**compute.survey_info(survey), "estimator": "ml"}
        t0 = time.perf_counter()
        frame = responses_frame(db.session, survey)
        db.session.rollback()
        entry = compute.compute_report(frame, info, wave=None)
        return time.perf_counter() - t0, entry


def append(app, slug: str, n: int, rng) -> None:
    """Store n more responses in the survey's second wave (ids after every stored one), as populate does."""
    import pandas as pd
    from survey.storage.db import db
    from survey.storage.tables import Survey

    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        questions = {q.code: q.id for q in survey.active_questions}
        kinds = {q.id: (q.kind, tuple(q.option_values)) for q in survey.active_questions}
        wave_id = survey.waves[-1].id
        first_id = (db.session.scalar(sa.text("SELECT max(id) FROM response")) or 0) + 1
        survey_id = survey.id
        engine = db.engine
        db.session.rollback()
    ids = np.arange(first_id, first_id + n)
    responses = pd.DataFrame({"id": ids, "survey_id": survey_id, "wave_id": wave_id,
                              "created_at": pd.Timestamp.now(tz="UTC"), "locale": "en", "complete": True,
                              "token_id": None, "source": "import"})
    answers, _wide = rb.simulate(n, questions, rng)
    responses["packed"] = rb.packed_rows(n, answers, kinds)
    answers.insert(0, "response_id", ids[answers.pop("r").to_numpy()])
    answers = answers.rename(columns={"q": "question_id"})
    answers["value"] = answers["value"].astype("Int16")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # small: plain inserts, no COPY/VACUUM
            conn.execute(sa.text("INSERT INTO response (id, survey_id, wave_id, created_at, locale, complete, "
                                 "token_id, source, packed) VALUES (:id, :survey_id, :wave_id, :created_at, "
                                 ":locale, :complete, :token_id, :source, :packed)"),
                         responses.to_dict("records"))
    else:
        rb._insert_sqlite(engine, "response", responses)


def difference(a, b) -> float:
    """Largest |Δ| between two entries' path estimates and construct indices."""
    pa = {(p["from"], p["to"]): p["estimate"] for p in a.result["paths"]}
    pb = {(p["from"], p["to"]): p["estimate"] for p in b.result["paths"]}
    ia = {c: v["index"] for c, v in a.result["constructs"].items()}
    ib = {c: v["index"] for c, v in b.result["constructs"].items()}
    return max([abs(pa[k] - pb[k]) for k in pa] + [abs(ia[k] - ib[k]) for k in ia])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args(argv)
    print(f"{'backend':<11}{'responses':>10}{'build s':>9}{'cells':>7}{'cold s':>8}{'refresh s':>10}"
          f"{'rows s':>8}{'CLI s':>7}{'cold/CLI':>9}{'refr/CLI':>9}{'rows/cold':>10}{'max|Δ|':>9}{'RSS MB':>8}"
          "  targets", flush=True)
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="csi-moments-bench-") as folder:
            url, drop = rb.backend_url(backend, folder)
            try:
                app = rb.make_app(url)
                rng = np.random.default_rng(2026)
                slug = f"bench-{args.size}"
                _n, wide = rb.populate(app, args.size, slug, rng)
                cli = rb.time_cli(wide, folder)
                del wide
                build, _fit, _entry, done = compute_moments(app, slug)
                _u, cold, entry, _d = compute_moments(app, slug, update=False)
                rows, by_rows = compute_rows(app, slug)
                delta = difference(entry, by_rows)
                append(app, slug, args.new, rng)
                update, fit, after, done_new = compute_moments(app, slug, start=entry.result_obj)  # as a refresh
                refresh = update + fit
                assert done_new["read"] == args.new, done_new
                assert after.n == args.size + args.new, (after.n, args.size + args.new)
                with app.app_context():
                    from survey.storage.db import db
                    cells = db.session.scalar(sa.text("SELECT count(*) FROM response_moments"))
                    db.session.rollback()
                    db.engine.dispose()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ok = cold <= 1.0 and refresh <= 0.5 and delta < 1e-6
                print(f"{backend:<11}{args.size:>10,}{build:>9.2f}{cells:>7}{cold:>8.3f}{refresh:>10.3f}"
                      f"{rows:>8.2f}{cli:>7.2f}{cold / cli:>9.3f}{refresh / cli:>9.3f}{rows / cold:>10.1f}"
                      f"{delta:>9.1e}{rss:>8.0f}  {'ok' if ok else 'MISSED'}", flush=True)
            finally:
                if drop:
                    drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
