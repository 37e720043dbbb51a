"""Turn moments and estimates into the fields of a CSIResult (numbers only, no text rendering)."""
from __future__ import annotations


import numpy as np

from . import checks, decision, exceptions, fiml, pls, robust, scores, stats, verdicts
from .exceptions import FitIndexWarning
from .results import CSIResult
from .spec import CSISpec

TARGETS = ("CS", "CL")
IPMA_TARGET = "CS"


def _upstream(spec: CSISpec, target: str) -> list[str]:
    """Constructs with a directed path to ``target``, in construct order."""
    found, frontier = set(), {target}
    while frontier:
        frontier = {a for a, b in spec.paths if b in frontier} - found
        found |= frontier
    return [c for c in spec.constructs if c in found]


def _data_warnings(spec, scale, moments, est, std, patterns, answer_range) -> dict:
    """Arguments of the data warnings of ``verdicts.result_warnings`` (see ``model.checks``)."""
    codes = spec.codes
    at_bound = any("variance" in h for h in est.heywood)
    beyond = []
    if not at_bound:
        beyond += [(f"{a} -> {b}", float(std.B[codes.index(b), codes.index(a)])) for a, b in spec.paths
                   if abs(std.B[codes.index(b), codes.index(a)]) > 1 + 1e-6]
        beyond += [(f"{spec.construct_of(item)} =~ {item}", float(std.Lambda[j, codes.index(spec.construct_of(item))]))
                   for j, item in enumerate(spec.observed)
                   if abs(std.Lambda[j, codes.index(spec.construct_of(item))]) > 1 + 1e-6]
    return {
        "scale": scale, "beyond_one": beyond,
        "scale_mismatch": None if answer_range is None else checks.scale_mismatch(answer_range, scale),
        "duplicates": checks.near_duplicates(moments.corr, spec),
        "rare": [] if patterns is None else checks.rarely_answered(patterns.available()[0], moments.n, spec),
    }


LIKELIHOOD_KEYS = ("loglik", "loglik_h1", "npar", "aic", "bic", "bic_adjusted", "rmsea_pclose")


def likelihood_measures(spec: CSISpec, moments: stats.Moments, est, fit: dict) -> dict:
    """lavaan's logl, unrestricted.logl, npar, AIC, BIC, bic2 and rmsea.pvalue.

    Complete data: the normal log-likelihood at Σ̂ and at S, no mean structure (npar without
    intercepts), as lavaan's default. FIML: the casewise log-likelihood of the structured model,
    H1 from χ² = 2·(logL₁ − logL₀), and the p intercepts count in npar (lavaan ``missing="ml"``)."""
    n = moments.n
    if est.fiml is None:
        loglik = stats.loglik_normal(moments.cov, est.solution.sigma, n)
        loglik_h1 = stats.loglik_normal(moments.cov, moments.cov, n)
        npar = spec.n_free_params()
    else:
        loglik, loglik_h1 = est.fiml.loglik, est.fiml.loglik + fit["chi2"] / 2
        npar = spec.n_free_params() + len(spec.observed)
    return {"loglik": loglik, "loglik_h1": float(loglik_h1), "npar": npar,
            **stats.information_criteria(loglik, npar, n),
            "rmsea_pclose": stats.rmsea_pclose(fit["chi2"], fit["df"], n)}


def variances(spec: CSISpec, est, std) -> dict:
    """Error variances of the items and (disturbance) variances of the constructs, with SEs
    where the estimation gives them (ML, MLR; not PLS) and lavaan's std.all."""
    sol = est.solution
    se_P, se_T = getattr(est, "se_Psi", None), getattr(est, "se_Theta", None)
    nan = np.full(sol.Psi.shape[0] + sol.Theta.shape[0], np.nan)
    se_P = np.diag(se_P) if se_P is not None else nan[:sol.Psi.shape[0]]
    se_T = np.diag(se_T) if se_T is not None else nan[:sol.Theta.shape[0]]
    is_pls = isinstance(est, pls.PLSEstimation)

    def row(value, std_value, se, fixed):
        return {"estimate": float(value), "std_estimate": float(std_value), "fixed": fixed,
                **stats.wald(value, se)}

    items = {item: row(sol.Theta[j, j], std.Theta[j, j], se_T[j],
                       not is_pls and len(spec.items[spec.construct_of(item)]) == 1)
             for j, item in enumerate(spec.observed)}
    exogenous = ~sol.B.any(axis=1)
    constructs = {code: {"kind": "variance" if exogenous[k] else "disturbance",
                         **row(sol.Psi[k, k], std.Psi[k, k], se_P[k], False)}
                  for k, code in enumerate(spec.codes)}
    return {"items": items, "constructs": constructs}


