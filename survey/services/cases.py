"""Closing the loop: respondents the team should follow up become cases with an owner, a status and notes.

Why: a complaint handled well wins most complaining customers back (the ACSI's complaints → loyalty path), so a
response that complains, rates satisfaction or complaint handling low, or asks to be contacted must not stay a
count in a chart. The rules live here, once:

- ``complained``: the respondent answered "yes" to having complained;
- ``dissatisfied``: the mean of the satisfaction (CS) items answered is in the bottom third of the scale
  (≤ 4 on 1–10), the ACSI "dissatisfied" band the report's satisfaction levels use too;
- ``poor_handling``: the complaint-handling score is in that bottom third;
- ``contact_request``: the respondent agreed to be contacted and left an e-mail address or phone number.

Cases are made by a sweep over the responses after the last one swept (``sweep``), run as a job after
submissions and whenever a manager opens the cases, so the submission itself stays one INSERT. Contact details
are stored apart from the answers (``RespondentContact``), never exported with them, and shown only to roles
that may see them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.exceptions import InvalidInput, InvalidResponse
from survey.services.reading import iter_responses
from survey.storage.db import write_transaction
from survey.storage.tables import (  # noqa: F401  (CASE_STATUSES is read by the web layer from here)
    CASE_CONTACTED, CASE_NEW, CASE_RESOLVED, CASE_STATUSES, CaseNote, CaseSweep, FollowUpCase, Manager,
    RespondentContact, Response, Survey, utcnow,
)

REASONS = ("complained", "dissatisfied", "poor_handling", "contact_request")
REASON_LABELS = {"complained": _l("Complained"), "dissatisfied": _l("Dissatisfied"),
                 "poor_handling": _l("Complaint handled poorly"), "contact_request": _l("Asked to be contacted")}
STATUS_LABELS = {CASE_NEW: _l("New"), CASE_CONTACTED: _l("Contacted"), CASE_RESOLVED: _l("Resolved")}
CONSENT_CODE = "contact_consent"
CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+()\-.\s]{5,40}$")
DUE_DAYS = 7  # a new case is due a week after the response: "respond within days", not weeks
PAGE_SIZE = 50
SWEEP_BATCH = 2000


def low_cut(scale: tuple[int, int]) -> float:
    """The top of the bottom third of the answer scale (4 on 1–10): at or below it a score counts as low."""
    lo, hi = scale
    return lo + (hi - lo) / 3


# --- contact details: validated with the answers, stored in the submission's transaction ------------------

def _field(data, name: str) -> str:
    value = data.get(name, "") if hasattr(data, "get") else ""
    return (value or "").strip() if isinstance(value, str) else ""


def contact_from(data) -> dict | None:
    """The contact details of a submission that agreed to be contacted, or None when it did not.

    :raise InvalidResponse: agreed but left no usable e-mail address or phone number (the form comes back).
    """
    consent = _field(data, CONSENT_CODE).lower()
    if consent != "yes":
        return None
    name, email, phone = (_field(data, f) for f in CONTACT_FIELDS)
    if not email and not phone:
        raise InvalidResponse({CONSENT_CODE: "contact_missing"})
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        raise InvalidResponse({CONSENT_CODE: "contact_bad_email"})
    if phone and not PHONE_RE.match(phone):
        raise InvalidResponse({CONSENT_CODE: "contact_bad_phone"})
    return {"name": name[:200], "email": email, "phone": phone}


def store_contact(session: Session, response_id: int, contact: Mapping) -> None:
    """Insert one respondent's contact details (inside the caller's write transaction)."""
    session.add(RespondentContact(response_id=response_id, **contact))
    session.flush()


# --- the sweep ----------------------------------------------------------------------------------------------

def reasons_for(row: Mapping, cs_items: list[str], scale: tuple[int, int], has_contact: bool) -> list[str]:
    """Which follow-up reasons one response (a row of iter_responses) has, in REASONS order."""
    cut = low_cut(scale)
    out = []
    if row.get("complained") == "yes":
        out.append("complained")
    cs = [row[c] for c in cs_items if isinstance(row.get(c), int)]
    if cs and sum(cs) / len(cs) <= cut:
        out.append("dissatisfied")
    handling = row.get("complaint_handling")
    if isinstance(handling, int) and handling <= cut:
        out.append("poor_handling")
    if has_contact:
        out.append("contact_request")
    return out


def sweep(session: Session, survey: Survey) -> list[FollowUpCase]:
    """Make cases for the survey's responses after the last one swept; return the new cases.

    Idempotent and safe to run twice at once: a response has at most one case (unique), and a sweep that
    loses that race leaves the work to the other. New cases go to the survey's creator, due in DUE_DAYS.
    Reads SWEEP_BATCH responses at a time, each batch one transaction.
    """
    made = []
    while True:
        batch = _sweep_batch(session, survey)
        if batch is None:
            return made
        made += batch


def _sweep_batch(session: Session, survey: Survey) -> list[FollowUpCase] | None:
    """One batch of the sweep; None when there was nothing left to look at (or another sweep took it)."""
    mark = session.get(CaseSweep, survey.id)
    last = mark.last_response_id if mark is not None else 0
    cs_items = [q.code for q in survey.active_questions if q.construct == "CS"]
    scale = (survey.scale_min, survey.scale_max)
    rows = list(iter_responses(session, survey, after_id=last, limit=SWEEP_BATCH))
    if not rows:
        return None
    ids = [r["response_id"] for r in rows]
    contacts = set(session.scalars(sa.select(RespondentContact.response_id)
                                   .where(RespondentContact.response_id.in_(ids))))
    made = []
    try:
        with write_transaction(session):
            for row in rows:
                reasons = reasons_for(row, cs_items, scale, row["response_id"] in contacts)
                if reasons:
                    case = FollowUpCase(survey_id=survey.id, response_id=row["response_id"], reasons=",".join(reasons),
                                        status=CASE_NEW, owner_id=survey.created_by_id,
                                        due_on=(row["created_at"] + timedelta(days=DUE_DAYS)).date())
                    session.add(case)
                    made.append(case)
            if mark is None:
                session.add(CaseSweep(survey_id=survey.id, last_response_id=ids[-1]))
            else:
                mark.last_response_id = ids[-1]
    except IntegrityError:
        session.rollback()
        return None  # another sweep made these cases first
    return made


def sweep_pending(session: Session, survey: Survey) -> bool:
    """Whether responses arrived after the last sweep (the cases page says "checking new responses")."""
    mark = session.get(CaseSweep, survey.id)
    newest = session.scalar(sa.select(sa.func.max(Response.id)).where(Response.survey_id == survey.id))
    return newest is not None and (mark is None or newest > mark.last_response_id)


def schedule_sweep(survey_id: int) -> None:
    """After a stored submission: make its case (if any) soon, in the background, one sweep waiting at a time."""
    from survey import jobs

    jobs.enqueue_coalesced(f"cases:{survey_id}", "survey.services.cases:sweep_job", survey_id)


def sweep_job(survey_id: int) -> int:
    """Job entry (survey/jobs.py): sweep one survey, e-mail the owners of new cases; return the count."""
    from survey.storage.db import db

    survey = db.session.get(Survey, survey_id)
    if survey is None:
        return 0
    made = sweep(db.session, survey)
    for case in made:
        notify_owner(db.session, case)
    return len(made)


def alert_job(case_id: int) -> bool:
    """Job entry (survey/jobs.py): e-mail a case's owner that the case is now theirs."""
    from survey.storage.db import db

    case = db.session.get(FollowUpCase, case_id)
    return case is not None and notify_owner(db.session, case)


