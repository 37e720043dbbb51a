"""Large uploads: the per-route body limit, .csv.gz within the unpacked cap, the chunked import, temporary files."""
import gzip
import io
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from model import read_table, read_table_chunks
from survey import jobs
from survey.services import importing, uploads
from survey.storage.tables import Answer, Question, Response, Survey, Upload
from tests.report.test_report_upload import counts, post_mapping, table


def send(client, body: bytes, name="data.csv"):
    return client.post("/manage/upload/?lang=en", data={"file": (io.BytesIO(body), name), "title": "Big",
                                                         "scale_min": "1", "scale_max": "10"},
                       content_type="multipart/form-data")


def test_only_the_upload_form_takes_bodies_over_max_content_length(client, manager, app, db_session):
    body = table(600).to_csv(index=False).encode()
    assert 30_000 < len(body) < 40_000
    app.config.update(MAX_CONTENT_LENGTH=20_000, UPLOAD_MAX_BYTES=80_000)
    assert send(client, body).status_code == 302  # over the global limit, under the upload's
    other = client.post("/manage/account/password", data={"current": "x" * 30_000})
    assert other.status_code == 413  # every other form keeps MAX_CONTENT_LENGTH
    app.config["UPLOAD_MAX_BYTES"] = 30_000
    kept = db_session.scalar(sa.select(sa.func.count()).select_from(Upload))
    page = send(client, body)
    html = page.get_data(as_text=True)
    assert page.status_code == 413
    assert 'name="file"' in html and "The file is larger than" in html  # the upload page again, saying why
    assert "Compress it as .csv.gz" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Upload)) == kept


def test_the_413_page_gives_the_limit_in_mb(client, manager, app):
    app.config["UPLOAD_MAX_BYTES"] = 2**18  # a body under the test client's spooling threshold (500 kB)
    page = send(client, b"CE1\n" + b"5\n" * 200_000)
    assert page.status_code == 413 and "larger than 0.25 MB" in page.get_data(as_text=True)


def test_a_gzipped_csv_imports_like_the_plain_one(client, manager, app, db_session):
    frame = table()
    location = send(client, gzip.compress(frame.to_csv(index=False).encode()), "export.csv.gz").headers["Location"]
    assert db_session.scalar(sa.select(Upload.filename)) == "export.csv.gz"
    done = post_mapping(client, location, frame)
    assert "/report" in done.headers["Location"]
    from survey import services

    survey = db_session.scalar(sa.select(Survey).order_by(Survey.id.desc()))
    stored = services.responses_frame(db_session, survey)
    assert stored["CE1"].tolist() == frame["CE1"].astype(float).tolist()
    assert stored["region"].tolist() == frame["Region"].tolist()


