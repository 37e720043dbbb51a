"""Respondent pages: the questionnaire at /s/<slug> and the thank-you page."""
from itertools import groupby

import math
import time

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.datastructures import MultiDict

from survey import services
from survey.extensions import limiter
from survey.i18n import current_locale
from survey.services import SECTIONS, quality

bp = Blueprint("respond", __name__, url_prefix="/s")
HONEYPOT = "website"  # hidden from people; a bot that fills it gets the thank-you page and nothing is stored


def sections(survey):
    """Group the active questions into (section key, title, questions) in questionnaire order."""
    return [
        (key, SECTIONS.get(key, key), list(items))
        for key, items in groupby(survey.active_questions, key=lambda q: q.section)
    ]


def conditions(survey, locale: str) -> dict:
    """Map each conditional question's code to (number of the question it depends on, wanted answer's label)."""
    questions = survey.active_questions
    number = {q.code: n for n, q in enumerate(questions, 1)}
    by_code = {q.code: q for q in questions}
    found = {}
    for q in questions:
        if q.condition and q.condition[0] in by_code:
            code, wanted = q.condition
            source = by_code[code]
            label = next((source.option_label(o, locale) for o in source.options or () if o["value"] == wanted),
                         wanted)
            found[q.code] = (number[code], label)
    return found


def answered(survey, values) -> tuple[int, int]:
    """(answered, asked): the questions that apply given the answers so far, and how many of them have one."""
    def given(code):
        return [v for v in values.getlist(code) if v.strip()]

    asked = [q for q in survey.active_questions if not q.condition or given(q.condition[0])[:1] == [q.condition[1]]]
    return sum(1 for q in asked if given(q.code)), len(asked)


def render_form(survey, *, values=None, errors=None, token=None, status=200):
    """Render the questionnaire with the answers given so far and per-question errors.

    The form carries its signed render time (services.quality): a form shown again keeps the first one, so the
    duration counts from when the respondent first saw the questions.
    """
    values = values or MultiDict()
    rendered = values.get(quality.RENDER_FIELD) or quality.render_token(current_app.secret_key, survey.slug)
    return render_template(
        "respond/form.html", survey=survey, sections=sections(survey), values=values,
        errors=errors or {}, token=token, honeypot=HONEYPOT, render_field=quality.RENDER_FIELD, rendered=rendered,
        numbers={q.code: n for n, q in enumerate(survey.active_questions, 1)},
        conditions=conditions(survey, current_locale()), progress=answered(survey, values),
    ), status


def with_device_cookie(page):
    """Give a browser that has none the first-party random id that recognises its repeated submissions
    (only a keyed hash of it is ever stored)."""
    response = make_response(page)
    if not quality.valid_device_id(request.cookies.get(quality.DEVICE_COOKIE)):
        response.set_cookie(quality.DEVICE_COOKIE, quality.new_device_id(), max_age=quality.DEVICE_COOKIE_MAX_AGE,
                            path=request.script_root + bp.url_prefix + "/", secure=request.is_secure,
                            httponly=True, samesite="Lax")
    return response


def submission_evidence(slug: str) -> dict:
    """The response-quality evidence of this request: the form's duration and the hashed browser ids."""
    return quality.evidence(current_app.secret_key, slug, token=request.form.get(quality.RENDER_FIELD),
                            device_id=request.cookies.get(quality.DEVICE_COOKIE), address=request.remote_addr,
                            user_agent=request.user_agent.string)


@bp.get("/<slug>")
def form(slug):
    """Show a survey (or why it cannot be answered).

    :raise 404: no such survey, or an imported data set.
    """
    survey = services.get_survey_or_404(slug)
    if survey.imported:  # an imported data set has no public address
        abort(404)
    token = request.args.get("t") or None
    if not survey.is_open:
        return render_template("respond/closed.html", survey=survey)
    if survey.access == services.ACCESS_INVITATION and not token:
        return render_template("respond/invitation_only.html", survey=survey), 403
    if token:
        try:
            row = services.find_token(services.db_session, survey, token)
        except services.TokenUnknown:
            return render_template("respond/token.html", survey=survey, used=False), 404
        if row.used_at is not None:
            return render_template("respond/token.html", survey=survey, used=True), 409
    return with_device_cookie(render_form(survey, token=token))


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
        limited = limited_survey(slug)
    except services.DATABASE_FAULTS:
        return answers_kept(slug)
    if limited is not None:
        refusal = limited_refusal(slug, limited)
        if refusal is not None:
            return refusal
    try:
        receipt = services.submit(services.db_session, slug, request.form, locale=current_locale(), token=token,
                                  evidence=submission_evidence(slug))
    except services.DATABASE_FAULTS:
        return answers_kept(slug)
    except services.TokenRequired:
        return render_template("respond/invitation_only.html", survey=services.get_survey_or_404(slug)), 403
    except services.SurveyNotFound:
        abort(404)
    except services.InvalidResponse as err:
        return render_form(services.get_survey_or_404(slug), values=request.form, errors=err.errors, token=token,
                           status=422)
    except services.SurveyClosed:
        survey = services.get_survey_or_404(slug)
        return abort(404) if survey.imported else render_template("respond/closed.html", survey=survey)
    except services.TokenUnknown:
        return render_template("respond/token.html", survey=services.get_survey_or_404(slug), used=False), 404
    except services.TokenUsed:
        return render_template("respond/token.html", survey=services.get_survey_or_404(slug), used=True), 409
    services.cases.schedule_sweep(receipt.survey_id)
    limited = limited_survey(slug)  # as the INSERT saw it (a stale snapshot was refreshed by the submission)
    if limited is not None:
        count_limited(slug, limited)
    return redirect(url_for("respond.thanks", slug=slug))


ANSWERED = "answered"  # session key: ids of the limited surveys this browser has answered


def limited_survey(slug: str):
    """The survey's snapshot if it is in the limited access mode, else None (one cached lookup)."""
    snap = services.survey_snapshot(services.db_session, slug)
    return snap if snap is not None and snap.access == services.ACCESS_LIMITED else None


def _address_limits(slug: str):
    keys = ("survey-limited", slug, get_remote_address())
    return [(item, keys) for item in parse_many(current_app.config["SURVEY_LIMITED_PER_ADDRESS"])]


def limited_refusal(slug: str, snap):
    """Refuse a second response from this browser (409) or one past the per-address limit (429 + Retry-After)."""
    if snap.survey_id in session.get(ANSWERED, []):
        return render_template("respond/limited.html", survey=services.get_survey_or_404(slug), browser=True), 409
    strategy = limiter.limiter
    for item, keys in _address_limits(slug):
        if not strategy.test(item, *keys):
            reset = strategy.get_window_stats(item, *keys).reset_time
            retry = str(max(1, math.ceil(reset - time.time())))
            page = render_template("respond/limited.html", survey=services.get_survey_or_404(slug), browser=False)
            return page, 429, {"Retry-After": retry}
    return None


def count_limited(slug: str, snap) -> None:
    """Count a stored response against the limited survey's per-address and per-browser limits."""
    for item, keys in _address_limits(slug):
        limiter.limiter.hit(item, *keys)
    session[ANSWERED] = [*session.get(ANSWERED, [])[-49:], snap.survey_id]


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
