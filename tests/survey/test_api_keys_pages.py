"""Managers issue and revoke API keys on /manage/surveys/<slug>/api-keys; the key is shown once and works."""
import re

import pytest
import sqlalchemy as sa

from survey.services import apikeys
from survey import services

PAGE = "/manage/surveys/csi/api-keys"
BODY = {"locale": "en", "answers": {"CE1": 5, "complained": "no"}}


def shown_key(html: str) -> str:
    return re.search(r'<code id="new-key">([^<]+)</code>', html).group(1)


@pytest.mark.parametrize("method, url", [("get", PAGE), ("post", PAGE), ("post", PAGE + "/1/revoke")])
def test_login_required(client, demo_survey, method, url):
    res = getattr(client, method)(url)
    assert res.status_code == 302 and "/auth/login" in res.headers["Location"]


def test_issue_show_once_use_and_revoke(client, db_session, demo_survey, manager):
    res = client.post(PAGE, data={"kind": "submit", "label": "lobby kiosk"})
    assert res.status_code == 201 and res.headers["Cache-Control"] == "no-store"
    key = shown_key(res.get_data(as_text=True))
    assert "lobby kiosk" in res.get_data(as_text=True)
    row = db_session.scalar(sa.select(apikeys.ApiKey))
    assert row.key_hash == apikeys.hash_key(key) and key not in (row.key_hash, row.label)
    assert row.survey_id == demo_survey.id and row.manager_id == manager.id
    page = client.get(PAGE).get_data(as_text=True)
    assert key not in page and "lobby kiosk" in page
    # the key is accepted as far as authentication goes (422 = answers checked, not 401/403)
    assert client.post("/api/v1/surveys/csi/responses", json=BODY,
                       headers={"X-API-Key": key}).status_code == 422
    res = client.post(f"{PAGE}/{row.id}/revoke")
    assert res.status_code == 302
    assert client.post("/api/v1/surveys/csi/responses", json=BODY,
                       headers={"X-API-Key": key}).status_code == 401


def test_read_key_from_the_page_reads_this_survey_only(client, db_session, demo_survey, manager):
    key = shown_key(client.post(PAGE, data={"kind": "read"}).get_data(as_text=True))
    assert client.get("/api/v1/surveys/csi/responses", headers={"X-API-Key": key}).status_code == 200
    services.create_survey(db_session, slug="other", title_en="Other", title_zh="其他")
    assert client.get("/api/v1/surveys/other/responses", headers={"X-API-Key": key}).status_code == 403


def test_bad_kind_is_refused(client, db_session, demo_survey, manager):
    res = client.post(PAGE, data={"kind": "admin"})
    assert res.status_code == 422 and 'id="new-key"' not in res.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(apikeys.ApiKey.id))) == 0


def test_cannot_revoke_another_surveys_key(client, db_session, demo_survey, manager):
    other = services.create_survey(db_session, slug="other", title_en="Other", title_zh="其他")
    apikeys.issue_key(db_session, apikeys.SUBMIT, survey=other)
    key_id = db_session.scalar(sa.select(apikeys.ApiKey.id))
    assert client.post(f"{PAGE}/{key_id}/revoke").status_code == 404
    assert client.post("/manage/surveys/csi/api-keys/999999/revoke").status_code == 404
    assert client.post(f"/manage/surveys/csi/api-keys/{2**64}/revoke").status_code == 404  # not a 500
    db_session.expire_all()
    assert db_session.get(apikeys.ApiKey, key_id).revoked_at is None
