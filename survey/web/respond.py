"""Respondent pages: the questionnaire at /s/<slug> and the thank-you page."""
from itertools import groupby

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from survey import services
from survey.extensions import limiter
from survey.i18n import current_locale
from survey.services import SECTIONS

bp = Blueprint("respond", __name__, url_prefix="/s")
HONEYPOT = "website"  # hidden from people; a bot that fills it gets the thank-you page and nothing is stored


def sections(survey):
    """Group the active questions into (section key, title, questions) in questionnaire order."""
    return [
        (key, SECTIONS.get(key, key), list(items))
        for key, items in groupby(survey.active_questions, key=lambda q: q.section)
    ]


def render_form(survey, *, values=None, errors=None, token=None, status=200):
    """Render the questionnaire with the answers given so far and per-question errors."""
    return render_template(
        "respond/form.html", survey=survey, sections=sections(survey), values=values or MultiDict(),
        errors=errors or {}, token=token, honeypot=HONEYPOT,
    ), status


@bp.get("/<slug>")
def form(slug):
    """Show a survey (or why it cannot be answered).

    :raise 404: no such survey.
    """
    survey = services.get_survey_or_404(slug)
    token = request.args.get("t") or None
    if not survey.is_open:
        return render_template("respond/closed.html", survey=survey)
    if token:
        try:
            row = services.find_token(services.db_session, survey, token)
        except services.TokenUnknown:
            return render_template("respond/token.html", survey=survey, used=False), 404
        if row.used_at is not None:
            return render_template("respond/token.html", survey=survey, used=True), 409
    return render_form(survey, token=token)


@bp.post("/<slug>")
@limiter.limit(lambda: current_app.config["SUBMIT_LIMIT_PER_ADDRESS"], scope="submit-address")
def submit(slug):
    """Record one response, then redirect to the thank-you page; the survey is loaded only to explain a refusal.

    :raise 404: no such survey.
    """
    token = request.form.get("t") or None
    if request.form.get(HONEYPOT):
        services.get_survey_or_404(slug)
        return redirect(url_for("respond.thanks", slug=slug))
    try:
        services.submit(services.db_session, slug, request.form, locale=current_locale(), token=token)
    except services.DATABASE_FAULTS:
        return answers_kept(slug)
    except services.SurveyNotFound:
        abort(404)
    except services.InvalidResponse as err:
        return render_form(services.get_survey_or_404(slug), values=request.form, errors=err.errors, token=token,
                           status=422)
    except services.SurveyClosed:
        return render_template("respond/closed.html", survey=services.get_survey_or_404(slug))
    except services.TokenUnknown:
        return render_template("respond/token.html", survey=services.get_survey_or_404(slug), used=False), 404
    except services.TokenUsed:
        return render_template("respond/token.html", survey=services.get_survey_or_404(slug), used=True), 409
    return redirect(url_for("respond.thanks", slug=slug))


def answers_kept(slug):
    """The database could not store the response: give the respondent their answers back (as a page that sends
    them again, which needs no database) with a 503 and Retry-After."""
    try:
        services.db_session.rollback()
    except services.DATABASE_FAULTS:
        pass
    fields = [(name, value) for name, value in request.form.items(multi=True) if name != "csrf_token"]
    page = render_template("respond/retry.html", slug=slug, fields=fields)
    return page, 503, {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}


@bp.get("/<slug>/thanks")
def thanks(slug):
    """Thank the respondent after the response is committed."""
    survey = services.get_survey_or_404(slug)
    return render_template("respond/thanks.html", survey=survey)
