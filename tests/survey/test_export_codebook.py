"""The codebook (CSV and the .xlsx's second sheet) and the SPSS .sav, read back with openpyxl and pyreadstat and
checked against the questionnaire: question texts, option labels in both languages, the missing codes."""
import csv
import io

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from survey import services
from survey.services import apikeys
from survey.services.exporting import DONT_KNOW, NO_ANSWER, NOT_ASKED
from survey.storage.tables import AuditEvent

MISSING_EN = {-1: "Don't know / not applicable", -2: "Not asked: the question did not apply to this respondent",
              -3: "No answer"}


@pytest.fixture
def responses(client, db_session, demo_survey, manager, valid_answers):
    """Three responses: "don't know" and "no" to complaining; a complaint; an API call leaving segments out."""
    forms = [valid_answers(PV2="dk", region="south", comment="价格有点高"),
             valid_answers(CS1="1", complained="yes", complaint_handling="2", complaint_cause=["quality", "employee"],
                           key_account=None, comment="=cmd|' /C calc'!A0")]
    for form in forms:
        assert client.post("/s/csi", data=form).status_code == 302
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    answers = {code: 5 for code in ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3",
                                    "CL1", "CL2")} | {"CC1": None, "complained": "no"}
    assert client.post("/api/v1/surveys/csi/responses", json={"locale": "zh", "answers": answers},
                       headers={"X-API-Key": key}).status_code == 201
    return demo_survey


def read_csv(res):
    return list(csv.DictReader(io.StringIO(res.data.decode("utf-8-sig"))))


def by_variable(rows):
    """variable -> (its question row, {value as text: (label_en, label_zh)})."""
    found = {}
    for row in rows:
        head, values = found.setdefault(row["variable"], [None, {}])
        if row["type"]:
            found[row["variable"]][0] = row
        else:
            values[str(row["value"])] = (row["label_en"], row["label_zh"])
    return found


def test_codebook_lists_every_column_with_both_languages_and_its_codes(client, db_session, responses):
    res = client.get("/manage/surveys/csi/codebook.csv")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert 'filename="csi-codebook.csv"' in res.headers["Content-Disposition"]
    book = by_variable(read_csv(res))
    header = next(csv.reader(io.StringIO(client.get("/manage/surveys/csi/export.csv").data.decode("utf-8-sig"))))
    assert list(book) == header  # one entry per export column, in the same order
    label = responses.waves[0].label
    assert book["wave"][1] == {"1": (label, label) if label else ("Wave 1", "第 1 期")}
    assert book["locale"][1]["zh_CN"] == ("Chinese", "中文")
    for q in responses.active_questions:
        head, values = book[q.code]
        assert (head["type"], head["question_en"], head["question_zh"]) == (q.kind, q.text_en, q.text_zh)
        assert head["condition"] == (q.only_if or "")
        for option in q.options or ():
            assert values[option["value"]] == (option["en"], option["zh"])
        if q.kind == "scale":
            assert values["1"] == (q.low_en, q.low_zh) and values["10"] == (q.high_en, q.high_zh)
        expected = set() if q.kind == "text" else {"-3"} | ({"-1"} if q.kind == "scale" else set()) | (
            {"-2"} if q.only_if else set())
        assert {v for v in values if v.startswith("-")} == expected, q.code
        for code in expected:
            en, zh = values[code]
            assert en == MISSING_EN[int(code)] and zh and zh != en
    assert book["complaint_handling"][1]["-2"][1] != book["complaint_handling"][1]["-3"][1]


