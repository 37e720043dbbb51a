"""Estimation: the only module that imports semopy, and the public ``fit`` entry point."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd

from . import checks, exceptions, fiml, groups, optimize, pls
from .assemble import build_result
from .exceptions import ConvergenceWarning, HeywoodCaseWarning, ModelError, SpecificationError
from .spec import CSISpec, check_model
from .fiml import FimlFit, Patterns
from .moments import SufficientStats
from .scores import em_item_means
from .stats import ItemMeans, Moments, Solution

MAXITER = 10_000
_HEYWOOD_TOL = 1e-6  # a free variance below this share of its item's variance counts as zero
MISSING_METHODS = ("fiml", "listwise")
ESTIMATORS = ("ml", "mlr", "pls")  # the one list of estimator names (fit, CLI, JSON ``estimator``)
REMEDIES = ("check for items that are near copies of each other, drop items that load weakly on "
            "their construct, and collect more complete responses")


# semopy's ModelBase.__init__ stores the new instance's bound methods in class-level dicts
# (dict_effects, dict_operations) and parses through them, so two models built at once in two
# threads apply each other's effects. Construction is serialized; the fit itself runs in parallel.
_SEMOPY_LOCK = threading.Lock()


@dataclass(frozen=True)
class Estimation:
    """What semopy returned, translated into construct/item order and plain arrays."""

    solution: Solution
    se_B: np.ndarray
    se_Lambda: np.ndarray
    converged: bool
    message: str
    heywood: tuple[str, ...]
    fiml: FimlFit | None = None  # set when incomplete rows were fitted by FIML
    se_Psi: np.ndarray | None = None    # SEs in the layout of Psi and Theta (NaN where fixed)
    se_Theta: np.ndarray | None = None
    x: np.ndarray | None = None         # the estimates in semopy's parameter order (warm starts)


@dataclass(frozen=True, eq=False)
class Start:
    """What a fit leaves for the next fit of the same spec on nearly the same rows (kept on the
    CSIResult, pickled with it): the H1 (EM) mean and covariance under FIML, the ML/FIML estimates
    in semopy's parameter order and the FIML intercepts. ``key`` names the spec it belongs to."""

    key: tuple
    x: np.ndarray | None = None
    mu: np.ndarray | None = None
    h1_mean: np.ndarray | None = None
    h1_cov: np.ndarray | None = None


def _spec_key(spec: CSISpec) -> tuple:
    return (spec.model, tuple(spec.observed), spec.to_syntax())


def _start_for(start, spec: CSISpec) -> Start | None:
    """The warm start a ``start=`` argument gives for ``spec``: None (a cold fit) when there is
    none or it belongs to another spec, variant or item order; TypeError if it is not a CSIResult."""
    if start is None:
        return None
    from .results import CSIResult
    if not isinstance(start, CSIResult):
        raise TypeError(f"start must be a CSIResult of an earlier fit, got {type(start).__name__}")
    warm = start._start
    return warm if isinstance(warm, Start) and warm.key == _spec_key(spec) else None


