"""Waiting desks: the index behind the inboxes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waiting_desks",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("desk_slug", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_waiting_desks_document_id_documents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "desk_slug", name=op.f("pk_waiting_desks")),
    )
    with op.batch_alter_table("waiting_desks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waiting_desks_desk_slug"), ["desk_slug"], unique=False)
    # Fill it from the run states of the documents in progress (same rule as waiting_slugs()).
    connection = op.get_bind()
    documents = sa.table("documents", sa.column("id"), sa.column("status"), sa.column("run_state"))
    waiting = sa.table("waiting_desks", sa.column("document_id"), sa.column("desk_slug"))
    rows = []
    for document_id, run_state in connection.execute(
            sa.select(documents.c.id, documents.c.run_state)
            .where(documents.c.status == "en_cours")):
        state = json.loads(run_state) if isinstance(run_state, str) else run_state
        if state.get("outcome") is not None:
            continue
        acted = set(state.get("acted") or ())
        rows += [{"document_id": document_id, "desk_slug": slug}
                 for slug in sorted(set(state.get("desks") or ())) if slug not in acted]
    if rows:
        op.bulk_insert(waiting, rows)


def downgrade() -> None:
    with op.batch_alter_table("waiting_desks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waiting_desks_desk_slug"))
    op.drop_table("waiting_desks")
