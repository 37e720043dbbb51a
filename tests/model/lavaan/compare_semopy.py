"""Check reference.json against semopy 2.3.11 (a sanity check of the references, not a test).

Run from the repo root: .venv/bin/python tests/model/lavaan/compare_semopy.py
Listwise sets use semopy.Model (obj MLW); the FIML set uses semopy.ModelMeans (obj ML on data
with NaN is FIML with a mean structure; semopy.Model's FIML has no means and is far off).
"""
import json
import logging
import warnings
from pathlib import Path

import pandas as pd
import semopy

ROOT = Path(__file__).resolve().parents[3]
REF = json.loads((ROOT / "tests/model/lavaan/reference.json").read_text())


def semopy_row(est, p):
    """semopy writes `CE =~ CE1` as `CE1 ~ CE`; covariances may come in either order."""
    if p["op"] == "=~":
        return est[(est.op == "~") & (est.lval == p["rhs"]) & (est.rval == p["lhs"])]
    if p["op"] == "~":
        return est[(est.op == "~") & (est.lval == p["lhs"]) & (est.rval == p["rhs"])]
    pair = {p["lhs"], p["rhs"]}
    return est[(est.op == "~~") & est.apply(lambda r: {r.lval, r.rval} == pair, axis=1)]


def compare(ref, solver):
    df = pd.read_csv(ROOT / "tests/model/data" / ref["file"])[sum(ref["items"].values(), [])]
    if ref["missing"] == "ml":
        model, obj = semopy.ModelMeans(ref["model"]), "ML"
    else:
        model, obj = semopy.Model(ref["model"]), "MLW"
        df = df.dropna()
    result = model.fit(df, obj=obj, solver=solver)
    est = model.inspect(std_est=True)
    worst = {"est": 0.0, "se": 0.0, "std.all": 0.0}
    for p in ref["parameters"]:
        if p["op"] == "~1":
            continue
        row = semopy_row(est, p).iloc[0]
        worst["est"] = max(worst["est"], abs(float(row["Estimate"]) - p["est"]))
        worst["std.all"] = max(worst["std.all"], abs(float(row["Est. Std"]) - p["std.all"]))
        if p["se"] and row["Std. Err"] != "-":
            worst["se"] = max(worst["se"], abs(float(row["Std. Err"]) - p["se"]))
    return result, worst, semopy.calc_stats(model).T.iloc[:, 0]


def main():
    for key, ref in REF["datasets"].items():
        fm = ref["fit_measures"]
        for solver in ("SLSQP", "L-BFGS-B"):
            result, worst, stats = compare(ref, solver)
            print(f"{key:21s} {solver:8s} converged={result.success} max|diff| "
                  + " ".join(f"{k} {v:.1e}" for k, v in worst.items()))
        for mine, theirs in [("chisq", "chi2"), ("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA")]:
            print(f"    {mine:6s} lavaan {fm[mine]:11.6f}  semopy {float(stats[theirs]):11.6f}")


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