def estimate(moments: Moments, spec: CSISpec, maxiter: int = MAXITER,
             patterns: Patterns | None = None, start: Start | None = None) -> Estimation:
    """Fit the ML model to the covariance (verified optimum, ``model.optimize``) and read back
    matrices and SEs.

    With ``patterns`` (incomplete answers), ``moments`` hold the EM estimates of the saturated
    model; the ML fit to them is the start for FIML (``model.fiml``), whose estimates and
    observed-information SEs replace semopy's. Items are renamed to safe identifiers so any
    column name works in the model text. semopy is imported here, not at module level: it
    eagerly imports plotting and reporting code, which would add about two seconds to every
    ``import model`` (and to app start-up).

    ``start`` (a previous fit of the same spec): FIML runs its Newton steps from the previous
    estimates and intercepts, and falls back to the cold path below when that does not verify;
    the ML fit tries the previous estimates first. Either way the optimum is verified as from
    a cold start, so the estimates agree with a cold fit's to the optimiser's tolerance.
    """
    import semopy

    observed = list(spec.observed)
    safe = {item: f"x{j}" for j, item in enumerate(observed)}
    safe_names = list(safe.values())
    codes = spec.codes
    try:
        with np.errstate(all="ignore"):  # a context variable: thread-safe, unlike warnings filters
            with _SEMOPY_LOCK:  # semopy's parser dispatches through class-level dicts of bound
                model = semopy.Model(spec.to_syntax(safe))  # methods: one model at a time
            # load the covariance without Model.load/fit: they call logging.info(), which
            # configures the root logger when the application has not
            order = [observed.index(next(k for k, v in safe.items() if v == s)) for s in model.vars["observed"]]
            model.mx_cov = moments.cov[np.ix_(order, order)].copy()  # not load_cov: scipy LAPACK
            model.n_samples = moments.n
            model.load_starting_values()
            model.prepare_params()
            lat = [model.names_beta[0].index(c) for c in codes]
            obs = [model.names_lambda[0].index(s) for s in safe_names]
            problem = optimize.MLProblem(model, moments.n)
            warm = start.x if start is not None and start.x is not None and \
                start.x.shape == problem.lower.shape else None
            full = None
            if patterns is not None and warm is not None:
                mu0 = start.mu if start.mu is not None and start.mu.shape == moments.mean.shape else moments.mean
                full = fiml.fit_structured(patterns, warm.copy(), mu0.copy(), _sigma_function(model, np.array(obs)),
                                           _sigma_curvature(model, np.array(obs)), maxiter, lower=problem.lower)
                if not full.success:
                    full = None  # the cold path, from every start
            if full is None:
                x_lavaan = optimize.lavaan_start(model, model.mx_cov,
                                                 {c: [safe[i] for i in spec.items[c]] for c in codes})
                starts = ([("lavaan's FABIN 3 starts with a structural start",
                            optimize.structural_start(model, model.mx_cov, x_lavaan))]
                          + optimize.alternative_starts(model, model.mx_cov, x_lavaan)
                          + [("semopy's starts", model.param_vals.copy()), ("lavaan's default starts", x_lavaan)])
                if warm is not None and patterns is None:
                    starts = [("the previous fit's estimates", warm.copy())] + starts
                best = optimize.best_optimum(problem, starts, maxiter)
                model.param_vals = best.x
                model.update_matrices(best.x)
                if patterns is not None:
                    full = fiml.fit_structured(patterns, best.x.copy(), moments.mean.copy(),
                                               _sigma_function(model, np.array(obs)),
                                               _sigma_curvature(model, np.array(obs)), maxiter,
                                               lower=problem.lower,
                                               restarts=[x for _, x in starts])
            if full is not None:
                model.update_matrices(full.x)
                fim_inv = full.cov[:full.x.size, :full.x.size]
            else:
                fim_inv = _fim_inv(model, moments.n)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as err:
        raise ModelError(f"estimation failed ({err}); {REMEDIES}") from None

    solution = Solution(
        B=model.mx_beta[np.ix_(lat, lat)].copy(),
        Lambda=model.mx_lambda[np.ix_(obs, lat)].copy(),
        Psi=model.mx_psi[np.ix_(lat, lat)].copy(),
        Theta=model.mx_theta[np.ix_(obs, obs)].copy(),
    )
    se = np.sqrt(np.clip(np.diag(fim_inv), 0, None))
    se_B = np.full(solution.B.shape, np.nan)
    se_L = np.full(solution.Lambda.shape, np.nan)
    se_P = np.full(solution.Psi.shape, np.nan)
    se_T = np.full(solution.Theta.shape, np.nan)
    lat_pos = {semopy_i: mine for mine, semopy_i in enumerate(lat)}
    obs_pos = {semopy_i: mine for mine, semopy_i in enumerate(obs)}
    psi_pos = {model.names_psi[0].index(c): mine for mine, c in enumerate(codes)}
    theta_pos = {model.names_theta[0].index(s): mine for mine, s in enumerate(safe_names)}
    active = [p for p in model.parameters.values() if p.active]
    for k, param in enumerate(active):
        for loc in param.locations:
            i, j = loc.indices
            if loc.matrix is model.mx_beta:
                se_B[lat_pos[i], lat_pos[j]] = se[k]
            elif loc.matrix is model.mx_lambda:
                se_L[obs_pos[i], lat_pos[j]] = se[k]
            elif loc.matrix is model.mx_psi:
                se_P[psi_pos[i], psi_pos[j]] = se[k]
            elif loc.matrix is model.mx_theta:
                se_T[theta_pos[i], theta_pos[j]] = se[k]

    heywood = _heywood(solution, spec, moments)
    if full is not None:
        return Estimation(solution, se_B, se_L, full.success and np.isfinite(full.loglik),
                          full.message, heywood, full, se_Psi=se_P, se_Theta=se_T, x=full.x.copy())
    return Estimation(solution, se_B, se_L, best.verified and np.isfinite(best.fun),
                      best.message, heywood, se_Psi=se_P, se_Theta=se_T, x=best.x.copy())


