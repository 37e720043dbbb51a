"""Survey settings and safety on both databases: confirmation pages before closing, archiving and retiring;
no manager click deletes a response; title and introduction in both languages; wave labels without
duplication; the archive; imported data sets without a public address; paged invitations, responses and
comments; the single response view; finding a response to erase."""
import re

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from survey import services
from survey.services import importing
from survey.storage.tables import Answer, InvitationToken, Response, Survey, Wave

SAMPLE_ARGS = {"slug": "csi", "code": "CE1", "construct": "CE", "filename": "x", "number": "1"}


def reload(db_session, survey):
    db_session.expire_all()
    return db_session.get(Survey, survey.id)


def test_closing_asks_on_a_page_first_and_says_what_happened(client, db_session, manager, demo_survey):
    detail = client.get("/manage/surveys/csi").text
    assert 'name="status" value="closed"' not in detail  # no one-click close on the survey page
    assert 'href="/manage/surveys/csi/status?status=closed"' in detail
    page = client.get("/manage/surveys/csi/status?status=closed")
    assert page.status_code == 200 and "Close this survey?" in page.text
    assert re.search(r'<form method="post" action="/manage/surveys/csi/status"', page.text)
    assert 'name="csrf_token"' in page.text and 'name="status" value="closed"' in page.text
    assert reload(db_session, demo_survey).status == "open"  # asking changes nothing
    done = client.post("/manage/surveys/csi/status", data={"status": "closed"}, follow_redirects=True)
    assert "The survey is closed: no new answers are stored. Its responses are kept." in done.text
    assert reload(db_session, demo_survey).status == "closed"
    opened = client.post("/manage/surveys/csi/status", data={"status": "open"}, follow_redirects=True)
    assert "The survey is open for answers." in opened.text


def test_the_confirmation_pages_need_the_csrf_token(app, client, db_session, manager, demo_survey):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        for url in ("/manage/surveys/csi/status?status=closed", "/manage/surveys/csi/archive",
                    "/manage/surveys/csi/questions/CE2/retire"):
            page = client.get(url)
            assert page.status_code == 200, (url, page.status_code, page.location)
            action, form = re.search(r'<form method="post" action="([^"]+)" class="card narrow">(.*?)</form>',
                                     page.text, re.S).groups()
            fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
            token = fields.pop("csrf_token")
            assert client.post(action, data=fields).status_code == 400  # without the token: refused
            assert client.post(action, data={**fields, "csrf_token": token}).status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    survey = reload(db_session, demo_survey)
    assert survey.status == "closed" and survey.is_archived
    assert not next(q for q in survey.questions if q.code == "CE2").active


def test_archive_hides_keeps_and_restores(client, db_session, manager, demo_survey, valid_answers):
    services.record_response(db_session, demo_survey, valid_answers())
    assert "Test survey" in client.get("/manage/").text
    ask = client.get("/manage/surveys/csi/archive")
    assert ask.status_code == 200 and "Archive this survey?" in ask.text and not reload(db_session, demo_survey).is_archived
    done = client.post("/manage/surveys/csi/archive", follow_redirects=True)
    assert "The survey is archived and closed. Its responses are kept." in done.text
    survey = reload(db_session, demo_survey)
    assert survey.is_archived and survey.status == "closed"
    listing = client.get("/manage/").text
    assert "Test survey" not in listing and 'href="/manage/?archived=1">Archive (1)' in listing
    assert "Test survey" in client.get("/manage/?archived=1").text
    assert "Archived on" in client.get("/manage/surveys/csi").text  # still readable
    assert client.get("/manage/surveys/csi/export.csv").status_code == 200
    assert client.get("/manage/surveys/csi/responses").status_code == 200
    assert "closed" in client.get("/s/csi").text  # respondents see it closed
    refused = client.post("/manage/surveys/csi/status", data={"status": "open"}, follow_redirects=True)
    assert "Restore the survey from the archive before opening it." in refused.text
    assert reload(db_session, demo_survey).status == "closed"
    back = client.post("/manage/surveys/csi/unarchive", follow_redirects=True)
    assert "The survey is back in the list of surveys. It is still closed." in back.text
    assert "Test survey" in client.get("/manage/").text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_no_manager_click_deletes_a_response(app, client, auth, db_session, manager, demo_survey, valid_answers):
    """Every POST route under /manage except the erasure, with sample arguments and the forms' usual fields."""
    services.record_responses_bulk(db_session, demo_survey, [valid_answers(comment="kept")] * 3)
    token = services.generate_tokens(db_session, demo_survey, 1)[0]
    services.record_response(db_session, demo_survey, valid_answers(), token=token)
    counts = lambda: tuple(db_session.scalar(sa.select(sa.func.count()).select_from(t))  # noqa: E731
                           for t in (Response, Answer, InvitationToken))
    before = counts()
    assert before[0] == 4
    fields = {"status": "closed", "label": "x", "count": "1", "kind": "read", "text_en": "a", "text_zh": "b",
              "title_en": "t", "title_zh": "t"}
    posted = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/manage") or "POST" not in rule.methods or rule.endpoint.endswith(".erase"):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^>]*:)?{name}>", SAMPLE_ARGS.get(name, "1"), url)
        assert client.post(url, data=fields).status_code < 500, url
        auth.login()  # some of them log out
        posted += 1
    assert posted >= 18
    db_session.expire_all()
    after = counts()
    assert after[:2] == before[:2] and after[2] >= before[2]  # responses and answers all there; no invitation lost


