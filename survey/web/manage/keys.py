"""Manager pages for API keys: issue a survey's submit or read key (shown once), list and revoke them; the
overview of every key a manager oversees, where they issue and revoke their own all-survey read keys (such a
key reads only what its maker may read, services/permissions.py)."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import services
from survey.services import MAX_ID, apikeys, permissions
from survey.web.manage.guard import requires

bp = Blueprint("keys", __name__)


@bp.route("/surveys/<slug>/api-keys", methods=("GET", "POST"))
def index(slug):
    """List the survey's API keys, or issue one and show it this once."""
    survey = services.get_survey_or_404(slug)
    new_key, status = None, 200
    if request.method == "POST":
        try:
            new_key = apikeys.issue_key(services.db_session, request.form.get("kind", ""), survey=survey,
                                        manager=current_user, label=request.form.get("label", "").strip())
        except services.InvalidInput as err:
            flash(str(err), "error")
            status = 422
        else:
            status = 201
    page = render_template("manage/keys/index.html", survey=survey, keys=apikeys.list_keys(services.db_session, survey),
                           new_key=new_key, kinds=apikeys.KEY_KINDS)
    return page, status, {"Cache-Control": "no-store"}


@bp.post(f"/surveys/<slug>/api-keys/<int(max={MAX_ID}):key_id>/revoke")
def revoke(slug, key_id):
    """Revoke one of the survey's keys.

    :raise 404: no such key for this survey (all-survey read keys are revoked with the CLI).
    """
    survey = services.get_survey_or_404(slug)
    key = apikeys.get_survey_key(services.db_session, survey, key_id) or abort(404)
    if apikeys.revoke_key(services.db_session, key):
        flash(_("Key revoked."), "info")
    return redirect(url_for(".index", slug=slug))


@bp.route("/api-keys", methods=("GET", "POST"))
@requires(permissions.READ_SURVEY)
def overview():
    """List every key the manager oversees, or issue them an all-survey read key and show it this once."""
    new_key, status = None, 200
    if request.method == "POST":
        new_key = apikeys.issue_key(services.db_session, apikeys.READ, manager=current_user,
                                    label=request.form.get("label", "").strip())
        status = 201
    page = render_template("manage/keys/overview.html", new_key=new_key,
                           keys=apikeys.list_manager_keys(services.db_session, current_user))
    return page, status, {"Cache-Control": "no-store"}


@bp.post(f"/api-keys/<int(max={MAX_ID}):key_id>/revoke")
@requires(permissions.READ_SURVEY)
def revoke_own(key_id):
    """Revoke an all-survey read key the manager made (an admin: any).

    :raise 404: no such key, a survey's own key, or someone else's.
    """
    key = apikeys.get_own_key(services.db_session, current_user, key_id) or abort(404)
    if apikeys.revoke_key(services.db_session, key):
        flash(_("Key revoked."), "info")
    return redirect(url_for(".overview"))
