"""Manager pages for reading responses one page or one response at a time, the open comments, and erasing one
respondent's response on request (the only page that deletes a response)."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from survey import services
from survey.i18n import current_locale

bp = Blueprint("responses", __name__)


@bp.get("/surveys/<slug>/responses")
def index(slug):
    """List the survey's responses, newest first, a page at a time."""
    survey = services.get_survey_or_404(slug)
    page = services.page_responses(services.db_session, survey, services.page_number(request.args.get("page")))
    return render_template("manage/responses/index.html", survey=survey, page=page,
                           waves=services.wave_numbers(survey))


@bp.get("/surveys/<slug>/responses/<int:response_id>")
def show(slug, response_id):
    """Show one response: its answers with the question texts, wave, time and flags.

    :raise 404: no such response in this survey.
    """
    survey = services.get_survey_or_404(slug)
    view = services.get_response(services.db_session, survey, response_id, str(current_locale())) or abort(404)
    return render_template("manage/responses/show.html", survey=survey, response=view)


@bp.get("/surveys/<slug>/comments")
def comments(slug):
    """List the answers to the open questions, newest first, a page at a time."""
    survey = services.get_survey_or_404(slug)
    page = services.page_comments(services.db_session, survey, services.page_number(request.args.get("page")))
    return render_template("manage/responses/comments.html", survey=survey, page=page)


@bp.get("/surveys/<slug>/erase")
def find(slug):
    """Find the response to erase by invitation link/token or response id, and ask for confirmation."""
    survey = services.get_survey_or_404(slug)
    token, response_id = request.args.get("token", ""), request.args.get("response", "")
    if not token and not response_id:
        return render_template("manage/responses/erase.html", survey=survey, found=None, form={})
    try:
        found = services.find_response(services.db_session, survey, token=token, response_id=response_id)
    except services.InvalidInput as err:
        flash(str(err), "error")
        return render_template("manage/responses/erase.html", survey=survey, found=None, form=request.args), 404
    view = services.get_response(services.db_session, survey, found, str(current_locale()))
    return render_template("manage/responses/erase.html", survey=survey, found=view, form=request.args)


@bp.post("/surveys/<slug>/responses/<int:response_id>/erase")
def erase(slug, response_id):
    """Erase one response and its answers for good; every report of the survey is computed again."""
    survey = services.get_survey_or_404(slug)
    try:
        services.erase_response(services.db_session, survey, response_id, request.form.get("erasures", ""))
    except services.InvalidInput as err:
        flash(str(err), "error")
        return render_template("manage/responses/erase.html", survey=survey, found=None, form={}), 422  # stale page or no such response: nothing erased
    flash(_("Response %(id)s was erased with its answers. The reports are computed again without it.",
            id=response_id), "info")
    return redirect(url_for(".index", slug=slug))
