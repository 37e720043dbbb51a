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


def test_0013_marks_imported_data_sets_and_drops_labels_that_repeat_the_number(tmp_path):
    """Upgrading a SQLite database holding surveys, waves and responses from 0008 to the newest migration (batch
    migrations that copy the survey table included): surveys holding imported responses become imported data
    sets, and a wave label "Wave <its number>" becomes empty (the page shows "Wave 3", not "Wave 3 – Wave 3")."""
    from flask_migrate import upgrade

    from survey import create_app
    from survey.storage.db import MIGRATIONS

    url = "sqlite:///" + str(tmp_path / "old.sqlite3")
    app = create_app({"TESTING": True, "SECRET_KEY": "m", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0008_audit_log")
        with db.engine.begin() as conn:
            for sid, slug in ((1, "made"), (2, "uploaded")):
                conn.execute(sa.text("insert into survey (id, slug, title_en, title_zh, intro_en, intro_zh, status,"
                                     " scale_min, scale_max, created_at, revision, access) values (:id, :slug, 't',"
                                     " 't', '', '', 'open', 1, 10, '2026-01-01', 'r', 'open')"), {"id": sid, "slug": slug})
            conn.execute(sa.text("insert into wave (id, survey_id, number, label, opened_at) values"
                                 " (1, 1, 1, 'Wave 1', '2026-01-01'), (2, 1, 2, 'Spring', '2026-01-01'),"
                                 " (3, 2, 1, 'Wave 1', '2026-01-01'), (4, 2, 2, 'Wave 3', '2026-01-01')"))
            conn.execute(sa.text("insert into response (id, survey_id, wave_id, created_at, locale, complete, source)"
                                 " values (1, 1, 1, '2026-01-01', 'en', 1, 'web'), (2, 2, 3, '2026-01-01', 'en', 1,"
                                 " 'import')"))
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("select slug, imported, erasures, archived_at from survey order by id")).all() \
                == [("made", 0, 0, None), ("uploaded", 1, 0, None)]
            assert conn.execute(sa.text("select label from wave order by id")).scalars().all() == [
                "", "Spring", "", "Wave 3"]
        db.engine.dispose()
