"""Closing the loop: which responses become follow-up cases, contact details kept apart, working a case, the
recovery figures, on both databases."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey import jobs, services
from survey.services import cases
from survey.storage.tables import CaseNote, FollowUpCase, RespondentContact, Response


def post(client, valid_answers, **overrides):
    return client.post("/s/csi", data=valid_answers(**overrides))


def all_cases(db_session):
    db_session.expire_all()
    return list(db_session.scalars(sa.select(FollowUpCase).order_by(FollowUpCase.response_id)))


@pytest.fixture
def swept(client, db_session, demo_survey, valid_answers):
    """Five web responses: content, complained, dissatisfied, handled poorly, asked to be contacted."""
    def make():
        assert post(client, valid_answers).status_code == 302
        assert post(client, valid_answers, complained="yes", complaint_handling="8",
                    complaint_cause="quality").status_code == 302
        assert post(client, valid_answers, CS1="2", CS2="3", CS3="dk").status_code == 302
        assert post(client, valid_answers, complained="yes", complaint_handling="4",
                    complaint_cause="employee").status_code == 302
        assert post(client, valid_answers, contact_consent="yes", contact_name="王芳",
                    contact_email="wang@example.com").status_code == 302
        assert jobs.drain(60)
        return all_cases(db_session)
    return make


def test_reasons_follow_the_stated_rules(db_session, demo_survey, swept):
    made = swept()
    reasons = [c.reasons for c in made]
    # the content respondent has no case; the others exactly their reasons
    assert reasons == ["complained", "dissatisfied", "complained,poor_handling", "contact_request"]
    ids = list(db_session.scalars(sa.select(Response.id).order_by(Response.id)))
    assert [c.response_id for c in made] == ids[1:]
    # owner = the survey's creator (none here), due a week after the response
    first = made[0]
    created = db_session.get(Response, first.response_id).created_at
    assert first.due_on == (created + timedelta(days=cases.DUE_DAYS)).date()
    assert all(c.status == "new" for c in made)


def test_low_cut_is_the_bottom_third_of_the_scale():
    assert cases.low_cut((1, 10)) == 4
    assert cases.low_cut((0, 10)) == pytest.approx(10 / 3)
    row = {"CS1": 4, "CS2": 5, "CS3": None, "complained": "no"}
    assert cases.reasons_for(row, ["CS1", "CS2", "CS3"], (1, 10), False) == []  # mean 4.5 > 4
    row["CS2"] = 4
    assert cases.reasons_for(row, ["CS1", "CS2", "CS3"], (1, 10), False) == ["dissatisfied"]  # mean 4 <= 4


def test_sweep_is_incremental_and_idempotent(db_session, demo_survey, swept):
    made = swept()
    assert cases.sweep(db_session, demo_survey) == []  # nothing new
    assert len(all_cases(db_session)) == len(made)


def test_contact_details_are_kept_apart_from_the_answers(client, db_session, demo_survey, swept):
    swept()
    rows = list(db_session.scalars(sa.select(RespondentContact)))
    assert [(r.name, r.email, r.phone) for r in rows] == [("王芳", "wang@example.com", "")]
    # never in the answers or the exports
    frame = services.responses_frame(db_session, demo_survey)
    assert not any("contact_" in str(c) and c != "contact_consent" for c in frame.columns)
    assert "wang@example.com" not in frame.astype(str).to_string()


def test_contact_without_details_comes_back_with_the_answers(client, db_session, demo_survey, valid_answers):
    response = post(client, valid_answers, contact_consent="yes", contact_name="Li", CS1="9")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="err-contact_consent"' in html and 'value="Li"' in html
    assert 'id="CS1-9" value="9" checked' in html or ('id="CS1-9"' in html and "checked" in html)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
    bad = post(client, valid_answers, contact_consent="yes", contact_email="not-an-address")
    assert bad.status_code == 422 and 'id="err-contact_consent"' in bad.get_data(as_text=True)
    # "no" keeps nothing even if fields were filled in
    assert post(client, valid_answers, contact_consent="no", contact_email="x@example.com").status_code == 302
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RespondentContact)) == 0


def test_api_submissions_make_cases_too(client, db_session, demo_survey):
    from survey.services import apikeys

    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey, label="crm")
    answers = {c: 7 for c in ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CC1", "CL1", "CL2")}
    answers.update(CS1=1, CS2=2, CS3=1, complained="no")
    r = client.post("/api/v1/surveys/csi/responses", json={"locale": "en", "answers": answers},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.get_json()
    assert jobs.drain(60)
    assert [c.reasons for c in all_cases(db_session)] == ["dissatisfied"]


def test_working_a_case_and_the_recovery_figures(client, manager, db_session, demo_survey, swept):
    made = swept()
    url = f"/manage/surveys/csi/cases/{made[0].id}"
    page = client.get(url + "?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Complained" in html and "quality" in html  # reason and the response's answers
    # resolving needs the outcome
    r = client.post(url, data={"status": "resolved", "note": "Called back."})
    assert r.status_code == 422
    assert all_cases(db_session)[0].status == "new"
    r = client.post(url, data={"status": "resolved", "recovered": "yes", "note": "Called back, replaced it.",
                               "owner": str(manager.id)})
    assert r.status_code == 302
    case = all_cases(db_session)[0]
    assert case.status == "resolved" and case.recovered is True and case.owner_id == manager.id
    assert case.contacted_at is not None and case.resolved_at is not None
    notes = list(db_session.scalars(sa.select(CaseNote).where(CaseNote.case_id == case.id)))
    assert [n.text for n in notes] == ["Called back, replaced it."] and notes[0].author_id == manager.id
    # a second resolved case, not won back
    client.post(f"/manage/surveys/csi/cases/{made[1].id}", data={"status": "resolved", "recovered": "no"})
    figures = cases.recovery(db_session, demo_survey)
    assert (figures["total"], figures["resolved"], figures["new"]) == (4, 2, 2)
    assert figures["recovery_rate"] == 0.5 and figures["recovered"] == 1
    resolved = [c for c in all_cases(db_session) if c.status == "resolved"]
    days = sorted((c.resolved_at - db_session.get(Response, c.response_id).created_at).total_seconds() / 86400
                  for c in resolved)
    assert figures["median_days"] == pytest.approx((days[0] + days[1]) / 2)
    # the audit log has the change
    from survey.storage.tables import AuditEvent
    actions = [e.action for e in db_session.scalars(sa.select(AuditEvent))]
    assert "cases.detail" in actions


def test_cases_page_lists_filters_and_shows_contact(client, manager, db_session, demo_survey, swept):
    made = swept()
    html = client.get("/manage/surveys/csi/cases/?lang=zh_CN").get_data(as_text=True)
    assert "跟进案例" in html
    for case in made:
        assert f"/manage/surveys/csi/cases/{case.id}" in html
    only_new = client.get("/manage/surveys/csi/cases/?status=resolved").get_data(as_text=True)
    assert f"/cases/{made[0].id}\"" not in only_new
    contact_case = made[-1]
    detail = client.get(f"/manage/surveys/csi/cases/{contact_case.id}?lang=en").get_data(as_text=True)
    assert "wang@example.com" in detail and "王芳" in detail
    assert client.get("/manage/surveys/csi/cases/999999").status_code == 404


def test_cases_pages_need_login(client, demo_survey):
    for url in ("/manage/surveys/csi/cases/", "/manage/surveys/csi/cases/1"):
        r = client.get(url)
        assert r.status_code == 302 and "/auth/login" in r.headers["Location"]


def test_report_shows_the_recovery_figures(client, manager, db_session, demo_survey, swept):
    made = swept()
    client.post(f"/manage/surveys/csi/cases/{made[0].id}", data={"status": "resolved", "recovered": "yes"})
    html = client.get("/manage/surveys/csi/report?lang=en").get_data(as_text=True)
    assert "Follow-up of complaints" in html and "Customers won back" in html
    assert "100%" in html.split("Customers won back")[1][:80]


def test_coalesced_sweep_queues_one_waiting_job(app, db_session, demo_survey):
    with app.test_request_context():
        first = jobs.enqueue_coalesced("test-key", "survey.services.cases:sweep_job", demo_survey.id)
        second = jobs.enqueue_coalesced("test-key", "survey.services.cases:sweep_job", demo_survey.id)
    assert jobs.drain(60)
    assert first is True
    assert second in (True, False)  # False unless the first had already started
    with app.test_request_context():
        assert jobs.enqueue_coalesced("test-key", "survey.services.cases:sweep_job", demo_survey.id) is True
    assert jobs.drain(60)


def test_contact_details_only_for_roles_that_follow_cases_up(app, client, db_session, demo_survey, swept):
    from survey.services.accounts import create_manager, set_grants

    made = swept()
    contact_case = made[-1]
    for role in ("viewer", "editor"):
        person = create_manager(db_session, f"{role}@example.com", "correct horse battery",
                                method="pbkdf2:sha256:1000", role=role)
        set_grants(db_session, person, [demo_survey.id])
        with app.test_client() as browser:
            assert browser.post("/auth/login", data={"email": f"{role}@example.com",
                                                     "password": "correct horse battery"}).status_code == 302
            page = browser.get(f"/manage/surveys/csi/cases/{contact_case.id}?lang=en")
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert ("wang@example.com" in html) == (role == "editor"), role
            if role == "viewer":
                assert "Your role may not see contact details." in html
                assert browser.post(f"/manage/surveys/csi/cases/{contact_case.id}",
                                    data={"status": "contacted"}).status_code == 403
                assert all_cases(db_session)[-1].status == "new"


def test_the_case_owner_gets_an_alert_by_email(app, client, manager, db_session, demo_survey, valid_answers,
                                               inbox):
    from survey.extensions import mail
    from survey.services.accounts import create_manager, set_grants

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, MAIL_DEFAULT_SENDER="CSI <csi@example.org>",
                      PUBLIC_URL="https://csi.example.org", MAIL_TIMEOUT=5)
    mail.init_app(app)  # Flask-Mailman reads the server settings when it is set up
    demo_survey.created_by_id = manager.id  # new cases go to the survey's creator
    db_session.commit()
    assert post(client, valid_answers, complained="yes", complaint_handling="2",
                complaint_cause="systems").status_code == 302
    assert jobs.drain(60)
    case = all_cases(db_session)[0]
    mails = inbox.take()
    assert list(mails) == [manager.email]
    body = mails[manager.email].get_body(preferencelist=("plain",)).get_content()
    assert f"https://csi.example.org/manage/surveys/csi/cases/{case.id}" in body
    assert "Complained" in body and "投诉处理不佳" in body and case.due_on.isoformat() in body
    # handing the case to a colleague tells the colleague
    colleague = create_manager(db_session, "colleague@example.com", "correct horse battery",
                               method="pbkdf2:sha256:1000", role="editor")
    set_grants(db_session, colleague, [demo_survey.id])
    r = client.post(f"/manage/surveys/csi/cases/{case.id}", data={"owner": str(colleague.id)})
    assert r.status_code == 302
    assert jobs.drain(60)  # the alert is sent by a job
    assert list(inbox.take()) == ["colleague@example.com"]
    # a mail server that is down never breaks the case
    app.config["MAIL_PORT"] = 9  # discard port: nothing listens
    mail.init_app(app)
    r = client.post(f"/manage/surveys/csi/cases/{case.id}", data={"owner": str(manager.id)})
    assert jobs.drain(60)
    assert r.status_code == 302 and all_cases(db_session)[0].owner_id == manager.id
