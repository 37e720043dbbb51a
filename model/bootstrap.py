"""Nonparametric bootstrap: rows resampled with replacement, every draw refitted.

Each draw re-estimates the model *and* the index weights (from that draw's loadings), so the
percentile intervals of impacts, importance, priorities and indices carry the uncertainty of
the weights too, which the delta-method index CI (weights fixed) does not.

Speed comes from three things. (1) A draw never materialises its resample for complete data:
the resample is a vector of counts (how often each row was drawn, ``np.bincount``), and its
mean and cross-products are count-weighted sums over the original rows. (2) The ML fit of a
draw is Newton's method from the full-sample estimates (warm start) on those moments, a few
14x14 matrix steps instead of a cold semopy fit; a FIML draw is Newton's method over (θ, μ) on
the draw's answer patterns (``fiml.Patterns``). (3) Draws run in a process pool. Draw ``i``
takes its random numbers from ``SeedSequence(seed, spawn_key=(i,))``, so the numbers depend on
the seed and the draw index only, never on how draws are split over processes.

Draws whose fit does not converge are counted in ``failed`` and left out, as lavaan's
``bootstrapLavaan`` does; variances are not bounded in a draw (lavaan's default), so an
improper draw still counts. The per-draw estimator is a plain function
``estimate_fn(resample, start) -> DrawFit`` so other estimators (MLR has ML's point estimates;
PLS, :func:`pls_estimate`) plug into :func:`run` unchanged.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from . import scores
from .fiml import Patterns
from .spec import CSISpec
from .stats import Moments, Solution

LEVEL = 0.95
MAX_WORKERS = 2          # the target machine has two cores
NEWTON_DONE = 1e-6       # a draw has converged when a full Newton step moved no parameter more,
STEP_TOL = 1e-9          # or any step moved none more than this
GRAD_TOL = 1e-6          # with the gradient (per row) this close to zero
NEWTON_MAXITER = 100
_CHUNKS_PER_WORKER = 4   # draws are sent in blocks: few messages, still balanced
PROGRESS_STEPS = 20      # blocks when the caller follows the progress (every 5%)


# ----------------------------------------------------------------------------- the model


class Structure:
    """Σ(θ) = Λ(I−B)⁻¹Ψ(I−B)⁻ᵀΛᵀ + Θ and dΣ/dθ for the CSI model with lavaan's ``sem()``
    defaults (first loading 1, diagonal Ψ and Θ, single-item construct: Θ fixed at 0).

    θ = (free loadings, the spec's paths, the latent (disturbance) variances, free error
    variances): the same parameters as the semopy/lavaan model, in a fixed order.
    """

    def __init__(self, spec: CSISpec):
        codes = spec.codes
        self.p, self.m = len(spec.observed), len(codes)
        lam, theta = [], []
        self.fixed_lambda = np.zeros((self.p, self.m))
        for k, code in enumerate(codes):
            idx = [spec.observed.index(item) for item in spec.items[code]]
            self.fixed_lambda[idx[0], k] = 1.0
            lam += [(j, k) for j in idx[1:]]
            if len(idx) > 1:
                theta += idx
        self.lam_rows, self.lam_cols = (np.array([x[i] for x in lam], dtype=int) for i in (0, 1))
        self.b_rows = np.array([codes.index(b) for _, b in spec.paths])
        self.b_cols = np.array([codes.index(a) for a, _ in spec.paths])
        self.theta_idx = np.array(theta, dtype=int)
        sizes = [len(lam), len(spec.paths), self.m, len(theta)]
        self.cut = np.cumsum([0] + sizes)
        self.k = int(self.cut[-1])
        self._eye = np.eye(self.m)
        j, k, i, l, q = self.lam_rows, self.lam_cols, self.b_rows, self.b_cols, np.arange(self.m)
        ix = np.ix_
        self._ix = {"jj": ix(j, j), "kk": ix(k, k), "ji": ix(j, i), "lk": ix(l, k), "jl": ix(j, l),
                    "ki": ix(k, i), "jq": ix(j, q), "kq": ix(k, q), "li": ix(l, i), "ll": ix(l, l),
                    "ii": ix(i, i), "lq": ix(l, q), "qi": ix(q, i)}
        self._blocks = [slice(self.cut[n], self.cut[n + 1]) for n in range(4)]
        self._theta_rows = self.cut[3] + np.arange(self.theta_idx.size)
        self._lam_range = np.arange(self.cut[1])

    def _parts(self, x: np.ndarray):
        """Λ, B, the latent variances ψ and the error variances θ (vectors) of a parameter vector."""
        c = self.cut
        lam = self.fixed_lambda.copy()
        lam[self.lam_rows, self.lam_cols] = x[c[0]:c[1]]
        b = np.zeros((self.m, self.m))
        b[self.b_rows, self.b_cols] = x[c[1]:c[2]]
        theta = np.zeros(self.p)
        theta[self.theta_idx] = x[c[3]:c[4]]
        return lam, b, x[c[2]:c[3]], theta

    def unpack(self, x: np.ndarray) -> Solution:
        lam, b, psi, theta = self._parts(x)
        return Solution(B=b, Lambda=lam, Psi=np.diag(psi), Theta=np.diag(theta))

    def pack(self, sol: Solution) -> np.ndarray:
        return np.concatenate([sol.Lambda[self.lam_rows, self.lam_cols], sol.B[self.b_rows, self.b_cols],
                               np.diag(sol.Psi), np.diag(sol.Theta)[self.theta_idx]])

    def _matrices(self, x: np.ndarray):
        lam, b, psi, theta = self._parts(x)
        return lam, np.linalg.inv(self._eye - b), psi, theta

    def sigma(self, x: np.ndarray) -> np.ndarray:
        lam, a, psi, theta = self._matrices(x)
        la = lam @ a
        sigma = (la * psi) @ la.T
        sigma[np.diag_indices(self.p)] += theta
        return sigma

    def implied(self, x: np.ndarray):
        """Σ(θ) and dΣ/dθ stacked as (k, p, p) (every derivative is a rank-one or -two term)."""
        lam, a, psi, theta = self._matrices(x)
        la = lam @ a                              # items x latents: Λ(I−B)⁻¹
        g = (la * psi) @ a.T                      # Λ·C with C the latent covariance
        sigma = g @ lam.T
        sigma[np.diag_indices(self.p)] += theta
        c = self.cut
        d = np.zeros((self.k, self.p, self.p))
        r = self._lam_range
        cols = g[:, self.lam_cols].T              # dΣ/dΛ_jk = e_j·G_kᵀ + G_k·e_jᵀ
        d[r, self.lam_rows, :] = cols
        d[r, :, self.lam_rows] += cols
        u, v = la[:, self.b_rows].T, g[:, self.b_cols].T  # dΣ/dB_ij = u·vᵀ + v·uᵀ
        uv = u[:, :, None] * v[:, None, :]
        d[c[1]:c[2]] = uv + uv.transpose(0, 2, 1)
        lt = la.T
        d[c[2]:c[3]] = lt[:, :, None] * lt[:, None, :]  # dΣ/dΨ_kk
        d[self._theta_rows, self.theta_idx, self.theta_idx] = 1.0
        return sigma, d


    def curvature(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """tr(W·∂²Σ/∂θ_a∂θ_b): the Hessian of tr(WΣ(θ)) for a fixed symmetric W (the part of
        the Newton Hessian of F_ML that Fisher scoring leaves out; zero for Ψ–Ψ and Θ)."""
        lam, a, psi, _ = self._matrices(x)
        c = (a * psi) @ a.T
        m = lam.T @ w @ lam
        wla, wlc, cma, ama = w @ lam @ a, w @ lam @ c, c @ m @ a, a.T @ m @ a
        ix, s = self._ix, self._blocks
        h = np.zeros((self.k, self.k))
        h[s[0], s[0]] = 2 * w[ix["jj"]] * c[ix["kk"]]
        h[s[0], s[1]] = 2 * (wla[ix["ji"]] * c[ix["lk"]].T + wlc[ix["jl"]] * a[ix["ki"]])
        h[s[0], s[2]] = 2 * wla[ix["jq"]] * a[ix["kq"]]
        h[s[1], s[1]] = 2 * (a[ix["li"]] * cma[ix["li"]].T + c[ix["ll"]] * ama[ix["ii"]].T
                             + cma[ix["li"]] * a[ix["li"]].T)
        h[s[1], s[2]] = 2 * a[ix["lq"]] * ama[ix["qi"]].T
        upper = np.triu(h, 1)
        return np.diag(np.diag(h)) + upper + upper.T


def _f_ml(sigma: np.ndarray, S: np.ndarray) -> float:
    """log|Σ| + tr(SΣ⁻¹) up to a constant; inf if Σ is not positive definite."""
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return np.inf
    inv_chol = np.linalg.inv(chol)
    return float(2 * np.log(np.diag(chol)).sum() + np.sum((inv_chol @ S) * inv_chol))


def newton(structure: Structure, S: np.ndarray, x0: np.ndarray,
           maxiter: int = NEWTON_MAXITER) -> tuple[np.ndarray, bool]:
    """Minimise F_ML(S, Σ(θ)) by Newton's method with step halving, from ``x0``.

    The exact Hessian (expected information plus the terms Fisher scoring drops, which matter
    when the model misfits: Fisher scoring then converges only linearly, about 20 steps) is
    used where it is positive definite, the expected information elsewhere. From the
    full-sample estimates a draw needs 3-5 steps. Converged means a full Newton step moved no
    parameter more than ``NEWTON_DONE`` (convergence is quadratic, so about 1e-12 is left), or
    any step less than ``STEP_TOL`` with the gradient zero to ``GRAD_TOL``.
    """
    k = structure.k
    x = x0.copy()
    value = _f_ml(structure.sigma(x), S)
    if not np.isfinite(value):
        return x, False
    for _ in range(maxiter):
        sigma, d = structure.implied(x)
        inv = np.linalg.inv(sigma)
        inv_s = inv @ S
        w = inv - inv_s @ inv
        grad = d.reshape(k, -1) @ w.ravel()               # tr(W·Δ_a), W and Δ symmetric
        a = inv @ d                                       # Σ⁻¹Δ_a, stacked
        a_t = a.transpose(0, 2, 1).reshape(k, -1)
        info = a.reshape(k, -1) @ a_t.T                   # tr(Σ⁻¹Δ_aΣ⁻¹Δ_b)
        cross = (inv_s @ a).reshape(k, -1) @ a_t.T        # tr(Σ⁻¹Δ_aΣ⁻¹SΣ⁻¹Δ_b)
        hess = -info + cross + cross.T + structure.curvature(x, w)
        exact = _positive_definite(hess)
        try:
            step = np.linalg.solve(hess if exact else info, grad)
        except np.linalg.LinAlgError:
            return x, False
        t = 1.0
        while True:
            trial = x - t * step
            trial_value = _f_ml(structure.sigma(trial), S)
            if trial_value <= value + 1e-13 * abs(value):
                break
            t /= 2
            if t < 1e-6:
                return x, bool(np.max(np.abs(grad)) < GRAD_TOL)
        x, value = trial, trial_value
        moved = np.max(np.abs(t * step))
        if exact and t == 1.0 and moved < NEWTON_DONE:
            return x, True      # quadratic convergence: the error left is of order moved²
        if moved < STEP_TOL:
            return x, bool(np.max(np.abs(grad)) < GRAD_TOL)
    return x, False


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


# ----------------------------------------------------------------------------- resamples


@dataclass(frozen=True)
class Resample:
    """One bootstrap draw, as sufficient statistics.

    ``counts[i]`` is how often row ``i`` was drawn. ``moments`` are the model's moments of the
    resample (complete data or listwise: count-weighted mean and ML covariance of the complete
    rows), ``patterns`` the resample grouped by answer pattern (FIML), ``item_means`` the item
    means the index averages (the EM means under FIML, as in the full-sample fit).
    """

    counts: np.ndarray
    item_means: np.ndarray
    moments: Moments | None = None
    patterns: Patterns | None = None


@dataclass(frozen=True)
class DrawFit:
    """What an estimator returns for one draw; ``weights`` None means scores.index_weights."""

    solution: Solution | None
    converged: bool
    weights: dict | None = None


@dataclass(frozen=True)
class _Data:
    """The rows a draw resamples, prepared once (inherited by forked workers)."""

    values: np.ndarray      # rows the analysis uses (NaN = no answer)
    filled: np.ndarray      # NaN as 0, centred on the complete-row mean (for stable cross-products)
    answered: np.ndarray    # float mask
    complete: np.ndarray    # float mask of complete rows
    centre: np.ndarray
    fiml: bool

    @classmethod
    def from_values(cls, values: np.ndarray, fiml: bool) -> "_Data":
        answered = ~np.isnan(values)
        complete = answered.all(axis=1)
        centre = values[complete].mean(axis=0) if complete.any() else np.nanmean(values, axis=0)
        filled = np.where(answered, values - centre, 0.0)
        return cls(values, filled, answered.astype(float), complete.astype(float), centre, fiml)

    def resample(self, counts: np.ndarray) -> Resample:
        c = counts.astype(float)
        per_item = c @ self.answered
        item_means = self.centre + (c @ self.filled) / per_item
        if self.fiml:  # the index averages the EM means under FIML, as the full-sample fit does
            patterns = Patterns.from_values(np.repeat(self.values, counts, axis=0))
            return Resample(counts, patterns.saturated()[0], patterns=patterns)
        cc = c * self.complete
        n = int(cc.sum())
        mean = (cc @ self.filled) / n
        cov = (self.filled * cc[:, None]).T @ self.filled / n - np.outer(mean, mean)
        return Resample(counts, item_means, moments=Moments(n, self.centre + mean, (cov + cov.T) / 2))


# ----------------------------------------------------------------------------- estimators


def ml_estimate(structure: Structure):
    """Per-draw ML from the draw's moments, warm-started at the full-sample estimates."""
    def estimate_fn(resample: Resample, start: dict) -> DrawFit:
        x, ok = newton(structure, resample.moments.cov, start["x"])
        return DrawFit(structure.unpack(x) if ok else None, ok)
    return estimate_fn


