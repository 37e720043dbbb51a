"""A verified ML optimum: lavaan's starting values, projected Fisher scoring and a KKT check.

semopy's SLSQP stops early and its success flag was trusted, and a polish that refused any move
touching a variance bound left fits short of the optimum (χ² up to 2 above lavaan's). Here:

* **Starts** as lavaan's ``lav_start()`` computes them (start = "default"): per construct the
  FABIN 3 loadings of Hägglund (1982) (three or fewer items: lavaan's closed-form 3-indicator
  solution, a 2-item construct padded as lavaan pads it, loadings clipped to its bounds, a
  negative triad gives loadings 1), residual variances half the item variance, latent
  (disturbance) variances 0.05, regressions 0. The first start fills the structural part from
  the implied latent covariances (``structural_start``); lavaan's own starts are restarts.
* **Projected Fisher scoring** (numpy only) on F_ML with the expected Hessian tr(Σ⁻¹ΔᵢΣ⁻¹Δⱼ): variances have
  the lower bound 0; a variance at its bound whose gradient points outward is held there (the
  active set), the Newton step is taken in the other parameters, and a step that crosses a bound
  is projected onto it with a backtracking (Armijo) line search, so boundary solutions are
  reached instead of refused.
* **Newton** with the observed Hessian (finite differences of the analytic gradient) once
  near the optimum or after 10 steps, where it is positive definite: Fisher scoring alone
  converges slowly when the model fits badly.
* **Verification**: the solution counts as converged only when the Newton decrement
  g'H⁻¹g of the free parameters, in χ² units (N·decrement), is below ``CHI2_TOL``, the last
  step moved no parameter more than ``STEP_TOL`` (a flat likelihood leaves parameters loose at
  a tight χ²), every variance held at its bound has a gradient pointing outward (KKT), and the
  information matrix of the free parameters is positive definite. Otherwise other starts are
  tried and the best verified solution wins; if none verifies, the best one is returned
  unverified.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHI2_TOL = 1e-7        # N·(Newton decrement) at the solution: χ² is this close to its minimum
STEP_TOL = 1e-6        # and the last Newton step moved no parameter more than this (flat directions)
MAX_STEPS = 300
_ACTIVE_TOL = 1e-12    # a variance this close to its bound (relative to the item variance) is on it
_NEAR = 1e-4           # a variance this close to its bound may be projected onto it
_COND_MAX = 1e12       # information matrix of the free parameters must be better conditioned


@dataclass(frozen=True)
class Optimum:
    x: np.ndarray
    fun: float                # F_ML
    verified: bool
    message: str
    at_bound: tuple[int, ...]  # indices of parameters held at their lower bound
    start: str


class MLProblem:
    """F_ML, its gradient and expected Hessian for a semopy model with a covariance loaded."""

    def __init__(self, model, n: int):
        self.model, self.n = model, n
        self.S = model.mx_cov
        self.logdet_S = np.linalg.slogdet(self.S)[1]
        self.p = self.S.shape[0]
        self.lower = np.array([-np.inf if b[0] is None else float(b[0]) for b in model.get_bounds()])
        self.scale = float(np.mean(np.diag(self.S)))
        self.where = _locate(model)
        if any(kind == "other" or len(p.locations) != 1 for (kind, _), p in
               zip(self.where, [q for q in model.parameters.values() if q.active])):
            raise ValueError("a parameter outside B, Λ, Ψ, Θ or in several places")

    def _sigma(self, x):
        self.model.update_matrices(x)
        return self.model.calc_sigma()

    def value(self, x) -> float:
        sigma, _ = self._sigma(x)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf
        logdet = 2 * np.sum(np.log(np.diag(chol)))
        inv_chol_s = np.linalg.solve(chol, self.S)
        tr = np.trace(np.linalg.solve(chol.T, inv_chol_s))
        value = logdet + tr - self.logdet_S - self.p
        return float(value) if np.isfinite(value) else np.inf

    def value_grad(self, x):
        """(F, gradient) for the quasi-Newton stage, by matrix calculus (no per-parameter dΣ):
        with R = Σ⁻¹ − Σ⁻¹SΣ⁻¹, M = ΛC, Φ = CΨCᵀ: ∂F/∂Λ = 2RΛΦ, ∂F/∂B = 2MᵀRΛΦ,
        ∂F/∂Ψ = MᵀRM, ∂F/∂Θ = R (off-diagonal symmetric entries count twice).
        A large finite F outside the admissible region keeps the line search inside."""
        model = self.model
        model.update_matrices(x)
        beta, lam, psi, theta = model.matrices[:4]
        c = np.linalg.inv(model.identity_c - beta)
        m = lam @ c
        sigma = m @ psi @ m.T + theta
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        inv = np.linalg.inv(sigma)
        logdet = 2 * np.sum(np.log(np.diag(chol)))
        value = float(logdet + np.einsum("ij,ji->", self.S, inv) - self.logdet_S - self.p)
        r = inv - inv @ self.S @ inv
        phi = c @ psi @ c.T
        rm = r @ m
        grads = {"lambda": 2 * r @ lam @ phi, "beta": 2 * m.T @ r @ lam @ phi, "psi": m.T @ rm, "theta": r}
        out = np.empty(x.size)
        for k, (kind, (i, j)) in enumerate(self.where):
            out[k] = grads[kind][i, j] * (2 if i != j and kind in ("psi", "theta") else 1)
        return value, out

    def observed_hessian(self, x):
        """Hessian of F_ML by forward differences of the analytic gradient (upwards, so a
        variance at its bound stays admissible). Fisher scoring converges slowly when the
        model fits badly (expected and observed information then differ); Newton steps with
        this Hessian finish the job quadratically."""
        g0 = self.value_grad(x)[1]
        hess = np.empty((x.size, x.size))
        for j in range(x.size):
            shifted = x.copy()
            h = 1e-6 * max(1.0, abs(x[j]))
            shifted[j] += h
            hess[:, j] = (self.value_grad(shifted)[1] - g0) / h
        return (hess + hess.T) / 2

    def full(self, x):
        """(F, gradient, expected Hessian) or (inf, None, None) where Σ is not positive definite."""
        sigma, (m, c) = self._sigma(x)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, None, None
        inv = np.linalg.inv(sigma)
        inv = (inv + inv.T) / 2
        logdet = 2 * np.sum(np.log(np.diag(chol)))
        value = float(logdet + np.einsum("ij,ji->", self.S, inv) - self.logdet_S - self.p)
        deltas = np.asarray(self.model.calc_sigma_grad(m, c))          # (k, p, p)
        a = inv @ deltas                                                # Σ⁻¹Δₖ
        resid = inv - inv @ self.S @ inv
        k = deltas.shape[0]
        grad = deltas.reshape(k, -1) @ resid.ravel()                    # tr(RΔₖ), R and Δ symmetric
        hess = a.reshape(k, -1) @ np.swapaxes(a, 1, 2).reshape(k, -1).T  # tr(Σ⁻¹ΔₐΣ⁻¹Δ_b)
        return value, grad, (hess + hess.T) / 2


def _newton_direction(grad, hess, free):
    """Newton step on the free parameters and whether their information is positive definite.

    Where it is not (at lavaan's starts, with every regression 0, a two-item construct is
    locally unidentified), the step is Levenberg-damped: a ridge grows tenfold until the
    Cholesky factorization succeeds. Only an undamped step can verify a solution.
    """
    h = hess[np.ix_(free, free)]
    ridge, base = 0.0, max(float(np.mean(np.diag(h))), 1e-300)
    for _ in range(30):
        try:
            chol = np.linalg.cholesky(h + ridge * np.eye(len(free)))
            diag = np.diag(chol)
            if diag.min() > 0 and (ridge > 0 or (diag.max() / diag.min()) ** 2 <= _COND_MAX):
                break
        except np.linalg.LinAlgError:
            pass
        ridge = base * 1e-8 if ridge == 0 else ridge * 10
    else:
        return None, False
    step = np.zeros_like(grad)
    step[free] = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad[free]))
    return step, ridge == 0


def minimize(problem: MLProblem, x0: np.ndarray, start: str = "", maxiter: int = 10_000) -> Optimum:
    """Projected Fisher scoring from ``x0`` to the verified optimum (module docstring).

    A step that would take a variance from well inside across its bound stops at 90% of the way
    (lavaan's starts put every latent variance at 0.05: a full step would pin them at zero, far
    from the optimum); a variance already near its bound (within ``_NEAR`` of the item
    variances) is projected onto it and then held there while its gradient points outward.
    numpy only: scipy's L-BFGS-B and LAPACK wrappers go through scipy's own OpenBLAS, whose
    threads made each 36-parameter iteration 20-100x slower on a busy machine.
    """
    lower, n = problem.lower, problem.n
    tol_bound, near = _ACTIVE_TOL * problem.scale, _NEAR * problem.scale
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    f, g, h = problem.full(x)
    if not np.isfinite(f):
        return Optimum(x, np.inf, False, "the start is not admissible", (), start)
    message = f"iteration limit reached (maxiter={maxiter})"
    steps = 0
    for _ in range(min(int(maxiter), MAX_STEPS)):
        active = (x - lower <= tol_bound) & (g > 0)
        free = np.flatnonzero(~active)
        step, proper = _newton_direction(g, h, free)
        if step is None:
            message = "the information matrix is not positive definite"
            break
        decrement = -float(g @ step)
        if proper and n * decrement < CHI2_TOL and (np.max(np.abs(step)) < STEP_TOL or n * decrement < 1e-13):
            return Optimum(x, f, True, "converged", tuple(np.flatnonzero(active)), start)
        crossing = (step < 0) & (x + step < lower) & (x - lower > near)
        t = 1.0
        if crossing.any():
            t = min(1.0, 0.9 * float(np.min((x - lower)[crossing] / -step[crossing])))
        moved = False
        while t > 1e-12:
            trial = np.maximum(x + t * step, lower)
            trial[active] = lower[active]
            f_trial = problem.value(trial)
            if f_trial <= f + 1e-4 * float(g @ (trial - x)):
                moved = True
                break
            t /= 2
        if not moved:
            if proper and n * decrement < CHI2_TOL:  # at the floor of rounding: nothing left to gain
                return Optimum(x, f, True, "converged", tuple(np.flatnonzero(active)), start)
            message = ("the line search failed" if proper else
                       "the information matrix is singular at the solution (a parameter is not "
                       "identified there)")
            break
        x = trial
        f, g, h = problem.full(x)
        steps += 1
        if steps >= 10 or n * decrement < 1e-2:  # near the optimum: Newton with the observed Hessian
            observed = problem.observed_hessian(x)
            if np.all(np.isfinite(observed)) and np.linalg.eigvalsh(observed)[0] > 0:
                h = observed
    active = (x - lower <= tol_bound) & (g > 0) if g is not None else np.zeros(x.size, bool)
    return Optimum(x, f, False, message, tuple(np.flatnonzero(active)), start)


def _three_indicator(s: np.ndarray) -> tuple[np.ndarray, bool]:
    """lavaan's closed-form 1-factor solution for ≤ 3 items (lav_cfa_1fac_3ind), marker loading 1."""
    k = s.shape[0]
    if k == 2:  # padded as lavaan pads it: a third item with the mean variance, covariance s21
        extra = np.array([np.mean(np.diag(s)), s[1, 0]])
        s = np.block([[s, extra[:, None]], [extra[None, :], np.array([[np.max(np.diag(s))]])]])
    s21, s31, s32 = s[1, 0], s[2, 0], s[2, 1]
    neg_triad = s21 * s31 * s32 < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.array([1.0, s32 / s31, s32 / s21])
    lower_psi = 0.1 * s[0, 0]
    for i in (1, 2):
        bound = np.sqrt(s[i, i] / lower_psi)
        lam[i] = min(max(-bound, lam[i]), bound)
    return lam[:k], neg_triad


