"""Manager pages for API keys: issue a survey's submit or read key (shown once), list and revoke them."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from . import apikeys, services
from .db import db
from .manage import require_login
from .tables import MAX_ID

bp = Blueprint("keys", __name__, url_prefix="/manage")
bp.before_request(require_login)


@bp.route("/surveys/<slug>/api-keys", methods=("GET", "POST"))
def index(slug):
    """List the survey's API keys, or issue one and show it this once."""
    survey = services.get_survey_or_404(slug)
    new_key, status = None, 200
    if request.method == "POST":
        try:
            new_key = apikeys.issue_key(db.session, request.form.get("kind", ""), survey=survey,
                                        manager=current_user, label=request.form.get("label", "").strip())
        except services.InvalidInput as err:
            flash(str(err), "error")
            status = 422
        else:
            status = 201
    page = render_template("keys/index.html", survey=survey, keys=apikeys.list_keys(db.session, survey),
                           new_key=new_key, kinds=apikeys.KEY_KINDS)
    return page, status, {"Cache-Control": "no-store"}


@bp.post(f"/surveys/<slug>/api-keys/<int(max={MAX_ID}):key_id>/revoke")
def revoke(slug, key_id):
    """Revoke one of the survey's keys.

    :raise 404: no such key for this survey (all-survey read keys are revoked with the CLI).
    """
    survey = services.get_survey_or_404(slug)
    key = db.session.get(apikeys.ApiKey, key_id)
    if key is None or key.survey_id != survey.id:
        abort(404)
    if apikeys.revoke_key(db.session, key):
        flash(_("Key revoked."), "info")
    return redirect(url_for("keys.index", slug=slug))
