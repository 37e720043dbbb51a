"""The served OpenAPI document matches the app: every path and method exists, every example is accepted."""
import re

import pytest

from survey.services import apikeys
from survey.web.openapi import document

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def flask_rule(path: str) -> str:
    """Turn an OpenAPI path template into the form Flask prints (converters dropped)."""
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def app_rules(app) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            plain = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"<\1>", rule.rule)
            rules.setdefault(plain, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return rules


def test_document_is_served_and_is_openapi_3_1(client):
    res = client.get("/api/v1/openapi.json")
    assert res.status_code == 200 and res.mimetype == "application/json"
    assert res.json["openapi"] == "3.1.0"
    assert res.json == document()


def test_documented_paths_and_app_routes_are_the_same(app):
    documented = {
        flask_rule(path): {m for m in item if m in HTTP_METHODS}
        for path, item in document()["paths"].items()
    }
    assert documented == app_rules(app)


def test_every_reference_resolves():
    doc = document()
    refs = re.findall(r"'\$ref': '#/([^']+)'", str(doc))
    assert refs
    for ref in refs:
        node = doc
        for part in ref.split("/"):
            node = node[part]


def _request_examples():
    body = document()["paths"]["/api/v1/surveys/{slug}/responses"]["post"]["requestBody"]
    return body["content"]["application/json"]["examples"]


@pytest.mark.parametrize("name", sorted(_request_examples()))
def test_request_examples_are_accepted(client, db_session, demo_survey, name):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    example = _request_examples()[name]["value"]
    res = client.post("/api/v1/surveys/csi/responses", json=example, headers={"Authorization": f"Bearer {key}"})
    assert res.status_code == 201, res.json
    read = apikeys.issue_key(db_session, apikeys.READ)
    stored = client.get(res.headers["Location"], headers={"X-API-Key": read}).json
    sent = {code: sorted(v) if isinstance(v, list) else v for code, v in example["answers"].items()}
    got = {code: sorted(v) if isinstance(v, list) else v for code, v in stored["answers"].items()
           if code in sent}
    assert got == sent


def test_error_example_has_the_shape_the_api_returns(client, db_session, demo_survey):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    post = document()["paths"]["/api/v1/surveys/{slug}/responses"]["post"]
    example = post["responses"]["422"]["content"]["application/json"]["examples"]["invalid"]["value"]
    answers = dict(_request_examples()["kiosk"]["value"]["answers"], CS1=11, XX9=5)
    res = client.post("/api/v1/surveys/csi/responses", json={"locale": "en", "answers": answers},
                      headers={"X-API-Key": key})
    assert res.status_code == 422
    assert res.json["error"]["code"] == example["error"]["code"]
    assert res.json["error"]["reasons"] == example["error"]["reasons"]
    assert set(res.json["error"]) == set(example["error"])
    error_schema = document()["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(res.json["error"]) <= set(error_schema["properties"])
    assert res.json["error"]["code"] in error_schema["properties"]["code"]["enum"]
