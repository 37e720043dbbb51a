"""Every word of the index report, keyed by a stable message id, as Flask-Babel lazy strings.

The msgid is the English text; the translations live in the app's one catalogue
(survey/translations/<lang>/LC_MESSAGES/messages.po, `flask --app survey translate-update` finds these), so a
new language is one .po file. A few words the rest of the app translates differently ("Wave", "Total" …)
carry the msgctxt "report". Engine warnings are keyed by the model's stable warning codes and each carries
what to do about it.
"""
from __future__ import annotations

from contextlib import nullcontext

from flask_babel import LazyString, force_locale, ngettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp

MESSAGES: dict[str, LazyString] = {
    # page furniture
    "report": _lp("report", "Index report"),
    "all_waves": _l("All waves"),
    "all_waves_pooled": _l("All waves pooled"),
    "latest": _l("latest"),
    "wave": _lp("report", "Wave"),
    "wave_n": _l("Wave {n}"),
    "segment": _l("Segment"),
    "all_respondents": _l("All respondents"),
    "show": _l("Show"),
    "back_to_survey": _lp("report", "Back to the survey"),
    "exports": _l("Downloads"),
    "export_json": _l("Full result (JSON, same as the command line)"),
    "export_estimates": _l("Estimates and scores (CSV)"),
    "export_scores": _l("Construct scores per respondent (CSV)"),
    "export_print": _l("Printable version / PDF"),
    "print_hint": _l("Use your browser's Print command to save it as PDF."),
    "upload_data": _l("Bring your own data"),
    "reason_missing_answer": _l("a “don't know” or missing answer"),
    "reason_no_answer": _l("no rated item answered"),
    "stale": _l("Updated {seconds} s ago; {new} new responses since."),
    "refreshing": _l("Refreshing — reload in a moment."),
    # headline
    "headline": _l("Customer satisfaction index"),
    "ci95": _l("{confidence} confidence interval {lo}–{hi}"),
    "n_used": _l("{n} responses used"),
    "n_dropped": _l("{n} left out ({why})"),
    "change_vs": _l("{change:+.1f} points vs wave {prev}"),
    "change_sig": _l("statistically significant (p = {p})"),
    "change_not_sig": _l("not statistically significant (p = {p}); could be chance"),
    "no_previous_wave": _l("No earlier wave to compare with."),
    "change_between": _l("{change:+.1f} points from wave {prev} to wave {wave}"),
    # constructs and scores
    "scores": _l("Construct scores (0–100)"),
    "construct": _l("Construct"),
    "score": _l("Score"),
    "item": _l("Item"),
    "items": _l("Item scores"),
    "n": _l("n"),
    "ci": _l("95% CI"),
    "weight": _l("Weight"),
    "lower_better": _l("lower is better"),
    # satisfaction levels, complaints, intent
    "levels": _l("How customers experienced it"),
    "levels_note": _l("Per respondent: perceived quality minus expectations on the answer scale; more than half a "
                      "point below is “fell short”, more than half a point above is “exceeded”."),
    "level_short": _l("Fell short of expectations (dissatisfied)"),
    "level_matched": _l("Matched expectations (satisfied)"),
    "level_exceeded": _l("Exceeded expectations (highly satisfied)"),
    "complaints": _lp("report", "Complaints"),
    "complaint_rate": _l("Complained"),
    "complaint_rate_dissatisfied": _l("Complained, among the dissatisfied"),
    "complaint_handling": _l("Complaint handling score (0–100)"),
    "handled_well": _l("rated handling 8–10"),
    "complaint_causes": _l("Causes of dissatisfaction"),
    "cause_organisation": _l("The organisation"),
    "cause_effectiveness": _l("Effectiveness of the product or service"),
    "cause_quality": _l("Quality of the product or service"),
    "cause_employee": _l("An individual employee"),
    "cause_systems": _l("Systems or procedures"),
    "intent": _l("Repurchase and recommendation"),
    "likely": _l("likely (8–10)"),
    "intent_CL1": _l("Would buy again"),
    "intent_CL2": _l("Would recommend"),
    "of_n": _l("of {n}"),
    "none_yet": _l("No answers yet."),
    # model
    "path_model": _l("The model: what drives satisfaction and loyalty"),
    "path_note": _l("Arrows show standardized effects. Solid blue: statistically significant (p < .05); dashed "
                    "grey: not significant. R² is the share of a construct explained by the arrows into it."),
    "legend_sig": _l("significant (p < .05)"),
    "legend_ns": _l("not significant (p ≥ .05)"),
    "path_table": _l("The arrows as a table"),
    "cc_cl_positive": _l("Complaints → loyalty is positive ({coef}): in the ACSI reading, complaint handling wins "
                         "complainers back, so customers who complained stay about as loyal as the rest."),
    "cc_cl_negative": _l("Complaints → loyalty is negative ({coef}): in the ACSI reading, complaints drive customers "
                         "away, so handling them better protects loyalty."),
    "cc_cl_ns": _l("This path is not statistically significant (p = {p}): it may well be zero."),
    "scroll_hint": _l("Wider than the screen: swipe sideways to see all of it."),
    "path": _l("Path"),
    "std_coef": _l("Standardized"),
    "significant": _l("Significant"),
    "drivers": _l("Drivers"),
    "drivers_note": _l("Impact: points gained on the target's 0–100 score if the driver's score rose by 5 points."),
    "driver": _l("Driver"),
    "target": _l("On"),
    "direct": _l("Direct"),
    "indirect": _l("Indirect"),
    "total": _lp("report", "Total"),
    "impact": _l("Impact (5-point rule)"),
    "ipma": _l("Importance–performance"),
    "ipma_x": _l("Performance (score 0–100)"),
    "ipma_y": _l("Importance (total effect on satisfaction)"),
    "ipma_note": _l("Each point is a lever the company can act on (quality and value items), numbered as in "
                    "the list below. The shaded zones come from the same rule as the list."),
    "zone_improve_first_title": _l("Improve first"),
    "zone_next_title": _l("Next"),
    "zone_later_title": _l("Later"),
    "zone_improve_first": _l("improve first"),
    "zone_next": _l("next"),
    "zone_later": _l("later"),
    "improve_first": _l("What to improve first"),
    "improve_note": _l("Gain: satisfaction points won if the item's score reached 100 (every customer giving "
                       "the top answer); impact: points won for 5 more points on the item."),
    "lever_line": _l("{item} ({code}): score {score}, gain {gain}, impact {impact}"),
    "interval": _l("({confidence} interval {lo} to {hi})"),
    "about_equal": _l("about equally important"),
    "p_first": _l("Chance that {item} really is the first lever to improve: {p}."),
    "intervals_pending": _l("Intervals are being computed: until then the order shows no ties and no chance "
                            "that the first lever really is first."),
    "context_title": _l("Context, not a lever"),
    "context_line": _l("{name}: score {score}, impact {impact}; {via} of its effect on satisfaction runs "
                       "through quality and value."),
    "context_note": _l("Expectations set the baseline customers judge quality and value against. The company "
                       "does not set them directly, so they are not ranked as something to improve."),
    "whatif": _l("What if?"),
    "whatif_note": _l("Pick one or more levers and a change of their 0–100 score: the model's total effects "
                      "predict the change in satisfaction and loyalty."),
    "whatif_levers": _l("Levers"),
    "whatif_change": _l("Change (points on 0–100)"),
    "whatif_run": _l("Predict"),
    "whatif_line": _l("{target}: {change} points"),
    "whatif_pending": _l("(interval being computed)"),
    "whatif_pick": _l("Pick at least one lever."),
    "whatif_bad_change": _l("The change must be a number of points between −{limit} and +{limit}, not zero."),
    "whatif_not_lever": _l("{lever} is not a lever: only quality and value items can be changed."),
    "whatif_range": _l("{lever} scores {score}: a change of {change} would take it outside 0–100."),
    "whatif_no_fit": _l("The what-if needs a fitted model."),
    # quality panel
    "quality": _l("Can these numbers be trusted?"),
    "fit": _l("Model fit"),
    "index_col": _l("Index"),
    "value": _l("Value"),
    "threshold": _l("Threshold"),
    "chi2_p": _l("χ² test, p"),
    "verdict": _l("Verdict"),
    "ok": _l("OK"),
    "not_ok": _l("Check"),
    "reliability": _l("Reliability and validity"),
    "alpha": _l("Cronbach's α"),
    "cr": _l("Composite reliability"),
    "ave": _l("AVE"),
    "r2": _l("R²"),
    "discriminant_ok": _l("Constructs are distinct from each other (discriminant validity holds)."),
    "discriminant_bad": _l("Some constructs overlap (discriminant validity is doubtful); see the warnings."),
    "warnings": _l("Warnings"),
    "no_warnings": _l("No warnings: the model converged and passes its checks."),
    "what_to_do": _l("What to do"),
    "converged": _l("converged"),
    # segments, trend, comments
    "segments": _l("Segments"),
    "segment_note": _l("Satisfaction index per group with {confidence} confidence interval. Groups with fewer "
                       "than {n} responses are not reported."),
    "suppressed": _l("fewer than {n} responses"),
    "trend": _l("Trend across waves"),
    "trend_y": _l("Score (0–100)"),
    "trend_note": _l("Scores per wave use the weights of the model shown above, so waves are comparable."),
    "comments": _l("Open comments"),
    "band_all": _l("All"),
    "band_low": _l("Dissatisfied (satisfaction < 60)"),
    "band_mid": _l("In between (60–79)"),
    "band_high": _l("Satisfied (80+)"),
    "no_comments": _l("No comments in this band."),
    # states
    "too_few_title": _l("Not enough responses for the model yet"),
    "too_few": _l("The model needs {min} responses with rated answers; there are {n}. {more} more are needed. "
                  "Until then, here are the plain average scores."),
    "fit_failed": _l("The model could not be estimated on these data: {error}"),
    "descriptive": _l("Average scores (equal weights)"),
    "pending_title": _l("Computing the report…"),
    "pending": _l("The model is being estimated on {n} responses. This page refreshes by itself; it usually "
                  "takes a few seconds."),
    "elapsed": _l("Running for {s} s."),
    "refresh_now": _l("Refresh now"),
    "no_responses": _l("No responses yet."),
    "bad_segment": _l("Unknown segment “{segment}”; showing all respondents."),
    "bad_wave": _l("Unknown wave; showing the latest wave."),
    # upload
    "upload_title": _l("Bring your own data"),
    "upload_intro": _l("Upload a CSV or Excel file exported from another survey tool: one row per respondent, one "
                       "column per question, answers as numbers on the scale below. You will map the columns on "
                       "the next page."),
    "upload_file": _l("File (.csv or .xlsx)"),
    "upload_name": _l("Name for the imported survey"),
    "scale_min": _l("Scale minimum"),
    "scale_max": _l("Scale maximum"),
    "upload_next": _l("Upload and map columns"),
    "map_title": _l("Map columns to constructs"),
    "map_intro": _l("Columns named like CE1, PQ2 … are pre-filled. Every construct needs at least one column. "
                    "Nothing is stored until the whole file passes the checks."),
    "column": _l("Column"),
    "sample_values": _l("First values"),
    "use_as": _l("Use as"),
    "ignore": _l("Ignore"),
    "as_segment": _l("Segment (group respondents by it)"),
    "as_comment": _l("Open comment"),
    "as_wave": _l("Wave number"),
    "import": _l("Import and open the report"),
    "upload_errors": _l("The file was not imported. Fix these problems and upload it again:"),
    "more_errors": _l("… and {n} more problems."),
    "err_no_file": _l("Choose a file to upload."),
    "err_name": _l("Give the imported survey a name."),
    "err_scale": _l("The scale maximum must be above the minimum."),
    "err_upload_gone": _l("The uploaded file has expired; upload it again."),
    "err_construct_empty": _l("Construct {code} has no column; map at least one."),
    "err_not_number": _l("Column “{column}”, row {row}: “{value}” is not a number."),
    "err_out_of_scale": _l("Column “{column}”, row {row}: {value} is outside the scale {lo}–{hi}."),
    "err_not_whole": _l("Column “{column}”, row {row}: {value} is not a whole number."),
    "err_read": _l("The file could not be read: {error}"),
    "import_queued": _l("The import is waiting for a worker…"),
    "import_progress": _l("Importing: {done} of {total} rows stored…"),
    "import_running": _l("Importing…"),
    "import_failed": _l("The import failed and nothing was stored: {error}"),
    "import_again": _l("Upload a file again"),
    "preview_rows": _l("(the first {n} rows are shown; the import reads every row)"),
    "err_wave": _l("Column “{column}”, row {row}: wave “{value}” must be a whole number ≥ 1."),
    "imported": _l("Imported {n} responses."),
    # estimator, second opinion, bootstrap intervals, fair comparisons (issue 10, items 2, 4, 5)
    "estimator": _l("Estimator"),
    "estimator_mlr": _l("Robust maximum likelihood (MLR)"),
    "estimator_pls": _l("PLS path modelling (the ACSI method)"),
    "estimator_use": _l("Use this estimator"),
    "estimator_note": _l("Robust ML is the default for survey answers, which are rarely normal; PLS is the "
                         "method ACSI reports with. The report also shows the other one as a second opinion."),
    "estimator_changed": _l("The report now uses {name}; it is being recomputed."),
    "estimator_unknown": _l("Choose one of the listed estimators."),
    "intervals_running": _l("Intervals being computed: {percent}%. This page reloads itself; the estimates shown do not "
                            "change."),
    "intervals_failed": _l("The intervals could not be computed: {error}"),
    "intervals_ready": _l("Intervals from {draws} bootstrap draws (respondents resampled, the model refitted each "
                          "time)."),
    "from_moments": _l("Computed from the answer totals stored for this survey (the same estimates as from every "
                       "response; a refresh reads only the new responses). Robust standard errors and the "
                       "response-quality check read every response: they follow with the intervals."),
    "boot_interval": _l("Bootstrap interval"),
    "boot_ci_line": _l("bootstrap {confidence} interval {lo}–{hi}"),
    "impact_ci": _l("Impact interval"),
    "second_opinion": _l("Second opinion"),
    "second_note": _l("The same responses estimated with the other method. Where the two disagree, the result "
                      "depends on the method: read it with care."),
    "second_pending": _l("The second opinion is being computed."),
    "second_failed": _l("The second opinion could not be computed: {error}"),
    "second_agree": _l("Both estimators agree on the top lever and on the sign of every path."),
    "second_top_differs": _l("The two estimators name a different top lever."),
    "second_sign_differs": _l("The two estimators disagree on the sign of: {paths}."),
    "top_lever": _l("Top lever"),
    "satisfaction_index": _l("Satisfaction index"),
    "sign_differs": _l("sign differs"),
    "comparable_title": _l("Are the groups comparable?"),
    "waves_comparable_title": _l("Are the waves comparable?"),
    "comparable_pending": _l("Comparability is being checked; until then the groups are shown without that "
                             "check."),
    "comparable_yes": _l("Comparable: {level}. Index per group with its {confidence} interval, on one "
                         "yardstick:"),
    "comparable_no": _l("Not comparable: {level}. The groups answer these items differently: {items}. Their "
                        "index values are not shown."),
    "comparable_no_items": _l("Not comparable: {level}. Their index values are not shown."),
    "comparable_too_few": _l("Not checked: fewer than two groups have {n} complete responses, so their index "
                             "values are not compared."),
    "comparable_small": _l("Left out (fewer than {n} complete responses): {groups}"),
    "comparable_failed": _l("Comparability could not be checked: {error}"),
    "wave_change_yardstick": _l("The change between waves is measured with one yardstick (the weights of the "
                                "model shown) and tested with a z test."),
    "inv_scalar": _l("scalar invariance (the same loadings and item intercepts in every group)"),
    "inv_partial": _l("partial scalar invariance (the intercepts of {items} differ and are left free)"),
    "inv_metric": _l("metric invariance only (the same loadings, but item intercepts differ)"),
    "inv_configural": _l("configural invariance only (the same structure, but loadings differ)"),
    "inv_none": _l("no invariance (the model does not fit every group)"),
    "group": _l("Group"),
}

