"""Downloads of a survey's responses (CSV, Excel) and invitation links; the writers live in services.exporting."""
import tempfile

from flask import Blueprint, Response, abort, request, send_file, stream_with_context, url_for

from survey import services
from survey.services.exporting import csv_chunks, export_columns, write_xlsx
from survey.web.downloads import attachment


bp = Blueprint("exports", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _export_request(slug):
    """Return (survey, wave number or None, filename stem) for an export request.

    :raise 404: no such survey or wave.
    """
    survey = services.get_survey_or_404(slug)
    wave = request.args.get("wave", type=int)
    if wave is not None and wave not in services.count_responses(services.db_session, survey):
        abort(404)
    suffix = f"-wave{wave}" if wave is not None else ""
    return survey, wave, f"{survey.slug}-responses{suffix}-{services.utcnow():%Y%m%d}"


@bp.get("/surveys/<slug>/export.csv")
def export_csv(slug):
    """Stream all responses (or ?wave=N) as a UTF-8 CSV with BOM, a batch of rows at a time."""
    survey, wave, stem = _export_request(slug)
    rows = services.iter_responses(services.db_session, survey, wave=wave)
    return Response(
        stream_with_context(csv_chunks(export_columns(survey), rows)),
        mimetype="text/csv",
        headers={**attachment(f"{stem}.csv"), "Cache-Control": "no-store"},
    )


@bp.get("/surveys/<slug>/export.xlsx")
def export_xlsx(slug):
    """Send all responses (or ?wave=N) as an .xlsx built in a temp file (deleted once sent)."""
    survey, wave, stem = _export_request(slug)
    spool = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        write_xlsx(export_columns(survey), services.iter_responses(services.db_session, survey, wave=wave), spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = send_file(spool, mimetype=XLSX_MIMETYPE)
    response.headers.update({**attachment(f"{stem}.xlsx"), "Cache-Control": "no-store"})
    return response


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
        mimetype="text/csv",
        headers={**attachment(f"{survey.slug}-invitations.csv"), "Cache-Control": "no-store"},
    )
