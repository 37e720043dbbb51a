"""The permission decision of every manager request, taken once in the manage parent blueprint's guard.

Each manager view needs one action of services/permissions.py. A view declares it with ``@requires(action)``
(optionally for some methods only); a view that declares nothing gets the default of its HTTP method
(``DEFAULT_ACTIONS``: reading for GET, changing a survey for POST and the rest). When the URL names a survey
(``<slug>``), the guard also checks the manager's access to it: a survey they may not read answers 404 (it
does not exist for them), an action their role does not allow on it answers 403. A page that names no survey
in its URL but touches surveys checks each with ``permissions.can`` / ``require`` itself.
"""
from flask import abort, current_app, request
from flask_login import current_user

from survey import services
from survey.services import permissions
from survey.web import auditing

DEFAULT_ACTIONS = {"GET": permissions.READ_SURVEY, "HEAD": permissions.READ_SURVEY}
DEFAULT_CHANGE = permissions.EDIT_SURVEY  # POST, PUT, PATCH, DELETE
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def requires(action: str, *, methods=ALL_METHODS):
    """Declare the permission action a manager view needs for `methods` (default: all of them)."""
    if action not in permissions.ACTIONS:
        raise ValueError(f"unknown action {action!r}")

    def mark(view):
        view.permission = {**getattr(view, "permission", {}), **{method: action for method in methods}}
        return view
    return mark


def action_for(endpoint: str | None, method: str) -> str:
    """The action an endpoint needs for this method: the view's declaration, else the method's default."""
    declared = getattr(current_app.view_functions.get(endpoint or ""), "permission", {})
    return declared.get(method) or DEFAULT_ACTIONS.get(method, DEFAULT_CHANGE)


def check_request() -> None:
    """Let the request through or refuse it (every refusal, 403 or 404 for an existing survey, is audit-logged
    as "denied").

    :raise 404: the URL names a survey the manager may not read (or none).
    :raise 403: the manager's role does not allow the action.
    """
    action = action_for(request.endpoint, request.method)
    slug = (request.view_args or {}).get("slug")
    if slug is not None:
        survey = services.get_survey(services.db_session, slug)
        if survey is None:
            abort(404)
        if not permissions.can(current_user, permissions.READ_SURVEY, survey):
            _refuse(404, slug, action)
        allowed = permissions.can(current_user, action, survey)
    else:
        allowed = permissions.can(current_user, action)
    if not allowed:
        _refuse(403, slug, action)


def _refuse(status: int, slug: str | None, action: str):
    """Log the refusal in the audit log and answer `status`."""
    auditing.record("denied", target=str(slug or ""),
                    detail=f"{request.method} {request.endpoint} ({action}) -> {status}")
    abort(status)