def _fim_inv(model, n: int) -> np.ndarray:
    """Inverse expected information n/2·tr(Σ⁻¹ΔᵢΣ⁻¹Δⱼ), as semopy's ``calc_fim`` but in one
    batched product instead of a Python double loop (0.3 ms instead of 5)."""
    sigma, (m, c) = model.calc_sigma()
    a = np.linalg.solve(sigma, np.asarray(model.calc_sigma_grad(m, c)))   # Σ⁻¹Δₖ, stacked
    fim = n / 2 * np.einsum("aij,bji->ab", a, a)
    try:
        return np.linalg.inv(fim)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(fim)


def _sigma_function(model, order: np.ndarray):
    """Σ(x) and dΣ/dx_k in our item order, from semopy's matrices (for the FIML objective)."""
    def sigma_fn(x):
        model.update_matrices(x)
        sigma, (m, c) = model.calc_sigma()
        grads = np.asarray(model.calc_sigma_grad(m, c))
        return sigma[np.ix_(order, order)], grads[:, order][:, :, order]
    return sigma_fn


def _sigma_curvature(model, order: np.ndarray):
    """``curvature(x, G)`` = Σ_ab G_ab·∂²Σ_ab/∂x∂x (G in our item order), analytic.

    Σ = MΨMᵀ + Θ with M = ΛC, C = (I − B)⁻¹; a parameter k moves one entry of Λ, B, Ψ (both
    symmetric entries) or Θ. With dC_k = C dB_k C and dM_k = dΛ_k C + Λ dC_k:
    ∂²M_kl = dΛ_k dC_l + dΛ_l dC_k + Λ(dC_l dB_k C + dC_k dB_l C), Θ is linear, and for symmetric G
    tr(G ∂²Σ_kl) = 2 tr(G ∂²M_kl ΨMᵀ) + 2 tr(G dM_k dΨ_l Mᵀ) + 2 tr(G dM_l dΨ_k Mᵀ) + 2 tr(G dM_k Ψ dM_lᵀ).
    """
    where = optimize._locate(model)
    beta, lam, psi = model.matrices[:3]
    size = len(where)
    d_lam, d_beta, d_psi = np.zeros((size,) + lam.shape), np.zeros((size,) + beta.shape), np.zeros((size,) + psi.shape)
    for k, (kind, (i, j)) in enumerate(where):
        if kind == "lambda":
            d_lam[k, i, j] = 1
        elif kind == "beta":
            d_beta[k, i, j] = 1
        elif kind == "psi":
            d_psi[k, i, j] = d_psi[k, j, i] = 1
    inverse = np.argsort(order)

    def curvature(x, g):
        model.update_matrices(x)
        beta, lam, psi = model.matrices[:3]
        g = g[np.ix_(inverse, inverse)]         # semopy's item order
        g = (g + g.T) / 2
        c = np.linalg.inv(model.identity_c - beta)
        m = lam @ c
        d_c = c @ d_beta @ c                                   # (k, m, m)
        d_m = d_lam @ c + lam @ d_c                            # (k, p, m)
        a = g @ m @ psi                                        # tr(G X Ψ Mᵀ) = Σ X∘A
        gm = g @ m
        e = c @ a.T @ lam                                      # tr(Aᵀ Λ X C) = tr(E X)
        second = (np.einsum("kac,lcb,ab->kl", d_lam, d_c, a)
                  + np.einsum("ij,ljc,kci->kl", e, d_c, d_beta))
        second = second + second.T                             # the k↔l halves of ∂²M
        cross = np.einsum("kab,lbc,ac->kl", d_m, d_psi, gm)
        outer = np.einsum("kab,lab->kl", g @ d_m @ psi, d_m)
        out = 2 * (second + cross + cross.T + outer)
        return (out + out.T) / 2
    return curvature


