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
from api.exhibits.models import BatesAssignment, ExhibitBundle
from api.lenders.models import Lender, LenderAlias
from api.reports.models import Report, ReportUpdate
from api.signatories.models import (
    Consent,
    ConsentLedgerEntry,
    ConsentLedgerHead,
    Signatory,
    SignatoryIdentity,
)
from api.staff.models import StaffSession, StaffUser

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "BatesAssignment",
    "Campaign",
    "CampaignCluster",
    "CampaignEvent",
    "CampaignLawyer",
    "Cluster",
    "ClusterMembership",
    "ClusteringRun",
    "Consent",
    "ConsentLedgerEntry",
    "ConsentLedgerHead",
    "Base",
    "EvidenceCustodyEvent",
    "EvidenceFile",
    "ExhibitBundle",
    "FactPatternVersion",
    "Lender",
    "LenderAlias",
    "Report",
    "ReportUpdate",
    "ReviewDecision",
    "Signatory",
    "SignatoryIdentity",
    "StaffSession",
    "StaffUser",
]
