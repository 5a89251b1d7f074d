"""The « À traiter » tray read from its desks' rows: copies of what it reads of each document.

`waiting_desks` gains the document's organisation, current deadline, author and type (kept equal
by the application whenever the document changes), and one index in tray order: a desk's tray is
read along it, by deadline, and counted by author, without reading its documents.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import parapheur.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COPIED = ("organisation_id", "due_at", "author_id", "doc_type")


def upgrade() -> None:
    with op.batch_alter_table("waiting_desks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("due_at", parapheur.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("doc_type", sa.String(length=100), nullable=True))
    waiting = sa.table("waiting_desks", *(sa.column(name) for name in ("document_id", *COPIED)))
    documents = sa.table("documents", sa.column("id"), *(sa.column(name) for name in COPIED))
    op.get_bind().execute(waiting.update().values({
        name: sa.select(documents.c[name]).where(documents.c.id == waiting.c.document_id)
        .scalar_subquery() for name in COPIED}))
    with op.batch_alter_table("waiting_desks", schema=None) as batch_op:
        for name, kind in (("organisation_id", sa.Integer()), ("author_id", sa.Integer()),
                           ("doc_type", sa.String(length=100))):
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_waiting_desks_organisation_id_organisations"),
                                    "organisations", ["organisation_id"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_waiting_desks_author_id_users"), "users",
                                    ["author_id"], ["id"])
        batch_op.create_index("ix_waiting_desks_tray",
                              ["organisation_id", "desk_slug", "due_at", "document_id"],
                              unique=False, postgresql_include=["author_id", "doc_type"])


def downgrade() -> None:
    with op.batch_alter_table("waiting_desks", schema=None) as batch_op:
        batch_op.drop_index("ix_waiting_desks_tray")
        batch_op.drop_constraint(batch_op.f("fk_waiting_desks_author_id_users"),
                                 type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_waiting_desks_organisation_id_organisations"),
                                 type_="foreignkey")
        for name in reversed(COPIED):
            batch_op.drop_column(name)
