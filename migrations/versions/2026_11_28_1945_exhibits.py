"""Exhibits: bundle builds and the Bates page numbers given to evidence files.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exhibit_bundle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("progress_note", sa.String(length=120), nullable=False),
        sa.Column("file_path", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("inputs_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("consent_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_exhibit_bundle_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff_user.id"],
            name=op.f("fk_exhibit_bundle_requested_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibit_bundle")),
    )
    with op.batch_alter_table("exhibit_bundle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exhibit_bundle_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_exhibit_bundle_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_exhibit_bundle_one_active",
            ["campaign_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            sqlite_where=sa.text("status IN ('queued', 'running')"),
        )

    op.create_table(
        "bates_assignment",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_code", sa.String(length=16), nullable=False),
        sa.Column("member_code", sa.String(length=16), nullable=False),
        sa.Column("first_page", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_bates_assignment_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence_file.id"],
            name=op.f("fk_bates_assignment_evidence_id_evidence_file"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "evidence_id", name=op.f("pk_bates_assignment")),
        sa.UniqueConstraint(
            "campaign_id", "first_page", name=op.f("uq_bates_assignment_campaign_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("bates_assignment")
    with op.batch_alter_table("exhibit_bundle", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_exhibit_bundle_one_active",
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            sqlite_where=sa.text("status IN ('queued', 'running')"),
        )
        batch_op.drop_index(batch_op.f("ix_exhibit_bundle_status"))
        batch_op.drop_index(batch_op.f("ix_exhibit_bundle_campaign_id"))

    op.drop_table("exhibit_bundle")