def _fiml_terms(structure: Structure, patterns: Patterns, x: np.ndarray, mu: np.ndarray,
                hessian: bool = True):
    """F = Σ_g n_g·(log|Σ_g| + tr(Σ_g⁻¹M_g)) (−2·logL up to a constant; Σ_g, M_g the answered
    block of Σ and of the pattern's moments about μ), its gradient in (θ, μ) and, with
    ``hessian``, its exact Hessian and the expected information.

    Each pattern's Σ_g⁻¹ and Σ_g⁻¹M_gΣ_g⁻¹ are embedded in p x p (zeros where unanswered) as P_g
    and R_g; every trace over patterns is then one product with D = dΣ/dθ, e.g.
    Σ_g n_g·tr(Σ_g⁻¹Δ_aΣ_g⁻¹Δ_b) = vec(Δ_a)ᵀ(Σ_g n_g P_g ⊗ P_g)vec(Δ_b), so the cost grows with
    the number of patterns only through p²-sized sums.
    """
    big_k, p = structure.k, structure.p
    sigma = structure.sigma(x) if not hessian else None
    if hessian:
        sigma, d = structure.implied(x)
    value = 0.0
    ns, ps, rs, us = [], [], [], []
    for g in patterns.groups:
        o, n = g.obs, g.n
        rows, cols = o[:, :, None], o[:, None, :]
        s_g = sigma[rows, cols]
        sign, logdet = np.linalg.slogdet(s_g)
        if np.any(sign <= 0):
            return np.inf, None, None, None
        inv = np.linalg.inv(s_g)
        dev = g.mean - mu[o]
        moment = g.cov + dev[:, :, None] * dev[:, None, :]
        inv_m = inv @ moment
        value += float(n @ (logdet + np.einsum("gii->g", inv_m)))
        if not hessian:
            continue
        first = np.arange(o.shape[0])[:, None, None]
        embed_p, embed_r, embed_u = np.zeros((o.shape[0], p, p)), np.zeros((o.shape[0], p, p)), np.zeros((o.shape[0], p))
        embed_p[first, rows, cols] = inv
        embed_r[first, rows, cols] = inv_m @ inv
        embed_u[np.arange(o.shape[0])[:, None], o] = np.einsum("gij,gj->gi", inv, dev)
        ns.append(n), ps.append(embed_p), rs.append(embed_r), us.append(embed_u)
    if not hessian:
        return value, None, None, None
    n, pp, rr, uu = (np.concatenate(v) for v in (ns, ps, rs, us))
    npf = (n[:, None] * pp.reshape(n.size, -1)).T            # (p², G): n_g·P_g[i, j]
    flat = d.reshape(big_k, -1)

    def traces(other):   # Σ_g n_g tr(P_g Δ_a X_g Δ_b) as vec(Δ_a)ᵀ·Q·vec(Δ_b)
        q = (npf @ other.reshape(n.size, -1)).reshape(p, p, p, p).transpose(1, 2, 3, 0).reshape(p * p, p * p)
        return flat @ q @ flat.T

    info, cross = traces(pp), traces(rr)
    w_full = np.einsum("g,gij->ij", n, pp - rr)
    g_mu = -2 * n @ uu
    grad = np.concatenate([flat @ w_full.ravel(), g_mu])
    t = (npf @ uu).reshape(p, p, p).transpose(1, 2, 0).reshape(p * p, p)  # [(j,k), i]: Σ n P_ij u_k
    h_tm = 2 * flat @ t
    h_mm = 2 * np.einsum("g,gij->ij", n, pp)
    h_tt = -info + cross + cross.T + structure.curvature(x, w_full)
    hess = np.block([[h_tt, h_tm], [h_tm.T, h_mm]])
    expected = np.block([[info, np.zeros((big_k, p))], [np.zeros((p, big_k)), h_mm]])
    return value, grad, hess, expected


