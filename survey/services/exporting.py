"""Responses (and invitation links) as CSV, Excel and SPSS, written row by row so a large survey never sits
in memory at once: iter_responses reads in batches, CSV is streamed, .xlsx is spooled to a temp file, .sav is
built column by column (8 bytes a number) up to SAV_MAX_RESPONSES responses.

Every export tells a "don't know" from a question that was not asked, with the codes of MISSING: -1 the
respondent chose "don't know / not applicable", -2 the question did not apply to them (its condition, such as
complained = yes, did not hold), -3 no answer (an optional question left blank, or a question added after the
response). Text answers are blank when there is none. The codebook (codebook.csv, and the second sheet of the
.xlsx) lists every column with its question and option labels in English and Chinese, and these codes; the .sav
carries the same as variable labels, value labels and user-missing values.
"""
import csv
import io
import math
import os
import re
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from model.io import neutralize
from survey.i18n import pick as pick_content

from survey.services.reading import iter_responses
from survey.services.validation import MULTI_SEPARATOR
from survey.storage.tables import MULTI, SCALE, TEXT

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


def write_xlsx(columns: Sequence[str], rows: Iterable[Mapping], target, *, codebook=None):
    """Write an .xlsx with one header row and one row per mapping to target (path or binary file), and
    codebook = (columns, rows) as a second sheet "codebook" when given.

    The workbook is write-only: openpyxl spools rows to disk, so memory stays flat however many rows come.
    """
    workbook = Workbook(write_only=True)
    sheets = [("responses", columns, rows)] + ([("codebook", *codebook)] if codebook else [])
    for title, header, body in sheets:
        sheet = workbook.create_sheet(title=title)
        sheet.append([xlsx_cell(sheet, c) for c in header])
        for row in body:
            sheet.append([xlsx_cell(sheet, row.get(c)) for c in header])
    workbook.save(target)


META_COLUMNS = ["response_id", "created_at", "wave", "locale"]
DONT_KNOW, NOT_ASKED, NO_ANSWER = -1, -2, -3
MISSING = {
    DONT_KNOW: _l("Don't know / not applicable"),
    NOT_ASKED: _l("Not asked: the question did not apply to this respondent"),
    NO_ANSWER: _l("No answer"),
}
_STORED_DONT_KNOW = object()  # what iter_responses yields for a stored "don't know" in an export


@dataclass(frozen=True)
class Variable:
    """One exported question as plain values (both languages), read before a streamed download starts."""

    code: str
    kind: str
    text: tuple[str, str]
    options: tuple[tuple[str, str, str], ...]  # (value, English, Chinese)
    ends: tuple[tuple[str, str], tuple[str, str]] | None  # scale: (low en, zh), (high en, zh)
    condition: tuple[str, str] | None
    allow_dont_know: bool

    @property
    def missing_codes(self) -> tuple[int, ...]:
        """The missing codes this column can hold (none for text, which is blank instead)."""
        if self.kind == TEXT:
            return ()
        return ((DONT_KNOW,) if self.kind == SCALE and self.allow_dont_know else ()) + \
            ((NOT_ASKED,) if self.condition else ()) + (NO_ANSWER,)


def export_variables(survey) -> list[Variable]:
    """Return the exported questions: model items, then the other questions, each in questionnaire order."""
    questions = survey.active_questions
    return [
        Variable(q.code, q.kind, (q.text_en, q.text_zh),
                 tuple((o["value"], o["en"], o["zh"]) for o in q.options or ()),
                 ((q.low_en or "", q.low_zh or ""), (q.high_en or "", q.high_zh or "")) if q.kind == SCALE else None,
                 q.condition, q.allow_dont_know)
        for q in [q for q in questions if q.construct] + [q for q in questions if not q.construct]
    ]


def export_header(variables: Sequence[Variable]) -> list[str]:
    """Return the export header: metadata, then the variables' codes."""
    return META_COLUMNS + [v.code for v in variables]


def coded_value(variable: Variable, row: Mapping):
    """The value of one question in an export row, with the missing codes for don't know / not asked / none."""
    value = row.get(variable.code)
    if value is _STORED_DONT_KNOW:
        return DONT_KNOW
    if value is not None and value != []:
        return value
    if variable.kind == TEXT:
        return None
    if variable.condition and row.get(variable.condition[0]) != variable.condition[1]:
        return NOT_ASKED
    return NO_ANSWER


def export_rows(session, survey, variables: Sequence[Variable], *, wave: int | None = None) -> Iterator[dict]:
    """Return the survey's complete responses (or one wave's) as export rows, read a database batch at a time;
    the questionnaire is read now, so a streamed download can consume the rows later."""
    rows = iter_responses(session, survey, wave=wave, dont_know=_STORED_DONT_KNOW)
    return ({**{c: row[c] for c in META_COLUMNS}, **{v.code: coded_value(v, row) for v in variables}}
            for row in rows)


