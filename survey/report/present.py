"""Turn a cached report entry into what the template shows, in the active language.

Everything here is words and layout: the numbers were computed in ``compute``. Words come from the
Flask-Babel catalogue through ``wording``; bilingual content (question wording, option labels, construct names)
through ``i18n.pick``. Charts are rendered once per entry and language and kept beside the entry (a weak-keyed table, so they go when the entry goes),
never written into it: the cached entry is frozen and read by many request threads at once.
"""
from __future__ import annotations

import threading
import weakref

from model.decision import LEVERS, ZONES
from model.spec import CONSTRUCTS, VARIANTS

from survey.i18n import current_locale, pick
from survey.report import charts
from survey.services.questionnaire import TEMPLATE
from survey.report.wording import MESSAGES, item_name, t, verdict_text, warning_text
from survey.report.compute import MIN_SEGMENT_N

ITEMS_SHOWN = 8
LOWER_IS_BETTER = ("CC",)  # constructs where a lower score is the better one (complaints)


def question_text(info: dict, code: str) -> str:
    """The wording of a question in the active language, or its code."""
    q = next((q for q in info["questions"] if q["code"] == code), None)
    if q is None:
        return code
    return pick(q["text_en"], q["text_zh"]) or code


def short_item(info: dict, code: str, limit=70) -> str:
    """A short name for an item: the template's name while the wording is the template's, else the
    wording cut to fit a list line."""
    text = question_text(info, code)
    template = next((q for q in TEMPLATE if q["code"] == code), None)
    name = item_name(code)
    if name is not None and template and text == pick(template["text_en"], template["text_zh"]):
        return name
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def option_label(info: dict, code: str, value: str) -> str:
    """Label of a choice option in the active language, or the stored value."""
    q = next((q for q in info["questions"] if q["code"] == code), None)
    for opt in (q or {}).get("options", []):
        if opt["value"] == value:
            return pick(opt["en"], opt["zh"])
    return value


def _variant_constructs(entry) -> dict:
    """Construct code -> (English, Chinese) of the entry's model variant, in causal order."""
    variant = entry.get("model") or "acsi"
    return VARIANTS[variant][0] if variant in VARIANTS else CONSTRUCTS


def codes_for(entry) -> list[str]:
    """The construct codes of the entry's model variant in causal order."""
    return list(_variant_constructs(entry))


def names_for(entry: dict) -> dict:
    """Construct names in the active language (from the result, else the variant's table)."""
    constructs = (entry.get("result") or {}).get("constructs", {})
    table = _variant_constructs(entry)
    out = {}
    for code in table:
        if code in constructs:
            out[code] = pick(constructs[code].get("name_en"), constructs[code].get("name_zh")) or code
        else:
            out[code] = pick(*table[code])
    return out


_DRAWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # entry -> {(chart set, lang): svg}
_DRAWN_LOCK = threading.Lock()


def _drawn(entry, key, draw):
    """The charts `key` of an entry, drawn once (two threads may both draw; either result is the same)."""
    with _DRAWN_LOCK:
        found = _DRAWN.get(entry, {}).get(key)
    if found is None:
        found = draw()
        with _DRAWN_LOCK:
            _DRAWN.setdefault(entry, {})[key] = found
    return found


def render_charts(entry, names: dict, lang: str) -> dict:
    """SVG strings of every chart, drawn once per entry and language (a locale code)."""
    return _drawn(entry, ("charts", lang), lambda: _draw_charts(entry, names, lang))


def _draw_charts(entry, names: dict, lang: str) -> dict:
    loc = lang
    svg = {}
    result = entry.get("result")
    lower = {code: t("lower_better", loc) for code in LOWER_IS_BETTER}
    if result:
        svg["path"] = charts.path_diagram(result, names=names, title=t("path_model", loc),
                                          legend=(t("legend_sig", loc), t("legend_ns", loc)), notes=lower)
        decision = result.get("decision") or {}
        svg["ipma"] = charts.ipma_chart(result.get("improve_first", ()), decision.get("zones", ()),
                                        title=t("ipma", loc), x_label=t("ipma_x", loc), y_label=t("ipma_y", loc),
                                        zone_labels={z: t(f"zone_{z}_title", loc) for z in ZONES})
        bars = [{"label": names[c], "value": result["constructs"][c]["index"], "sub": lower.get(c),
                 "ci": result["constructs"][c].get("index_ci")} for c in names if c in result["constructs"]]
    else:
        desc = (entry.get("descriptive") or {}).get("constructs", {})
        bars = [{"label": names[c], "value": desc[c]["score"], "ci": desc[c]["ci"], "sub": lower.get(c)}
                for c in names if c in desc]
    svg["scores"] = charts.bar_chart(bars, title=t("scores", loc))
    if len(entry.get("waves", [])) > 1:
        waves = [t("wave_n", loc, n=w["wave"]) for w in entry["waves"]]
        series = [{"name": names[c], "values": [w["scores"][c]["mean"] for w in entry["waves"]], "note": lower.get(c)}
                  for c in names if c in entry["waves"][0]["scores"]]
        svg["trend"] = charts.trend_chart(waves, series, title=t("trend", loc), y_label=t("trend_y", loc))
    return svg