def test_title_and_introduction_in_both_languages(client, db_session, manager, demo_survey):
    page = client.get("/manage/surveys/csi/settings")
    assert page.status_code == 200 and 'value="Test survey"' in page.text and "测试调查" in page.text
    saved = client.post("/manage/surveys/csi/settings", data={
        "title_en": "  Branch visit 2026 ", "title_zh": "网点到访 2026", "intro_en": "Two minutes, please.",
        "intro_zh": "请花两分钟。"}, follow_redirects=True)
    assert "Settings saved." in saved.text
    survey = reload(db_session, demo_survey)
    assert (survey.title_en, survey.title_zh, survey.intro_en, survey.intro_zh) == (
        "Branch visit 2026", "网点到访 2026", "Two minutes, please.", "请花两分钟。")
    chinese, english = client.get("/s/csi?lang=zh").text, client.get("/s/csi?lang=en").text
    assert "Branch visit 2026" in english and "Two minutes, please." in english
    assert "网点到访 2026" in chinese and "请花两分钟。" in chinese
    empty = client.post("/manage/surveys/csi/settings", data={"title_en": "", "title_zh": "x", "intro_en": "kept?"})
    assert empty.status_code == 422 and "The survey needs a title in both languages." in empty.text
    assert "kept?" in empty.text  # the form comes back with what was typed
    assert reload(db_session, demo_survey).title_en == "Branch visit 2026"


def test_wave_labels_are_never_doubled_or_shared(client, db_session, manager, demo_survey):
    client.post("/manage/surveys/csi/waves", data={"label": ""})
    client.post("/manage/surveys/csi/waves", data={"label": "Wave 3"})  # just its own number
    labels = lambda: [(w.number, w.label) for w in db_session.scalars(  # noqa: E731
        sa.select(Wave).where(Wave.survey_id == demo_survey.id).order_by(Wave.number))]
    db_session.expire_all()
    assert labels() == [(1, ""), (2, ""), (3, "")]
    html = client.get("/manage/surveys/csi").text
    assert "Wave 2 started." in html and "Wave 3 started." in html and "– Wave" not in html
    assert client.post("/manage/surveys/csi/waves", data={"label": "Spring"}).status_code == 302
    for taken in ("spring", " Spring ", "Wave 2"):
        refused = client.post("/manage/surveys/csi/waves", data={"label": taken}, follow_redirects=True)
        assert "Another wave is already called" in refused.text
    db_session.expire_all()
    assert labels() == [(1, ""), (2, ""), (3, ""), (4, "Spring")]
    renamed = client.post("/manage/surveys/csi/waves/1", data={"label": "Autumn 2025"}, follow_redirects=True)
    assert "Wave 1 saved." in renamed.text
    clash = client.post("/manage/surveys/csi/waves/2", data={"label": "autumn 2025"}, follow_redirects=True)
    assert "Another wave is already called" in clash.text
    assert client.post("/manage/surveys/csi/waves/9", data={"label": "x"}, follow_redirects=True).status_code == 200
    db_session.expire_all()
    assert labels() == [(1, "Autumn 2025"), (2, ""), (3, ""), (4, "Spring")]


