"""Clusters: grouping runs over the active reports, their clusters and memberships."""
