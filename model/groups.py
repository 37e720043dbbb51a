"""Multi-group ML with a mean structure: configural, metric and scalar invariance, group indices.

semopy 2.3 has no constrained multi-group ML (``semopy.multigroup`` fits each group on its own),
so the model is written out here, as lavaan ``sem(..., group=, meanstructure=TRUE)`` defines it:
per group ``Σ = Λ(I−B)⁻¹Ψ(I−B)⁻ᵀΛ' + Θ`` and ``μ = ν + Λ(I−B)⁻¹α``, marker loadings fixed to
1 (a single-item construct: ``Θ = 0`` for its item), diagonal Ψ and Θ, the nine paths.
The objective is lavaan's ``Σ_g n_g/N · F_g`` with ``F_g = log|Σ| + tr(SΣ⁻¹) − log|S| − p +
(m − μ)'Σ⁻¹(m − μ)`` (S dividing by n_g), so ``χ² = N·F``. Levels (``group.equal``):

* configural: every parameter free per group, latent intercepts α = 0;
* metric: loadings equal across groups;
* scalar: loadings and item intercepts equal, α fixed to 0 in the first group and free in the
  others (lavaan's default when intercepts are equal).

Minimised by Fisher scoring on the analytic gradient and expected information (a few
iterations from the pooled fit), with a BFGS fallback; an optimum counts as verified only when
the largest gradient element is below ``GRAD_TOL``. Complete responses only (listwise within
groups).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats as sps

from . import checks, scores, stats, verdicts
from .exceptions import DataError, ModelWarning, SpecificationError
from .spec import CONSTRUCTS, PATHS, CSISpec

LEVELS = ("configural", "metric", "scalar")
MAX_GROUPS = 20
DELTA_CFI = 0.010     # Chen (2007): a level holds if CFI drops by at most .010 ...
DELTA_RMSEA = 0.015   # ... and RMSEA rises by at most .015 against the previous level
MIN_EQUAL_INTERCEPTS = 2  # partial scalar: items per construct that must keep equal intercepts
GRAD_TOL = 1e-6       # largest |∂F/∂θ| at a verified optimum
STEP_TOL = 1e-10
MAX_ITER = 500


class InvarianceWarning(ModelWarning):
    """A multi-group model did not reach a verified optimum."""


@dataclass(frozen=True)
class Layout:
    """Where each free parameter sits, per group; ids shared across groups are equality
    constraints. ``-1`` marks a fixed entry."""

    lam: np.ndarray    # (G, p, k) parameter ids of Λ
    beta: np.ndarray   # (G, k, k)
    psi: np.ndarray    # (G, k)   diagonal of Ψ
    theta: np.ndarray  # (G, p)   diagonal of Θ
    nu: np.ndarray     # (G, p)
    alpha: np.ndarray  # (G, k)
    n_par: int
    lam_fixed: np.ndarray  # (p, k) fixed loading values (markers 1, others 0)


def layout(spec: CSISpec, n_groups: int, level: str, free_intercepts=()) -> Layout:
    """Parameter ids for one invariance level; ``free_intercepts`` (item indices) stay free per
    group at scalar level (partial invariance, lavaan ``group.partial``)."""
    codes, obs = list(CONSTRUCTS), list(spec.observed)
    p, k = len(obs), len(codes)
    counter = iter(range(10 ** 9))
    new = lambda: next(counter)  # noqa: E731
    lam = np.full((n_groups, p, k), -1)
    beta = np.full((n_groups, k, k), -1)
    psi = np.full((n_groups, k), -1)
    theta = np.full((n_groups, p), -1)
    nu = np.full((n_groups, p), -1)
    alpha = np.full((n_groups, k), -1)
    lam_fixed = np.zeros((p, k))
    free_loadings = []
    for c, code in enumerate(codes):
        items = [obs.index(i) for i in spec.items[code]]
        lam_fixed[items[0], c] = 1.0
        free_loadings += [(j, c) for j in items[1:]]
    shared_lam = {jc: new() for jc in free_loadings} if level != "configural" else None
    shared_nu = {j: new() for j in range(p) if j not in set(free_intercepts)} if level == "scalar" else {}
    for g in range(n_groups):
        for j, c in free_loadings:
            lam[g, j, c] = shared_lam[(j, c)] if shared_lam else new()
        for a, b in PATHS:
            beta[g, codes.index(b), codes.index(a)] = new()
        for c in range(k):
            psi[g, c] = new()
        for j, item in enumerate(obs):
            if len(spec.items[spec.construct_of(item)]) > 1:
                theta[g, j] = new()
        for j in range(p):
            nu[g, j] = shared_nu[j] if j in shared_nu else new()
        if level == "scalar" and g > 0:
            for c in range(k):
                alpha[g, c] = new()
    return Layout(lam, beta, psi, theta, nu, alpha, next(counter), lam_fixed)


@dataclass(frozen=True)
class GroupData:
    """Complete responses of each group: sizes, ML moments (divide by n_g), labels."""

    labels: tuple[str, ...]
    moments: tuple[stats.Moments, ...]

    @property
    def n(self) -> np.ndarray:
        return np.array([m.n for m in self.moments], dtype=float)


def _matrices(theta_vec, lay: Layout, g: int, k: int):
    def take(ids, fixed):
        return np.where(ids >= 0, theta_vec[np.clip(ids, 0, None)], fixed)
    L = take(lay.lam[g], lay.lam_fixed)
    B = take(lay.beta[g], 0.0)
    Psi = np.diag(take(lay.psi[g], 0.0))
    Th = np.diag(take(lay.theta[g], 0.0))
    nu = take(lay.nu[g], 0.0)
    al = take(lay.alpha[g], 0.0)
    return L, B, Psi, Th, nu, al


def _group_terms(x, lay: Layout, g: int, m: stats.Moments, need_info: bool):
    """F_g, its gradient over all parameters and (optionally) its expected Hessian."""
    p, k = lay.lam.shape[1:]
    L, B, Psi, Th, nu, al = _matrices(x, lay, g, k)
    A = np.linalg.inv(np.eye(k) - B)
    U = L @ A                       # items x latents: Λ(I−B)⁻¹
    Sigma = U @ Psi @ U.T + Th
    kappa = A @ al                  # latent means
    mu = nu + L @ kappa
    sign, logdet = np.linalg.slogdet(Sigma)
    if sign <= 0:
        return np.inf, None, None
    Si = np.linalg.inv(Sigma)
    d = m.mean - mu
    f = logdet + np.trace(Si @ m.cov) - np.linalg.slogdet(m.cov)[1] - p + d @ Si @ d
    # derivative of each free entry: dΣ = outer(a, b) + outer(b, a) (or E_ii), dμ
    V = L @ (A @ Psi @ A.T)          # ΛΦ, columns v_j
    ids, dS, dm = [], [], []
    eye = np.eye(p)
    for (j, c) in zip(*np.nonzero(lay.lam[g] >= 0)):
        ids.append(lay.lam[g, j, c]); dS.append(np.outer(eye[j], V[:, c]))
        dm.append(eye[j] * kappa[c])
    for (i, j) in zip(*np.nonzero(lay.beta[g] >= 0)):
        ids.append(lay.beta[g, i, j]); dS.append(np.outer(U[:, i], V[:, j]))
        dm.append(U[:, i] * kappa[j])
    for c in np.nonzero(lay.psi[g] >= 0)[0]:
        ids.append(lay.psi[g, c]); dS.append(0.5 * np.outer(U[:, c], U[:, c]))
        dm.append(np.zeros(p))
    for j in np.nonzero(lay.theta[g] >= 0)[0]:
        ids.append(lay.theta[g, j]); e = np.zeros((p, p)); e[j, j] = 0.5; dS.append(e)
        dm.append(np.zeros(p))
    for j in np.nonzero(lay.nu[g] >= 0)[0]:
        ids.append(lay.nu[g, j]); dS.append(np.zeros((p, p))); dm.append(eye[j])
    for c in np.nonzero(lay.alpha[g] >= 0)[0]:
        ids.append(lay.alpha[g, c]); dS.append(np.zeros((p, p))); dm.append(U[:, c])
    dS = np.array(dS)
    dS = dS + dS.transpose(0, 2, 1)  # symmetric dΣ/dθ
    dm = np.array(dm)
    ids = np.array(ids)
    G_sigma = Si - Si @ (m.cov + np.outer(d, d)) @ Si
    G_mu = -2 * Si @ d
    grad_local = np.einsum("qij,ij->q", dS, G_sigma) + dm @ G_mu
    grad = np.zeros(lay.n_par)
    np.add.at(grad, ids, grad_local)
    info = None
    if need_info:
        a = Si @ dS                                       # Σ⁻¹dΣ_q
        h = np.einsum("aij,bji->ab", a, a) + 2 * dm @ Si @ dm.T
        info = np.zeros((lay.n_par, lay.n_par))
        np.add.at(info, (ids[:, None], ids[None, :]), h)
    return float(f), grad, info


def _objective(x, lay: Layout, data: GroupData, need_info: bool = True):
    """Σ_g n_g/N · F_g with gradient and expected Hessian (2 × Fisher information per case)."""
    w = data.n / data.n.sum()
    total, grad, info = 0.0, np.zeros(lay.n_par), np.zeros((lay.n_par, lay.n_par)) if need_info else None
    for g, m in enumerate(data.moments):
        f, gr, inf = _group_terms(x, lay, g, m, need_info)
        if not np.isfinite(f):
            return np.inf, None, None
        total += w[g] * f
        grad += w[g] * gr
        if need_info:
            info += w[g] * inf
    return total, grad, info


@dataclass(frozen=True)
class LevelFit:
    """One fitted invariance level."""

    level: str
    layout: Layout
    x: np.ndarray
    fmin: float
    converged: bool
    grad_max: float
    free_intercepts: tuple[int, ...] = ()
    measures: dict = field(default_factory=dict)

    def matrices(self, g: int):
        return _matrices(self.x, self.layout, g, self.layout.lam.shape[2])


def _pack(lay: Layout, start: list[tuple], weights: np.ndarray) -> np.ndarray:
    """Start vector: each parameter the weighted mean of its entries in the groups' start matrices."""
    total, mass = np.zeros(lay.n_par), np.zeros(lay.n_par)
    for g, (L, B, psi, th, nu, al) in enumerate(start):
        for ids, vals in ((lay.lam[g], L), (lay.beta[g], B), (lay.psi[g], psi), (lay.theta[g], th),
                          (lay.nu[g], nu), (lay.alpha[g], al)):
            sel = ids >= 0
            np.add.at(total, ids[sel], weights[g] * vals[sel])
            np.add.at(mass, ids[sel], weights[g])
    return total / np.where(mass > 0, mass, 1)