def bilingual(lazy, **fields) -> tuple[str, str]:
    """A catalogue message in English and in Chinese (the codebook holds both, whatever the manager reads)."""
    texts = []
    for locale in ("en", "zh_CN"):
        with force_locale(locale):
            texts.append(str(lazy) % fields if fields else str(lazy))
    return texts[0], texts[1]


CODEBOOK_COLUMNS = ["variable", "type", "question_en", "question_zh", "condition", "value", "label_en", "label_zh"]
META_TEXTS = {
    "response_id": ("integer", _l("Response number")),
    "created_at": ("datetime", _l("Time the response was sent (UTC, ISO 8601)")),
    "wave": ("integer", _l("Survey wave")),
    "locale": ("text", _l("Language the questionnaire was answered in")),
}
# the CSV/Excel export's last columns (services.quality.EXPORT_COLUMNS; not in the .sav)
QUALITY_TEXTS = {
    "duration_s": ("number", _l("Seconds from showing the web form to sending it (empty: not timed, as API and "
                                "imported responses)")),
    "quality_flags": ("text", _l("Response-quality flags, separated by “;”: straight_lining, speeder, repeat")),
    "excluded_from_report": ("boolean", _l("Whether the report leaves this response out (it is flagged and the "
                                           "manager chose to leave flagged responses out)")),
}
LANGUAGE_NAMES = {"en": _l("English"), "zh_CN": _l("Chinese")}
WAVE_NAME = _l("Wave %(num)s")  # a wave without a label of its own
MULTI_NOTE = _l("The values of the options chosen, separated by “;”.")
SCALE_NOTE = _l("A number from %(low)s to %(high)s; the two ends are labelled.")


def codebook_rows(survey, variables: Sequence[Variable]) -> list[dict]:
    """Return the codebook: per column one row with its question, then one row per value it can hold."""
    rows = []

    def add(code, kind="", text=("", ""), condition="", value="", label=("", "")):
        rows.append(dict(zip(CODEBOOK_COLUMNS, (code, kind, *text, condition, value, *label))))

    for code, (kind, lazy) in META_TEXTS.items():
        add(code, kind, bilingual(lazy))
        if code == "wave":
            for wave in survey.waves:
                label = (wave.label, wave.label) if wave.label else bilingual(WAVE_NAME, num=wave.number)
                add(code, value=wave.number, label=label)
        elif code == "locale":
            for value, name in LANGUAGE_NAMES.items():
                add(code, value=value, label=bilingual(name))
    low, high = survey.scale_min, survey.scale_max
    for v in variables:
        note = {SCALE: bilingual(SCALE_NOTE, low=low, high=high), MULTI: bilingual(MULTI_NOTE)}.get(v.kind, ("", ""))
        add(v.code, v.kind, v.text, "=".join(v.condition) if v.condition else "", label=note)
        if v.ends:
            add(v.code, value=low, label=v.ends[0])
            add(v.code, value=high, label=v.ends[1])
        for value, en, zh in v.options:
            add(v.code, value=value, label=(en, zh))
        for code in v.missing_codes:
            add(v.code, value=code, label=bilingual(MISSING[code]))
    return rows


def column_rows(texts: Mapping) -> list[dict]:
    """Codebook rows of extra columns described by {code: (type, lazy description)}."""
    return [dict(zip(CODEBOOK_COLUMNS, (code, kind, *bilingual(lazy), "", "", "", ""))) for code, (kind, lazy)
            in texts.items()]


# A .sav is built in memory: measured +46 MB peak at 50,000 demo responses (about 1 KB each), so a file is
# capped at 100,000 responses (about 100 MB); larger surveys export one wave at a time, or as CSV.
SAV_MAX_RESPONSES = 100_000
SAV_RESERVED = {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
SAV_LABEL_BYTES, SAV_VALUE_LABEL_BYTES = 256, 120  # SPSS's limits for variable and value labels
CHOSEN = (_l("Chosen"), _l("Not chosen"))


def _clip(text: str, limit: int) -> str:
    """The text cut to at most limit UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def sav_name(code: str, taken: set) -> str:
    """An SPSS variable name for a column: letters, digits and _, starting with a letter, at most 64 bytes,
    no reserved word, unique (case-insensitively) among `taken`, which it joins."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", code)
    if not name[:1].isalpha():
        name = "v" + name
    name = name[:64]
    if name.upper() in SAV_RESERVED:
        name += "_"
    base, n = name, 2
    while name.lower() in taken:
        name, n = f"{base[:60]}_{n}", n + 1
    taken.add(name.lower())
    return name


@dataclass
class _SavColumn:
    """One .sav variable while it is filled: numbers in an array('d') (8 bytes each), text or times in a list."""

    name: str
    label: str
    kind: str = "number"  # or "text", "datetime"
    value_labels: dict | None = None
    measure: str = "nominal"
    missing: bool = True

    def __post_init__(self):
        self.data = array("d") if self.kind == "number" else []

    def values(self):
        """The column for pandas (numbers without a copy)."""
        if self.kind == "number":
            return np.frombuffer(self.data, dtype=np.float64)
        return pd.to_datetime(pd.Series(self.data, dtype=object)) if self.kind == "datetime" else self.data