def fabin3(s: np.ndarray) -> np.ndarray:
    """Starting loadings of one construct (marker first) as lavaan's lav_cfa_1fac_fabin."""
    k = s.shape[0]
    if k == 1:
        return np.ones(1)
    if k < 4:
        lam, neg_triad = _three_indicator(s)
        if neg_triad:
            lam = np.ones(k)
    else:
        lam = np.ones(k)
        for i in range(1, k):
            others = [j for j in range(k) if j not in (0, i)]
            s23, s31 = s[i, others], s[others, 0]
            try:
                tmp = np.linalg.solve(s[np.ix_(others, others)], s31)
                lam[i] = s23 @ tmp / (s31 @ tmp)
            except np.linalg.LinAlgError:
                lam[i] = s23 @ s31 / (s31 @ s31)
        lower_psi = 0.1 * s[0, 0]
        for i in range(1, k):
            bound = np.sqrt(s[i, i] / lower_psi)
            lam[i] = min(max(-bound, lam[i]), bound)
    lam[~np.isfinite(lam)] = 1.0
    return lam


def _locate(model):
    """(matrix name, indices) of each active semopy parameter."""
    names = {id(model.mx_lambda): "lambda", id(model.mx_beta): "beta",
             id(model.mx_psi): "psi", id(model.mx_theta): "theta"}
    out = []
    for param in model.parameters.values():
        if param.active:
            loc = param.locations[0]
            out.append((names.get(id(loc.matrix), "other"), loc.indices))
    return out


