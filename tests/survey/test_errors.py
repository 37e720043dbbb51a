"""Error pages: HTML for people, JSON under /api/, and a rolled-back transaction on 500."""
import pytest
import sqlalchemy as sa

from survey.storage.db import db
from survey.storage.tables import Manager


def test_404_is_html(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "This page does not exist." in response.get_data(as_text=True)


def test_404_under_api_is_json(client):
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["error"] == {"status": 404, "code": "not_found", "message": "This page does not exist."}


def test_405_is_a_page(client):
    assert client.delete("/s/csi").status_code == 405


def test_500_rolls_back_and_apologises(app, client, db_session):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        db.session.add(Manager(email="half@example.com", password_hash="x"))
        db.session.flush()
        raise RuntimeError("boom")

    response = client.get("/boom")
    assert response.status_code == 500 and "Something went wrong" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Manager)) == 0


@pytest.mark.parametrize("path", ["/", "/static/csi.css"])
def test_public_pages(client, path):
    response = client.get(path)
    response.close()
    assert response.status_code == 200


def test_nul_characters_are_a_400_before_any_query(client, db_session, demo_survey, valid_answers):
    """PostgreSQL can neither store nor compare a NUL character (the driver raises); such requests are refused."""
    from survey.services import apikeys
    from survey.storage.tables import Response

    assert client.get("/s/%00").status_code == 400
    assert client.get("/s/csi?t=%00").status_code == 400
    page = client.post("/s/csi", data=valid_answers(comment="a\x00b"))
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert client.post("/auth/login", data={"email": "a\x00@example.com", "password": "x"}).status_code == 400
    api = client.get("/api/v1/surveys/%00/responses")
    assert api.status_code == 400 and api.is_json
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    answers = {code: 6 for code in ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3",
                                    "CC1", "CL1", "CL2")}
    for body, field in (({"locale": "en", "answers": {**answers, "complained": "no", "comment": "a\x00b"}},
                         "comment"),
                        ({"locale": "en", "token": "\x00", "answers": {**answers, "complained": "no"}}, "token")):
        res = client.post("/api/v1/surveys/csi/responses", json=body, headers={"X-API-Key": key})
        assert res.status_code == 400 and res.json["error"]["code"] == "invalid_payload"
        assert "NUL" in res.json["error"]["fields"][field]
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
