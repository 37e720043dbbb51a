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

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats as sps

from . import checks, exceptions, scores, stats, verdicts
from .exceptions import DataError, InvarianceWarning
from .spec import CSISpec

LEVELS = ("configural", "metric", "scalar")
MAX_GROUPS = 20
DELTA_CFI = 0.010     # Chen (2007): a level holds if CFI drops by at most .010 ...
DELTA_RMSEA = 0.015   # ... and RMSEA rises by at most .015 against the previous level
MIN_EQUAL_INTERCEPTS = 2  # partial scalar: items per construct that must keep equal intercepts
GRAD_TOL = 1e-6       # largest |∂F/∂θ| at a verified optimum
STEP_TOL = 1e-10
MAX_ITER = 500


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


def layout(spec: CSISpec, n_groups: int, level: str, free_intercepts=(), free_loadings=()) -> Layout:
    """Parameter ids for one invariance level; ``free_intercepts`` / ``free_loadings`` (item
    indices) stay free per group (partial invariance, lavaan ``group.partial``)."""
    codes, obs = spec.codes, list(spec.observed)
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
    entries = []  # (item, construct) of every free loading
    for c, code in enumerate(codes):
        items = [obs.index(i) for i in spec.items[code]]
        lam_fixed[items[0], c] = 1.0
        entries += [(j, c) for j in items[1:]]
    shared_lam = {(j, c): new() for j, c in entries if j not in set(free_loadings)} \
        if level != "configural" else {}
    shared_nu = {j: new() for j in range(p) if j not in set(free_intercepts)} if level == "scalar" else {}
    for g in range(n_groups):
        for j, c in entries:
            lam[g, j, c] = shared_lam[(j, c)] if (j, c) in shared_lam else new()
        for a, b in spec.paths:
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


def _group_terms(x, lay: Layout, g: int, m: stats.Moments, need_info: bool, need_grad: bool = True):
    """F_g, its gradient over all parameters and (optionally) its expected Hessian."""
    p, k = lay.lam.shape[1:]
    L, B, Psi, Th, nu, al = _matrices(x, lay, g, k)
    A = np.linalg.inv(np.eye(k) - B)
    U = L @ A                       # items x latents: Λ(I−B)⁻¹
    Sigma = U @ Psi @ U.T + Th
    kappa = A @ al                  # latent means
    mu = nu + L @ kappa
    try:
        chol = np.linalg.cholesky(Sigma)
    except np.linalg.LinAlgError:  # not positive definite: outside the admissible region
        return np.inf, None, None
    logdet = 2 * np.log(np.diag(chol)).sum()
    Si = np.linalg.inv(Sigma)
    d = m.mean - mu
    f = logdet + np.trace(Si @ m.cov) - np.linalg.slogdet(m.cov)[1] - p + d @ Si @ d
    if not f > -1e-8:  # F_ML ≥ 0: a negative value is rounding error of a near-singular Σ
        return np.inf, None, None
    if not need_grad:
        return float(f), None, None
    # derivative of each free entry: dΣ = outer(a, b) + outer(b, a) (or E_jj), dμ
    V = L @ (A @ Psi @ A.T)          # ΛΦ, columns v_j
    lam_j, lam_c = np.nonzero(lay.lam[g] >= 0)
    beta_i, beta_j = np.nonzero(lay.beta[g] >= 0)
    psi_c = np.nonzero(lay.psi[g] >= 0)[0]
    th_j = np.nonzero(lay.theta[g] >= 0)[0]
    nu_j = np.nonzero(lay.nu[g] >= 0)[0]
    al_c = np.nonzero(lay.alpha[g] >= 0)[0]
    ids = np.concatenate([lay.lam[g][lam_j, lam_c], lay.beta[g][beta_i, beta_j], lay.psi[g][psi_c],
                          lay.theta[g][th_j], lay.nu[g][nu_j], lay.alpha[g][al_c]])
    sizes = np.cumsum([0, lam_j.size, beta_i.size, psi_c.size, th_j.size, nu_j.size, al_c.size])
    dS = np.zeros((ids.size, p, p))
    dm = np.zeros((ids.size, p))
    r = np.arange(sizes[0], sizes[1])
    dS[r, lam_j, :] = V[:, lam_c].T
    dm[r, lam_j] = kappa[lam_c]
    r = slice(sizes[1], sizes[2])
    dS[r] = U[:, beta_i].T[:, :, None] * V[:, beta_j].T[:, None, :]
    dm[r] = U[:, beta_i].T * kappa[beta_j][:, None]
    r = slice(sizes[2], sizes[3])
    dS[r] = 0.5 * U[:, psi_c].T[:, :, None] * U[:, psi_c].T[:, None, :]
    dS[np.arange(sizes[3], sizes[4]), th_j, th_j] = 0.5
    dm[np.arange(sizes[4], sizes[5]), nu_j] = 1.0
    dm[sizes[5]:] = U[:, al_c].T
    dS = dS + dS.transpose(0, 2, 1)  # symmetric dΣ/dθ
    G_sigma = Si - Si @ (m.cov + np.outer(d, d)) @ Si
    G_mu = -2 * Si @ d
    grad_local = np.einsum("qij,ij->q", dS, G_sigma) + dm @ G_mu
    grad = np.zeros(lay.n_par)
    np.add.at(grad, ids, grad_local)
    info = None
    if need_info:
        a = Si @ dS                                       # Σ⁻¹dΣ_q
        q = len(ids)
        h = a.reshape(q, -1) @ a.transpose(0, 2, 1).reshape(q, -1).T + 2 * dm @ Si @ dm.T
        info = np.zeros((lay.n_par, lay.n_par))
        np.add.at(info, (ids[:, None], ids[None, :]), h)
    return float(f), grad, info


