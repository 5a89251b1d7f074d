"""two-phase signing with the local agent: prepared sessions, registered card certificates

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 16:30:00
"""
from alembic import op
import sqlalchemy as sa
import parapheur.db


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agent_signing_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('certificate_sha256', sa.String(length=64), nullable=False),
        sa.Column('certificate_subject', sa.Text(), nullable=False),
        sa.Column('created_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', parapheur.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_agent_signing_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_signing_sessions')),
        sa.UniqueConstraint('token', name=op.f('uq_agent_signing_sessions_token')),
    )
    with op.batch_alter_table('agent_signing_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_signing_sessions_user_id'), ['user_id'],
                              unique=False)
    op.create_table(
        'agent_prepared_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.String(length=100), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('version_sha256', sa.String(length=64), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('prepared_pdf', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                                name=op.f('fk_agent_prepared_documents_document_id_documents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['agent_signing_sessions.id'],
                                name=op.f('fk_agent_prepared_documents_session_id_agent_signing_sessions'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['version_id'], ['document_versions.id'],
                                name=op.f('fk_agent_prepared_documents_version_id_document_versions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_prepared_documents')),
    )
    with op.batch_alter_table('agent_prepared_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_prepared_documents_session_id'),
                              ['session_id'], unique=False)
    op.create_table(
        'registered_certificates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('certificate', sa.LargeBinary(), nullable=False),
        sa.Column('registered_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('approved_at', parapheur.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('approved_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'],
                                name=op.f('fk_registered_certificates_approved_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_registered_certificates_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registered_certificates')),
        sa.UniqueConstraint('user_id', 'sha256', name=op.f('uq_registered_certificates_user_id')),
    )
    with op.batch_alter_table('registered_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registered_certificates_user_id'), ['user_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registered_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registered_certificates_user_id'))
    op.drop_table('registered_certificates')
    with op.batch_alter_table('agent_prepared_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_prepared_documents_session_id'))
    op.drop_table('agent_prepared_documents')
    with op.batch_alter_table('agent_signing_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_signing_sessions_user_id'))
    op.drop_table('agent_signing_sessions')