def imported(db_session):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({f"{c}{i}": rng.integers(1, 11, 40) for c, k in
                          {"CE": 2, "PQ": 2, "PV": 2, "CS": 2, "CC": 1, "CL": 2}.items() for i in range(1, k + 1)})
    return importing.import_survey(db_session, frame, importing.propose_mapping(frame), title="Old tool",
                                   scale=(1, 10))


def test_an_imported_data_set_has_no_public_address(client, db_session, manager):
    survey = imported(db_session)
    assert survey.imported and survey.status == "closed" and [w.label for w in survey.waves] == [""]
    assert client.get(f"/s/{survey.slug}").status_code == 404
    assert client.post(f"/s/{survey.slug}", data={"CE1": "5"}).status_code == 404
    detail = client.get(f"/manage/surveys/{survey.slug}").text
    assert "Imported data set: analysed only." in detail
    assert f"/s/{survey.slug}" not in detail and "Open survey" not in detail and "Start new wave" not in detail
    refused = client.post(f"/manage/surveys/{survey.slug}/status", data={"status": "open"}, follow_redirects=True)
    assert "An imported data set is analysed only; it cannot be opened for answers." in refused.text
    assert reload(db_session, survey).status == "closed"
    listing = client.get("/manage/").text
    assert "Old tool" in listing and f"/s/{survey.slug}" not in listing and "imported data" in listing
    assert client.get(f"/manage/surveys/{survey.slug}/responses").status_code == 200


def test_invitations_come_a_page_at_a_time(client, db_session, manager, demo_survey):
    services.generate_tokens(db_session, demo_survey, 205)
    ids = db_session.scalars(sa.select(InvitationToken.token).order_by(InvitationToken.id)).all()
    shown = lambda html: re.findall(r"\?t=([\w-]+)</code>", html)  # noqa: E731
    first, second, third = (client.get(f"/manage/surveys/csi/tokens?page={n}").text for n in (1, 2, 3))
    assert shown(first) == ids[:100] and shown(second) == ids[100:200] and shown(third) == ids[200:]
    assert "101–200 of 205" in second and 'rel="next" href="/manage/surveys/csi/tokens?page=3"' in second
    assert 'rel="next"' not in third and 'rel="prev" href="/manage/surveys/csi/tokens?page=2"' in third
    assert shown(client.get("/manage/surveys/csi/tokens?page=99").text) == ids[200:]  # past the end: the last
    assert shown(client.get("/manage/surveys/csi/tokens?page=abc").text) == ids[:100]
    assert shown(client.get("/manage/surveys/csi/tokens?page=-3").text) == ids[:100]
    assert len(client.get("/manage/surveys/csi/tokens.csv").text.splitlines()) == 206  # the download has all


def test_responses_and_comments_come_a_page_at_a_time(client, db_session, manager, demo_survey, valid_answers):
    services.record_responses_bulk(db_session, demo_survey, [valid_answers(comment=f"note {i}") for i in range(51)])
    ids = db_session.scalars(sa.select(Response.id).order_by(Response.id.desc())).all()
    listed = lambda html: [int(i) for i in re.findall(r'/responses/(\d+)">#', html)]  # noqa: E731
    assert listed(client.get("/manage/surveys/csi/responses").text) == ids[:50]
    last = client.get("/manage/surveys/csi/responses?page=2").text
    assert listed(last) == ids[50:] and "51–51 of 51" in last
    comments = client.get("/manage/surveys/csi/comments").text
    assert re.findall(r"<blockquote>(note \d+)</blockquote>", comments) == [f"note {i}" for i in range(50, 25, -1)]
    page2 = client.get("/manage/surveys/csi/comments?page=2").text
    assert re.findall(r"<blockquote>(note \d+)</blockquote>", page2) == [f"note {i}" for i in range(25, 0, -1)]
    page3 = client.get("/manage/surveys/csi/comments?page=3").text
    assert re.findall(r"<blockquote>(note \d+)</blockquote>", page3) == ["note 0"]