def fiml_newton(structure: Structure, patterns: Patterns, x0: np.ndarray, mu0: np.ndarray,
                maxiter: int = NEWTON_MAXITER) -> tuple[np.ndarray, np.ndarray, bool]:
    """Newton's method for FIML over (θ, μ) from the full-sample estimates, as :func:`newton`
    (exact Hessian where positive definite, expected information elsewhere; step halving)."""
    big_k = structure.k
    z = np.concatenate([x0, mu0])
    scale = patterns.n
    value = _fiml_terms(structure, patterns, z[:big_k], z[big_k:], hessian=False)[0]
    if not np.isfinite(value):
        return z[:big_k], z[big_k:], False
    for _ in range(maxiter):
        _, grad, hess, expected = _fiml_terms(structure, patterns, z[:big_k], z[big_k:])
        exact = _positive_definite(hess)
        try:
            step = np.linalg.solve(hess if exact else expected, grad)
        except np.linalg.LinAlgError:
            return z[:big_k], z[big_k:], False
        t = 1.0
        while True:
            trial = z - t * step
            trial_value = _fiml_terms(structure, patterns, trial[:big_k], trial[big_k:], hessian=False)[0]
            if trial_value <= value + 1e-13 * abs(value):
                break
            t /= 2
            if t < 1e-6:
                return z[:big_k], z[big_k:], bool(np.max(np.abs(grad)) / scale < GRAD_TOL)
        z, value = trial, trial_value
        moved = np.max(np.abs(t * step))
        if exact and t == 1.0 and moved < NEWTON_DONE:
            return z[:big_k], z[big_k:], True
        if moved < STEP_TOL:
            return z[:big_k], z[big_k:], bool(np.max(np.abs(grad)) / scale < GRAD_TOL)
    return z[:big_k], z[big_k:], False


