"""Inbox sort, filters and search; circuit versions activated from the administration pages.

- `documents.amount` and `documents.search_text` (title and metadata, normalised by
  `parapheur.documents.search`), filled here for existing documents;
- the keyset indexes of the other sort orders (date, amount, title);
- on PostgreSQL, a GIN full-text index over `search_text`;
- `circuit_activations`: the circuit version an administrator chose for a type / sous-type;
- the journal page's index on `audit_events.actor_id`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""
import json

import sqlalchemy as sa
from alembic import op

import parapheur.db
from parapheur.circuits.definition import parse_circuit
from parapheur.circuits.errors import CircuitError
from parapheur.documents.search import document_amount, search_text

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FULL_TEXT_INDEX = "ix_documents_search_text_fts"


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount", sa.Numeric(precision=18, scale=2),
                                      nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False,
                                      server_default=""))
        batch_op.create_index("ix_documents_status_created_at_id", ["status", "created_at", "id"],
                              unique=False)
        batch_op.create_index("ix_documents_status_amount_id", ["status", "amount", "id"],
                              unique=False)
        batch_op.create_index("ix_documents_status_title_id", ["status", "title", "id"],
                              unique=False)
    op.create_table(
        "circuit_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("doc_type", sa.String(length=100), nullable=False),
        sa.Column("doc_subtype", sa.String(length=100), nullable=False),
        sa.Column("circuit_version_id", sa.Integer(), nullable=False),
        sa.Column("activated_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["activated_by_id"], ["users.id"],
                                name=op.f("fk_circuit_activations_activated_by_id_users")),
        sa.ForeignKeyConstraint(["circuit_version_id"], ["circuit_versions.id"],
                                name=op.f("fk_circuit_activations_circuit_version_id_circuit_versions")),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_circuit_activations_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuit_activations")),
    )
    op.create_index("ix_circuit_activations_typology", "circuit_activations",
                    ["organisation_id", "doc_type", "doc_subtype", "id"], unique=False)
    op.create_index(op.f("ix_audit_events_actor_id"), "audit_events", ["actor_id"], unique=False)
    _fill_documents()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {FULL_TEXT_INDEX} ON documents "
                   "USING gin (to_tsvector('simple', search_text))")


def _fill_documents() -> None:
    """Amount and search text of the documents already there, by the service's own rules."""
    connection = op.get_bind()
    documents = sa.table("documents", sa.column("id"), sa.column("title"),
                         sa.column("metadata"), sa.column("circuit_version_id"),
                         sa.column("amount", sa.Numeric(18, 2)), sa.column("search_text"))
    versions = sa.table("circuit_versions", sa.column("id"), sa.column("source"))
    circuits = {}
    for version_id, source in connection.execute(sa.select(versions.c.id, versions.c.source)):
        try:
            circuits[version_id] = parse_circuit(source, f"circuit-version-{version_id}")
        except CircuitError:
            circuits[version_id] = None
    for row in connection.execute(sa.select(documents.c.id, documents.c.title,
                                            documents.c.metadata,
                                            documents.c.circuit_version_id)).all():
        metadata = json.loads(row.metadata) if isinstance(row.metadata, str) else row.metadata
        circuit = circuits.get(row.circuit_version_id)
        connection.execute(documents.update().where(documents.c.id == row.id).values(
            search_text=search_text(row.title, metadata or {}),
            amount=document_amount(circuit, metadata or {}) if circuit is not None else None))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {FULL_TEXT_INDEX}")
    op.drop_index(op.f("ix_audit_events_actor_id"), table_name="audit_events")
    op.drop_index("ix_circuit_activations_typology", table_name="circuit_activations")
    op.drop_table("circuit_activations")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_status_title_id")
        batch_op.drop_index("ix_documents_status_amount_id")
        batch_op.drop_index("ix_documents_status_created_at_id")
        batch_op.drop_column("search_text")
        batch_op.drop_column("amount")
