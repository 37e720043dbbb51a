"""Report pages for quality managers: the index report, its downloads and bring-your-own-data upload."""
import json

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from model import CONSTRUCTS

from survey import report as reports
from survey import services
from survey.exceptions import BadFilter, BadWhatIf
from survey.report import BANDS, fmt, t
from survey.services.exporting import csv_chunks
from survey.web.downloads import attachment

bp = Blueprint("report", __name__)
EXPORT_WAIT_SECONDS = 600
REPORT_COMMENTS = 10  # comments per band on the report page; the rest are on the paged comments list


def _filters(survey):
    """Parse ?wave and ?segment (no wave = the latest); a bad one falls back to the latest wave of all
    respondents with a notice."""
    try:
        wave, segment = reports.parse_filters(survey, request.args.get("wave"), request.args.get("segment"))
        return wave, segment, None
    except BadFilter as err:
        wave, segment = reports.parse_filters(survey, None, None)
        return wave, segment, t(err.message_id, segment=err.value)


@bp.get("/surveys/<slug>/report")
def show(slug):
    """Show the index report of a survey (all waves, one wave or one segment)."""
    survey = services.get_survey_or_404(slug)
    wave, segment, notice = _filters(survey)
    state = reports.open_report(services.db_session, survey, wave, segment)
    return _render(survey, state, wave, segment, notice, printable=False)


@bp.get("/surveys/<slug>/report/print")
def printable(slug):
    """Show the report laid out for paper / PDF (everything expanded, no navigation)."""
    survey = services.get_survey_or_404(slug)
    wave, segment, notice = _filters(survey)
    state = reports.open_report(services.db_session, survey, wave, segment, wait=EXPORT_WAIT_SECONDS)
    return _render(survey, state, wave, segment, notice, printable=True)


@bp.post("/surveys/<slug>/report/estimator")
def estimator(slug):
    """Choose the survey's report estimator (robust ML or PLS); the report is then computed with it."""
    survey = services.get_survey_or_404(slug)
    try:
        services.set_estimator(services.db_session, survey, request.form.get("estimator", ""))
    except services.InvalidInput:
        flash(t("estimator_unknown"), "error")
    else:
        flash(t("estimator_changed", name=t("estimator_" + survey.estimator)), "info")
    wave, segment, _ = _filters(survey)
    return redirect(url_for(".show", slug=slug, **_view_args(wave, segment)))


def _view_args(wave, segment) -> dict:
    """The query arguments that name a report view (?wave, ?segment)."""
    return {k: v for k, v in (("wave", wave or reports.ALL_WAVES), ("segment", ":".join(segment) if segment else None))
            if v}


@bp.post("/surveys/<slug>/report/exclusion")
def exclusion(slug):
    """Leave the flagged responses out of the report (exclude=1) or take them back in (exclude=0); the change
    is in the audit log, and no response is deleted.

    :raise 400: exclude is neither 0 nor 1.
    """
    survey = services.get_survey_or_404(slug)
    choice = request.form.get("exclude")
    if choice not in ("0", "1"):
        abort(400)
    services.quality.set_exclusion(services.db_session, survey, choice == "1")
    back = {k: request.form[k] for k in ("wave", "segment") if request.form.get(k)}
    return redirect(url_for("manage.report.show", slug=slug, **back) + "#response-quality")


def _render(survey, state, wave, segment, notice, printable):
    args = _view_args(wave, segment)
    if state.status == "pending":
        return render_template("manage/report/pending.html", survey=survey, state=state, t=t,
                               refresh_url=url_for(request.endpoint, slug=survey.slug, **args)), 202
    if state.status == "failed":
        return render_template("manage/report/pending.html", survey=survey, state=state, t=t, refresh_url=None), 500
    info = reports.survey_info(survey)
    band = request.args.get("band")
    ctx = reports.context(state.entry, info)
    return render_template("manage/report/report.html", survey=survey, info=info, t=t, notice=notice,
                           printable=printable, args=args, wave=wave, segment=segment, fmt=fmt, pct=pct,
                           band=band if band in BANDS else None, min_segment_n=reports.MIN_SEGMENT_N,
                           segment_options=reports.segment_questions(info), stale=state.stale,
                           cases=services.cases.recovery(services.db_session, survey),
                           report_comments=REPORT_COMMENTS, intervals=state.intervals, estimators=services.ESTIMATORS,
                           what_if=_what_if(state.entry, ctx["names"]), **ctx)


def _what_if(entry, names) -> dict:
    """The what-if form's state: the chosen levers and change, and the prediction or what is wrong."""
    form = {"levers": request.args.getlist("lever"), "change": request.args.get("change", "5"),
            "rows": None, "error": None}
    if entry.result_obj is None or not reports.what_if_asked(request.args):
        return form
    try:
        form["rows"] = reports.what_if_lines(reports.what_if(entry, form["levers"], form["change"]), names)
    except BadWhatIf as err:
        form["error"] = t(err.message_id, **err.fields)
    return form


def pct(share) -> str:
    """A share as a whole percentage, or an en dash when unknown."""
    return "–" if share is None else f"{share * 100:.0f}%"


def _ready_entry(slug):
    survey = services.get_survey_or_404(slug)
    wave, segment, _ = _filters(survey)
    state = reports.open_report(services.db_session, survey, wave, segment, wait=EXPORT_WAIT_SECONDS)
    if state.status != "ready":
        abort(503)
    return survey, wave, segment, state.entry


def _filename(survey, wave, segment, suffix):
    parts = [survey.slug] + ([f"wave{wave}"] if wave else []) + (["-".join(segment)] if segment else [])
    return "-".join(parts) + suffix


@bp.get("/surveys/<slug>/report.json")
def result_json(slug):
    """Download the full model result in the command line's JSON schema (409 when there is no fit)."""
    survey, wave, segment, entry = _ready_entry(slug)
    if entry["result"] is None:
        return jsonify(error="no_fit", state=entry["state"], n=entry["n"], needed=entry["needed"],
                       message=entry["error"] or t("too_few_title", "en")), 409
    body = json.dumps(reports.thaw(entry.result), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers=attachment(_filename(survey, wave, segment, "-result.json")))


@bp.get("/surveys/<slug>/report/estimates.csv")
def estimates_csv(slug):
    """Download every estimate and score as tidy CSV (UTF-8 with BOM)."""
    survey, wave, segment, entry = _ready_entry(slug)
    rows = list(reports.estimate_rows(entry))
    return Response(csv_chunks(["section", "name", "statistic", "value"], rows), mimetype="text/csv",
                    headers=attachment(_filename(survey, wave, segment, "-estimates.csv")))


@bp.get("/surveys/<slug>/report/scores.csv")
def scores_csv(slug):
    """Download 0–100 construct scores per respondent (UTF-8 with BOM)."""
    survey, wave, segment, entry = _ready_entry(slug)
    rows = list(reports.respondent_rows(services.db_session, survey, entry, wave, segment))
    columns = ["response_id", "wave", "created_at", *CONSTRUCTS]
    return Response(csv_chunks(columns, rows, rows_per_chunk=2000), mimetype="text/csv",
                    headers=attachment(_filename(survey, wave, segment, "-scores.csv")))
