"""survey.model: the model variant (acsi, ecsi, ccsi) the survey's report fits

Revision ID: 0014_survey_model
Revises: 0008_audit_log
Create Date: 2026-12-01 22:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014_survey_model'
down_revision = '0008_audit_log'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model', sa.String(length=8), server_default='acsi', nullable=False))
        batch_op.create_check_constraint('model', "model in ('acsi', 'ecsi', 'ccsi')")


def downgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_survey_model'), type_='check')
        batch_op.drop_column('model')
