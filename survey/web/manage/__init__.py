"""Everything under /manage: one parent blueprint whose single login guard covers every nested manager page.

The nested blueprints (surveys, responses, keys, exports, report, upload) declare no guard of their own, so a new manager
page is protected by being registered here; tests/survey/test_manage.py sweeps every /manage route.
"""
from flask import Blueprint
from flask_login import current_user

from survey.extensions import login_manager
from survey.web.auditing import record_manager_request

bp = Blueprint("manage", __name__, url_prefix="/manage")


@bp.before_request
def require_login():
    """Send anyone not logged in to the login page, for every nested manager blueprint."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


bp.after_request(record_manager_request)  # every accepted change and export of every nested page, in the audit log


def _register_children():
    from survey.web.manage import account, audit, exports, keys, report, responses, surveys, upload

    for child in (surveys, responses, keys, exports, report, upload, account, audit):
        bp.register_blueprint(child.bp)


_register_children()
