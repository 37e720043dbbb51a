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
    real_execute = db_session.execute

    def broken(statement, *args, **kwargs):
        if getattr(statement, "table", None) is not None and statement.table.name == "answer":
            raise RuntimeError("disk full")
        return real_execute(statement, *args, **kwargs)

    monkeypatch.setattr(db_session, "execute", broken)
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
        res = client.get(url, query_string={"segment": "region:华南"})
        assert res.status_code == 200, res.data[:200]
        header = res.headers["Content-Disposition"]
        header.encode("latin-1")  # gunicorn and Werkzeug send headers as latin-1: this raised before
        plain, _, extended = header.partition("; filename*=UTF-8''")
        slug = report.split("/surveys/")[1].split("/")[0]
        assert plain == f'attachment; filename="{slug}-region-{suffix}"'
        assert unquote(extended) == f"{slug}-region-华南{suffix}"
