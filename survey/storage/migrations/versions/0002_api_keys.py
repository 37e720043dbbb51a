"""api keys: per-survey submit keys and managers' read keys (owner: API helper)

Revision ID: 0002_api_keys
Revises: 0001
Create Date: 2026-11-23 18:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0002_api_keys'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind in ('submit', 'read')", name=op.f('ck_api_key_kind')),
    sa.CheckConstraint("kind = 'read' or survey_id is not null", name=op.f('ck_api_key_submit_has_survey')),
    sa.ForeignKeyConstraint(['manager_id'], ['manager.id'], name=op.f('fk_api_key_manager_id_manager')),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_api_key_survey_id_survey')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_survey_id'), ['survey_id'], unique=False)


def downgrade():
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_survey_id'))
    op.drop_table('api_key')
