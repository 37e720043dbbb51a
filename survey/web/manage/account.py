"""The logged-in manager's own account: sign out everywhere."""
from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from survey import services
from survey.web import auditing

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.post("/sign-out-everywhere")
def sign_out_everywhere():
    """End every session of this manager, on every browser and device (this one included)."""
    auditing.record("sign_out_everywhere")
    services.end_sessions(services.db_session, current_user)
    logout_user()
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("auth.login"))
