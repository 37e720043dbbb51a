"""Shared fixtures: the app on SQLite and on PostgreSQL (migrated once per backend), client, runner, auth,
a plain db_session, a logged-in manager and a demo survey from the CSI template."""
import asyncio
import email
import os
import secrets
import socket
import threading
from email import policy

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

PG_SERVER = os.environ.get("CSI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def _base_config(url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast in tests; production uses scrypt
        "REPORT_SECOND_PASS": False,  # bootstrap / second opinion / comparisons: on where a test asks for them
    }


def _migrate(url: str) -> None:
    """Build the schema by running the real migrations (proves they work on this backend)."""
    from survey import create_app
    from survey.storage.db import db, upgrade_db

    app = create_app(_base_config(url))
    with app.app_context():
        upgrade_db()
        db.engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory):
    url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "csi_test.sqlite3")
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def _postgresql_url():
    server = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    name = f"csi_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as err:
        server.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER}: {str(err).splitlines()[0]}")
    url = sa.engine.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _clean(engine) -> None:
    """Empty every table (cheap DELETEs, children first) so each test starts from a blank database."""
    from survey.storage.db import db

    with engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def app(request):
    """The app on a freshly emptied, migrated database; parametrized over SQLite and PostgreSQL."""
    from survey import create_app
    from survey.storage.db import db

    url = request.getfixturevalue(f"_{request.param}_url")
    app = create_app(_base_config(url))
    app.config["CSI_BACKEND"] = request.param
    with app.app_context():
        engine = db.engine
    yield app
    from survey import jobs

    assert jobs.drain(60), "a background job of this test is still running"  # e.g. a case sweep after a submission
    _clean(engine)
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app):
    """A plain SQLAlchemy session on the test database, independent of request contexts.

    Do not keep an app context pushed while using `client`: Flask reuses it for requests (shared g/session).
    """
    from survey.storage.db import db

    with app.app_context():
        engine = db.engine
    with Session(engine) as session:
        yield session


class AuthActions:
    """Log a manager in and out through the real login form."""

    def __init__(self, client, db_session, method):
        self._client = client
        self._session = db_session
        self._method = method

    def create(self, email="manager@example.com", password="correct horse battery"):
        from survey import services

        return services.create_manager(self._session, email, password, method=self._method)

    def login(self, email="manager@example.com", password="correct horse battery"):
        return self._client.post("/auth/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(app, client, db_session):
    return AuthActions(client, db_session, app.config["PASSWORD_HASH_METHOD"])


@pytest.fixture
def manager(auth):
    """A manager account, logged in on `client`."""
    account = auth.create()
    response = auth.login()
    assert response.status_code == 302, response.data
    return account


@pytest.fixture
def demo_survey(db_session):
    """A survey 'csi' created from the CSI template (wave 1 open, no responses)."""
    from survey import services

    return services.create_survey(db_session, slug="csi", title_en="Test survey", title_zh="测试调查")


MODEL_ITEMS = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")


def _valid_answers(**overrides) -> dict:
    """A complete valid submission for the template (every model item 7, no complaint); None drops a key."""
    data = {code: "7" for code in MODEL_ITEMS}
    data.update({"complained": "no", "customer_type": "business", "key_account": "yes", "region": "east",
                 "customer_status": "current", "channel": "online", "tenure": "1to3", "comment": ""})
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def valid_answers():
    """Factory: valid_answers(**overrides) -> dict of form values for the CSI template."""
    return _valid_answers


class Inbox:
    """An aiosmtpd handler that keeps every accepted message and refuses some recipients the way real servers
    do: refuse*@ for good (550), later*@ for now (451)."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.hang_up = False  # True: close the connection after every message (as servers do after N)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 No such user here"
        if address.startswith("later"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        if self.hang_up:
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted"

    def take(self):
        """The messages received since the last take, by recipient address."""
        with self.lock:
            taken, self.messages = self.messages, []
        return {rcpt[0]: message for rcpt, message in taken}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inbox():
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1 for the test; .take() reads what arrived."""
    from aiosmtpd.controller import Controller

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def unused_port():
    """A TCP port of 127.0.0.1 that nothing listens on (a server that is down)."""
    return _free_port()
