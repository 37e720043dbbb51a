"""Respondent form rules on both databases: conditional questions, contradictory answers, the compact error
summary and the answered count (all without JavaScript; the browser test covers the script)."""
import re

import sqlalchemy as sa

from survey import services
from survey.services import apikeys
from survey.storage.tables import Response

QUESTION_COUNT = 25  # the CSI template: 14 model items, complained + 2 follow-ups, 6 about you, the comment, contact consent


def stored(db_session):
    db_session.expire_all()
    return db_session.scalar(sa.select(sa.func.count()).select_from(Response))


def fieldset(html, code):
    """The markup of one question's fieldset."""
    return re.search(rf'<fieldset[^>]* id="q-{code}".*?</fieldset>', html, re.S).group(0)


def legend_number(html, code):
    return int(re.search(r'<span class="qn">(\d+)\.</span>', fieldset(html, code)).group(1))


def test_conditional_questions_are_marked_as_conditional_not_required(client, demo_survey):
    html = client.get("/s/csi?lang=en").get_data(as_text=True)
    complained = legend_number(html, "complained")
    assert [legend_number(html, c) for c in ("CE1", "complained", "comment")] == [1, complained, QUESTION_COUNT - 1]  # the contact consent comes last
    assert 'class="req"' in fieldset(html, "complained")
    for code in ("complaint_handling", "complaint_cause"):
        block = fieldset(html, code)
        assert 'class="req"' not in block and "(required)" not in block
        assert 'data-if="complained" data-if-value="yes"' in block
        assert f"Only if you answered “Yes” to question {complained}; it then needs an answer." in block
        assert re.search(rf'aria-describedby="cond-{code}"', block)
    zh = client.get("/s/csi?lang=zh_CN").get_data(as_text=True)
    hint = re.search(r'<p class="hint cond" id="cond-complaint_handling">(.*?)</p>', zh, re.S).group(1)
    assert "“是”" in hint and str(complained) in hint and "Only" not in hint


def test_no_to_complaining_with_a_handling_score_comes_back_with_a_message(client, db_session, demo_survey,
                                                                           valid_answers):
    data = valid_answers(complained="no", complaint_handling="3", complaint_cause=["employee"], region="south")
    res = client.post("/s/csi?lang=en", data=data)
    assert res.status_code == 422 and stored(db_session) == 0
    html = res.get_data(as_text=True)
    assert "Please check 2 answers" in html
    for code in ("complaint_handling", "complaint_cause"):
        assert f'href="#q-{code}"' in html
        assert "Your earlier answer means this question does not apply." in fieldset(html, code)
    # every answer given is still there, the contradictory ones included, so nothing has to be typed again
    assert re.search(r'id="complained-no" value="no" checked', html)
    assert re.search(r'id="complaint_handling-3" value="3" checked', html)
    assert re.search(r'id="complaint_cause-employee" value="employee" checked', html)
    assert re.search(r'id="region-south" value="south" checked', html)
    assert re.search(r'id="CS1-7" value="7" checked', html)


def test_clearing_the_contradiction_or_answering_yes_is_accepted(client, db_session, demo_survey, valid_answers):
    # without JavaScript a chosen radio cannot be unchosen: "don't know" clears it, and is not stored
    assert client.post("/s/csi", data=valid_answers(complained="no", complaint_handling="dk")).status_code == 302
    assert client.post("/s/csi", data=valid_answers(complained="yes", complaint_handling="3",
                                                    complaint_cause=["employee"])).status_code == 302
    frame = services.responses_frame(db_session, demo_survey)
    assert frame["complained"].tolist() == ["no", "yes"]
    assert frame["complaint_handling"].isna().tolist() == [True, False]
    assert frame["complaint_cause"].tolist() == [None, "employee"]


def test_yes_makes_the_follow_ups_required_and_unanswered_complaint_flags_only_itself(client, db_session,
                                                                                     demo_survey, valid_answers):
    html = client.post("/s/csi?lang=en", data=valid_answers(complained="yes")).get_data(as_text=True)
    assert "Please check 2 answers" in html
    assert "Please answer this question." in fieldset(html, "complaint_handling")
    assert "Please answer this question." in fieldset(html, "complaint_cause")
    res = client.post("/s/csi?lang=en", data=valid_answers(complained=None, complaint_handling="6"))
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "Please check 1 answer<" in html
    assert 'id="err-complained"' in html and 'id="err-complaint_handling"' not in html
    assert stored(db_session) == 0


def test_the_api_refuses_the_same_contradiction(client, db_session, demo_survey, valid_answers):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    answers = {k: v for k, v in valid_answers(complained="no", complaint_handling="4").items() if v != ""}
    res = client.post("/api/v1/surveys/csi/responses", json={"locale": "en", "answers": answers},
                      headers={"X-API-Key": key})
    assert res.status_code == 422 and res.json["error"]["reasons"] == {"complaint_handling": "not_applicable"}
    answers["complaint_handling"] = None  # null is "don't know": no contradiction
    res = client.post("/api/v1/surveys/csi/responses", json={"locale": "en", "answers": answers},
                      headers={"X-API-Key": key})
    assert res.status_code == 201 and stored(db_session) == 1


def test_thirteen_missing_answers_make_a_compact_summary(client, demo_survey, valid_answers):
    missing = ["CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1"]
    res = client.post("/s/csi?lang=en", data=valid_answers(**dict.fromkeys(missing)))
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "Please check 13 answers" in html
    summary = re.search(r'<div class="summary".*?</div>', html, re.S).group(0)
    links = re.findall(r'<a href="#q-(\w+)"><span class="short" aria-hidden="true">(\d+)</span>'
                       r'<span class="long">Question (\d+): ', summary)
    assert [code for code, _, _ in links] == missing
    for code, short, long in links:  # the phone's number link and the full text name the same question
        assert int(short) == int(long) == legend_number(html, code)
    assert summary.count("Please answer this question.") == 13


def test_the_answered_count_works_without_javascript(client, demo_survey, valid_answers):
    fresh = client.get("/s/csi?lang=en").get_data(as_text=True)
    asked = QUESTION_COUNT - 2  # the two follow-ups apply only after "yes"
    assert f"0 of {asked} questions answered" in fresh
    assert f'<progress id="answered-bar" max="{asked}" value="0">' in fresh
    assert 'data-template="{done} of {total} questions answered"' in fresh
    # 14 model items + complained + 6 about you, minus CE2 (left out), the comment and contact consent blank: 20 of 23
    html = client.post("/s/csi?lang=en", data=valid_answers(CE2=None)).get_data(as_text=True)
    assert f"20 of {asked} questions answered" in html
    # "yes" brings the two follow-ups in: 21 answered of 24
    html = client.post("/s/csi?lang=en", data=valid_answers(CE2=None, complained="yes",
                                                            complaint_cause=["quality"])).get_data(as_text=True)
    assert f"21 of {QUESTION_COUNT} questions answered" in html
    zh = client.get("/s/csi?lang=zh_CN").get_data(as_text=True)
    assert "questions answered" not in zh and "Part 1" not in zh and "Question" not in zh
