"""Imports every domain's models so that `Base.metadata` is complete (Alembic, tests)."""

from api.audit.models import AuditChainHead, AuditEvent
from api.campaigns.models import (
    Campaign,
    CampaignCluster,
    CampaignEvent,
    CampaignLawyer,
    FactPatternVersion,
)
from api.clusters.models import Cluster, ClusteringRun, ClusterMembership, ReviewDecision
from api.db import Base
from api.evidence.models import EvidenceCustodyEvent, EvidenceFile
from api.lenders.models import Lender, LenderAlias
from api.reports.models import Report, ReportUpdate
from api.staff.models import StaffSession, StaffUser

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "Campaign",
    "CampaignCluster",
    "CampaignEvent",
    "CampaignLawyer",
    "Cluster",
    "ClusterMembership",
    "ClusteringRun",
    "Base",
    "EvidenceCustodyEvent",
    "EvidenceFile",
    "FactPatternVersion",
    "Lender",
    "LenderAlias",
    "Report",
    "ReportUpdate",
    "ReviewDecision",
    "StaffSession",
    "StaffUser",
]
