"""Robust ML inference, as lavaan 0.6 ``estimator = "MLR"``: the ML estimates with Huber-White
sandwich standard errors and the Yuan-Bentler scaled chi² (Mplus variant), plus the robust and
scaled CFI, TLI and RMSEA.

Which matrices, as lavaan 0.6.14 builds them for MLR (``lavInspect(fit, "options")``):
information "observed" (the Hessian of the ML objective, numerically differentiated analytic
gradient, 4-point stencil with h = 1e-6) with the structured h1 for both the SEs and the test.

* SEs: vcov = E⁻¹·B₀·E⁻¹ / N, E the observed information per row, B₀ the mean outer product of
  the casewise scores at the fitted Σ̂ (and μ̂ under FIML; complete data have no mean structure,
  the scores use the sample means).
* Test (``yuan.bentler.mplus``): c = [tr(B₁A₁⁻¹) − tr(B₀E⁻¹)] / df with A₁, B₁ the observed and
  first-order information of the *unstructured* h1 (sample moments; EM moments under FIML);
  chi2_scaled = chi²/c. Complete data: tr(B₁A₁⁻¹) = ½·(mean(m²) − p), m the Mahalanobis distances.
* cfi/tli/rmsea_robust: complete data Brosseau-Liard & Savalei (2014): c·df replaces df in the
  noncentrality (the baseline with its own c); FIML: lavaan's "FIML-corrected" V3 (Zhang &
  Savalei): the model evaluated against the EM moments as if complete, with c from
  tr(U·A₁⁻¹·W_c·A₁⁻¹·U·Γ) where U = A₁ − A₁Δ(Δ'A₁Δ)⁻¹Δ'A₁ and Γ = A₁⁻¹B₁A₁⁻¹.
* cfi/tli/rmsea_scaled: the scaled chi² of the model and the baseline; RMSEA from tr(UΓ).

Every derivative of Σ in the CSI model is a symmetric rank-two term f·hᵀ + h·fᵀ whose f and h
are columns of [I, ΛC, ΛΦ], so a row's score for parameter k is (uᵀf)(uᵀh) − fᵀWh with
u = W(x − μ): one (items × rows) product with that basis and row gathers, never a (rows × p²)
array. Rows are processed in blocks of CHUNK, so beyond the data matrix the memory is
O(CHUNK·(p + 3q)) floats for complete data (about 4 MB) and O(CHUNK·p²) under FIML (about
5 MB, plus one copy of a pattern's rows), for any N.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sps

from .exceptions import ModelError
from .spec import CSISpec
from .stats import Solution

CHUNK = 1 << 12     # rows per block of casewise scores (small blocks stay in cache)
HESSIAN_STEP = 1e-6  # lavaan's lav_model_hessian step


@dataclass(frozen=True)
class RobustFit:
    """Sandwich SEs (matrix layout of ``Solution``, NaN where fixed) and robust fit measures."""

    se_B: np.ndarray
    se_Lambda: np.ndarray
    fit: dict
    se_Psi: np.ndarray | None = None
    se_Theta: np.ndarray | None = None


@dataclass(frozen=True)
class _Params:
    """The free parameters lavaan's ``sem()`` gives the CSI model, in one vector θ:
    loadings (not the marker, not a single item), error variances (not a single item),
    the latent (disturbance) variances, the structural paths of the spec."""

    lam: tuple    # (item j, construct m)
    theta: tuple  # item j
    paths: tuple  # (to, from) construct indices
    p: int
    k: int

    @classmethod
    def from_spec(cls, spec: CSISpec) -> "_Params":
        codes, obs = spec.codes, list(spec.observed)
        lam, theta = [], []
        for m, code in enumerate(codes):
            items = spec.items[code]
            lam += [(obs.index(item), m) for item in items[1:]]
            if len(items) > 1:
                theta += [obs.index(item) for item in items]
        paths = tuple((codes.index(b), codes.index(a)) for a, b in spec.paths)
        return cls(tuple(lam), tuple(sorted(theta)), paths, len(obs), len(codes))

    @property
    def q(self) -> int:
        return len(self.lam) + len(self.theta) + self.k + len(self.paths)

    def pack(self, sol: Solution) -> np.ndarray:
        return np.concatenate([[sol.Lambda[j, m] for j, m in self.lam],
                               [sol.Theta[j, j] for j in self.theta], np.diag(sol.Psi),
                               [sol.B[a, b] for a, b in self.paths]])

    def basis(self, sol: Solution):
        """Σ and the columns from which every dΣ/dθ_k = f_k h_kᵀ + h_k f_kᵀ is built:
        basis = [I, ΛC, ΛΦ] (p × (p + 2k)), f_k = basis[:, fi_k], h_k = half_k · basis[:, hi_k]
        (C = (I − B)⁻¹, Φ = CΨCᵀ the latent covariance)."""
        sigma, basis = self.basis_batch(self.pack(sol)[None, :], sol)
        return (sigma[0], basis[0], *self.columns())

    def columns(self):
        """(fi, hi, half): which basis columns make f_k and h_k, and h_k's factor."""
        p, k = self.p, self.k
        lc, a = p, p + k   # column offsets of ΛC and ΛΦ
        fi = ([j for j, _ in self.lam] + list(self.theta) + [lc + m for m in range(k)]
              + [lc + to for to, _ in self.paths])
        hi = ([a + m for _, m in self.lam] + list(self.theta) + [lc + m for m in range(k)]
              + [a + src for _, src in self.paths])
        half = np.r_[np.ones(len(self.lam)), np.full(len(self.theta) + k, 0.5), np.ones(len(self.paths))]
        return np.array(fi), np.array(hi), half

    def basis_batch(self, xs: np.ndarray, template: Solution):
        """Σ and basis for a stack of parameter vectors xs (m × q), in one batched pass (the
        numerical Hessians evaluate 4q of them)."""
        m, p, k = xs.shape[0], self.p, self.k
        n_lam, n_theta = len(self.lam), len(self.theta)
        lam = np.broadcast_to(template.Lambda, (m, p, k)).copy()
        if n_lam:
            j, c = np.array(self.lam).T
            lam[:, j, c] = xs[:, :n_lam]
        theta = np.broadcast_to(template.Theta, (m, p, p)).copy()
        idx = np.array(self.theta, dtype=int)
        theta[:, idx, idx] = xs[:, n_lam:n_lam + n_theta]
        psi = np.zeros((m, k, k))
        psi[:, np.arange(k), np.arange(k)] = xs[:, n_lam + n_theta:n_lam + n_theta + k]
        b = np.zeros((m, k, k))
        to, src = np.array(self.paths).T
        b[:, to, src] = xs[:, n_lam + n_theta + k:]
        C = np.linalg.inv(np.eye(k) - b)
        phi = C @ psi @ np.swapaxes(C, 1, 2)
        LC, A = lam @ C, lam @ phi
        basis = np.concatenate([np.broadcast_to(np.eye(p), (m, p, p)), LC, A], axis=2)
        return A @ np.swapaxes(lam, 1, 2) + theta, basis

    def se_matrices(self, se: np.ndarray, template: Solution):
        """Spread θ's SEs into B and Λ layouts (NaN for fixed entries)."""
        se_B = np.full(template.B.shape, np.nan)
        se_L = np.full(template.Lambda.shape, np.nan)
        for (j, m), v in zip(self.lam, se[:len(self.lam)]):
            se_L[j, m] = v
        for (a, b), v in zip(self.paths, se[self.q - len(self.paths):self.q]):
            se_B[a, b] = v
        return se_B, se_L

    def se_variances(self, se: np.ndarray, template: Solution):
        """Spread θ's SEs into Psi and Theta layouts (NaN for fixed entries)."""
        se_P = np.full(template.Psi.shape, np.nan)
        se_T = np.full(template.Theta.shape, np.nan)
        n_lam, n_theta = len(self.lam), len(self.theta)
        for j, v in zip(self.theta, se[n_lam:n_lam + n_theta]):
            se_T[j, j] = v
        se_P[np.diag_indices(self.k)] = se[n_lam + n_theta:n_lam + n_theta + self.k]
        return se_P, se_T


