"""Export routes on both databases: what respondents submitted is what managers download, as CSV and .xlsx."""
import csv
import io
import types

import pandas as pd
import pytest
from openpyxl import load_workbook

from survey.services import apikeys
from survey import services

EXPORTS = ("export.csv", "export.xlsx", "export.sav", "codebook.csv", "tokens.csv")
ITEMS = ["CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2"]
OTHERS = ["complained", "complaint_handling", "complaint_cause", "customer_type", "key_account",
          "customer_status", "region", "channel", "tenure", "comment", "contact_consent"]
QUALITY = ["duration_s", "quality_flags", "excluded_from_report"]  # services.quality.EXPORT_COLUMNS


@pytest.mark.parametrize("name", EXPORTS)
def test_login_required(client, demo_survey, name):
    res = client.get(f"/manage/surveys/csi/{name}")
    assert res.status_code == 302 and "/auth/login" in res.headers["Location"]


@pytest.mark.parametrize("name", EXPORTS)
def test_unknown_survey_is_404(client, manager, name):
    assert client.get(f"/manage/surveys/nope/{name}").status_code == 404


@pytest.fixture
def submitted(client, db_session, demo_survey, manager, valid_answers):
    """Three responses as respondents send them (two web forms, one API call); returns what was sent."""
    web = [
        valid_answers(CE1="10", PV2="dk", comment="服务很好，但是价格有点高。", region="south"),
        valid_answers(CS1="1", complained="yes", complaint_handling="2",
                      complaint_cause=["quality", "employee"], comment="=cmd|' /C calc'!A0"),
    ]
    for form in web:
        assert client.post("/s/csi", data=form, headers={"Accept-Language": "zh-CN"}).status_code == 302
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    api = {code: 5 for code in ITEMS} | {"CC1": None, "complained": "no", "comment": "+44 20 7946 0000"}
    res = client.post("/api/v1/surveys/csi/responses", json={"locale": "en", "answers": api},
                      headers={"X-API-Key": key})
    assert res.status_code == 201
    return web + [{k: str(v) if v is not None else "dk" for k, v in api.items()}]


CONDITIONAL = {"complaint_handling", "complaint_cause"}  # asked only when complained = yes


def expected_cell(sent: dict, code: str) -> str:
    """The CSV text a submitted form value should export as: -1 don't know, -2 not asked, -3 no answer."""
    value = sent.get(code)
    if value == "dk":
        return "-1"
    if value is None or value == "":
        if code == "comment":
            return ""
        return "-2" if code in CONDITIONAL and sent.get("complained") != "yes" else "-3"
    if isinstance(value, list):
        return ";".join(sorted(value, key=["organisation", "effectiveness", "quality", "employee",
                                           "systems"].index))
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def test_csv_round_trip(client, submitted):
    res = client.get("/manage/surveys/csi/export.csv")
    assert res.status_code == 200
    assert res.mimetype == "text/csv" and "attachment" in res.headers["Content-Disposition"]
    assert res.data.startswith(b"\xef\xbb\xbf") and not res.data[3:].startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(res.data.decode("utf-8-sig"))))
    assert rows[0] == ["response_id", "created_at", "wave", "locale"] + ITEMS + OTHERS + QUALITY
    records = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert len(records) == len(submitted)
    for sent, got in zip(submitted, records):
        assert got["wave"] == "1"
        for code in ITEMS + OTHERS:
            assert got[code] == expected_cell(sent, code), code
    assert [r["locale"] for r in records] == ["zh_CN", "zh_CN", "en"]
    assert records[1]["comment"] == "'=cmd|' /C calc'!A0"
    assert records[2]["comment"] == "'+44 20 7946 0000"
    assert records[0]["created_at"].endswith("Z")
    # posted without a rendered form: untimed; the second web answer came from the same address and browser
    # moments after the first (a repeat); the API answer has no browser to recognise but rated every item 5
    assert [(r["duration_s"], r["quality_flags"], r["excluded_from_report"]) for r in records] == [
        ("", "", "false"), ("", "repeat", "false"), ("", "straight_lining", "false")]


def test_csv_reads_back_in_pandas_as_numbers(client, submitted):
    body = client.get("/manage/surveys/csi/export.csv").data
    frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert frame["CE1"].tolist() == [10, 7, 5]
    assert frame["PV2"].tolist() == [-1, 7, 5] and frame["CC1"].tolist() == [7, 7, -1]
    assert frame["complaint_handling"].tolist() == [-2, 2, -2]
    assert frame["comment"].iloc[0] == "服务很好，但是价格有点高。"
    coded = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", na_values=["-1", "-2", "-3"])  # as the README says
    assert coded["PV2"].isna().tolist() == [True, False, False]
    assert coded["complaint_handling"].tolist()[1] == 2 and coded["complaint_handling"].isna().sum() == 2


