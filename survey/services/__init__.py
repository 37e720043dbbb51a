"""The service layer that views, the API, the CLI and the report call: one import for every storage operation.

Functions take a SQLAlchemy session and plain values, own their transaction (commit or roll back before they
return) and raise the errors in survey.exceptions. Views hand them ``db_session``, the request's unit of work,
so the web layer never imports storage itself.
"""
import sqlalchemy as sa
from flask import abort

from survey.exceptions import (
    InvalidInput, InvalidResponse, InvalidRows, KeyRefused, MailListRejected, MailRefused, PermissionDenied,
    ServiceError, SurveyClosed, SurveyNotFound, TokenRequired, TokenUnknown, TokenUsed,
)
from survey.services import audit, cases, permissions, quality, snapshot
from survey.services.browsing import get_response, page_comments, page_responses, wave_numbers
from survey.services.erasure import erase_response, find_response
from survey.services.paging import page_number
from survey.services.accounts import (
    authenticate, change_password, create_manager, end_sessions, find_manager, get_manager, granted_survey_ids,
    invite_manager, issue_setup_link, list_managers, load_session_manager, password_check_slot, set_active,
    set_grants, set_password, set_password_with_link, set_role, setup_link_manager,
)
from survey.services.questionnaire import CONSTRUCTS, MODELS, SECTIONS, constructs_for
from survey.services.reading import count_responses, iter_responses, responses_frame
from survey.services.responses import find_token, record_response, record_responses_bulk, submit
from survey.services.surveys import (
    add_item, count_archived, create_survey, generate_tokens, get_question, get_retired, get_survey, list_surveys,
    list_surveys_for_moments, list_tokens, new_wave, page_tokens, rename_wave, restore_item, retire_item,
    retired_items, set_access,
    set_archived, set_estimator, set_status, token_counts, update_question, update_settings,
)
from survey.services.validation import validate
from survey.storage.db import DATABASE_FAULTS, db, ping
from survey.storage.tables import (
    ACCESS_INVITATION, ACCESS_LIMITED, ACCESS_MODES, ACCESS_OPEN, ESTIMATORS, MAX_ID, SCALE, Survey, Wave, utcnow,
)

db_session = db.session  # Flask-SQLAlchemy's scoped session: the current request's (or CLI command's) session

__all__ = [
    "DATABASE_FAULTS", "database_ready", "redis_ready", "InvalidInput", "InvalidResponse", "InvalidRows", "KeyRefused", "MailListRejected", "MailRefused", "PermissionDenied", "ServiceError", "SurveyClosed", "SurveyNotFound",
    "TokenRequired", "TokenUnknown", "TokenUsed", "ACCESS_INVITATION", "ACCESS_LIMITED", "ACCESS_MODES", "ACCESS_OPEN",
    "CONSTRUCTS", "ESTIMATORS", "MODELS", "SECTIONS", "MAX_ID", "SCALE", "constructs_for",
    "add_item", "authenticate", "count_responses", "create_manager", "create_survey", "db_session",
    "end_sessions", "load_session_manager", "password_check_slot", "permissions", "audit", "change_password",
    "granted_survey_ids", "invite_manager", "issue_setup_link", "list_managers", "set_active", "set_grants",
    "set_password_with_link", "set_role", "setup_link_manager",
    "find_manager", "find_token", "generate_tokens", "get_manager", "get_question", "get_survey",
    "get_survey_or_404", "iter_responses", "list_surveys", "list_surveys_for_moments", "list_tokens", "new_wave", "record_response",
    "record_responses_bulk", "responses_frame", "set_access", "set_estimator", "set_password", "set_status", "submit", "survey_snapshot",
    "token_counts", "update_question", "utcnow", "validate", "wave_number",
    "count_archived", "erase_response", "find_response", "get_response", "get_retired", "page_comments",
    "page_number", "page_responses", "page_tokens", "rename_wave", "restore_item", "retire_item", "retired_items",
    "set_archived", "update_settings", "wave_numbers",
]


def database_ready(session) -> bool:
    """Say whether the database answers a trivial statement now."""
    try:
        ping(session)
    except DATABASE_FAULTS:
        session.rollback()
        return False
    return True


def redis_ready(url: str) -> bool:
    """Say whether the Redis server at url answers a PING within a second."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def survey_snapshot(session, slug: str, *, fresh: bool = False):
    """Return the questionnaire snapshot of the survey at `slug` (possibly stale unless fresh), or None."""
    return snapshot.by_slug(session, slug, fresh=fresh)


def wave_number(session, snap, wave_id: int) -> int | None:
    """The number of a wave: from the snapshot, or looked up for a wave opened since it was taken."""
    number = next((n for n, known in snap.waves.items() if known == wave_id), None)
    if number is None:
        number = session.scalar(sa.select(Wave.number).where(Wave.id == wave_id))
    return number


def get_survey_or_404(slug: str, session=None) -> Survey:
    """Return the survey with this slug from the request's session.

    :raise 404: no such survey.
    """
    survey = get_survey(session if session is not None else db.session, slug)
    if survey is None:
        abort(404)
    return survey
