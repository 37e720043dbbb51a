"""Survey access modes: open, limited (once per browser, a few times per address) and invitation-only."""
import pytest

from survey import services


@pytest.fixture
def set_access(db_session, demo_survey):
    def change(mode):
        services.set_access(db_session, db_session.merge(demo_survey), mode)
    return change


def test_new_surveys_are_open(client, demo_survey, valid_answers):
    assert demo_survey.access == "open"
    assert client.post("/s/csi", data=valid_answers()).status_code == 302
    assert client.post("/s/csi", data=valid_answers()).status_code == 302


def test_invitation_only_needs_a_token(client, db_session, demo_survey, set_access, valid_answers):
    assert client.get("/s/csi").status_code == 200  # the snapshot is cached as open
    set_access("invitation")
    page = client.get("/s/csi")
    assert page.status_code == 403 and "invitation only" in page.get_data(as_text=True)
    refused = client.post("/s/csi", data=valid_answers())
    assert refused.status_code == 403
    assert sum(services.count_responses(db_session, demo_survey).values()) == 0
    token = services.generate_tokens(db_session, db_session.merge(demo_survey), 1)[0]
    assert client.get(f"/s/csi?t={token}").status_code == 200
    assert client.post("/s/csi", data=valid_answers(t=token)).status_code == 302
    assert sum(services.count_responses(db_session, demo_survey).values()) == 1


def test_invitation_only_still_takes_api_keys(client, db_session, demo_survey, set_access, valid_answers):
    from survey.services import apikeys

    set_access("invitation")
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=db_session.merge(demo_survey))
    body = {"locale": "en", "answers": {k: v for k, v in valid_answers().items() if v != ""}}
    res = client.post("/api/v1/surveys/csi/responses", json=body, headers={"Authorization": f"Bearer {key}"})
    assert res.status_code == 201


def test_limited_once_per_browser_and_per_address(app, client, db_session, set_access, valid_answers):
    app.config["SURVEY_LIMITED_PER_ADDRESS"] = "2 per day"
    set_access("limited")
    assert client.post("/s/csi", data=valid_answers()).status_code == 302
    again = client.post("/s/csi", data=valid_answers())
    assert again.status_code == 409 and "already answered" in again.get_data(as_text=True)
    second_browser = app.test_client()
    assert second_browser.post("/s/csi", data=valid_answers()).status_code == 302
    third = app.test_client().post("/s/csi", data=valid_answers())  # same address, a third browser
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    elsewhere = app.test_client().post("/s/csi", data=valid_answers(), environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert elsewhere.status_code == 302


def test_invalid_answers_do_not_count_against_the_limit(app, client, set_access, valid_answers):
    app.config["SURVEY_LIMITED_PER_ADDRESS"] = "1 per day"
    set_access("limited")
    assert client.post("/s/csi", data=valid_answers(CE1=None)).status_code == 422
    assert client.post("/s/csi", data=valid_answers()).status_code == 302


def test_manager_sets_the_access_mode(client, manager, db_session, demo_survey):
    page = client.get("/manage/surveys/csi").get_data(as_text=True)
    assert 'name="access"' in page and 'value="open" selected' in page
    assert client.post("/manage/surveys/csi/access", data={"access": "invitation"}).status_code == 302
    db_session.expire_all()
    assert services.get_survey(db_session, "csi").access == "invitation"
    assert 'value="invitation" selected' in client.get("/manage/surveys/csi").get_data(as_text=True)
    client.post("/manage/surveys/csi/access", data={"access": "nonsense"})
    db_session.expire_all()
    assert services.get_survey(db_session, "csi").access == "invitation"
