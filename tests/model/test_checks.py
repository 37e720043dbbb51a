"""Bad input: every problem raises DataError naming the columns/rows and the fix."""
import numpy as np
import pandas as pd
import pytest

from model import DataError, SpecificationError, fit, min_responses, CSISpec


def test_missing_columns_named(survey):
    with pytest.raises(DataError, match=r"missing item columns \(PV: PV2; CL: CL1\)"):
        fit(survey.drop(columns=["PV2", "CL1"]), CSISpec.from_columns(survey.columns))


def test_no_item_columns_is_specification_error(survey):
    with pytest.raises(SpecificationError, match="pass an explicit mapping"):
        fit(survey.rename(columns=str.lower))


def test_non_numeric_cells_named_with_rows(survey):
    data = survey.astype(object)
    data.loc[4, "PQ2"] = "very good"
    data.loc[9, "PQ2"] = "n/a"
    with pytest.raises(DataError, match=r"non-numeric answers in PQ2 \(rows 5, 10, e.g. 'very good'\)"):
        fit(data)


def test_numeric_text_and_blank_cells_are_accepted(survey):
    data = survey.astype(object)
    data.loc[0, "CE1"] = " 7 "
    data.loc[1, "CE1"] = ""
    result = fit(data, missing="listwise")
    assert result.n_used == len(survey) - 1 and result.n_dropped == 1


def test_values_outside_scale(survey):
    data = survey.copy()
    data.loc[2, "CS3"] = 11
    data.loc[7, "CL2"] = 0
    with pytest.raises(DataError, match=r"outside the 1-10 scale in CS3 \(row 3, e.g. 11\); CL2 \(row 8"):
        fit(data)


def test_values_checked_against_configured_scale(survey):
    with pytest.raises(DataError, match=r"outside the 1-7 scale"):
        fit(survey, scale=(1, 7))


@pytest.mark.parametrize("scale, message", [((5, 5), "minimum must be below maximum"),
                                            (("a", 3), "two numbers"), ((1,), "two numbers")])
def test_bad_scale(survey, scale, message):
    with pytest.raises(DataError, match=message):
        fit(survey, scale=scale)


def test_too_few_complete_responses_listwise(survey):
    spec = CSISpec.from_columns(survey.columns)
    need = min_responses(spec)
    data = survey.copy()
    data.loc[need - 1:, "CE2"] = np.nan
    with pytest.raises(DataError, match=rf"only {need - 1} complete responses \({len(data) - need + 1} of "
                       rf"{len(data)} rows left out for missing answers\).*needs at least {need}"):
        fit(data, missing="listwise")
    assert fit(data).n_used == len(data)  # FIML keeps the incomplete rows


def test_too_few_responses_fiml(survey):
    need = min_responses(CSISpec.from_columns(survey.columns))
    data = survey.copy()
    data.iloc[need - 1:] = np.nan
    with pytest.raises(DataError, match=rf"only {need - 1} responses with any answer \("):
        fit(data)


def test_items_never_answered_together_fiml(survey):
    data = survey.copy()
    data.loc[:150, "CL1"] = np.nan
    data.loc[150:, "CL2"] = np.nan
    with pytest.raises(DataError, match="items CL1/CL2 are answered together by fewer than 2 respondents"):
        fit(data)


def test_unknown_missing_method(survey):
    with pytest.raises(SpecificationError, match=r"missing must be one of \('fiml', 'listwise'\)"):
        fit(survey, missing="pairwise")


def test_zero_variance_item(survey):
    data = survey.assign(PV1=5.0)
    with pytest.raises(DataError, match=r"items without variation \['PV1'\]"):
        fit(data)


def test_duplicate_items_are_collinear(survey):
    with pytest.raises(DataError, match="CS1/CS2 are perfectly correlated"):
        fit(survey.assign(CS2=survey["CS1"]))


def test_data_must_be_a_frame(survey):
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        fit(survey.to_numpy(), CSISpec.from_columns(survey.columns))


def test_duplicate_column_names(survey):
    spec = CSISpec.from_columns(survey.columns)
    doubled = survey.join(survey[["CE1"]], rsuffix="_copy").rename(columns={"CE1_copy": "CE1"})
    with pytest.raises(DataError, match=r"item column\(s\) \['CE1'\] appear more than once"):
        fit(doubled, spec)
    with pytest.raises(SpecificationError, match=r"\['CE1'\] appear more than once"):
        fit(doubled)


def test_nullable_integer_columns_and_unicode_names(survey):
    renamed = {c: f"问题 {c}" for c in survey.columns}
    spec = CSISpec.from_mapping({code: [renamed[c] for c in cols]
                                 for code, cols in CSISpec.from_columns(survey.columns).items.items()})
    data = survey.rename(columns=renamed).astype("Int64")
    data.iloc[0, 0] = pd.NA
    result = fit(data, spec, missing="listwise")
    assert result.n_dropped == 1
    assert result.fit["chi2"] == pytest.approx(fit(survey.iloc[1:]).fit["chi2"])
