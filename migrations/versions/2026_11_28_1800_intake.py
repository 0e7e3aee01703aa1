"""Intake: lenders and aliases, reports and updates, evidence files, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 17:47:28.448338
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere: the same variant as api.db.JsonColumn.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("details", JSON_TYPE, nullable=False),
        sa.Column("chain_seq", sa.Integer(), nullable=True),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("event_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("chain_seq", name=op.f("uq_audit_event_chain_seq")),
        sa.UniqueConstraint("event_hash", name=op.f("uq_audit_event_event_hash")),
    )
    audit_chain_head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    # The one head row exists from the start, so concurrent sealers only ever lock it.
    op.bulk_insert(audit_chain_head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}])
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "lender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("name_zh", sa.String(length=120), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unified_social_credit_code", sa.String(length=18), nullable=True),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lender")),
        sa.UniqueConstraint("key", name=op.f("uq_lender_key")),
    )
    op.create_table(
        "lender_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=120), nullable=False),
        sa.Column("alias_key", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"],
            ["lender.id"],
            name=op.f("fk_lender_alias_lender_id_lender"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lender_alias")),
        sa.UniqueConstraint("alias_key", name=op.f("uq_lender_alias_alias_key")),
    )
    with op.batch_alter_table("lender_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lender_alias_lender_id"), ["lender_id"], unique=False)

    op.create_table(
        "report",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("receipt_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=True),
        sa.Column("lender_name_typed", sa.String(length=120), nullable=False),
        sa.Column("lender_name_key", sa.String(length=120), nullable=False),
        sa.Column("product", sa.String(length=120), nullable=True),
        sa.Column("categories", JSON_TYPE, nullable=False),
        sa.Column("source_labels", JSON_TYPE, nullable=True),
        sa.Column("title", sa.String(length=400), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("redaction_counts", JSON_TYPE, nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=True),
        sa.Column("first_incident_month", sa.String(length=7), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("contract_principal", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("net_received", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("payments", JSON_TYPE, nullable=True),
        sa.Column("schedule", JSON_TYPE, nullable=True),
        sa.Column("disclosed_apr_percent", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.Column("apr_nominal", sa.Float(), nullable=True),
        sa.Column("apr_effective", sa.Float(), nullable=True),
        sa.Column("is_above_24", sa.Boolean(), nullable=True),
        sa.Column("is_above_36", sa.Boolean(), nullable=True),
        sa.Column("is_above_4lpr", sa.Boolean(), nullable=True),
        sa.Column("loan_cost", JSON_TYPE, nullable=True),
        sa.Column("contact_attempts", JSON_TYPE, nullable=False),
        sa.Column("duplicate_of_id", sa.String(length=32), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["report.id"], name=op.f("fk_report_duplicate_of_id_report")
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lender.id"], name=op.f("fk_report_lender_id_lender")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint("receipt_hash", name=op.f("uq_report_receipt_hash")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_report_source_ref")),
    )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_lender_id"), ["lender_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_lender_name_key"), ["lender_name_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_report_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_submitted_at"), ["submitted_at"], unique=False)

    op.create_table(
        "evidence_file",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256_original", sa.String(length=64), nullable=False),
        sa.Column("sha256_redacted", sa.String(length=64), nullable=True),
        sa.Column("redaction_status", sa.String(length=32), nullable=False),
        sa.Column("capture_method", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report.id"],
            name=op.f("fk_evidence_file_report_id_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_file")),
    )
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_file_report_id"), ["report_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_evidence_file_sha256_original"), ["sha256_original"], unique=False
        )

    op.create_table(
        "report_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("redaction_counts", JSON_TYPE, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report.id"],
            name=op.f("fk_report_update_report_id_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_update")),
    )
    with op.batch_alter_table("report_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_update_report_id"), ["report_id"], unique=False)

    op.create_table(
        "evidence_custody_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence_file.id"],
            name=op.f("fk_evidence_custody_event_evidence_id_evidence_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_custody_event")),
    )
    with op.batch_alter_table("evidence_custody_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_custody_event_evidence_id"), ["evidence_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_custody_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_custody_event_evidence_id"))

    op.drop_table("evidence_custody_event")
    with op.batch_alter_table("report_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_update_report_id"))

    op.drop_table("report_update")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_file_sha256_original"))
        batch_op.drop_index(batch_op.f("ix_evidence_file_report_id"))

    op.drop_table("evidence_file")
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_submitted_at"))
        batch_op.drop_index(batch_op.f("ix_report_status"))
        batch_op.drop_index(batch_op.f("ix_report_region_code"))
        batch_op.drop_index(batch_op.f("ix_report_lender_name_key"))
        batch_op.drop_index(batch_op.f("ix_report_lender_id"))

    op.drop_table("report")
    with op.batch_alter_table("lender_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lender_alias_lender_id"))

    op.drop_table("lender_alias")
    op.drop_table("lender")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_subject_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_chain_head")
    op.drop_table("audit_event")