def fiml_estimate(structure: Structure, maxiter: int = NEWTON_MAXITER):
    """Per-draw FIML over the draw's answer patterns, warm-started at the full-sample
    structural estimates and intercepts (:func:`fiml_newton`)."""
    def estimate_fn(resample: Resample, start: dict) -> DrawFit:
        x, _, ok = fiml_newton(structure, resample.patterns, start["x"], start["mu"], maxiter)
        return DrawFit(structure.unpack(x) if ok else None, ok)
    return estimate_fn


def pls_estimate(spec: CSISpec):
    """Per-draw PLS (``model.pls``) with ACSI index weights; PLS starts from unit weights, so
    ``start`` is unused. A draw with a non-positive outer weight is kept with equal weights for
    that construct, as the full-sample fit does."""
    from . import pls

    def estimate_fn(resample: Resample, start: dict) -> DrawFit:
        moments = resample.moments
        if moments is None:   # FIML: PLS is fitted to the EM moments
            moments = Moments(resample.patterns.n, *resample.patterns.saturated())
        est = pls.estimate(moments, spec)
        return DrawFit(est.solution, est.converged, pls.index_weights(est, spec)[0] if est.converged else None)
    return estimate_fn


# ----------------------------------------------------------------------------- statistics


def _upstream(spec: CSISpec, target: str) -> list[str]:
    from .assemble import _upstream as upstream
    return upstream(spec, target)


