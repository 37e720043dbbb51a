"""Full-information maximum likelihood for incomplete answers (lavaan's ``missing="ml"``).

Rows are grouped by their pattern of answered items, so every computation loops over patterns,
never over respondents. The saturated (H1) model is fitted by EM; the structured (H0) model by
quasi-Newton on the analytic gradient, starting from a fit to the EM covariance; standard errors
come from the observed information (numerical Hessian of the analytic gradient), as lavaan's
default for ``missing="ml"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize

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
        by_k: dict[int, list] = {}
        for start, count in zip(starts, counts):
            rows = order[start:start + count]
            obs = np.flatnonzero(answered[rows[0]])
            block = values[np.ix_(rows, obs)]
            mean = block.mean(axis=0)
            dev = block - mean
            by_k.setdefault(obs.size, []).append(
                (obs, np.setdiff1d(np.arange(p), obs), float(count), mean, dev.T @ dev / count))
        groups = tuple(_Group(*(np.array([pat[i] for pat in pats]) for i in range(5)))
                       for _, pats in sorted(by_k.items()))
        return cls(int(keep.sum()), p, groups)

    def _blocks(self, g: _Group, mu, sigma):
        s = sigma[g.obs[:, :, None], g.obs[:, None, :]]
        d = g.mean - mu[g.obs]
        return s, d, g.cov + d[:, :, None] * d[:, None, :]

    def loglik(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """Normal log-likelihood of all rows under (mu, sigma); −inf if Σ is not positive definite."""
        total = 0.0
        for g in self.groups:
            s, _, m = self._blocks(g, mu, sigma)
            sign, logdet = np.linalg.slogdet(s)
            if np.any(sign <= 0):
                return -np.inf
            tr = np.einsum("gij,gji->g", np.linalg.inv(s), m)
            total -= 0.5 * np.sum(g.n * (g.obs.shape[1] * LOG2PI + logdet + tr))
        return float(total)

    def gradients(self, mu: np.ndarray, sigma: np.ndarray):
        """d(−logL)/dΣ (as a full symmetric matrix) and d(−logL)/dμ."""
        g_sigma = np.zeros((self.p, self.p))
        g_mu = np.zeros(self.p)
        for g in self.groups:
            s, d, m = self._blocks(g, mu, sigma)
            inv = np.linalg.inv(s)
            part = 0.5 * g.n[:, None, None] * (inv - inv @ m @ inv)
            np.add.at(g_sigma, (g.obs[:, :, None], g.obs[:, None, :]), part)
            np.add.at(g_mu, g.obs, -g.n[:, None] * np.einsum("gij,gj->gi", inv, d))
        return g_sigma, g_mu

    def available(self):
        """Per item: answers, mean and biased variance over the available answers."""
        total, sq, count = np.zeros(self.p), np.zeros(self.p), np.zeros(self.p)
        for g in self.groups:
            np.add.at(total, g.obs, g.n[:, None] * g.mean)
            np.add.at(sq, g.obs, g.n[:, None] * (np.einsum("gii->gi", g.cov) + g.mean ** 2))
            np.add.at(count, g.obs, np.broadcast_to(g.n[:, None], g.obs.shape))
        mean = total / count
        return count, mean, sq / count - mean ** 2

    def saturated(self, tol: float = 1e-10, maxiter: int = 10_000):
        """EM estimates of the unrestricted mean and covariance (lavaan's H1 model)."""
        p, n_total = self.p, self.n
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


@dataclass(frozen=True)
class FimlFit:
    x: np.ndarray          # structural parameters (semopy's order)
    mu: np.ndarray         # item intercepts
    cov: np.ndarray        # sampling covariance of (x, mu) from the observed information
    loglik: float
    success: bool
    message: str


def fit_structured(patterns: Patterns, x0: np.ndarray, mu0: np.ndarray,
                   sigma_fn: Callable, maxiter: int = 10_000) -> FimlFit:
    """Minimize −logL over structural parameters and intercepts.

    ``sigma_fn(x)`` returns the model-implied covariance and dΣ/dx stacked as (k, p, p).
    """
    k = x0.size
    n = patterns.n

    def objective(theta):
        x, mu = theta[:k], theta[k:]
        sigma, grads = sigma_fn(x)
        value = -patterns.loglik(mu, sigma)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(theta)
        g_sigma, g_mu = patterns.gradients(mu, sigma)
        return value / n, np.concatenate([np.tensordot(grads, g_sigma, axes=2), g_mu]) / n

    res = optimize.minimize(objective, np.concatenate([x0, mu0]), jac=True, method="L-BFGS-B",
                            options={"maxiter": int(maxiter), "ftol": 1e-15, "gtol": 1e-9})
    theta = res.x
    # observed information: forward differences of the analytic gradient (k + p evaluations)
    g0 = objective(theta)[1] * n
    step = 1e-6 * np.maximum(1.0, np.abs(theta))
    hess = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        shifted = theta.copy()
        shifted[j] += step[j]
        hess[:, j] = (objective(shifted)[1] * n - g0) / step[j]
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(hess)
    sigma, _ = sigma_fn(theta[:k])
    return FimlFit(theta[:k], theta[k:], cov, patterns.loglik(theta[k:], sigma),
                   bool(res.success), str(res.message))


def chi_squares(patterns: Patterns, h1_mu: np.ndarray, h1_sigma: np.ndarray, loglik0: float):
    """Likelihood-ratio chi² of the model and of the independence baseline against H1.

    The baseline's ML estimates are closed-form even with gaps: its likelihood factorizes over
    items, so each item's mean and (biased) variance over its available answers are the MLE.
    """
    _, mu_b, var_b = patterns.available()
    loglik1 = patterns.loglik(h1_mu, h1_sigma)
    return 2 * (loglik1 - loglik0), 2 * (loglik1 - patterns.loglik(mu_b, np.diag(var_b)))
