"""A login flood answered before Flask, with a ready-made 429 (no request, session, CSRF check, limit check or
page is built): a login post gets one
- when the login limits have already refused its address or account, until that limit's window ends;
- when every password-check slot of the host (LOGIN_HASH_SLOTS, services.password_check_slot) is taken by
  another login, with Retry-After: 1. A post that gets a slot holds it while Flask handles it, so at most that
  many logins (each ~100 ms of scrypt) run at once across the workers.
Under a flood of wrong passwords the refusals then cost the workers a fraction of a millisecond each (through
Flask ~13 times more), and respondents keep the workers. A busy refusal says nothing about the password, so it
does not count against the limits.

The refusal table is per worker process and only caches refusals Flask-Limiter (memory or Redis) already made,
so it never refuses what the limits would let through, and forgets an entry when its window ends.
"""
import io
import time
from urllib.parse import parse_qs

from flask import request
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from survey import services
from survey.extensions import limiter
from survey.i18n import normalize

LOGIN_PATH = "/auth/login"
MAX_ENTRIES = 10_000
MAX_BODY = 4096  # a login form is far smaller; larger posts go to Flask untouched
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
           ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
           ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]


class LoginShield:
    """WSGI middleware in front of the Flask app (inside ProxyFix, so REMOTE_ADDR is the client's)."""

    def __init__(self, wsgi_app, flask_app):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.addresses: dict[str, float] = {}
        self.accounts: dict[str, float] = {}
        self.pages: dict[str, bytes] = {}
        flask_app.extensions["login_shield"] = self
        flask_app.after_request(self.learn)
        with flask_app.test_request_context():
            for locale in flask_app.config["LANGUAGES"]:
                with force_locale(locale):
                    text = _("Too many attempts. Please wait a little and try again.")
                self.pages[locale] = (f'<!doctype html><html lang="{locale.replace("_", "-")}"><meta charset="utf-8">'
                                      f"<title>429</title><p>{text}</p>"
                                      f'<p><a href="{LOGIN_PATH}">{LOGIN_PATH}</a></p></html>').encode()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != LOGIN_PATH:
            return self.wsgi_app(environ, start_response)
        now = time.time()
        until = self.addresses.get(environ.get("REMOTE_ADDR", ""), 0)
        if until <= now and self.accounts:
            until = self._account_until(environ)
        if until > now:
            return self._refuse(environ, start_response, until - now)
        config = self.flask_app.config
        with services.password_check_slot(self.flask_app.instance_path, config["LOGIN_HASH_SLOTS"]) as free:
            if not free:  # other workers are checking passwords: answer now rather than queue up behind them
                return self._refuse(environ, start_response, 1)
            return self.wsgi_app(environ, start_response)  # Flask's response is built before the slot is freed

    def _account_until(self, environ) -> float:
        """Read the (small) form to find the account, and hand the body on to Flask unchanged."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0
        if not 0 < length <= MAX_BODY or "urlencoded" not in environ.get("CONTENT_TYPE", ""):
            return 0
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        email = parse_qs(body.decode("utf-8", "replace")).get("email", [""])[0]
        return self.accounts.get(email.strip().lower()[:254], 0)

    def _refuse(self, environ, start_response, seconds: float):
        tags = [locale.replace("_", "-") for locale in self.pages]
        best = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE", ""), LanguageAccept).best_match(tags, tags[0])
        page = self.pages.get(normalize(best)) or next(iter(self.pages.values()))
        start_response("429 TOO MANY REQUESTS", [*HEADERS, ("Content-Length", str(len(page))),
                                                 ("Retry-After", str(max(1, int(seconds + 0.999))))])
        return [page]

    def learn(self, response):
        """After Flask refused a login for a limit, remember the refused address or account until its reset."""
        if response.status_code != 429 or request.endpoint != "auth.login" or request.method != "POST":
            return response
        for lim in limiter.current_limits:
            if not lim.breached:
                continue
            account = any(str(arg).startswith("account:") for arg in lim.request_args)  # auth.login_account
            table, key = ((self.accounts, (request.form.get("email", "") or "").strip().lower()[:254]) if account
                          else (self.addresses, request.remote_addr or ""))
            if len(table) >= MAX_ENTRIES:
                now = time.time()
                for stale in [k for k, until in table.items() if until <= now] or list(table):
                    del table[stale]
            table[key] = max(table.get(key, 0), float(lim.window.reset_time))
        return response