def _heywood(solution: Solution, spec: CSISpec, moments: Moments) -> tuple[str, ...]:
    """Name variances at or below zero and standardized loadings above one."""
    found = []
    item_var = np.diag(moments.cov)
    for j, item in enumerate(spec.observed):
        single = len(spec.items[spec.construct_of(item)]) == 1  # error variance fixed at 0
        if not single and solution.Theta[j, j] <= _HEYWOOD_TOL * item_var[j]:
            found.append(f"error variance of {item} ({solution.Theta[j, j]:.3g})")
    exogenous = {a for a, _ in spec.paths} - {b for _, b in spec.paths}
    for k, code in enumerate(spec.constructs):
        marker = spec.observed.index(spec.items[code][0])
        if solution.Psi[k, k] <= _HEYWOOD_TOL * item_var[marker]:
            kind = "variance" if code in exogenous else "disturbance variance"
            found.append(f"{kind} of {code} ({solution.Psi[k, k]:.3g})")
    std = solution.standardized().Lambda
    for j, item in enumerate(spec.observed):
        k = spec.codes.index(spec.construct_of(item))
        if abs(std[j, k]) > 1 + 1e-6:
            found.append(f"standardized loading of {item} ({std[j, k]:.3f} > 1)")
    return tuple(found)


def _resolve_spec(columns, spec, model) -> CSISpec:
    """The spec of ``fit``'s arguments (``columns``: the data's column names); a CSISpec of
    another variant than ``model`` is an error."""
    name = check_model(model if model is not None else getattr(spec, "model", None))
    if spec is None:
        return CSISpec.from_columns(columns, name)
    if isinstance(spec, Mapping):
        return CSISpec.from_mapping(spec, name)
    if not isinstance(spec, CSISpec):
        raise SpecificationError(f"spec must be a CSISpec or a mapping, got {type(spec).__name__}")
    if spec.model != name:
        raise SpecificationError(f"the spec is for model {spec.model} but model={model!r} was asked for")
    return spec


