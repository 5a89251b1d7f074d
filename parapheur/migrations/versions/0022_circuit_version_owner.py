"""A circuit version belongs to the organisation that uploaded it.

`circuit_versions.organisation_id`: the organisation whose administrator uploaded the version (only
it lists, shows and activates it); NULL for a shipped circuit of the workflows directory frozen when
a document started (every organisation's, as before). The unique (circuit_id, version) becomes
unique per organisation (and among the shipped ones).

Existing rows are filled this way:
1. a version activated by organisations belongs to the first one that activated it (its earliest
   `circuit_activations` row); each other organisation that activated it gets its own copy (same
   text), and its activations and documents are pointed at that copy;
2. otherwise a version named by a `circuit:version:uploaded` audit event belongs to the home
   organisation of that event's actor;
3. otherwise it stays NULL: a shipped circuit frozen when a document started, shared as today.

Downgrade merges the copies back into the oldest row of each (circuit_id, version).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

versions = sa.table("circuit_versions", sa.column("id"), sa.column("organisation_id"),
                    sa.column("circuit_id"), sa.column("version"), sa.column("title"),
                    sa.column("source"), sa.column("loaded_at"))
activations = sa.table("circuit_activations", sa.column("id"), sa.column("organisation_id"),
                       sa.column("circuit_version_id"))
documents = sa.table("documents", sa.column("id"), sa.column("organisation_id"),
                     sa.column("circuit_version_id"))
events = sa.table("audit_events", sa.column("name"), sa.column("actor_id"),
                  sa.column("details"))
users = sa.table("users", sa.column("id"), sa.column("organisation_id"))  # the home one


def upgrade() -> None:
    with op.batch_alter_table("circuit_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_circuit_versions_organisation_id_organisations"), "organisations",
            ["organisation_id"], ["id"])
        batch_op.drop_constraint("uq_circuit_versions_id_version", type_="unique")
    bind = op.get_bind()
    owners: dict[int, int] = {}
    # 1. The organisations that activated each version, first activation first.
    activated: dict[int, list[int]] = {}
    for version_id, organisation_id in bind.execute(
            sa.select(activations.c.circuit_version_id, activations.c.organisation_id)
            .order_by(activations.c.id)).all():
        orgs = activated.setdefault(version_id, [])
        if organisation_id not in orgs:
            orgs.append(organisation_id)
    for version_id, orgs in activated.items():
        owners[version_id] = orgs[0]
        row = bind.execute(sa.select(versions).where(versions.c.id == version_id)).one()
        for other in orgs[1:]:
            copy_id = bind.execute(versions.insert().values(
                organisation_id=other, circuit_id=row.circuit_id, version=row.version,
                title=row.title, source=row.source, loaded_at=row.loaded_at)
                .returning(versions.c.id)).scalar_one()
            for table in (activations, documents):
                bind.execute(table.update().where(
                    table.c.circuit_version_id == version_id,
                    table.c.organisation_id == other).values(circuit_version_id=copy_id))
    # 2. The uploader's home organisation, for a version never activated.
    homes = dict(bind.execute(sa.select(users.c.id, users.c.organisation_id)).all())
    for actor_id, details in bind.execute(sa.select(events.c.actor_id, events.c.details).where(
            events.c.name == "circuit:version:uploaded")).all():
        if isinstance(details, str):
            details = json.loads(details)
        version_id = (details or {}).get("version_id")
        if version_id is not None and version_id not in owners and actor_id in homes:
            owners[version_id] = homes[actor_id]
    for version_id, organisation_id in owners.items():
        bind.execute(versions.update().where(versions.c.id == version_id)
                     .values(organisation_id=organisation_id))
    # 3. The others stay NULL: shipped circuits.
    op.create_index("uq_circuit_versions_shipped", "circuit_versions", ["circuit_id", "version"],
                    unique=True, sqlite_where=sa.text("organisation_id IS NULL"),
                    postgresql_where=sa.text("organisation_id IS NULL"))
    op.create_index("uq_circuit_versions_organisation", "circuit_versions",
                    ["organisation_id", "circuit_id", "version"], unique=True,
                    sqlite_where=sa.text("organisation_id IS NOT NULL"),
                    postgresql_where=sa.text("organisation_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_circuit_versions_organisation", table_name="circuit_versions")
    op.drop_index("uq_circuit_versions_shipped", table_name="circuit_versions")
    bind = op.get_bind()
    kept: dict[tuple[str, str], int] = {}
    for row in bind.execute(sa.select(versions.c.id, versions.c.circuit_id, versions.c.version)
                            .order_by(versions.c.id)).all():
        first = kept.setdefault((row.circuit_id, row.version), row.id)
        if first != row.id:
            for table in (activations, documents):
                bind.execute(table.update().where(table.c.circuit_version_id == row.id)
                             .values(circuit_version_id=first))
            bind.execute(versions.delete().where(versions.c.id == row.id))
    with op.batch_alter_table("circuit_versions", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_circuit_versions_id_version",
                                          ["circuit_id", "version"])
        batch_op.drop_constraint(batch_op.f("fk_circuit_versions_organisation_id_organisations"),
                                 type_="foreignkey")
        batch_op.drop_column("organisation_id")
