"""Manager accounts: create, authenticate, load; passwords hashed with werkzeug."""
import contextlib
import os
import re

try:
    import fcntl
except ImportError:  # not POSIX: no cap across processes
    fcntl = None

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from survey.exceptions import InvalidInput
from survey.storage.db import write_transaction
from survey.storage.tables import Manager

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
_DUMMY_HASH = generate_password_hash("timing-equaliser")


def create_manager(session: Session, email: str, password: str, *, method: str = "scrypt") -> Manager:
    """Create a manager with a hashed password (method: a werkzeug hash method; tests use a cheap one).

    :raise InvalidInput: bad email, short password, or email already registered.
    """
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput(f"'{email}' is not an email address.")
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD} characters.")
    manager = Manager(email=email, password_hash=generate_password_hash(password, method=method))
    try:
        with write_transaction(session):
            session.add(manager)
    except IntegrityError:
        raise InvalidInput(f"A manager with the email {email} already exists.") from None
    return manager


def set_password(session: Session, manager: Manager, password: str, *, method: str = "scrypt") -> Manager:
    """Replace a manager's password.

    :raise InvalidInput: short password.
    """
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD} characters.")
    password_hash = generate_password_hash(password, method=method)
    with write_transaction(session):
        manager.password_hash = password_hash
        manager.session_epoch = Manager.session_epoch + 1  # the old password's sessions end with it
    session.refresh(manager)
    return manager


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
    if manager is None or manager.session_epoch != int(epoch):
        return None
    return manager


def authenticate(session: Session, email: str, password: str) -> Manager | None:
    """Return the manager if the password matches, else None (same work either way)."""
    manager = session.scalar(sa.select(Manager).where(Manager.email == (email or "").strip().lower()))
    if manager is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    return manager if check_password_hash(manager.password_hash, password or "") else None


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
