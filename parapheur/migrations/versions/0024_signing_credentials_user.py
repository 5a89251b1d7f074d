"""The signing credentials indexed by their user: every request of a session reads its user's.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_credentials_user_id"), ["user_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signing_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_credentials_user_id"))
