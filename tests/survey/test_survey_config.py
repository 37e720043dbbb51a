"""Configuration: database URLs, the instance secret, and migrations down and up again."""
import os

import pytest
import sqlalchemy as sa

from survey import create_app
from survey.config import database_url, instance_secret


@pytest.mark.parametrize(("given", "expected"), [
    (None, "sqlite:////inst/csi.sqlite3"),
    ("", "sqlite:////inst/csi.sqlite3"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgres://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_database_url(given, expected):
    assert database_url(given, "/inst") == expected


def test_instance_secret_is_random_private_and_stable(tmp_path):
    first = instance_secret(str(tmp_path))
    assert len(first) == 64 and first == instance_secret(str(tmp_path))
    assert oct(os.stat(tmp_path / "secret_key").st_mode & 0o777) == "0o600"
    other = tmp_path / "other"
    other.mkdir()
    assert instance_secret(str(other)) != first


def test_environment_configures_the_app(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/csi")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://someone@db.example/csi"
    assert app.config["SECRET_KEY"] == "from-env"
    tested = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})  # test_config wins
    assert tested.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


def test_migrations_downgrade_and_upgrade_again(tmp_path):
    from flask_migrate import downgrade

    from survey.storage.db import MIGRATIONS, db, upgrade_db

    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"})
    with app.app_context():
        upgrade_db()
        downgrade(directory=MIGRATIONS, revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
        upgrade_db()
        assert {t.name for t in db.metadata.sorted_tables} <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()
