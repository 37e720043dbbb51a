"""Thresholds, plain-language verdicts and result warnings, stated once.

Fit (Hu & Bentler 1999; Browne & Cudeck 1993): CFI and TLI ≥ .95 good, ≥ .90 acceptable;
RMSEA ≤ .05 good, ≤ .08 acceptable; SRMR ≤ .05 good, ≤ .08 acceptable; anything else poor.
The chi-square test of exact fit is reported with its verdict (p ≥ .05) but, as it rejects
trivial misfit in large samples, only the four approximate indices raise ``poor_fit``.
Reliability: alpha and CR ≥ .70, AVE ≥ .50 (Fornell & Larcker 1981; Nunnally 1978).
Discriminant validity: √AVE above the construct's correlations with every other construct
(Fornell–Larcker) and HTMT < .85 (Henseler et al. 2015).
Data warnings: answers only in the bottom half of the assumed scale (``scale_mismatch``), a
standardized coefficient beyond ±1 with no variance at its bound (``standardized_beyond_one``),
items correlating above .98 (``near_duplicate_items``), and under FIML an item answered by
fewer than 5% of respondents (``rarely_answered``).
"""
from __future__ import annotations

import math

FIT_RULES = {  # index: (direction, acceptable, good, name)
    "cfi": ("min", 0.90, 0.95, "comparative fit index"),
    "tli": ("min", 0.90, 0.95, "Tucker-Lewis index"),
    "rmsea": ("max", 0.08, 0.05, "root mean square error of approximation"),
    "srmr": ("max", 0.08, 0.05, "standardized root mean square residual"),
}
RELIABILITY_RULES = {"alpha": 0.70, "cr": 0.70, "ave": 0.50}
HTMT_MAX = 0.85
SMALL_SAMPLE_PER_PARAMETER = 5
DROPPED_SHARE = 0.20


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def fit_verdicts(fit: dict) -> dict:
    """``{index: {value, threshold, good, verdict, ok, text}}`` for chi2, CFI, TLI, RMSEA, SRMR."""
    out = {}
    p = fit["p_value"]
    ok = p >= 0.05 if _finite(p) else None
    out["chi2"] = {
        "value": fit["chi2"], "threshold": 0.05, "good": 0.05,
        "verdict": None if ok is None else ("good" if ok else "poor"), "ok": ok,
        "text": ("exact-fit test: " + ("not rejected" if ok else "rejected") + f" (p = {p:.3f}); "
                 "large samples reject small misfit, so judge fit by CFI, TLI, RMSEA and SRMR")
        if ok is not None else "exact-fit test undefined",
    }
    for key, (direction, acceptable, good, name) in FIT_RULES.items():
        value = fit[key]
        if not _finite(value):
            out[key] = {"value": None, "threshold": acceptable, "good": good, "verdict": None,
                        "ok": None, "text": f"{name} is undefined for this model"}
            continue
        better = (lambda a, b: a >= b) if direction == "min" else (lambda a, b: a <= b)
        verdict = "good" if better(value, good) else "acceptable" if better(value, acceptable) else "poor"
        sign = "≥" if direction == "min" else "≤"
        out[key] = {
            "value": value, "threshold": acceptable, "good": good, "verdict": verdict,
            "ok": verdict != "poor",
            "text": f"{key.upper()} = {value:.3f}: {verdict} ({sign} {good:.2f} good, "
                    f"{sign} {acceptable:.2f} acceptable)",
        }
    return out


def reliability_verdicts(constructs: dict) -> dict:
    """``{CODE: {alpha|cr|ave: {value, threshold, ok}}, "ok": bool}``; single items are not rated."""
    out, all_ok = {}, True
    for code, c in constructs.items():
        single = len(c["items"]) < 2
        row = {}
        for key, threshold in RELIABILITY_RULES.items():
            value = c[key]
            ok = None if single or not _finite(value) else value >= threshold
            all_ok &= ok is not False
            row[key] = {"value": None if single else value, "threshold": threshold, "ok": ok}
        out[code] = row
    out["ok"] = bool(all_ok)
    return out


def discriminant(latent_corr, codes, ave: dict, htmt: dict) -> dict:
    """Fornell–Larcker per construct and HTMT per pair, with an overall ``ok``."""
    fl = {}
    for k, code in enumerate(codes):
        others = [(abs(latent_corr[k][j]), codes[j]) for j in range(len(codes)) if j != k]
        max_corr, partner = max(others)
        root = math.sqrt(ave[code]) if _finite(ave[code]) and ave[code] >= 0 else float("nan")
        ok = root > max_corr if math.isfinite(root) and math.isfinite(max_corr) else None
        fl[code] = {"sqrt_ave": root, "max_corr": max_corr, "with": partner, "ok": ok}
    htmt_ok = all(v < HTMT_MAX for v in htmt.values() if _finite(v))
    fl_ok = all(v["ok"] is not False for v in fl.values())
    return {"fornell_larcker": fl, "htmt": htmt, "htmt_threshold": HTMT_MAX,
            "fornell_larcker_ok": fl_ok, "htmt_ok": htmt_ok, "ok": fl_ok and htmt_ok}


