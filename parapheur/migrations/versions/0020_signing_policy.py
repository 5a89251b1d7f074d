"""an organisation's signing policy: officials may be kept to their own card (local agent)

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-01 19:30:00
"""
from alembic import op
import sqlalchemy as sa
import parapheur.db


revision = '0020'
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'organisation_signing_policies',
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('officials_card_only', sa.Boolean(), nullable=False),
        sa.Column('updated_at', parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_organisation_signing_policies_organisation_id_organisations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                                name=op.f('fk_organisation_signing_policies_updated_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('organisation_id', name=op.f('pk_organisation_signing_policies')),
    )


def downgrade() -> None:
    op.drop_table('organisation_signing_policies')