def _hessian(grad, z):
    """lavaan's lav_model_hessian: 4-point central differences of the analytic gradient, with
    ``grad`` evaluated once on the stack of all 4·len(z) shifted points."""
    h, q = HESSIAN_STEP, z.size
    shifts = np.array([-2, -1, 1, 2]) * h
    points = z + (shifts[:, None, None] * np.eye(q)).reshape(4 * q, q)
    g = grad(points).reshape(4, q, q)       # [shift, coordinate shifted, gradient component]
    out = ((g[0] - 8 * g[1] + 8 * g[2] - g[3]) / (12 * h)).T
    return (out + out.T) / 2


def _rank2_grad_batch(par, xs, template, g_sigma=None, cov=None):
    """Gradients for a stack of θ: 2·fᵀGh per parameter, G = d(objective)/dΣ given (FIML) or,
    for complete data, G = ½(W − W·S·W) of the objective ½·F_ML (W = Σ⁻¹, S = ``cov``)."""
    sigma, basis = par.basis_batch(xs, template)
    fi, hi, half = par.columns()
    if g_sigma is None:
        w = np.linalg.inv(sigma)
        g_sigma = 0.5 * (w - w @ cov @ w)
    return 2 * np.einsum("mik,mik->mk", basis[:, :, fi], (g_sigma @ basis[:, :, hi]) * half)