def _objective(x, lay: Layout, data: GroupData, need_info: bool = True, need_grad: bool = True):
    """Σ_g n_g/N · F_g with gradient and expected Hessian (2 × Fisher information per case)."""
    w = data.n / data.n.sum()
    total, grad, info = 0.0, np.zeros(lay.n_par), np.zeros((lay.n_par, lay.n_par)) if need_info else None
    for g, m in enumerate(data.moments):
        f, gr, inf = _group_terms(x, lay, g, m, need_info, need_grad)
        if not np.isfinite(f):
            return np.inf, None, None
        total += w[g] * f
        if need_grad:
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
                f_t = _objective(trial, lay, data, need_info=False, need_grad=False)[0]
                if f_t <= f + 1e-13 * max(1.0, abs(f)):
                    break
                t /= 2
            else:
                break
            x = trial
            f, grad, info = _objective(x, lay, data)
            if np.max(np.abs(t * step)) < STEP_TOL or np.max(np.abs(grad)) < 1e-9:
                break
        return x, f, grad

    with np.errstate(all="ignore"):
        x, f, grad = scoring(np.asarray(x0, dtype=float))
        if not np.max(np.abs(grad)) < GRAD_TOL:
            def value_and_gradient(z):
                f_z, g_z, _ = _objective(z, lay, data, need_info=False)
                return (f_z, g_z) if np.isfinite(f_z) else (1e10, np.zeros_like(z))  # outside: reject

            res = optimize.minimize(value_and_gradient, x, jac=True, method="BFGS",
                                    options={"gtol": 1e-9, "maxiter": 5000})
            x, f, grad = scoring(res.x)
    grad_max = float(np.max(np.abs(grad)))
    return x, float(f), bool(np.isfinite(f) and grad_max < GRAD_TOL), grad_max


