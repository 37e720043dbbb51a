"""Survey administration: create from the template, edit items, open/close, waves and invitation tokens."""
import re
import secrets

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from model.spec import VARIANTS, check_model, parse_item_code
from survey.services import permissions, questionnaire
from survey.services.paging import Pagination, paginate
from survey.exceptions import InvalidInput
from survey.storage.db import write_transaction
from survey.storage.tables import (
    ACCESS_MODES, CLOSED, ESTIMATORS, OPEN, InvitationToken, MailRecipient, Manager, Question, Response, Survey,
    SurveyGrant, Wave, new_revision, utcnow,
)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
EDITABLE = ("text_en", "text_zh", "low_en", "low_zh", "high_en", "high_zh")
SETTINGS = ("title_en", "title_zh", "intro_en", "intro_zh")
TOKENS_PER_PAGE = 100


def get_survey(session: Session, slug: str) -> Survey | None:
    """Return the survey with this slug, or None."""
    return session.scalar(sa.select(Survey).where(Survey.slug == slug))


def create_survey(session: Session, *, slug: str, title_en: str = "", title_zh: str = "",
                  created_by: Manager | None = None, model: str = "acsi") -> Survey:
    """Create a survey from the standard CSI template of a model variant (acsi, ecsi, ccsi), wave 1 open.

    :raise InvalidInput: bad or taken slug, unknown model variant.
    """
    if (model or "acsi").strip().lower() not in VARIANTS:
        raise InvalidInput(f"Unknown model '{model}'.")
    model = check_model(model or "acsi")
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInput("The address must be 2-63 lowercase letters, digits or hyphens.")
    if session.scalar(sa.select(Survey.id).where(Survey.slug == slug)) is not None:
        raise InvalidInput(f"A survey with the address '{slug}' already exists.")
    survey = Survey(
        slug=slug, title_en=(title_en or "").strip() or questionnaire.TITLE[0],
        title_zh=(title_zh or "").strip() or questionnaire.TITLE[1],
        intro_en=questionnaire.INTRO[0], intro_zh=questionnaire.INTRO[1], status=OPEN,
        scale_min=1, scale_max=10, created_by_id=created_by.id if created_by else None, model=model,
    )
    survey.questions = [Question(position=i, **dict(item))
                        for i, item in enumerate(questionnaire.template(model), 1)]
    survey.waves = [Wave(number=1, label="")]
    survey.grants = [SurveyGrant(manager_id=created_by.id)] if created_by else []  # the creator may use it
    with write_transaction(session):
        session.add(survey)
    return survey


def set_status(session: Session, survey: Survey, status: str) -> Survey:
    """Open or close a survey.

    :raise InvalidInput: unknown status, or opening an imported data set or an archived survey.
    """
    if status not in (OPEN, CLOSED):
        raise InvalidInput(f"Unknown status '{status}'.")
    if status == OPEN and survey.imported:
        raise InvalidInput(_("An imported data set is analysed only; it cannot be opened for answers."))
    if status == OPEN and survey.is_archived:
        raise InvalidInput(_("Restore the survey from the archive before opening it."))
    with write_transaction(session):
        survey.status = status
        survey.revision = new_revision()
    return survey


def update_settings(session: Session, survey: Survey, fields) -> Survey:
    """Change a survey's title and introduction in both languages.

    :raise InvalidInput: a title left empty or too long.
    """
    values = {name: (fields.get(name) or "").strip() for name in SETTINGS}
    if not values["title_en"] or not values["title_zh"]:
        raise InvalidInput(_("The survey needs a title in both languages."))
    if max(len(values["title_en"]), len(values["title_zh"])) > 200:
        raise InvalidInput(_("A title can have at most 200 characters."))
    with write_transaction(session):
        for name, value in values.items():
            setattr(survey, name, value)
        survey.revision = new_revision()
    return survey


def set_archived(session: Session, survey: Survey, archived: bool) -> Survey:
    """Archive a survey (closed and hidden from the default list, still readable) or restore it (stays closed)."""
    with write_transaction(session):
        if archived:
            survey.archived_at = survey.archived_at or utcnow()
            survey.status = CLOSED
        else:
            survey.archived_at = None
        survey.revision = new_revision()
    return survey


def set_access(session: Session, survey: Survey, access: str) -> Survey:
    """Choose who may answer: open, limited (per address and browser) or invitation-only."""
    if access not in ACCESS_MODES:
        raise InvalidInput(f"Unknown access mode '{access}'.")
    with write_transaction(session):
        survey.access = access
        survey.revision = new_revision()  # workers' snapshots (and the guarded INSERT) see the change at once
    return survey