def write_sav(survey, variables: Sequence[Variable], rows: Iterable[Mapping], path, *, locale: str = "en") -> int:
    """Write an SPSS .sav of export rows to path, labelled in one language (locale "en" or "zh_CN"); return the
    number of rows written.

    Choice and yes/no answers are numbered 1, 2, … in option order, a multiple choice becomes one 0/1 variable
    per option; the missing codes -1 / -2 / -3 are labelled and declared user-missing on every coded variable.
    """
    def pick(pair):  # bilingual content (en, zh) in the file's language
        return pick_content(pair[0], pair[1], locale)

    with force_locale(locale):
        missing = {code: _clip(str(text), SAV_VALUE_LABEL_BYTES) for code, text in MISSING.items()}
        chosen, not_chosen = (str(text) for text in CHOSEN)
        meta_labels = {code: str(lazy) for code, (_, lazy) in META_TEXTS.items()}
        wave_names = {w.number: str(WAVE_NAME) % {"num": w.number} for w in survey.waves}

    def labels(pairs):
        return {float(k): _clip(v, SAV_VALUE_LABEL_BYTES) for k, v in pairs} | {float(k): v for k, v in missing.items()}

    taken: set = set()
    meta = {
        "response_id": _SavColumn(sav_name("response_id", taken), meta_labels["response_id"], missing=False,
                                  measure="scale"),
        "created_at": _SavColumn(sav_name("created_at", taken), meta_labels["created_at"], kind="datetime",
                                 missing=False, measure="scale"),
        "wave": _SavColumn(sav_name("wave", taken), meta_labels["wave"], missing=False, measure="ordinal",
                           value_labels={float(w.number): _clip(w.label or wave_names[w.number], SAV_VALUE_LABEL_BYTES)
                                         for w in survey.waves}),
        "locale": _SavColumn(sav_name("locale", taken), meta_labels["locale"], kind="text", missing=False),
    }
    fillers = []  # (variable, [columns]) in column order
    for v in variables:
        text = pick(v.text)
        if v.kind == SCALE:
            ends = ((survey.scale_min, pick(v.ends[0])), (survey.scale_max, pick(v.ends[1])))
            cols = [_SavColumn(sav_name(v.code, taken), text, value_labels=labels(e for e in ends if e[1]),
                               measure="scale")]
        elif v.kind == MULTI:
            cols = [_SavColumn(sav_name(f"{v.code}_{value}", taken), f"{text}: {pick((en, zh))}",
                               value_labels=labels([(1, chosen), (0, not_chosen)]))
                    for value, en, zh in v.options]
        elif v.kind == TEXT:
            cols = [_SavColumn(sav_name(v.code, taken), text, kind="text", missing=False)]
        else:
            cols = [_SavColumn(sav_name(v.code, taken), text,
                               value_labels=labels((i, pick((en, zh))) for i, (_, en, zh) in enumerate(v.options, 1)))]
        fillers.append((v, cols))
    number = {v.code: {value: i for i, (value, _, _) in enumerate(v.options, 1)} for v, _ in fillers}

    count = 0
    for row in rows:
        count += 1
        meta["response_id"].data.append(row["response_id"])
        meta["created_at"].data.append(plain_value(row["created_at"]))
        meta["wave"].data.append(row["wave"])
        meta["locale"].data.append(row["locale"] or "")
        for v, cols in fillers:
            value = row.get(v.code)
            if v.kind == TEXT:
                cols[0].data.append(value or "")
            elif v.kind == SCALE:  # a point of the scale or a (negative) missing code
                cols[0].data.append(value)
            elif isinstance(value, int):  # a missing code
                for col in cols:
                    col.data.append(value)
            elif v.kind == MULTI:
                chosen_values = set(value)
                for col, (option, _, _) in zip(cols, v.options):
                    col.data.append(1.0 if option in chosen_values else 0.0)
            else:
                cols[0].data.append(number[v.code].get(value, NO_ANSWER))

    columns = [*meta.values(), *(c for _, cols in fillers for c in cols)]
    frame = pd.DataFrame({c.name: c.values() for c in columns})
    import pyreadstat  # imported here: only this download needs it

    pyreadstat.write_sav(
        frame, os.fspath(path), file_label=_clip(survey.title(locale), 64),
        column_labels={c.name: _clip(c.label, SAV_LABEL_BYTES) for c in columns},
        variable_value_labels={c.name: c.value_labels for c in columns if c.value_labels},
        missing_ranges={c.name: [float(code) for code in MISSING] for c in columns if c.missing},
        variable_measure={c.name: c.measure for c in columns},
        variable_format={meta["created_at"].name: "DATETIME20"},
    )
    return count


def sav_file(survey, variables: Sequence[Variable], rows: Iterable[Mapping], *, locale: str = "en"):
    """Write the .sav to a temporary file and return it open for reading at the start; its name is already
    removed from the disk, so nothing is left behind once the handle is closed."""
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        write_sav(survey, variables, rows, path, locale=locale)
        return open(path, "rb")
    finally:
        os.unlink(path)
