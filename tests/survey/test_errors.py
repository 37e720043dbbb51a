"""Error pages: HTML for people, JSON under /api/, and a rolled-back transaction on 500."""
import pytest
import sqlalchemy as sa

from survey.db import db
from survey.tables import Manager


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
