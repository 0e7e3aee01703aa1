"""Signatories: who joined which campaign, their encrypted identity fields, consents and the
hash-chained consent ledger.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere: the same variant as api.db.JsonColumn.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signatory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("member_number", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("identity_fields", JSON_TYPE, nullable=False),
        sa.Column("evidence_ids", JSON_TYPE, nullable=False),
        sa.Column("identity_hash", sa.String(length=64), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_cause", sa.String(length=32), nullable=True),
        sa.Column("campaign_filed_before_withdrawal_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_signatory_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_signatory_report_id_report")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatory")),
        sa.UniqueConstraint("campaign_id", "report_id", name=op.f("uq_signatory_campaign_id")),
        sa.UniqueConstraint(
            "campaign_id", "identity_hash", name=op.f("uq_signatory_campaign_person")
        ),
        sa.UniqueConstraint(
            "campaign_id", "member_number", name=op.f("uq_signatory_campaign_number")
        ),
    )
    with op.batch_alter_table("signatory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signatory_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signatory_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signatory_status"), ["status"], unique=False)

    op.create_table(
        "signatory_identity",
        sa.Column("signatory_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["signatory_id"],
            ["signatory.id"],
            name=op.f("fk_signatory_identity_signatory_id_signatory"),
        ),
        sa.PrimaryKeyConstraint("signatory_id", "field", name=op.f("pk_signatory_identity")),
    )
    with op.batch_alter_table("signatory_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signatory_identity_key_id"), ["key_id"], unique=False)

    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signatory_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_consent_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["signatory_id"], ["signatory.id"], name=op.f("fk_consent_signatory_id_signatory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.UniqueConstraint(
            "signatory_id", "purpose", "recipient", name=op.f("uq_consent_signatory_id")
        ),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_signatory_id"), ["signatory_id"], unique=False)

    op.create_table(
        "consent_ledger_entry",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", JSON_TYPE, nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consent.id"], name=op.f("fk_consent_ledger_entry_consent_id_consent")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_consent_ledger_entry")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_consent_ledger_entry_entry_hash")),
    )
    with op.batch_alter_table("consent_ledger_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_ledger_entry_consent_id"), ["consent_id"], unique=False
        )

    consent_ledger_head = op.create_table(
        "consent_ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ledger_head")),
    )
    # The one head row exists from the start, so concurrent appends only ever lock it.
    op.bulk_insert(consent_ledger_head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}])


def downgrade() -> None:
    op.drop_table("consent_ledger_head")
    with op.batch_alter_table("consent_ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_ledger_entry_consent_id"))

    op.drop_table("consent_ledger_entry")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_signatory_id"))
        batch_op.drop_index(batch_op.f("ix_consent_campaign_id"))

    op.drop_table("consent")
    with op.batch_alter_table("signatory_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signatory_identity_key_id"))

    op.drop_table("signatory_identity")
    with op.batch_alter_table("signatory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signatory_status"))
        batch_op.drop_index(batch_op.f("ix_signatory_report_id"))
        batch_op.drop_index(batch_op.f("ix_signatory_campaign_id"))

    op.drop_table("signatory")
