"""The CSV/Excel writers on plain rows: BOM, neutralized formulas, exact round trip, chunked output."""
import csv
import io
from datetime import datetime, timezone
from zipfile import ZipFile

import pytest
from openpyxl import load_workbook

from model.io import neutralize
from survey.services.exporting import BOM, csv_cell, csv_chunks, write_xlsx

COLUMNS = ["response_id", "created_at", "wave", "locale", "CS1", "CS2", "complaint_cause", "comment"]
ROWS = [
    {"response_id": 1, "created_at": datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc), "wave": 1,
     "locale": "zh", "CS1": 9.0, "CS2": float("nan"), "complaint_cause": ["quality", "employee"],
     "comment": "服务很好，谢谢"},
    {"response_id": 2, "created_at": datetime(2026, 11, 23, 10, 0), "wave": 2, "locale": "en",
     "CS1": 1, "CS2": 10, "complaint_cause": None, "comment": "=cmd|' /C calc'!A0"},
    {"response_id": 3, "created_at": datetime(2026, 11, 23, 11, 0), "wave": 2, "locale": "en",
     "CS1": None, "CS2": 7.5, "complaint_cause": [], "comment": "@SUM(A1)\x0bvertical tab"},
]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("=1+1", "'=1+1"), ("+31 20", "'+31 20"), ("-2", "'-2"), ("@x", "'@x"),
        ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), ("好", "好"),
        (-2, -2), (3.5, 3.5), (None, None),
    ],
)
def test_neutralize_prefixes_only_formula_text(raw, expected):
    assert neutralize(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, ""), (float("nan"), ""), (7.0, "7"), (7.5, "7.5"), (3, "3"),
        (["a", "b"], "a;b"), (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05Z"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
    ],
)
def test_csv_cell_formats(raw, expected):
    assert csv_cell(raw) == expected


def test_csv_has_bom_once_and_round_trips():
    body = b"".join(csv_chunks(COLUMNS, iter(ROWS)))
    assert body.startswith(BOM.encode("utf-8"))
    text = body.decode("utf-8")
    assert text.count(BOM) == 1
    parsed = list(csv.DictReader(io.StringIO(text[1:])))
    assert [r["response_id"] for r in parsed] == ["1", "2", "3"]
    assert parsed[0]["comment"] == "服务很好，谢谢"
    assert parsed[0]["CS1"] == "9" and parsed[0]["CS2"] == ""
    assert parsed[0]["complaint_cause"] == "quality;employee"
    assert parsed[0]["created_at"] == "2026-11-23T09:30:00Z"
    assert parsed[1]["comment"] == "'=cmd|' /C calc'!A0"
    assert parsed[2]["comment"] == "'@SUM(A1)\x0bvertical tab"
    assert parsed[2]["CS1"] == "" and parsed[2]["CS2"] == "7.5"


def test_csv_is_yielded_in_chunks_not_one_blob():
    rows = ({"response_id": i, "comment": "x"} for i in range(10))
    chunks = list(csv_chunks(["response_id", "comment"], rows, rows_per_chunk=3))
    assert len(chunks) == 1 + 4  # header, then 3 + 3 + 3 + 1 rows
    assert b"".join(chunks).decode("utf-8-sig").splitlines()[-1] == "9,x"


def test_csv_consumes_rows_lazily():
    seen = []

    def rows():
        for i in range(5):
            seen.append(i)
            yield {"response_id": i}

    chunks = csv_chunks(["response_id"], rows(), rows_per_chunk=1)
    next(chunks)
    next(chunks)
    assert seen == [0]


def test_xlsx_round_trip_keeps_text_as_text(tmp_path):
    path = tmp_path / "r.xlsx"
    write_xlsx(COLUMNS, iter(ROWS), path)
    sheet = load_workbook(path).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == COLUMNS
    assert values[1][4:] == [9, None, "quality;employee", "服务很好，谢谢"]
    assert values[1][1] == datetime(2026, 11, 23, 9, 30)
    assert values[2][7] == "=cmd|' /C calc'!A0"
    assert sheet.cell(row=3, column=8).data_type == "s"
    assert values[3][4:6] == [None, 7.5]
    assert values[3][7] == "@SUM(A1)vertical tab"  # control character XML cannot hold is dropped
    with ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in xml


def test_xlsx_writes_to_binary_file_object():
    buffer = io.BytesIO()
    write_xlsx(["a"], [{"a": -1.5}], buffer)
    buffer.seek(0)
    assert load_workbook(buffer).active["A2"].value == -1.5
