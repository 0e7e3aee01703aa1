"""Imports every domain's models so that `Base.metadata` is complete (Alembic, tests)."""

from api.audit.models import AuditEvent
from api.db import Base
from api.evidence.models import EvidenceCustodyEvent, EvidenceFile
from api.lenders.models import Lender, LenderAlias
from api.reports.models import Report, ReportUpdate

__all__ = [
    "AuditEvent",
    "Base",
    "EvidenceCustodyEvent",
    "EvidenceFile",
    "Lender",
    "LenderAlias",
    "Report",
    "ReportUpdate",
]
