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
