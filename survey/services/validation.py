"""Checking a submission against a questionnaire snapshot: the one place answers are accepted or refused.

The web form, the JSON API and bulk loading (the demo) pass through validate(), so they accept and refuse
exactly the same answers. (An uploaded file for the BYOD report is checked column by column in importing.)
"""
from survey.services import snapshot
from survey.exceptions import InvalidResponse
from survey.storage.tables import CHOICE, SCALE, TEXT, YESNO

DONT_KNOW = "dk"
MULTI_SEPARATOR = ";"
MAX_TEXT = 5000
YES_NO_ALIASES = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "1": "yes", "0": "no"}


def _raw(data, code: str) -> list:
    """Return the submitted values for one code; None means "don't know", a missing key or "" unanswered."""
    if hasattr(data, "getlist"):
        values = data.getlist(code)
    elif code in data:
        value = data[code]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
    else:
        values = []
    cleaned = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
        cleaned.append(value)
    return cleaned


def _dont_know(value) -> bool:
    """Whether a submitted value is the "don't know / not applicable" answer."""
    return value is None or (isinstance(value, str) and value.lower() in (DONT_KNOW, "dont_know", "na"))


def _scale_value(value, scale: tuple[int, int], item: snapshot.Item):
    """Return (int or None for don't know, error code or None)."""
    if _dont_know(value):
        return None, (None if item.allow_dont_know else "dont_know_not_allowed")
    if isinstance(value, bool):
        return None, "not_a_number"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        try:  # full-width digits (Chinese input methods) count; superscripts pass isdigit() but are not numbers
            value = int(value)
        except ValueError:
            return None, "not_a_number"
    if not isinstance(value, int):
        return None, "not_a_number"
    if not scale[0] <= value <= scale[1]:
        return None, "out_of_range"
    return value, None


def _choice_values(values: list, item: snapshot.Item) -> tuple[str | None, str | None]:
    """Return (stored text, error code) for choice, multi and yes/no questions."""
    if item.kind == YESNO:
        value = values[0]
        key = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
        return (YES_NO_ALIASES[key], None) if key in YES_NO_ALIASES else (None, "invalid_choice")
    if item.kind == CHOICE:
        value = str(values[0]) if values[0] is not None else None
        return (value, None) if value in item.options else (None, "invalid_choice")
    chosen = set()
    for value in values:
        parts = value.split(MULTI_SEPARATOR) if isinstance(value, str) else [value]
        chosen.update(str(p).strip() for p in parts if str(p).strip())
    if not chosen <= set(item.options):
        return None, "invalid_choice"
    return (MULTI_SEPARATOR.join(v for v in item.options if v in chosen) or None), None


def validate(snap: snapshot.Snapshot, data) -> list[tuple[snapshot.Item, int | None, str | None]]:
    """Check a submission against a questionnaire snapshot; return (item, value, text) to store.

    A conditional question (only_if) applies when the question it depends on has the wanted answer; then its
    `required` holds. When that answer is something else, the question is not stored, and answering it anyway
    ("no" to complaining plus a complaint-handling score) is the error "not_applicable"; "don't know" there
    is no contradiction and is dropped. When the question it depends on is unanswered, only that one is flagged.
    """
    errors: dict[str, str] = {}
    answers = []
    for item in snap.items:
        values = _raw(data, item.code)
        if item.condition:
            code, wanted = item.condition
            given = _raw(data, code)
            given = YES_NO_ALIASES.get(str(given[0]).lower(), given[0]) if given else None
            if given != wanted:
                if given is not None and not all(_dont_know(v) for v in values):
                    errors[item.code] = "not_applicable"
                continue
        if not values:
            if item.required:
                errors[item.code] = "required"
            continue
        if item.kind == SCALE:
            value, error = _scale_value(values[0], snap.scale, item)
            text = None
        elif item.kind == TEXT:
            value, text = None, str(values[0])
            error = "too_long" if len(text) > MAX_TEXT else None
        else:
            value = None
            text, error = _choice_values(values, item)
        if error:
            errors[item.code] = error
        else:
            answers.append((item, value, text))
    if errors:
        raise InvalidResponse(errors)
    return answers
