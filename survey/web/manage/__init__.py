"""Everything under /manage: one parent blueprint whose single guard (login, then the permission decision of
guard.py) covers every nested manager page.

The nested blueprints (surveys, responses, keys, exports, report, upload, account, audit, team, cases, mail) declare
no guard of their own, so a new manager page is protected by being registered here: it needs what its view declares
with ``@guard.requires(action)``, else its HTTP method's default (GET reads, POST changes the survey it names).
tests/survey/test_manage.py and tests/survey/test_roles.py sweep every /manage route.
"""
from flask import Blueprint
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from survey.extensions import login_manager
from survey.services import permissions
from survey.web.auditing import record_manager_request
from survey.web.manage import guard

bp = Blueprint("manage", __name__, url_prefix="/manage")


@bp.before_request
def require_login():
    """Send anyone not logged in to the login page, and refuse what their role or survey access does not allow,
    for every nested manager blueprint."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    guard.check_request()
    return None


ROLE_NAMES = {permissions.ADMIN: _l("administrator"), permissions.EDITOR: _l("editor"),
              permissions.VIEWER: _l("viewer")}


@bp.app_context_processor
def permission_helpers():
    """Templates ask can("edit", survey) to show only what the manager may do, and name roles in the locale."""
    return {"can": lambda action, survey=None: permissions.can(current_user, action, survey),
            "role_name": lambda role: str(ROLE_NAMES.get(role, role))}


bp.after_request(record_manager_request)  # every accepted change and export of every nested page, in the audit log


def _register_children():
    from survey.web.manage import account, audit, cases, exports, keys, mail, report, responses, surveys, team, upload

    for child in (surveys, responses, keys, exports, report, upload, account, audit, team, cases, mail):
        bp.register_blueprint(child.bp)


_register_children()
