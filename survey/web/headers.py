"""Security headers on every response: a CSP without inline script or style, no framing of manager pages,
nosniff, no Referer from respondent pages (invitation tokens travel in their addresses), HSTS over HTTPS."""
import math
import time

from flask import current_app, request

from survey.extensions import limiter

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'")
RESPONDENT_PREFIXES = ("/s/",)
NO_REFERRER_PREFIXES = (*RESPONDENT_PREFIXES, "/auth/set-password/")  # addresses that carry a secret token


def add_headers(response):
    """Set the headers a view has not set itself."""
    headers = response.headers
    respondent = request.path.startswith(RESPONDENT_PREFIXES)
    frame_ancestors = current_app.config["RESPONDENT_FRAME_ANCESTORS"] if respondent else "'none'"
    headers.setdefault("Content-Security-Policy", f"{CSP}; frame-ancestors {frame_ancestors}")
    if frame_ancestors == "'none'":
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer" if request.path.startswith(NO_REFERRER_PREFIXES)
                       else "same-origin")
    if request.is_secure and current_app.config["HSTS_MAX_AGE"]:
        headers.setdefault("Strict-Transport-Security", f"max-age={current_app.config['HSTS_MAX_AGE']}")
    return response


def init_app(app) -> None:
    """Add the headers to every response of the app (error pages and static files included)."""
    app.after_request(add_headers)


def retry_after_limit() -> str:
    """Seconds until the rate limit that refused this request lets the next one through (for Retry-After)."""
    breached = [lim for lim in limiter.current_limits if lim.breached]
    if not breached:
        return "60"
    return str(max(1, math.ceil(max(lim.reset_at for lim in breached) - time.time())))
