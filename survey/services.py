"""The service layer views, the API, the CLI and the report call: one import for every storage operation.

Functions take a SQLAlchemy session and plain values, own their transaction (commit or roll back before they
return) and raise the errors in survey.exceptions.
"""
from flask import abort

from . import snapshot
from .accounts import authenticate, create_manager, find_manager, get_manager, set_password
from .db import db
from .exceptions import (
    InvalidInput, InvalidResponse, InvalidRows, KeyRefused, ServiceError, SurveyClosed, SurveyNotFound, TokenUnknown,
    TokenUsed,
)
from .reading import count_responses, iter_responses, responses_frame
from .responses import find_token, record_response, record_responses_bulk, submit
from .surveys import (
    add_item, create_survey, drop_item, generate_tokens, get_question, get_survey, list_surveys, list_tokens,
    new_wave, set_status, token_counts, update_question,
)
from .tables import Survey
from .validation import validate

__all__ = [
    "InvalidInput", "InvalidResponse", "InvalidRows", "KeyRefused", "ServiceError", "SurveyClosed", "SurveyNotFound",
    "TokenUnknown", "TokenUsed",
    "add_item", "authenticate", "count_responses", "create_manager", "create_survey", "drop_item", "find_manager",
    "find_token", "generate_tokens", "get_manager", "get_question", "get_survey", "get_survey_or_404",
    "iter_responses", "list_surveys", "list_tokens", "new_wave", "record_response", "record_responses_bulk",
    "responses_frame", "set_password", "set_status", "submit", "survey_snapshot", "token_counts", "update_question",
    "validate",
]


def survey_snapshot(session, slug: str, *, fresh: bool = False):
    """Return the questionnaire snapshot of the survey at `slug` (possibly stale unless fresh), or None."""
    return snapshot.by_slug(session, slug, fresh=fresh)


def get_survey_or_404(slug: str, session=None) -> Survey:
    """Return the survey with this slug from the request's session.

    :raise 404: no such survey.
    """
    survey = get_survey(session if session is not None else db.session, slug)
    if survey is None:
        abort(404)
    return survey