def lavaan_start(model, S: np.ndarray, indicators: dict) -> np.ndarray:
    """lavaan's default starting values for the active parameters of ``model``.

    ``indicators`` maps each latent (semopy name) to its items (semopy observed names), marker
    first; ``S`` is in the order of ``model.vars['observed']``.
    """
    obs = list(model.vars["observed"])
    rows, cols = model.names_lambda
    loading = {}
    for lat, items in indicators.items():
        idx = [obs.index(i) for i in items]
        for item, lam in zip(items, fabin3(S[np.ix_(idx, idx)])):
            loading[(rows.index(item), cols.index(lat))] = lam
    theta_rows = model.names_theta[0]
    x = []
    for kind, (i, j) in _locate(model):
        if kind == "lambda":
            x.append(loading.get((i, j), 1.0))
        elif kind == "psi":
            x.append(0.05 if i == j else 0.0)
        elif kind == "theta":
            x.append(0.5 * S[obs.index(theta_rows[i]), obs.index(theta_rows[i])] if i == j else 0.0)
        else:
            x.append(0.0)
    return np.array(x)


def structural_start(model, S: np.ndarray, x_lavaan: np.ndarray) -> np.ndarray:
    """lavaan's measurement starts (FABIN 3 loadings) with the structural part filled in.

    With every regression at 0 (lavaan's start) a two-item construct is locally unidentified and
    Fisher scoring crawls (lavaan's quasi-Newton nlminb does not mind). So the latent
    covariances are estimated from the item covariances and the loadings,
    Φ_ab = mean of S_ij/(λ_i·λ_j) over items i of a and j ≠ i of b (a single item: its
    variance), and each regression, disturbance and residual variance follows from Φ and S.
    """
    obs = list(model.vars["observed"])
    rows, lats = model.names_lambda
    where = _locate(model)
    lam = np.zeros((len(rows), len(lats)))
    for (kind, (i, j)), value in zip(where, x_lavaan):
        if kind == "lambda":
            lam[i, j] = value
    fixed = (model.mx_lambda != 0) & (lam == 0)
    lam[fixed] = model.mx_lambda[fixed]  # markers
    perm = [obs.index(r) for r in rows]
    s = S[np.ix_(perm, perm)]
    members = [np.flatnonzero(lam[:, k]) for k in range(len(lats))]
    phi = np.empty((len(lats), len(lats)))
    for a, ia in enumerate(members):
        for b, ib in enumerate(members):
            ratios = [s[i, j] / (lam[i, a] * lam[j, b]) for i in ia for j in ib if i != j]
            phi[a, b] = np.mean(ratios) if ratios else s[ia[0], ia[0]] / lam[ia[0], a] ** 2
    phi = (phi + phi.T) / 2
    w, v = np.linalg.eigh(phi)
    phi = (v * np.maximum(w, 0.05 * np.max(np.diag(phi)) * 0.1)) @ v.T
    beta_names = model.names_beta[0]
    order = [lats.index(name) for name in beta_names]
    phi_b = phi[np.ix_(order, order)]
    preds = {}
    for kind, (i, j) in where:
        if kind == "beta":
            preds.setdefault(i, []).append(j)
    beta, psi = {}, {}
    for i in range(len(beta_names)):
        p = preds.get(i, [])
        if p:
            coef = np.linalg.solve(phi_b[np.ix_(p, p)], phi_b[p, i])
            beta.update({(i, j): c for j, c in zip(p, coef)})
            psi[i] = max(phi_b[i, i] - coef @ phi_b[p, i], 0.05 * phi_b[i, i])
        else:
            psi[i] = phi_b[i, i]
    theta_rows = model.names_theta[0]
    x = x_lavaan.copy()
    for k, (kind, (i, j)) in enumerate(where):
        if kind == "beta":
            x[k] = beta.get((i, j), 0.0)
        elif kind == "psi" and i == j:
            x[k] = psi[i]
        elif kind == "theta" and i == j:
            r = rows.index(theta_rows[i])
            lat = int(np.flatnonzero(lam[r])[0])
            x[k] = float(np.clip(s[r, r] - lam[r, lat] ** 2 * phi[lat, lat], 0.05 * s[r, r], 0.95 * s[r, r]))
    return x


