"""Reading survey tables from disk, with errors a respondent-facing caller can show."""
from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from .exceptions import DataError

_EXCEL = (".xlsx", ".xlsm")
# OWASP "CSV injection": a spreadsheet reads text starting with these as a formula (tab/CR too).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Caps that keep a hostile or mistaken file from taking the reader down: a CSI table has dozens of columns.
MAX_ROWS = 5_000_000
MAX_COLUMNS = 1_000
MAX_UNPACKED_BYTES = 512 * 1024 * 1024  # an .xlsx is a zip: refuse what would unpack beyond this


def neutralize(value):
    """Prefix an apostrophe to text a spreadsheet would run as a formula; leave numbers alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def read_table(path_or_file, *, nrows: int | None = None, max_rows: int = MAX_ROWS,
               max_columns: int = MAX_COLUMNS) -> pd.DataFrame:
    """Read a CSV (or .xlsx) file of survey answers.

    Parameters
    ----------
    path_or_file : str, os.PathLike or file-like
        A path, or an open binary/text file (e.g. an upload).
    nrows : int, optional
        Read only the first rows (a preview); the caps still apply to what is read.
    max_rows, max_columns : int
        More data rows or columns than this is a DataError, found without reading the whole file into
        memory: an .xlsx is read cell by cell up to the column cap (a stray far-right cell costs nothing)
        and refused before opening when its parts would unpack beyond ``MAX_UNPACKED_BYTES``.

    Returns
    -------
    pandas.DataFrame
        One row per respondent; empty cells are NaN.

    Raises
    ------
    DataError
        If the file does not exist, is empty, has no data rows, is over a cap, or is not a readable CSV/xlsx.
    """
    name = str(path_or_file) if isinstance(path_or_file, (str, os.PathLike)) else \
        str(getattr(path_or_file, "filename", None) or getattr(path_or_file, "name", "") or "")
    label = Path(name).name or "the uploaded file"
    if isinstance(path_or_file, (str, os.PathLike)) and not Path(path_or_file).is_file():
        raise DataError(f"{label}: file not found; check the path")
    try:
        limit = max_rows + 1 if nrows is None else min(nrows, max_rows + 1)
        if name.lower().endswith(_EXCEL):
            frame = _read_excel(path_or_file, label, limit, max_columns)
        else:
            frame = _read_csv(path_or_file, label, limit)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty; export the responses as CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, zipfile.BadZipFile, KeyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{label} is not a readable CSV file ({reason}); save it as UTF-8 CSV "
                        "with one header row and one respondent per row") from None
    if frame.shape[1] == 0:
        raise DataError(f"{label} has no columns; export the responses as CSV with a header row")
    if frame.shape[0] == 0:
        raise DataError(f"{label} has a header but no data rows; add at least one response")
    if frame.shape[1] > max_columns:
        raise _too_wide(label, frame.shape[1], max_columns)
    if frame.shape[0] > max_rows:
        raise DataError(f"{label} has more than {max_rows:,} data rows; split it into smaller files")
    return frame


def _too_wide(label: str, columns: int, max_columns: int) -> DataError:
    return DataError(f"{label} has {columns} columns; at most {max_columns} can be read: "
                     "keep the question columns and save it again")


def _read_excel(path_or_file, label: str, limit: int, max_columns: int) -> pd.DataFrame:
    """The first sheet of an .xlsx, streamed with openpyxl's read-only reader within the caps."""
    from openpyxl import load_workbook

    with zipfile.ZipFile(path_or_file) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise DataError(f"{label} would unpack to {unpacked / 2**20:,.0f} MB (the limit is "
                        f"{MAX_UNPACKED_BYTES / 2**20:,.0f} MB); save it as CSV")
    if hasattr(path_or_file, "seek"):
        path_or_file.seek(0)
    workbook = load_workbook(path_or_file, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        header = list(next(sheet.iter_rows(values_only=True, max_row=1), ()))  # one row: cheap even if wide
        while header and header[-1] is None:
            header.pop()
        if len(header) > max_columns:
            raise _too_wide(label, len(header), max_columns)
        width = len(header)
        data = []
        for row in sheet.iter_rows(values_only=True, min_row=2, max_col=max(width, 1)):
            if len(data) >= limit:
                break
            cells = row[:width]
            if any(cell is not None for cell in cells):
                data.append(cells)
    finally:
        workbook.close()
    if not width:
        raise pd.errors.EmptyDataError("no header")
    names = [f"Unnamed: {k}" if h is None else str(h) if not isinstance(h, str) else h for k, h in enumerate(header)]
    return pd.DataFrame(data, columns=names).infer_objects()


def _csv_options(path, label: str) -> tuple[str, str]:
    """(separator, encoding) of a CSV file; sniffing the first bytes makes binary files and junk fail clearly.

    The encoding is UTF-8 unless some byte sequence is not (Excel on Chinese Windows saves CSV as GBK):
    found by decoding the whole file incrementally, so a chunked reader never meets it half-way through.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
        _check_head(head, label)
        fh.seek(0)
        decoder, encoding = codecs.getincrementaldecoder("utf-8-sig")(), "utf-8-sig"
        try:
            for piece in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "gb18030"
    return _sniff(head), encoding


def _check_head(head: bytes, label: str) -> None:
    if not head.strip():
        raise DataError(f"{label} is empty; export the responses as CSV with a header row")
    if b"\x00" in head or head.startswith(b"PK\x03\x04"):
        raise DataError(f"{label} is not a CSV file (it looks binary); save it as UTF-8 CSV, "
                        "or upload an .xlsx file with the .xlsx extension")


def _sniff(head: bytes) -> str:
    text = head.decode("utf-8-sig", "replace")
    try:
        return csv.Sniffer().sniff(text.splitlines()[0] if text.splitlines() else text, ",;\t").delimiter
    except csv.Error:
        return ","


def _read_csv(path_or_file, label: str, limit: int) -> pd.DataFrame:
    """Sniff the first bytes so binary files and single-column junk fail with a clear message."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "rb") as fh:
            head = fh.read(4096)
    else:
        pos = path_or_file.tell() if hasattr(path_or_file, "tell") else None
        head = path_or_file.read(4096)
        if pos is not None:
            path_or_file.seek(pos)
        if isinstance(head, str):
            head = head.encode("utf-8", "replace")
    _check_head(head, label)
    sep = _sniff(head)
    if isinstance(path_or_file, (str, os.PathLike)):
        try:
            return pd.read_csv(path_or_file, sep=sep, encoding="utf-8-sig", nrows=limit)
        except UnicodeDecodeError:  # Excel on Chinese Windows saves CSV as GBK
            return pd.read_csv(path_or_file, sep=sep, encoding="gb18030", nrows=limit)
    raw = path_or_file.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raw = raw.decode("gb18030")
    return pd.read_csv(io.StringIO(raw), sep=sep, nrows=limit)


def read_table_chunks(path, *, chunksize: int = 100_000, max_rows: int = MAX_ROWS,
                      max_columns: int = MAX_COLUMNS) -> Iterator[pd.DataFrame]:
    """The rows of a CSV (or .xlsx) file at ``path``, ``chunksize`` rows at a time, within the caps.

    Memory stays at one chunk whatever the file's size. CSV cells come as text (NaN when empty), so a
    column reads the same in every chunk (a numeric column with blanks in one chunk and none in the next
    would otherwise be float in one and int in the other); an .xlsx is read whole (its cap is the
    unpacked size) and sliced. Each chunk keeps the file's row positions as its index (0 = first data row).

    :raise DataError: as read_table; over max_rows once that many rows have been read.
    """
    label = Path(str(path)).name or "the uploaded file"
    if not Path(path).is_file():
        raise DataError(f"{label}: file not found; check the path")
    if str(path).lower().endswith(_EXCEL):
        frame = read_table(path, max_rows=max_rows, max_columns=max_columns)
        for start in range(0, len(frame), chunksize):
            yield frame.iloc[start:start + chunksize]
        return
    try:
        sep, encoding = _csv_options(path, label)
        reader = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, chunksize=chunksize)
        seen = 0
        with reader:
            for chunk in reader:
                if seen == 0 and chunk.shape[1] > max_columns:
                    raise _too_wide(label, chunk.shape[1], max_columns)
                seen += len(chunk)
                if seen > max_rows:
                    raise DataError(f"{label} has more than {max_rows:,} data rows; split it into smaller files")
                yield chunk
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty; export the responses as CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{label} is not a readable CSV file ({reason}); save it as UTF-8 CSV "
                        "with one header row and one respondent per row") from None
    if seen == 0:
        raise DataError(f"{label} has a header but no data rows; add at least one response")