def result_warnings(*, converged, message, heywood, n_used, n_total, n_params, fit_v,
                    reliability, disc, fallback, scale=None, scale_mismatch=None, beyond_one=(),
                    duplicates=(), rare=()) -> list[dict]:
    """Stable ``{code, message}`` warnings the report translates; the message says what to do."""
    out = []

    def add(code, text):
        out.append({"code": code, "message": text})

    if not converged:
        add("not_converged", f"the estimation did not converge ({message}); treat all model "
            "numbers as unreliable, check items and collect more responses")
    if heywood:
        add("heywood", "improper solution (Heywood case): " + "; ".join(heywood) +
            "; look for near-duplicate or weak items in these constructs")
    need = SMALL_SAMPLE_PER_PARAMETER * n_params
    if n_used < need:
        add("small_sample", f"{n_used} complete responses for {n_params} free parameters; at least "
            f"{need} ({SMALL_SAMPLE_PER_PARAMETER} per parameter) are recommended for stable estimates")
    dropped = n_total - n_used
    if n_total and dropped / n_total > DROPPED_SHARE:
        add("many_dropped", f"{dropped} of {n_total} responses ({dropped / n_total:.0%}) have a "
            "missing answer and were left out of the model; results describe complete responders")
    poor = [k.upper() for k in FIT_RULES if k in fit_v and fit_v[k]["verdict"] == "poor"]
    if poor:
        add("poor_fit", f"poor model fit by {', '.join(poor)}; the structure may not describe these "
            "customers well, so read path estimates with caution")
    undefined = [k.upper() for k in FIT_RULES if k in fit_v and fit_v[k]["value"] is None]
    if undefined:
        add("fit_index_undefined", f"{', '.join(undefined)} could not be computed for this model")
    low = [f"{code} {key}" for code, row in reliability.items() if code != "ok"
           for key, r in row.items() if r["ok"] is False]
    if low:
        add("low_reliability", f"low reliability ({', '.join(low)}); items of these constructs do not "
            "measure one thing consistently: review the wording or drop weak items")
    if not disc["ok"]:
        bad = [c for c, v in disc["fornell_larcker"].items() if v["ok"] is False]
        pairs = [p for p, v in disc["htmt"].items() if _finite(v) and v >= HTMT_MAX]
        detail = "; ".join(filter(None, [
            f"Fornell-Larcker fails for {', '.join(bad)}" if bad else "",
            f"HTMT ≥ {HTMT_MAX} for {', '.join(pairs)}" if pairs else ""]))
        add("discriminant_validity", f"constructs are not clearly distinct ({detail}); customers may "
            "not tell these questions apart")
    if fallback:
        add("equal_weights", f"index weights of {', '.join(fallback)} fell back to equal weights "
            "because the fitted loadings were unusable")
    if scale_mismatch is not None:
        (low, high), (lo, hi) = scale_mismatch, scale
        add("scale_mismatch", f"every answer lies between {low:g} and {high:g}, the bottom half of the "
            f"assumed {lo:g}-{hi:g} scale, so every 0-100 score is understated if the survey used a "
            f"shorter scale: pass the survey's scale (e.g. scale=({low:g}, {high:g}), --scale-min "
            f"{low:g} --scale-max {high:g})")
    if beyond_one:
        listed = ", ".join(f"{name} ({value:.2f})" for name, value in beyond_one)
        add("standardized_beyond_one", f"standardized coefficients beyond ±1 with no variance at its "
            f"bound: {listed}; the predictors are nearly collinear (suppression), so these paths "
            "and the impacts built on them are not interpretable: merge or drop overlapping "
            "constructs' items, or collect more responses")
    if duplicates:
        listed = ", ".join(f"{a}/{b} (r = {r:.3f})" for a, b, r in duplicates)
        add("near_duplicate_items", f"items that are near copies of each other: {listed}; they "
            "inflate reliability and can make the solution improper: keep one item of each pair "
            "or reword one")
    if rare:
        listed = ", ".join(f"{item} ({share:.1%})" for item, share in rare)
        add("rarely_answered", f"items answered by under {5}% of respondents: {listed}; their "
            "loadings, means and index weights rest on very few answers (FIML fills in the rest "
            "from the model): drop these items or collect more answers to them")
    return out
