"""The migrations build the same schema the ORM declares, on both databases."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from survey.storage.db import db


def test_migrated_schema_matches_tables(app):
    """Alembic's autogenerate finds nothing to change between the migrated database and the ORM metadata:
    tables, columns and their types, nullability, indexes, unique constraints and foreign keys."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, db.metadata) == []
        assert conn.scalar(sa.text("select version_num from alembic_version")) is not None


def test_upgrade_command_is_idempotent(runner):
    result = runner.invoke(args=["db-upgrade-or-init"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
