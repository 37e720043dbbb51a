"""report_snapshot: the shared store of finished reports and their refresh claims

Revision ID: 0004_report_snapshot
Revises: 0003_response_packed
Create Date: 2026-12-01 19:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004_report_snapshot'
down_revision = '0003_response_packed'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('view_key', sa.String(length=64), nullable=False),
        sa.Column('data_count', sa.Integer(), nullable=True),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.Column('claim_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_report_snapshot_survey_id_survey')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_snapshot')),
        sa.UniqueConstraint('survey_id', 'view_key', name=op.f('uq_report_snapshot_survey_id')),
    )
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_snapshot_survey_id'), ['survey_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_snapshot_survey_id'))
    op.drop_table('report_snapshot')
