"""Sessions end: a copied cookie stops working after logout, set-password, a password change and "sign out
everywhere"; a login lasts PERMANENT_SESSION_LIFETIME at most and SESSION_IDLE_TIMEOUT without requests; the
Secure flag follows the scheme or the environment."""
import time

import pytest

from survey import create_app
from survey.web import sessions


def copy_cookie(app, client):
    """A second browser holding a copy of the client's session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    thief.set_cookie(cookie.key, cookie.value)
    return thief


def test_copied_cookie_refused_after_logout(app, client, manager):
    thief = copy_cookie(app, client)
    assert thief.get("/manage/").status_code == 200
    client.post("/auth/logout")
    assert thief.get("/manage/").status_code == 302
    assert client.get("/manage/").status_code == 302


def test_copied_cookie_refused_after_set_password(app, client, manager, runner):
    thief = copy_cookie(app, client)
    result = runner.invoke(args=["set-password", manager.email, "--password", "a new long password"])
    assert result.exit_code == 0, result.output
    assert thief.get("/manage/").status_code == 302
    assert client.get("/manage/").status_code == 302


def test_password_change_service_ends_sessions(app, client, manager, db_session):
    from survey import services

    services.set_password(db_session, db_session.merge(manager), "another long password",
                          method=app.config["PASSWORD_HASH_METHOD"])
    assert client.get("/manage/").status_code == 302


def test_sign_out_everywhere(app, client, auth, manager):
    other = app.test_client()
    assert other.post("/auth/login", data={"email": manager.email, "password": "correct horse battery"}).status_code == 302
    assert other.get("/manage/").status_code == 200
    res = client.post("/manage/account/sign-out-everywhere")
    assert res.status_code == 302
    assert other.get("/manage/").status_code == 302
    assert client.get("/manage/").status_code == 302
    assert auth.login().status_code == 302  # a new login works
    assert client.get("/manage/").status_code == 200


def test_session_lifetime_and_idle_timeout(app, client, manager, monkeypatch):
    start = time.time()
    monkeypatch.setattr(sessions.time, "time", lambda: start + 50 * 60)  # active within the hour
    assert client.get("/manage/").status_code == 200
    monkeypatch.setattr(sessions.time, "time", lambda: start + 50 * 60 + 61 * 60)  # idle over an hour
    assert client.get("/manage/").status_code == 302


def test_session_lifetime_caps_an_active_session(app, client, manager, monkeypatch):
    start = time.time()
    for minutes in range(50, 10 * 60, 50):  # a request every 50 minutes keeps it from idling out
        monkeypatch.setattr(sessions.time, "time", lambda m=minutes: start + m * 60)
        assert client.get("/manage/").status_code == 200, minutes
    monkeypatch.setattr(sessions.time, "time", lambda: start + 10 * 3600 + 60)
    assert client.get("/manage/").status_code == 302


def test_session_cookie_is_permanent_with_the_working_day(app, client, auth):
    auth.create()
    res = auth.login()
    cookie = res.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    assert app.permanent_session_lifetime.total_seconds() == 10 * 3600


def test_secure_cookie_over_https_and_from_the_environment(app, client, auth, monkeypatch):
    auth.create()
    res = client.post("/auth/login", data={"email": "manager@example.com", "password": "correct horse battery"},
                      base_url="https://localhost")
    assert "Secure" in res.headers["Set-Cookie"]
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("CSI_PERMANENT_SESSION_LIFETIME", "3600")
    monkeypatch.setenv("CSI_SESSION_IDLE_TIMEOUT", "600")
    other = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert other.config["SESSION_COOKIE_SECURE"] is True
    assert other.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 3600
    assert other.config["SESSION_IDLE_TIMEOUT"].total_seconds() == 600


def test_proxy_fix_trusts_the_forwarded_scheme(monkeypatch, _sqlite_url):
    monkeypatch.setenv("CSI_PROXY_HOPS", "1")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": _sqlite_url})

    @app.get("/_scheme")
    def scheme():
        from flask import request

        return f"{request.scheme} {request.remote_addr}"

    res = app.test_client().get("/_scheme", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert res.data == b"https 203.0.113.9"