@dataclass(frozen=True)
class Layout:
    """Which statistic sits in which column of a draw's vector (fixed order, stated once)."""

    spec: CSISpec
    effects: tuple[tuple[str, str], ...]        # (driver, target) as in result.effects
    drivers: tuple[str, ...]                    # IPMA drivers (of CS), as in result.ipma
    items: tuple[tuple[str, str], ...]          # (item, construct) as in result.ipma_items
    slices: dict = field(default_factory=dict)
    where: dict = field(default_factory=dict)    # row/column indices of each statistic

    @classmethod
    def of(cls, spec: CSISpec) -> "Layout":
        from .assemble import IPMA_TARGET, TARGETS
        effects = tuple((d, t) for t in TARGETS for d in _upstream(spec, t))
        drivers = tuple(d for d, t in effects if t == IPMA_TARGET)
        items = tuple((item, d) for d in drivers for item in spec.items[d])
        p, m = len(spec.observed), len(spec.constructs)
        sizes = {"path": len(spec.paths), "path_std": len(spec.paths), "load": p, "load_std": p,
                 "impact": len(effects), "index": m, "imp": len(drivers), "perf": len(drivers),
                 "item_imp": len(items), "item_perf": len(items), "item_w": len(items)}
        slices, at = {}, 0
        for name, size in sizes.items():
            slices[name] = slice(at, at + size)
            at += size
        codes, observed = spec.codes, list(spec.observed)
        where = {
            "paths": ([codes.index(b) for _, b in spec.paths], [codes.index(a) for a, _ in spec.paths]),
            "loadings": (np.arange(p), [codes.index(spec.construct_of(x)) for x in observed]),
            "effects": ([codes.index(t) for _, t in effects], [codes.index(d) for d, _ in effects]),
            "items": [[observed.index(x) for x in spec.items[c]] for c in codes],
            "drivers": [codes.index(d) for d in drivers],
            "target": codes.index(IPMA_TARGET),
            "item_rows": [observed.index(x) for x, _ in items],
            "item_driver": [drivers.index(d) for _, d in items],
            "item_weight": [(codes.index(d), spec.items[d].index(x)) for x, d in items],
        }
        return cls(spec, effects, drivers, items, slices, where)

    @property
    def size(self) -> int:
        return max(s.stop for s in self.slices.values())


