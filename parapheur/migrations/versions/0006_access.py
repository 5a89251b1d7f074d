"""Reached desks: every desk a document has waited for, the index behind the access rule.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import json

import sqlalchemy as sa
import yaml
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _step_desks(step: dict, run_state: dict, meta: dict) -> set[str]:
    """The desks a step of a frozen circuit names (as the engine resolves them)."""
    if not isinstance(step, dict):
        return set()
    if isinstance(step.get("desk"), str):
        return {step["desk"]}
    if isinstance(step.get("desks"), list):
        return {d for d in step["desks"] if isinstance(d, str)}
    if isinstance(step.get("desk_from"), str):
        value = meta.get(step["desk_from"])
        return {value} if isinstance(value, str) else set()
    if step.get("author") is True and isinstance(run_state.get("author_desk"), str):
        return {run_state["author_desk"]}
    return set()


def _loads(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def upgrade() -> None:
    op.create_table(
        "reached_desks",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("desk_slug", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_reached_desks_document_id_documents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "desk_slug", name=op.f("pk_reached_desks")),
    )
    with op.batch_alter_table("reached_desks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reached_desks_desk_slug"), ["desk_slug"], unique=False)
    # Filled from what the documents went through: the desks of every step their run entered
    # (from the frozen circuit they follow), the desks waiting now and the desks that acted.
    connection = op.get_bind()
    documents = sa.table("documents", sa.column("id"), sa.column("run_state"),
                         sa.column("metadata"), sa.column("circuit_version_id"))
    versions = sa.table("circuit_versions", sa.column("id"), sa.column("source"))
    waiting = sa.table("waiting_desks", sa.column("document_id"), sa.column("desk_slug"))
    actions = sa.table("step_actions", sa.column("document_id"), sa.column("desk_id"),
                       sa.column("on_behalf_of_desk_id"))
    desks = sa.table("desks", sa.column("id"), sa.column("slug"))
    reached_table = sa.table("reached_desks", sa.column("document_id"), sa.column("desk_slug"))
    slugs_by_id = dict(connection.execute(sa.select(desks.c.id, desks.c.slug)).all())
    sources = {}
    reached: dict[int, set[str]] = {}
    for document_id, run_state, meta, version_id in connection.execute(
            sa.select(documents.c.id, documents.c.run_state, documents.c.metadata,
                      documents.c.circuit_version_id)):
        state, meta = _loads(run_state), _loads(meta)
        if version_id not in sources:
            source = connection.execute(sa.select(versions.c.source)
                                        .where(versions.c.id == version_id)).scalar()
            try:
                sources[version_id] = (yaml.safe_load(source or "") or {}).get("states") or {}
            except yaml.YAMLError:
                sources[version_id] = {}
        states = sources[version_id]
        found = reached.setdefault(document_id, set())
        for name in state.get("trail") or ():
            found |= _step_desks(states.get(name), state, meta)
    for document_id, slug in connection.execute(sa.select(waiting.c.document_id,
                                                          waiting.c.desk_slug)):
        reached.setdefault(document_id, set()).add(slug)
    for document_id, desk_id, behalf_id in connection.execute(
            sa.select(actions.c.document_id, actions.c.desk_id, actions.c.on_behalf_of_desk_id)):
        for identifier in (desk_id, behalf_id):
            if identifier in slugs_by_id:
                reached.setdefault(document_id, set()).add(slugs_by_id[identifier])
    rows = [{"document_id": document_id, "desk_slug": slug[:80]}
            for document_id, slugs in sorted(reached.items()) for slug in sorted(slugs)]
    if rows:
        op.bulk_insert(reached_table, rows)


def downgrade() -> None:
    with op.batch_alter_table("reached_desks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reached_desks_desk_slug"))
    op.drop_table("reached_desks")