def notify_owner(session: Session, case: FollowUpCase) -> bool:
    """Tell the case's owner by e-mail that the case is theirs (CASE_ALERTS; a mail fault only logs)."""
    from flask import current_app

    from survey.services import mailing

    if case.owner is None or not current_app.config.get("CASE_ALERTS", True):
        return False
    return mailing.send_case_alert(case.owner.email, case, session.get(Survey, case.survey_id))


# --- reading and working cases ------------------------------------------------------------------------------

def list_cases(session: Session, survey: Survey, *, status: str | None = None, page: int = 1,
               per_page: int = PAGE_SIZE) -> tuple[list[FollowUpCase], int]:
    """One page of the survey's cases (open ones first, oldest due first) and the number of pages."""
    clauses = [FollowUpCase.survey_id == survey.id]
    if status in CASE_STATUSES:
        clauses.append(FollowUpCase.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(FollowUpCase).where(*clauses)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    order = (sa.case((FollowUpCase.status == CASE_RESOLVED, 1), else_=0), FollowUpCase.due_on, FollowUpCase.id)
    rows = list(session.scalars(sa.select(FollowUpCase).where(*clauses).order_by(*order)
                                .offset((page - 1) * per_page).limit(per_page)))
    return rows, pages


def possible_owners(session: Session, survey: Survey) -> list[Manager]:
    """Active managers who may work the survey's cases (admins, and editors with access to it)."""
    from survey.services import permissions

    return [m for m in session.scalars(sa.select(Manager).where(Manager.active.is_(True)).order_by(Manager.email))
            if permissions.can(m, permissions.EDIT_SURVEY, survey, session=session)]


def may_see_contact(user, survey) -> bool:
    """Whether a manager may read the contact details respondents of this survey left (admins, and editors
    with access to it: the people who follow cases up; viewers see the cases without them)."""
    from survey.services import permissions

    return permissions.can(user, permissions.READ_CONTACT, survey)


def get_case(session: Session, survey: Survey, case_id: int) -> FollowUpCase | None:
    """The survey's case with this id, or None."""
    case = session.get(FollowUpCase, case_id)
    return case if case is not None and case.survey_id == survey.id else None


def contact_of(session: Session, case: FollowUpCase) -> RespondentContact | None:
    """The contact details the case's respondent left, if any (callers check the viewer may see them)."""
    return session.scalar(sa.select(RespondentContact).where(RespondentContact.response_id == case.response_id))


def update_case(session: Session, case: FollowUpCase, *, status: str | None = None, owner_id: int | None = None,
                due_on: str | None = None, recovered: str | None = None, note: str = "",
                author: Manager | None = None) -> list[str]:
    """Change a case's status, owner, due date or outcome and add a note; return what changed (for the audit
    log and the flash message).

    :raise InvalidInput: unknown status or owner, a bad date, resolving without saying whether the customer was
        won back, or an empty change.
    """
    changed = []
    new_owner = None
    if status is not None and status != case.status:
        if status not in CASE_STATUSES:
            raise InvalidInput(f"Unknown status '{status}'.")
        changed.append(f"status={status}")
    if owner_id is not None and owner_id != case.owner_id:
        new_owner = session.get(Manager, owner_id)
        if new_owner is None or new_owner not in possible_owners(session, session.get(Survey, case.survey_id)):
            raise InvalidInput("Unknown owner, or one who may not work this survey's cases.")
        changed.append(f"owner={new_owner.email}")
    due = None
    if due_on:
        try:
            due = date.fromisoformat(due_on)
        except ValueError:
            raise InvalidInput("The due date must look like 2026-12-31.") from None
        if due != case.due_on:
            changed.append(f"due={due.isoformat()}")
    outcome = {"yes": True, "no": False}.get(recovered or "")
    if (status or case.status) == CASE_RESOLVED and outcome is None and case.recovered is None:
        raise InvalidInput("Say whether the customer was won back when you resolve a case.")
    if outcome is not None and outcome != case.recovered:
        changed.append(f"recovered={'yes' if outcome else 'no'}")
    note = (note or "").strip()[:5000]
    if note:
        changed.append("note")
    if not changed:
        raise InvalidInput("Nothing to change.")
    now = utcnow()
    with write_transaction(session):
        if status is not None and status != case.status:
            case.status = status
            if status in (CASE_CONTACTED, CASE_RESOLVED) and case.contacted_at is None:
                case.contacted_at = now
            case.resolved_at = now if status == CASE_RESOLVED else None
        if new_owner is not None:
            case.owner_id = new_owner.id
        if due is not None:
            case.due_on = due
        if outcome is not None:
            case.recovered = outcome
        if note:
            session.add(CaseNote(case_id=case.id, author_id=getattr(author, "id", None), at=now, text=note))
    if new_owner is not None:  # the mail goes from a job, never from the manager's request
        from survey import jobs

        jobs.enqueue("survey.services.cases:alert_job", case.id)
    return changed


def recovery(session: Session, survey: Survey) -> dict:
    """The loop's figures: cases by status, the recovery rate (customers won back among resolved cases) and
    the median and 90th-percentile days from response to resolution."""
    counts = dict(session.execute(sa.select(FollowUpCase.status, sa.func.count())
                                  .where(FollowUpCase.survey_id == survey.id).group_by(FollowUpCase.status)).all())
    resolved = session.execute(
        sa.select(FollowUpCase.recovered, Response.created_at, FollowUpCase.resolved_at)
        .join(Response, Response.id == FollowUpCase.response_id)
        .where(FollowUpCase.survey_id == survey.id, FollowUpCase.status == CASE_RESOLVED)).all()
    days = sorted(_days(a, b) for _, a, b in resolved if a is not None and b is not None)  # response → resolved
    known = [r for r, _, _ in resolved if r is not None]
    total = sum(counts.values())
    overdue = session.scalar(sa.select(sa.func.count()).select_from(FollowUpCase).where(
        FollowUpCase.survey_id == survey.id, FollowUpCase.status != CASE_RESOLVED,
        FollowUpCase.due_on < utcnow().date())) or 0
    return {
        "total": total, "new": counts.get(CASE_NEW, 0), "contacted": counts.get(CASE_CONTACTED, 0),
        "resolved": counts.get(CASE_RESOLVED, 0), "overdue": overdue,
        "recovery_rate": (sum(known) / len(known)) if known else None, "recovered": sum(known),
        "median_days": _quantile(days, 0.5), "p90_days": _quantile(days, 0.9),
    }


def _days(start: datetime, end: datetime) -> float:
    if start.tzinfo is None:
        start = start.replace(tzinfo=end.tzinfo)
    if end.tzinfo is None:
        end = end.replace(tzinfo=start.tzinfo)
    return (end - start).total_seconds() / 86400


def _quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolation quantile (numpy's default) of sorted values, None when there are none."""
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