def _measures(fmin: float, n_par: int, data: GroupData) -> dict:
    """lavaan's fitMeasures for a multi-group model: χ² = N·F, baseline with free means and
    variances per group, CFI and TLI as ``stats.fit_indices``, RMSEA × √G (Steiger 1998)."""
    n_groups, p = len(data.moments), data.moments[0].cov.shape[0]
    N = float(data.n.sum())
    chi2 = N * fmin
    df = n_groups * (p * (p + 1) // 2 + p) - n_par
    chi2_b = sum(-m.n * np.linalg.slogdet(m.corr)[1] for m in data.moments)
    df_b = n_groups * p * (p - 1) // 2
    d, d_b = max(chi2 - df, 0.0), max(chi2_b - df_b, 0.0)
    cfi = 1.0 if max(d, d_b) == 0 else 1 - d / max(d, d_b)
    tli = ((chi2_b / df_b) - (chi2 / df)) / ((chi2_b / df_b) - 1) if df > 0 else float("nan")
    root_g = np.sqrt(n_groups)
    rmsea = float(np.sqrt(d / (N * df))) * root_g if df > 0 else float("nan")
    lo, hi = stats.rmsea_ci(chi2, df, int(N))
    return {"chi2": float(chi2), "df": int(df),
            "chi2_p_value": float(sps.chi2.sf(chi2, df)) if df > 0 else float("nan"),
            "cfi": float(cfi), "tli": float(tli), "rmsea": rmsea,
            "rmsea_ci": [lo * root_g, hi * root_g], "npar": int(n_par),
            "baseline_chi2": float(chi2_b), "baseline_df": int(df_b)}


def fit_level(spec: CSISpec, data: GroupData, level: str, start: list[tuple],
              free_intercepts=(), free_loadings=()) -> LevelFit:
    """Fit one invariance level from per-group start matrices."""
    lay = layout(spec, len(data.moments), level, free_intercepts, free_loadings)
    x, f, ok, gmax = _minimise(lay, data, _pack(lay, start, data.n / data.n.sum()))
    measures = {**_measures(f, lay.n_par, data), "converged": ok, "gradient_max": gmax}
    return LevelFit(level, lay, x, f, ok, gmax, tuple(free_intercepts), measures)


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


def split(data: pd.DataFrame, column, values: np.ndarray, spec: CSISpec) -> tuple[GroupData, dict]:
    """Complete responses per group (sorted labels; the first is lavaan's reference group).

    Raises DataError for an unknown or item column, fewer than two or more than ``MAX_GROUPS``
    groups, or a group with fewer complete responses than ``checks.min_responses(spec)``:
    dropping it silently would change what is compared, so the analyst merges or drops it.
    """
    column = str(column)
    if column not in map(str, data.columns):
        raise DataError(f"group column {column!r} is not in the data; name one of its columns")
    if column in spec.observed:
        raise DataError(f"group column {column!r} is an item of construct {spec.construct_of(column)}; "
                        "group by a column that is not an item")
    raw = data.loc[:, [c for c in data.columns if str(c) == column]].iloc[:, 0]
    text = raw.astype("string").str.strip()
    if pd.api.types.is_float_dtype(raw) and raw.dropna().mod(1).eq(0).all():
        text = raw.astype("Int64").astype("string")
    labels = text.mask(text == "").to_numpy(dtype=object, na_value=None)
    has_label = np.array([v is not None for v in labels])
    complete = ~np.isnan(values).any(axis=1)
    levels = pd.unique(labels[has_label])
    if len(levels) > MAX_GROUPS:
        raise DataError(f"group column {column!r} has {len(levels)} different values; at most "
                        f"{MAX_GROUPS} groups can be compared: use a column with fewer categories")
    if len(levels) < 2:
        raise DataError(f"group column {column!r} has {len(levels)} value(s); comparing groups needs at least 2")
    numeric = pd.to_numeric(pd.Series(levels), errors="coerce")
    order = sorted(levels, key=lambda v: (0, float(pd.to_numeric(v)), "") if numeric.notna().all() else (1, 0, v))
    need = checks.min_responses(spec)
    small = {lab: int((complete & (labels == lab)).sum()) for lab in order}
    small = {lab: n for lab, n in small.items() if n < need}
    if small:
        listed = ", ".join(f"{lab!r}: {n}" for lab, n in small.items())
        raise DataError(f"group(s) {listed} have fewer than {need} complete responses (one per free "
                        f"parameter of each group's model); merge small groups or leave them out of {column!r}")
    moments = []
    for lab in order:
        m = stats.Moments.from_values(values[complete & (labels == lab)])
        try:
            checks.check_variance(m.cov, spec)
        except DataError as err:
            raise DataError(f"in group {lab!r}: {err}") from None
        moments.append(m)
    excluded = {"missing_group": int((~has_label).sum()),
                "missing_answer": int((has_label & ~complete).sum())}
    return GroupData(tuple(str(v) for v in order), tuple(moments)), {k: v for k, v in excluded.items() if v}


def _solution(fit: LevelFit, g: int) -> stats.Solution:
    L, B, Psi, Th, _, _ = fit.matrices(g)
    return stats.Solution(B=B, Lambda=L, Psi=Psi, Theta=Th)


def _tests(spec: CSISpec, data: GroupData, base: LevelFit, kind: str) -> list[dict]:
    """Likelihood-ratio test of each item's equality constraint: the constraint freed alone
    (lavaan ``group.partial``), Δχ² = χ²(base) − χ²(freed), df = groups − 1, and the freed
    parameter's difference from the first group. Items of single-item constructs (intercept) and
    marker items (loading) have no constraint to test."""
    obs, codes = list(spec.observed), spec.codes
    start = [_state(base, g) for g in range(len(data.moments))]
    out = []
    for code in codes:
        items = spec.items[code]
        if len(items) < 2:
            continue
        for item in (items if kind == "intercept" else items[1:]):
            j, c = obs.index(item), codes.index(code)
            if kind == "intercept":
                freed = fit_level(spec, data, base.level, start, free_intercepts=base.free_intercepts + (j,))
                value = lambda g: freed.matrices(g)[4][j]  # noqa: E731
            else:
                freed = fit_level(spec, data, base.level, start, free_intercepts=base.free_intercepts,
                                  free_loadings=(j,))
                value = lambda g: freed.matrices(g)[0][j, c]  # noqa: E731
            dchi = base.measures["chi2"] - freed.measures["chi2"]
            ddf = len(data.moments) - 1
            out.append({"item": item, "construct": code, "delta_chi2": float(dchi), "delta_df": ddf,
                        "p_value": float(sps.chi2.sf(max(dchi, 0.0), ddf)),
                        "difference": {lab: float(value(g) - value(0))
                                       for g, lab in enumerate(data.labels) if g},
                        "converged": freed.converged})
    return sorted(out, key=lambda r: -r["delta_chi2"])


def _significant(tests: list[dict]) -> list[str]:
    """Items whose constraint test is significant at .05 / number of tests (Bonferroni)."""
    return [r["item"] for r in tests if r["p_value"] < 0.05 / max(len(tests), 1)]


def _partial_scalar(spec, data, metric: LevelFit, scalar: LevelFit, ranked: list[dict]):
    """Free the worst intercepts one at a time, keeping at least ``MIN_EQUAL_INTERCEPTS`` equal
    per construct, until the Chen criteria hold against the metric model (or no item is left)."""
    obs = list(spec.observed)
    freed, fit = [], None
    start = [_state(scalar, g) for g in range(len(data.moments))]
    for row in ranked:
        code = row["construct"]
        if len(set(spec.items[code]) - set(freed)) - 1 < MIN_EQUAL_INTERCEPTS:
            continue
        freed.append(row["item"])
        fit = fit_level(spec, data, "scalar", start, free_intercepts=tuple(obs.index(i) for i in freed))
        start = [_state(fit, g) for g in range(len(data.moments))]
        if _delta(fit.measures, metric.measures)["holds"]:
            break
    return fit, freed


def _negative_variances(spec: CSISpec, fits: dict, labels) -> list[str]:
    """Free error or latent variances below zero, per group (lavaan: "some estimated ov
    variances are negative")."""
    found = []
    obs = list(spec.observed)
    for g, label in enumerate(labels):
        for level, fit in fits.items():
            _, _, Psi, Th, _, _ = fit.matrices(g)
            bad = [obs[j] for j in np.flatnonzero(fit.layout.theta[g] >= 0) if Th[j, j] < 0]
            bad += [spec.codes[c] for c in range(Psi.shape[0]) if Psi[c, c] < 0]
            if bad:
                found.append(f"group {label!r}: {', '.join(bad)}")
                break
    return found


def covariance(fit: LevelFit, data: GroupData) -> np.ndarray:
    """Sampling covariance of the free parameters: the inverse expected information
    (N/2 · ∂²F)⁻¹, lavaan's default ``information = "expected"`` for complete data."""
    info = _objective(fit.x, fit.layout, data)[2]
    return np.linalg.pinv(data.n.sum() / 2 * info)


def _invariant_scores(spec: CSISpec, data: GroupData, basis: LevelFit, weights: dict, scale) -> list[dict]:
    """Per group and construct: the latent mean E[η] = (I − B)⁻¹α (0 in the first group) and the
    index with the shared intercepts, ``w'(ν₁ + λκ)`` on 0-100 (ν₁: the first group's intercepts,
    the shared ones at scalar level), each with a delta-method SE (weights fixed)."""
    obs, codes = list(spec.observed), spec.codes
    k = len(codes)
    cov = covariance(basis, data)

    def values(x, g):
        L, B, _, _, _, al = _matrices(x, basis.layout, g, k)
        nu0 = _matrices(x, basis.layout, 0, k)[4]
        kappa = np.linalg.solve(np.eye(k) - B, al)
        out = []
        for c, code in enumerate(codes):
            items = [obs.index(i) for i in spec.items[code]]
            out += [kappa[c], float(scores.to_index(weights[code] @ (nu0[items] + L[items, c] * kappa[c]), scale))]
        return np.array(out)

    rows = []
    h = 1e-6
    for g in range(len(data.moments)):
        centre = values(basis.x, g)
        jac = np.array([(values(basis.x + h * e, g) - values(basis.x - h * e, g)) / (2 * h)
                        for e in np.eye(basis.layout.n_par)]).T
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0, None))
        rows.append({code: {"latent_mean": float(centre[2 * c]),
                            "latent_mean_se": float(se[2 * c]) if g else float("nan"),
                            "index_invariant": float(centre[2 * c + 1]),
                            "index_invariant_ci": [float(centre[2 * c + 1] - stats.Z975 * se[2 * c + 1]),
                                                   float(centre[2 * c + 1] + stats.Z975 * se[2 * c + 1])]}
                     for c, code in enumerate(codes)})
    return rows


