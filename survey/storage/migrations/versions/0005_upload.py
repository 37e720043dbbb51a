"""upload: files to import, kept in the database for the import job

Revision ID: 0005_upload
Revises: 0004_report_snapshot
Create Date: 2026-12-01 20:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005_upload'
down_revision = '0004_report_snapshot'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('scale_min', sa.Integer(), nullable=False),
        sa.Column('scale_max', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=True),
        sa.Column('problems', sa.JSON(), nullable=True),
        sa.Column('done_rows', sa.Integer(), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('survey_slug', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['manager.id'], name=op.f('fk_upload_manager_id_manager')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_upload')),
        sa.UniqueConstraint('token', name=op.f('uq_upload_token')),
    )
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_manager_id'), ['manager_id'], unique=False)


def downgrade():
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_manager_id'))
    op.drop_table('upload')
