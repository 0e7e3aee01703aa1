"""Campaigns: campaigns over cluster keys, assigned lawyers, status events, fact pattern versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere: the same variant as api.db.JsonColumn.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("respondents", JSON_TYPE, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_user.id"], name=op.f("fk_campaign_created_by_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("slug", name=op.f("uq_campaign_slug")),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_status"), ["status"], unique=False)

    op.create_table(
        "campaign_cluster",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("cluster_key", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_cluster_campaign_id_campaign")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "cluster_key", name=op.f("pk_campaign_cluster")),
    )

    op.create_table(
        "campaign_lawyer",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["staff_user.id"],
            name=op.f("fk_campaign_lawyer_assigned_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_lawyer_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_campaign_lawyer_staff_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "staff_user_id", name=op.f("pk_campaign_lawyer")),
    )
    with op.batch_alter_table("campaign_lawyer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_lawyer_staff_user_id"), ["staff_user_id"], unique=False
        )

    op.create_table(
        "fact_pattern_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["staff_user.id"],
            name=op.f("fk_fact_pattern_version_approved_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_fact_pattern_version_campaign_id_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_user.id"],
            name=op.f("fk_fact_pattern_version_created_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fact_pattern_version")),
        sa.UniqueConstraint(
            "campaign_id", "language", "number", name=op.f("uq_fact_pattern_version_campaign_id")
        ),
    )
    with op.batch_alter_table("fact_pattern_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fact_pattern_version_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "campaign_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("fact_pattern_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["staff_user.id"], name=op.f("fk_campaign_event_actor_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_event_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["fact_pattern_version_id"],
            ["fact_pattern_version.id"],
            name=op.f("fk_campaign_event_fact_pattern_version_id_fact_pattern_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_event")),
    )
    with op.batch_alter_table("campaign_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_event_campaign_id"), ["campaign_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_event_campaign_id"))

    op.drop_table("campaign_event")
    with op.batch_alter_table("fact_pattern_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_pattern_version_campaign_id"))

    op.drop_table("fact_pattern_version")
    with op.batch_alter_table("campaign_lawyer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_lawyer_staff_user_id"))

    op.drop_table("campaign_lawyer")
    op.drop_table("campaign_cluster")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_status"))

    op.drop_table("campaign")