def _inv(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)


def _indices(chi2, df, chi2_b, df_b, n, c, c_b, trace_u, x3=None, x3_b=None, c3=None, c3_b=None):
    """Scaled and robust chi², CFI, TLI and RMSEA as lavaan's lav_fit_* functions."""
    x3 = chi2 if x3 is None else x3
    x3_b = chi2_b if x3_b is None else x3_b
    c3 = c if c3 is None else c3
    c3_b = c_b if c3_b is None else c3_b
    nan = float("nan")
    ok = df > 0 and np.isfinite(c) and c > 0

    def cfi(t, t_b):
        t, big = max(t, 0.0), max(t, t_b, 0.0)
        return 1.0 if np.isclose(big, 0) else 1 - t / big

    def tli(t, t_b):
        t1, t2 = t * df_b, t_b * df
        return 1 - t1 / t2 if abs(t2) > 0 else 1.0

    scaled, scaled_b = (chi2 / c, chi2_b / c_b) if ok else (nan, nan)
    out = {
        "chi2_scaled": float(scaled), "scaling_factor": float(c) if ok else nan,
        "p_value_scaled": float(sps.chi2.sf(scaled, df)) if ok else nan,
        "baseline_chi2_scaled": float(scaled_b), "baseline_scaling_factor": float(c_b),
        "cfi_scaled": nan, "tli_scaled": nan, "rmsea_scaled": nan,
        "cfi_robust": nan, "tli_robust": nan, "rmsea_robust": nan,
    }
    if not ok:
        return out
    out["cfi_scaled"] = float(cfi(scaled - df, scaled_b - df_b))
    out["tli_scaled"] = float(tli(scaled - df, scaled_b - df_b))
    out["rmsea_scaled"] = float(np.sqrt(max(chi2 / (n * trace_u) - 1 / n, 0.0)))
    if np.all(np.isfinite([x3, x3_b, c3, c3_b])):
        out["cfi_robust"] = float(cfi(x3 - c3 * df, x3_b - c3_b * df_b))
        out["tli_robust"] = float(tli(x3 - c3 * df, x3_b - c3_b * df_b))
        out["rmsea_robust"] = float(np.sqrt(max(x3 / (n * df) - c3 / n, 0.0)))
    return out


