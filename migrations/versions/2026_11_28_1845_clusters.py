"""Clusters: grouping runs, clusters, memberships and organizers' review decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:19:24.434238
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere: the same variant as api.db.JsonColumn.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clustering_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("input_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("progress_note", sa.String(length=120), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=True),
        sa.Column("cluster_count", sa.Integer(), nullable=True),
        sa.Column("duplicate_count", sa.Integer(), nullable=True),
        sa.Column("timings_s", JSON_TYPE, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clustering_run")),
    )
    with op.batch_alter_table("clustering_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clustering_run_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_clustering_run_one_running",
            ["status"],
            unique=True,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("cluster_key", sa.String(length=40), nullable=False),
        sa.Column("lender_key", sa.String(length=120), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("is_shown", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("keywords", JSON_TYPE, nullable=False),
        sa.Column("representative_report_ids", JSON_TYPE, nullable=False),
        sa.Column("statistics", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["clustering_run.id"],
            name=op.f("fk_cluster_run_id_clustering_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster")),
    )
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_cluster_key"), ["cluster_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_cluster_lender_key"), ["lender_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_cluster_run_id"), ["run_id"], unique=False)

    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("cluster_keys", JSON_TYPE, nullable=False),
        sa.Column("report_ids", JSON_TYPE, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("duplicate_of_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_user.id"],
            name=op.f("fk_review_decision_decided_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decision")),
    )
    op.create_table(
        "cluster_membership",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("cluster_key", sa.String(length=40), nullable=True),
        sa.Column("base_cluster_key", sa.String(length=40), nullable=True),
        sa.Column("duplicate_of_id", sa.String(length=32), nullable=True),
        sa.Column("assigned_by", sa.String(length=16), nullable=False),
        sa.Column("similarity", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report.id"],
            name=op.f("fk_cluster_membership_report_id_report"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["clustering_run.id"],
            name=op.f("fk_cluster_membership_run_id_clustering_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "report_id", name=op.f("pk_cluster_membership")),
    )
    with op.batch_alter_table("cluster_membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_membership_cluster_key"), ["cluster_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_membership_cluster_key"))

    op.drop_table("cluster_membership")
    op.drop_table("review_decision")
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_run_id"))
        batch_op.drop_index(batch_op.f("ix_cluster_lender_key"))
        batch_op.drop_index(batch_op.f("ix_cluster_cluster_key"))

    op.drop_table("cluster")
    with op.batch_alter_table("clustering_run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_clustering_run_one_running",
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index(batch_op.f("ix_clustering_run_status"))

    op.drop_table("clustering_run")