def test_a_gzip_bomb_is_refused_quickly_and_nothing_is_kept(client, manager, app, db_session, monkeypatch,
                                                            tmp_path):
    monkeypatch.setattr(uploads.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(uploads, "MAX_UNPACKED_BYTES", 8 * 2**20)  # the real cap is 512 MB: same code, less disk
    bomb = gzip.compress(b"CE1\n" + b"5\n" * (20 * 2**20), compresslevel=9)  # 40 MB unpacked
    assert len(bomb) < 100_000
    before = counts(db_session), db_session.scalar(sa.select(sa.func.count()).select_from(Upload))
    started = time.perf_counter()
    page = send(client, bomb, "bomb.csv.gz")
    assert time.perf_counter() - started < 10
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "bomb.csv.gz would unpack to more than 8 MB" in html
    assert (counts(db_session), db_session.scalar(sa.select(sa.func.count()).select_from(Upload))) == before
    assert list(tmp_path.iterdir()) == []  # the partly unpacked copy is gone
    broken = send(client, b"not gzip at all", "x.csv.gz")
    assert broken.status_code == 400 and "x.csv.gz is not a gzip file" in broken.get_data(as_text=True)


def stored_answers(session, survey):
    """Every answer of a survey as (row position, question code, value, text), independent of ids."""
    rows = session.execute(sa.select(Response.id, Question.code, Answer.value, Answer.text)
                           .join(Answer, Answer.response_id == Response.id)
                           .join(Question, Question.id == Answer.question_id)
                           .where(Response.survey_id == survey.id)).all()
    first = min(r[0] for r in rows)
    return sorted((rid - first, code, value, text) for rid, code, value, text in rows)


def test_the_chunked_import_stores_what_the_whole_table_import_stores(app, db_session, monkeypatch, tmp_path):
    frame = table(130)
    frame.loc[3, "CE2"] = None  # don't know
    frame.loc[5, "Region"] = None
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    mapping = importing.propose_mapping(frame)
    whole = importing.import_survey(db_session, read_table(path), mapping, title="whole", scale=(1, 10))
    monkeypatch.setattr(importing, "IMPORT_BLOCK", 7)
    seen = []
    chunked = importing.import_chunks(db_session, lambda: read_table_chunks(path, chunksize=40), mapping,
                                      title="chunked", scale=(1, 10), progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (7, 130) and seen[-1] == (130, 130) and len(seen) == 3 * 6 + 2  # chunks 40, 40, 40, 10: blocks 5*7+5, 7+3
    assert stored_answers(db_session, chunked) == stored_answers(db_session, whole)
    assert [(q.code, q.kind, q.options) for q in chunked.questions] == \
        [(q.code, q.kind, q.options) for q in whole.questions]
    assert [w.number for w in chunked.waves] == [1, 2]
    expected = sorted((i, "CE1", int(v), None) for i, v in enumerate(frame["CE1"]))
    assert [a for a in stored_answers(db_session, chunked) if a[1] == "CE1"] == expected
    from survey import services

    packed = services.responses_frame(db_session, chunked)  # read back through response.packed
    reference = services.responses_frame(db_session, whole)
    assert list(packed.columns) == list(reference.columns)
    for column in ("CE1", "CE2", "CL2", "region", "wave"):
        assert packed[column].tolist() == pytest.approx(reference[column].tolist(), nan_ok=True) \
            if packed[column].dtype.kind == "f" else packed[column].tolist() == reference[column].tolist()


def test_problems_in_a_later_chunk_name_the_spreadsheet_row_and_nothing_is_kept(app, db_session, tmp_path):
    frame = table(130)
    frame["PQ2"] = frame["PQ2"].astype(object)
    frame.loc[100, "PQ2"] = "seven"  # spreadsheet row 102, in the third chunk of 40
    frame.loc[129, "CS1"] = 11       # row 131, the last chunk
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    before = counts(db_session)
    with pytest.raises(importing.ImportRejected) as err:
        importing.import_chunks(db_session, lambda: read_table_chunks(path, chunksize=40),
                                importing.propose_mapping(frame), title="bad", scale=(1, 10))
    found = {(p.message_id, p.fields["column"], p.fields["row"]) for p in err.value.problems}
    assert found == {("err_not_number", "PQ2", 102), ("err_out_of_scale", "CS1", 131)}
    assert err.value.total == 2 and counts(db_session) == before


def test_temporary_copies_go_on_success_failure_and_expiry(client, manager, app, db_session, monkeypatch,
                                                           tmp_path):
    monkeypatch.setattr(uploads.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(uploads, "CHUNK_ROWS", 50)
    location = send(client, table().to_csv(index=False).encode()).headers["Location"]
    assert "/report" in post_mapping(client, location, table()).headers["Location"]
    assert list(tmp_path.iterdir()) == []  # success
    bad = table()
    bad["PQ2"] = bad["PQ2"].astype(object)
    bad.loc[80, "PQ2"] = "seven"
    location = send(client, bad.to_csv(index=False).encode()).headers["Location"]
    assert post_mapping(client, location, bad).status_code == 422
    assert list(tmp_path.iterdir()) == []  # rejected

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importing, "import_chunks", broken)
    location = send(client, table().to_csv(index=False).encode()).headers["Location"]
    post_mapping(client, location, table())
    assert jobs.drain(30)
    assert list(tmp_path.iterdir()) == []  # failed
    left = tmp_path / f"{uploads.TEMP_PREFIX}dead"  # a worker killed mid-import leaves its copy
    left.mkdir()
    (left / "upload.csv").write_text("CE1\n5\n")
    fresh = tmp_path / f"{uploads.TEMP_PREFIX}running"
    fresh.mkdir()
    day_ago = time.time() - uploads.KEEP.total_seconds() - 60
    os.utime(left, (day_ago, day_ago))
    assert send(client, table().to_csv(index=False).encode()).status_code == 302  # a new upload sweeps
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name]  # the expired copy went, not a live one


def test_read_table_chunks_keeps_the_caps(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    assert [len(c) for c in read_table_chunks(path, chunksize=2)] == [2, 1]
    assert pd.concat(read_table_chunks(path, chunksize=2))["b"].tolist() == ["2", "5", "8"]  # text cells
    from model import DataError

    with pytest.raises(DataError, match="more than 2 data rows"):
        list(read_table_chunks(path, chunksize=2, max_rows=2))
    with pytest.raises(DataError, match="3 columns; at most 2"):
        list(read_table_chunks(path, max_columns=2))
    (tmp_path / "head.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="no data rows"):
        list(read_table_chunks(tmp_path / "head.csv"))
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("地区,CE1\n北方,5\n南方,6\n".encode("gb18030"))
    assert pd.concat(read_table_chunks(gbk, chunksize=1))["地区"].tolist() == ["北方", "南方"]
    assert Path(path).exists()


def test_the_progress_page_does_not_read_the_stored_file(client, manager, app, db_session, held_import):
    """A status poll every two seconds must not pull up to UPLOAD_MAX_BYTES out of the database each time."""
    from survey.storage.db import db

    app.config["UPLOAD_WAIT_SECONDS"] = 0.1
    location = send(client, table().to_csv(index=False).encode()).headers["Location"]
    status = post_mapping(client, location, table()).headers["Location"]
    statements = []
    with app.app_context():
        engine = db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get(status).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
        held_import.set()
    assert any("FROM upload" in s for s in statements)
    assert not any("upload.content" in s for s in statements)
    assert jobs.drain(30)
