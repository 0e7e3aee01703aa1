"""Grievance clustering: per-lender groups of similar reports with stable ids.

Public entry points: `cluster_reports` (a full run), `assign_report` (place one new report with
the run's `ClusterIndex`) and `assign_reports` (several at once), `ClusteringParams`,
`ClusteringResult`, `ReviewDecision`, and the column names in `columns`. Reports that carry an
`embedding` column (one vector per report from a sentence-embedding model) are grouped by those
vectors; see `embedding_grouping`.
"""

from aggregation.clustering import columns
from aggregation.clustering.decisions import DECISION_KINDS, ReviewDecision
from aggregation.clustering.engine import ClusteringResult, cluster_reports
from aggregation.clustering.index import ClusterIndex, assign_report, assign_reports
from aggregation.clustering.params import ClusteringParams

__all__ = [
    "DECISION_KINDS",
    "ClusterIndex",
    "ClusteringParams",
    "ClusteringResult",
    "ReviewDecision",
    "assign_report",
    "assign_reports",
    "cluster_reports",
    "columns",
]
