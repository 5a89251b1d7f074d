"""Inbox at constant cost: the documents' current deadline and the indexes the trays need.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import parapheur.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", parapheur.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_documents_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index("ix_documents_status_due_at_id", ["status", "due_at", "id"],
                              unique=False)
    with op.batch_alter_table("step_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_actions_document_id"), ["document_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_step_actions_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_step_actions_desk_id"), ["desk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_step_actions_on_behalf_of_desk_id"),
                              ["on_behalf_of_desk_id"], unique=False)
    # The deadline of the step each document in progress waits on, from its run state.
    connection = op.get_bind()
    documents = sa.table("documents", sa.column("id"), sa.column("status"),
                         sa.column("run_state"),
                         sa.column("due_at", parapheur.db.UTCDateTime(timezone=True)))
    for document_id, run_state in connection.execute(
            sa.select(documents.c.id, documents.c.run_state)
            .where(documents.c.status == "en_cours")).all():
        state = json.loads(run_state) if isinstance(run_state, str) else (run_state or {})
        due = state.get("due") if state.get("outcome") is None else None
        if not due:
            continue
        moment = datetime.fromisoformat(due)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        connection.execute(documents.update().where(documents.c.id == document_id)
                           .values(due_at=moment))


def downgrade() -> None:
    with op.batch_alter_table("step_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_actions_on_behalf_of_desk_id"))
        batch_op.drop_index(batch_op.f("ix_step_actions_desk_id"))
        batch_op.drop_index(batch_op.f("ix_step_actions_actor_id"))
        batch_op.drop_index(batch_op.f("ix_step_actions_document_id"))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_status_due_at_id")
        batch_op.drop_index(batch_op.f("ix_documents_updated_at"))
        batch_op.drop_index(batch_op.f("ix_documents_author_id"))
        batch_op.drop_column("due_at")
