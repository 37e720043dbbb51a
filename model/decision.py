"""What to improve first, and what a change would bring: the decision rule, stated once.

Levers and context
------------------
A *lever* is something a company can act on: the perceived quality (PQ) and perceived value (PV)
items and constructs. Customer expectations (CE; and image IM under ECSI/CCSI) also drive
satisfaction, but a quality team cannot set them: they are reported as *context* (their effect on
satisfaction and how much of it runs through quality and value), never ranked as a lever.

The rule
--------
importance = the total effect on the CS index per index point of the lever (``total_index``; an
item's importance is its construct's × the item's index weight), performance = the lever's 0-100
index (item: its score). ``gain = importance × (TARGET − performance)``: the CS points to gain if
the lever reached its **target, the top of the scale (100: every respondent giving it the highest
answer)** — the room to improve weighted by what improving is worth. Levers rank by gain, largest
first (priority 1 = improve first).

Ties and zones
--------------
With bootstrap draws every lever has a percentile interval of its gain (and of its importance).
Going down the ranked list, a lever joins the *tier* of the lever ranked just above it ("about
equally important") when the 95% percentile interval of their gain gap, taken draw by draw,
contains zero; otherwise it opens the next tier. ``p_top`` is the share of draws in which the lever ranks first among the levers (k levers
tied for first in a draw get 1/k each). Without draws only the order is known: ``tier``,
``zone`` and ``tied`` are None and there are no zones (``tiers_known`` false), so nearly equal
point estimates never get different labels. Tier 1 is the zone "improve_first", tier 2 "next", the rest
"later"; ``zones`` gives the gain at each zone's lower edge (midway between the last gain of a zone
and the first of the next), so a chart draws the zone borders as the curves
importance = min_gain / (TARGET − performance) and every point falls in its own zone.

What-if
-------
A change of Δ index points to an item moves its construct's index by Δ × the item's index weight
(the index is the weighted item mean); a construct's change moves CS by total_index[CS ← construct]
and CL by total_index[CL ← construct]. Changes add up (a change to PV is on top of what a change to
PQ brings through PQ → PV). With bootstrap draws, the same arithmetic per draw (each draw's total
effects and weights) gives a percentile interval.
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import numpy as np

from . import scores
from .bootstrap import share_top
from .exceptions import ModelError

LEVERS = ("PQ", "PV")
TARGET = 100.0
DECISION_TARGET = "CS"
WHAT_IF_TARGETS = ("CS", "CL")
ZONES = ("improve_first", "next", "later")
NO_BOOTSTRAP = "no bootstrap draws: fit with bootstrap=B for intervals, ties and p_top"
LEVEL = 0.95


class WhatIfError(ModelError, ValueError):
    """A what-if change names no lever, is not a number or leaves the 0-100 range.

    ``reason`` is one of "syntax", "empty", "not_lever", "unknown", "not_number", "range";
    ``name`` the lever and ``score`` its current 0-100 score where they apply (for callers
    that word the message themselves, e.g. the report)."""

    def __init__(self, message: str, reason: str, name: str | None = None, score: float | None = None):
        super().__init__(message)
        self.reason, self.name, self.score = reason, name, score


def _interval(block: np.ndarray) -> np.ndarray:
    """Percentile interval per column of a (draws, k) block: (k, 2)."""
    tail = (1 - LEVEL) / 2
    return np.quantile(block, [tail, 1 - tail], axis=0).T


def _pair(row) -> list[float]:
    return [float(row[0]), float(row[1])]


def _cs_importance(effects) -> dict:
    return {e["from"]: e["total_index"] for e in effects if e["to"] == DECISION_TARGET}


def _rank(rows: list[dict], gain_draws) -> list[dict]:
    """Priority by gain, tiers by the tie rule, zones by tier (rows carry ``gain``).

    ``gain_draws`` (draws, rows) or None: going down the list, a lever joins the tier of the lever
    ranked just above it when the percentile interval of their gain gap (per draw) contains zero,
    else it opens the next tier."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["gain"], reverse=True)
    if gain_draws is None:   # no intervals: the order only, tiers and zones unknown
        return [{**rows[i], "priority": rank, "tier": None, "zone": None, "tied": None, "gap_ci": None}
                for rank, i in enumerate(order, start=1)]
    ranked, tier = [], 0
    for rank, i in enumerate(order, start=1):
        row = {**rows[i], "gap_ci": None}
        if rank == 1:
            tier += 1
        else:
            lo, hi = _interval((gain_draws[:, order[rank - 2]] - gain_draws[:, i])[:, None])[0]
            if not lo <= 0 <= hi:
                tier += 1
            row["gap_ci"] = _pair((lo, hi))
        row.update(priority=rank, tier=tier, zone=ZONES[min(tier, len(ZONES)) - 1])
        ranked.append(row)
    for row in ranked:
        row["tied"] = sum(r["tier"] == row["tier"] for r in ranked) > 1
    return ranked


