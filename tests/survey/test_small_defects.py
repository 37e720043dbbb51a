"""Issue 13's small defects: the new-survey hint is text, the trend chart's axis and the report's response count
are translated and pluralised, and a broken upload is a message naming the manager's file."""
import io
import re
import zipfile

from survey.report import present, wording
from survey.services import uploads
from model import CONSTRUCTS, DataError


def test_new_survey_hint_shows_the_address_placeholder_as_text(client, manager):
    for lang, hint in (("en", "Respondents open /s/&lt;address&gt;."), ("zh_CN", "受访者打开 /s/&lt;地址&gt;。")):
        html = client.get(f"/manage/surveys/new?lang={lang}").get_data(as_text=True)
        assert f'<small id="slug-hint">{hint}</small>' in html
        assert "<address>" not in html and "<地址>" not in html


def test_report_count_is_pluralised_in_english_and_chinese(app):
    with app.test_request_context():
        assert wording.t("generated", "en", n=1, at="today") == "Report on 1 response, generated today"
        assert wording.t("generated", "en", n=404, at="today") == "Report on 404 responses, generated today"
        assert wording.t("generated", "zh_CN", n=1, at="今天") == "基于 1 份答卷，生成于 今天"


def test_trend_chart_axis_is_in_the_report_language(app):
    entry = {"result": None, "descriptive": {"constructs": {}},
             "waves": [{"wave": w, "scores": {c: {"mean": 60.0 + w} for c in CONSTRUCTS}} for w in (1, 2)]}
    names = {c: c for c in CONSTRUCTS}
    with app.test_request_context():
        chinese = present._draw_charts(entry, names, "zh_CN")["trend"]
        english = present._draw_charts(entry, names, "en")["trend"]
    assert "得分（0–100）" in chinese and "Score (0–100)" not in chinese
    assert "Score (0–100)" in english


def test_a_workbook_with_broken_xml_is_a_message_naming_the_file(client, manager):
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("[Content_Types].xml", "")
        archive.writestr("xl/workbook.xml", "<broken")
    try:
        uploads.read_content(body.getvalue(), "Kundendaten 2026.xlsx", nrows=5)
    except DataError as err:
        message = str(err)
    assert message.startswith("Kundendaten 2026.xlsx is not a readable table")
    assert not re.search(r"tmp\w{6,}", message)
    res = client.post("/manage/upload/?lang=en", data={"file": (io.BytesIO(body.getvalue()), "Kundendaten 2026.xlsx"),
                                                       "title": "x", "scale_min": "1", "scale_max": "10"},
                      content_type="multipart/form-data")
    page = res.get_data(as_text=True)
    assert res.status_code == 400 and "Kundendaten 2026.xlsx is not a readable table" in page
    assert not re.search(r"/tmp/|tmp\w{6,}\.xlsx", page)
