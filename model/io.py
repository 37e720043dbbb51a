"""Reading survey tables from disk, with errors a respondent-facing caller can show."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from .exceptions import DataError

_EXCEL = (".xlsx", ".xlsm")
# OWASP "CSV injection": a spreadsheet reads text starting with these as a formula (tab/CR too).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    """Prefix an apostrophe to text a spreadsheet would run as a formula; leave numbers alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def read_table(path_or_file) -> pd.DataFrame:
    """Read a CSV (or .xlsx) file of survey answers.

    Parameters
    ----------
    path_or_file : str, os.PathLike or file-like
        A path, or an open binary/text file (e.g. an upload).

    Returns
    -------
    pandas.DataFrame
        One row per respondent; empty cells are NaN.

    Raises
    ------
    DataError
        If the file does not exist, is empty, has no data rows, or is not a readable CSV/xlsx.
    """
    name = str(path_or_file) if isinstance(path_or_file, (str, os.PathLike)) else \
        str(getattr(path_or_file, "filename", None) or getattr(path_or_file, "name", "") or "")
    label = Path(name).name or "the uploaded file"
    if isinstance(path_or_file, (str, os.PathLike)) and not Path(path_or_file).is_file():
        raise DataError(f"{label}: file not found; check the path")
    try:
        if name.lower().endswith(_EXCEL):
            frame = pd.read_excel(path_or_file)
        else:
            frame = _read_csv(path_or_file, label)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty; export the responses as CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{label} is not a readable CSV file ({reason}); save it as UTF-8 CSV "
                        "with one header row and one respondent per row") from None
    if frame.shape[1] == 0:
        raise DataError(f"{label} has no columns; export the responses as CSV with a header row")
    if frame.shape[0] == 0:
        raise DataError(f"{label} has a header but no data rows; add at least one response")
    return frame


def _read_csv(path_or_file, label: str) -> pd.DataFrame:
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
    if not head.strip():
        raise DataError(f"{label} is empty; export the responses as CSV with a header row")
    if b"\x00" in head or head.startswith(b"PK\x03\x04"):
        raise DataError(f"{label} is not a CSV file (it looks binary); save it as UTF-8 CSV, "
                        "or upload an .xlsx file with the .xlsx extension")
    text = head.decode("utf-8-sig", "replace")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text.splitlines() else text, ",;\t")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    if isinstance(path_or_file, (str, os.PathLike)):
        try:
            return pd.read_csv(path_or_file, sep=sep, encoding="utf-8-sig")
        except UnicodeDecodeError:  # Excel on Chinese Windows saves CSV as GBK
            return pd.read_csv(path_or_file, sep=sep, encoding="gb18030")
    raw = path_or_file.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raw = raw.decode("gb18030")
    return pd.read_csv(io.StringIO(raw), sep=sep)
