"""response moments: in-database sufficient statistics per survey cell, and how far they have read

Revision ID: 0016_response_moments
Revises: 0010_response_quality
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016_response_moments'
down_revision = '0010_response_quality'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'response_moments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('basis', sa.String(length=40), nullable=False),
        sa.Column('wave_id', sa.Integer(), nullable=False),
        sa.Column('segment', sa.String(length=400), nullable=False),
        sa.Column('pattern', sa.Text(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name='fk_response_moments_survey_id_survey'),
        sa.PrimaryKeyConstraint('id', name='pk_response_moments'),
        sa.UniqueConstraint('survey_id', 'basis', 'wave_id', 'segment', 'pattern',
                            name='uq_response_moments_survey_id'),
    )
    op.create_index('ix_response_moments_survey_id', 'response_moments', ['survey_id'])
    if op.get_bind().dialect.name == 'postgresql':
        # a cell's vector is ~3 KB: keep it in the row, uncompressed (TOAST would compress and move it out of
        # line from 2 KB, and a report reads thousands of them)
        op.execute('ALTER TABLE response_moments SET (toast_tuple_target = 8160)')
        op.execute('ALTER TABLE response_moments ALTER COLUMN data SET STORAGE MAIN')
    op.create_table(
        'moments_state',
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('basis', sa.String(length=40), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('gaps', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name='fk_moments_state_survey_id_survey'),
        sa.PrimaryKeyConstraint('survey_id', name='pk_moments_state'),
    )


def downgrade():
    op.drop_table('moments_state')
    op.drop_index('ix_response_moments_survey_id', table_name='response_moments')
    op.drop_table('response_moments')
