"""API keys: the few services that issue and check them (the table is tables.ApiKey).

A key is shown once when issued; only its SHA-256 is stored. Keys are 32 random bytes, so a plain hash
(no salt, no slow KDF) is enough and lets the lookup be one indexed equality.
"""
import hashlib
import secrets

import sqlalchemy as sa

from survey.exceptions import InvalidInput
from survey.storage.db import write_transaction
from survey.services import permissions
from survey.storage.tables import ADMIN, KEY_KINDS, READ, SUBMIT, ApiKey, Survey, utcnow

__all__ = ["KEY_KINDS", "KEY_PREFIX", "READ", "SUBMIT", "ApiKey", "find_key", "find_key_by_hash", "hash_key",
           "get_own_key", "issue_key", "list_keys", "list_manager_keys", "revoke_key"]
KEY_PREFIX = "csi_"


def hash_key(key: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_key(session, kind: str, *, survey: Survey | None = None, manager=None, label: str = "") -> str:
    """Create a key, commit it and return the clear key (the only time it exists in clear).

    :raise InvalidInput: unknown kind, or a submit key without a survey.
    """
    if kind not in KEY_KINDS:
        raise InvalidInput(f"Key kind must be one of {', '.join(KEY_KINDS)}.")
    if kind == SUBMIT and survey is None:
        raise InvalidInput("A submit key belongs to one survey.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(session):
        session.add(ApiKey(kind=kind, key_hash=hash_key(key), survey=survey,
                           manager_id=getattr(manager, "id", None), label=label[:100]))
    return key


def find_key(session, key: str | None) -> ApiKey | None:
    """Return the live key matching the clear key, or None."""
    return find_key_by_hash(session, hash_key(key)) if key else None


def find_key_by_hash(session, key_hash: str) -> ApiKey | None:
    """Return the live key with this hash, or None."""
    found = session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == key_hash))
    return found if found is not None and found.revoked_at is None else None


def list_keys(session, survey: Survey) -> list[ApiKey]:
    """Return the keys that work on this survey (its own and all-survey read keys), newest first."""
    return list(session.scalars(
        sa.select(ApiKey).where(sa.or_(ApiKey.survey_id == survey.id, ApiKey.survey_id.is_(None)))
        .order_by(ApiKey.id.desc())
    ))


def list_manager_keys(session, manager) -> list[ApiKey]:
    """Return the keys a manager oversees, newest first: those of the surveys they may read, and the
    all-survey read keys they made (an admin: every all-survey key)."""
    all_survey = ApiKey.survey_id.is_(None) & (sa.true() if manager.role == ADMIN else ApiKey.manager_id == manager.id)
    visible = ApiKey.survey_id.in_(sa.select(Survey.id).where(permissions.visible(manager)))
    return list(session.scalars(sa.select(ApiKey).where(all_survey | visible).order_by(ApiKey.id.desc())))


def get_own_key(session, manager, key_id: int) -> ApiKey | None:
    """Return the all-survey read key with this id if the manager made it (or is an admin), else None."""
    key = session.get(ApiKey, key_id)
    if key is None or key.survey_id is not None:
        return None
    return key if manager.role == ADMIN or key.manager_id == manager.id else None


def get_survey_key(session, survey: Survey, key_id: int) -> ApiKey | None:
    """Return the key with this id if it is the survey's own (all-survey read keys are revoked with the CLI)."""
    key = session.get(ApiKey, key_id)
    return key if key is not None and key.survey_id == survey.id else None


def revoke_key(session, key: str | ApiKey) -> bool:
    """Revoke a key (its clear value or its row); return whether it was live."""
    found = find_key(session, key) if isinstance(key, str) else key
    if found is None or found.revoked_at is not None:
        return False
    with write_transaction(session):
        found.revoked_at = utcnow()
    return True