def complete(values: np.ndarray, spec: CSISpec, sol: Solution, mean: np.ndarray, cov: np.ndarray,
             fit: dict) -> RobustFit:
    """MLR for complete rows (``values`` n × p in ``spec.observed`` order, ``mean``/``cov`` their
    ML moments, ``fit`` the ML chi² and baseline from ``stats.fit_indices``)."""
    par = _Params.from_spec(spec)
    n, p = values.shape
    x = par.pack(sol)
    sigma, basis, fi, hi, half = par.basis(sol)
    W = np.linalg.inv(sigma)
    wb = W @ basis
    const = np.einsum("ik,ik->k", basis[:, fi], wb[:, hi] * half)   # f_kᵀ W h_k
    s_inv = np.linalg.inv(cov)

    b0 = np.zeros((par.q, par.q))
    m2 = 0.0
    m4 = np.zeros(p)
    rows_t, centre = values.T, mean[:, None]   # items × rows: the gathers below copy whole rows
    wb_t, s_inv_t = np.ascontiguousarray(wb.T), np.ascontiguousarray(s_inv.T)
    half, const = half[:, None], const[:, None]
    for start in range(0, n, CHUNK):
        d = rows_t[:, start:start + CHUNK] - centre
        z = wb_t @ d                    # basisᵀ·u with u = W·d: every uᵀf and uᵀh at once
        g = z[fi] * (z[hi] * half) - const
        b0 += g @ g.T
        m = np.einsum("ij,ij->j", s_inv_t @ d, d)
        m2 += float(m @ m)
        d *= d
        m4 += np.einsum("ij,ij->i", d, d)
    b0 /= n

    e_inv = _inv(_hessian(lambda xs: _rank2_grad_batch(par, xs, sol, cov=cov), x))
    vcov = e_inv @ b0 @ e_inv / n
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    trace_h1 = 0.5 * (m2 / n - p)
    trace_u = trace_h1 - float(np.sum(b0 * e_inv.T))
    df, df_b = fit["df"], fit["baseline_df"]
    kurtosis = m4 / n / np.diag(cov) ** 2
    c_b = (trace_h1 - 0.5 * float(np.sum(kurtosis - 1))) / df_b
    c = trace_u / df if df > 0 else float("nan")
    return RobustFit(*par.se_matrices(se, sol),
                     _indices(fit["chi2"], df, fit["baseline_chi2"], df_b, n, c, c_b, trace_u),
                     *par.se_variances(se, sol))


def _pattern_blocks(values: np.ndarray):
    """(answered item indices, rows) per pattern of answered items; rows without answers skipped."""
    answered = ~np.isnan(values)
    keep = np.flatnonzero(answered.any(axis=1))
    p = values.shape[1]
    code = answered[keep].astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64))
    order = np.argsort(code, kind="stable")
    _, starts, counts = np.unique(code[order], return_index=True, return_counts=True)
    for start, count in zip(starts, counts):
        rows = keep[order[start:start + count]]
        yield np.flatnonzero(answered[rows[0]]), rows


def _vech(p):
    """Lower-triangle index pairs and the duplication matrix D (vec = D·vech)."""
    r, c = np.tril_indices(p)
    dup = np.zeros((p * p, r.size))
    dup[r * p + c, np.arange(r.size)] = 1
    dup[c * p + r, np.arange(r.size)] = 1
    return r, c, dup


class _SaturatedInfo:
    """Observed information of the saturated normal model in (μ, vech Σ), summed over patterns
    zero-padded to all p items (lavaan's lav_mvnorm_missing_information_observed_samplestats):
    μμ n·W, μσ n·W_ia·(Wd)_b, σσ n/2·(K⊗W + W⊗K − W⊗W), with W = Σ_oo⁻¹, d = ȳ − μ and
    K = W(S + ddᵀ)W for a pattern of n rows with mean ȳ and ML covariance S."""

    def __init__(self):
        self.n, self.w, self.wd, self.k = [], [], [], []

    def add(self, n, w, dev, scatter):
        self.n.append(n)
        self.w.append(w)
        self.wd.append(w @ dev)
        self.k.append(w @ (scatter + np.outer(dev, dev)) @ w)

    def vech(self, dup):
        """The information in (μ, vech Σ); the Kronecker sums are one einsum over patterns."""
        n, w, wd, k = (np.asarray(a) for a in (self.n, self.w, self.wd, self.k))
        p = w.shape[1]
        nw = n[:, None, None] * w
        mm = nw.sum(axis=0)
        ms = np.einsum("gia,gb->iab", nw, wd).reshape(p, p * p) @ dup
        kron = lambda a, b: np.einsum("gac,gbd->abcd", a, b, optimize=True).reshape(p * p, p * p)
        ss = dup.T @ (0.5 * (kron(n[:, None, None] * k, w) + kron(nw, k) - kron(nw, w))) @ dup
        return np.block([[mm, ms], [ms.T, ss]])


