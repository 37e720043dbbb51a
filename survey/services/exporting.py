"""Responses (and invitation links) as CSV and Excel, written row by row so a large survey never sits in
memory at once: iter_responses reads in batches, CSV is streamed, .xlsx is spooled to a temp file.
"""
import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from model.io import neutralize

from survey.services.validation import MULTI_SEPARATOR

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


META_COLUMNS = ["response_id", "created_at", "wave", "locale"]


def export_columns(survey) -> list[str]:
    """Return the export header: metadata, then model items, then the other questions, in questionnaire order."""
    questions = survey.active_questions
    return (META_COLUMNS + [q.code for q in questions if q.construct]
            + [q.code for q in questions if not q.construct])