def draw_statistics(fit: DrawFit, resample: Resample, layout: Layout, scale) -> np.ndarray:
    """Every bootstrapped number of one draw, in ``layout`` order (weights re-estimated)."""
    sol, at, s = fit.solution, layout.where, layout.slices
    std = sol.standardized()
    weights = fit.weights or scores.index_weights(sol, layout.spec, True)[0]
    units = scores.score_units(sol, layout.spec, weights, scale)
    on_index = scores.index_effects(sol.total_effects, units)
    out = np.empty(layout.size)
    out[s["path"]], out[s["path_std"]] = sol.B[at["paths"]], std.B[at["paths"]]
    out[s["load"]], out[s["load_std"]] = sol.Lambda[at["loadings"]], std.Lambda[at["loadings"]]
    out[s["impact"]] = 5 * on_index[at["effects"]]
    means = resample.item_means
    index = scores.to_index([weights[c] @ means[idx] for c, idx in zip(layout.spec.constructs, at["items"])], scale)
    out[s["index"]] = index
    importance = on_index[at["target"], at["drivers"]]
    out[s["imp"]], out[s["perf"]] = importance, index[at["drivers"]]
    codes = layout.spec.codes
    w = np.array([weights[codes[k]][j] for k, j in at["item_weight"]])
    out[s["item_imp"]] = importance[at["item_driver"]] * w
    out[s["item_w"]] = w
    out[s["item_perf"]] = scores.to_index(means[at["item_rows"]], scale)
    return out


def share_top(importance: np.ndarray, performance: np.ndarray) -> np.ndarray:
    """Per row, the share of draws in which it ranks first by ``scores.priority_gain``;
    k rows tied for first in a draw get 1/k each, so the shares sum to one."""
    gain = scores.priority_gain(importance, performance)
    top = gain == gain.max(axis=1, keepdims=True)
    return (top / top.sum(axis=1, keepdims=True)).mean(axis=0)


# ----------------------------------------------------------------------------- running


_STATE: dict[str, Any] = {}


def _init(state: dict) -> None:
    from threadpoolctl import threadpool_limits
    _STATE.update(state)
    _STATE["_blas"] = threadpool_limits(limits=1, user_api="blas")  # small matrices: one thread


def _draw_block(first: int, stop: int) -> np.ndarray:
    """Statistics of draws [first, stop); a failed draw is a row of NaN."""
    st = _STATE
    data, layout = st["data"], st["layout"]
    n = data.values.shape[0]
    out = np.full((stop - first, layout.size), np.nan)
    with np.errstate(all="ignore"):
        for row, i in enumerate(range(first, stop)):
            rng = np.random.default_rng(np.random.SeedSequence(st["seed"], spawn_key=(i,)))
            counts = np.bincount(rng.integers(0, n, n), minlength=n)
            resample = data.resample(counts)
            try:
                fit = st["estimate_fn"](resample, st["start"])
            except (np.linalg.LinAlgError, ValueError, ArithmeticError):
                continue
            if fit.converged and fit.solution is not None:
                out[row] = draw_statistics(fit, resample, layout, st["scale"])
    return out


