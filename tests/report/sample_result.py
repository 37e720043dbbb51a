"""A hand-written result dict in the model's to_dict() schema, for chart and text tests."""

PATHS = [  # (from, to, std_estimate, p_value)
    ("CE", "PQ", 0.55, 0.0001), ("CE", "PV", 0.08, 0.21), ("PQ", "PV", 0.50, 0.0001),
    ("CE", "CS", 0.03, 0.64), ("PQ", "CS", 0.45, 0.0001), ("PV", "CS", 0.31, 0.0002),
    ("CS", "CC", -0.48, 0.0001), ("CS", "CL", 0.52, 0.0001), ("CC", "CL", -0.12, 0.049),
]
NAMES_ZH = {"CE": "顾客期望", "PQ": "感知质量", "PV": "感知价值", "CS": "顾客满意度", "CC": "顾客抱怨",
            "CL": "顾客忠诚"}
NAMES_EN = {"CE": "Expectations", "PQ": "Perceived quality", "PV": "Perceived value",
            "CS": "Satisfaction", "CC": "Complaints", "CL": "Loyalty"}
R2 = {"CE": None, "PQ": 0.30, "PV": 0.31, "CS": 0.52, "CC": 0.23, "CL": 0.33}
INDEX = {"CE": 71.2, "PQ": 68.4, "PV": 63.9, "CS": 70.5, "CC": 38.1, "CL": 66.0}


def make_result():
    """Return a fresh result dict (tests may mutate it)."""
    constructs = {}
    for code in INDEX:
        items = [f"{code}1", f"{code}2"]
        constructs[code] = {
            "name_en": NAMES_EN[code], "name_zh": NAMES_ZH[code], "items": items,
            "weights": {i: 0.5 for i in items}, "index": INDEX[code],
            "index_ci": [INDEX[code] - 1.5, INDEX[code] + 1.5], "r2": R2[code], "alpha": 0.85,
            "cr": 0.88, "ave": 0.7, "item_scores": {items[0]: INDEX[code] - 1, items[1]: INDEX[code] + 1},
        }
    paths = [{"from": a, "to": b, "estimate": s * 1.1, "std_estimate": s, "se": 0.05, "z": s * 22,
              "p_value": p, "ci": [s - 0.1, s + 0.1]} for a, b, s, p in PATHS]
    ipma = [{"construct": "PQ", "importance": 0.62, "performance": 68.4, "priority": 1},
            {"construct": "PV", "importance": 0.31, "performance": 63.9, "priority": 2},
            {"construct": "CE", "importance": 0.22, "performance": 71.2, "priority": 3}]
    return {
        "n_used": 400, "n_dropped": 3, "dropped_reasons": {"incomplete": 3}, "converged": True,
        "missing_method": "listwise", "scale": [1, 10],
        "warnings": [{"code": "poor_fit", "message": "RMSEA 0.09 above 0.08"}],
        "constructs": constructs, "paths": paths,
        "effects": [{"from": "PQ", "to": "CS", "direct": 0.45, "indirect": 0.15, "total": 0.60,
                     "impact_5pt": 2.9}],
        "fit": {"chi2": 210.3, "df": 80, "p_value": 0.0, "cfi": 0.95, "tli": 0.94, "rmsea": 0.09,
                "rmsea_ci": [0.07, 0.10], "srmr": 0.05,
                "verdicts": {"cfi": {"value": 0.95, "threshold": 0.95, "verdict": "good", "ok": True},
                             "rmsea": {"value": 0.09, "threshold": 0.08, "verdict": "poor", "ok": False}}},
        "ipma": ipma,
        "ipma_items": [{"item": "PQ2", "construct": "PQ", "importance": 0.3, "performance": 61.0,
                        "priority": 1}],
    }
