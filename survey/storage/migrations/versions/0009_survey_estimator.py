"""survey.estimator (the report's estimator: mlr or pls); report_snapshot's second-pass claim and progress

Revision ID: 0009_survey_estimator
Revises: 0013_survey_settings
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_survey_estimator'
down_revision = '0013_survey_settings'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.add_column(sa.Column('estimator', sa.String(length=8), server_default='mlr', nullable=False))
        batch_op.create_check_constraint('estimator', "estimator in ('mlr', 'pls')")
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interval_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('interval_claim_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('interval_done', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('interval_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('interval_error', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        for name in ('interval_error', 'interval_total', 'interval_done', 'interval_claim_until', 'interval_count'):
            batch_op.drop_column(name)
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_survey_estimator'), type_='check')
        batch_op.drop_column('estimator')
