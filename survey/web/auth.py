"""Manager login and logout."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from survey import services
from survey.extensions import limiter, login_manager
from survey.web import auditing, sessions

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to open this page.")


@login_manager.user_loader
def load_manager(session_id):
    """Load the logged-in manager for Flask-Login: None (logged out) if the session's epoch was ended by a logout,
    a password change or "sign out everywhere", or the session is past its lifetime or idle timeout."""
    if not sessions.still_valid():
        return None
    return services.load_session_manager(services.db_session, session_id)


def safe_next(target: str | None) -> str:
    """Return target if it is a path on this site, else the survey list (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("manage.surveys.index")


def login_account() -> str:
    """The rate-limit key of the account a login attempt names (normalized like the lookup)."""
    return "account:" + (request.form.get("email", "") or "").strip().lower()[:254]


def login_failed(response) -> bool:
    """Only failed attempts count against the login limits."""
    return response.status_code == 401


@bp.route("/login", methods=("GET", "POST"))
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], deduct_when=login_failed,
               scope="login-address")
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"], key_func=login_account,
               deduct_when=login_failed, scope="login-account")
def login():
    """Log a manager in with email and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    status = 200
    if request.method == "POST":
        # the shield (web/shield.py) holds a password-check slot for this post, or refused it before Flask
        manager = services.authenticate(services.db_session, request.form.get("email", ""),
                                        request.form.get("password", ""))
        if manager is not None:
            sessions.start()
            login_user(manager, remember=False)
            auditing.record("login", manager=manager)
            return redirect(safe_next(request.args.get("next") or request.form.get("next")))
        auditing.record("login_failed", email=request.form.get("email", "").strip()[:254])
        flash(_("Wrong email or password."), "error")
        status = 401
    return render_template("auth/login.html", email=request.form.get("email", "")), status


@bp.post("/logout")
def logout():
    """Log the manager out: every session of this manager ends (a copied cookie included)."""
    if current_user.is_authenticated:
        auditing.record("logout")
        services.end_sessions(services.db_session, current_user)
    logout_user()
    sessions.forget()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/set-password/<token>", methods=("GET", "POST"))
def set_password(token):
    """Choose a password with the one-time link an administrator gave (invitation or reset)."""
    member = services.setup_link_manager(services.db_session, token)
    if member is None:
        return render_template("auth/set_password.html", member=None), 404
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm_password", ""):
            flash(_("The two new passwords differ."), "error")
            return render_template("auth/set_password.html", member=member), 422
        try:
            services.set_password_with_link(services.db_session, token, password,
                                            method=current_app.config["PASSWORD_HASH_METHOD"])
        except services.InvalidInput as err:
            flash(str(err), "error")
            return render_template("auth/set_password.html", member=member), 422
        auditing.record("password_set_by_link", manager=member)
        if current_user.is_authenticated:
            logout_user()
            sessions.forget()
        flash(_("Your password is set. Please log in."), "info")
        return redirect(url_for(".login"))
    return render_template("auth/set_password.html", member=member)
