"""PLS reference numbers for tests/model/pls (the tests need neither seminr nor openpls).

seminr 0.2.1 (the Python port of R seminr, parity with R seminr to 1e-5 on its mobi data) fits the
six-construct CSI model, every construct a Mode A composite (``composite(..., weights=mode_A)``),
path weighting, seminr's defaults (unit start, stop when Σ|Δw| < 1e-7, at most 300 iterations),
on every data set of pls_data.py. seminr has no SRMR for PLS; openpls-engine 1.13.0 (a plspm
fork, standardized indicators, path scheme) gives the implied correlation matrix of the saturated
model (ΛΦΛ', unit diagonal) and its residuals, which are aggregated here over the lower triangle
with the diagonal, as Bentler's SRMR (openpls's own figure omits the diagonal); its loadings and
path coefficients are kept as a second opinion beside seminr's.

Missing answers: "listwise" data sets give seminr the complete rows. For "fiml" the product fits
PLS to the EM (ML) covariance of every row with an answer; this script computes that covariance
with a plain row-by-row EM written here (not the product's code), then gives seminr a data set
whose sample covariance is exactly that matrix (whitened normal rows times its Cholesky factor).

Regenerate from the repo root (seminr and openpls-engine live in a separate venv, not .venv):
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install seminr==0.2.1 openpls-engine==1.13.0 pandas
    /tmp/refvenv/bin/python tests/model/pls/make_reference.py
"""
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pls_data import CODES, PATHS, checksum, datasets  # noqa: E402

OUT = HERE / "reference.json"


def em_covariance(values: np.ndarray, tol: float = 1e-12, maxiter: int = 20_000):
    """ML mean and covariance (divide by N) of incomplete multivariate normal rows, by EM."""
    values = values[~np.isnan(values).all(axis=1)]
    n, p = values.shape
    miss = np.isnan(values)
    mu = np.nanmean(values, axis=0)
    sigma = np.diag(np.nanvar(values, axis=0))
    for _ in range(maxiter):
        total, cross = np.zeros(p), np.zeros((p, p))
        for row, m in zip(values, miss):
            o = ~m
            x = row.copy()
            c = np.zeros((p, p))
            if m.any():
                reg = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)]).T
                x[m] = mu[m] + reg @ (row[o] - mu[o])
                c[np.ix_(m, m)] = sigma[np.ix_(m, m)] - reg @ sigma[np.ix_(o, m)]
            total += x
            cross += np.outer(x, x) + c
        new_mu = total / n
        new_sigma = cross / n - np.outer(new_mu, new_mu)
        done = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max()) < tol
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return n, mu, (sigma + sigma.T) / 2


def with_covariance(cov: np.ndarray, n: int, seed: int = 7) -> np.ndarray:
    """n rows whose sample covariance is exactly ``cov`` (up to the N vs N-1 factor)."""
    z = np.random.default_rng(seed).standard_normal((n, cov.shape[0]))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return z @ np.linalg.cholesky(cov).T


def seminr_fit(frame: pd.DataFrame, mapping: dict) -> dict:
    from seminr import composite, constructs, estimate_pls, mode_A, paths, relationships
    from seminr.evaluate.reliability import reliability_table

    mm = constructs(*[composite(c, list(mapping[c]), weights=mode_A) for c in CODES])
    sm = relationships(*[paths(a, b) for a, b in PATHS])
    model = estimate_pls(frame, mm, sm)
    w, lam, b = model.outer_weights, model.outer_loadings, model.path_coef
    items = [i for c in CODES for i in mapping[c]]
    rel = reliability_table(model)
    return {
        "iterations": int(model.iterations),
        "outer_weights": {i: w.get(i, c) for c in CODES for i in mapping[c]},
        "loadings": {i: lam.get(i, c) for c in CODES for i in mapping[c]},
        "paths": {f"{a}->{t}": b.get(a, t) for a, t in PATHS},
        "r2": {c: model.r_squared.get("Rsq", c) for c in CODES if c != "CE"},
        "reliability": {c: {k: rel.get(c, k) for k in ("alpha", "rhoA", "rhoC", "AVE")} for c in CODES},
        "item_sd": {i: float(np.std(frame[i].to_numpy(float), ddof=1)) for i in items},
    }


def openpls_fit(frame: pd.DataFrame, mapping: dict) -> dict:
    """A second implementation: loadings, paths and the SRMR residuals of openpls-engine."""
    from openpls.config import MV, Config, Structure
    from openpls.mode import Mode
    from openpls.plspm import Plspm
    from openpls.scheme import Scheme

    structure = Structure()
    for a, b in PATHS:
        structure.add_path([a], [b])
    config = Config(structure.path(), scaled=True)
    for c in CODES:
        config.add_lv(c, Mode.A, *[MV(i) for i in mapping[c]])
    model = Plspm(frame.astype(float), config, Scheme.PATH, iterations=1000, tolerance=1e-12)
    resid = model.model_fit().residuals().to_numpy()
    coef, outer = model.path_coefficients(), model.outer_model()
    return {"srmr": float(np.sqrt(np.mean(resid[np.tril_indices(resid.shape[0])] ** 2))),
            "openpls": {"paths": {f"{a}->{t}": float(coef.loc[t, a]) for a, t in PATHS},
                        "loadings": {i: float(outer.loc[i, "loading"]) for c in CODES for i in mapping[c]}}}


def main():
    out = {"seminr_version": version("seminr"), "openpls_version": version("openpls-engine"),
           "notes": __doc__.split("\n\n")[1:4], "datasets": {}}
    for name, (frame, mapping, missing) in datasets().items():
        items = [i for c in CODES for i in mapping[c]]
        values = frame[items].to_numpy(float)
        entry = {"missing": missing, "items": mapping, "checksum": checksum(frame, mapping)}
        if missing == "fiml":
            n, mean, cov = em_covariance(values)
            entry["em_mean"], entry["em_cov"] = mean.tolist(), cov.tolist()
            data = pd.DataFrame(with_covariance(cov, n), columns=items)
        else:
            data = pd.DataFrame(values[~np.isnan(values).any(axis=1)], columns=items)
            n = len(data)
        entry["n"] = n
        entry.update(seminr_fit(data, mapping))
        entry.update(openpls_fit(data, mapping))
        out["datasets"][name] = entry
        print(f"{name}: n={n}, {entry['iterations']} iterations, SRMR {entry['srmr']:.4f}")
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
