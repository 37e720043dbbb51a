"""Throttling with Flask-Limiter: failed logins per account and per address (a refused attempt costs no hashing),
questionnaire posts per address, API requests per key; memory storage by default, Redis when REDIS_URL is set."""
import secrets
import time

import pytest

from survey import create_app
from survey.services import accounts

PASSWORD = "correct horse battery"


@pytest.fixture
def counted_hashes(monkeypatch):
    """Count the password checks the login makes (the expensive part of an attempt)."""
    calls = []
    real = accounts.check_password_hash

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return calls


def test_failed_logins_lock_the_account_with_retry_after(app, client, auth, counted_hashes):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 2 second"
    auth.create()
    for _ in range(3):
        assert auth.login(password="wrong password!").status_code == 401
    assert len(counted_hashes) == 3
    refused = auth.login()  # the right password, too soon
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3  # whole seconds, rounded up
    assert len(counted_hashes) == 3, "a refused attempt must not hash"
    for _ in range(50):  # a flood stays cheap: no hashing, no login
        assert auth.login(password="guess").status_code == 429
    assert len(counted_hashes) == 3
    assert client.get("/manage/").status_code == 302
    time.sleep(2.1)  # the backoff ends
    assert auth.login().status_code == 302
    assert client.get("/manage/").status_code == 200


def test_backoff_tiers_lengthen_the_wait(app, auth):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per 2 second; 3 per minute"
    auth.create()
    for _ in range(2):
        assert auth.login(password="wrong password!").status_code == 401
    first = auth.login()
    assert first.status_code == 429 and int(first.headers["Retry-After"]) <= 3
    time.sleep(2.1)
    assert auth.login(password="wrong password!").status_code == 401  # the third failure reaches the next tier
    second = auth.login()
    assert second.status_code == 429 and int(second.headers["Retry-After"]) > 30


def test_failed_logins_per_address_cover_every_account(app, auth, counted_hashes):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "4 per minute"
    auth.create()
    for n in range(4):
        assert auth.login(email=f"nobody{n}@example.com", password="x" * 9).status_code == 401
    assert auth.login(email="other@example.com").status_code == 429
    assert auth.login().status_code == 429  # same address, the right account and password
    assert len(counted_hashes) == 4


def test_successful_logins_do_not_count(app, auth):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    auth.create()
    for _ in range(5):
        assert auth.login().status_code == 302
        auth.logout()


