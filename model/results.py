"""The frozen result of a CSI fit, its JSON form and its plain-text summary."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .groups import text_lines as groups_text
from .spec import CSISpec

MISSING_METHOD = "fiml"
_MISSING_TEXT = {"fiml": "full-information ML over every row with an answer",
                 "listwise": "listwise deletion of rows with missing answers"}
_PLS_MISSING_TEXT = {"fiml": "PLS on the EM covariance of every row with an answer",
                     "listwise": "listwise deletion of rows with missing answers"}
_MODEL_TEXT = {"acsi": "", "ecsi": " (ECSI structure: corporate image IM added)",
               "ccsi": " (CCSI structure: brand image IM, no complaints construct)"}
_ESTIMATOR_TEXT = {"ml": "ML estimation", "pls": "PLS path modelling (Mode A, path weighting)",
                   "mlr": "MLR estimation (ML estimates, robust Huber-White SEs, Yuan-Bentler scaled chi2)"}


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or value is None or kind is bool or kind is int:
        return value
    if isinstance(value, (dict, MappingProxyType)):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, eq=False)
class CSIResult:
    """Everything one fit produces; build it with :func:`model.fit`, never by hand.

    Attributes
    ----------
    spec : CSISpec
        Items per construct.
    scale : (float, float)
        Answer scale the 0-100 scores are rescaled from.
    n_total, n_used, n_dropped : int
        Rows given, rows the model used (FIML: rows with any answer; listwise: complete rows),
        rows left out.
    converged : bool
        Whether the optimum was verified (zero gradient within tolerance, KKT at bounds,
        positive definite information), not merely reported by an optimiser.
    warnings : tuple of dict
        ``{code, message}``; codes: not_converged, heywood, small_sample, many_dropped, poor_fit,
        fit_index_undefined, low_reliability, discriminant_validity, equal_weights,
        negative_weight (PLS), scale_mismatch, standardized_beyond_one, near_duplicate_items,
        rarely_answered, bootstrap_failed.
    estimator : str
        ``"ml"``, ``"mlr"`` (robust SEs in paths and loadings, robust measures in ``fit``) or
        ``"pls"``; PLS results have no SEs (None) and no chi²-based fit indices.
    bootstrap : dict or None
        ``{draws, failed, seed}`` when fitted with ``bootstrap=B`` (first key of ``to_dict``).
    bootstrap_draws : model.bootstrap.BootstrapResult or None
        Every successful draw's statistics (not in ``to_dict``), e.g. for histograms.
    constructs, paths, effects, fit, reliability_verdicts, discriminant, ipma, ipma_items
        As in :meth:`to_dict`.
    improve_first, decision
        The decision layer (``model.decision``): the PQ and PV items ranked by the CS points to gain,
        with intervals, tiers and ``p_top`` when bootstrapped; the constructs, zones and the
        expectations as context. ``ipma``/``ipma_items`` stay the importance-performance data of
        every driver of CS (expectations included); what to improve is ``improve_first``.
    invariance, groups : dict or None
        Multi-group invariance tests and group indices with ``fit(..., group=)`` (``model.groups``).
    """

    spec: CSISpec
    scale: tuple[float, float]
    n_total: int
    n_used: int
    n_dropped: int
    dropped_reasons: Mapping[str, int]
    converged: bool
    warnings: tuple[dict, ...]
    constructs: Mapping[str, dict]
    paths: tuple[dict, ...]
    effects: tuple[dict, ...]
    fit: Mapping[str, Any]
    reliability_verdicts: Mapping[str, Any]
    discriminant: Mapping[str, Any]
    ipma: tuple[dict, ...]
    ipma_items: tuple[dict, ...]
    latent_correlations: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    missing_method: str = MISSING_METHOD
    estimator: str = "ml"
    invariance: Mapping[str, Any] | None = None  # fit(..., group=): see model.groups
    groups: Mapping[str, Any] | None = None
    bootstrap: Mapping[str, Any] | None = None  # {draws, failed, seed} when fitted with bootstrap=B
    bootstrap_draws: Any = field(default=None, repr=False)  # model.bootstrap.BootstrapResult
    variances: Mapping[str, Any] = field(default_factory=dict)  # {items, constructs}: see assemble.variances
    improve_first: tuple[dict, ...] = ()  # item levers ranked by model.decision
    decision: Mapping[str, Any] = field(default_factory=dict)  # the rest of model.decision.decide
    # what a later fit of the same spec may start from (fit/fit_stats ``start=``): model.fit.Start
    _start: Any = field(default=None, repr=False)

    @property
    def csi(self) -> float:
        """The customer satisfaction index: the 0-100 score of CS."""
        return self.constructs["CS"]["index"]

    @property
    def weights(self) -> dict:
        """``{CODE: {item: weight}}``, weights summing to one within a construct."""
        return {code: dict(c["weights"]) for code, c in self.constructs.items()}

    @property
    def params(self) -> pd.DataFrame:
        """Paths and loadings as a float table indexed by ``"lhs op rhs"`` (lavaan notation)."""
        rows = {f"{p['to']} ~ {p['from']}": p for p in self.paths}
        for code, c in self.constructs.items():
            for item, ld in c["loadings"].items():
                rows[f"{code} =~ {item}"] = ld
        cols = ["estimate", "std_estimate", "se", "z", "p_value"]
        table = pd.DataFrame({k: [r[c] for c in cols] + list(r["ci"]) for k, r in rows.items()},
                             index=cols + ["ci_lower", "ci_upper"]).T
        return table.astype(float)

    def to_dict(self) -> dict:
        """JSON-able dict (NaN becomes None); keys as in the CLI's ``--json`` output."""
        head = {"bootstrap": self.bootstrap} if self.bootstrap is not None else {}
        return _plain({
            **head,
            "n_total": self.n_total, "n_used": self.n_used, "n_dropped": self.n_dropped,
            "dropped_reasons": self.dropped_reasons, "missing_method": self.missing_method,
            "estimator": self.estimator,
            "converged": self.converged, "scale": list(self.scale), "csi": self.csi,
            "warnings": self.warnings, "constructs": self.constructs, "paths": self.paths,
            "effects": self.effects, "fit": self.fit,
            "reliability_verdicts": self.reliability_verdicts, "discriminant": self.discriminant,
            "ipma": self.ipma, "ipma_items": self.ipma_items,
            "improve_first": self.improve_first, "decision": self.decision,
            "latent_correlations": self.latent_correlations, "variances": self.variances,
            "model_syntax": self.spec.to_syntax(),
            # the variant is named when it is not the default ACSI structure (as invariance, only when used)
            **({"model": self.spec.model} if self.spec.model != "acsi" else {}),
            **({"invariance": self.invariance, "groups": self.groups} if self.invariance is not None else {}),
        })

    def to_text(self, decimals: int = 3) -> str:
        """Readable summary: index, construct scores, paths, loadings, variances, effects, top
        drivers, fit (χ², RMSEA p-close, log-likelihoods, AIC/BIC), verdicts, warnings."""
        d = self.to_dict()
        f = lambda v, nd=decimals: "-" if v is None else f"{v:.{nd}f}"
        missing_text = (_PLS_MISSING_TEXT if self.estimator == "pls" else _MISSING_TEXT)[self.missing_method]
        lines = [
            f"Customer satisfaction index (CSI) model{_MODEL_TEXT[self.spec.model]}, "
            f"{_ESTIMATOR_TEXT.get(self.estimator, self.estimator)}",
            f"Responses: {self.n_used} used, {self.n_dropped} dropped ({missing_text}; "
            f"index scores use every answer); scale {self.scale[0]:g}-{self.scale[1]:g}; "
            f"converged: {'yes' if self.converged else 'NO'}",
            "",
            f"CSI (customer satisfaction, 0-100): {f(d['csi'], 1)}  95% CI "
            f"[{f(d['constructs']['CS']['index_ci'][0], 1)}, {f(d['constructs']['CS']['index_ci'][1], 1)}]",
            "",
            f"{'Construct':<28}{'Index':>7}{'95% CI':>16}{'R2':>7}{'alpha':>7}{'CR':>7}{'AVE':>7}",
        ]
        for code, c in d["constructs"].items():
            ci = f"[{f(c['index_ci'][0], 1)}, {f(c['index_ci'][1], 1)}]"
            lines.append(f"{code + ' ' + c['name_en']:<28}{f(c['index'], 1):>7}{ci:>16}"
                         f"{f(c['r2']):>7}{f(c['alpha']):>7}{f(c['cr']):>7}{f(c['ave']):>7}")
        boot = d.get("bootstrap")
        se_head = "Rob.SE" if self.estimator == "mlr" else "SE"
        head = f"{'Path':<12}{'Estimate':>10}{'Std':>8}{se_head:>8}{'z':>8}{'p':>8}"
        lines += ["", head + (f"{'boot SE':>9}{'boot 95% CI':>19}" if boot else "")]
        for p in d["paths"]:
            line = (f"{p['from'] + ' -> ' + p['to']:<12}{f(p['estimate']):>10}"
                    f"{f(p['std_estimate']):>8}{f(p['se']):>8}{f(p['z'], 2):>8}{f(p['p_value']):>8}")
            if boot:
                line += f"{f(p['boot_se']):>9}{'[' + f(p['boot_ci'][0]) + ', ' + f(p['boot_ci'][1]) + ']':>19}"
            lines.append(line)
        if boot:
            lines.append(f"Bootstrap: {boot['draws']} draws ({boot['failed']} failed, left out), seed "
                         f"{boot['seed']}; percentile 95% intervals, index weights re-estimated per draw")
        lines += _loading_lines(d, se_head, f)
        lines += _variance_lines(d, se_head, f)
        lines += _effect_lines(d, f)
        lines += _decision_lines(d, self.spec, f)
        fit = d["fit"]
        if self.estimator == "pls":
            lines += ["", "Fit: SRMR of the saturated PLS model (no likelihood: no chi2, CFI, TLI, "
                      "RMSEA, log-likelihood, AIC or BIC); judge the structure by R2 and the measurement by "
                      "loadings, CR and AVE"]
        else:
            lines += ["", f"Fit: chi2({fit['df']}) = {f(fit['chi2'], 2)}, p = {f(fit['p_value'])}; "
                      f"RMSEA 90% CI [{f(fit['rmsea_ci'][0])}, {f(fit['rmsea_ci'][1])}], "
                      f"p-close (RMSEA <= .05) = {f(fit['rmsea_pclose'])}",
                      f"Log-likelihood: model (H0) {f(fit['loglik'])}, saturated (H1) {f(fit['loglik_h1'])}; "
                      f"npar {fit['npar']}; AIC {f(fit['aic'])}, BIC {f(fit['bic'])}, "
                      f"adjusted BIC {f(fit['bic_adjusted'])}"]
        if self.estimator == "mlr":
            lines.append(f"Robust: scaled chi2({fit['df']}) = {f(fit['chi2_scaled'], 2)}, p = "
                         f"{f(fit['p_value_scaled'])} (scaling factor {f(fit['scaling_factor'])}); "
                         f"CFI {f(fit['cfi_robust'])}, TLI {f(fit['tli_robust'])}, "
                         f"RMSEA {f(fit['rmsea_robust'])}")
        for key in ("cfi", "tli", "rmsea", "srmr"):
            if key in fit["verdicts"]:
                lines.append(f"  {fit['verdicts'][key]['text']}")
        if self.invariance is not None:
            lines += groups_text(d["invariance"], d["groups"], decimals)
        if d["warnings"]:
            lines += ["", "Warnings:"]
            lines += [f"  [{w['code']}] {w['message']}" for w in d["warnings"]]
        return "\n".join(lines)


