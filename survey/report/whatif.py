"""The report's what-if: the form's levers and change in, the model's predicted CS and CL changes out."""
from __future__ import annotations

import math

from model import decision

from survey.exceptions import BadWhatIf

CHANGE_LIMIT = 50.0
_REASONS = {"not_lever": "whatif_not_lever", "unknown": "whatif_not_lever", "range": "whatif_range",
            "not_number": "whatif_bad_change", "syntax": "whatif_bad_change", "empty": "whatif_pick"}


def asked(args) -> bool:
    """Whether the request carries the what-if form (a lever or a change)."""
    return "lever" in args or "change" in args


def what_if(entry, levers: list[str], change: str | None) -> list[dict]:
    """Predicted change of the CS and CL indices if every chosen lever moved by ``change`` index points.

    :raise BadWhatIf: no lever chosen, a change that is not a number within ±CHANGE_LIMIT, a name that is
        not a lever, or a lever the change would take outside 0–100 (message id and fields for the page).
    """
    result = entry.result_obj
    if result is None:
        raise BadWhatIf("whatif_no_fit")
    if not levers:
        raise BadWhatIf("whatif_pick")
    try:
        amount = float(str(change).strip().replace("+", "", 1).replace("−", "-"))
    except ValueError:
        raise BadWhatIf("whatif_bad_change", limit=f"{CHANGE_LIMIT:g}") from None
    if not math.isfinite(amount) or abs(amount) > CHANGE_LIMIT or amount == 0:
        raise BadWhatIf("whatif_bad_change", limit=f"{CHANGE_LIMIT:g}")
    try:
        return decision.what_if(result, {lever: amount for lever in levers})
    except decision.WhatIfError as err:
        raise BadWhatIf(_REASONS.get(err.reason, "whatif_bad_change"), lever=err.name or "",
                        score="–" if err.score is None else f"{err.score:.0f}", change=f"{amount:+g}",
                        limit=f"{CHANGE_LIMIT:g}") from None