def test_xlsx_round_trip(client, submitted):
    res = client.get("/manage/surveys/csi/export.xlsx", buffered=True)
    assert res.status_code == 200 and res.mimetype.endswith("spreadsheetml.sheet")
    assert res.headers["Content-Disposition"].startswith("attachment")
    workbook = load_workbook(io.BytesIO(res.data))
    assert workbook.sheetnames == ["responses", "codebook"]
    sheet = workbook["responses"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header == ["response_id", "created_at", "wave", "locale"] + ITEMS + OTHERS + QUALITY
    assert [row[-3:] for row in rows[1:]] == [(None, None, False), (None, "repeat", False),
                                          (None, "straight_lining", False)]
    for sent, row in zip(submitted, rows[1:]):
        got = dict(zip(header, row))
        for code in ITEMS:
            assert got[code] == int(expected_cell(sent, code)), code  # numbers, the missing codes included
        for code in OTHERS:
            expected = expected_cell(sent, code).removeprefix("'")
            assert ("" if got[code] is None else str(got[code])) == expected, code
    assert rows[2][header.index("comment")] == "=cmd|' /C calc'!A0"
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            assert cell.data_type != "f"
    assert len(rows) == 1 + len(submitted)


def test_csv_is_a_generator_and_xlsx_a_passed_through_file(app, submitted):
    from survey.web.manage import exports

    with app.test_request_context("/manage/surveys/csi/export.csv"):
        res = exports.export_csv("csi")
        assert res.is_streamed and isinstance(res.response, types.GeneratorType)
        first = next(res.response)
        assert first.startswith(b"\xef\xbb\xbfresponse_id,")  # header before any row is read
        res.close()
    with app.test_request_context("/manage/surveys/csi/export.xlsx"):
        res = exports.export_xlsx("csi")
        assert res.direct_passthrough and not res.is_sequence
        res.close()


def test_large_export_comes_in_batches(client, db_session, demo_survey, manager, valid_answers):
    rows = [valid_answers(CS1=str(1 + i % 10)) for i in range(450)]
    assert services.record_responses_bulk(db_session, demo_survey, rows) == 450
    res = client.get("/manage/surveys/csi/export.csv", buffered=False)
    chunks = list(res.response)
    res.close()
    assert len(chunks) == 1 + 3  # header, then 200 + 200 + 50 rows
    frame = pd.read_csv(io.BytesIO(b"".join(chunks)), encoding="utf-8-sig")
    assert len(frame) == 450 and frame["response_id"].is_monotonic_increasing
    assert frame["CS1"].tolist() == [1 + i % 10 for i in range(450)]
    sheet = load_workbook(io.BytesIO(client.get("/manage/surveys/csi/export.xlsx", buffered=True).data), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == 451


def test_wave_filter(client, db_session, demo_survey, manager, valid_answers):
    services.record_response(db_session, demo_survey, valid_answers(CS1="2"))
    services.new_wave(db_session, demo_survey, "spring")
    services.record_response(db_session, demo_survey, valid_answers(CS1="9"))
    frame = pd.read_csv(io.BytesIO(client.get("/manage/surveys/csi/export.csv?wave=2").data),
                        encoding="utf-8-sig")
    assert frame["wave"].tolist() == [2] and frame["CS1"].tolist() == [9]
    assert len(pd.read_csv(io.BytesIO(client.get("/manage/surveys/csi/export.csv").data))) == 2
    assert client.get("/manage/surveys/csi/export.csv?wave=3").status_code == 404


def test_empty_survey_exports_header_only(client, demo_survey, manager):
    body = client.get("/manage/surveys/csi/export.csv").data.decode("utf-8-sig")
    assert body.splitlines() == [",".join(["response_id", "created_at", "wave", "locale"] + ITEMS + OTHERS + QUALITY)]
    book = load_workbook(io.BytesIO(client.get("/manage/surveys/csi/export.xlsx", buffered=True).data))
    assert len(list(book["responses"].values)) == 1 and len(list(book["codebook"].values)) > 100
    assert [row[:2] for row in book["codebook"].values if row[0] in QUALITY] == [
        ("duration_s", "number"), ("quality_flags", "text"), ("excluded_from_report", "boolean")]


def test_tokens_csv_lists_links_and_use(client, db_session, demo_survey, manager, valid_answers):
    tokens = services.generate_tokens(db_session, demo_survey, 3)
    services.record_response(db_session, demo_survey, valid_answers(), token=tokens[1])
    res = client.get("/manage/surveys/csi/tokens.csv")
    assert res.status_code == 200 and res.data.startswith(b"\xef\xbb\xbf")
    assert 'filename="csi-invitations.csv"' in res.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(res.data.decode("utf-8-sig"))))
    assert [r["token"].removeprefix("'") for r in rows] == tokens
    for row, token in zip(rows, tokens):
        assert row["link"] == f"http://localhost/s/csi?t={token}"
        assert row["token"] == ("'" + token if token[0] in "=+-@" else token)
    assert [bool(r["used_at"]) for r in rows] == [False, True, False]