def fit(data: pd.DataFrame, spec: CSISpec | None = None, scale=(1, 10), *,
        missing: str = "fiml", maxiter: int = MAXITER, estimator: str = "ml", group=None,
        bootstrap: int = 0, seed: int | None = None, workers: int | None = None,
        model: str | None = None, progress=None, start=None):
    """Fit the CSI model (ACSI, ECSI or CCSI; ML, MLR, or PLS with ``estimator="pls"``) and compute every statistic.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; item columns numeric on ``scale``, NaN for "don't know".
        Other columns are ignored.
    spec : CSISpec or mapping, optional
        Construct-to-item assignment (a mapping goes through ``CSISpec.from_mapping``); by
        default ``CSISpec.from_columns(data.columns)``.
    scale : (float, float)
        Lowest and highest possible answer, used to check answers and rescale scores to 0-100.
    missing : {"fiml", "listwise"}
        Treatment of missing answers: full-information ML over every row with at least one
        answer (lavaan ``missing="ml"``), or listwise deletion (lavaan's default). Identical
        when no answer is missing.
    maxiter : int
        Iteration limit of the optimiser.
    estimator : {"ml", "mlr", "pls"}
        Maximum likelihood (lavaan ``sem()``); ``"mlr"``: the ML estimates with Huber-White
        (sandwich) SEs, the Yuan-Bentler scaled chi² and robust CFI/TLI/RMSEA, as lavaan
        ``estimator="MLR"`` (``model.robust``); or PLS path modelling as ACSI, SmartPLS and seminr
        do it (Mode A, path weighting; ``model.pls``), fitted to the same item moments:
        complete rows for listwise, the EM covariance under FIML.
    group : str, optional
        Column naming each respondent's group (at most 20): the result adds the multi-group
        invariance tests and common-weight group indices (``model.groups``; complete
        responses within each group).
    bootstrap : int
        Number of bootstrap draws (0: none). Rows are resampled with replacement and every draw
        is refitted, index weights included; percentile 95% intervals are added to paths,
        loadings, effects, indices and IPMA rows (see ``model.bootstrap``).
    seed : int, optional
        Seed of the bootstrap; the same seed gives the same numbers on any number of processes.
        None draws one and reports it in ``to_dict()["bootstrap"]["seed"]``.
    workers : int, optional
        Processes for the bootstrap draws (default: up to two cores; 1 runs in-process).
    model : {"acsi", "ecsi", "ccsi"}, optional
        The structural model (``model.spec.VARIANTS``): ACSI (default), ECSI (adds corporate image
        ``IM``) or CCSI (brand image ``IM``, no complaints). Default: the spec's own, else ACSI.
    progress : callable, optional
        ``progress(done, total)`` is called as bootstrap draws finish (for a progress display);
        it does not change the numbers.
    start : CSIResult, optional
        An earlier fit of the same spec on nearly the same rows (e.g. before the latest
        responses): EM starts from its H1 mean and covariance, the ML/FIML optimiser from its
        estimates; the optimum is verified as in a cold fit (a warm start that does not verify
        falls back to the cold starts), so every number agrees with a cold fit's to the
        optimiser's tolerance, only sooner. A result of another spec, variant or item order (or
        a PLS result, for the optimiser) is ignored: the fit is cold. Not used by the bootstrap
        draws.

    Returns
    -------
    CSIResult
        Frozen result; ``to_dict()`` gives the JSON schema, ``to_text()`` a summary.

    Raises
    ------
    DataError
        Missing item columns, non-numeric answers, answers outside the scale, items without
        variation or perfectly collinear, fewer usable responses than ``min_responses(spec)``
        (complete ones for listwise), two items (almost) never answered together (FIML); with
        ``group``: the column is missing or an item, has fewer than 2 or more than 20 values,
        or a group has fewer complete responses than ``min_responses(spec)``.
    SpecificationError
        Columns do not follow the ``<CODE><n>`` convention and no spec was given, or the
        mapping is incomplete.
    ModelError
        The estimation broke down numerically.

    Warns
    -----
    ConvergenceWarning
        The optimum could not be verified (from any start); the result has ``converged=False``.
    HeywoodCaseWarning
        A variance is at or below zero; the result carries a ``heywood`` warning.

    Notes
    -----
    Missing answers: by default the model is fitted by full-information ML on every row with
    at least one answer (rows without any answer are ``n_dropped``); with
    ``missing="listwise"`` rows with any missing item are left out and counted instead. Index
    and item scores use the EM item means under FIML, every available answer per item under
    listwise deletion (see ``model.scores``). ``converged`` means a verified optimum
    (``model.optimize``).

    Examples
    --------
    >>> result = fit(df)                      # doctest: +SKIP
    >>> result.csi, result.to_dict()["fit"]["cfi"]   # doctest: +SKIP
    """
    scale = checks.check_scale(scale)
    if not isinstance(data, pd.DataFrame):
        raise checks.DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    spec = _resolve_spec(data.columns, spec, model)
    if estimator not in ESTIMATORS:
        raise SpecificationError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if missing not in MISSING_METHODS:
        raise SpecificationError(f"missing must be one of {MISSING_METHODS}, got {missing!r}")
    bootstrap = _check_bootstrap(bootstrap, seed, workers)
    checks.check_columns(data, spec)
    values = checks.check_numeric(data, spec)
    checks.check_range(values, spec, scale)  # on the rows, so the message can name them
    warm = _start_for(start, spec)
    prep = prepare(SufficientStats.from_values(values, spec.observed), spec, scale, missing, warm)
    rows = None
    if estimator == "mlr":  # casewise scores need the fitted rows
        complete = ~np.isnan(values).any(axis=1)
        rows = values if prep.patterns is not None or complete.all() else values[complete]
    group_data = groups.split(data, group, values, spec) if group is not None else None
    boot_values = values if bootstrap else None  # the rows the draws resample
    del values
    result, est = _estimate_and_build(prep, spec, scale, missing, estimator, maxiter, rows, warm)
    if group_data is not None:  # invariance is tested by ML (lavaan), from the pooled ML fit
        solution = estimate(prep.moments, spec, maxiter).solution if estimator == "pls" else est.solution
        result = groups.attach(result, *group_data, solution)
    return _bootstrapped(result, boot_values, prep.patterns, est, bootstrap, seed, workers, maxiter, progress) \
        if bootstrap else result


