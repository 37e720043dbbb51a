"""Who may do what: the one home of the manager permission rule.

Roles are global, access is per survey:

- **admin**: everything, on every survey (no grant needed): accounts, roles, survey access, the audit log.
- **editor**: reads and changes the surveys granted to them; creates surveys and uploads (and gets access to
  what they create).
- **viewer**: reads the surveys granted to them (pages, reports, exports); changes nothing.

``can(manager, action, survey)`` answers one question; ``require`` raises ``PermissionDenied``; ``visible``
is the same rule as a SQL condition on surveys (lists). An action is one of ``ACTIONS``. Survey-scoped
actions (``SURVEY_ACTIONS``) asked without a survey answer whether the role allows the action on surveys it
has access to (the manage guard asks that for pages that name no survey; such a page then checks each survey
it touches with ``can``/``require``).

A read API key acts for the manager who created it: it reads only the surveys that manager may read now
(``key_may_read``); a key nobody owns (issued on the command line without --manager) reads what its scope says.
"""
import sqlalchemy as sa
from sqlalchemy.orm import object_session

from survey.exceptions import PermissionDenied
from survey.storage.tables import ADMIN, EDITOR, READ, ROLES, VIEWER, Manager, Survey, SurveyGrant

READ_SURVEY, EDIT_SURVEY, CREATE_SURVEY = "read", "edit", "create"
OWN_ACCOUNT, MANAGE_ACCOUNTS, READ_AUDIT = "own_account", "manage_accounts", "read_audit"
READ_CONTACT = "read_contact"
ALL_ROLES, EDITORS, ADMINS = frozenset(ROLES), frozenset((ADMIN, EDITOR)), frozenset((ADMIN,))
# action -> the roles that may do it; add an action here (and say which roles) when a feature needs a new one
ACTIONS = {
    READ_SURVEY: ALL_ROLES,         # see a survey, its report, exports, invitations, keys
    EDIT_SURVEY: EDITORS,           # change a survey: questions, waves, status, access, invitations, keys
    CREATE_SURVEY: EDITORS,         # new survey, upload a data set
    OWN_ACCOUNT: ALL_ROLES,         # change one's own password, sign out everywhere
    MANAGE_ACCOUNTS: ADMINS,        # invite, change roles, grant survey access, deactivate
    READ_AUDIT: ADMINS,             # the audit log page and its CSV
    READ_CONTACT: EDITORS,          # respondents' contact details on follow-up cases (those who follow them up)
}
SURVEY_ACTIONS = frozenset((READ_SURVEY, EDIT_SURVEY, READ_CONTACT))  # need access to the survey (admins have it everywhere)

__all__ = ["ACTIONS", "ADMIN", "CREATE_SURVEY", "EDITOR", "EDIT_SURVEY", "MANAGE_ACCOUNTS", "OWN_ACCOUNT",
           "READ_AUDIT", "READ_CONTACT", "READ_SURVEY", "ROLES", "SURVEY_ACTIONS", "VIEWER", "can", "has_access", "key_may_read",
           "require", "visible"]


def _survey_id(survey) -> int | None:
    return survey if isinstance(survey, int) or survey is None else survey.id


def has_access(manager, survey, session=None) -> bool:
    """Say whether the manager reaches this survey (a Survey or its id): admins every one, others by grant."""
    if manager.role == ADMIN:
        return True
    session = session or object_session(manager)
    return session.scalar(sa.select(sa.literal(True)).where(
        SurveyGrant.manager_id == manager.id, SurveyGrant.survey_id == _survey_id(survey))) is not None


def can(manager, action: str, survey=None, *, session=None) -> bool:
    """Say whether the manager may do `action` (on `survey`, a Survey or its id, for survey actions).

    A manager who is None, logged out or deactivated may do nothing.

    :raise ValueError: an unknown action (a typo must not silently deny or allow).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    if manager is None or not getattr(manager, "is_authenticated", False) or not manager.is_active:
        return False
    if manager.role not in ACTIONS[action]:
        return False
    if action in SURVEY_ACTIONS and survey is not None:
        return has_access(manager, survey, session)
    return True


def require(manager, action: str, survey=None, *, session=None) -> None:
    """:raise PermissionDenied: the manager may not do `action` (on `survey`)."""
    if not can(manager, action, survey, session=session):
        raise PermissionDenied(action)


def visible(manager):
    """The SQL condition on Survey selecting the surveys this manager may read (all for admins)."""
    if manager is None or not manager.is_active or manager.role not in ACTIONS[READ_SURVEY]:
        return sa.false()
    if manager.role == ADMIN:
        return sa.true()
    return Survey.id.in_(sa.select(SurveyGrant.survey_id).where(SurveyGrant.manager_id == manager.id))


def key_may_read(session, key, survey) -> bool:
    """Say whether a read API key may read this survey (a Survey or its id): its scope allows it and, when a
    manager created it, that manager may read the survey now (deactivated, lost access: the key stops)."""
    survey_id = _survey_id(survey)
    if not key.allows(survey_id, READ):
        return False
    if key.manager_id is None:
        return True
    return can(session.get(Manager, key.manager_id), READ_SURVEY, survey_id, session=session)