def _zones(ranked: list[dict]) -> list[dict]:
    """Each zone's lowest gain edge: midway between its last gain and the next zone's first (no
    zones while the tiers are unknown)."""
    out = []
    if any(r["zone"] is None for r in ranked):
        return out
    for k, zone in enumerate(ZONES):
        inside = [r["gain"] for r in ranked if r["zone"] == zone]
        below = [r["gain"] for r in ranked if ZONES.index(r["zone"]) > k]
        if not inside:
            continue
        edge = (min(inside) + max(below)) / 2 if below else None
        out.append({"zone": zone, "min_gain": edge, "levers": len(inside)})
    return out


def _lever_block(boot, rows, kind: str):
    """Per-draw importance and performance of the lever rows (items or constructs)."""
    layout = boot.layout
    if kind == "items":
        pos = {item: i for i, (item, _) in enumerate(layout.items)}
        cols = [pos[r["item"]] for r in rows]
        return boot.column("item_imp")[:, cols], boot.column("item_perf")[:, cols]
    cols = [layout.drivers.index(r["construct"]) for r in rows]
    return boot.column("imp")[:, cols], boot.column("perf")[:, cols]


def _levels(rows: list[dict], boot, kind: str) -> list[dict]:
    """Gain, intervals and p_top of lever rows, ranked."""
    for row in rows:
        row["gain"] = float(scores.priority_gain(row["importance"], row["performance"]))
    gains = None
    if boot is not None and boot.stats.shape[0] and rows:
        imp, perf = _lever_block(boot, rows, kind)
        gains = scores.priority_gain(imp, perf)
        imp_ci, gain_ci = _interval(imp), _interval(gains)
        top = share_top(imp, perf)   # among these levers only
        for k, row in enumerate(rows):
            row.update(importance_ci=_pair(imp_ci[k]), gain_ci=_pair(gain_ci[k]), p_top=float(top[k]))
    else:
        for row in rows:
            row.update(importance_ci=None, gain_ci=None, p_top=None)
    return _rank(rows, gains)


def _not_through_levers(spec, paths) -> dict:
    """Total effect of each construct on CS along paths that avoid the levers (the lever constructs'
    outgoing paths cut): what of a context driver's effect does not run through quality and value."""
    codes = spec.codes
    b = np.zeros((len(codes), len(codes)))
    for p in paths:
        if p["from"] not in LEVERS:
            b[codes.index(p["to"]), codes.index(p["from"])] = p["estimate"]
    total = np.linalg.inv(np.eye(len(codes)) - b) - np.eye(len(codes))
    return {code: float(total[codes.index(DECISION_TARGET), k]) for k, code in enumerate(codes)}


def _context(spec, constructs, effects, paths, boot) -> list[dict]:
    """Drivers of CS that are not levers (CE, IM): their effect and how much runs through the levers."""
    importance = _cs_importance(effects)
    totals = {e["from"]: e["total"] for e in effects if e["to"] == DECISION_TARGET}
    around = _not_through_levers(spec, paths)
    out = []
    for code in spec.codes:
        if code not in importance or code in LEVERS:
            continue
        total = totals[code]
        via = None if not total else 1 - around[code] / total
        row = {"construct": code, "importance": importance[code], "importance_ci": None,
               "performance": constructs[code]["index"], "share_via_levers": via,
               "items": {item: constructs[code]["item_scores"][item] for item in spec.items[code]},
               "role": "context"}
        if boot is not None and boot.stats.shape[0]:
            k = boot.layout.drivers.index(code)
            row["importance_ci"] = _pair(_interval(boot.column("imp")[:, [k]])[0])
        out.append(row)
    return out


def decide(spec, constructs: Mapping, effects, paths, boot=None) -> tuple[tuple, dict]:
    """The improve-first list of item levers and the rest of the decision layer.

    Parameters
    ----------
    spec : CSISpec
    constructs, effects, paths
        As in ``CSIResult`` (``effects[].total_index``, ``constructs[C].weights``, ``item_scores``,
        ``paths[].estimate``).
    boot : model.bootstrap.BootstrapResult or None
        Bootstrap draws; without them intervals, ``p_top`` and ties are None / unknown.

    Returns
    -------
    (improve_first, decision)
        ``improve_first``: item levers ranked, each ``{item, construct, priority, tier, zone, tied,
        importance, importance_ci, performance, gain, gain_ci, p_top}``; ``decision``: ``{rule,
        target, levers, tiers_known, p_first, p_top_reason, constructs (the same for PQ and PV),
        zones, context}``.
    """
    importance = _cs_importance(effects)
    levers = [c for c in LEVERS if c in importance]
    item_rows = [{"item": item, "construct": c, "importance": importance[c] * w,
                  "performance": constructs[c]["item_scores"][item]}
                 for c in levers for item, w in constructs[c]["weights"].items()]
    construct_rows = [{"item": None, "construct": c, "importance": importance[c],
                       "performance": constructs[c]["index"]} for c in levers]
    has_draws = boot is not None and boot.stats.shape[0] > 0
    items = _levels(item_rows, boot, "items")
    decision = {
        "rule": "gain = importance x (target - performance); levers ranked by gain, largest first",
        "target": TARGET, "levers": levers, "tiers_known": has_draws,
        "p_first": items[0]["p_top"] if items else None,
        "p_top_reason": None if has_draws else NO_BOOTSTRAP,
        "constructs": _levels(construct_rows, boot, "constructs"),
        "zones": _zones(items),
        "context": _context(spec, constructs, effects, paths, boot),
    }
    return tuple(items), decision


