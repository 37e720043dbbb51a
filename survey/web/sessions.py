"""Manager sessions: a signed cookie whose user id carries the manager's session epoch (services end it), a
login time (the cookie is refused after PERMANENT_SESSION_LIFETIME however active) and a last-seen time (refused
after SESSION_IDLE_TIMEOUT without a request); the Secure flag follows the request's scheme unless configured."""
import time

from flask import current_app, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface

LOGIN_AT, SEEN_AT = "login_at", "seen_at"
SEEN_RESOLUTION = 60  # seconds: last-seen is rewritten (a new cookie) at most once a minute


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure over HTTPS when SESSION_COOKIE_SECURE is None ("auto")."""

    def get_cookie_secure(self, app) -> bool:
        configured = app.config.get("SESSION_COOKIE_SECURE")
        if configured is None:
            return has_request_context() and request.is_secure
        return bool(configured)


def start() -> None:
    """Mark a new login in the session (permanent: it expires with PERMANENT_SESSION_LIFETIME)."""
    session.permanent = True
    now = int(time.time())
    session[LOGIN_AT] = session[SEEN_AT] = now


def still_valid() -> bool:
    """Say whether the session's login is younger than the lifetime and was used within the idle timeout;
    refresh its last-seen time."""
    config = current_app.config
    now = int(time.time())
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return False
    if now - login_at > config["PERMANENT_SESSION_LIFETIME"].total_seconds():
        return False
    if now - seen_at > config["SESSION_IDLE_TIMEOUT"].total_seconds():
        return False
    if now - seen_at >= SEEN_RESOLUTION:
        session[SEEN_AT] = now
    return True


def forget() -> None:
    """Drop the session's login marks."""
    session.pop(LOGIN_AT, None)
    session.pop(SEEN_AT, None)