@dataclass(frozen=True)
class Prepared:
    """What the estimation and ``build_result`` read, derived from sufficient statistics only."""

    moments: Moments              # complete rows (listwise, or no gaps), else the EM moments
    patterns: Patterns | None     # set when FIML fits incomplete rows
    item_means: ItemMeans
    n_total: int
    dropped_reasons: dict
    answer_range: tuple[float, float]


def prepare(stats: SufficientStats, spec: CSISpec, scale, missing: str, start: Start | None = None) -> Prepared:
    """Checks and moments from the statistics over ``spec.observed``: the one path from data
    to the model, shared by ``fit`` (rows) and ``fit_stats`` (stored statistics).

    Under FIML with incomplete rows the per-pattern moments become ``fiml.Patterns`` and the EM
    moments; otherwise the complete rows' moments. Item means: EM means under FIML, available
    answers under listwise deletion (pairwise sampling covariance, ``SufficientStats.item_means``).
    ``start`` (a previous fit's ``Start``) starts EM from its H1 mean and covariance.
    """
    low, high = stats.answer_range()
    checks.check_answer_range(low, high, spec, scale)
    n_total, n_complete = stats.n_total, stats.n_complete
    patterns = None
    if missing == "fiml" and n_complete < n_total:
        n_used = stats.n_answered
        checks.check_sample_size(n_used, n_total, spec, what="responses with any answer")
        checks.check_coverage(stats.together(), spec)
        patterns = stats.to_patterns()
        h1 = None
        if start is not None and start.h1_cov is not None and start.h1_cov.shape == (patterns.p, patterns.p):
            h1 = (start.h1_mean, start.h1_cov)
        moments = Moments(n_used, *patterns.saturated(start=h1))
        dropped_reasons = {"no_answer": n_total - n_used}
    else:
        checks.check_sample_size(n_complete, n_total, spec)
        moments = stats.complete_moments()
        dropped_reasons = {"missing_answer": n_total - n_complete}
    checks.check_variance(moments.cov, spec)
    if patterns is not None:  # FIML: the EM means, which use what the answered items say about the rest
        item_means = em_item_means(patterns, moments.mean, moments.cov)
    elif n_complete == n_total:
        item_means = ItemMeans.from_moments(moments)
    else:
        item_means = stats.item_means()
    return Prepared(moments, patterns, item_means, n_total,
                    {k: v for k, v in dropped_reasons.items() if v},
                    (float(np.nanmin(low)), float(np.nanmax(high))))


def _estimate_and_build(prep: Prepared, spec: CSISpec, scale, missing: str, estimator: str,
                        maxiter: int, rows=None, start: Start | None = None):
    """Estimate (ML, FIML, PLS; MLR with ``rows``) and assemble the result: ``(result, est)``;
    the result keeps a ``Start`` for the next fit. Warnings are issued at the caller of
    ``fit`` / ``fit_stats``."""
    if estimator == "pls":  # needs only the item correlations: no semopy, no FIML likelihood
        est = pls.estimate(prep.moments, spec)
        pls.warn_unconverged(est, stacklevel=4)
    else:
        est = estimate(prep.moments, spec, maxiter, prep.patterns, start)
        if not est.converged:
            exceptions.warn(f"the optimiser did not converge ({est.message}); estimates are unreliable: "
                            f"{REMEDIES}", ConvergenceWarning, stacklevel=3)
        if est.heywood:
            exceptions.warn(f"improper solution (Heywood case): {'; '.join(est.heywood)}; {REMEDIES}",
                            HeywoodCaseWarning, stacklevel=3)
    result = build_result(spec, scale, prep.moments, est, n_total=prep.n_total, item_means=prep.item_means,
                          missing=missing, patterns=prep.patterns, estimator=estimator,
                          rows=rows if estimator == "mlr" else None, answer_range=prep.answer_range,
                          dropped_reasons=prep.dropped_reasons, stacklevel=4)
    fiml_fit = getattr(est, "fiml", None) if estimator != "pls" else None
    h1 = prep.patterns is not None
    keep = Start(_spec_key(spec), x=getattr(est, "x", None) if estimator != "pls" else None,
                 mu=fiml_fit.mu.copy() if fiml_fit is not None else None,
                 h1_mean=prep.moments.mean.copy() if h1 else None, h1_cov=prep.moments.cov.copy() if h1 else None)
    return replace(result, _start=keep), est