def _decision_lines(d, spec, f) -> list[str]:
    """The improve-first list (levers only, tiers when bootstrapped) and expectations as context."""
    dec = d["decision"]
    lines = ["", "Improve first (levers PQ, PV; gain = CS points if the lever reached "
             f"{f(dec['target'], 0)}; impact = CS points for +5 lever points):"]
    for row in d["improve_first"]:
        tied = " (about equally important)" if row["tied"] else ""
        ci = (f" [{f(row['gain_ci'][0], 2)}, {f(row['gain_ci'][1], 2)}]" if row["gain_ci"] else "")
        lines.append(f"  {row['priority']}. {row['item']} ({row['construct']}): gain {f(row['gain'], 2)}{ci}, "
                     f"performance {f(row['performance'], 1)}, impact {f(5 * row['importance'], 2)}"
                     + (f", first in {row['p_top']:.0%} of draws" if row["p_top"] is not None else "")
                     + (f", tier {row['tier']}{tied}" if dec["tiers_known"] else ""))
    if not dec["tiers_known"]:
        lines.append(f"  ({dec['p_top_reason']})")
    for c in dec["context"]:
        via = "" if c["share_via_levers"] is None else f", {c['share_via_levers']:.0%} of it through PQ and PV"
        lines.append(f"  Context, not a lever: {c['construct']} {spec.constructs[c['construct']][0]}: "
                     f"performance {f(c['performance'], 1)}, impact {f(5 * c['importance'], 2)}{via}")
    return lines


