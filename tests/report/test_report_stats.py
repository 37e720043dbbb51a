"""Descriptive report figures, checked against hand computations on tiny frames."""
import math

import numpy as np
import pandas as pd
import pytest

from model.stats import Z975
from survey.report import figures as rs


def frame():
    # gap PQ-CE per row (item scale): -2, 0, +0.5, +1, -0.5, NaN (no PQ)
    return pd.DataFrame({
        "response_id": [1, 2, 3, 4, 5, 6],
        "CE1": [8, 7, 6, 5, 9, 7], "CE2": [8, 7, 6, 5, 9, np.nan],
        "PQ1": [6, 7, 7, 6, 8.5, np.nan], "PQ2": [6, 7, 6, 6, 8.5, np.nan],
        "CL1": [9, 8, 7, 3, 10, np.nan], "CL2": [2, 8, 8, 8, 8, 8],
        "complained": ["yes", "no", "no", "yes", None, "yes"],
        "complaint_handling": [4, np.nan, np.nan, 10, np.nan, 7],
        "complaint_cause": ["quality;employee", None, None, ["quality"], None, "systems"],
        "comment": ["<b>bad</b>", "", "ok", None, "great", "fine"],
        "created_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04",
                                      "2026-01-05", "2026-01-06"]),
    })


def test_satisfaction_level_uses_pq_minus_ce_with_half_point_tolerance():
    df = frame()
    levels = rs.satisfaction_level_per_row(df, ["CE1", "CE2"], ["PQ1", "PQ2"])
    assert levels.tolist()[:5] == ["short", "matched", "matched", "exceeded", "matched"]
    assert pd.isna(levels.iloc[5])
    summary = rs.satisfaction_levels(levels)
    assert summary["n"] == 5
    assert summary["short"] == {"count": 1, "share": 0.2}
    assert summary["matched"] == {"count": 3, "share": 0.6}
    assert summary["exceeded"] == {"count": 1, "share": 0.2}


def test_complaint_rates_handling_and_causes():
    df = frame()
    levels = rs.satisfaction_level_per_row(df, ["CE1", "CE2"], ["PQ1", "PQ2"])
    out = rs.complaints(df, levels)
    assert out["n"] == 5 and out["count"] == 3 and out["rate"] == pytest.approx(3 / 5)
    assert out["n_dissatisfied"] == 1 and out["rate_dissatisfied"] == 1.0  # row 1 is short and complained
    # Handling among the 3 complainers: 4, 10, 7 on 1-10 → (3+9+6)/3/9*100.
    assert out["handling"]["n"] == 3
    assert out["handling"]["score"] == pytest.approx((3 + 9 + 6) / 3 / 9 * 100)
    assert out["handling"]["share_well"] == pytest.approx(1 / 3)  # only 10 is >= 7.3
    assert out["causes"] == [{"cause": "quality", "count": 2, "share": 2 / 3},
                             {"cause": "employee", "count": 1, "share": 1 / 3},
                             {"cause": "systems", "count": 1, "share": 1 / 3}]


def test_complaints_without_question_is_empty():
    assert rs.complaints(pd.DataFrame({"CS1": [1]}))["rate"] is None


def test_intent_mean_and_top_box():
    out = rs.intent(frame(), ["CL1", "CL2"])
    assert out[0]["n"] == 5
    assert out[0]["score"] == pytest.approx(((8 + 7 + 6 + 2 + 9) / 5) / 9 * 100)
    assert out[0]["share_likely"] == pytest.approx(3 / 5)  # 9, 8, 10
    assert out[1]["share_likely"] == pytest.approx(5 / 6)


def test_wave_change_z_test_by_hand():
    cur = {"index": 74.0, "index_ci": [72.04, 75.96]}   # se = 1.0
    prev = {"index": 70.0, "index_ci": [67.06, 72.94]}  # se = 1.5
    out = rs.wave_change(cur, prev)
    se = math.sqrt(1.0 ** 2 + 1.5 ** 2)
    assert out["se"] == pytest.approx(se, rel=1e-3)
    assert out["z"] == pytest.approx(4.0 / se, rel=1e-3)
    assert out["p_value"] == pytest.approx(0.0264, abs=5e-4)  # two-sided, z = 2.219
    assert out["significant"] is True
    small = rs.wave_change({"index": 71.0, "index_ci": [69.04, 72.96]}, prev)
    assert small["significant"] is False and small["p_value"] == pytest.approx(0.5791, abs=5e-4)  # z = 0.555
    assert rs.wave_change(cur, None) is None


def test_segment_scores_suppress_small_groups():
    scores = pd.Series([60.0, 70.0, 80.0, 90.0, 50.0])
    groups = pd.Series(["a", "a", "a", "a", "b"])
    out = rs.segment_scores(scores, groups, min_n=3)
    a, b = out
    assert a["value"] == "a" and a["n"] == 4 and a["mean"] == 75.0 and not a["suppressed"]
    half = Z975 * np.std([60, 70, 80, 90], ddof=1) / 2
    assert a["ci"] == pytest.approx([75 - half, 75 + half])
    assert b == {"value": "b", "n": 1, "mean": None, "ci": None, "suppressed": True}


def test_comments_filtered_by_band_newest_first():
    df = frame()
    scores = pd.Series([40.0, 65.0, 70.0, 85.0, 90.0, np.nan])
    by_band = rs.comments_by_band(df, scores)
    all_rows = by_band[None]
    assert [r["id"] for r in all_rows] == [6, 5, 3, 1]  # empty and None comments dropped
    assert all_rows[-1]["comment"] == "<b>bad</b>"  # escaping is the template's job
    assert [r["id"] for r in by_band["high"]] == [5]
    assert [r["id"] for r in by_band["low"]] == [1]
    assert [r["id"] for r in by_band["mid"]] == [3]
    edges = rs.comments_by_band(df.iloc[[0, 2, 4]], pd.Series([59.99, 80.0, 100.0], index=[0, 2, 4]))[None]
    assert [r["band"] for r in edges] == ["high", "high", "low"]  # newest first: 100, 80, 59.99
