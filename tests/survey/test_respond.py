"""Respondent pages on both databases: the form, validation that keeps answers, tokens, closed, CSRF, honeypot."""
import re

import sqlalchemy as sa

from survey import services
from survey.storage.tables import Answer, Response


def stored(db_session):
    db_session.expire_all()
    return db_session.scalar(sa.select(sa.func.count()).select_from(Response))


def test_form_is_accessible_without_javascript(client, demo_survey):
    page = client.get("/s/csi")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # the only script is the enhancement file from /static (no inline script, nothing from elsewhere)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/respond.js" defer>']
    assert "</script>" in html and "//cdn" not in html
    # every input has a label (for=id), every question is a fieldset with a legend
    ids = set(re.findall(r'<input[^>]* id="([^"]+)"', html)) | set(re.findall(r'<textarea[^>]* id="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]* for="([^"]+)"', html))
    assert ids and ids <= labelled
    assert html.count("<fieldset") == html.count("<legend>") == len(demo_survey.active_questions)
    # the 10-point scale: ten radios plus don't know, ends labelled and tied to the end points
    assert len(re.findall(r'type="radio" name="PQ1"', html)) == 11
    assert 'id="low-PQ1">1 = Very poor' in html and 'aria-describedby="high-PQ1"' in html
    assert 'value="dk"' in html and "know / not applicable" in html
    assert "Part 1 of 8" in html and "Part 8 of 8" in html
    assert 'name="csrf_token"' in html and 'name="website"' in html


def test_valid_submission_redirects_to_thanks_after_commit(client, db_session, demo_survey, valid_answers):
    response = client.post("/s/csi", data=valid_answers(CE1="dk", complained="yes", complaint_handling="4",
                                                        complaint_cause=["quality", "systems"]))
    assert response.status_code == 302 and response.location.endswith("/s/csi/thanks")
    assert stored(db_session) == 1
    frame = services.responses_frame(db_session, demo_survey)
    assert frame.loc[0, "complaint_cause"] == "quality;systems" and frame.loc[0, "complaint_handling"] == 4
    assert frame.loc[0, "locale"] == "en"
    thanks = client.get(response.location)
    assert thanks.status_code == 200 and "Thank you" in thanks.get_data(as_text=True)


def test_invalid_submission_keeps_answers_and_stores_nothing(client, db_session, demo_survey, valid_answers):
    data = valid_answers(CE2=None, PQ1="12", comment="Great <b>service</b>", complained="yes",
                         complaint_cause=["employee"], region="south")
    response = client.post("/s/csi", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert stored(db_session) == 0
    assert 'role="alert"' in html and 'href="#q-CE2"' in html and 'href="#q-PQ1"' in html
    assert 'id="err-CE2"' in html and "Please answer this question." in html
    assert 'id="err-PQ1"' in html
    # entered answers are kept (and escaped)
    assert re.search(r'id="CE1-7" value="7" checked', html)
    assert re.search(r'id="complaint_cause-employee" value="employee" checked', html)
    assert re.search(r'id="region-south" value="south" checked', html)
    assert "Great &lt;b&gt;service&lt;/b&gt;</textarea>" in html
    assert 'id="err-complaint_handling"' in html  # complained = yes makes the follow-up required


def test_csrf_missing_is_refused(app, client, db_session, demo_survey, valid_answers):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/s/csi", data=valid_answers())
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert stored(db_session) == 0
    page = client.get("/s/csi").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/s/csi", data=valid_answers(csrf_token=token)).status_code == 302
    assert stored(db_session) == 1


def test_honeypot_pretends_success_and_stores_nothing(client, db_session, demo_survey, valid_answers):
    response = client.post("/s/csi", data=valid_answers(website="http://spam.example"))
    assert response.status_code == 302 and response.location.endswith("/thanks")
    assert stored(db_session) == 0


def test_invitation_token_allows_one_response(client, db_session, demo_survey, valid_answers):
    token, other = services.generate_tokens(db_session, demo_survey, 2)
    page = client.get(f"/s/csi?t={token}")
    assert page.status_code == 200 and f'name="t" value="{token}"' in page.get_data(as_text=True)
    assert client.post("/s/csi", data=valid_answers(t=token)).status_code == 302
    again = client.get(f"/s/csi?t={token}")
    assert again.status_code == 409 and "already been used" in again.get_data(as_text=True)
    reuse = client.post("/s/csi", data=valid_answers(t=token))
    assert reuse.status_code == 409 and "<form" not in reuse.get_data(as_text=True)
    bad = client.get("/s/csi?t=forged")
    assert bad.status_code == 404 and "not valid" in bad.get_data(as_text=True)
    assert client.post("/s/csi", data=valid_answers(t=other)).status_code == 302
    db_session.expire_all()
    assert stored(db_session) == 2
    assert db_session.scalar(sa.select(sa.func.count()).where(Response.token_id.is_not(None))) == 2


def test_closed_survey_says_so_politely(client, db_session, demo_survey, valid_answers):
    services.set_status(db_session, demo_survey, "closed")
    page = client.get("/s/csi")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "closed" in html and "<form" not in html.split("</header>")[1]
    post = client.post("/s/csi", data=valid_answers())
    assert post.status_code == 200 and "closed" in post.get_data(as_text=True)
    assert stored(db_session) == 0


def test_language_from_browser_and_switch_kept_in_session(client, demo_survey, valid_answers):
    zh = client.get("/s/csi", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh and "第 1 部分，共 8 部分" in zh and "总体而言，您对我们的产品和服务满意吗？" in zh
    assert "不知道 / 不适用" in zh
    en = client.get("/s/csi", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<html lang="en">' in en and "Overall, how satisfied are you" in en
    client.get("/s/csi?lang=zh_CN")
    kept = client.get("/s/csi", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "总体而言" in kept and 'href="/s/csi?lang=en"' in kept
    invalid = client.post("/s/csi", data=valid_answers(CS1=None)).get_data(as_text=True)
    assert "请回答此问题。" in invalid


def test_locale_is_stored_with_the_response(client, db_session, demo_survey, valid_answers):
    client.post("/s/csi?lang=zh", data=valid_answers())
    assert db_session.scalar(sa.select(Response.locale)) == "zh_CN"


def test_unknown_survey_is_404(client):
    assert client.get("/s/nope").status_code == 404
    assert client.get("/s/nope/thanks").status_code == 404


def test_dropped_item_disappears_from_form(client, db_session, demo_survey, valid_answers):
    services.retire_item(db_session, services.get_question(demo_survey, "CE3"))
    html = client.get("/s/csi").get_data(as_text=True)
    assert 'name="CE3"' not in html
    assert client.post("/s/csi", data=valid_answers(CE3=None)).status_code == 302
    codes = set(db_session.scalars(sa.select(Answer.question_id)))
    assert len(codes) >= 14