def segment_charts(entry, info: dict, lang: str) -> list[dict]:
    """One bar chart per segment question (suppressed groups shown as a note, without numbers)."""
    return _drawn(entry, ("segments", lang), lambda: _draw_segment_charts(entry, info, lang))


def _draw_segment_charts(entry, info: dict, lang: str) -> list[dict]:
    out = []
    for code, rows in entry.get("segments", {}).items():
        if not rows:
            continue
        q = next((q for q in info["questions"] if q["code"] == code), {})
        order = {o["value"]: k for k, o in enumerate(q.get("options") or [])}
        rows = sorted(rows, key=lambda r: (order.get(r["value"], len(order)), r["value"]))
        bars = [{"label": option_label(info, code, r["value"]), "value": r["mean"], "ci": r["ci"],
                 "note": t("suppressed", lang, n=MIN_SEGMENT_N)} for r in rows]
        out.append({"code": code, "title": question_text(info, code), "rows": rows,
                    "svg": charts.bar_chart(bars, title=question_text(info, code))})
    return out


def _interval(ci, digits=1) -> str:
    """' (95% interval lo–hi)' in words, or '' without an interval."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return t("interval", lo=charts.fmt(ci[0], digits), hi=charts.fmt(ci[1], digits))


def decision_view(entry: dict, info: dict, names: dict) -> dict:
    """The improve-first list (levers only, in the decision rule's zones and tiers), the chance that the
    first lever really is first, and expectations as context; ``pending`` while the result has no
    bootstrap intervals yet."""
    result = entry.get("result") or {}
    decision = result.get("decision") or {}
    known = bool(decision.get("tiers_known"))
    levers = []
    for r in result.get("improve_first", ()):
        levers.append({"item": r["item"], "priority": r["priority"], "tier": r["tier"], "zone": r["zone"],
                       "tied": known and r["tied"], "zone_label": t(f"zone_{r['zone']}") if r["zone"] else "",
                       "line": t("lever_line", item=short_item(info, r["item"]), code=r["item"],
                                 score=charts.fmt(r["performance"], 0), gain=charts.fmt(r["gain"], 1),
                                 impact=charts.fmt(5 * r["importance"], 1)),
                       "interval": _interval(r.get("gain_ci"))})
    p_first = None
    if levers and decision.get("p_first") is not None:
        p_first = t("p_first", item=short_item(info, levers[0]["item"]), p=f"{decision['p_first'] * 100:.0f}%")
    context = []
    for c in decision.get("context", ()):
        via = c.get("share_via_levers")
        context.append(t("context_line", name=names.get(c["construct"], c["construct"]),
                         score=charts.fmt(c["performance"], 0), impact=charts.fmt(5 * c["importance"], 1),
                         via="–" if via is None else f"{via * 100:.0f}%"))
    return {"levers": levers, "p_first": p_first, "pending": not known, "context": context,
            "options": [{"value": code, "label": names.get(code, code)} if code in CONSTRUCTS else
                        {"value": code, "label": f"{code} · {short_item(info, code)}"}
                        for code in _lever_names(result)]}


def _lever_names(result: dict) -> list[str]:
    """The levers a what-if may change (PQ, PV and their items), in questionnaire order."""
    constructs = result.get("constructs", {})
    return [name for code in LEVERS if code in constructs for name in (code, *constructs[code]["items"])]


def what_if_lines(rows: list[dict], names: dict) -> list[dict]:
    """Predicted CS and CL changes of a what-if in words, with the interval when there is one."""
    return [{"target": r["target"], "change": r["change"],
             "text": t("whatif_line", target=names.get(r["target"], r["target"]), change=f"{r['change']:+.1f}"),
             "interval": _interval(r.get("ci"))} for r in rows]


def complaint_path(entry: dict) -> str | None:
    """The complaints → loyalty path in words, as ACSI reads its sign (None without a fitted path)."""
    path = next((p for p in (entry.get("result") or {}).get("paths", []) if (p["from"], p["to"]) == ("CC", "CL")),
                None)
    coef = None if path is None else path.get("std_estimate")
    if coef is None or coef != coef:
        return None
    text = t("cc_cl_positive" if coef > 0 else "cc_cl_negative", coef=charts.fmt(coef))
    if not charts.is_significant(path) and path.get("p_value") is not None:
        text += " " + t("cc_cl_ns", p=charts.fmt(path["p_value"], 3))
    return text


def segment_label(info: dict, segment) -> str | None:
    """The segment filter as words: 'question: option label' in the active language."""
    if not segment:
        return None
    code, value = segment
    return f"{question_text(info, code)}: {option_label(info, code, value)}"


def wave_label(info: dict, wave) -> str:
    """The shown wave in words: 'Wave 2 – Autumn (latest)', or all waves pooled."""
    if wave is None:
        return t("all_waves_pooled")
    waves = info.get("wave_labels") or {}
    text = t("wave_n", n=wave)
    if waves.get(wave):
        text += f" – {waves[wave]}"
    if info.get("waves") and wave == max(info["waves"]):
        text += f" ({t('latest')})"
    return text


def warnings_for(entry: dict) -> list[dict]:
    """Engine warnings in plain language with what to do, plus the engine's own technical message."""
    out = []
    for w in (entry.get("result") or {}).get("warnings", []):
        meaning, todo = warning_text(w.get("code", ""))
        out.append({"code": w.get("code"), "meaning": meaning, "todo": todo, "detail": w.get("message", "")})
    return out


FIT_SIGNS = {"chi2": "≥", "cfi": "≥", "tli": "≥", "rmsea": "≤", "srmr": "≤"}


def fit_rows(entry: dict) -> list[dict]:
    """Fit indices with value, threshold (with its direction) and translated verdict; χ² is judged by p."""
    fit = (entry.get("result") or {}).get("fit", {})
    rows = []
    for name, v in (fit.get("verdicts") or {}).items():
        value = fit.get("p_value") if name == "chi2" else v.get("value")
        label = t("chi2_p") if name == "chi2" else name.upper()
        threshold = v.get("threshold")
        rows.append({"name": label, "value": value, "ok": v.get("ok"),
                     "threshold": f"{FIT_SIGNS.get(name, '')} {charts.fmt(threshold)}" if threshold is not None else "",
                     "verdict": verdict_text(v.get("verdict") or "–")})
    return rows


def reliability_flags(entry: dict) -> dict:
    """{CODE: {alpha|cr|ave: ok}} from the engine's reliability verdicts (None = not rated)."""
    verdicts = (entry.get("result") or {}).get("reliability_verdicts") or {}
    return {code: {k: r.get("ok") for k, r in row.items()} for code, row in verdicts.items() if code != "ok"}


def dropped_text(entry: dict) -> str:
    """Why responses were left out, in words."""
    reasons = (entry.get("result") or {}).get("dropped_reasons") or {}
    parts = []
    for reason, count in reasons.items():
        key = f"reason_{reason}"
        parts.append(f"{t(key) if key in MESSAGES else reason}: {count}")
    return ", ".join(parts)


def context(entry: dict, info: dict) -> dict:
    """Everything report/report.html needs, in the active language (flask_babel.force_locale picks another)."""
    lang = current_locale()
    names = names_for(entry)
    ctx = {"entry": entry, "result": entry.get("result"), "names": names,
           "svg": render_charts(entry, names, lang), "segment_charts": segment_charts(entry, info, lang),
           "decision": decision_view(entry, info, names), "warnings": warnings_for(entry),
           "fit_rows": fit_rows(entry), "rel_ok": reliability_flags(entry),
           "dropped": dropped_text(entry), "codes": codes_for(entry), "lower_better": LOWER_IS_BETTER,
           "complaint_path": complaint_path(entry), "segment_label": segment_label(info, entry.get("segment")),
           "wave_label": wave_label(info, entry.get("wave")),
           "item_label": lambda code: short_item(info, code),
           "cause_label": lambda cause: t(f"cause_{cause}") if f"cause_{cause}" in MESSAGES else cause}
    ctx.update(trust_context(entry, info, names))
    return ctx


INVARIANCE_LEVELS = {"scalar": "inv_scalar", "metric": "inv_metric", "configural": "inv_configural",
                     "none": "inv_none"}


def level_text(comparison: dict, info: dict) -> str:
    """The invariance level a comparison reached, in words (partial scalar names the freed items)."""
    if comparison.get("partial"):
        items = ", ".join(short_item(info, i, 40) for i in comparison.get("differing_items") or [])
        return t("inv_partial", items=items)
    return t(INVARIANCE_LEVELS.get(comparison.get("level"), "inv_none"))


def fairness(comparison: dict | None, info: dict, label=None, order=None) -> dict | None:
    """What the page says about one group comparison (waves or a segment question): the level, and either
    each group's index with its interval (comparable, in ``order``) or which items differ (not comparable)."""
    if comparison is None:
        return None
    label = label or (lambda value: value)
    order = order or (lambda value: 0)
    status = comparison["status"]
    out = {"status": status, "comparable": bool(comparison.get("comparable")), "groups": [], "lines": [],
           "column": comparison.get("column")}
    if status == "too_few":
        out["lines"].append(t("comparable_too_few", n=comparison["min_n"]))
    elif status == "failed":
        out["lines"].append(t("comparable_failed", error=comparison.get("error") or ""))
    elif out["comparable"]:
        out["lines"].append(t("comparable_yes", level=level_text(comparison, info)))
        rows = sorted(comparison["groups"], key=lambda g: (order(g["value"]), g["value"]))
        out["groups"] = [{"label": label(g["value"]), "n": g["n"], "index": g["index"], "ci": g["ci"]} for g in rows]
    else:
        items = [f"{i} ({short_item(info, i, 40)})" for i in comparison.get("differing_items") or []]
        key = "comparable_no" if items else "comparable_no_items"
        out["lines"].append(t(key, level=level_text(comparison, info), items=", ".join(items)))
    if comparison.get("small") and status != "too_few":
        out["lines"].append(t("comparable_small", n=comparison["min_n"],
                              groups=", ".join(label(v) for v in comparison["small"])))
    return out


def second_opinion_view(entry: dict, info: dict, names: dict) -> dict | None:
    """The other estimator's reading of the same data, in words, with the disagreements flagged."""
    opinion = entry.get("second_opinion")
    if opinion is None:
        return None
    other = t(f"estimator_{opinion['estimator']}")
    if opinion.get("error"):
        return {"other": other, "error": t("second_failed", error=opinion["error"]), "paths": [], "lines": []}

    def lever(row):
        return "–" if row is None else f"{row['item']} · {short_item(info, row['item'], 50)}"

    lines = []
    if opinion["agree"]:
        lines.append(t("second_agree"))
    if opinion["top_differs"]:
        lines.append(t("second_top_differs"))
    if opinion["sign_flips"]:
        paths = ", ".join(f"{names.get(a, a)} → {names.get(b, b)}"
                          for a, b in (p.split("->") for p in opinion["sign_flips"]))
        lines.append(t("second_sign_differs", paths=paths))
    return {"other": other, "this": t(f"estimator_{opinion['primary']}"), "error": None,
            "index": opinion["index"], "primary_index": opinion["primary_index"],
            "top": lever(opinion["top_lever"]), "other_top": lever(opinion["other_top_lever"]),
            "top_differs": opinion["top_differs"], "agree": opinion["agree"], "lines": lines,
            "paths": [{**p, "label": f"{names.get(p['from'], p['from'])} → {names.get(p['to'], p['to'])}"}
                      for p in opinion["paths"]]}


def trust_context(entry: dict, info: dict, names: dict) -> dict:
    """The second pass's additions to the page: second opinion and fair comparisons (None until it ran)."""
    comparisons = entry.get("comparisons") or {}
    segments = {}
    for code, c in (comparisons.get("segments") or {}).items():
        q = next((q for q in info["questions"] if q["code"] == code), {})
        rank = {o["value"]: k for k, o in enumerate(q.get("options") or [])}
        segments[code] = fairness(c, info, lambda v, code=code: option_label(info, code, v),
                                  lambda v, rank=rank: rank.get(v, len(rank)))
    return {"second": second_opinion_view(entry, info, names),
            "wave_fairness": fairness(comparisons.get("waves"), info, lambda v: t("wave_n", n=v), int),
            "segment_fairness": segments, "second_pass_done": entry.get("phase") == "full"}
