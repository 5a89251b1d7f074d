"""Reading every page: annexes, comments, and the pages shown to each user (mandatory reading).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import parapheur.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_annexes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("media_type", sa.String(length=120), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("signed_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_document_annexes_created_by_id_users")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name=op.f("fk_document_annexes_document_id_documents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_annexes")),
        sa.UniqueConstraint("document_id", "position", name="uq_document_annexes_position"),
    )
    with op.batch_alter_table("document_annexes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_annexes_document_id"), ["document_id"],
                              unique=False)
    op.create_table(
        "document_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("desk_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.Enum("public", "bureau", name="commentvisibility",
                                        native_enum=False, length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"],
                                name=op.f("fk_document_comments_author_id_users")),
        sa.ForeignKeyConstraint(["desk_id"], ["desks.id"],
                                name=op.f("fk_document_comments_desk_id_desks")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name=op.f("fk_document_comments_document_id_documents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_comments")),
    )
    with op.batch_alter_table("document_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_comments_document_id"), ["document_id"],
                              unique=False)
    op.create_table(
        "page_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("seen_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_page_views_user_id_users")),
        sa.ForeignKeyConstraint(["version_id"], ["document_versions.id"], ondelete="CASCADE",
                                name=op.f("fk_page_views_version_id_document_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_views")),
        sa.UniqueConstraint("user_id", "version_id", "page",
                            name="uq_page_views_user_version_page"),
    )
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_page_views_version_id"), ["version_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_views_version_id"))
    op.drop_table("page_views")
    with op.batch_alter_table("document_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_comments_document_id"))
    op.drop_table("document_comments")
    with op.batch_alter_table("document_annexes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_annexes_document_id"))
    op.drop_table("document_annexes")
