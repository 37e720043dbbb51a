"""response quality: form duration and device hashes per response, survey.exclude_flagged

Revision ID: 0010_response_quality
Revises: 0009_survey_estimator
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_response_quality'
down_revision = '0009_survey_estimator'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMNs (no batch): SQLite adds them in place instead of copying the tables
    op.add_column('response', sa.Column('duration_ms', sa.Integer(), nullable=True))
    op.add_column('response', sa.Column('device_hash', sa.String(length=32), nullable=True))
    op.add_column('response', sa.Column('client_hash', sa.String(length=32), nullable=True))
    op.add_column('survey', sa.Column('exclude_flagged', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_column('exclude_flagged')
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_column('client_hash')
        batch_op.drop_column('device_hash')
        batch_op.drop_column('duration_ms')
