"""Shared fixtures: the app on SQLite and on PostgreSQL (migrated once per backend), client, runner, auth,
a plain db_session, a logged-in manager and a demo survey from the CSI template."""
import os
import secrets

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
