"""Downloads of a survey's responses (CSV, Excel, SPSS), their codebook and invitation links; the writers live
in services.exporting."""
import tempfile

from flask import (Blueprint, Response, abort, current_app, flash, redirect, request, send_file,
                   stream_with_context, url_for)
from flask_babel import gettext as _

from survey import services
from survey.i18n import current_locale, normalize
from survey.services import exporting
from survey.services.exporting import csv_chunks, write_xlsx
from survey.web.downloads import attachment


bp = Blueprint("exports", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SAV_MIMETYPE = "application/x-spss-sav"
NO_STORE = {"Cache-Control": "no-store"}


def _export_request(slug):
    """Return (survey, wave number or None, responses in it, filename stem) for an export request.

    :raise 404: no such survey or wave.
    """
    survey = services.get_survey_or_404(slug)
    wave = request.args.get("wave", type=int)
    counts = services.count_responses(services.db_session, survey)
    if wave is not None and wave not in counts:
        abort(404)
    suffix = f"-wave{wave}" if wave is not None else ""
    total = counts[wave] if wave is not None else sum(counts.values())
    return survey, wave, total, f"{survey.slug}-responses{suffix}-{services.utcnow():%Y%m%d}"


def _with_quality(survey, variables, wave):
    """The CSV/Excel header and rows: every response, flagged ones too, ending with the quality columns."""
    rows = exporting.export_rows(services.db_session, survey, variables, wave=wave)
    rows = services.quality.export_rows(rows, services.responses_frame(services.db_session, survey),
                                        survey.exclude_flagged)
    return [*exporting.export_header(variables), *services.quality.EXPORT_COLUMNS], rows


def _codebook(survey, variables):
    """The codebook of the CSV/Excel export, its quality columns included."""
    return [*exporting.codebook_rows(survey, variables), *exporting.column_rows(exporting.QUALITY_TEXTS)]


@bp.get("/surveys/<slug>/export.csv")
def export_csv(slug):
    """Stream all responses (or ?wave=N) as a UTF-8 CSV with BOM, a batch of rows at a time."""
    survey, wave, _total, stem = _export_request(slug)
    variables = exporting.export_variables(survey)
    return Response(
        stream_with_context(csv_chunks(*_with_quality(survey, variables, wave))),
        mimetype="text/csv", headers={**attachment(f"{stem}.csv"), **NO_STORE},
    )


@bp.get("/surveys/<slug>/codebook.csv")
def codebook_csv(slug):
    """Download the codebook of the CSV export: every column, its question, its values and their labels in
    English and Chinese, and the missing codes."""
    survey = services.get_survey_or_404(slug)
    rows = _codebook(survey, exporting.export_variables(survey))
    return Response(csv_chunks(exporting.CODEBOOK_COLUMNS, rows), mimetype="text/csv",
                    headers={**attachment(f"{survey.slug}-codebook.csv"), **NO_STORE})


def _spooled(send, mimetype, filename):
    """Send an open temp file (deleted once sent) as an attachment."""
    response = send_file(send, mimetype=mimetype)
    response.headers.update({**attachment(filename), **NO_STORE})
    return response


@bp.get("/surveys/<slug>/export.xlsx")
def export_xlsx(slug):
    """Send all responses (or ?wave=N) as an .xlsx built in a temp file, with the codebook as a second sheet."""
    survey, wave, _total, stem = _export_request(slug)
    variables = exporting.export_variables(survey)
    spool = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        write_xlsx(*_with_quality(survey, variables, wave), spool,
                   codebook=(exporting.CODEBOOK_COLUMNS, _codebook(survey, variables)))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _spooled(spool, XLSX_MIMETYPE, f"{stem}.xlsx")


@bp.get("/surveys/<slug>/export.sav")
def export_sav(slug):
    """Send all responses (or ?wave=N) as an SPSS .sav with variable and value labels (?labels=en|zh, else the
    page's language) and the missing codes declared user-missing; too many responses go back with a message."""
    survey, wave, total, stem = _export_request(slug)
    limit = current_app.config.get("EXPORT_SAV_MAX_RESPONSES", exporting.SAV_MAX_RESPONSES)
    if total > limit:
        flash(_("SPSS files hold at most %(limit)s responses here; this export has %(total)s. Download one wave "
                "at a time, or the CSV file.", limit=f"{limit:,}", total=f"{total:,}"), "error")
        return redirect(url_for("manage.surveys.detail", slug=survey.slug))
    locale = normalize(request.args.get("labels")) or current_locale()
    variables = exporting.export_variables(survey)
    handle = exporting.sav_file(survey, variables,
                                exporting.export_rows(services.db_session, survey, variables, wave=wave),
                                locale=locale)
    return _spooled(handle, SAV_MIMETYPE, f"{stem}-{locale.split('_')[0]}.sav")


@bp.get("/surveys/<slug>/tokens.csv")
def tokens_csv(slug):
    """Download the survey's invitation links as CSV (one row per token, used ones marked)."""
    survey = services.get_survey_or_404(slug)
    rows = (
        {"link": url_for("respond.form", slug=survey.slug, t=t.token, _external=True), "token": t.token,
         "created_at": t.created_at, "used_at": t.used_at}
        for t in services.list_tokens(services.db_session, survey)
    )
    return Response(
        stream_with_context(csv_chunks(["link", "token", "created_at", "used_at"], rows)),
        mimetype="text/csv", headers={**attachment(f"{survey.slug}-invitations.csv"), **NO_STORE},
    )
