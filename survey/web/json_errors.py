"""The one JSON error shape under /api/, rendered for the API's own errors and for HTTP errors alike."""
from flask import jsonify

#: The error code of an HTTP error answered in JSON (an API view's own errors name theirs).
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         410: "gone", 413: "too_large", 429: "rate_limited", 500: "internal_error", 503: "unavailable"}


def json_error(status: int, message: str, code: str | None = None, fields: dict | None = None, **extra):
    """Render the one JSON error shape under /api/: {"error": {"status", "code", "message"[, "fields"], ...}}."""
    body = {"status": status, "code": code or CODES.get(status, "http_error"), "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    return response
