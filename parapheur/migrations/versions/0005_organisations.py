"""organisations and budgets; every user, desk and document belongs to one

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:20:00
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import parapheur.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_OWNED = ("users", "desks", "documents")


def upgrade() -> None:
    op.create_table(
        'organisations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=80), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('siret', sa.String(length=14), nullable=True),
        sa.Column('city', sa.String(length=100), nullable=True),
        sa.Column('postal_code', sa.String(length=10), nullable=True),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('codique', sa.String(length=7), nullable=True),
        sa.Column('created_at', parapheur.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
        sa.UniqueConstraint('slug', name=op.f('uq_organisations_slug')),
    )
    op.create_table(
        'budgets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('code_col', sa.String(length=3), nullable=False),
        sa.Column('code_bud', sa.String(length=2), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('nomenclature', sa.String(length=10), nullable=False),
        sa.Column('codique', sa.String(length=7), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_budgets_organisation_id_organisations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budgets')),
        sa.UniqueConstraint('organisation_id', 'code_col', 'code_bud',
                            name='uq_budgets_org_codcol_codbud'),
    )
    connection = op.get_bind()
    existing = any(connection.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()
                   for table in _OWNED)
    if existing:
        # A database from before organisations: its rows belong to one collectivité, to be
        # named with `parapheur orgs update collectivite --name …`.
        organisations = sa.table('organisations', sa.column('slug', sa.String),
                                 sa.column('name', sa.String), sa.column('country', sa.String),
                                 sa.column('created_at', parapheur.db.UTCDateTime()))
        op.bulk_insert(organisations, [{"slug": "collectivite", "name": "Collectivité",
                                        "country": "FR", "created_at": datetime.now(UTC)}])
    for table in _OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        if existing:
            connection.execute(sa.text(
                f"UPDATE {table} SET organisation_id = (SELECT min(id) FROM organisations)"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('organisation_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_organisation_id'), ['organisation_id'],
                                  unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_organisation_id_organisations'),
                                        'organisations', ['organisation_id'], ['id'])


def downgrade() -> None:
    for table in _OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_organisation_id_organisations'),
                                     type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_organisation_id'))
            batch_op.drop_column('organisation_id')
    op.drop_table('budgets')
    op.drop_table('organisations')
