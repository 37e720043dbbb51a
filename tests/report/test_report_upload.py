"""Bring your own data: upload, mapping pre-filled by prefix, per-cell errors, all-or-nothing import."""
import io

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from survey.services import importing
from survey.storage.tables import Answer, Response, Survey

ITEMS = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CC": 1, "CL": 2}


def table(n=120, seed=3):
    """Survey-tool style export: item columns by prefix, a segment, a comment, a wave and a junk column."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, n)
    cols = {}
    for code, k in ITEMS.items():
        for i in range(1, k + 1):
            raw = 7 + 1.5 * (0.8 * base + 0.6 * rng.normal(0, 1, n)) * (-1 if code == "CC" else 1)
            cols[f"{code}{i}"] = np.clip(np.rint(raw), 1, 10).astype(int)
    frame = pd.DataFrame(cols)
    frame["Region"] = rng.choice(["North", "South"], n)
    frame["comment"] = np.where(rng.random(n) < 0.2, "<b>good</b>", "")
    frame["wave"] = np.where(np.arange(n) < n // 2, 1, 2)
    frame["respondent_email"] = [f"p{i}@example.com" for i in range(n)]
    return frame


def upload(client, frame, name="data.csv", title="Imported survey"):
    body = frame.to_csv(index=False).encode("utf-8")
    return client.post("/manage/upload/", data={"file": (io.BytesIO(body), name), "title": title,
                                                 "scale_min": "1", "scale_max": "10"},
                       content_type="multipart/form-data")


def counts(db_session):
    return tuple(db_session.scalar(sa.select(sa.func.count()).select_from(t)) for t in (Survey, Response, Answer))


def test_mapping_is_prefilled_by_prefix():
    mapping = importing.propose_mapping(table())
    assert mapping["CE1"] == "CE" and mapping["CC1"] == "CC" and mapping["CL2"] == "CL"
    assert mapping["Region"] == "segment" and mapping["comment"] == "comment" and mapping["wave"] == "wave"
    assert mapping["respondent_email"] == "ignore"


def test_upload_requires_login(client):
    assert client.get("/manage/upload/").status_code == 302


def test_upload_map_import_and_report(client, manager, db_session):
    response = upload(client, table())
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="CE" selected' in html and 'value="segment" selected' in html
    form = {f"role-{i}": role for i, role in enumerate(importing.propose_mapping(table()).values())}
    done = client.post(response.headers["Location"], data=form)
    assert done.status_code == 302 and "/report" in done.headers["Location"]
    survey = db_session.scalar(sa.select(Survey).order_by(Survey.id.desc()))
    assert [w.number for w in survey.waves] == [1, 2]
    assert {q.code for q in survey.questions} >= {"CE1", "CL2", "region", "comment"}
    assert "respondent_email" not in {q.code for q in survey.questions}
    from survey import services

    stored = services.responses_frame(db_session, survey)  # read back through response.packed
    original = table()
    for code in ("CE1", "PQ3", "CC1", "CL2"):
        assert stored[code].tolist() == original[code].astype(float).tolist()
    assert stored["region"].tolist() == original["Region"].tolist()
    assert stored["wave"].tolist() == original["wave"].tolist()
    report = client.get(done.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "csi-value" in report and "path-diagram" in report
    assert "&lt;b&gt;good&lt;/b&gt;" in report
    result = client.get(done.headers["Location"].replace("/report", "/report.json")).get_json()
    assert result["n_used"] == 60  # the latest wave by default
    result = client.get(done.headers["Location"].replace("/report", "/report.json") + "?wave=all").get_json()
    assert result["n_used"] == 120


def test_bad_cells_are_reported_per_column_and_row_and_nothing_is_kept(client, manager, db_session):
    frame = table()
    frame["PQ2"] = frame["PQ2"].astype(object)
    frame.loc[4, "PQ2"] = "seven"    # spreadsheet row 6 ("n/a" and blanks read as missing = don't know)
    frame.loc[9, "CS1"] = 11         # row 11
    frame["CL1"] = frame["CL1"].astype(float)
    frame.loc[10, "CL1"] = 7.5       # row 12
    before = counts(db_session)
    location = upload(client, frame).headers["Location"]
    form = {f"role-{i}": role for i, role in enumerate(importing.propose_mapping(frame).values())}
    page = client.post(location + "?lang=en", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Column “PQ2”, row 6: “seven” is not a number." in html
    assert "Column “CS1”, row 11: 11 is outside the scale 1–10." in html
    assert "Column “CL1”, row 12: 7.5 is not a whole number." in html
    assert counts(db_session) == before
    form["role-0"] = "ignore"
    for i, name in enumerate(frame.columns):
        if name.startswith("CE"):
            form[f"role-{i}"] = "ignore"
    html = client.post(location + "?lang=en", data=form).get_data(as_text=True)
    assert "Construct CE has no column" in html


def test_failure_while_writing_rolls_everything_back(app, db_session, monkeypatch):
    frame = table(40)
    mapping = importing.propose_mapping(frame)
    before = counts(db_session)
    from survey.storage import bulk

    real_insert = bulk.insert_rows

    def broken(session, table, *args, **kwargs):
        if table.name == "answer":
            raise RuntimeError("disk full")
        return real_insert(session, table, *args, **kwargs)

    monkeypatch.setattr(bulk, "insert_rows", broken)
    with pytest.raises(RuntimeError):
        importing.import_survey(db_session, frame, mapping, title="x", scale=(1, 10))
    monkeypatch.undo()
    assert counts(db_session) == before


def test_unreadable_file_and_missing_fields(client, manager):
    bad = client.post("/manage/upload/?lang=en", data={"file": (io.BytesIO(b""), "empty.csv"), "title": "x"},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and "could not be read" in bad.get_data(as_text=True)
    none = client.post("/manage/upload/?lang=en", data={"title": ""}, content_type="multipart/form-data")
    assert none.status_code == 400 and "Choose a file" in none.get_data(as_text=True)
    assert client.get("/manage/upload/deadbeef").status_code == 404


def test_excel_upload(client, manager, db_session):
    buf = io.BytesIO()
    table(60).to_excel(buf, index=False)
    buf.seek(0)
    response = client.post("/manage/upload/", data={"file": (buf, "export.xlsx"), "title": "Excel"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert 'value="PV" selected' in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_csv_with_nul_characters_is_refused_as_binary(client, manager, db_session):
    """PostgreSQL cannot store NUL; a CSV holding one is refused up front with the reason, nothing stored."""
    before = counts(db_session)
    frame = table()
    frame.loc[0, "comment"] = "bad\x00 delivery"
    response = upload(client, frame)
    assert response.status_code == 400
    assert "looks binary" in response.get_data(as_text=True)
    assert counts(db_session) == before


def test_import_in_blocks_stores_the_same_rows_and_is_all_or_nothing(db_session, monkeypatch):
    from survey import services

    frame = table(n=50)
    mapping = importing.propose_mapping(frame)
    whole = importing.import_survey(db_session, frame, mapping, title="whole", scale=(1, 10))
    monkeypatch.setattr(importing, "IMPORT_BLOCK", 7)
    seen = []
    blocks = importing.import_survey(db_session, frame, mapping, title="blocks", scale=(1, 10),
                                     progress=lambda done, total: seen.append((done, total)))
    assert seen == [(min(k + 7, 50), 50) for k in range(0, 50, 7)]
    meta = ["response_id", "created_at"]
    a = services.responses_frame(db_session, whole).drop(columns=meta)
    b = services.responses_frame(db_session, blocks).drop(columns=meta)
    pd.testing.assert_frame_equal(a, b)
    before = counts(db_session)

    def fail_after_first_block(done, total):
        if done > 7:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        importing.import_survey(db_session, frame, mapping, title="broken", scale=(1, 10),
                                progress=fail_after_first_block)
    assert counts(db_session) == before  # the first block was rolled back too


def post_mapping(client, location, frame):
    form = {f"role-{i}": role for i, role in enumerate(importing.propose_mapping(frame).values())}
    return client.post(location, data=form)


def test_the_upload_is_kept_in_the_database_and_dropped_once_imported(client, manager, app, db_session):
    from pathlib import Path

    from survey.storage.tables import Upload

    def files():
        return sorted(str(p) for p in Path(app.instance_path).rglob("*") if p.is_file() and "upload" in str(p))

    before = files()
    location = upload(client, table()).headers["Location"]
    row = db_session.scalar(sa.select(Upload))
    assert row.status == "mapping" and row.content.startswith(b"CE1,") and row.filename == "data.csv"
    assert "/report" in post_mapping(client, location, table()).headers["Location"]
    assert files() == before  # nothing written beside the app, nothing left behind
    db_session.expire_all()
    row = db_session.scalar(sa.select(Upload))
    assert row.status == "done" and row.content is None and row.survey_slug
    assert client.get(location).headers["Location"].endswith(f"/manage/surveys/{row.survey_slug}/report")


def test_a_slow_import_shows_its_progress_page(client, manager, app, db_session, held_import):
    app.config["UPLOAD_WAIT_SECONDS"] = 0.1
    location = upload(client, table()).headers["Location"]
    sent = post_mapping(client, location, table())
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/status")
    page = client.get(sent.headers["Location"] + "?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'http-equiv="refresh"' in html and "Importing" in html
    assert client.get(location).headers["Location"].endswith("/status")  # no second import while it runs
    held_import.set()
    from survey import jobs

    assert jobs.drain(30)
    done = client.get(sent.headers["Location"])
    assert done.status_code == 302 and client.get(done.headers["Location"]).headers["Location"].endswith("/report")
    assert counts(db_session)[1] == len(table())


def test_a_failed_import_says_so_and_stores_nothing(client, manager, app, db_session, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    before = counts(db_session)
    monkeypatch.setattr(importing, "import_chunks", broken)
    location = upload(client, table()).headers["Location"]
    sent = post_mapping(client, location, table())
    page = client.get(sent.headers["Location"] + "?lang=en")
    assert page.status_code == 500 and "disk full" in page.get_data(as_text=True)
    assert counts(db_session) == before


def test_uploads_are_private_and_expire(client, manager, auth, app, db_session):
    from datetime import timedelta

    from survey.storage.tables import Upload, utcnow

    location = upload(client, table()).headers["Location"]
    other = app.test_client()
    auth.create(email="other@example.com")
    other.post("/auth/login", data={"email": "other@example.com", "password": "correct horse battery"})
    assert other.get(location).status_code == 404
    db_session.execute(sa.update(Upload).values(created_at=utcnow() - timedelta(days=2)))
    db_session.commit()
    upload(client, table(20), title="newer")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Upload)) == 1
    assert client.get(location).status_code == 404


def test_progress_is_visible_while_the_import_runs(app, db_session, manager, client):
    from survey.services import uploads
    from survey.storage.tables import Upload

    location = upload(client, table()).headers["Location"]
    row = db_session.scalar(sa.select(Upload))
    with app.app_context():
        uploads._reporter(row.id)(20_000, 50_000)
        db_session.expire_all()
        assert uploads.progress(db_session.get(Upload, row.id)) == (20_000, 50_000)
        uploads._PROGRESS.clear()
    assert location


def test_the_import_runs_on_the_redis_queue(client, manager, app, db_session):
    import secrets

    import redis
    from rq import Queue, SimpleWorker

    connection = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as err:
        pytest.skip(f"Redis not reachable: {err}")
    name = "csi-test-" + secrets.token_hex(4)
    app.config.update(REDIS_URL="redis://127.0.0.1:6379/15", JOB_QUEUE=name, UPLOAD_WAIT_SECONDS=0.1)
    queue = Queue(name, connection=connection)
    try:
        location = upload(client, table()).headers["Location"]
        assert post_mapping(client, location, table()).headers["Location"].endswith("/status")
        assert queue.count == 1 and counts(db_session)[1] == 0
        with app.app_context():
            SimpleWorker([queue], connection=connection).work(burst=True)
        assert client.get(location).headers["Location"].endswith("/report")
        assert counts(db_session)[1] == len(table())
    finally:
        queue.delete(delete_jobs=True)
        connection.close()


def test_downloads_of_a_chinese_segment_are_named_per_rfc_6266(client, manager, db_session):
    from urllib.parse import unquote

    frame = table(n=300)
    frame["Region"] = np.where(frame["Region"] == "North", "华北", "华南")
    location = upload(client, frame).headers["Location"]
    form = {f"role-{i}": role for i, role in enumerate(importing.propose_mapping(frame).values())}
    report = client.post(location, data=form).headers["Location"]
    for path, suffix in ((".json", "-result.json"), ("/estimates.csv", "-estimates.csv"),
                         ("/scores.csv", "-scores.csv")):
        url = report.replace("/report", "/report" + path) if path == ".json" else report + path
        res = client.get(url, query_string={"segment": "region:华南", "wave": "all"})
        assert res.status_code == 200, res.data[:200]
        header = res.headers["Content-Disposition"]
        header.encode("latin-1")  # gunicorn and Werkzeug send headers as latin-1: this raised before
        plain, _, extended = header.partition("; filename*=UTF-8''")
        slug = report.split("/surveys/")[1].split("/")[0]
        assert plain == f'attachment; filename="{slug}-region-{suffix}"'
        assert unquote(extended) == f"{slug}-region-华南{suffix}"
