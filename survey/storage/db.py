"""Storage: the SQLAlchemy handle, migrations and the database commands."""
import contextlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own busy wait alone
    fcntl = None

import click
from flask.cli import with_appcontext
import sqlalchemy as sa
from flask_migrate import Migrate, upgrade
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


class Base(DeclarativeBase):
    """Declarative base with named constraints so migrations can alter them on SQLite too."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
# what a database that is down, hung or overloaded raises: refused or timed-out connections, a statement past
# statement_timeout, a pool with no free connection; the web layer answers them with 503 + Retry-After
DATABASE_FAULTS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def ping(session) -> None:
    """Run one trivial statement (raises one of DATABASE_FAULTS if the database cannot answer)."""
    session.execute(sa.text("SELECT 1"))
    session.rollback()
migrate = Migrate(directory=MIGRATIONS, render_as_batch=True)


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Let SQLite enforce foreign keys and wait for writers instead of failing with 'database is locked'."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@contextlib.contextmanager
def writer_turn(session):
    """Hold the SQLite writers' lock (a file beside the database) for one write transaction; elsewhere, nothing.

    SQLite lets one writer in at a time and makes the others sleep and retry (1, 2, 5, 10 ... ms), which under
    several gunicorn workers leaves the database idle between writers; waiting on flock() instead hands the turn
    over at once (bench/submit_bench.py: about 10-15% more submissions a second, p95 latency halved). The kernel
    drops the lock if the process dies.
    """
    url = session.get_bind().url
    if fcntl is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    with open(url.database + ".writer-lock", "a") as lock:  # a file of its own per call: excludes threads too
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def write_transaction(session):
    """One write transaction that takes the SQLite writers' turn before its first write, commits at the end of
    the block, and on any error rolls back and re-raises (nothing half-stored)."""
    with writer_turn(session):
        try:
            yield
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upgrade_db() -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    upgrade(directory=MIGRATIONS)


@click.command("db-upgrade-or-init")
@with_appcontext
def upgrade_db_command():
    """Create or upgrade the database schema to the newest migration."""
    upgrade_db()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


def init_app(app) -> None:
    """Bind the database and migrations to the app and register the database command."""
    from . import tables  # noqa: F401  (registers the ORM classes on the metadata)

    db.init_app(app)
    migrate.init_app(app, db)
    app.cli.add_command(upgrade_db_command)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