def _boot_head(rows) -> str:
    """Bootstrap column heads when the rows carry bootstrap fields (``fit(..., bootstrap=B)``)."""
    return f"{'boot SE':>9}{'boot 95% CI':>19}" if any("boot_ci" in r for r in rows) else ""


def _boot_cells(row, f) -> str:
    if "boot_ci" not in row:
        return ""
    if row.get("fixed"):  # a fixed loading has no sampling distribution
        return f"{'-':>9}{'-':>19}"
    return f"{f(row.get('boot_se')):>9}{'[' + f(row['boot_ci'][0]) + ', ' + f(row['boot_ci'][1]) + ']':>19}"


def _loading_lines(d, se_head, f) -> list[str]:
    """Loadings: unstandardized with SE, z, p; standardized (std.all) and the item's R²."""
    rows = [(code, item, ld) for code, c in d["constructs"].items() for item, ld in c["loadings"].items()]
    lines = ["", "Loadings (construct =~ item; fixed = marker or single item; R2 = item's explained share):",
             f"{'Loading':<16}{'Estimate':>10}{se_head:>8}{'z':>8}{'p':>8}{'Std':>8}{'R2':>7}"
             + _boot_head([ld for *_, ld in rows])]
    for code, item, ld in rows:
        se = "fixed" if ld["fixed"] else f(ld["se"])
        lines.append(f"{code + ' =~ ' + item:<16}{f(ld['estimate']):>10}{se:>8}{f(ld['z'], 2):>8}"
                     f"{f(ld['p_value']):>8}{f(ld['std_estimate']):>8}{f(ld['r2']):>7}{_boot_cells(ld, f)}")
    return lines