def alternative_starts(model, S: np.ndarray, x_lavaan: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Further starts for a restart: lavaan's with latent variances half the marker item's
    variance, and lavaan's ``start = "simple"`` (free loadings 0.7, variances 1)."""
    obs = list(model.vars["observed"])
    lat_rows = model.names_psi[0]
    marker_var = {}
    for lat in lat_rows:
        col = model.names_lambda[1].index(lat)
        rows = np.flatnonzero(model.mx_lambda[:, col] != 0)
        marker = obs.index(model.names_lambda[0][rows[0]]) if rows.size else None
        marker_var[lat] = S[marker, marker] if marker is not None else 1.0
    moment = x_lavaan.copy()
    simple = x_lavaan.copy()
    for k, (kind, (i, j)) in enumerate(_locate(model)):
        if kind == "psi" and i == j:
            moment[k] = 0.5 * marker_var[lat_rows[i]]
            simple[k] = 1.0
        elif kind == "theta" and i == j:
            simple[k] = 1.0
        elif kind == "lambda":
            simple[k] = 0.7
    return [("lavaan's starts with latent variances half the marker's", moment),
            ("lavaan's simple starts", simple)]


def best_optimum(problem: MLProblem, starts: list[tuple[str, np.ndarray]], maxiter: int = 10_000) -> Optimum:
    """Minimize from the first start; if that is not verified, try the next starts until one is,
    and if it ends on a bound (where another basin may lie) confirm it from a second start;
    keep the lowest verified F (else the lowest F)."""
    results = []
    for k, (name, x0) in enumerate(starts):
        opt = minimize(problem, x0, name, maxiter)
        results.append(opt)
        if opt.verified and (not opt.at_bound or k >= 1):
            break  # verified off the bound, or confirmed on it from a second start
    verified = [r for r in results if r.verified]
    pool = verified or [r for r in results if np.isfinite(r.fun)] or results
    return min(pool, key=lambda r: r.fun)