def _blocks(draws: int, workers: int, at_least: int = 1) -> list[tuple[int, int]]:
    n_blocks = max(1, min(draws, max(at_least, workers * _CHUNKS_PER_WORKER)))
    edges = np.linspace(0, draws, n_blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def default_workers() -> int:
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _run_blocks(state: dict, blocks, workers: int, progress: Callable | None = None) -> list[np.ndarray]:
    """Run blocks in a forked process pool; serially when processes are unavailable. ``progress(done,
    total)`` is called with the number of draws finished after each block."""
    total = sum(b - a for a, b in blocks)

    def report(done):
        if progress is not None:
            progress(done, total)

    if workers > 1 and len(blocks) > 1:
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_init,
                                     initargs=(state,)) as pool:
                out, done = [], 0
                for (a, b), part in zip(blocks, pool.map(_draw_block, *zip(*blocks))):
                    out.append(part)
                    done += b - a
                    report(done)
                return out
        except (OSError, ValueError, NotImplementedError, BrokenProcessPool, AssertionError):
            pass  # no fork here, a daemonic parent, or a broken pool: same numbers serially
    saved = dict(_STATE)
    try:
        _init(state)
        out, done = [], 0
        for a, b in blocks:
            out.append(_draw_block(a, b))
            done += b - a
            report(done)
        return out
    finally:
        _STATE.clear()
        _STATE.update(saved)


@dataclass(frozen=True)
class BootstrapResult:
    """The draws (successful ones, in draw order) and their summaries."""

    layout: Layout
    draws: int
    seed: int
    stats: np.ndarray        # (successful draws, layout.size)

    @property
    def failed(self) -> int:
        return self.draws - self.stats.shape[0]

    def column(self, name: str) -> np.ndarray:
        return self.stats[:, self.layout.slices[name]]

    def ci(self, name: str) -> np.ndarray:
        """Percentile interval per statistic: (k, 2); NaN without successful draws."""
        block = self.column(name)
        if block.shape[0] == 0:
            return np.full((block.shape[1], 2), np.nan)
        tail = (1 - LEVEL) / 2
        return np.quantile(block, [tail, 1 - tail], axis=0).T

    def se(self, name: str) -> np.ndarray:
        block = self.column(name)
        if block.shape[0] < 2:
            return np.full(block.shape[1], np.nan)
        return block.std(axis=0, ddof=1)

    def p_top(self, which: str) -> np.ndarray:
        imp, perf = ("imp", "perf") if which == "ipma" else ("item_imp", "item_perf")
        if self.stats.shape[0] == 0:
            return np.full(self.column(imp).shape[1], np.nan)
        return share_top(self.column(imp), self.column(perf))