def fiml(values: np.ndarray, spec: CSISpec, sol: Solution, mu: np.ndarray, patterns,
         h1_mean: np.ndarray, h1_cov: np.ndarray, fit: dict) -> RobustFit:
    """MLR under FIML (lavaan ``missing="ml"``): ``values`` with NaN for missing answers, ``mu``
    the fitted intercepts, ``patterns`` the ``fiml.Patterns`` of the rows, ``h1_mean``/``h1_cov``
    the EM moments, ``fit`` the LR chi² and baseline chi²."""
    par = _Params.from_spec(spec)
    p, q = par.p, par.q
    n = patterns.n
    x = np.concatenate([par.pack(sol), mu])
    sigma, basis, fi, hi, half = par.basis(sol)
    F, H = basis[:, fi], basis[:, hi] * half
    r_idx, c_idx, dup = _vech(p)
    diag_v = r_idx == c_idx
    nv = r_idx.size

    b0 = np.zeros((q + p, q + p))          # h0 first order, structured (μ̂, Σ̂)
    b1 = np.zeros((p + nv, p + nv))        # h1 first order, unstructured (EM)
    info_h0 = _SaturatedInfo()             # observed information at (μ̂, Σ̂) and at the EM moments
    info_h1 = _SaturatedInfo()
    half = half[:, None]
    vech_half = np.where(diag_v, 0.5, 1.0)[:, None]
    values_t = values.T                    # items × rows: the gathers below copy whole rows
    for obs, rows in _pattern_blocks(values):
        block = values_t[np.ix_(obs, rows)]
        w = np.zeros((p, p))
        w[np.ix_(obs, obs)] = np.linalg.inv(sigma[np.ix_(obs, obs)])
        w1 = np.zeros((p, p))
        w1[np.ix_(obs, obs)] = np.linalg.inv(h1_cov[np.ix_(obs, obs)])
        wb_t = (w @ basis).T
        const = np.einsum("ik,ik->k", F, w @ H)[:, None]
        const1 = vech_half * w1[r_idx, c_idx][:, None]
        for start in range(0, rows.size, CHUNK):
            y = np.zeros((p, min(CHUNK, rows.size - start)))
            y[obs] = block[:, start:start + CHUNK] - mu[obs, None]
            z = wb_t @ y                   # basisᵀ·u, u = W·(x − μ̂): scores as in complete()
            g = np.vstack([z[fi] * (z[hi] * half) - const, w @ y])
            b0 += g @ g.T
            y[obs] = block[:, start:start + CHUNK] - h1_mean[obs, None]
            u = w1 @ y
            sc = np.vstack([u, u[r_idx] * u[c_idx] * vech_half - const1])
            b1 += sc @ sc.T
        mean_o = block.mean(axis=1)
        centred = block - mean_o[:, None]
        scatter = np.zeros((p, p))
        scatter[np.ix_(obs, obs)] = centred @ centred.T / rows.size
        for info, centre, inv in ((info_h0, mu, w), (info_h1, h1_mean, w1)):
            dev = np.zeros(p)
            dev[obs] = mean_o - centre[obs]
            info.add(rows.size, inv, dev, scatter)
    b0 /= n
    b1 /= n
    a1 = info_h1.vech(dup) / n
    a1_inv = _inv(a1)

    # observed information (Hessian of −logL/N): Δ'·A(μ̂, Σ̂)·Δ plus the curvature of Σ(θ)
    # weighted by d(−logL)/dΣ, the latter differentiated numerically (no pass over the rows)
    delta = np.zeros((p + nv, q + p))      # d(μ, vech Σ) / d(θ, intercepts)
    delta[:p, q:] = np.eye(p)
    delta[p:, :q] = F[r_idx] * H[c_idx] + H[r_idx] * F[c_idx]
    g_sigma = patterns.gradients(mu, sigma)[0] / n
    e = delta.T @ (info_h0.vech(dup) / n) @ delta
    e[:q, :q] += _hessian(lambda xs: _rank2_grad_batch(par, xs, sol, g_sigma=g_sigma), x[:q])
    e_inv = _inv(e)
    vcov = e_inv @ b0 @ e_inv / n
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    trace_h1 = float(np.sum(b1 * a1_inv.T))
    trace_u = trace_h1 - float(np.sum(b0 * e_inv.T))
    df, df_b = fit["df"], fit["baseline_df"]
    c = trace_u / df if df > 0 else float("nan")

    # baseline (independent items, FIML): its MLE is each item's available mean and variance and
    # its information is diagonal there, so tr(B0 E⁻¹) = Σ_j [1 + ½(kurtosis_j − 1)]
    count, mean_b, var_b = patterns.available()
    dev_b = values - mean_b
    dev_b *= dev_b
    kurt = np.nansum(dev_b * dev_b, axis=0) / count / var_b ** 2
    c_b = (trace_h1 - float(np.sum(1 + 0.5 * (kurt - 1)))) / df_b

    # FIML-corrected (V3) robust indices: the fitted model against the EM moments, as complete data
    s_inv = np.linalg.inv(h1_cov)
    logdet_s = np.linalg.slogdet(h1_cov)[1]
    w_c = np.block([[s_inv, np.zeros((p, nv))],
                    [np.zeros((nv, p)), 0.5 * dup.T @ np.kron(s_inv, s_inv) @ dup]])
    delta_b = np.zeros((p + nv, 2 * p))
    delta_b[:p, :p] = np.eye(p)
    delta_b[p + np.flatnonzero(diag_v), p + np.arange(p)] = 1
    gamma = a1_inv @ b1 @ a1_inv
    middle = a1_inv @ w_c @ a1_inv

    def k_fimlc(d):
        a1d = a1 @ d
        u = a1 - a1d @ _inv(d.T @ a1d) @ a1d.T
        return float(np.trace(u @ middle @ u @ gamma))

    w_hat = np.linalg.inv(sigma)
    resid = h1_mean - mu
    x3 = n * (np.linalg.slogdet(sigma)[1] - logdet_s + np.trace(h1_cov @ w_hat) - p
              + resid @ w_hat @ resid)
    x3_b = n * (np.sum(np.log(var_b)) - logdet_s
                + np.sum((np.diag(h1_cov) + (h1_mean - mean_b) ** 2) / var_b) - p)
    c3 = k_fimlc(delta) / df if df > 0 else float("nan")
    c3_b = k_fimlc(delta_b) / df_b
    return RobustFit(*par.se_matrices(se, sol),
                     _indices(fit["chi2"], df, fit["baseline_chi2"], df_b, n, c, c_b, trace_u,
                              x3=x3, x3_b=x3_b, c3=c3, c3_b=c3_b),
                     *par.se_variances(se, sol))


def apply(est, fit: dict, spec: CSISpec, moments, rows: np.ndarray, patterns=None):
    """The MLR version of an ML estimation: (estimation with sandwich SEs, fit with the robust
    measures added). ``rows`` are the fitted rows (NaN for missing answers under FIML)."""
    try:
        if patterns is None:
            rob = complete(rows, spec, est.solution, moments.mean, moments.cov, fit)
        else:
            rob = fiml(rows, spec, est.solution, est.fiml.mu, patterns, moments.mean, moments.cov, fit)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as err:
        raise ModelError(f"robust (MLR) statistics failed ({err}); the ML fit is not proper: "
                         "refit with estimator='ml' and check its warnings") from None
    return (replace(est, se_B=rob.se_B, se_Lambda=rob.se_Lambda, se_Psi=rob.se_Psi, se_Theta=rob.se_Theta),
            {**fit, **rob.fit})
