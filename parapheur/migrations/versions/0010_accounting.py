"""accounting: mandats, bordereaux de mandats (numbered without gaps), PES exports, counters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:04:21.320918
"""
from alembic import op
import sqlalchemy as sa
import parapheur.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('accounting_counters',
    sa.Column('scope', sa.String(length=120), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_accounting_counters'))
    )
    op.create_table('pes_exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('cod_col', sa.String(length=3), nullable=False),
    sa.Column('cod_bud', sa.String(length=2), nullable=False),
    sa.Column('created_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('deposited_to', sa.Text(), nullable=True),
    sa.Column('deposited_at', parapheur.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('number >= 1', name=op.f('ck_pes_exports_number_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_pes_exports_actor_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_pes_exports_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pes_exports')),
    sa.UniqueConstraint('organisation_id', 'cod_col', 'cod_bud', 'number', name='uq_pes_exports_number')
    )
    with op.batch_alter_table('pes_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pes_exports_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('bordereaux_mandats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('cod_col', sa.String(length=3), nullable=False),
    sa.Column('cod_bud', sa.String(length=2), nullable=False),
    sa.Column('exercice', sa.Integer(), nullable=False),
    sa.Column('type_bordereau', sa.String(length=2), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('amount_ht', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=False),
    sa.Column('amount_tva', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=False),
    sa.Column('cumulative_amount', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=False),
    sa.Column('state', sa.Enum('a_signer', 'signe', 'exporte', 'pris_en_charge', 'rejete', name='bordereaustate', native_enum=False, length=20), nullable=False),
    sa.Column('signed_element', sa.LargeBinary(), nullable=True),
    sa.Column('signed_at', parapheur.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signer_name', sa.String(length=200), nullable=True),
    sa.Column('export_id', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('created_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_bordereaux_mandats_number_positive')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_bordereaux_mandats_document_id_documents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['export_id'], ['pes_exports.id'], name=op.f('fk_bordereaux_mandats_export_id_pes_exports')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_bordereaux_mandats_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bordereaux_mandats')),
    sa.UniqueConstraint('document_id', name=op.f('uq_bordereaux_mandats_document_id')),
    sa.UniqueConstraint('organisation_id', 'cod_col', 'cod_bud', 'exercice', 'type_bordereau', 'number', name='uq_bordereaux_mandats_number')
    )
    with op.batch_alter_table('bordereaux_mandats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bordereaux_mandats_export_id'), ['export_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bordereaux_mandats_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bordereaux_mandats_state'), ['state'], unique=False)

    op.create_table('mandats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('bordereau_id', sa.Integer(), nullable=True),
    sa.Column('exercice', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('cod_col', sa.String(length=3), nullable=False),
    sa.Column('cod_bud', sa.String(length=2), nullable=False),
    sa.Column('object', sa.String(length=100), nullable=False),
    sa.Column('nature', sa.String(length=20), nullable=False),
    sa.Column('fonction', sa.String(length=20), nullable=True),
    sa.Column('operation', sa.String(length=20), nullable=True),
    sa.Column('amount_ht', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=False),
    sa.Column('amount_tva', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=False),
    sa.Column('payment_mode', sa.String(length=2), nullable=False),
    sa.Column('supplier_name', sa.String(length=300), nullable=False),
    sa.Column('supplier_siret', sa.String(length=14), nullable=True),
    sa.Column('supplier_iban', sa.String(length=40), nullable=True),
    sa.Column('attachment_id', sa.String(length=50), nullable=False),
    sa.Column('state', sa.Enum('a_bordereauter', 'bordereaute', 'pris_en_charge', 'rejete', 'paye', name='mandatstate', native_enum=False, length=20), nullable=False),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('paid_amount', parapheur.db.ExactDecimal(precision=18, scale=2), nullable=True),
    sa.Column('created_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bordereau_id'], ['bordereaux_mandats.id'], name=op.f('fk_mandats_bordereau_id_bordereaux_mandats')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_mandats_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_mandats_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mandats')),
    sa.UniqueConstraint('attachment_id', name=op.f('uq_mandats_attachment_id')),
    sa.UniqueConstraint('bordereau_id', 'number', name='uq_mandats_bordereau_number'),
    sa.UniqueConstraint('invoice_id', name='uq_mandats_invoice_id')
    )
    with op.batch_alter_table('mandats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mandats_bordereau_id'), ['bordereau_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandats_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandats_state'), ['state'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('mandats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mandats_state'))
        batch_op.drop_index(batch_op.f('ix_mandats_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_mandats_bordereau_id'))

    op.drop_table('mandats')
    with op.batch_alter_table('bordereaux_mandats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bordereaux_mandats_state'))
        batch_op.drop_index(batch_op.f('ix_bordereaux_mandats_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_bordereaux_mandats_export_id'))

    op.drop_table('bordereaux_mandats')
    with op.batch_alter_table('pes_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pes_exports_organisation_id'))

    op.drop_table('pes_exports')
    op.drop_table('accounting_counters')

