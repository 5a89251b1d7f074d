"""A territory on one instance: memberships of several organisations, desk codes unique per
organisation, each organisation's OpenID Connect provider and the identities linked to accounts,
and one audit chain per organisation

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import parapheur.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE",
                                name=op.f("fk_organisation_memberships_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_organisation_memberships_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_memberships")),
        sa.UniqueConstraint("user_id", "organisation_id",
                            name="uq_organisation_memberships_user_org"),
    )
    with op.batch_alter_table("organisation_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_memberships_organisation_id"),
                              ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisation_memberships_user_id"), ["user_id"],
                              unique=False)
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=500), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("match_by", sa.String(length=10), nullable=False),
        sa.Column("create_accounts", sa.Boolean(), nullable=False),
        sa.Column("local_passwords", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE",
                                name=op.f("fk_identity_providers_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_identity_providers_organisation_id")),
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", parapheur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", parapheur.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_sso_identities_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_identities")),
        sa.UniqueConstraint("issuer", "subject", name="uq_sso_identities_issuer_subject"),
    )
    with op.batch_alter_table("sso_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_identities_user_id"), ["user_id"], unique=False)
    # Every commune has its « maire » desk: a desk code is unique within its organisation.
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_desks_slug", type_="unique")
        batch_op.create_unique_constraint("uq_desks_organisation_slug", ["organisation_id", "slug"])
    # One chain per organisation; the events so far stay in the instance's chain 0, whose head
    # (the single row id 1 until now) becomes row 0.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_audit_events_seq", type_="unique")
        batch_op.create_unique_constraint("uq_audit_events_chain_seq", ["chain", "seq"])
        batch_op.create_index(batch_op.f("ix_audit_events_chain"), ["chain"], unique=False)
    op.execute("UPDATE audit_chain_head SET id = 0 WHERE id = 1")


def _one_chain() -> None:
    """Merge the chains into one, in the order events were written, and hash it again the way
    the single chain did (without the chain in the content). A development operation: the
    journal's hashes are rewritten, which no production downgrade should ever need."""
    from datetime import UTC

    from parapheur.audit.chain import GENESIS_HASH, canonical_json, chain_hash

    connection = op.get_bind()
    events = sa.table("audit_events", sa.column("id"), sa.column("seq"),
                      sa.column("occurred_at", parapheur.db.UTCDateTime(timezone=True)),
                      sa.column("name"), sa.column("actor_id"), sa.column("actor_label"),
                      sa.column("document_id"), sa.column("details", sa.JSON()),
                      sa.column("prev_hash"), sa.column("hash"))
    rows = connection.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    previous = GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        content = {"seq": seq,
                   "occurred_at": row["occurred_at"].astimezone(UTC).isoformat(
                       timespec="microseconds"),
                   "name": row["name"], "actor_id": row["actor_id"],
                   "actor_label": row["actor_label"], "document_id": row["document_id"],
                   "details": row["details"]}
        digest = chain_hash(previous, canonical_json(content))
        connection.execute(events.update().where(events.c.id == row["id"])
                           .values(seq=seq, prev_hash=previous, hash=digest))
        previous = digest
    heads = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    connection.execute(heads.delete())
    if rows:
        connection.execute(heads.insert().values(id=1, seq=len(rows), hash=previous))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_chain"))
        batch_op.drop_constraint("uq_audit_events_chain_seq", type_="unique")
    _one_chain()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_audit_events_seq", ["seq"])
        batch_op.drop_column("chain")
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_desks_organisation_slug", type_="unique")
        batch_op.create_unique_constraint("uq_desks_slug", ["slug"])
    with op.batch_alter_table("sso_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_identities_user_id"))
    op.drop_table("sso_identities")
    op.drop_table("identity_providers")
    with op.batch_alter_table("organisation_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_organisation_memberships_organisation_id"))
    op.drop_table("organisation_memberships")