def run(values: np.ndarray, spec: CSISpec, scale, estimate_fn: Callable, start: dict, *,
        draws: int, seed: int | None = None, fiml: bool = False,
        workers: int | None = None, progress: Callable | None = None) -> BootstrapResult:
    """Resample the rows of ``values`` ``draws`` times and refit each with ``estimate_fn``.

    ``values`` are the rows the analysis uses (FIML: rows with any answer; otherwise every row,
    the model then using a draw's complete rows). ``start`` is handed to ``estimate_fn`` (the
    full-sample estimates, for a warm start). ``seed`` None draws fresh entropy and reports it.
    ``progress(done, total)``, if given, is called as blocks of draws finish (at least
    ``PROGRESS_STEPS`` blocks then; the numbers do not depend on the blocks).
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    workers = default_workers() if workers is None else max(1, int(workers))
    layout = Layout.of(spec)
    state = {"data": _Data.from_values(np.asarray(values, dtype=float), fiml), "layout": layout,
             "estimate_fn": estimate_fn, "start": start, "seed": int(seed), "scale": tuple(scale)}
    blocks = _blocks(draws, workers, PROGRESS_STEPS if progress is not None else 1)
    parts = _run_blocks(state, blocks, workers, progress)
    stats = np.concatenate(parts) if parts else np.empty((0, layout.size))
    stats = stats[np.isfinite(stats).all(axis=1)]
    return BootstrapResult(layout, int(draws), int(seed), stats)


def ml_start(structure: Structure, est) -> dict:
    """Warm start for the ML / FIML draw estimators from a full-sample ``Estimation``."""
    start = {"x": structure.pack(est.solution)}
    if est.fiml is not None:
        start["mu"] = np.asarray(est.fiml.mu, dtype=float)
    return start


# ----------------------------------------------------------------------------- into the result


def _interval(row) -> list[float]:
    return [float(row[0]), float(row[1])]


def attach(result, boot: BootstrapResult):
    """A copy of ``result`` with the bootstrap fields added (see model/README.md), the decision
    layer (``model.decision``) recomputed with the draws."""
    from .decision import decide
    layout = boot.layout
    spec = layout.spec
    codes = spec.codes
    path_ci, path_se = boot.ci("path"), boot.se("path")
    std_ci, std_se = boot.ci("path_std"), boot.se("path_std")
    order = {(a, b): i for i, (a, b) in enumerate(spec.paths)}
    paths = []
    for row in result.paths:
        i = order[(row["from"], row["to"])]
        paths.append({**row, "boot_se": float(path_se[i]), "boot_ci": _interval(path_ci[i]),
                      "std_boot_se": float(std_se[i]), "std_boot_ci": _interval(std_ci[i])})
    load_ci, load_se, load_std_ci = boot.ci("load"), boot.se("load"), boot.ci("load_std")
    index_ci = boot.ci("index")
    constructs = {}
    for code, c in result.constructs.items():
        loadings = {}
        for item, ld in c["loadings"].items():
            j = spec.observed.index(item)
            loadings[item] = {**ld, "boot_se": float(load_se[j]), "boot_ci": _interval(load_ci[j]),
                              "std_boot_ci": _interval(load_std_ci[j])}
        constructs[code] = {**c, "loadings": loadings,
                            "index_boot_ci": _interval(index_ci[codes.index(code)])}
    impact_ci = boot.ci("impact")
    pos = {key: i for i, key in enumerate(layout.effects)}
    effects = [{**e, "impact_5pt_ci": _interval(impact_ci[pos[(e["from"], e["to"])]])}
               for e in result.effects]
    imp_ci, top = boot.ci("imp"), boot.p_top("ipma")
    ipma = [{**r, "importance_ci": _interval(imp_ci[layout.drivers.index(r["construct"])]),
             "p_top": float(top[layout.drivers.index(r["construct"])])} for r in result.ipma]
    item_ci, item_top = boot.ci("item_imp"), boot.p_top("items")
    item_pos = {item: i for i, (item, _) in enumerate(layout.items)}
    ipma_items = [{**r, "importance_ci": _interval(item_ci[item_pos[r["item"]]]),
                   "p_top": float(item_top[item_pos[r["item"]]])} for r in result.ipma_items]
    improve_first, decision = decide(spec, constructs, effects, paths, boot)
    extra = []
    if boot.failed:
        extra.append({"code": "bootstrap_failed", "message":
                      f"{boot.failed} of {boot.draws} bootstrap draws did not converge and were left out "
                      "of the bootstrap intervals (as lavaan does); many failures mean the model is "
                      "barely identified by these data: collect more responses or review weak items"})
    return replace(result, paths=tuple(paths), constructs=constructs, effects=tuple(effects),
                   ipma=tuple(ipma), ipma_items=tuple(ipma_items),
                   improve_first=improve_first, decision=decision,
                   warnings=tuple(result.warnings) + tuple(extra),
                   bootstrap={"draws": boot.draws, "failed": boot.failed, "seed": boot.seed},
                   bootstrap_draws=boot)


def bootstrap_fit(result, values: np.ndarray, spec: CSISpec, scale, est, *, draws: int,
                  seed: int | None, fiml: bool, workers: int | None = None, maxiter: int = 10_000,
                  progress: Callable | None = None):
    """Bootstrap a fitted result with its own estimator: ML (complete data / listwise), FIML,
    or PLS (``est`` a ``pls.PLSEstimation``; under FIML each draw's EM moments, as the fit)."""
    from . import pls
    if isinstance(est, pls.PLSEstimation):
        estimate_fn, start = pls_estimate(spec), {}
    else:
        structure = Structure(spec)
        estimate_fn = fiml_estimate(structure) if fiml else ml_estimate(structure)
        start = ml_start(structure, est)
    boot = run(values, spec, scale, estimate_fn, start, draws=draws, seed=seed, fiml=fiml,
               workers=workers, progress=progress)
    return attach(result, boot), boot
