"""Manager accounts: create, invite (one-time set-password link), authenticate, load, change password, role,
survey access, deactivate; passwords hashed with werkzeug. What a role may do is services/permissions.py."""
import contextlib
import hashlib
import os
import re
import secrets
from datetime import timedelta

try:
    import fcntl
except ImportError:  # not POSIX: no cap across processes
    fcntl = None

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from survey.exceptions import InvalidInput
from survey.storage.db import write_transaction
from survey.storage.tables import ADMIN, ROLES, Manager, Survey, SurveyGrant, utcnow

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
_DUMMY_HASH = generate_password_hash("timing-equaliser")
SETUP_LINK_LIFETIME = timedelta(days=7)  # an invitation's set-password link works this long, once


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(_("The password must have at least %(n)s characters.", n=MIN_PASSWORD))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(_("Unknown role '%(role)s'.", role=role))


def create_manager(session: Session, email: str, password: str, *, method: str = "scrypt",
                   role: str = ADMIN) -> Manager:
    """Create a manager with a hashed password (method: a werkzeug hash method; tests use a cheap one).

    The role defaults to admin: the command line creates the first accounts, and before roles every manager
    could do everything; colleagues invited in the UI get the role the admin chooses.

    :raise InvalidInput: bad email, short password, unknown role, or email already registered.
    """
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput(_("'%(email)s' is not an email address.", email=email))
    _check_password(password)
    _check_role(role)
    manager = Manager(email=email, password_hash=generate_password_hash(password, method=method), role=role)
    try:
        with write_transaction(session):
            session.add(manager)
    except IntegrityError:
        raise InvalidInput(_("A manager with the email %(email)s already exists.", email=email)) from None
    return manager


def invite_manager(session: Session, email: str, role: str, *, surveys=(), method: str = "scrypt"
                   ) -> tuple[Manager, str]:
    """Create a colleague's account with no usable password, grant it `surveys`, and return it with the
    one-time set-password token (the only time it exists in clear; see setup_link_manager).

    :raise InvalidInput: bad email, unknown role, or email already registered.
    """
    manager = create_manager(session, email, secrets.token_urlsafe(32), method=method, role=role)
    set_grants(session, manager, [s.id for s in surveys])
    return manager, issue_setup_link(session, manager)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_setup_link(session: Session, manager: Manager) -> str:
    """Give the manager a new one-time set-password token valid SETUP_LINK_LIFETIME (any earlier one stops
    working) and return it in clear."""
    token = secrets.token_urlsafe(32)
    with write_transaction(session):
        manager.setup_hash = _token_hash(token)
        manager.setup_expires_at = utcnow() + SETUP_LINK_LIFETIME
    return token


def setup_link_manager(session: Session, token: str) -> Manager | None:
    """Return the active manager whose unexpired set-password token this is, or None."""
    if not token or len(token) > 200:
        return None
    manager = session.scalar(sa.select(Manager).where(Manager.setup_hash == _token_hash(token)))
    if manager is None or not manager.active or manager.setup_expires_at is None:
        return None
    expires = manager.setup_expires_at
    if expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=utcnow().tzinfo)
    return manager if expires > utcnow() else None


def set_password_with_link(session: Session, token: str, password: str, *, method: str = "scrypt") -> Manager:
    """Set the password of the manager a set-password token names; the token is used up.

    :raise InvalidInput: unknown, used or expired token, or a short password.
    """
    manager = setup_link_manager(session, token)
    if manager is None:
        raise InvalidInput(_("This link is not valid: it was used, replaced or has expired. Ask an administrator "
                             "for a new one."))
    set_password(session, manager, password, method=method)
    with write_transaction(session):
        manager.setup_hash = manager.setup_expires_at = None
    return manager


def set_password(session: Session, manager: Manager, password: str, *, method: str = "scrypt") -> Manager:
    """Replace a manager's password.

    :raise InvalidInput: short password.
    """
    _check_password(password)
    password_hash = generate_password_hash(password, method=method)
    with write_transaction(session):
        manager.password_hash = password_hash
        manager.session_epoch = Manager.session_epoch + 1  # the old password's sessions end with it
    session.refresh(manager)
    return manager


def change_password(session: Session, manager: Manager, current: str, new: str, *, method: str = "scrypt"
                    ) -> Manager:
    """Change one's own password, proving the current one; every session of the manager ends (the caller logs
    its own session in again).

    :raise InvalidInput: wrong current password, a short new one, or the same as before.
    """
    if not check_password_hash(manager.password_hash, current or ""):
        raise InvalidInput(_("The current password is not right."))
    if new == current:
        raise InvalidInput(_("The new password must differ from the current one."))
    return set_password(session, manager, new, method=method)


