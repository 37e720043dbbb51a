"""Statistics derived from the sample moments and the fitted matrices, never from raw rows.

Every formula follows lavaan 0.6 with ``estimator="ML"``, ``likelihood="normal"`` (the biased
covariance S, dividing by N) so the numbers agree with lavaan to well beyond three decimals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

Z975 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class Moments:
    """Means and ML covariance (divide by N) of the complete responses."""

    n: int
    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def from_values(cls, values: np.ndarray) -> "Moments":
        """Compute means and covariance in one pass of BLAS work (no Python loop over rows)."""
        n = values.shape[0]
        mean = values.mean(axis=0)
        centred = values - mean
        cov = centred.T @ centred / n
        return cls(n, mean, (cov + cov.T) / 2)

    @property
    def cov_unbiased(self) -> np.ndarray:
        """Covariance dividing by N - 1 (for sampling variances of means and for alpha)."""
        return self.cov * self.n / (self.n - 1)

    @property
    def corr(self) -> np.ndarray:
        sd = np.sqrt(np.diag(self.cov))
        return self.cov / np.outer(sd, sd)


@dataclass(frozen=True)
class ItemMeans:
    """Item means over every available answer and the sampling covariance of those means."""

    n: np.ndarray         # answers per item
    mean: np.ndarray
    cov_of_means: np.ndarray

    @classmethod
    def from_moments(cls, moments: Moments) -> "ItemMeans":
        """Complete data: cov(x̄) = S/n with S dividing by N − 1."""
        p = moments.mean.size
        return cls(np.full(p, moments.n), moments.mean, moments.cov_unbiased / moments.n)

    @classmethod
    def from_values(cls, values: np.ndarray) -> "ItemMeans":
        """Available-case means; cov(x̄_i, x̄_j) = n_ij·s_ij / (n_i·n_j) with s_ij the pairwise
        covariance over the n_ij rows answering both (as ``DataFrame.cov``); S/n without gaps."""
        answered = ~np.isnan(values)
        mask = answered.astype(float)
        n_i = mask.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(answered, values, 0.0).sum(axis=0) / n_i
            dev = np.where(answered, values - mean, 0.0)
            n_ij = mask.T @ mask
            sums = dev.T @ mask  # sums[i, j]: Σ dev_i over rows answering both i and j
            cross = dev.T @ dev - sums * sums.T / n_ij  # deviations from the pair's own means
            s_ij = np.where(n_ij > 1, cross / (n_ij - 1), 0.0)
            cov = np.where(n_ij > 1, n_ij * s_ij / np.outer(n_i, n_i), 0.0)
        return cls(n_i.astype(int), mean, (cov + cov.T) / 2)


def f_ml(S: np.ndarray, sigma: np.ndarray) -> float:
    """ML discrepancy log|Σ| + tr(SΣ⁻¹) − log|S| − p."""
    p = S.shape[0]
    sign_s, logdet_s = np.linalg.slogdet(S)
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0 or sign_s <= 0:
        return float("nan")
    return float(logdet + np.trace(np.linalg.solve(sigma, S)) - logdet_s - p)


def rmsea_ci(chi2: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """RMSEA confidence interval by inverting the noncentral chi-square in λ (as lavaan does)."""
    if df <= 0 or not np.isfinite(chi2):
        return float("nan"), float("nan")
    tail = (1 - level) / 2

    def bound(prob):
        f = lambda lam: special.chndtr(chi2, df, lam) - prob  # noncentral chi² CDF (λ = 0: central)
        if f(0.0) < 0:
            return 0.0
        hi = max(chi2, 1.0)
        while f(hi) > 0:
            hi *= 2
        return optimize.brentq(f, 0.0, hi, xtol=1e-12)

    lower, upper = bound(1 - tail), bound(tail)
    return float(np.sqrt(lower / (n * df))), float(np.sqrt(upper / (n * df)))


def fit_indices(S: np.ndarray, sigma: np.ndarray, n: int, df: int, *, chi2: float | None = None,
                chi2_b: float | None = None, mean_resid: np.ndarray | None = None) -> dict:
    """chi², p, CFI, TLI, RMSEA (+90% CI) and SRMR against the independence baseline.

    Complete data: chi² = N·F_ML(S, Σ) and the baseline keeps every item's variance free
    (diagonal of S), also for a single-item construct whose error variance the target model
    fixes, as lavaan does; semopy's ``calc_stats`` copies the fixed variance into its baseline and
    reports CFI = 1. FIML passes both chi² values (likelihood ratios against the EM saturated
    model) and the mean residuals, which SRMR then includes (lavaan's ``srmr_bentler``).
    """
    p = S.shape[0]
    sd = np.sqrt(np.diag(S))
    if chi2 is None:
        chi2 = n * f_ml(S, sigma)
        chi2_b = -n * np.linalg.slogdet(S / np.outer(sd, sd))[1]
    df_b = p * (p - 1) // 2
    d, d_b = max(chi2 - df, 0.0), max(chi2_b - df_b, 0.0)
    cfi = 1.0 if max(d, d_b) == 0 else 1 - d / max(d, d_b)
    tli = ((chi2_b / df_b) - (chi2 / df)) / ((chi2_b / df_b) - 1) if df > 0 else float("nan")
    rmsea = float(np.sqrt(d / (n * df))) if df > 0 else float("nan")
    resid = ((S - sigma) / np.outer(sd, sd))[np.tril_indices(p)]
    if mean_resid is not None:
        resid = np.concatenate([resid, mean_resid / sd])
    srmr = float(np.sqrt(np.mean(resid ** 2)))
    return {
        "chi2": float(chi2), "df": int(df),
        "p_value": float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        "cfi": float(cfi), "tli": float(tli), "rmsea": rmsea,
        "rmsea_ci": list(rmsea_ci(chi2, df, n)), "srmr": srmr,
        "baseline_chi2": float(chi2_b), "baseline_df": int(df_b),
    }


@dataclass(frozen=True)
class Solution:
    """Fitted RAM-style matrices in construct order: η = Bη + ζ, x = Λη + ε."""

    B: np.ndarray        # B[to, from]
    Lambda: np.ndarray   # items x constructs
    Psi: np.ndarray      # covariance of ζ
    Theta: np.ndarray    # covariance of ε

    @property
    def total_effects(self) -> np.ndarray:
        """(I − B)⁻¹ − I: total effect of column construct on row construct."""
        k = self.B.shape[0]
        return np.linalg.inv(np.eye(k) - self.B) - np.eye(k)

    @property
    def latent_cov(self) -> np.ndarray:
        c = np.linalg.inv(np.eye(self.B.shape[0]) - self.B)
        return c @ self.Psi @ c.T

    @property
    def sigma(self) -> np.ndarray:
        return self.Lambda @ self.latent_cov @ self.Lambda.T + self.Theta

    def standardized(self) -> "Solution":
        """lavaan's ``std.all``: latents and items scaled to unit model-implied variance."""
        with np.errstate(invalid="ignore", divide="ignore"):
            sd_eta = np.sqrt(np.diag(self.latent_cov))
            sd_x = np.sqrt(np.diag(self.sigma))
            return Solution(
                B=self.B * np.outer(1 / sd_eta, sd_eta),
                Lambda=self.Lambda * np.outer(1 / sd_x, sd_eta),
                Psi=self.Psi / np.outer(sd_eta, sd_eta),
                Theta=self.Theta / np.outer(sd_x, sd_x),
            )

    def r2(self) -> np.ndarray:
        """Explained share of each latent's variance (NaN for exogenous constructs)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = 1 - np.diag(self.Psi) / np.diag(self.latent_cov)
        r2[~self.B.any(axis=1)] = np.nan
        return r2


def wald(estimate: float, se: float) -> dict:
    """z, two-sided p and 95% Wald interval for one estimate."""
    if not (np.isfinite(se) and se > 0):
        return {"se": float("nan"), "z": float("nan"), "p_value": float("nan"),
                "ci": [float("nan"), float("nan")]}
    z = estimate / se
    return {"se": float(se), "z": float(z), "p_value": float(2 * special.ndtr(-abs(z))),
            "ci": [float(estimate - Z975 * se), float(estimate + Z975 * se)]}


def cronbach_alpha(cov: np.ndarray) -> float:
    """k/(k−1)·(1 − Σ var / var(sum)); NaN for a single item."""
    k = cov.shape[0]
    if k < 2:
        return float("nan")
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))


def composite_reliability(std_loadings: np.ndarray, std_residuals: np.ndarray) -> tuple[float, float]:
    """(CR, AVE) from standardized loadings and residual variances (Fornell & Larcker 1981)."""
    s = std_loadings.sum() ** 2
    return float(s / (s + std_residuals.sum())), float(np.mean(std_loadings ** 2))


def htmt(abs_corr: np.ndarray, a: list[int], b: list[int]) -> float:
    """Heterotrait-monotrait ratio (Henseler et al. 2015) on absolute item correlations.

    Undefined (NaN) when either construct has a single item: there is no monotrait correlation.
    """
    if len(a) < 2 or len(b) < 2:
        return float("nan")

    def mono(idx):
        block = abs_corr[np.ix_(idx, idx)]
        return block[np.triu_indices(len(idx), k=1)].mean()

    return float(abs_corr[np.ix_(a, b)].mean() / np.sqrt(mono(a) * mono(b)))


def loglik_normal(S: np.ndarray, sigma: np.ndarray, n: int) -> float:
    """Normal log-likelihood of complete data with saturated means: −N/2·(p·ln 2π + ln|Σ| +
    tr(SΣ⁻¹)), S dividing by N (lavaan's ``logl``; Σ = S gives ``unrestricted.logl``)."""
    p = S.shape[0]
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0:
        return float("nan")
    return float(-n / 2 * (p * np.log(2 * np.pi) + logdet + np.trace(np.linalg.solve(sigma, S))))


def information_criteria(loglik: float, npar: int, n: int) -> dict:
    """AIC, BIC and the sample-size adjusted BIC (N* = (N + 2)/24), as lavaan's aic/bic/bic2."""
    return {"aic": float(-2 * loglik + 2 * npar), "bic": float(-2 * loglik + npar * np.log(n)),
            "bic_adjusted": float(-2 * loglik + npar * np.log((n + 2) / 24))}


def rmsea_pclose(chi2: float, df: int, n: int, h0: float = 0.05) -> float:
    """p-value of the test of close fit, H0: RMSEA ≤ h0 (noncentrality N·df·h0², as lavaan)."""
    if df <= 0 or not np.isfinite(chi2):
        return float("nan")
    return float(1 - special.chndtr(chi2, df, n * df * h0 ** 2))