# Short names of the standard template items, used while a survey keeps the template wording.
ITEM_NAMES: dict[str, LazyString] = {
    "CE1": _l("Expected overall quality"),
    "CE2": _l("Expected reliability"),
    "CE3": _l("Expected fit to personal needs"),
    "PQ1": _l("Overall quality"),
    "PQ2": _l("Reliability"),
    "PQ3": _l("Meeting personal needs"),
    "PV1": _l("Quality for the price paid"),
    "PV2": _l("Price for the quality received"),
    "CS1": _l("Overall satisfaction"),
    "CS2": _l("Against expectations"),
    "CS3": _l("Closeness to the ideal"),
    "CC1": _l("Expressed dissatisfaction"),
    "CL1": _l("Would buy again"),
    "CL2": _l("Would recommend"),
}

# Engine warnings: (plain-language meaning, what to do) per stable warning code.
WARNINGS: dict[str, tuple[LazyString, LazyString]] = {
    "small_sample": (
        _l("The sample is small for this model, so estimates are unstable."),
        _l("Collect more responses (200 or more is comfortable) before acting on the drivers.")),
    "not_converged": (
        _l("The estimation did not converge: the numbers below may be wrong."),
        _l("Check items that are nearly identical or that almost everyone answers the same way; drop or merge them, "
           "or collect more responses.")),
    "heywood": (
        _l("A variance came out negative (a Heywood case): the model does not suit these data well."),
        _l("Look for a construct with one or two very highly correlated items; drop one item or collect more "
           "responses.")),
    "poor_fit": (
        _l("The model fits the data poorly on at least one index."),
        _l("Read driver results with caution; check item wording and whether each item belongs to its construct.")),
    "low_reliability": (
        _l("At least one construct is measured unreliably (its items do not agree)."),
        _l("Review that construct's items: reword or replace the one that disagrees with the others.")),
    "discriminant_validity": (
        _l("Two constructs are hard to tell apart in these answers."),
        _l("Customers may see the questions as the same thing; make the wording of the two constructs more distinct.")),
    "many_dropped": (
        _l("Many responses have a “don't know” or missing answer and were left out of the model."),
        _l("The model describes customers who answered every question. Check which items get many “don't know” "
           "answers and consider rewording or dropping them.")),
    "fit_index_undefined": (
        _l("Some fit indices could not be computed for this model."),
        _l("Judge the fit by the indices that are shown.")),
    "equal_weights": (
        _l("For some constructs the model's item weights were unusable, so their items count equally."),
        _l("Scores are still valid averages; check those constructs' items for weak or reversed questions.")),
    "scale_mismatch": (
        _l("Every answer lies in the bottom part of the answer scale: the data may use a shorter scale than the one "
           "assumed."),
        _l("Check the survey's answer scale (for example 1–5 instead of 1–10) and set it, or scores will be too low.")),
    "standardized_beyond_one": (
        _l("A standardized effect or loading is beyond ±1: two constructs overlap so much that the model cannot "
           "separate their effects."),
        _l("Do not read the size of those paths; make the overlapping constructs' questions more distinct.")),
    "near_duplicate_items": (
        _l("Two questions are answered almost identically (correlation above .98)."),
        _l("Keep one of them; the other adds nothing and can make the estimates unstable.")),
    "rarely_answered": (
        _l("A question was answered by fewer than one respondent in twenty."),
        _l("Its numbers rest on very few answers; check why customers skip it, or drop it from the model.")),
    "negative_weight": (
        _l("A question received a negative weight in the index, so its construct uses equal weights."),
        _l("Check that question for reversed wording or a different meaning from the others.")),
    "bootstrap_failed": (
        _l("Some bootstrap samples could not be fitted and were left out of the intervals."),
        _l("Intervals rest on the samples that could be fitted; with many failures, collect more responses.")),
    "invariance_not_converged": (
        _l("The comparison across groups could not be estimated reliably."),
        _l("Compare the groups with care; merge small groups or collect more responses.")),
    "not_invariant": (
        _l("Groups do not answer the questions in the same way, so their scores are not directly comparable."),
        _l("Read each group's scores on their own; the listed questions are where the groups differ.")),
    "group_heywood": (
        _l("In at least one group a variance came out negative."),
        _l("That group's estimates are unstable; collect more responses from it.")),
}
UNKNOWN_WARNING = (_l("The engine reported a problem."),
                   _l("Read the technical message and check the data."))