# ----------------------------------------------------------------------------- what-if


_CHANGE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*=\s*([+-]?\s*\d+(?:\.\d+)?)\s*$")


def parse_change(text: str) -> tuple[str, float]:
    """``"PQ2=+5"`` → ``("PQ2", 5.0)``.

    Raises
    ------
    WhatIfError
        Not of the form LEVER=±number.
    """
    match = _CHANGE.match(str(text))
    if not match:
        raise WhatIfError(f"what-if {text!r} is not LEVER=CHANGE, e.g. PQ2=+5 (index points on 0-100)",
                          "syntax")
    return match.group(1), float(match.group(2).replace(" ", ""))


def lever_names(spec) -> list[str]:
    """Every name a what-if may change: the lever constructs and their items."""
    return [name for c in LEVERS if c in spec.items for name in (c, *spec.items[c])]


def _construct_changes(result, changes: Mapping[str, float], weights: Mapping) -> dict:
    out = dict.fromkeys(LEVERS, 0.0)
    for name, amount in changes.items():
        if name in LEVERS:
            out[name] += amount
        else:
            code = result.spec.construct_of(name)
            out[code] += amount * weights[code][name]
    return out


def check_changes(result, changes: Mapping[str, float]) -> dict:
    """Validate what-if changes against a result: levers only, finite, staying within 0-100."""
    if not changes:
        raise WhatIfError("a what-if needs at least one change, e.g. PQ2=+5", "empty")
    allowed = lever_names(result.spec)
    clean = {}
    for name, amount in changes.items():
        if name not in allowed:
            context = name in result.spec.observed or name in result.spec.items
            why = ("expectations and image are context, not levers" if context else "unknown name")
            raise WhatIfError(f"what-if {name}: {why}; levers are {', '.join(allowed)}",
                              "not_lever" if context else "unknown", name)
        try:
            amount = float(amount)
        except (TypeError, ValueError):
            raise WhatIfError(f"what-if {name}: {amount!r} is not a number", "not_number", name) from None
        if not math.isfinite(amount):
            raise WhatIfError(f"what-if {name}: {amount!r} is not a finite number", "not_number", name)
        c = result.constructs[name] if name in LEVERS else None
        now = c["index"] if c else result.constructs[result.spec.construct_of(name)]["item_scores"][name]
        if not 0 <= now + amount <= 100:
            raise WhatIfError(f"what-if {name}: it scores {now:.1f}; a change of {amount:+g} "
                              "would leave the 0-100 range", "range", name, now)
        clean[name] = clean.get(name, 0.0) + amount
    return clean


def what_if(result, changes: Mapping[str, float]) -> list[dict]:
    """Predicted change in the CS and CL indices when levers change by the given index points.

    Parameters
    ----------
    result : CSIResult
    changes : mapping
        ``{lever: index points}``, a lever being PQ, PV or one of their items, e.g. ``{"PQ2": 5}``.

    Returns
    -------
    list of dict
        ``[{changes, target, change, ci}]`` for CS and CL; ``ci`` the bootstrap percentile 95%
        interval (None without draws, with ``ci_reason``).

    Raises
    ------
    WhatIfError
        A name that is not a lever, a change that is not a number or leaves 0-100.
    """
    changes = check_changes(result, changes)
    delta = _construct_changes(result, changes, result.weights)
    total = {(e["from"], e["to"]): e["total_index"] for e in result.effects}
    boot = result.bootstrap_draws
    draws = boot is not None and boot.stats.shape[0] > 0
    if draws:
        per_draw = _draw_changes(result, boot, changes)
    out = []
    for target in WHAT_IF_TARGETS:
        if not any((c, target) in total for c in LEVERS):
            continue
        change = sum(total.get((c, target), 0.0) * d for c, d in delta.items())
        row = {"changes": dict(changes), "target": target, "change": float(change),
               "ci": _pair(_interval(per_draw[target][:, None])[0]) if draws else None}
        if not draws:
            row["ci_reason"] = NO_BOOTSTRAP
        out.append(row)
    return out


def _draw_changes(result, boot, changes) -> dict:
    """Per draw, the CS and CL change: each draw's total effects and index weights."""
    layout = boot.layout
    impact = boot.column("impact") / 5           # total_index per (driver, target) pair
    item_w = boot.column("item_w")
    pos = {item: i for i, (item, _) in enumerate(layout.items)}
    delta = {c: np.zeros(boot.stats.shape[0]) for c in LEVERS}
    for name, amount in changes.items():
        if name in LEVERS:
            delta[name] += amount
        else:
            delta[result.spec.construct_of(name)] += amount * item_w[:, pos[name]]
    out = {}
    for target in WHAT_IF_TARGETS:
        value = np.zeros(boot.stats.shape[0])
        for c in LEVERS:
            if (c, target) in layout.effects:
                value += impact[:, layout.effects.index((c, target))] * delta[c]
        out[target] = value
    return out
