"""The logged-in manager's own account: see it, change the password, sign out everywhere."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from survey import services
from survey.services import permissions
from survey.web import auditing, sessions
from survey.web.manage.guard import requires

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@requires(permissions.OWN_ACCOUNT)
def index():
    """Show the account: email, role, password change, sign out everywhere."""
    return render_template("manage/account/index.html")


@bp.post("/password")
@requires(permissions.OWN_ACCOUNT)
def password():
    """Change one's own password (the current one proves it is you); every other session ends, this one stays."""
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        flash(_("The two new passwords differ."), "error")
        return render_template("manage/account/index.html"), 422
    manager = current_user._get_current_object()  # the account itself, not the proxy: it is logged in again below
    try:
        services.change_password(services.db_session, manager, request.form.get("current_password", ""), new,
                                 method=current_app.config["PASSWORD_HASH_METHOD"])
    except services.InvalidInput as err:
        flash(str(err), "error")
        return render_template("manage/account/index.html"), 422
    sessions.start()
    login_user(manager)  # this browser's session carries the new epoch; every other one has ended
    auditing.note(detail="other sessions ended")
    flash(_("Password changed. You are signed out on every other device."), "info")
    return redirect(url_for(".index"))


@bp.post("/sign-out-everywhere")
@requires(permissions.OWN_ACCOUNT)
def sign_out_everywhere():
    """End every session of this manager, on every browser and device (this one included)."""
    auditing.record("sign_out_everywhere")
    services.end_sessions(services.db_session, current_user)
    logout_user()
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("auth.login"))
