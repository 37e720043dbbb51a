"""CSISpec: prefix convention, explicit mapping, model syntax and parameter count."""
import json

import pandas as pd
import pytest

from model import CONSTRUCTS, CSISpec, SpecificationError, fit, min_responses

from conftest import DATA, load_csv


def test_from_columns_orders_items_by_number_and_ignores_other_columns():
    spec = CSISpec.from_columns(["CE2", "CE10", "CE1", "PQ1", "PV1", "CS1", "CC1", "CL1", "age", "CSX"])
    assert spec.items["CE"] == ("CE1", "CE2", "CE10")
    assert spec.observed == ("CE1", "CE2", "CE10", "PQ1", "PV1", "CS1", "CC1", "CL1")


def test_from_columns_names_missing_construct():
    with pytest.raises(SpecificationError, match=r"\['CC'\].*CC1"):
        CSISpec.from_columns(["CE1", "PQ1", "PV1", "CS1", "CL1"])


def test_from_mapping_matches_custom_names_file():
    mapping = json.loads((DATA / "csi_custom_names.map.json").read_text())
    spec = CSISpec.from_mapping(mapping)
    assert list(spec.items) == list(CONSTRUCTS)
    assert spec.items["PQ"] == tuple(mapping["PQ"])


@pytest.mark.parametrize("mapping, message", [
    ({"CE": ["a"], "PQ": ["b"], "PV": ["c"], "CS": ["d"], "CC": ["e"]}, r"\['CL'\] have no items"),
    ({"CE": ["a"], "PQ": ["b"], "PV": ["c"], "CS": ["d"], "CC": ["e"], "CL": []}, r"\['CL'\]"),
    ({"CE": ["a"], "PQ": ["b"], "PV": ["c"], "CS": ["d"], "CC": ["e"], "CL": ["f"], "XX": ["g"]},
     r"unknown construct code\(s\) \['XX'\]"),
    ({"CE": ["a"], "PQ": ["a"], "PV": ["c"], "CS": ["d"], "CC": ["e"], "CL": ["f"]},
     "'a' is assigned to both CE and PQ"),
    (["CE", "PQ"], "mapping must be an object"),
])
def test_bad_mapping(mapping, message):
    with pytest.raises(SpecificationError, match=message):
        CSISpec.from_mapping(mapping)


def test_single_item_construct_syntax_fixes_loading_and_error_variance():
    spec = CSISpec.from_columns(load_csv("csi_single_cc.csv").columns)
    lines = spec.to_syntax().splitlines()
    assert "CC =~ 1*CC1" in lines and "CC1 ~~ 0*CC1" in lines
    assert "CS ~ CE + PQ + PV" in lines and "CL ~ CS + CC" in lines


def test_parameter_count_gives_lavaan_degrees_of_freedom(reference):
    for key, res2 in reference["datasets"].items():
        if key == "csi_missing_ml":
            continue
        spec = CSISpec.from_mapping(res2["items"])
        assert spec.degrees_of_freedom() == res2["fit_measures"]["df"]
    multi = CSISpec.from_mapping(reference["datasets"]["csi_multi"]["items"])
    assert multi.n_free_params() == 15 * 16 // 2 - 81
    assert min_responses(multi) == multi.n_free_params()


def test_spec_is_frozen():
    spec = CSISpec.from_columns(["CE1", "PQ1", "PV1", "CS1", "CC1", "CL1"])
    with pytest.raises(TypeError):
        spec.items["CE"] = ("x",)


def test_fit_accepts_a_plain_mapping(reference):
    mapping = json.loads((DATA / "csi_custom_names.map.json").read_text())
    result = fit(pd.read_csv(DATA / "csi_custom_names.csv"), mapping)
    assert result.fit["chi2"] == pytest.approx(reference["datasets"]["csi_custom_names"]["fit_measures"]["chisq"], abs=1e-3)
    with pytest.raises(SpecificationError, match="spec must be a CSISpec or a mapping, got list"):
        fit(pd.read_csv(DATA / "csi_custom_names.csv"), ["q01"])
