"""An immutable, per-process copy of a questionnaire, so a submission needs no Survey/Question/Wave queries.

Keyed by survey.revision, a random token every change of questions, waves or open/closed status replaces, so
workers never use a stale copy and a reused survey id (SQLite after deletes in tests) never matches an old entry.
The copy by slug may be stale; whoever relies on it checks the revision in the same statement that writes
(responses.submit does).
"""
from dataclasses import dataclass

import sqlalchemy as sa

from survey.exceptions import InvalidResponse, ServiceError
from survey.services.surveys import get_survey
from survey.storage.tables import OPEN, Survey

_CACHE: dict[tuple[int, str], "Snapshot"] = {}
_BY_SLUG: dict[str, "Snapshot"] = {}
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
    slug: str
    revision: str
    is_open: bool
    scale: tuple[int, int]
    items: tuple[Item, ...]
    waves: dict  # wave number -> wave id
    current_wave_id: int | None
    access: str = "open"

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)

    def wave_id(self, number: int | None) -> int:
        """Return the id of the wave with this number, or of the newest wave.

        :raise InvalidResponse: no such wave.
        """
        if number is None:
            if self.current_wave_id is None:
                raise ServiceError(f"survey {self.slug} has no wave")
            return self.current_wave_id
        try:
            return self.waves[int(number)]
        except (KeyError, TypeError, ValueError):
            raise InvalidResponse({"wave": "invalid_choice"}) from None


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
        snap = Snapshot(survey.id, survey.slug, survey.revision, survey.status == OPEN,
                        (survey.scale_min, survey.scale_max), items, waves, waves[max(waves)] if waves else None,
                        survey.access)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = snap
    if len(_BY_SLUG) >= _CACHE_SIZE:
        _BY_SLUG.clear()
    _BY_SLUG[snap.slug] = snap
    return snap


def by_slug(session, slug: str, *, fresh: bool = False) -> Snapshot | None:
    """Return the last snapshot this process took of the survey at `slug`, or load it (None: no such survey).

    Possibly stale unless fresh=True (which costs one small query and reloads only when the revision changed).
    """
    snap = _BY_SLUG.get(slug)
    if snap is not None and fresh:
        if session.scalar(sa.select(Survey.revision).where(Survey.id == snap.survey_id)) != snap.revision:
            snap = None
    if snap is None:
        survey = get_survey(session, slug)
        if survey is None:
            _BY_SLUG.pop(slug, None)
            return None
        snap = take(survey)
    return snap