def test_one_response_shows_its_answers_with_the_question_texts(client, db_session, manager, demo_survey,
                                                                valid_answers):
    services.new_wave(db_session, demo_survey, "Autumn")
    receipt = services.record_response(db_session, demo_survey, valid_answers(
        CE1="dk", CS1="3", complained="yes", complaint_handling="4", complaint_cause=["quality", "employee"],
        customer_type="business", comment="Too slow at the counter."), locale="zh")
    services.retire_item(db_session, services.get_question(demo_survey, "PV2"))
    listing = client.get("/manage/surveys/csi/responses").text
    assert f'href="/manage/surveys/csi/responses/{receipt.id}"' in listing
    page = client.get(f"/manage/surveys/csi/responses/{receipt.id}").text
    assert "Wave 2 – Autumn" in page and "zh" in page
    rows = {code: answer.strip() for code, _, answer in
            re.findall(r"<code>(\w+)</code> (.*?)</td>\s*<td>(.*?)</td>", page, re.S)}
    assert "Overall, how satisfied are you with our products and services?" in page
    assert rows["CS1"] == "3" and rows["CE2"] == "7" and rows["CE1"] == "<em>don't know</em>"
    assert rows["complained"] == "Yes" and rows["complaint_handling"] == "4"
    assert rows["complaint_cause"] == "Quality of the product or service; An individual employee"
    assert rows["customer_type"] == "Business" and rows["comment"] == "Too slow at the counter."
    assert "(retired)" in page and "PV2" in rows  # a retired item's answer is still shown
    chinese = client.get(f"/manage/surveys/csi/responses/{receipt.id}?lang=zh").text
    assert "总体而言，您对我们的产品和服务满意吗？" in chinese and "企业客户" in chinese
    other = services.create_survey(db_session, slug="other")
    assert client.get(f"/manage/surveys/other/responses/{receipt.id}").status_code == 404
    assert client.get("/manage/surveys/csi/responses/999999").status_code == 404
    assert client.get("/manage/surveys/csi/responses/99999999999").status_code == 404
    assert other.slug == "other"


def test_finding_a_response_to_erase(client, db_session, manager, demo_survey, valid_answers):
    token = services.generate_tokens(db_session, demo_survey, 2)
    receipt = services.record_response(db_session, demo_survey, valid_answers(), token=token[0])
    assert "Invitation link or token" in client.get("/manage/surveys/csi/erase").text
    for query, message in (({"token": token[1]}, "No response of this survey was given with that invitation."),
                           ({"token": "nope"}, "No response of this survey was given with that invitation."),
                           ({"response": "abc"}, "A response id is a whole number."),
                           ({"response": str(receipt.id + 1000)}, f"This survey has no response {receipt.id + 1000}.")):
        missing = client.get("/manage/surveys/csi/erase", query_string=query)
        assert missing.status_code == 404 and message in missing.text
    for query in ({"token": token[0]}, {"response": str(receipt.id)}, {"response": f"#{receipt.id}"}):
        found = client.get("/manage/surveys/csi/erase", query_string=query)
        assert found.status_code == 200 and f"Erase response {receipt.id} for good?" in found.text
    services.create_survey(db_session, slug="other")
    elsewhere = client.get("/manage/surveys/other/erase", query_string={"response": str(receipt.id)})
    assert elsewhere.status_code == 404
    assert client.post(f"/manage/surveys/other/responses/{receipt.id}/erase", data={"erasures": "0"}).status_code == 422
    assert client.post(f"/manage/surveys/csi/responses/{receipt.id}/erase").status_code == 422  # no page seen
    assert db_session.get(Response, receipt.id) is not None


def test_the_new_pages_speak_chinese(client, db_session, manager, demo_survey, valid_answers):
    receipt = services.record_response(db_session, demo_survey, valid_answers(comment="很好"))
    for url, words in (("/manage/surveys/csi/status?status=closed", "要关闭此调查吗？"),
                       ("/manage/surveys/csi/archive", "要归档此调查吗？"),
                       ("/manage/surveys/csi/questions/CE2/retire", "要停用题目 CE2 吗？"),
                       ("/manage/surveys/csi/settings", "标题（中文）"),
                       ("/manage/surveys/csi/responses", "全部答卷"),
                       (f"/manage/surveys/csi/responses/{receipt.id}", "提交时间"),
                       ("/manage/surveys/csi/comments", "很好"),
                       ("/manage/surveys/csi/erase", "邀请链接或邀请码")):
        page = client.get(url + ("&" if "?" in url else "?") + "lang=zh")
        assert page.status_code == 200 and words in page.text, url
        assert "Cancel" not in page.text and "Back to the survey" not in page.text
    refused = client.post("/manage/surveys/csi/waves?lang=zh", data={"label": "Wave 1"}, follow_redirects=True)
    assert "已有另一期名为“Wave 1”。" in refused.text
    done = client.post("/manage/surveys/csi/archive?lang=zh", follow_redirects=True)
    assert "调查已归档并关闭，其答卷予以保留。" in done.text