def test_xlsx_codebook_sheet_is_the_codebook(client, responses):
    csv_rows = read_csv(client.get("/manage/surveys/csi/codebook.csv"))
    sheet = load_workbook(io.BytesIO(client.get("/manage/surveys/csi/export.xlsx", buffered=True).data))["codebook"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(csv_rows[0])
    assert len(rows) - 1 == len(csv_rows)
    for got, want in zip(rows[1:], csv_rows):
        assert ["" if v is None else str(v) for v in got] == [v.removeprefix("'") for v in want.values()]
    values = {(r[0], r[5]): r[6] for r in rows[1:] if r[5] is not None}
    assert values[("complaint_handling", -2)] == MISSING_EN[-2]  # codes are numbers in Excel, like the data


def read_sav(client, url):
    res = client.get(url, buffered=True)
    assert res.status_code == 200 and res.headers["Content-Disposition"].startswith("attachment")
    return pyreadstat.read_sav(io.BytesIO(res.data), user_missing=True)  # keep -1/-2/-3, not NaN


def test_sav_has_labels_value_labels_and_user_missing_codes(client, responses):
    frame, meta = read_sav(client, "/manage/surveys/csi/export.sav?labels=en")
    questions = {q.code: q for q in responses.active_questions}
    labels = meta.column_names_to_labels
    options = [o["value"] for o in questions["complaint_cause"].options]
    assert meta.column_names[:4] == ["response_id", "created_at", "wave", "locale"]
    assert [f"complaint_cause_{v}" for v in options] == [c for c in meta.column_names if c.startswith("complaint_c")]
    for code, q in questions.items():
        if q.kind != "multi":
            assert labels[code] == q.text_en, code
    assert labels["complaint_cause_employee"] == questions["complaint_cause"].text_en + ": An individual employee"
    value_labels = meta.variable_value_labels
    assert value_labels["CS1"] == {1: "Very dissatisfied", 10: "Very satisfied", **MISSING_EN}
    assert value_labels["region"] == {i: o["en"] for i, o in enumerate(questions["region"].options, 1)} | MISSING_EN
    assert value_labels["key_account"] == {1: "Yes", 2: "No", **MISSING_EN}
    for name in meta.column_names[4:]:
        if name == "comment":
            assert name not in meta.missing_ranges
        else:
            assert sorted(r["lo"] for r in meta.missing_ranges[name]) == [-3, -2, -1], name
    # the three responses, cell by cell
    assert frame["response_id"].tolist() == sorted(frame["response_id"].tolist())
    assert frame["PV2"].tolist() == [DONT_KNOW, 7, 5] and frame["CC1"].tolist() == [7, 7, DONT_KNOW]
    assert frame["CS1"].tolist() == [7, 1, 5]
    assert frame["complained"].tolist() == [2, 1, 2]  # yes = 1, no = 2
    assert frame["complaint_handling"].tolist() == [NOT_ASKED, 2, NOT_ASKED]
    assert frame["complaint_cause_quality"].tolist() == [NOT_ASKED, 1, NOT_ASKED]
    assert frame["complaint_cause_systems"].tolist() == [NOT_ASKED, 0, NOT_ASKED]
    assert frame["region"].tolist() == [options_index(questions["region"], "south"),
                                        options_index(questions["region"], "east"), NO_ANSWER]
    assert frame["key_account"].tolist() == [1, NO_ANSWER, NO_ANSWER]
    assert frame["comment"].tolist() == ["价格有点高", "=cmd|' /C calc'!A0", ""]
    assert frame["locale"].tolist() == ["en", "en", "zh_CN"]
    assert frame["wave"].tolist() == [1, 1, 1]
    csv_times = pd.read_csv(io.BytesIO(client.get("/manage/surveys/csi/export.csv").data),
                            encoding="utf-8-sig")["created_at"]
    assert [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in frame["created_at"]] == csv_times.tolist()
    # read the usual way, SPSS's user-missing values become missing
    plain, _ = pyreadstat.read_sav(io.BytesIO(client.get("/manage/surveys/csi/export.sav", buffered=True).data))
    assert plain["PV2"].isna().tolist() == [True, False, False]
    assert plain["complaint_handling"].isna().tolist() == [True, False, True]


def options_index(question, value):
    return [o["value"] for o in question.options].index(value) + 1


def test_sav_and_codebook_downloads_are_audited(client, db_session, responses):
    read_sav(client, "/manage/surveys/csi/export.sav")
    client.get("/manage/surveys/csi/codebook.csv")
    actions = list(db_session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["export:exports.export_sav", "export:exports.codebook_csv"]


def test_sav_in_chinese_and_by_wave(client, db_session, responses, valid_answers):
    _, meta = read_sav(client, "/manage/surveys/csi/export.sav?labels=zh")
    questions = {q.code: q for q in responses.active_questions}
    assert meta.column_names_to_labels["CS1"] == questions["CS1"].text_zh
    assert meta.variable_value_labels["complained"][1] == "是"
    assert meta.variable_value_labels["CS1"][1] == "非常不满意"
    assert all(meta.variable_value_labels["CS1"][code] != MISSING_EN[code] for code in MISSING_EN)
    services.new_wave(db_session, responses, "spring")
    services.record_response(db_session, responses, valid_answers(CS1="9"))
    frame, meta = read_sav(client, "/manage/surveys/csi/export.sav?wave=2&labels=en")
    assert frame["wave"].tolist() == [2] and frame["CS1"].tolist() == [9]
    assert meta.variable_value_labels["wave"] == {1: responses.waves[0].label or "Wave 1", 2: "spring"}


def test_sav_over_the_cap_goes_back_with_a_message(app, client, responses):
    app.config["EXPORT_SAV_MAX_RESPONSES"] = 2
    res = client.get("/manage/surveys/csi/export.sav?lang=en")
    assert res.status_code == 302 and res.headers["Location"].endswith("/manage/surveys/csi")
    page = client.get("/manage/surveys/csi?lang=en").get_data(as_text=True)
    assert "SPSS files hold at most 2 responses here; this export has 3." in page
    app.config["EXPORT_SAV_MAX_RESPONSES"] = 3
    with client.get("/manage/surveys/csi/export.sav") as res:
        assert res.status_code == 200


def test_survey_page_links_every_export(client, responses):
    page = client.get("/manage/surveys/csi?lang=en").get_data(as_text=True)
    for url in ("export.csv", "codebook.csv", "export.xlsx", "export.sav?labels=en", "export.sav?labels=zh"):
        assert f'href="/manage/surveys/csi/{url}"' in page
    assert "-1 don't know, -2 not asked" in page