def analyse(spec: CSISpec, data: GroupData, scale, pooled: stats.Solution) -> tuple[dict, dict, list]:
    """Fit the three levels from the pooled solution and return (invariance, groups, warnings).

    Group indices use the metric model's loadings (equal across groups by construction)
    normalized to sum to one per construct, so every group is scored on one yardstick;
    they are called comparable only at (partial) scalar invariance.
    """
    n_groups = len(data.moments)
    start = [(pooled.Lambda, pooled.B, np.diag(pooled.Psi), np.diag(pooled.Theta), m.mean,
              np.zeros(len(spec.constructs))) for m in data.moments]
    fits = {}
    for level in LEVELS:
        fits[level] = fit_level(spec, data, level, start)
        start = [_state(fits[level], g) for g in range(n_groups)]
    inv = {"configural": {**fits["configural"].measures, "p_value": float("nan")}}
    for prev, level in zip(LEVELS, LEVELS[1:]):
        inv[level] = {**fits[level].measures, **_delta(fits[level].measures, fits[prev].measures)}
    rules = verdicts.FIT_RULES
    conf = inv["configural"]
    conf_ok = conf["converged"] and conf["cfi"] >= rules["cfi"][1] and conf["rmsea"] <= rules["rmsea"][1]
    level = ("none" if not conf_ok else "configural" if not inv["metric"]["holds"]
             else "metric" if not inv["scalar"]["holds"] else "scalar")
    intercepts = _tests(spec, data, fits["scalar"], "intercept")
    partial = None
    basis = fits["scalar"] if level == "scalar" else None
    if level == "metric":
        pfit, freed = _partial_scalar(spec, data, fits["metric"], fits["scalar"], intercepts)
        if pfit is not None:
            partial = {"free_intercepts": freed, **pfit.measures, **_delta(pfit.measures, fits["metric"].measures)}
            if partial["holds"]:
                basis = pfit
    comparable = basis is not None
    loadings = _tests(spec, data, fits["metric"], "loading") if level in ("none", "configural") else []
    if level in ("none", "configural"):
        differing = _significant(loadings)
    elif partial and partial["holds"]:
        differing = list(partial["free_intercepts"])
    else:
        differing = _significant(intercepts) if level == "metric" else []
    inv.update({"level": level, "comparable": comparable, "partial_scalar": partial,
                "intercept_tests": intercepts, "loading_tests": loadings, "differing_items": differing,
                "reference_group": data.labels[0],
                "criteria": {"delta_cfi": DELTA_CFI, "delta_rmsea": DELTA_RMSEA}})

    metric = fits["metric"]
    weights, _ = scores.index_weights(_solution(metric, 0), spec, metric.converged)
    inv["weights"] = {code: dict(zip(spec.items[code], map(float, w))) for code, w in weights.items()}
    inv["weights_basis"] = "metric_loadings"
    groups = {}
    invariant = _invariant_scores(spec, data, basis, weights, scale) if comparable else None
    for g, (label, m) in enumerate(zip(data.labels, data.moments)):
        idx = scores.construct_indices(stats.ItemMeans.from_moments(m), spec, weights, scale)
        constructs = {}
        for c, code in enumerate(spec.constructs):
            row = {"index": idx[code]["index"], "index_se": idx[code]["index_se"],
                   "index_ci": idx[code]["index_ci"], "latent_mean": None, "latent_mean_se": None,
                   "index_invariant": None, "index_invariant_ci": None}
            if comparable:
                row.update(invariant[g][code])
            constructs[code] = row
        groups[label] = {"n": int(m.n), "constructs": constructs}

    problems = []
    unverified = [lvl for lvl, f in fits.items() if not f.converged]
    if unverified:
        text = (f"the multi-group {', '.join(unverified)} model(s) did not reach a verified optimum; "
                "treat the invariance tests as unreliable")
        exceptions.warn(text, InvarianceWarning, stacklevel=3)
        problems.append({"code": "invariance_not_converged", "message": text})
    improper = _negative_variances(spec, fits, data.labels)
    if improper:
        problems.append({"code": "group_heywood", "message": "negative variance estimates in the "
                         f"multi-group models ({'; '.join(improper)}), as lavaan reports them; a group "
                         "may be too small for the model: read its comparison with caution"})
    if not comparable:
        what = {"none": "the model does not fit every group (configural invariance fails)",
                "configural": "loadings differ between groups (metric invariance fails)",
                "metric": "item intercepts differ between groups (scalar invariance fails)"}[level]
        named = f" (items: {', '.join(differing)})" if differing else ""
        problems.append({"code": "not_invariant", "message": f"{what}{named}; group indices are "
                         "not comparable: groups may read or use these items differently"})
    return inv, groups, problems


