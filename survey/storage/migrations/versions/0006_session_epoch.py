"""manager.session_epoch: raising it ends every session of the manager

Revision ID: 0006_session_epoch
Revises: 0005_upload
Create Date: 2026-12-01 19:35:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_session_epoch'
down_revision = '0005_upload'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('manager', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('manager', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
