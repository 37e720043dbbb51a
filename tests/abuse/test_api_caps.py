"""The API checks the key before it reads the body, and caps the body, the answers, the nesting and the error
listings: every refusal is a small JSON error, never a 500."""
import pytest

from survey.services import apikeys

URL = "/api/v1/surveys/csi/responses"


@pytest.fixture
def key(db_session, demo_survey):
    return apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)


def post(client, data, key=None, content_type="application/json", **headers):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return client.post(URL, data=data, content_type=content_type, headers=headers)


def test_unknown_key_is_refused_without_reading_the_body(app, client, demo_survey, monkeypatch):
    from flask import Request

    def no_reading(*args, **kwargs):
        raise AssertionError("the body was read before the key was checked")

    monkeypatch.setattr(Request, "get_data", no_reading)
    res = post(client, b'{"answers": {' + b'"x": 1,' * 1000 + b'"y": 1}}', key="not-a-key")
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"


def test_key_scope_is_checked_before_the_body(app, client, db_session, demo_survey, monkeypatch):
    from flask import Request

    read = apikeys.issue_key(db_session, apikeys.READ)
    monkeypatch.setattr(Request, "get_data", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    assert post(client, b"[" * 1000, key=read).status_code == 403


def test_oversized_body_is_413(app, client, key):
    body = b'{"locale": "en", "answers": {' + b",".join(b'"Q%d": 1' % n for n in range(100_000)) + b"}}"
    assert len(body) > app.config["API_MAX_BODY"]
    res = post(client, body, key=key)
    assert res.status_code == 413 and res.json["error"]["code"] == "too_large"
    assert len(res.data) < 1000


def test_deeply_nested_body_is_400_not_500(app, client, key):
    res = post(client, b"[" * 100_000, key=key)
    assert res.status_code in (400, 413)
    assert res.json["error"]["code"] in ("too_deep", "too_large")
    app.config["API_MAX_BODY"] = 1_000_000  # past the size cap, the parser's recursion limit is answered too
    res = post(client, b"[" * 100_000, key=key)
    assert res.status_code == 400 and res.json["error"]["code"] == "too_deep"
    res = post(client, b'{"locale": "en", "answers": {"CE1": ' + b"[" * 20 + b"]" * 20 + b"}}", key=key)
    assert res.status_code == 400 and res.json["error"]["code"] == "too_deep"


def test_too_many_answers_is_413(app, client, key):
    import json

    body = {"locale": "en", "answers": {f"Q{n}": 1 for n in range(app.config["API_MAX_ANSWERS"] + 1)}}
    res = post(client, json.dumps(body), key=key)
    assert res.status_code == 413 and res.json["error"]["code"] == "too_many_answers"


def test_error_listing_is_capped(app, client, key):
    import json

    app.config["API_MAX_ANSWERS"] = 10_000
    app.config["API_MAX_BODY"] = 1_000_000
    body = {"locale": "en", "answers": {f"Z{n}": 1 for n in range(5000)}}
    res = post(client, json.dumps(body), key=key)
    assert res.status_code == 422
    error = res.json["error"]
    assert len(error["fields"]) == app.config["API_MAX_ERROR_FIELDS"]
    assert error["fields_total"] > 5000
    assert len(error["reasons"]) == app.config["API_MAX_ERROR_FIELDS"]
    assert len(res.data) < 20_000
