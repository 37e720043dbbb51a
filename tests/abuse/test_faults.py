"""Database faults: down (nothing listens) or hung (accepts and never answers) gives a 503 with Retry-After
within 5 s, the respondent gets their answers back to send again; /healthz and /readyz."""
import socket
import threading
import time

import pytest

from survey import create_app

ANSWERS = {"CE1": "7", "CE2": "8", "comment": "我很满意 <b>really</b>", "region": "east"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture
def hung_server():
    """A TCP server that accepts connections and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def faulty_app(port: int):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/csi"
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})


@pytest.fixture(params=["down", "hung"])
def broken(request):
    port = closed_port() if request.param == "down" else request.getfixturevalue("hung_server")
    app = faulty_app(port)
    yield app
    from survey.storage.db import db

    with app.app_context():
        db.engine.dispose()


def timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_pages_answer_503_with_retry_after_within_5_s(broken):
    client = broken.test_client()
    for method, url in (("GET", "/s/nowhere"), ("POST", "/auth/login"), ("GET", "/api/v1/surveys/nowhere/responses")):
        res, seconds = timed(lambda: client.open(url, method=method, headers={"Authorization": "Bearer k"},
                                                 data={"email": "a@example.com", "password": "x"}))
        assert res.status_code == 503, (url, res.status_code)
        assert res.headers["Retry-After"] == "5"
        assert seconds < 5, (url, seconds)
    assert res.json["error"]["code"] == "unavailable"


def test_respondent_gets_their_answers_back(broken):
    res, seconds = timed(lambda: broken.test_client().post("/s/nowhere", data=ANSWERS))
    assert res.status_code == 503 and seconds < 5
    assert res.headers["Retry-After"] == "5"
    page = res.get_data(as_text=True)
    assert "Please try again" in page
    for name, value in ANSWERS.items():
        assert f'name="{name}" value="{value.replace("<", "&lt;").replace(">", "&gt;")}"' in page
    assert 'action="/s/nowhere"' in page


def test_answers_kept_when_the_database_fails_at_the_insert(app, client, demo_survey, valid_answers, monkeypatch):
    """The questionnaire snapshot is cached, the INSERT is what fails: the same page, nothing half-stored."""
    from survey.services import responses
    from survey.storage.db import DATABASE_FAULTS

    assert client.get("/s/csi").status_code == 200

    def fail(*args, **kwargs):
        raise DATABASE_FAULTS[0]("INSERT", {}, OSError("server closed the connection"))

    monkeypatch.setattr(responses, "_insert_response", fail)
    res = client.post("/s/csi", data=valid_answers(comment="kept"))
    assert res.status_code == 503
    assert 'name="comment" value="kept"' in res.get_data(as_text=True)


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    res = client.get("/readyz")
    assert res.status_code == 200 and res.json["checks"] == {"database": True}


def test_readyz_is_503_when_the_database_is_down(broken):
    client = broken.test_client()
    assert client.get("/healthz").status_code == 200
    res, seconds = timed(lambda: client.get("/readyz"))
    assert res.status_code == 503 and res.json["checks"]["database"] is False and seconds < 5
    assert "Retry-After" in res.headers


def test_readyz_checks_redis_storage_and_queue(_sqlite_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": _sqlite_url,
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
                      "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"})
    res = app.test_client().get("/readyz")
    assert res.json["checks"] == {"database": True, "rate_limit_storage": True, "queue": False}
    assert res.status_code == 503


def test_postgresql_gets_connect_and_statement_timeouts():
    app = faulty_app(5432)
    args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert args["connect_timeout"] == 2 and args["options"] == "-c statement_timeout=30000"
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_statement_timeout_is_enforced(app):
    if app.config["CSI_BACKEND"] != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    import sqlalchemy as sa
    from survey import create_app as make
    from survey.storage.db import DATABASE_FAULTS, db

    quick = make({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                  "DB_STATEMENT_TIMEOUT": 200})
    with quick.app_context():
        with pytest.raises(DATABASE_FAULTS):
            db.session.execute(sa.text("SELECT pg_sleep(2)"))
        db.session.rollback()
        db.engine.dispose()