def _minimise(lay: Layout, data: GroupData, x0: np.ndarray) -> tuple[np.ndarray, float, bool, float]:
    """Fisher scoring with step halving; BFGS on the analytic gradient if the gradient check
    fails, then scoring again. Returns (x, F, verified, max |gradient|)."""
    def scoring(x):
        f, grad, info = _objective(x, lay, data)
        if not np.isfinite(f):
            return x, f, np.full(lay.n_par, np.inf)
        for _ in range(MAX_ITER):
            try:
                step = np.linalg.solve(info, grad)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(info, grad, rcond=None)[0]
            t = 1.0
            for _ in range(40):
                trial = x - t * step
                f_t = _objective(trial, lay, data, need_info=False)[0]
                if f_t <= f + 1e-13 * max(1.0, abs(f)):
                    break
                t /= 2
            else:
                break
            x = trial
            f, grad, info = _objective(x, lay, data)
            if np.max(np.abs(t * step)) < STEP_TOL or np.max(np.abs(grad)) < 1e-12:
                break
        return x, f, grad

    with np.errstate(all="ignore"):
        x, f, grad = scoring(np.asarray(x0, dtype=float))
        if not np.max(np.abs(grad)) < GRAD_TOL:
            fun = lambda z: (lambda r: (r[0], r[1]) if np.isfinite(r[0]) else (1e10, np.zeros_like(z)))(  # noqa: E731
                _objective(z, lay, data, need_info=False))
            res = optimize.minimize(fun, x, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
            x, f, grad = scoring(res.x)
    grad_max = float(np.max(np.abs(grad)))
    return x, float(f), bool(np.isfinite(f) and grad_max < GRAD_TOL), grad_max


def _measures(fit: LevelFit, data: GroupData) -> dict:
    """lavaan's fitMeasures for a multi-group model: χ² = N·F, baseline with free means and
    variances per group, RMSEA × √G (Steiger 1998)."""
    n_groups, p = len(data.moments), data.moments[0].cov.shape[0]
    N = float(data.n.sum())
    chi2 = N * fit.fmin
    df = n_groups * (p * (p + 1) // 2 + p) - fit.layout.n_par
    chi2_b = sum(-m.n * np.linalg.slogdet(m.corr)[1] for m in data.moments)
    df_b = n_groups * p * (p - 1) // 2
    d, d_b = max(chi2 - df, 0.0), max(chi2_b - df_b, 0.0)
    cfi = 1.0 if max(d, d_b) == 0 else 1 - d / max(d, d_b)
    tli = ((chi2_b / df_b) - (chi2 / df)) / ((chi2_b / df_b) - 1) if df > 0 else float("nan")
    root_g = np.sqrt(n_groups)
    rmsea = float(np.sqrt(d / (N * df))) * root_g if df > 0 else float("nan")
    lo, hi = stats.rmsea_ci(chi2, df, int(N))
    return {"chi2": float(chi2), "df": int(df),
            "p_value": float(sps.chi2.sf(chi2, df)) if df > 0 else float("nan"),
            "cfi": float(cfi), "tli": float(tli), "rmsea": rmsea,
            "rmsea_ci": [lo * root_g, hi * root_g], "npar": int(fit.layout.n_par),
            "baseline_chi2": float(chi2_b), "baseline_df": int(df_b),
            "converged": fit.converged, "gradient_max": fit.grad_max}


def fit_level(spec: CSISpec, data: GroupData, level: str, start: list[tuple],
              free_intercepts=()) -> LevelFit:
    """Fit one invariance level from per-group start matrices."""
    lay = layout(spec, len(data.moments), level, free_intercepts)
    x, f, ok, gmax = _minimise(lay, data, _pack(lay, start, data.n / data.n.sum()))
    fit = LevelFit(level, lay, x, f, ok, gmax, tuple(free_intercepts))
    return LevelFit(level, lay, x, f, ok, gmax, tuple(free_intercepts), _measures(fit, data))


def _state(fit: LevelFit, g: int) -> tuple:
    L, B, Psi, Th, nu, al = fit.matrices(g)
    return L, B, np.diag(Psi), np.diag(Th), nu, al


def _delta(cur: dict, prev: dict) -> dict:
    """semTools compareFit differences (current − previous) and lavTestLRT's Δχ² test."""
    dchi, ddf = cur["chi2"] - prev["chi2"], cur["df"] - prev["df"]
    d_cfi, d_rmsea = cur["cfi"] - prev["cfi"], cur["rmsea"] - prev["rmsea"]
    return {"delta_chi2": float(dchi), "delta_df": int(ddf),
            "p_value": float(sps.chi2.sf(dchi, ddf)) if ddf > 0 else float("nan"),
            "delta_cfi": float(d_cfi), "delta_rmsea": float(d_rmsea),
            "holds": bool(cur["converged"] and -d_cfi <= DELTA_CFI and d_rmsea <= DELTA_RMSEA)}