def check_wave_label(survey: Survey, label: str, number: int) -> str:
    """Return the label wave `number` may have: "" when it only repeats "Wave <number>".

    :raise InvalidInput: another wave has this label or is called by it ("Wave 2"), or it is too long.
    """
    label = " ".join((label or "").split())
    if len(label) > 100:
        raise InvalidInput(_("A wave label can have at most 100 characters."))
    if label.casefold() == f"wave {number}":
        return ""
    taken = {w.label.casefold() for w in survey.waves if w.number != number and w.label}
    taken |= {f"wave {w.number}" for w in survey.waves if w.number != number}
    if label and label.casefold() in taken:
        raise InvalidInput(_("Another wave is already called “%(label)s”.", label=label))
    return label


def set_estimator(session: Session, survey: Survey, estimator: str) -> Survey:
    """Choose the report's estimator: robust ML ("mlr", the default) or PLS ("pls", the ACSI method)."""
    if estimator not in ESTIMATORS:
        raise InvalidInput(f"Unknown estimator '{estimator}'.")
    with write_transaction(session):
        survey.estimator = estimator
    return survey


def new_wave(session: Session, survey: Survey, label: str = "") -> Wave:
    """Start the next wave; new responses go to it.

    :raise InvalidInput: the label is taken by another wave (check_wave_label).
    """
    number = (survey.current_wave.number if survey.current_wave else 0) + 1
    wave = Wave(survey_id=survey.id, number=number, label=check_wave_label(survey, label, number))
    with write_transaction(session):
        session.add(wave)
        survey.revision = new_revision()
    session.refresh(survey)
    return wave


def rename_wave(session: Session, survey: Survey, number: int, label: str) -> Wave:
    """Change one wave's label ("" leaves just its number).

    :raise InvalidInput: no such wave, or the label is taken (check_wave_label).
    """
    wave = next((w for w in survey.waves if w.number == number), None)
    if wave is None:
        raise InvalidInput(_("There is no wave %(number)s.", number=number))
    label = check_wave_label(survey, label, number)
    with write_transaction(session):
        wave.label = label
        survey.revision = new_revision()
    return wave


def get_question(survey: Survey, code: str) -> Question | None:
    """Return the survey's active question with this code, or None."""
    return next((q for q in survey.active_questions if q.code == code), None)


def update_question(session: Session, question: Question, fields) -> Question:
    """Change the wording of a question (both languages, scale end labels).

    :raise InvalidInput: a question text left empty.
    """
    values = {name: (fields.get(name) or "").strip() for name in EDITABLE if name in fields}
    if not values.get("text_en", question.text_en) or not values.get("text_zh", question.text_zh):
        raise InvalidInput("The question needs wording in both languages.")
    with write_transaction(session):
        for name, value in values.items():
            if name.startswith(("low", "high")):
                value = value or None
            setattr(question, name, value)
        question.survey.revision = new_revision()
    return question


def _construct_items(survey: Survey, construct: str, *, active_only: bool = True) -> list[Question]:
    """Return the model items of one construct in questionnaire order."""
    return [q for q in survey.questions if q.construct == construct and (q.active or not active_only)]


def add_item(session: Session, survey: Survey, construct: str, fields) -> Question:
    """Add an item to a construct with the next free code <CODE><n> (codes are never reused).

    :raise InvalidInput: unknown construct or missing wording.
    """
    if construct not in VARIANTS[survey.model][0]:
        raise InvalidInput(f"Unknown construct '{construct}'.")
    text_en, text_zh = (fields.get("text_en") or "").strip(), (fields.get("text_zh") or "").strip()
    if not text_en or not text_zh:
        raise InvalidInput("The question needs wording in both languages.")
    every = _construct_items(survey, construct, active_only=False)
    number = max((parsed[1] for q in every if (parsed := parse_item_code(q.code, model=survey.model))), default=0) + 1
    active = _construct_items(survey, construct)
    after = active[-1].position if active else max((q.position for q in survey.questions), default=0)
    with write_transaction(session):
        for question in survey.questions:
            if question.position > after:
                question.position += 1
        question = Question(
            survey_id=survey.id, position=after + 1, code=f"{construct}{number}", construct=construct,
            section=questionnaire.CONSTRUCT_SECTION[construct], kind="scale", text_en=text_en, text_zh=text_zh,
            low_en=(fields.get("low_en") or "").strip() or None, low_zh=(fields.get("low_zh") or "").strip() or None,
            high_en=(fields.get("high_en") or "").strip() or None,
            high_zh=(fields.get("high_zh") or "").strip() or None,
            required=True, allow_dont_know=True,
        )
        session.add(question)
        survey.revision = new_revision()
    session.refresh(survey)
    return question


def retire_item(session: Session, question: Question) -> Question:
    """Take a model item out of the questionnaire and the model; its stored answers stay (restore_item undoes it).

    :raise InvalidInput: not a model item, or the last item of its construct.
    """
    if question.construct is None:
        raise InvalidInput(_("Only items of the model's constructs can be retired."))
    if len(_construct_items(question.survey, question.construct)) <= 1:
        raise InvalidInput(_("Each construct needs at least one item."))
    with write_transaction(session):
        question.active = False
        question.survey.revision = new_revision()
    return question


