"""Responses (and invitation links) as CSV and Excel, written row by row so a large survey never sits in
memory at once: services.iter_responses reads in batches, CSV is streamed, .xlsx is spooled to a temp file.

Routes live on this module's own blueprint under /manage (same login rule as the manage blueprint).
"""
import csv
import io
import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, request, send_file, stream_with_context, url_for
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from model.io import neutralize

from . import services
from .db import db
from .manage import require_login
from .tables import utcnow
from .validation import MULTI_SEPARATOR

BOM = "\ufeff"


def plain_value(value):
    """Turn one stored answer into a CSV/Excel-friendly scalar (None for don't know / missing)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return MULTI_SEPARATOR.join(str(v) for v in value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return plain_value(value.item())
    return value


def csv_cell(value) -> str:
    """Format one value as CSV text: ISO 8601 UTC times, integers without '.0', formulas defused."""
    value = plain_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return neutralize(str(value))


def csv_chunks(
    columns: Sequence[str], rows: Iterable[Mapping], rows_per_chunk: int = 200
) -> Iterator[bytes]:
    """Yield a UTF-8 CSV with BOM (so Excel reads Chinese right) in chunks of rows_per_chunk rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralize(c) for c in columns])
    yield (BOM + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode("utf-8")


def xlsx_cell(sheet, value):
    """Make one write-only cell; text is always a string cell, never a formula."""
    value = plain_value(value)
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # openpyxl would store "=cmd" as a formula
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    return cell


def write_xlsx(columns: Sequence[str], rows: Iterable[Mapping], target):
    """Write an .xlsx with one header row and one row per mapping to target (path or binary file).

    The workbook is write-only: openpyxl spools rows to disk, so memory stays flat however many rows come.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="responses")
    sheet.append([xlsx_cell(sheet, c) for c in columns])
    for row in rows:
        sheet.append([xlsx_cell(sheet, row.get(c)) for c in columns])
    workbook.save(target)


# --- routes -------------------------------------------------------------------------------------------

bp = Blueprint("exports", __name__, url_prefix="/manage")
bp.before_request(require_login)

META_COLUMNS = ["response_id", "created_at", "wave", "locale"]
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_columns(survey) -> list[str]:
    """Return the export header: metadata, then model items, then the other questions, in questionnaire order."""
    questions = survey.active_questions
    return (META_COLUMNS + [q.code for q in questions if q.construct]
            + [q.code for q in questions if not q.construct])


def _export_request(slug):
    """Return (survey, wave number or None, filename stem) for an export request.

    :raise 404: no such survey or wave.
    """
    survey = services.get_survey_or_404(slug)
    wave = request.args.get("wave", type=int)
    if wave is not None and wave not in services.count_responses(db.session, survey):
        abort(404)
    suffix = f"-wave{wave}" if wave is not None else ""
    return survey, wave, f"{survey.slug}-responses{suffix}-{utcnow():%Y%m%d}"


@bp.get("/surveys/<slug>/export.csv")
def export_csv(slug):
    """Stream all responses (or ?wave=N) as a UTF-8 CSV with BOM, a batch of rows at a time."""
    survey, wave, stem = _export_request(slug)
    rows = services.iter_responses(db.session, survey, wave=wave)
    return Response(
        stream_with_context(csv_chunks(export_columns(survey), rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"', "Cache-Control": "no-store"},
    )


@bp.get("/surveys/<slug>/export.xlsx")
def export_xlsx(slug):
    """Send all responses (or ?wave=N) as an .xlsx built in a temp file (deleted once sent)."""
    survey, wave, stem = _export_request(slug)
    spool = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        write_xlsx(export_columns(survey), services.iter_responses(db.session, survey, wave=wave), spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = send_file(spool, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"{stem}.xlsx")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/surveys/<slug>/tokens.csv")
def tokens_csv(slug):
    """Download the survey's invitation links as CSV (one row per token, used ones marked)."""
    survey = services.get_survey_or_404(slug)
    rows = (
        {"link": url_for("respond.form", slug=survey.slug, t=t.token, _external=True), "token": t.token,
         "created_at": t.created_at, "used_at": t.used_at}
        for t in services.list_tokens(db.session, survey)
    )
    return Response(
        stream_with_context(csv_chunks(["link", "token", "created_at", "used_at"], rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{survey.slug}-invitations.csv"',
                 "Cache-Control": "no-store"},
    )