def attach(result, data: GroupData, excluded: dict, pooled: stats.Solution):
    """The pooled result with ``invariance`` and ``groups`` added and their warnings appended."""
    inv, grp, problems = analyse(result.spec, data, result.scale, pooled)
    inv["excluded"] = excluded
    return dataclasses.replace(result, invariance=inv, groups=grp,
                               warnings=tuple(result.warnings) + tuple(problems))


def text_lines(inv: dict, groups: dict, decimals: int = 3) -> list[str]:
    """The invariance table and the group indices for ``CSIResult.to_text``."""
    f = lambda v, nd=decimals: "-" if v is None else f"{v:.{nd}f}"  # noqa: E731
    lines = ["", f"Measurement invariance across groups (reference group {inv['reference_group']!r}; "
             f"a level holds if CFI drops <= {DELTA_CFI} and RMSEA rises <= {DELTA_RMSEA}):",
             f"  {'Level':<16}{'chi2':>10}{'df':>6}{'CFI':>8}{'RMSEA':>8}{'d_chi2':>10}{'d_df':>6}"
             f"{'p':>8}{'d_CFI':>8}{'d_RMSEA':>9}  holds"]
    rows = [(lvl, inv[lvl]) for lvl in LEVELS]
    if inv.get("partial_scalar"):
        rows.append(("partial scalar", inv["partial_scalar"]))
    for name, r in rows:
        extra = (f"{f(r['delta_chi2'], 2):>10}{r['delta_df']:>6}{f(r['p_value']):>8}{f(r['delta_cfi']):>8}"
                 f"{f(r['delta_rmsea']):>9}  {'yes' if r['holds'] else 'NO'}") if "delta_chi2" in r else ""
        lines.append(f"  {name:<16}{f(r['chi2'], 2):>10}{r['df']:>6}{f(r['cfi']):>8}{f(r['rmsea']):>8}{extra}")
    partial = inv.get("partial_scalar") or {}
    lines.append(f"  Invariance level: {inv['level']}"
                 + (f" (partial scalar: intercepts of {', '.join(partial['free_intercepts'])} differ)"
                    if partial.get("holds") else "")
                 + f"; group indices {'ARE' if inv['comparable'] else 'are NOT'} comparable")
    if inv["differing_items"]:
        lines.append(f"  Items that differ between groups: {', '.join(inv['differing_items'])}")
    labels = list(groups)
    lines += ["", "Group indices (0-100, common weights from the equal-loadings model"
              + ("; 'adj' = with the shared item intercepts" if inv["comparable"] else "") + "):",
              f"  {'Construct':<10}" + "".join(f"{lab[:14] + ' (n=' + str(groups[lab]['n']) + ')':>22}"
                                               for lab in labels)]
    for code in groups[labels[0]]["constructs"]:  # construct order of the spec
        cells = []
        for lab in labels:
            c = groups[lab]["constructs"][code]
            adj = f" adj {f(c['index_invariant'], 1)}" if c["index_invariant"] is not None else ""
            cells.append(f"{f(c['index'], 1) + adj:>22}")
        lines.append(f"  {code:<10}" + "".join(cells))
    return lines