def retired_items(survey: Survey) -> list[Question]:
    """Return the survey's retired model items in questionnaire order."""
    return [q for q in survey.questions if not q.active and q.construct is not None]


def get_retired(survey: Survey, code: str) -> Question | None:
    """Return the survey's retired item with this code, or None."""
    return next((q for q in retired_items(survey) if q.code == code), None)


def restore_item(session: Session, question: Question) -> Question:
    """Bring a retired item back into the questionnaire and the model, with the answers it had."""
    with write_transaction(session):
        question.active = True
        question.survey.revision = new_revision()
    return question


def new_token() -> str:
    """Return a random URL-safe token that starts with a letter or digit (a spreadsheet reads '-' as a formula)."""
    while True:
        token = secrets.token_urlsafe(12)
        if token[0].isalnum():
            return token


def generate_tokens(session: Session, survey: Survey, count: int, *, limit: int = 10_000) -> list[str]:
    """Create count single-use invitation tokens in one transaction and return them.

    :raise InvalidInput: count not between 1 and limit.
    """
    if not 1 <= int(count) <= limit:
        raise InvalidInput(f"Choose between 1 and {limit} invitations.")
    tokens = [new_token() for _ in range(int(count))]
    now = utcnow()
    with write_transaction(session):
        session.execute(sa.insert(InvitationToken), [
            {"survey_id": survey.id, "token": token, "created_at": now} for token in tokens
        ])
    return tokens


def token_counts(session: Session, survey: Survey) -> tuple[int, int]:
    """Return (invitations generated, invitations used)."""
    total, used = session.execute(
        sa.select(sa.func.count(InvitationToken.id), sa.func.count(InvitationToken.used_at))
        .where(InvitationToken.survey_id == survey.id)
    ).one()
    return total, used


def _tokens_of(survey: Survey):
    """The survey's invitation tokens that are not personal e-mail links, oldest first."""
    mailed = sa.select(MailRecipient.id).where(MailRecipient.token_id == InvitationToken.id).exists()
    return (sa.select(InvitationToken).where(InvitationToken.survey_id == survey.id, ~mailed)
            .order_by(InvitationToken.id))


def list_tokens(session: Session, survey: Survey) -> list[InvitationToken]:
    """Return the survey's invitation tokens, oldest first (the CSV download), without those made for e-mail
    recipients (their links are personal: handing them out again would let someone else answer in their place)."""
    return list(session.scalars(_tokens_of(survey)))


def page_tokens(session: Session, survey: Survey, page: int = 1, per_page: int = TOKENS_PER_PAGE) -> Pagination:
    """Return one page of the survey's invitation tokens, oldest first (e-mailed ones are on the mail page)."""
    return paginate(session, _tokens_of(survey), page, per_page)


def list_surveys(session: Session, manager: Manager | None = None, *, archived: bool = False
                 ) -> list[tuple[Survey, dict[int, int]]]:
    """Return the surveys in use (or the archived ones) that `manager` may read (every one without a manager),
    newest first, with wave number -> complete responses."""
    shelf = Survey.archived_at.is_not(None) if archived else Survey.archived_at.is_(None)
    query = sa.select(Survey).where(shelf).order_by(Survey.created_at.desc(), Survey.id.desc())
    if manager is not None:
        query = query.where(permissions.visible(manager))
    surveys = list(session.scalars(query))
    counts: dict[int, dict[int, int]] = {s.id: {} for s in surveys}
    for survey_id, number, n in session.execute(
        sa.select(Wave.survey_id, Wave.number, sa.func.count(Response.id))
        .select_from(Wave).outerjoin(Response, sa.and_(Response.wave_id == Wave.id, Response.complete.is_(True)))
        .where(Wave.survey_id.in_(list(counts)))
        .group_by(Wave.survey_id, Wave.number).order_by(Wave.survey_id, Wave.number)
    ):
        counts[survey_id][number] = n
    return [(s, counts[s.id]) for s in surveys]


def count_archived(session: Session) -> int:
    """Return how many surveys are archived."""
    return session.scalar(sa.select(sa.func.count(Survey.id)).where(Survey.archived_at.is_not(None))) or 0


def list_surveys_for_moments(session: Session, slug: str | None, min_responses: int) -> list[tuple[int, str]]:
    """(id, slug) of the survey ``slug``, or of every survey with at least ``min_responses`` complete responses
    (the ones whose reports are computed from in-database moments)."""
    if slug:
        return [tuple(r) for r in session.execute(sa.select(Survey.id, Survey.slug).where(Survey.slug == slug))]
    counts = (sa.select(Response.survey_id).where(Response.complete.is_(True)).group_by(Response.survey_id)
              .having(sa.func.count() >= min_responses).subquery())
    return [tuple(r) for r in session.execute(sa.select(Survey.id, Survey.slug).join(
        counts, counts.c.survey_id == Survey.id).order_by(Survey.id))]

