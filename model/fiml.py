"""Full-information maximum likelihood for incomplete answers (lavaan's ``missing="ml"``).

Rows are grouped by their pattern of answered items, so every computation loops over patterns,
never over respondents. The saturated (H1) model is fitted by EM; the structured (H0) model by
Newton steps on the analytic gradient, starting from a fit to the EM covariance (or a previous
fit); standard errors come from the observed information, as lavaan's default for
``missing="ml"`` (lavaan differentiates its gradient numerically; here the Hessian is analytic:
the per-pattern Kronecker sums of ``Patterns._curvature`` plus Σ(x)'s own curvature).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LOG2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class _Group:
    """Patterns with the same number k of answered items, stacked for batched linear algebra."""

    obs: np.ndarray     # (G, k) answered item indices
    mis: np.ndarray     # (G, p - k) unanswered item indices
    n: np.ndarray       # (G,) rows per pattern
    mean: np.ndarray    # (G, k)
    cov: np.ndarray     # (G, k, k) ML covariance within the pattern


@dataclass(frozen=True)
class Patterns:
    """Rows grouped by their pattern of answered items (sufficient statistics only)."""

    n: int
    p: int
    groups: tuple[_Group, ...]

    @classmethod
    def from_values(cls, values: np.ndarray) -> "Patterns":
        """Group rows with at least one answer by pattern (rows without any answer carry nothing)."""
        answered = ~np.isnan(values)
        keep = answered.any(axis=1)
        values, answered = values[keep], answered[keep]
        p = values.shape[1]
        code = answered.astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64))
        order = np.argsort(code, kind="stable")
        _, starts, counts = np.unique(code[order], return_index=True, return_counts=True)
        entries = []
        for start, count in zip(starts, counts):
            rows = order[start:start + count]
            obs = np.flatnonzero(answered[rows[0]])
            block = values[np.ix_(rows, obs)]
            mean = block.mean(axis=0)
            dev = block - mean
            entries.append((obs, count, mean, dev.T @ dev / count))
        return cls.from_moments(p, entries)

    @classmethod
    def from_moments(cls, p: int, entries) -> "Patterns":
        """Patterns from ``(answered item indices, n, mean, ML covariance)`` per pattern, in the
        order given (``model.moments.SufficientStats`` builds them from stored sums)."""
        by_k: dict[int, list] = {}
        for obs, count, mean, cov in entries:
            obs = np.asarray(obs, dtype=int)
            unanswered = np.ones(p, dtype=bool)
            unanswered[obs] = False
            by_k.setdefault(obs.size, []).append(
                (obs, np.flatnonzero(unanswered), float(count), np.asarray(mean, float),
                 np.asarray(cov, float)))
        groups = tuple(_Group(*(np.array([pat[i] for pat in pats]) for i in range(5)))
                       for _, pats in sorted(by_k.items()))
        return cls(int(sum(pat[2] for pats in by_k.values() for pat in pats)), p, groups)

    def _blocks(self, g: _Group, mu, sigma):
        s = sigma[g.obs[:, :, None], g.obs[:, None, :]]
        d = g.mean - mu[g.obs]
        return s, d, g.cov + d[:, :, None] * d[:, None, :]

    def _inverses(self, mu, sigma):
        """Per group: (W = Σₒ⁻¹, d = x̄ − μₒ, S + ddᵀ, log|Σₒ|), or None where a Σₒ is not
        positive definite. One inversion per group serves the likelihood, the gradient and the
        information of the same point (``fit_structured`` keeps the last point's)."""
        out = []
        for g in self.groups:
            s, d, m = self._blocks(g, mu, sigma)
            sign, logdet = np.linalg.slogdet(s)
            if np.any(sign <= 0):
                return None
            out.append((np.linalg.inv(s), d, m, logdet))
        return out

    def _loglik(self, inverses) -> float:
        total = 0.0
        for g, (w, _, m, logdet) in zip(self.groups, inverses):
            tr = np.einsum("gij,gji->g", w, m)
            total -= 0.5 * np.sum(g.n * (g.obs.shape[1] * LOG2PI + logdet + tr))
        return float(total)

    def _gradients(self, inverses):
        p = self.p
        g_sigma = np.zeros(p * p)
        g_mu = np.zeros(p)
        for g, (inv, d, m, _) in zip(self.groups, inverses):
            part = 0.5 * g.n[:, None, None] * (inv - inv @ m @ inv)
            flat = g.obs[:, :, None] * p + g.obs[:, None, :]   # bincount: far faster than add.at
            g_sigma += np.bincount(flat.ravel(), part.ravel(), p * p)
            g_mu -= np.bincount(g.obs.ravel(), (g.n[:, None] * np.einsum("gij,gj->gi", inv, d)).ravel(), p)
        return g_sigma.reshape(p, p), g_mu

    def loglik(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """Normal log-likelihood of all rows under (mu, sigma); −inf if Σ is not positive definite."""
        inverses = self._inverses(mu, sigma)
        return -np.inf if inverses is None else self._loglik(inverses)

    def gradients(self, mu: np.ndarray, sigma: np.ndarray):
        """d(−logL)/dΣ (as a full symmetric matrix) and d(−logL)/dμ."""
        inverses = [(np.linalg.inv(s), d, m, None) for s, d, m in
                    (self._blocks(g, mu, sigma) for g in self.groups)]
        return self._gradients(inverses)

    def _curvature(self, mu, sigma, inverses=None):
        """The pattern sums behind the observed information, over full p × p layouts.

        With W, Q = W(S + ddᵀ)W and Wd zero outside each pattern's answered items, the second
        differential of −logL is Σ n/2·[2 tr(Q dΣ W dΣ) − tr(W dΣ W dΣ)] + 2 Σ n (W dΣ W d)ᵀdμ
        + Σ n dμᵀW dμ. Stacking the patterns' vec W, vec Q as rows, every Kronecker sum is one
        matrix product: ``hss[(a,b),(c,i)]`` (the Σ-Σ form, entries dΣ_ab·dΣ_ci), ``hsm[(a,b), j]``
        (Σ-μ) and ``hmm`` (μ-μ)."""
        p = self.p
        inverses = self._inverses(mu, sigma) if inverses is None else inverses
        if inverses is None:
            raise np.linalg.LinAlgError("the covariance is not positive definite")
        rows = sum(g.n.size for g in self.groups)
        w_all, q_all, wd_all, n_all = (np.zeros((rows, p, p)), np.zeros((rows, p, p)),
                                       np.zeros((rows, p)), np.zeros(rows))
        at = 0
        for g, (w, d, m, _) in zip(self.groups, inverses):
            size = g.n.size
            r = np.arange(at, at + size)
            ri, ci = r[:, None, None], (g.obs[:, :, None], g.obs[:, None, :])
            w_all[ri, ci[0], ci[1]] = w
            q_all[ri, ci[0], ci[1]] = w @ m @ w
            wd_all[r[:, None], g.obs] = np.einsum("gij,gj->gi", w, d)
            n_all[r] = g.n
            at += size
        iu = np.triu_indices(p)          # Q, W symmetric: the products over vech (a quarter of vec)
        vech = np.zeros((p, p), dtype=int)
        vech[iu] = np.arange(iu[0].size)
        vech = (vech + vech.T - np.diag(np.diag(vech))).ravel()
        w_v = w_all[:, iu[0], iu[1]]
        nw_v = n_all[:, None] * w_v
        t = _serial_matmul((q_all[:, iu[0], iu[1]] - 0.5 * w_v).T, nw_v)[np.ix_(vech, vech)]  # [(i,a),(b,c)]
        hss = t.reshape(p, p, p, p).transpose(1, 2, 3, 0).reshape(p * p, p * p)
        hsm = _serial_matmul(nw_v.T, wd_all)[vech].reshape(p, p, p).transpose(1, 2, 0).reshape(p * p, p)  # [(a,b), j]
        hmm = nw_v.sum(axis=0)[vech].reshape(p, p)
        return hss, hsm, hmm

    def structured_information(self, mu, sigma, deltas, curvature=None, inverses=None) -> np.ndarray:
        """Observed information (Hessian of −logL) over (x, μ) of a model Σ(x) with free means:
        ``deltas`` (k, p, p) = dΣ/dx; ``curvature`` (k, k) = Σ_ab d(−logL)/dΣ_ab·∂²Σ_ab/∂x∂x (the
        part from Σ's own curvature; zero for a model linear in x)."""
        hss, hsm, hmm = self._curvature(mu, sigma, inverses)
        k = deltas.shape[0]
        flat = deltas.reshape(k, -1)
        h_xx = _serial_matmul(_serial_matmul(flat, hss), flat.T)
        if curvature is not None:
            h_xx = h_xx + curvature
        h_xm = _serial_matmul(flat, hsm)
        out = np.block([[h_xx, h_xm], [h_xm.T, hmm]])
        return (out + out.T) / 2

    def available(self):
        """Per item: answers, mean and biased variance over the available answers."""
        total, sq, count = np.zeros(self.p), np.zeros(self.p), np.zeros(self.p)
        for g in self.groups:
            np.add.at(total, g.obs, g.n[:, None] * g.mean)
            np.add.at(sq, g.obs, g.n[:, None] * (np.einsum("gii->gi", g.cov) + g.mean ** 2))
            np.add.at(count, g.obs, np.broadcast_to(g.n[:, None], g.obs.shape))
        mean = total / count
        return count, mean, sq / count - mean ** 2

    def saturated_information(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Observed information of the saturated model over (μ, vech Σ), analytic, per pattern.

        For a pattern with W = Σₒ⁻¹, d = x̄ − μₒ, Q = W(S + ddᵀ)W and n rows, the Hessian of
        −logL is n·W for the means, n·(Wd ⊗ W) between vec Σ and μ, and
        n/2·(Q ⊗ W + W ⊗ Q − W ⊗ W) for vec Σ (``_curvature``: all patterns in one matrix
        product), mapped to vech Σ by the duplication matrix D (DᵀHD gathered, not multiplied).
        """
        p = self.p
        hss, hsm, hmm = self._curvature(mu, sigma)
        iu = np.triu_indices(p)   # DᵀHD by gathering: vech entry (i, j) is vec entries (i, j) and (j, i)
        a, b = iu[0] * p + iu[1], iu[1] * p + iu[0]
        half = np.where(iu[0] == iu[1], 0.5, 1.0)
        h_ss = (hss[np.ix_(a, a)] + hss[np.ix_(b, a)] + hss[np.ix_(a, b)] + hss[np.ix_(b, b)]) \
            * half[:, None] * half[None, :]
        h_sm = (hsm[a] + hsm[b]) * half[:, None]
        info = np.block([[hmm, h_sm.T], [h_sm, (h_ss + h_ss.T) / 2]])
        return (info + info.T) / 2

    def mean_covariance(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Sampling covariance of the saturated model's (EM) means: the mean block of the
        inverse observed information over (μ, vech Σ), as lavaan's ``vcov()`` of the saturated
        model with ``missing = "ml"``. Under MAR means and covariances are not orthogonal, so
        the whole information is inverted."""
        cov = _serial_inv(self.saturated_information(mu, sigma))[:self.p, :self.p]
        return (cov + cov.T) / 2

    def saturated(self, tol: float = 1e-10, maxiter: int = 10_000, start=None):
        """EM estimates of the unrestricted mean and covariance (lavaan's H1 model).

        EM starts from the available-case means and variances, or from ``start`` = (mean,
        covariance), e.g. the estimates on nearly the same rows (a refresh after new responses
        then needs a few iterations); both stop at the same fixed point within ``tol``."""
        p, n_total = self.p, self.n
        if start is not None:
            mu, sigma = (np.array(a, dtype=float) for a in start)
        else:
            _, mu, var = self.available()
            sigma = np.diag(var)
        for _ in range(maxiter):
            t1, t2 = np.zeros(p), np.zeros((p, p))
            for g in self.groups:
                sum_x = g.n[:, None] * g.mean                                   # (G, k)
                sum_xx = g.n[:, None, None] * (g.cov + g.mean[:, :, None] * g.mean[:, None, :])
                o, m = g.obs, g.mis
                np.add.at(t1, o, sum_x)
                np.add.at(t2, (o[:, :, None], o[:, None, :]), sum_xx)
                if m.shape[1] == 0:
                    continue
                s_oo = sigma[o[:, :, None], o[:, None, :]]
                s_mo = sigma[m[:, :, None], o[:, None, :]]
                s_mm = sigma[m[:, :, None], m[:, None, :]]
                beta = s_mo @ np.linalg.inv(s_oo)                               # (G, q, k)
                resid = s_mm - beta @ np.swapaxes(s_mo, 1, 2)
                a = mu[m] - np.einsum("gqk,gk->gq", beta, mu[o])                # (G, q)
                bx = np.einsum("gqk,gk->gq", beta, sum_x)
                np.add.at(t1, m, g.n[:, None] * a + bx)
                cross = sum_x[:, :, None] * a[:, None, :] + sum_xx @ np.swapaxes(beta, 1, 2)
                np.add.at(t2, (o[:, :, None], m[:, None, :]), cross)
                np.add.at(t2, (m[:, :, None], o[:, None, :]), np.swapaxes(cross, 1, 2))
                mm = (g.n[:, None, None] * (resid + a[:, :, None] * a[:, None, :])
                      + a[:, :, None] * bx[:, None, :] + bx[:, :, None] * a[:, None, :]
                      + beta @ sum_xx @ np.swapaxes(beta, 1, 2))
                np.add.at(t2, (m[:, :, None], m[:, None, :]), mm)
            new_mu = t1 / n_total
            new_sigma = t2 / n_total - np.outer(new_mu, new_mu)
            new_sigma = (new_sigma + new_sigma.T) / 2
            change = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
            mu, sigma = new_mu, new_sigma
            if change < tol:
                break
        return mu, sigma


_GEMM_SERIAL = 262_144  # OpenBLAS runs a gemm with m·n·k up to this on the calling thread


def _serial_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` summed over slices of the inner dimension small enough for OpenBLAS to run each
    on the calling thread. Its threads spin-wait: on two busy cores a 196 × 959 × 196 product took
    70 ms threaded against 10 ms on one thread (1.6 vs 2.4 ms when quiet), and a process-wide
    thread limit is not thread-safe (model/README.md)."""
    step = max(1, _GEMM_SERIAL // max(1, a.shape[0] * b.shape[1]))
    if step >= a.shape[1]:
        return a @ b
    out = a[:, :step] @ b[:step]
    for s in range(step, a.shape[1], step):
        out += a[:, s:s + step] @ b[s:s + step]
    return out


_LAPACK_SERIAL = 100   # OpenBLAS factorizes a matrix of fewer than 10,000 entries on the calling thread


def _serial_inv(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix by 2 × 2 blocks (Schur complements, positive
    definite as well) smaller than ``_LAPACK_SERIAL``, so that no factorization wakes OpenBLAS's
    threads: on the busy machine a threaded 119 × 119 inverse took 13 ms (median), 0.5 ms serial."""
    n = a.shape[0]
    if n < _LAPACK_SERIAL:
        return np.linalg.inv(a)
    h = n // 2
    a_inv = _serial_inv(a[:h, :h])
    ab = _serial_matmul(a_inv, a[:h, h:])                 # A⁻¹B
    s_inv = _serial_inv(a[h:, h:] - _serial_matmul(a[h:, :h], ab))
    top_right = -_serial_matmul(ab, s_inv)
    return np.block([[a_inv - _serial_matmul(top_right, ab.T), top_right], [top_right.T, s_inv]])


@dataclass(frozen=True)
class FimlFit:
    x: np.ndarray          # structural parameters (semopy's order)
    mu: np.ndarray         # item intercepts
    cov: np.ndarray        # sampling covariance of (x, mu) from the observed information
    loglik: float
    success: bool
    message: str


CHI2_TOL = 1e-6   # the Newton decrement (−logL units, half a χ² unit) below which FIML is verified


def _newton(value, gradient, theta, lower, hess, steps: int):
    """Newton steps with a fixed observed Hessian (Levenberg-damped where it is not positive
    definite), variances at their bound held there while the gradient points outward, steps
    that cross a bound projected onto it (backtracking line search).
    Returns (theta, Newton decrement, undamped positive definite information, settled: the
    parameters, not only −logL, reached the optimum)."""
    from .optimize import _newton_direction
    f = value(theta)
    decrement, proper = np.inf, False
    for _ in range(steps):
        g = gradient(theta)
        active = (theta - lower <= 1e-12) & (g > 0)
        step, proper = _newton_direction(g, hess, np.flatnonzero(~active))
        if step is None:
            return theta, np.inf, False, False
        decrement = -float(g @ step)
        if proper and decrement < CHI2_TOL and (np.max(np.abs(step)) < 1e-8 or decrement < 1e-13):
            return theta, decrement, proper, True  # flat directions: the parameters must settle too
        t = 1.0
        while t > 1e-10:
            trial = np.maximum(theta + t * step, lower)
            f_trial = value(trial)
            if f_trial <= f + 1e-4 * float(g @ (trial - theta)):
                break
            t /= 2
        else:
            break
        theta, f = trial, f_trial
    return theta, decrement, proper, False


def fit_structured(patterns: Patterns, x0: np.ndarray, mu0: np.ndarray,
                   sigma_fn: Callable, sigma_curvature: Callable, maxiter: int = 10_000,
                   lower: np.ndarray | None = None, restarts: list | None = None) -> FimlFit:
    """Minimize −logL over structural parameters and intercepts, and verify the optimum.

    ``sigma_fn(x)`` returns the model-implied covariance and dΣ/dx stacked as (k, p, p);
    ``sigma_curvature(x, G)`` the (k, k) matrix Σ_ab G_ab·∂²Σ_ab/∂x∂x, which with
    ``Patterns.structured_information`` makes the observed information analytic (the finite
    differences of the gradient it replaces cost k + p likelihood passes per Hessian).
    ``lower`` bounds the structural parameters (variances ≥ 0). From ``x0`` (the ML fit to the
    EM covariance, close to the FIML optimum, or a previous fit's estimates) and ``mu0``, Newton
    steps with the observed information (refreshed when progress slows) reach the optimum; it is
    verified when the Newton decrement is below ``CHI2_TOL`` with a positive definite
    information. An unverified fit is repeated from each start in ``restarts`` and the best
    verified one is kept. numpy only (scipy's optimizers call scipy's own OpenBLAS, whose
    threads are slow here).
    """
    k = x0.size
    n = patterns.n
    lower = np.full(k, -np.inf) if lower is None else np.asarray(lower, float)
    bounds_all = np.concatenate([lower, np.full(mu0.size, -np.inf)])

    last = {}

    def evaluate(theta):
        """Σ(x), dΣ/dx, the per-pattern inverses, −logL and its gradient at ``theta`` (the
        last point is kept: the line search's accepted point is where the next gradient and
        information are taken)."""
        key = theta.tobytes()
        if last.get("key") != key:
            x, mu = theta[:k], theta[k:]
            sigma, grads = sigma_fn(x)
            inverses = patterns._inverses(mu, sigma)
            if inverses is None:
                fun, grad, g_sigma = np.inf, np.zeros_like(theta), None
            else:
                fun = -patterns._loglik(inverses)
                g_sigma, g_mu = patterns._gradients(inverses)
                grad = np.concatenate([np.tensordot(grads, g_sigma, axes=2), g_mu])
                if not np.isfinite(fun):
                    fun, grad = np.inf, np.zeros_like(theta)
            last.clear()
            last.update(key=key, sigma=sigma, grads=grads, inverses=inverses, fun=fun, grad=grad,
                        g_sigma=g_sigma)
        return last

    value = lambda theta: evaluate(theta)["fun"]
    gradient = lambda theta: evaluate(theta)["grad"]

    def information(theta):
        """Observed information at ``theta``, analytic (NaN where Σ is not positive definite:
        no Newton step is taken from there)."""
        e = evaluate(theta)
        if e["inverses"] is None or not np.isfinite(e["fun"]):
            return np.full((theta.size, theta.size), np.nan)
        curvature = sigma_curvature(theta[:k], e["g_sigma"])
        return patterns.structured_information(theta[k:], e["sigma"], e["grads"], curvature,
                                               e["inverses"])

    rounds = max(1, min(4, int(maxiter)))

    def attempt(x_start):
        theta = np.maximum(np.concatenate([x_start, mu0]), bounds_all)
        hess, hess_at = information(theta), theta
        ok, decrement, budget = False, np.inf, int(maxiter)  # maxiter bounds the Newton steps
        for _ in range(rounds):
            steps = min(10, budget)
            if steps <= 0:
                break
            budget -= steps
            new, decrement, proper, settled = _newton(value, gradient, theta, bounds_all, hess, steps)
            moved = np.max(np.abs(new - theta))
            theta = new
            ok = proper and decrement < CHI2_TOL and np.isfinite(value(theta))
            if settled or moved <= 1e-6:
                break
            # not settled (a start far from the optimum, e.g. a previous fit's, converges only
            # linearly with the information of the start): refresh it and go on
            hess, hess_at = information(theta), theta
        if hess_at is not theta:   # the standard errors: the information at the solution itself,
            hess = information(theta)  # so they depend on where the fit ended, not on its path
        if ok:
            why = "converged"
        elif decrement < CHI2_TOL:
            why = "the information matrix is singular at the solution (a parameter is not identified there)"
        elif np.isfinite(decrement):
            why = f"the gradient is not zero at the best point found (Newton decrement {decrement:.2g})"
        else:
            why = "the information matrix is not positive definite"
        return theta, hess, ok, why

    tried = [attempt(x0)]
    if not tried[0][2]:
        for x_start in (restarts or [])[:2]:
            tried.append(attempt(np.asarray(x_start, float)))
            if tried[-1][2]:
                break
    pool = [t for t in tried if t[2]] or tried
    theta, hess, ok, why = min(pool, key=lambda t: value(t[0]))
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(hess)
    sigma, _ = sigma_fn(theta[:k])
    return FimlFit(theta[:k], theta[k:], cov, patterns.loglik(theta[k:], sigma), ok, why)


def chi_squares(patterns: Patterns, h1_mu: np.ndarray, h1_sigma: np.ndarray, loglik0: float):
    """Likelihood-ratio chi² of the model and of the independence baseline against H1.

    The baseline's ML estimates are closed-form even with gaps: its likelihood factorizes over
    items, so each item's mean and (biased) variance over its available answers are the MLE.
    """
    _, mu_b, var_b = patterns.available()
    loglik1 = patterns.loglik(h1_mu, h1_sigma)
    return 2 * (loglik1 - loglik0), 2 * (loglik1 - patterns.loglik(mu_b, np.diag(var_b)))