def build_result(spec: CSISpec, scale, moments: stats.Moments, est, *, n_total: int,
                 item_means: stats.ItemMeans, missing: str, dropped_reasons: dict,
                 patterns: fiml.Patterns | None = None, estimator: str = "ml",
                 rows=None, answer_range=None, stacklevel: int = 3) -> CSIResult:
    """Compute every statistic from the moments, item means (EM means under FIML) and fitted
    matrices.

    PLS (``est`` from ``model.pls``) shares everything but its fit indices (SRMR only), ACSI
    index weights and the standardized basis of alpha (seminr's and SmartPLS's convention). MLR
    (``estimator="mlr"``) replaces the SEs and adds robust fit measures from the fitted ``rows``."""
    codes = spec.codes
    sol, std = est.solution, est.solution.standardized()
    is_pls = isinstance(est, pls.PLSEstimation)
    negative = []
    if is_pls:
        fit = pls.fit_indices(est, moments)
    elif est.fiml is None:
        fit = stats.fit_indices(moments.cov, sol.sigma, moments.n, spec.degrees_of_freedom())
    else:
        chi2, chi2_b = fiml.chi_squares(patterns, moments.mean, moments.cov, est.fiml.loglik)
        fit = stats.fit_indices(moments.cov, sol.sigma, moments.n, spec.degrees_of_freedom(),
                                chi2=chi2, chi2_b=chi2_b, mean_resid=moments.mean - est.fiml.mu)
    fit.update(dict.fromkeys(LIKELIHOOD_KEYS) if is_pls else likelihood_measures(spec, moments, est, fit))
    if estimator == "mlr":
        est, fit = robust.apply(est, fit, spec, moments, rows, patterns)
    r2 = sol.r2()
    if is_pls:
        weights, fallback, negative = pls.index_weights(est, spec)
    else:
        weights, fallback = scores.index_weights(sol, spec, est.converged)
    indices = scores.construct_indices(item_means, spec, weights, scale)
    units = scores.score_units(sol, spec, weights, scale)
    abs_corr = np.abs(moments.corr)
    alpha_cov = moments.corr if is_pls else moments.cov

    constructs = {}
    for k, code in enumerate(codes):
        idx = [spec.observed.index(item) for item in spec.items[code]]
        cr, ave = stats.composite_reliability(std.Lambda[idx, k], np.diag(std.Theta)[idx])
        loadings = {}
        for item, j in zip(spec.items[code], idx):
            fixed = not is_pls and not np.isfinite(est.se_Lambda[j, k])
            loadings[item] = {"estimate": float(sol.Lambda[j, k]), "std_estimate": float(std.Lambda[j, k]),
                              "fixed": fixed, **stats.wald(sol.Lambda[j, k], est.se_Lambda[j, k]),
                              "r2": float(1 - std.Theta[j, j])}  # lavaan's r2 of the item
        name_en, name_zh = spec.constructs[code]
        constructs[code] = {
            "name_en": name_en, "name_zh": name_zh, "items": list(spec.items[code]),
            "weights": {item: float(w) for item, w in zip(spec.items[code], weights[code])},
            **indices[code],
            "r2": float(r2[k]), "alpha": stats.cronbach_alpha(alpha_cov[np.ix_(idx, idx)]),
            "cr": cr, "ave": ave, "loadings": loadings,
        }
        if is_pls:
            constructs[code]["rho_a"] = pls.rho_a(est, moments.corr, idx, k)
            constructs[code]["outer_weights"] = {item: float(est.pls.weights[j, k])
                                                 for item, j in zip(spec.items[code], idx)}

    paths = []
    for a, b in spec.paths:
        i, j = codes.index(b), codes.index(a)
        paths.append({"from": a, "to": b, "estimate": float(sol.B[i, j]),
                      "std_estimate": float(std.B[i, j]), **stats.wald(sol.B[i, j], est.se_B[i, j])})

    total, total_std = sol.total_effects, std.total_effects
    on_index = scores.index_effects(total, units)
    effects = []
    for target in TARGETS:
        t = codes.index(target)
        for driver in _upstream(spec, target):
            d = codes.index(driver)
            importance = float(on_index[t, d])
            effects.append({
                "from": driver, "to": target, "direct": float(sol.B[t, d]),
                "indirect": float(total[t, d] - sol.B[t, d]), "total": float(total[t, d]),
                "std_direct": float(std.B[t, d]), "std_indirect": float(total_std[t, d] - std.B[t, d]),
                "std_total": float(total_std[t, d]), "total_index": importance,
                "impact_5pt": 5 * importance,
            })

    drivers = [e for e in effects if e["to"] == IPMA_TARGET]
    # impact_5pt of an item: CS points for a 5-point rise of that item's 0-100 score
    ipma = scores.rank_priority([{"construct": e["from"], "importance": e["total_index"],
                                  "performance": constructs[e["from"]]["index"],
                                  "impact_5pt": e["impact_5pt"]} for e in drivers])
    ipma_items = scores.rank_priority([
        {"item": item, "construct": e["from"], "importance": e["total_index"] * w,
         "performance": constructs[e["from"]]["item_scores"][item], "impact_5pt": e["impact_5pt"] * w}
        for e in drivers for item, w in constructs[e["from"]]["weights"].items()])

    improve_first, decided = decision.decide(spec, constructs, effects, paths)
    latent_corr = std.latent_cov
    htmt = {}
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            ia = [spec.observed.index(x) for x in spec.items[a]]
            ib = [spec.observed.index(x) for x in spec.items[b]]
            htmt[f"{a}|{b}"] = stats.htmt(abs_corr, ia, ib)
    disc = verdicts.discriminant(latent_corr.tolist(), codes, {c: constructs[c]["ave"] for c in codes}, htmt)
    if not is_pls:
        fit["verdicts"] = verdicts.fit_verdicts(fit)
    reliability = verdicts.reliability_verdicts(constructs)
    if any(v["value"] is None for k, v in fit["verdicts"].items() if k != "chi2"):
        exceptions.warn("some fit indices are undefined for this model", FitIndexWarning, stacklevel=stacklevel)
    result_warnings = verdicts.result_warnings(
        converged=est.converged, message=est.message, heywood=est.heywood, n_used=moments.n,
        n_total=n_total, n_params=spec.n_free_params(), fit_v=fit["verdicts"],
        reliability=reliability, disc=disc, fallback=fallback, **_data_warnings(
            spec, scale, moments, est, std, patterns, answer_range))
    if negative:
        result_warnings.append(pls.negative_weight_warning(negative, spec))
    n_dropped = n_total - moments.n
    return CSIResult(
        spec=spec, scale=tuple(scale), n_total=n_total, n_used=moments.n, n_dropped=n_dropped,
        dropped_reasons=dropped_reasons, missing_method=missing, estimator=estimator,
        converged=est.converged, warnings=tuple(result_warnings), constructs=constructs,
        paths=tuple(paths), effects=tuple(effects), fit=fit, reliability_verdicts=reliability,
        discriminant=disc, ipma=tuple(ipma), ipma_items=tuple(ipma_items),
        improve_first=improve_first, decision=decided,
        latent_correlations={a: {b: float(latent_corr[i, j]) for j, b in enumerate(codes)}
                             for i, a in enumerate(codes)},
        variances=variances(spec, est, std),
    )
