"""PES returns applied once (pes_return_files) and re-issued bordereaux (replaces_id)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import parapheur.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pes_return_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("pes_name", sa.String(length=200), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("imported_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"],
                                name=op.f("fk_pes_return_files_actor_id_users")),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_pes_return_files_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pes_return_files")),
        sa.UniqueConstraint("organisation_id", "kind", "sha256",
                            name="uq_pes_return_files_sha256"),
    )
    with op.batch_alter_table("pes_return_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pes_return_files_organisation_id"),
                              ["organisation_id"], unique=False)
    with op.batch_alter_table("bordereaux_mandats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_bordereaux_mandats_replaces_id"), ["replaces_id"],
                              unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_bordereaux_mandats_replaces_id_bordereaux_mandats"),
            "bordereaux_mandats", ["replaces_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("bordereaux_mandats", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_bordereaux_mandats_replaces_id_bordereaux_mandats"),
            type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_bordereaux_mandats_replaces_id"))
        batch_op.drop_column("replaces_id")
    with op.batch_alter_table("pes_return_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pes_return_files_organisation_id"))
    op.drop_table("pes_return_files")