VERDICTS: dict[str, LazyString] = {"good": _l("good"), "acceptable": _l("acceptable"), "poor": _l("poor"),
            "mediocre": _l("mediocre"), "excellent": _l("excellent")}


# Fields every message may use. The confidence level is a field so that no msgid holds "95% c…": Babel reads
# "% c" as a printf placeholder and would refuse the translation.
FIELDS = {"confidence": "95%"}


def _in(locale, lazy) -> str:
    """A lazy string translated in the active locale, or in the given one (charts drawn per language)."""
    if locale is None:
        return str(lazy)
    with force_locale(locale):
        return str(lazy)


# Messages whose wording depends on the count field n (singular/plural forms per language).
PLURALS = {
    "generated": lambda n: ngettext("Report on {n} response, generated {at}",
                                    "Report on {n} responses, generated {at}", n),
}


def t(msg_id: str, locale=None, **fields) -> str:
    """Return the message in the active (or given) locale, formatted with fields; unknown ids come back as
    the id."""
    if msg_id in PLURALS:
        with force_locale(locale) if locale is not None else nullcontext():
            text = PLURALS[msg_id](int(fields.get("n", 2)))
        return text.format(**(FIELDS | fields)) if fields else text
    lazy = MESSAGES.get(msg_id)
    if lazy is None:
        return msg_id
    text = _in(locale, lazy)
    if fields:
        return text.format(**(FIELDS | fields))
    for name, value in FIELDS.items():  # without fields the message is its template, as the table held it
        text = text.replace("{" + name + "}", value)
    return text


def item_name(code: str, locale=None) -> str | None:
    """Short name of a standard template item (None for other codes)."""
    lazy = ITEM_NAMES.get(code)
    return None if lazy is None else _in(locale, lazy)


def warning_text(code: str, locale=None) -> tuple[str, str]:
    """(meaning, what to do) for an engine warning code in the active locale."""
    meaning, todo = WARNINGS.get(code, UNKNOWN_WARNING)
    return _in(locale, meaning), _in(locale, todo)


def verdict_text(verdict: str, locale=None) -> str:
    """Translate an engine verdict word (good / acceptable / poor …); unknown words pass through."""
    lazy = VERDICTS.get(str(verdict).lower())
    return str(verdict) if lazy is None else _in(locale, lazy)