def list_managers(session: Session) -> list[Manager]:
    """Every manager account, by email."""
    return list(session.scalars(sa.select(Manager).order_by(Manager.email)))


def _other_active_admins(session: Session, manager: Manager) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Manager).where(
        Manager.role == ADMIN, Manager.active.is_(True), Manager.id != manager.id))


def set_role(session: Session, manager: Manager, role: str) -> Manager:
    """Change a manager's role (the last active admin keeps theirs).

    :raise InvalidInput: unknown role, or it would leave no active admin.
    """
    _check_role(role)
    if manager.role == ADMIN and role != ADMIN and manager.active and not _other_active_admins(session, manager):
        raise InvalidInput(_("%(email)s is the last administrator and stays one.", email=manager.email))
    with write_transaction(session):
        manager.role = role
    return manager


def set_active(session: Session, manager: Manager, active: bool) -> Manager:
    """Deactivate a manager (every session ends, read keys they made stop; the account and its history stay)
    or reactivate one.

    :raise InvalidInput: deactivating the last active admin.
    """
    if not active and manager.role == ADMIN and not _other_active_admins(session, manager):
        raise InvalidInput(_("%(email)s is the last administrator and cannot be deactivated.", email=manager.email))
    with write_transaction(session):
        manager.active = bool(active)
        if not active:
            manager.session_epoch = Manager.session_epoch + 1
            manager.setup_hash = manager.setup_expires_at = None
    session.refresh(manager)
    return manager


def set_grants(session: Session, manager: Manager, survey_ids) -> set[int]:
    """Give the manager access to exactly these surveys (ids of surveys that do not exist are ignored);
    return the ids granted."""
    wanted = set(session.scalars(sa.select(Survey.id).where(Survey.id.in_({int(i) for i in survey_ids}))))
    with write_transaction(session):
        held = {grant.survey_id: grant for grant in manager.grants}
        for survey_id in set(held) - wanted:
            manager.grants.remove(held[survey_id])
        for survey_id in wanted - set(held):
            manager.grants.append(SurveyGrant(survey_id=survey_id))
    return wanted


def granted_survey_ids(manager: Manager) -> set[int]:
    """The ids of the surveys granted to the manager (admins reach all without grants)."""
    return {grant.survey_id for grant in manager.grants}


def end_sessions(session: Session, manager: Manager) -> Manager:
    """Sign the manager out everywhere: every session cookie issued so far stops working (logout does this too)."""
    with write_transaction(session):
        manager.session_epoch = Manager.session_epoch + 1
    session.refresh(manager)
    return manager


def load_session_manager(session: Session, session_id) -> Manager | None:
    """Return the manager a session's id ('<id>:<epoch>') names, or None if that session was ended."""
    manager_id, _, epoch = str(session_id or "").partition(":")
    manager = get_manager(session, manager_id) if epoch.isdigit() else None
    if manager is None or manager.session_epoch != int(epoch) or not manager.active:
        return None
    return manager


def authenticate(session: Session, email: str, password: str) -> Manager | None:
    """Return the active manager if the password matches, else None (same work either way)."""
    manager = session.scalar(sa.select(Manager).where(Manager.email == (email or "").strip().lower()))
    if manager is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    return manager if check_password_hash(manager.password_hash, password or "") and manager.active else None


@contextlib.contextmanager
def password_check_slot(folder: str, slots: int):
    """Take one of `slots` password-check slots shared by every process on this host (non-blocking flock on
    files in folder); yield True while holding it, or False at once when all are taken (slots <= 0: no cap).

    A password check (scrypt) costs ~100 ms of CPU; with the slots taken, a flood of logins that got past the
    rate limits occupies at most that many workers, and the rest keep serving respondents.
    """
    if fcntl is None or slots <= 0:
        yield True
        return
    for number in range(slots):
        handle = open(os.path.join(folder, f"password-check-{number}.lock"), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield True
        finally:
            handle.close()
        return
    yield False


def get_manager(session: Session, manager_id) -> Manager | None:
    """Return the manager with this id, or None."""
    try:
        return session.get(Manager, int(manager_id))
    except (TypeError, ValueError):
        return None


def find_manager(session: Session, email: str) -> Manager | None:
    """Return the manager with this email, or None."""
    return session.scalar(sa.select(Manager).where(Manager.email == (email or "").strip().lower()))
