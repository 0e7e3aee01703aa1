"""Parameters of a clustering run; recorded with each run so its output can be reproduced."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClusteringParams:
    """Every knob of the engine. Defaults are calibrated in bench/README.md (## clustering).

    Similarities are cosines between LSA vectors of masked report text; a group's similarity to
    another is the average over all pairs of their members (average linkage).
    """

    # Two groups merge while their members are on average at least this similar.
    min_similarity: float = 0.3
    # Clusters with fewer counted members exist and keep ids but are not shown on the dashboard.
    min_cluster_size: int = 3
    # Incremental assignment: below this share of its TF-IDF norm inside the LSA space a report
    # is mostly made of unseen terms, and is left for the next run instead of being placed.
    min_coverage: float = 0.25
    lsa_dimensions: int = 128
    lsa_sample_size: int = 20_000
    max_kept_columns: int = 200_000
    # Long narratives are cut: their first few thousand characters state the grievance.
    max_text_chars: int = 3000
    direct_linkage_max_reports: int = 5000
    partition_size: int = 2000
    micro_group_size: int = 8
    max_linkage_nodes: int = 10_000
    duplicate_min_jaccard: float = 0.7
    duplicate_shingle_chars: int = 5
    duplicate_min_shingles: int = 30
    minhash_bins: int = 128
    minhash_rows_per_band: int = 4
    # Used only when reports carry an `embedding` column (see embedding_grouping): a lender's
    # block under `embedding_graph_min_reports` reports is cut by average linkage at
    # `embedding_linkage_min_similarity`; a larger one links each report to its
    # `embedding_neighbour_count` nearest at cosine `embedding_neighbour_min_similarity` or more
    # and Louvain splits that graph at resolution `embedding_resolution` ×
    # `embedding_resolution_reports` / (reports in the block).
    embedding_graph_min_reports: int = 2000
    embedding_linkage_min_similarity: float = 0.6
    embedding_neighbour_count: int = 10
    embedding_neighbour_min_similarity: float = 0.5
    embedding_resolution: float = 8.0
    embedding_resolution_reports: int = 3000
    # Incremental assignment with embeddings: the least cosine between a new report and the
    # direction of its nearest cluster's centroid. At 0.65, 1,000 held-out BANKING77 train
    # queries (88% placed) joined their intent's cluster as often as the run's own members did
    # (0.72 vs 0.715); at 0.6, 94% placed, 0.70.
    embedding_assignment_min_similarity: float = 0.65
    keyword_count: int = 8
    representative_count: int = 3
    seed: int = 0
    # Worker processes for the per-report text pass; the output does not depend on it.
    n_jobs: int = 1
    chunk_size: int = 10_000

    def __post_init__(self) -> None:
        problems = []
        if not -1.0 <= self.min_similarity <= 1.0:
            problems.append("min_similarity must be within [-1, 1]")
        for name in (
            "embedding_linkage_min_similarity",
            "embedding_neighbour_min_similarity",
            "embedding_assignment_min_similarity",
        ):
            if not -1.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be within [-1, 1]")
        if not self.embedding_resolution > 0:
            problems.append("embedding_resolution must be positive")
        if not 0.0 < self.duplicate_min_jaccard <= 1.0:
            problems.append("duplicate_min_jaccard must be within (0, 1]")
        if self.minhash_bins <= 0 or self.minhash_bins & (self.minhash_bins - 1):
            problems.append("minhash_bins must be a power of two")
        if self.minhash_rows_per_band <= 0 or self.minhash_bins % self.minhash_rows_per_band:
            problems.append("minhash_rows_per_band must divide minhash_bins")
        positive = (
            "min_cluster_size",
            "lsa_dimensions",
            "lsa_sample_size",
            "max_kept_columns",
            "max_text_chars",
            "direct_linkage_max_reports",
            "partition_size",
            "micro_group_size",
            "max_linkage_nodes",
            "duplicate_shingle_chars",
            "duplicate_min_shingles",
            "embedding_graph_min_reports",
            "embedding_neighbour_count",
            "embedding_resolution_reports",
            "keyword_count",
            "representative_count",
            "n_jobs",
            "chunk_size",
        )
        problems.extend(f"{name} must be positive" for name in positive if getattr(self, name) < 1)
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, float | int]:
        """Plain values to record with a clustering run."""
        return asdict(self)
