"""mail_recipient, mail_unsubscribe, mail_job: e-mail invitations, reminders and unsubscriptions

Revision ID: 0012_mail
Revises: 0015_cases
Create Date: 2026-12-01 22:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_mail'
down_revision = '0015_cases'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_recipient',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('wave_id', sa.Integer(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reminders', sa.Integer(), nullable=False),
        sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('pending', 'sent', 'bounced')", name=op.f('ck_mail_recipient_status')),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_mail_recipient_survey_id_survey')),
        sa.ForeignKeyConstraint(['token_id'], ['invitation_token.id'],
                                name=op.f('fk_mail_recipient_token_id_invitation_token')),
        sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], name=op.f('fk_mail_recipient_wave_id_wave')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_recipient')),
        sa.UniqueConstraint('token_id', name=op.f('uq_mail_recipient_token_id')),
        sa.UniqueConstraint('wave_id', 'email', name='uq_mail_recipient_wave_email'),
    )
    with op.batch_alter_table('mail_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_recipient_survey_id'), ['survey_id'], unique=False)

    op.create_table(
        'mail_unsubscribe',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_mail_unsubscribe_survey_id_survey')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_unsubscribe')),
        sa.UniqueConstraint('survey_id', 'email', name='uq_mail_unsubscribe_survey_email'),
    )

    op.create_table(
        'mail_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('survey_id', sa.Integer(), nullable=False),
        sa.Column('wave_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=True),
        sa.Column('base_url', sa.String(length=300), nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('sent', sa.Integer(), nullable=False),
        sa.Column('bounced', sa.Integer(), nullable=False),
        sa.Column('deferred', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind in ('invite', 'remind')", name=op.f('ck_mail_job_kind')),
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name=op.f('ck_mail_job_status')),
        sa.ForeignKeyConstraint(['manager_id'], ['manager.id'], name=op.f('fk_mail_job_manager_id_manager')),
        sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_mail_job_survey_id_survey')),
        sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], name=op.f('fk_mail_job_wave_id_wave')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_job')),
    )
    with op.batch_alter_table('mail_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_job_survey_id'), ['survey_id'], unique=False)


def downgrade():
    op.drop_table('mail_job')
    op.drop_table('mail_unsubscribe')
    op.drop_table('mail_recipient')
