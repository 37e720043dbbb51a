"""manager roles (admin / editor / viewer), deactivation, one-time set-password links; survey_grant: per-survey
access. Every existing manager becomes an admin (before roles every manager could do everything); every
survey's creator gets access to it.

Revision ID: 0011_roles
Revises: 0014_survey_model
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_roles'
down_revision = '0014_survey_model'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMNs and a unique index: SQLite rebuilds a table for a new constraint, and rebuilding manager
    # fails once surveys, keys or audit events refer to it (foreign keys are on); PostgreSQL gets the CHECK
    op.add_column('manager', sa.Column('role', sa.String(length=10), server_default='viewer', nullable=False))
    op.add_column('manager', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('manager', sa.Column('setup_hash', sa.String(length=64), nullable=True))
    op.add_column('manager', sa.Column('setup_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_manager_setup_hash', 'manager', ['setup_hash'], unique=True)
    if op.get_bind().dialect.name != 'sqlite':
        op.create_check_constraint('role', 'manager', "role in ('admin', 'editor', 'viewer')")
    op.execute("UPDATE manager SET role = 'admin'")
    op.create_table(
        'survey_grant',
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['manager.id'], name=op.f('fk_survey_grant_manager_id_manager')),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_grant_survey_id_survey')),
        sa.PrimaryKeyConstraint('survey_id', 'manager_id', name=op.f('pk_survey_grant')),
    )
    with op.batch_alter_table('survey_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_grant_manager_id'), ['manager_id'], unique=False)
    op.execute("INSERT INTO survey_grant (survey_id, manager_id, granted_at) "
               "SELECT id, created_by_id, created_at FROM survey WHERE created_by_id IS NOT NULL")


def downgrade():
    op.drop_table('survey_grant')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_manager_role'), 'manager', type_='check')
    op.drop_index('ix_manager_setup_hash', table_name='manager')
    with op.batch_alter_table('manager', schema=None) as batch_op:
        batch_op.drop_column('setup_expires_at')
        batch_op.drop_column('setup_hash')
        batch_op.drop_column('active')
        batch_op.drop_column('role')