def test_submissions_per_address(app, client, demo_survey, valid_answers):
    app.config["SUBMIT_LIMIT_PER_ADDRESS"] = "3 per minute"
    for _ in range(3):
        assert client.post("/s/csi", data=valid_answers()).status_code == 302
    refused = client.post("/s/csi", data=valid_answers())
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    other = client.post("/s/csi", data=valid_answers(), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 302


def test_api_requests_per_key(app, client, db_session, demo_survey, valid_answers):
    from survey.services import apikeys

    app.config["API_LIMIT_PER_KEY"] = "2 per minute"
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    other = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey)
    body = {"locale": "en", "answers": {k: v for k, v in valid_answers().items() if v != ""}}
    for _ in range(2):
        assert client.post("/api/v1/surveys/csi/responses", json=body,
                           headers={"Authorization": f"Bearer {key}"}).status_code == 201
    refused = client.post("/api/v1/surveys/csi/responses", json=body, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
    assert client.post("/api/v1/surveys/csi/responses", json=body,
                       headers={"Authorization": f"Bearer {other}"}).status_code == 201


def test_refused_api_requests_per_address(app, client, demo_survey):
    app.config["API_LIMIT_FAILED_PER_ADDRESS"] = "3 per minute"
    for n in range(3):
        headers = {"Authorization": f"Bearer guess-{n}"}
        assert client.post("/api/v1/surveys/csi/responses", json={}, headers=headers).status_code == 401
    assert client.post("/api/v1/surveys/csi/responses", json={},
                       headers={"Authorization": "Bearer guess-x"}).status_code == 429


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CSI_LOGIN_LIMIT_PER_ACCOUNT", "7 per hour")
    monkeypatch.setenv("CSI_RATELIMIT_ENABLED", "0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["LOGIN_LIMIT_PER_ACCOUNT"] == "7 per hour"
    assert app.config["RATELIMIT_ENABLED"] is False
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_redis_storage_is_shared_between_apps(_sqlite_url):
    """Two apps (two gunicorn workers) on the same Redis see one counter."""
    from survey.extensions import limiter
    from survey.services import create_manager
    from survey.storage.db import db

    prefix = "csi-test-" + secrets.token_hex(4)
    email = f"redis-{secrets.token_hex(4)}@example.com"  # the limiter keeps its first key prefix
    config = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": _sqlite_url, "WTF_CSRF_ENABLED": False,
              "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "RATELIMIT_KEY_PREFIX": prefix,
              "LOGIN_LIMIT_PER_ACCOUNT": "2 per minute", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    first = create_app(config)
    with first.app_context():
        create_manager(db.session, email, PASSWORD, method="pbkdf2:sha256:1000")
    try:
        assert "redis" in type(limiter.storage).__name__.lower()
        for _ in range(2):
            assert first.test_client().post("/auth/login", data={"email": email,
                                                                 "password": "wrong"}).status_code == 401
        second = create_app(config)
        assert second.test_client().post("/auth/login", data={"email": email,
                                                              "password": PASSWORD}).status_code == 429
    finally:  # the Redis keys (own prefix) expire with their minute
        with first.app_context():
            from survey.storage.tables import Manager

            db.session.query(Manager).filter_by(email=email).delete()
            db.session.commit()
            db.engine.dispose()


def test_password_checks_are_capped_across_workers(app, auth, counted_hashes, monkeypatch):
    """With every slot held (by another worker checking a password), a login is answered by the shield before
    Flask (no session, CSRF or limit check, no page) and unhashed; a busy answer does not count as a failure."""
    from survey import services

    auth.create()
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    with services.password_check_slot(app.instance_path, app.config["LOGIN_HASH_SLOTS"]) as held:
        assert held
        monkeypatch.setattr(app, "full_dispatch_request", lambda: (_ for _ in ()).throw(AssertionError("Flask")))
        for _ in range(3):
            busy = auth.login(password="wrong password!")
            assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
            assert "Too many attempts" in busy.get_data(as_text=True)
        monkeypatch.undo()
    assert counted_hashes == []
    assert auth.login().status_code == 302  # slot free again, and 3 busy answers did not use up the 2 failures


def test_a_login_holds_its_slot_while_flask_checks_the_password(app, auth, monkeypatch):
    """The slot the shield takes covers the password check: a second login meanwhile is refused as busy."""
    from survey import services
    from survey.web import auth as auth_view

    auth.create()
    real = services.authenticate
    seen = []

    def authenticate_with_a_second_login(*args):
        seen.append(app.test_client().post("/auth/login", data={"email": "other@example.com", "password": "x"}))
        return real(*args)

    monkeypatch.setattr(auth_view.services, "authenticate", authenticate_with_a_second_login)
    assert auth.login().status_code == 302
    assert [r.status_code for r in seen] == [429] and seen[0].headers["Retry-After"] == "1"


def test_refused_logins_are_answered_before_flask(app, client, auth, monkeypatch):
    """Once an address or account is refused, its next login posts get the shield's 429 (no request, session or
    page is built), with Retry-After, in the client's language; other addresses and accounts still reach Flask."""
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    auth.create()
    for _ in range(2):
        assert auth.login(password="wrong password!").status_code == 401
    assert auth.login().status_code == 429  # Flask-Limiter's refusal teaches the shield

    def no_flask():
        raise AssertionError("reached Flask")

    monkeypatch.setattr(app, "full_dispatch_request", no_flask)
    shielded = auth.login()
    assert shielded.status_code == 429 and 0 < int(shielded.headers["Retry-After"]) <= 61
    assert "Too many attempts" in shielded.get_data(as_text=True)
    assert shielded.headers["X-Frame-Options"] == "DENY"
    zh = client.post("/auth/login", data={"email": "MANAGER@example.com", "password": "x"},
                     headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 429 and "尝试次数过多" in zh.get_data(as_text=True)
    monkeypatch.undo()
    assert auth.login(email="someone@example.com", password="whatever1").status_code == 401  # reaches Flask


def test_the_shield_blocks_a_refused_address(app, client, auth, monkeypatch):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "2 per minute"
    for n in range(2):
        assert auth.login(email=f"x{n}@example.com", password="wrong password!").status_code == 401
    assert auth.login(email="y@example.com").status_code == 429
    monkeypatch.setattr(app, "full_dispatch_request", lambda: (_ for _ in ()).throw(AssertionError("Flask")))
    assert client.post("/auth/login", data={"email": "z@example.com"}).status_code == 429
    monkeypatch.undo()
    assert client.post("/auth/login", data={"email": "z@example.com", "password": "x"},
                       environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 401


def test_with_redis_down_logins_and_answers_work_and_limits_still_hold(_sqlite_url, unused_port, valid_answers):
    """REDIS_URL set but nothing listening (Redis restarting): the limits fall back to this worker's memory, so a
    login is answered (401, then 429 past the limit) and a questionnaire is stored, never a 500."""
    from survey import services
    from survey.storage.db import db

    dead = f"redis://127.0.0.1:{unused_port}/0"
    email = f"down-{secrets.token_hex(4)}@example.com"
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": _sqlite_url,
                      "WTF_CSRF_ENABLED": False, "REDIS_URL": dead, "RATELIMIT_STORAGE_URI": dead,
                      "LOGIN_LIMIT_PER_ACCOUNT": "2 per minute", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "REPORT_SECOND_PASS": False})
    with app.app_context():
        services.create_manager(db.session, email, PASSWORD, method="pbkdf2:sha256:1000")
        slug = "down-" + secrets.token_hex(3)
        survey = services.create_survey(db.session, slug=slug, title_en="Down", title_zh="停")
        survey_id = survey.id
    client = app.test_client()
    try:
        codes = [client.post("/auth/login", data={"email": email, "password": "wrong"}).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]
        posted = client.post(f"/s/{slug}", data=valid_answers())
        assert posted.status_code == 302 and "/thanks" in posted.headers["Location"], posted.status_code
        with app.app_context():
            from survey.storage.tables import Response
            assert db.session.query(Response).filter_by(survey_id=survey_id).count() == 1
    finally:
        from survey import jobs
        jobs.drain(30)
        with app.app_context():
            from survey.storage.tables import Manager
            db.session.query(Manager).filter_by(email=email).delete()
            db.session.commit()
            db.engine.dispose()
