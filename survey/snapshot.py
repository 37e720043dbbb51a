"""An immutable, per-process copy of a questionnaire, so a submission needs no Question/Wave queries.

Keyed by survey.revision, a random token every questionnaire or wave change replaces, so workers never use a
stale copy and a reused survey id (SQLite after deletes in tests) never matches an old entry.
"""
from dataclasses import dataclass

from .tables import Survey

_CACHE: dict[tuple[int, str], "Snapshot"] = {}
_CACHE_SIZE = 256


@dataclass(frozen=True)
class Item:
    """One active question as plain values."""

    id: int
    code: str
    kind: str
    construct: str | None
    required: bool
    allow_dont_know: bool
    condition: tuple[str, str] | None
    options: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """The active questions, scale and waves of one survey revision."""

    survey_id: int
    revision: str
    scale: tuple[int, int]
    items: tuple[Item, ...]
    waves: dict  # wave number -> wave id
    current_wave_id: int | None

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)


def take(survey: Survey) -> Snapshot:
    """Return the snapshot of the survey's current revision (built once per process and revision)."""
    key = (survey.id, survey.revision)
    snap = _CACHE.get(key)
    if snap is None:
        items = tuple(
            Item(q.id, q.code, q.kind, q.construct, q.required, q.allow_dont_know, q.condition,
                 tuple(q.option_values))
            for q in survey.active_questions
        )
        waves = {w.number: w.id for w in survey.waves}
        snap = Snapshot(survey.id, survey.revision, (survey.scale_min, survey.scale_max), items, waves,
                        waves[max(waves)] if waves else None)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = snap
    return snap
