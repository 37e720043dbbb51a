"""Time the upload of a large CSV through the real flow (form, mapping, import job, progress page).

The CSV is what an analyst exports from a survey tool for the CSI template: every model item of the
template (1-10, ~2% blank = don't know), the six segment questions, a wave column and a sparse comment.
For each backend (SQLite file, PostgreSQL in a throwaway database) a fresh child process builds the app
(in-process jobs), logs in, POSTs the file to /manage/upload/, opens the mapping page, POSTs the proposed
mapping, then polls the progress page every half second until the import is done. The child reports the
wall times, the progress values it saw and its own peak RSS (VmHWM: the web request and the import job
ran in it). Side by side, in the same run: ``pandas.read_csv`` of the same file in a fresh process.

Target (issue 11): 1,000,000 rows in under 60 s and 500 MB peak, with progress.
Run from the repo root: .venv/bin/python bench/upload_bench.py [--rows 1000000] [--backends sqlite postgresql]
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report_bench import EMAIL, PASSWORD, PATHS, SEGMENTS, backend_url  # noqa: E402


def peak_mb() -> float:
    """This process's peak resident set (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_csv(path: Path, n: int, seed: int = 2026, block: int = 200_000) -> list[str]:
    """Write an n-row export of the CSI template to path, a block at a time; return the item columns."""
    from survey.services.questionnaire import template

    items = [q["code"] for q in template() if q.get("construct")]
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8", newline="") as out:
        for start in range(0, n, block):
            m = min(block, n - start)
            eta = {"CE": rng.standard_normal(m)}
            for code, parents in PATHS.items():
                signal = sum(b * eta[p] for p, b in parents.items())
                eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.1)) * rng.standard_normal(m)
            cols = {"respondent": np.arange(start + 1, start + m + 1)}
            for code in items:
                construct = re.match(r"[A-Z]+", code).group()
                raw = 7.2 + 1.6 * (0.8 * eta[construct] + 0.6 * rng.standard_normal(m))
                value = pd.array(np.clip(np.rint(10.5 - raw if construct == "CC" else raw), 1, 10), dtype="Int64")
                value[rng.random(m) < 0.02] = pd.NA
                cols[code] = value
            for code, options in SEGMENTS.items():
                cols[code] = rng.choice(options, m)
            cols["wave"] = np.where(np.arange(start, start + m) < n // 2, 1, 2)
            cols["comment"] = np.where(rng.random(m) < 0.05, rng.choice(["Good service", "价格有点高",
                                                                         "Slow delivery"], m), "")
            pd.DataFrame(cols).to_csv(out, index=False, header=start == 0)
    return items


def run_flow(url: str, csv_path: str) -> dict:
    """In this (child) process: the whole upload through the test client; times, progress samples, peak."""
    from survey import create_app, services
    from survey.services import importing
    from survey.storage.db import db, upgrade_db

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "UPLOAD_WAIT_SECONDS": 0, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade_db()
        services.create_manager(db.session, EMAIL, PASSWORD)
    client = app.test_client()
    assert client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 302
    out = {"start_mb": peak_mb()}
    t0 = time.perf_counter()
    with open(csv_path, "rb") as fh:
        sent = client.post("/manage/upload/", data={"file": (fh, "export.csv"), "title": "Bench upload",
                                                    "scale_min": "1", "scale_max": "10"},
                           content_type="multipart/form-data")
    assert sent.status_code == 302, (sent.status_code, sent.get_data(as_text=True)[-2000:])
    out["upload_s"] = time.perf_counter() - t0
    location = sent.headers["Location"]
    t1 = time.perf_counter()
    page = client.get(location)
    assert page.status_code == 200, page.status_code
    roles = re.findall(r'<option value="(\w+)" selected', page.get_data(as_text=True))
    out["mapping_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    queued = client.post(location, data={f"role-{i}": role for i, role in enumerate(roles)})
    assert queued.status_code == 302, queued.status_code
    samples = []
    while True:
        shown = client.get(location + "/status")
        if shown.status_code == 302:
            break
        assert shown.status_code == 200, shown.get_data(as_text=True)[-2000:]
        bar = re.search(r'<progress max="(\d+)" value="(\d+)"', shown.get_data(as_text=True))
        samples.append((round(time.perf_counter() - t2, 1), int(bar.group(2)) if bar else 0,
                        int(bar.group(1)) if bar else None))
        time.sleep(0.5)
    out["import_s"] = time.perf_counter() - t2
    out["total_s"] = time.perf_counter() - t0
    end = client.get(location)
    assert end.status_code == 302 and "/report" in end.headers["Location"], end.headers.get("Location")
    with app.app_context():
        from survey.storage.tables import Response, Survey, Upload
        import sqlalchemy as sa

        slug = end.headers["Location"].split("/surveys/")[1].split("/")[0]
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        out["responses"] = db.session.scalar(sa.select(sa.func.count()).select_from(Response)
                                             .where(Response.survey_id == survey.id))
        out["upload_left"] = db.session.scalar(sa.select(sa.func.count()).select_from(Upload)
                                               .where(Upload.content.is_not(None)))
        db.engine.dispose()
    out["samples"] = samples
    out["peak_mb"] = peak_mb()
    del importing
    return out


def read_baseline(csv_path: str) -> dict:
    t0 = time.perf_counter()
    frame = pd.read_csv(csv_path)
    return {"total_s": time.perf_counter() - t0, "peak_mb": peak_mb(), "rows": len(frame)}


def child(*args) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = read_baseline(*rest) if kind == "read_csv" else run_flow(*rest)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="csi-upload-bench-") as folder:
        path = Path(folder) / "export.csv"
        t0 = time.perf_counter()
        items = write_csv(path, args.rows)
        size = path.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {len(items)} items + {len(SEGMENTS)} segments + wave + comment: {size:.1f} MB "
              f"(written in {time.perf_counter() - t0:.1f} s)", flush=True)
        base = child("read_csv", str(path))
        print(f"{'run':<22}{'upload s':>9}{'mapping s':>10}{'import s':>9}{'total s':>8}{'peak MB':>8}  progress",
              flush=True)
        print(f"{'pandas.read_csv':<22}{'':>9}{'':>10}{'':>9}{base['total_s']:>8.1f}{base['peak_mb']:>8.0f}", flush=True)
        for backend in args.backends:
            url, drop = backend_url(backend, folder)
            try:
                r = child("flow", url, str(path))
            finally:
                if drop:
                    drop()
            assert r["responses"] == args.rows, r["responses"]
            shown = ", ".join(f"{t:g}s:{d:,}" for t, d, _ in r["samples"][:: max(1, len(r["samples"]) // 8)])
            print(f"{'flow ' + backend:<22}{r['upload_s']:>9.1f}{r['mapping_s']:>10.1f}{r['import_s']:>9.1f}"
                  f"{r['total_s']:>8.1f}{r['peak_mb']:>8.0f}  {shown} (stored file left: {r['upload_left']})",
                  flush=True)
        print("target: total < 60 s, peak < 500 MB, progress advancing")


if __name__ == "__main__":
    main()
