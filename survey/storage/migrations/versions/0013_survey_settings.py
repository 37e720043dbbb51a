"""survey settings: archive, imported data sets, erasure counter; default wave labels left empty

Revision ID: 0013_survey_settings
Revises: 0012_mail
Create Date: 2026-12-01 22:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013_survey_settings'
down_revision = '0012_mail'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMNs (no batch): SQLite adds them in place instead of copying the survey table
    op.add_column('survey', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('survey', sa.Column('imported', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('survey', sa.Column('erasures', sa.Integer(), server_default='0', nullable=False))
    # surveys made from an upload hold only imported responses
    op.execute("UPDATE survey SET imported = true WHERE id IN (SELECT survey_id FROM response WHERE source = 'import')")
    # the label "Wave <n>" repeated the number ("Wave 3 – Wave 3"); an empty label now means just the number
    op.execute("UPDATE wave SET label = '' WHERE label = 'Wave ' || CAST(number AS VARCHAR(12))")


def downgrade():
    op.execute("UPDATE wave SET label = 'Wave ' || CAST(number AS VARCHAR(12)) WHERE label = ''")
    for column in ('erasures', 'imported', 'archived_at'):
        op.drop_column('survey', column)
