"""Pure data functions for Gongsu: text normalization, PII redaction, loan cost and clustering.

Nothing in this package touches a database, the network, the environment, the clock or files:
callers pass data in (DataFrames, strings, dataclasses) and get data back. Callers outside this
package use the names exported here.
"""

from aggregation.clustering import (
    ClusterIndex,
    ClusteringParams,
    ClusteringResult,
    ReviewDecision,
    assign_report,
    assign_reports,
    cluster_reports,
    columns,
)

__all__ = [
    "ClusterIndex",
    "ClusteringParams",
    "ClusteringResult",
    "ReviewDecision",
    "assign_report",
    "assign_reports",
    "cluster_reports",
    "columns",
]