def fit_stats(stats: SufficientStats, spec: CSISpec | None = None, scale=(1, 10), *,
              estimator: str = "ml", missing: str = "fiml", maxiter: int = MAXITER,
              model: str | None = None, start=None):
    """``fit`` from stored sufficient statistics instead of rows: the same CSIResult.

    ``stats`` (``model.moments.SufficientStats``) may hold more items than the spec uses, in
    any order; the spec defaults to ``CSISpec.from_columns(stats.items)``. ``fit`` turns its
    rows into these statistics and runs the same pipeline (``prepare``, then estimation and
    ``build_result``), so on the statistics of the rows ``fit`` was given every number agrees
    (bit for bit for integer answers, whose statistics are exact; see ``model.moments``).
    ML and PLS, complete data, listwise deletion and FIML are all supported.

    ``estimator="mlr"`` raises SpecificationError: its point estimates are the ML ones, but the
    Huber-White SEs and the scaled chi² need each respondent's casewise scores, which the
    statistics do not hold; returning ML SEs under an MLR label would be false. Fit with
    ``estimator="ml"`` (the same estimates) or fit the rows. Groups (invariance) and the
    bootstrap need rows too and are not arguments here.

    ``start``: a CSIResult of an earlier fit (e.g. the same survey before its latest
    responses), as in ``fit``.

    Raises DataError (too few responses, no variation, answers outside the scale, items never
    answered together, missing items) and SpecificationError as ``fit``; warns as ``fit``.
    """
    scale = checks.check_scale(scale)
    if not isinstance(stats, SufficientStats):
        raise checks.DataError(f"stats must be a SufficientStats, got {type(stats).__name__}")
    if estimator == "mlr":
        raise SpecificationError("estimator='mlr' needs the rows: its robust SEs and scaled chi² come from "
                                 "each respondent's scores, which sufficient statistics do not keep; use "
                                 "estimator='ml' (the same point estimates) or fit the rows")
    if estimator not in ESTIMATORS:
        raise SpecificationError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if missing not in MISSING_METHODS:
        raise SpecificationError(f"missing must be one of {MISSING_METHODS}, got {missing!r}")
    spec = _resolve_spec(stats.items, spec, model)
    warm = _start_for(start, spec)
    prep = prepare(stats.select(spec.observed), spec, scale, missing, warm)
    return _estimate_and_build(prep, spec, scale, missing, estimator, maxiter, start=warm)[0]


def _bootstrapped(result, values, patterns, est, draws, seed, workers, maxiter, progress=None):
    """``result`` with bootstrap intervals (FIML resamples the rows with an answer)."""
    from .bootstrap import bootstrap_fit
    rows = values[~np.isnan(values).all(axis=1)] if patterns is not None else values
    return bootstrap_fit(result, rows, result.spec, result.scale, est, draws=draws, seed=seed,
                         fiml=patterns is not None, workers=workers, maxiter=maxiter, progress=progress)[0]


def _check_bootstrap(bootstrap, seed, workers) -> int:
    """Validate the bootstrap arguments (bools are not counts); return the number of draws."""
    def whole(value, name, low):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SpecificationError(f"{name} must be a whole number >= {low}, got {value!r}")
        return int(value)

    draws = whole(bootstrap, "bootstrap", 0)
    if seed is not None:
        whole(seed, "seed", 0)
    if workers is not None:
        whole(workers, "workers", 1)
    return draws
