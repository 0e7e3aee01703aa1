"""Grouping one lender's reports by caller-given embeddings (e.g. all-MiniLM-L6-v2 vectors).

Lexical features cannot see paraphrase ("card hasn't arrived" vs "still waiting on my card"), so
when every report carries a sentence embedding the engine groups by those vectors instead. Small
blocks are cut by the engine's average linkage at a cosine threshold; blocks of at least
`graph_min_reports` reports are split by Louvain community detection (scikit-network) on a graph
that links each report to its `neighbour_count` nearest reports at cosine
`neighbour_min_similarity` or more, weighted by cosine.

Chosen on the BANKING77 *train* split (10,003 queries, 77 intents, MiniLM embeddings; the test
split was not looked at): random samples, mean V-measure / BCubed F1 over the samples.

| reports per block (samples)              | graph + Louvain | avg linkage 0.55 | avg linkage 0.6 |
|------------------------------------------|-----------------|------------------|-----------------|
| 100 (8)                                  | 0.869 / 0.686   | 0.898 / 0.745    | 0.915 / 0.780   |
| 300 (5)                                  | 0.804 / 0.535   | 0.856 / 0.638    | 0.869 / 0.643   |
| 1,000 (3)                                | 0.802 / 0.562   | 0.822 / 0.575    | 0.833 / 0.557   |
| 3,080 (3)                                | 0.822 / 0.617   | 0.813 / 0.575    | 0.814 / 0.527   |
| 3,080 over 30 Zipf-sized lenders (3)     | 0.903 / 0.621   | 0.925 / 0.699    | 0.932 / 0.716   |

(Louvain: 10 neighbours, cosine 0.5, resolution 8; the blocked row used 8 neighbours and
resolution 6, its best.) A neighbour graph needs groups larger than the neighbour count, and
modularity's penalty for joining two reports grows as the block shrinks: in small blocks, with a
few reports per grievance, Louvain splits or mixes what one absolute threshold gets right. In big
blocks Louvain finds paraphrase communities that no single cut can (at 3,080 reports the best
average-linkage cut, 0.5–0.55, stays near F1 0.55–0.58). The switch sits at 2,000 reports:
average linkage still leads at 1,000, Louvain with the scaled resolution below leads at 2,000
(2 samples: V 0.827 / F1 0.616 against 0.813 / 0.563 at 0.55). Average linkage at 0.6 is the
precision-first cut (BCubed precision 0.81 / 0.80 at 100 reports and blocked, against 0.71 /
0.70 at 0.55). A check on 1,000 CFPB narratives outside the benchmark's sample, blocked by
company (label Company|Issue): average linkage 0.55 / 0.6 / 0.65 give V 0.920 / 0.927 / 0.934
and F1 0.722 / 0.737 / 0.747.

Louvain's settings came from a grid on three 3,080-query train samples: neighbours 6, 8, 10, 15
× cosine 0.4, 0.5 × resolution 2–10. Quality is flat from 6 to 15 neighbours and resolution 6 to
10 (V 0.813–0.827, F1 0.60–0.62); 10 neighbours, cosine 0.5, resolution 8 gives V 0.822, F1
0.617, BCubed precision 0.62 and recall 0.61, in 1–2 s per block. A fixed resolution splits the
same intents finer as the block grows (train, V / F1 at resolution 8: 2,000 queries 0.817 /
0.605, 6,000 0.817 / 0.585, all 10,003 0.813 / 0.552 with 178 groups): with a fixed number of
neighbours a big group's graph grows long and thin, and cheaper to cut. Scaling the resolution
as 8 × 3,000 / block size keeps the grain level: 0.827 / 0.616, 0.819 / 0.617 and 0.814 / 0.607
(102 groups).

Louvain is scikit-network's (compiled, on the sparse graph as it is built), which replaced
networkx's pure-Python one: on the BANKING77 train split, over 4 seeds, V / F1 at 2,000, 6,000
and 10,003 queries were 0.835 / 0.632, 0.819 / 0.615 and 0.812 / 0.606 with shuffled nodes
(networkx: 0.835 / 0.635, 0.812 / 0.597, 0.814 / 0.609, on the same graphs for 2,000 and
10,003), in 0.02–0.06 s instead of 0.4–3.6 s. Its optimisation tolerances (1e-3 to 1e-7) made
no difference there; unshuffled nodes scored up to 0.005 V lower.

Cost: the exact neighbour search is O(n² · dimensions) per block (10,003 queries: about 2.6 s,
most of it the matrix product and the partial sort); blocks of 100,000 reports would take
minutes, so the embedding path has not been run at the lexical path's scale.

Deterministic: exact neighbour search over rows in canonical order, a symmetric graph, Louvain
with its node order shuffled by `seed`, groups numbered by their first row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sknetwork.clustering import Louvain

from aggregation.clustering.grouping import average_linkage_labels, first_appearance_labels
from aggregation.clustering.params import ClusteringParams

# Similarity-matrix cells computed at once (float32): 64 MB whatever the block size.
_SIMILARITY_CELLS_PER_CHUNK = 2**24


@dataclass(frozen=True)
class EmbeddingGroupingSettings:
    graph_min_reports: int
    neighbour_count: int
    neighbour_min_similarity: float
    resolution: float
    resolution_reports: int
    linkage_min_similarity: float
    seed: int


def unit_embeddings(values: pd.Series) -> np.ndarray | None:
    """Rows of `values` (one float vector per report) as unit float32 vectors.

    None when every value is missing; a ValueError says what is wrong when only some are, when
    lengths differ, or when a vector is not finite or is all zeros.
    """
    is_missing = values.map(_is_missing).to_numpy(dtype=bool)
    if is_missing.all():
        return None
    if is_missing.any():
        raise ValueError(
            "embedding must be given for every report or for none: "
            f"{int(is_missing.sum())} of {is_missing.size} reports lack one"
        )
    lengths = values.map(lambda value: np.asarray(value).size).to_numpy()
    if np.unique(lengths).size != 1 or lengths[0] == 0:
        raise ValueError(
            f"embedding vectors must all have one length, got lengths {sorted(set(lengths))[:5]}"
        )
    matrix = np.vstack([np.asarray(value, dtype=np.float64).ravel() for value in values])
    norms = np.linalg.norm(matrix, axis=1)
    if not np.isfinite(matrix).all() or (norms == 0).any():
        raise ValueError("embedding vectors must be finite and not all zero")
    return (matrix / norms[:, None]).astype(np.float32)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and np.isnan(value)


def neighbour_graph(
    vectors: np.ndarray, neighbour_count: int, min_similarity: float
) -> sparse.csr_matrix:
    """Symmetric cosine-weighted graph of each row's nearest neighbours at `min_similarity`+.

    Exact search by blocks of rows: a lender's block is at most tens of thousands of reports,
    where one matrix product per block beats building an approximate index.
    """
    report_count = vectors.shape[0]
    count = min(neighbour_count, report_count - 1)
    if count < 1:
        return sparse.csr_matrix((report_count, report_count), dtype=np.float64)
    sources, targets, weights = [], [], []
    rows_per_chunk = max(1, _SIMILARITY_CELLS_PER_CHUNK // report_count)
    for start in range(0, report_count, rows_per_chunk):
        rows = np.arange(start, min(start + rows_per_chunk, report_count))
        similarity = vectors[rows] @ vectors.T
        similarity[np.arange(rows.size), rows] = -np.inf
        nearest = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
        nearest_similarity = np.take_along_axis(similarity, nearest, axis=1)
        is_kept = nearest_similarity >= min_similarity
        sources.append(np.repeat(rows, count)[is_kept.ravel()])
        targets.append(nearest[is_kept])
        weights.append(nearest_similarity[is_kept].astype(np.float64))
    directed = sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
        shape=(report_count, report_count),
    )
    # An edge kept from either side is kept once, with the larger (identical up to rounding)
    # of its two computed similarities.
    return sparse.csr_matrix(directed.maximum(directed.T))


def group_block_by_embeddings(
    vectors: np.ndarray, settings: EmbeddingGroupingSettings
) -> np.ndarray:
    """Label each unit vector of one lender's block (rows in canonical order).

    Blocks under `graph_min_reports` are cut by average linkage at `linkage_min_similarity`,
    larger ones by Louvain on the neighbour graph. Labels are numbered in order of each group's
    first row, so they depend only on the rows.
    """
    report_count = vectors.shape[0]
    if report_count < settings.graph_min_reports:
        return average_linkage_labels(
            vectors.astype(np.float64), np.ones(report_count), settings.linkage_min_similarity
        )
    graph = neighbour_graph(vectors, settings.neighbour_count, settings.neighbour_min_similarity)
    if graph.nnz == 0:
        # No two reports are near enough to link (scikit-network refuses an empty graph).
        return np.arange(report_count, dtype=np.int64)
    # With a fixed number of neighbours a big group's graph is long and thin, so a fixed
    # resolution cuts it finer the larger the block; inverse scaling keeps the grain level.
    resolution = settings.resolution * settings.resolution_reports / report_count
    communities = Louvain(
        resolution=resolution, shuffle_nodes=True, random_state=settings.seed
    ).fit_predict(graph)
    return first_appearance_labels(communities)


def embedding_grouping_settings(params: ClusteringParams) -> EmbeddingGroupingSettings:
    return EmbeddingGroupingSettings(
        graph_min_reports=params.embedding_graph_min_reports,
        neighbour_count=params.embedding_neighbour_count,
        neighbour_min_similarity=params.embedding_neighbour_min_similarity,
        resolution=params.embedding_resolution,
        resolution_reports=params.embedding_resolution_reports,
        linkage_min_similarity=params.embedding_linkage_min_similarity,
        seed=params.seed,
    )
