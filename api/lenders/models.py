from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.db import Base


class LenderKind(StrEnum):
    bank = "bank"
    consumer_finance = "consumer_finance"
    small_loan = "small_loan"
    platform = "platform"
    guarantor = "guarantor"
    collector = "collector"


class Lender(Base):
    __tablename__ = "lender"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable public key (from the English name) used by reports, clusters and URLs.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    kind: Mapped[LenderKind] = mapped_column(String(32))
    unified_social_credit_code: Mapped[str | None] = mapped_column(String(18))
    notes: Mapped[str | None] = mapped_column(String(1000))

    aliases: Mapped[list["LenderAlias"]] = relationship(back_populates="lender", lazy="raise")


class LenderAlias(Base):
    """A name people use for a lender: its own names, app brands, misspellings."""

    __tablename__ = "lender_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lender.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(120))
    # normalize_name(alias): unique so that one typed name resolves to one lender.
    alias_key: Mapped[str] = mapped_column(String(120), unique=True)

    lender: Mapped[Lender] = relationship(back_populates="aliases", lazy="raise")
