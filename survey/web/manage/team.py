"""Admins manage colleagues: invite (a one-time set-password link shown on the page), change roles, grant
survey access, deactivate and reactivate, issue a new set-password link."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.services import MAX_ID, permissions
from survey.web import auditing
from survey.web.manage.guard import requires

bp = Blueprint("team", __name__, url_prefix="/team")


def _member_or_404(manager_id: int):
    """:raise 404: no such manager."""
    return services.get_manager(services.db_session, manager_id) or abort(404)


def _all_surveys():
    return [survey for survey, _counts in services.list_surveys(services.db_session)]


def _chosen_survey_ids() -> list[int]:
    return [int(value) for value in request.form.getlist("survey") if value.isdigit() and int(value) <= MAX_ID]


def _setup_url(token: str) -> str:
    return url_for("auth.set_password", token=token, _external=True)


def _index_page(status=200, *, link=None, invited=None, form=None):
    page = render_template("manage/team/index.html", members=services.list_managers(services.db_session),
                           surveys=_all_surveys(), roles=permissions.ROLES, link=link, invited=invited,
                           form=form or {})
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/")
@requires(permissions.MANAGE_ACCOUNTS)
def index():
    """List every manager with role and status, and the invitation form."""
    return _index_page()


@bp.post("/invite")
@requires(permissions.MANAGE_ACCOUNTS)
def invite():
    """Create a colleague's account with a role and surveys; show their one-time set-password link."""
    chosen = set(_chosen_survey_ids())
    try:
        member, token = services.invite_manager(
            services.db_session, request.form.get("email", ""), request.form.get("role", ""),
            surveys=[s for s in _all_surveys() if s.id in chosen], method=current_app.config["PASSWORD_HASH_METHOD"])
    except services.InvalidInput as err:
        flash(str(err), "error")
        return _index_page(422, form=request.form)
    auditing.note(target=member.email, detail=f"surveys={len(chosen)}")
    return _index_page(201, link=_setup_url(token), invited=member)


@bp.get(f"/<int(max={MAX_ID}):manager_id>")
@requires(permissions.MANAGE_ACCOUNTS)
def member(manager_id):
    """One colleague: role, survey access, status, a new set-password link."""
    return _member_page(_member_or_404(manager_id))


def _member_page(member, status=200, link=None):
    page = render_template("manage/team/member.html", member=member, roles=permissions.ROLES,
                           surveys=_all_surveys(), granted=services.granted_survey_ids(member), link=link,
                           is_self=member.id == current_user.id)
    return page, status, {"Cache-Control": "no-store"}


@bp.post(f"/<int(max={MAX_ID}):manager_id>/role")
@requires(permissions.MANAGE_ACCOUNTS)
def role(manager_id):
    """Change a colleague's role (the last administrator stays one)."""
    member = _member_or_404(manager_id)
    auditing.note(target=member.email)
    try:
        services.set_role(services.db_session, member, request.form.get("role", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
        return _member_page(member, 422)
    flash(_("Role of %(email)s changed.", email=member.email), "info")
    return redirect(url_for(".member", manager_id=member.id))


@bp.post(f"/<int(max={MAX_ID}):manager_id>/surveys")
@requires(permissions.MANAGE_ACCOUNTS)
def surveys(manager_id):
    """Give a colleague access to exactly the ticked surveys."""
    member = _member_or_404(manager_id)
    granted = services.set_grants(services.db_session, member, _chosen_survey_ids())
    auditing.note(target=member.email, detail="surveys=" + ",".join(str(i) for i in sorted(granted)))
    flash(_("Survey access of %(email)s saved.", email=member.email), "info")
    return redirect(url_for(".member", manager_id=member.id))


def _set_active(manager_id: int, active: bool):
    member = _member_or_404(manager_id)
    auditing.note(target=member.email)
    if member.id == current_user.id:
        flash(_("You cannot deactivate your own account."), "error")
        return _member_page(member, 422)
    try:
        services.set_active(services.db_session, member, active)
    except services.InvalidInput as err:
        flash(str(err), "error")
        return _member_page(member, 422)
    flash(_("%(email)s is deactivated and signed out everywhere.", email=member.email) if not active
          else _("%(email)s is active again.", email=member.email), "info")
    return redirect(url_for(".member", manager_id=member.id))


@bp.post(f"/<int(max={MAX_ID}):manager_id>/deactivate")
@requires(permissions.MANAGE_ACCOUNTS)
def deactivate(manager_id):
    """Deactivate a colleague: they cannot log in, every session ends, their read keys stop."""
    return _set_active(manager_id, False)


@bp.post(f"/<int(max={MAX_ID}):manager_id>/reactivate")
@requires(permissions.MANAGE_ACCOUNTS)
def reactivate(manager_id):
    """Let a deactivated colleague log in again."""
    return _set_active(manager_id, True)


@bp.post(f"/<int(max={MAX_ID}):manager_id>/link")
@requires(permissions.MANAGE_ACCOUNTS)
def link(manager_id):
    """Issue a new one-time set-password link (for a forgotten password; any earlier link stops working)."""
    member = _member_or_404(manager_id)
    auditing.note(target=member.email)
    if not member.active:
        flash(_("Reactivate the account first."), "error")
        return _member_page(member, 422)
    return _member_page(member, 201, link=_setup_url(services.issue_setup_link(services.db_session, member)))