def _variance_lines(d, se_head, f) -> list[str]:
    """Error variances of the items, variance of CE and disturbance variances of the others."""
    v = d.get("variances") or {}
    if not v:
        return []
    lines = ["", "Variances (items: error variances; exogenous constructs: variance, the rest: disturbance):",
             f"{'Variance':<16}{'Estimate':>10}{se_head:>8}{'z':>8}{'p':>8}{'Std':>8}"]
    named = [(item, row) for item, row in v["items"].items()]
    named += [(f"{code} ({row['kind']})", row) for code, row in v["constructs"].items()]
    for name, row in named:
        se = "fixed" if row["fixed"] else f(row["se"])
        lines.append(f"{name:<16}{f(row['estimate']):>10}{se:>8}{f(row['z'], 2):>8}"
                     f"{f(row['p_value']):>8}{f(row['std_estimate']):>8}")
    return lines


def _effect_lines(d, f) -> list[str]:
    """Direct, indirect and total effects on CS and CL, unstandardized and standardized."""
    lines = ["", "Effects on CS and CL (unstandardized | standardized):",
             f"{'Effect':<12}{'Direct':>9}{'Indirect':>10}{'Total':>9}  |{'Direct':>9}{'Indirect':>10}{'Total':>9}"]
    for e in d["effects"]:
        lines.append(f"{e['from'] + ' -> ' + e['to']:<12}{f(e['direct']):>9}{f(e['indirect']):>10}"
                     f"{f(e['total']):>9}  |{f(e['std_direct']):>9}{f(e['std_indirect']):>10}"
                     f"{f(e['std_total']):>9}")
    return lines
