"""PLS path modelling as ACSI, SmartPLS and seminr estimate the CSI model (``estimator="pls"``).

Mode A outer estimation, path-weighting inner scheme, standardized composites; iterate until the
summed absolute change of the outer weights is below 1e-7 (at most 300 iterations, seminr's and
SmartPLS's defaults), then OLS path coefficients among the composites. Every step needs only the
item correlation matrix, so the fit runs on the moments ``model.fit`` already computed (any N,
complete data, listwise or the EM covariance under FIML), never on the rows.

The fitted composites are written into the RAM-style :class:`~model.stats.Solution` that the ML
path fills, so effects, IPMA, CR/AVE and the score units come from the same code:

* ``B``: PLS path coefficients; ``Psi = (I−B)·C·(I−B)'`` so the implied latent covariance is the
  composite correlation matrix C (unit variances: standardized = unstandardized, ``r2`` = OLS R²);
* ``Lambda``: ``cov(item, composite) = sdᵢ·λᵢ`` (λ: the item-composite correlation, seminr's
  loading); ``Theta = sdᵢ²(1 − λᵢ²)``, so the standardized loadings are λ and the implied
  matrix ``Λ·C·Λ' + Θ`` is the saturated PLS model of the SRMR (Henseler et al. 2014; SmartPLS's
  "saturated model", openpls-engine's implied matrix).

Index weights follow ACSI: standardized outer weights divided by the item SD (item units),
rescaled to sum to one. The standardized composite is then an exact linear function of the
weighted item mean, ``Y = (Σ w̃ᵢxᵢ − mean)/sd``, so one composite SD is ``100·sd/(max − min)``
index points (``scores.score_units`` with ``Lambda`` above gives exactly that).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import exceptions, verdicts
from .exceptions import ConvergenceWarning, ModelError
from .spec import CSISpec
from .stats import Moments, Solution

TOLERANCE = 1e-7   # summed |Δ outer weight| (seminr's stopCriterion = 7)
MAX_ITER = 300     # seminr's and SmartPLS's default
REMEDIES = ("check that every construct's items are positively correlated with each other, drop "
            "items that barely relate to their construct, and collect more responses")


@dataclass(frozen=True)
class PLSFit:
    """Converged PLS estimates on the item correlation matrix, in construct order."""

    weights: np.ndarray     # items x constructs, standardized outer weights (0 outside the block)
    loadings: np.ndarray    # items x constructs, item-composite correlations (0 outside the block)
    B: np.ndarray           # B[to, from] path coefficients
    composite_corr: np.ndarray
    iterations: int
    converged: bool


def pls_path(corr: np.ndarray, blocks: list[list[int]], paths: list[tuple[int, int]],
             tol: float = TOLERANCE, max_iter: int = MAX_ITER) -> PLSFit:
    """Lohmöller's PLS algorithm (Mode A, path weighting) on an item correlation matrix.

    ``blocks[k]``: item indices of construct k; ``paths``: (from, to) construct indices. Same
    steps, start (unit weights) and stopping rule as seminr's ``simplePLS``: composites,
    inner proxies (regression weights on predecessors, correlations with successors),
    Mode A weights = item-proxy correlations, each block rescaled to a unit-variance composite.
    """
    p, k = corr.shape[0], len(blocks)
    mask = np.zeros((p, k))
    for c, idx in enumerate(blocks):
        mask[idx, c] = 1.0
    succ = np.zeros((k, k))              # succ[i, j] = 1: path j -> i (i follows j)
    preds = [[] for _ in range(k)]
    for a, b in paths:
        succ[b, a] = 1.0
        preds[b].append(a)

    def unit(w):  # rescale each column to a unit-variance composite
        return w / np.sqrt(np.einsum("ik,ij,jk->k", w, corr, w))

    w = mask.copy()
    converged, it = False, 0
    while True:
        w_std = unit(w)
        cc = w_std.T @ corr @ w_std
        inner = cc * succ
        for j, pr in enumerate(preds):
            if pr:
                inner[pr, j] = np.linalg.solve(cc[np.ix_(pr, pr)], cc[pr, j])
        proxy_sd = np.sqrt(np.einsum("ik,ij,jk->k", inner, cc, inner))
        new = unit((corr @ w_std @ inner) / proxy_sd * mask)
        diff = np.abs(new - w).sum()
        w = new
        if diff < tol:
            converged = True
            break
        if it >= max_iter or not np.isfinite(diff):
            break
        it += 1
    cc = w.T @ corr @ w
    B = np.zeros((k, k))
    for j, pr in enumerate(preds):
        if pr:
            B[j, pr] = np.linalg.solve(cc[np.ix_(pr, pr)], cc[pr, j])
    converged &= bool(np.all(np.isfinite(w)) and np.all(np.isfinite(B)))
    return PLSFit(weights=w, loadings=(corr @ w) * mask, B=B, composite_corr=cc,
                  iterations=it, converged=converged)


@dataclass(frozen=True)
class PLSEstimation:
    """The ``fit.Estimation`` fields ``assemble.build_result`` reads, plus the PLS estimates."""

    solution: Solution
    se_B: np.ndarray
    se_Lambda: np.ndarray
    converged: bool
    message: str
    heywood: tuple[str, ...]
    pls: PLSFit
    sd: np.ndarray          # item SDs of the moments (ACSI weights, unstandardized loadings)
    fiml: None = None


def estimate(moments: Moments, spec: CSISpec) -> PLSEstimation:
    """Fit PLS to the item correlations of ``moments`` and express it as a ``Solution``."""
    codes = spec.codes
    blocks = [[spec.observed.index(item) for item in spec.items[c]] for c in codes]
    paths = [(codes.index(a), codes.index(b)) for a, b in spec.paths]
    sd = np.sqrt(np.diag(moments.cov))
    try:
        with np.errstate(all="ignore"):
            res = pls_path(moments.corr, blocks, paths, TOLERANCE, MAX_ITER)
    except np.linalg.LinAlgError as err:
        raise ModelError(f"PLS estimation failed ({err}); {REMEDIES}") from None
    k = len(codes)
    lam = res.loadings
    eye = np.eye(k)
    solution = Solution(
        B=res.B, Lambda=lam * sd[:, None],
        Psi=(eye - res.B) @ res.composite_corr @ (eye - res.B).T,
        Theta=np.diag(sd ** 2 * (1 - (lam ** 2).sum(axis=1))),
    )
    message = (f"converged in {res.iterations} iterations" if res.converged else
               f"no convergence within {MAX_ITER} iterations (tolerance {TOLERANCE:g})")
    nan = np.full(res.B.shape, np.nan)
    return PLSEstimation(solution=solution, se_B=nan, se_Lambda=np.full(lam.shape, np.nan),
                         converged=res.converged, message=message, heywood=(), pls=res, sd=sd)


def warn_unconverged(est: PLSEstimation, stacklevel: int = 3) -> None:
    """Issue ``ConvergenceWarning`` at the caller of ``fit`` (the result says it as well)."""
    if not est.converged:
        exceptions.warn(f"PLS did not converge ({est.message}); estimates are unreliable: {REMEDIES}",
                      ConvergenceWarning, stacklevel=stacklevel)


def index_weights(est: PLSEstimation, spec: CSISpec) -> tuple[dict, list[str], list[str]]:
    """ACSI weights ``{code: array}``, constructs with equal weights because the fit did not
    converge, and items whose outer weight is not positive (their construct: equal weights)."""
    weights, fallback, negative = {}, [], []
    for k, code in enumerate(spec.constructs):
        idx = [spec.observed.index(item) for item in spec.items[code]]
        raw = est.pls.weights[idx, k] / est.sd[idx]
        if not (est.converged and np.all(np.isfinite(raw))):
            fallback.append(code)
        elif np.any(raw <= 0):
            negative += [item for item, r in zip(spec.items[code], raw) if r <= 0]
        else:
            weights[code] = raw / raw.sum()
            continue
        weights[code] = np.full(len(idx), 1 / len(idx))
    return weights, fallback, negative


def negative_weight_warning(items: list[str], spec: CSISpec) -> dict:
    codes = sorted({spec.construct_of(i) for i in items}, key=spec.codes.index)
    return {"code": "negative_weight",
            "message": f"the PLS outer weight of {', '.join(items)} is not positive, so the index of "
                       f"{', '.join(codes)} uses equal item weights; such an item measures the "
                       "opposite of its construct or almost nothing of it: check its wording and "
                       "coding (reversed scale?) or drop it"}


def rho_a(est: PLSEstimation, corr: np.ndarray, idx: list[int], k: int) -> float:
    """Dijkstra-Henseler ρ_A of one block (NaN for a single item, which is not rated)."""
    if len(idx) < 2:
        return float("nan")
    w = est.pls.weights[idx, k]
    off = corr[np.ix_(idx, idx)] - np.eye(len(idx))
    ww = np.outer(w, w)
    return float((w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w))


def fit_indices(est: PLSEstimation, moments: Moments) -> dict:
    """SRMR of the saturated PLS model and nothing that needs a likelihood.

    Implied correlations ``λᵢλⱼ·C_kl`` (``λᵢλⱼ`` within a block), unit diagonal, residuals
    averaged over the lower triangle with the diagonal as in Bentler's SRMR (and
    ``stats.fit_indices``). chi², CFI, TLI and RMSEA do not exist for PLS: ``None``, no verdict.
    """
    sigma, sd = est.solution.sigma, est.sd
    resid = ((moments.cov - sigma) / np.outer(sd, sd))[np.tril_indices(sd.size)]
    srmr = float(np.sqrt(np.mean(resid ** 2)))
    fit = {"chi2": None, "df": None, "p_value": None, "cfi": None, "tli": None, "rmsea": None,
           "rmsea_ci": [None, None], "srmr": srmr, "baseline_chi2": None, "baseline_df": None}
    fit["verdicts"] = {"srmr": verdicts.fit_verdicts(fit)["srmr"]}
    return fit
