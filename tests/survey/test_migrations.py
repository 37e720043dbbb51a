"""The migrations build the same schema the ORM declares, on both databases."""
import sqlalchemy as sa

from survey.storage.db import db


def test_migrated_schema_matches_tables(app):
    with app.app_context():
        inspector = sa.inspect(db.engine)
        tables = set(inspector.get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} <= tables
        for table in db.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
        with db.engine.connect() as conn:
            assert conn.scalar(sa.text("select version_num from alembic_version")) is not None


def test_upgrade_command_is_idempotent(runner):
    result = runner.invoke(args=["db-upgrade-or-init"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
