"""read_table: CSV/xlsx in, DataError for empty, missing and non-CSV files."""
import io

import pandas as pd
import pytest

from model import DataError, read_table

from conftest import DATA


def test_reads_csv_with_blank_cells_as_nan():
    frame = read_table(DATA / "csi_missing.csv")
    assert frame.shape == (300, 14)
    assert frame.isna().any().any()


def test_reads_semicolon_csv_and_file_objects(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("CE1;CE2\n7;8\n6;\n")
    assert read_table(path)["CE1"].tolist() == [7, 6]
    upload = io.BytesIO(b"\xef\xbb\xbfCE1,CE2\n7,8\n")
    assert list(read_table(upload).columns) == ["CE1", "CE2"]


def test_reads_xlsx(tmp_path):
    path = tmp_path / "answers.xlsx"
    pd.DataFrame({"CE1": [7, 8]}).to_excel(path, index=False)
    assert read_table(path)["CE1"].tolist() == [7, 8]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"CE1,CE2\n", "header but no data rows"),
    (b"PK\x03\x04\x00\x00binary", "not a CSV file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a CSV file"),
    (b'CE1,CE2\n"7,8\n', "not a readable CSV"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "answers.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"answers.csv.*{message}|{message}"):
        read_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_reads_gbk_encoded_csv(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("CE1,备注\n7,很好\n".encode("gb18030"))
    assert read_table(path)["备注"].tolist() == ["很好"]
    assert read_table(io.BytesIO("CE1,备注\n7,很好\n".encode("gb18030")))["CE1"].tolist() == [7]


def test_xlsx_matches_pandas_on_a_real_table(tmp_path):
    frame = read_table(DATA / "csi_missing.csv")
    path = tmp_path / "answers.xlsx"
    frame.to_excel(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), pd.read_excel(path), check_dtype=False)


def test_xlsx_with_a_stray_far_right_cell_is_read_quickly(tmp_path):
    import time

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["CE1", "CE2"])
    for k in range(200):
        sheet.append([7, 8])
    sheet["XFD150"] = "stray"  # the sheet's dimension becomes A1:XFD201
    path = tmp_path / "far.xlsx"
    workbook.save(path)
    t0 = time.perf_counter()
    frame = read_table(path)
    assert time.perf_counter() - t0 < 5
    assert list(frame.columns) == ["CE1", "CE2"] and len(frame) == 200
    sheet["XFD1"] = "far header"
    workbook.save(path)
    with pytest.raises(DataError, match="columns; at most 1000"):
        read_table(path)


def test_xlsx_zip_bomb_is_refused_before_unpacking(tmp_path, monkeypatch):
    import zipfile

    import model.io

    path = tmp_path / "bomb.xlsx"
    pd.DataFrame({"CE1": [7, 8]}).to_excel(path, index=False)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/padding.bin", b"\0" * (4 * 2**20))  # 4 MB that compress to a few KB
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(model.io, "MAX_UNPACKED_BYTES", 2**20)
    with pytest.raises(DataError, match="would unpack to 4 MB"):
        read_table(path)


def test_row_and_column_caps_and_preview(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("CE1,CE2\n" + "7,8\n" * 50)
    assert len(read_table(path, nrows=10)) == 10
    assert len(read_table(path, max_rows=50)) == 50
    with pytest.raises(DataError, match="more than 49 data rows"):
        read_table(path, max_rows=49)
    with pytest.raises(DataError, match="2 columns; at most 1 can be read"):
        read_table(path, max_columns=1)
    (tmp_path / "not.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable"):
        read_table(tmp_path / "not.xlsx")
