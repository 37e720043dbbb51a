"""Reading stored responses one page or one response at a time: the responses list, a single response with
its question texts, and the open comments."""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm import Session

from survey.services.paging import Pagination, paginate
from survey.services.validation import MULTI_SEPARATOR
from survey.storage.tables import MAX_ID, MULTI, SCALE, TEXT, Answer, Question, Response, Survey

RESPONSES_PER_PAGE = 50
COMMENTS_PER_PAGE = 25


@dataclass(frozen=True)
class ShownAnswer:
    """One question of a response as the manager reads it."""

    code: str
    question: str
    answer: str | None  # None: not answered (or not asked)
    dont_know: bool = False
    retired: bool = False


@dataclass(frozen=True)
class ResponseView:
    """One response with the texts of its questions, its wave, time and flags (when the table has them)."""

    id: int
    created_at: datetime
    wave: int
    wave_label: str
    locale: str
    source: str
    complete: bool
    invited: bool
    flags: tuple
    answers: tuple[ShownAnswer, ...]


def wave_numbers(survey: Survey) -> dict[int, int]:
    """Return wave id -> wave number."""
    return {w.id: w.number for w in survey.waves}


def page_responses(session: Session, survey: Survey, page: int = 1,
                   per_page: int = RESPONSES_PER_PAGE) -> Pagination:
    """Return one page of the survey's responses, newest first."""
    return paginate(session, sa.select(Response).where(Response.survey_id == survey.id)
                    .order_by(Response.id.desc()), page, per_page)


def page_comments(session: Session, survey: Survey, page: int = 1, per_page: int = COMMENTS_PER_PAGE) -> Pagination:
    """Return one page of the non-empty answers to the survey's open questions (complete responses), newest
    first; each item is an Answer with its response loaded."""
    return paginate(session, sa.select(Answer).join(Response, Response.id == Answer.response_id)
                    .join(Question, Question.id == Answer.question_id)
                    .where(Question.survey_id == survey.id, Question.kind == TEXT, Response.complete.is_(True),
                           Answer.text.is_not(None), sa.func.trim(Answer.text) != "")
                    .options(so.contains_eager(Answer.response))
                    .order_by(Response.id.desc(), Question.position), page, per_page)


def _shown(question: Question, answer: Answer | None, locale: str) -> ShownAnswer:
    """Format one stored answer in the manager's language."""
    text = question.text(locale)
    retired = not question.active
    if answer is None:
        return ShownAnswer(question.code, text, None, retired=retired)
    if question.kind == SCALE:
        if answer.value is None:
            return ShownAnswer(question.code, text, None, dont_know=True, retired=retired)
        return ShownAnswer(question.code, text, str(answer.value), retired=retired)
    if question.kind == TEXT or not question.options:
        return ShownAnswer(question.code, text, answer.text, retired=retired)
    labels = {o["value"]: question.option_label(o, locale) for o in question.options}
    values = (answer.text or "").split(MULTI_SEPARATOR) if question.kind == MULTI else [answer.text]
    return ShownAnswer(question.code, text, "; ".join(labels.get(v, v) for v in values if v) or None,
                       retired=retired)


def get_response(session: Session, survey: Survey, response_id: int, locale: str = "en") -> ResponseView | None:
    """Return one response of this survey with every question's text and answer, or None.

    Questions come in questionnaire order: the active ones (answered or not) and the retired ones it answered.
    """
    if not 0 < response_id <= MAX_ID:
        return None
    response = session.scalar(sa.select(Response).where(Response.id == response_id,
                                                        Response.survey_id == survey.id))
    if response is None:
        return None
    answers = {a.question_id: a for a in session.scalars(sa.select(Answer).where(Answer.response_id == response.id))}
    shown = tuple(_shown(q, answers.get(q.id), locale) for q in survey.questions if q.active or q.id in answers)
    wave = next(w for w in survey.waves if w.id == response.wave_id)
    flags = getattr(response, "flags", None) or ()  # the quality checks' column, where the schema has it
    return ResponseView(
        id=response.id, created_at=response.created_at, wave=wave.number, wave_label=wave.label,
        locale=response.locale, source=response.source, complete=response.complete,
        invited=response.token_id is not None, flags=tuple(flags) if not isinstance(flags, str) else (flags,),
        answers=shown,
    )
