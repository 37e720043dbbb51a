"""`python -m model fit`: summary on stdout, JSON/CSV files, one stderr line and exit 2 on bad input."""
import csv
import json
import subprocess
import sys

import pytest

from model.cli import main

from conftest import DATA, HERE


def test_fit_prints_summary_and_writes_json_and_csv(tmp_path, capsys):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["fit", str(DATA / "csi_single_cc.csv"), "--json", str(out_json), "--csv", str(out_csv)]) == 0
    captured = capsys.readouterr()
    assert "CSI (customer satisfaction, 0-100):" in captured.out and captured.err == ""
    d = json.loads(out_json.read_text())
    assert d["n_used"] == 250 and d["converged"] is True
    assert captured.out.count(f"{d['csi']:.1f}") >= 1
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    with out_csv.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert {"section": "fit", "name": "cfi", "statistic": "value", "value": str(d["fit"]["cfi"])} in rows


def test_csv_defuses_column_names_a_spreadsheet_would_run(tmp_path, capsys):
    data = (DATA / "csi_custom_names.csv").read_text().replace("q13", "=HYPERLINK(1)", 1)
    (tmp_path / "d.csv").write_text(data)
    mapping = json.loads((DATA / "csi_custom_names.map.json").read_text())
    mapping["CE"] = ["=HYPERLINK(1)" if c == "q13" else c for c in mapping["CE"]]
    (tmp_path / "m.json").write_text(json.dumps(mapping))
    out_csv = tmp_path / "r.csv"
    assert main(["fit", str(tmp_path / "d.csv"), "--map", str(tmp_path / "m.json"), "--csv", str(out_csv)]) == 0
    with out_csv.open(newline="", encoding="utf-8-sig") as fh:
        names = {row["name"] for row in csv.DictReader(fh)}
    assert "'=HYPERLINK(1)" in names and not any(n.startswith("=") for n in names)
    assert "CE -> PQ" in names  # ordinary names untouched


def test_map_and_scale_options(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["fit", str(DATA / "csi_custom_names.csv"), "--map", str(DATA / "csi_custom_names.map.json"),
            "--scale-min", "0", "--scale-max", "10", "--json", str(out)]
    assert main(args) == 0
    d = json.loads(out.read_text())
    assert d["scale"] == [0.0, 10.0] and d["missing_method"] == "fiml"
    assert d["constructs"]["CE"]["items"] == json.loads((DATA / "csi_custom_names.map.json").read_text())["CE"]


def test_missing_option(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["fit", str(DATA / "csi_missing.csv"), "--missing", "listwise", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert (d["missing_method"], d["n_used"], d["dropped_reasons"]) == ("listwise", 117, {"missing_answer": 183})
    assert "listwise deletion" in capsys.readouterr().out


def _bad_map(tmp_path):
    path = tmp_path / "map.json"
    path.write_text("{not json")
    return ["--map", str(path)]


def _non_numeric(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text((DATA / "csi_multi.csv").read_text().replace("\n6,6,6,", "\nsix,6,6,", 1))
    return path


@pytest.mark.parametrize("make_args, message", [
    (lambda tmp: ["fit", str(tmp / "absent.csv")], "absent.csv: file not found"),
    (lambda tmp: ["fit", str(DATA / "csi_custom_names.csv")], "no item columns for construct"),
    (lambda tmp: ["fit", str(DATA / "csi_multi.csv"), *_bad_map(tmp)], "map.json is not valid JSON"),
    (lambda tmp: ["fit", str(_non_numeric(tmp))], r"non-numeric answers in CE1 \(row 1, e.g. 'six'\)"),
    (lambda tmp: ["fit", str(DATA / "csi_multi.csv"), "--scale-max", "5"], "outside the 1-5 scale"),
    (lambda tmp: ["fit", str(DATA / "make_data.py")], "no item columns|not a readable CSV"),
    (lambda tmp: ["fit"], "required: data"),
    (lambda tmp: ["frobnicate"], "invalid choice"),
    (lambda tmp: ["fit", str(DATA / "csi_multi.csv"), "--missing", "pairwise"], "invalid choice: 'pairwise'"),
    (lambda tmp: ["fit", str(DATA / "csi_multi.csv"), "--json", str(tmp / "no" / "dir.json")],
     "cannot write output"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, make_args, message):
    import re
    assert main(make_args(tmp_path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0])


def test_module_entry_point(tmp_path):
    out = tmp_path / "r.json"
    ok = subprocess.run([sys.executable, "-m", "model", "fit", str(DATA / "csi_multi.csv"), "--json", str(out)],
                        capture_output=True, text=True, cwd=HERE.parent.parent)
    assert ok.returncode == 0, ok.stderr
    assert "Fit: chi2(81)" in ok.stdout and json.loads(out.read_text())["fit"]["df"] == 81
    bad = subprocess.run([sys.executable, "-m", "model", "fit", str(tmp_path / "none.csv")],
                         capture_output=True, text=True, cwd=HERE.parent.parent)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.splitlines()) == 1
