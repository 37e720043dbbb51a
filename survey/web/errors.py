"""Error pages: HTML for people, JSON under /api/; a failed request's transaction is rolled back."""
from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from survey import services
from survey.web.headers import retry_after_limit
from survey.web.json_errors import json_error


bp = Blueprint("errors", __name__)


def wants_json() -> bool:
    """Answer API clients in JSON, everyone else in HTML."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str):
    """Render one error as the API's JSON shape under /api/, or as an HTML page, with this status."""
    if wants_json():
        return json_error(status, message)
    return render_template("errors/error.html", status=status, message=message), status


@bp.before_app_request
def refuse_nul_characters():
    """Refuse a NUL character in the address, query or form fields with a 400: PostgreSQL can neither store nor
    compare one (the driver raises), and no person types one."""
    if "\x00" in request.path or any("\x00" in key or "\x00" in value
                                      for key, value in request.values.items(multi=True)):
        abort(400)


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    """Refuse a form sent without a valid CSRF token; nothing was stored."""
    return error_response(400, _("This form has expired or was not sent from this site. "
                                 "Please go back, reload the page and send it again."))


@bp.app_errorhandler(HTTPException)
def http_error(error):
    """Show a plain page for 4xx errors."""
    messages = {
        400: _("The request could not be understood."),
        403: _("You may not open this page."),
        404: _("This page does not exist."),
        405: _("This address does not accept that kind of request."),
        413: _("The upload is too large."),
        429: _("Too many attempts. Please wait a little and try again."),
    }
    response = current_app.make_response(error_response(error.code or 500,
                                                        messages.get(error.code, error.description or "")))
    if error.code == 429:
        retry = getattr(error, "retry_after", None)
        response.headers["Retry-After"] = str(retry) if retry else retry_after_limit()
    return response


def database_fault(error):
    """The database is down, hung or overloaded: a 503 with Retry-After within the connect timeout, never a bare
    proxy page (respond.submit catches it first to give the respondent their answers back)."""
    try:
        services.db_session.rollback()
    except services.DATABASE_FAULTS:
        pass
    response = current_app.make_response(error_response(503, _("The service is busy or under maintenance. Nothing "
                                                               "was lost; please try again in a few seconds.")))
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER_SECONDS"])
    return response


for _fault in services.DATABASE_FAULTS:
    bp.app_errorhandler(_fault)(database_fault)


@bp.app_errorhandler(InternalServerError)
def internal_error(error):
    """Roll back the failed transaction and apologise."""
    services.db_session.rollback()
    return error_response(500, _("Something went wrong on our side. Nothing you sent was half-stored; "
                                 "please try again."))
