"""survey.access: open, limited (per address and browser) or invitation-only

Revision ID: 0007_survey_access
Revises: 0006_session_epoch
Create Date: 2026-12-01 19:41:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_survey_access'
down_revision = '0006_session_epoch'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access', sa.String(length=12), server_default='open', nullable=False))
        batch_op.create_check_constraint('access', "access in ('open', 'limited', 'invitation')")


def downgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_survey_access'), type_='check')
        batch_op.drop_column('access')
