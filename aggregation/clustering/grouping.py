"""Grouping the reports of one lender: average linkage cut at a similarity threshold.

Why average linkage with a threshold: the number of grievances per lender is unknown, so it must
follow from "how alike must two reports be to share a complaint" rather than from a given k;
average linkage (UPGMA) merges two groups only when their members are, on average, at least that
similar, which keeps groups pure (merging two different grievances is worse than splitting one)
without the chaining of single linkage. On unit vectors the average similarity between two groups
equals the dot product of their (unnormalized) mean vectors, so groups can be summarized by
mean + size and the cut stays exact.

Small blocks (up to `direct_linkage_max_reports`) are linked point by point. Larger blocks are
first cut into coarse partitions (k-means, about `partition_size` reports each) and then into tight
micro-groups (k-means inside each partition, about `micro_group_size` reports each); the
micro-groups' means and sizes are then linked with the same average-linkage rule, so the cost is
O(n·d) for k-means plus O(m²) for m ≤ `max_linkage_nodes` micro-groups instead of O(n²).
bench/README.md has the measured quality of both paths on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class GroupingSettings:
    min_similarity: float
    direct_linkage_max_reports: int
    partition_size: int
    micro_group_size: int
    max_linkage_nodes: int
    seed: int


def average_linkage_labels(
    means: np.ndarray, weights: np.ndarray, min_similarity: float
) -> np.ndarray:
    """Cut an average-linkage (UPGMA) tree of weighted groups at `min_similarity`.

    `means` are the unnormalized means of unit vectors of each starting group (a single report is
    its own unit vector, weight 1). Returns a label per starting group, numbered in order of each
    label's first row. Uses the nearest-neighbour chain: average linkage is reducible, so merging
    reciprocal nearest neighbours in any order yields the same tree as the global greedy order,
    and a chain whose best similarity is below the threshold can never merge again.
    """
    node_count = means.shape[0]
    if node_count == 0:
        return np.zeros(0, dtype=np.int64)
    dtype = np.float64 if node_count <= 4000 else np.float32
    similarity = (means @ means.T).astype(dtype, copy=False)
    np.fill_diagonal(similarity, -np.inf)
    size = weights.astype(np.float64).copy()
    parent = np.arange(node_count)
    is_open = np.ones(node_count, dtype=bool)
    next_start = 0
    chain: list[int] = []
    while True:
        if not chain:
            while next_start < node_count and not is_open[next_start]:
                next_start += 1
            if next_start >= node_count:
                break
            chain.append(next_start)
        current = chain[-1]
        row = similarity[current]
        nearest = int(np.argmax(row))
        best = row[nearest]
        # On ties keep pointing back along the chain, which guarantees reciprocity is found.
        if len(chain) > 1 and row[chain[-2]] >= best:
            nearest = chain[-2]
            best = row[nearest]
        if not best >= min_similarity:
            for node in chain:
                _close(similarity, is_open, node)
            chain.clear()
            continue
        if len(chain) > 1 and nearest == chain[-2]:
            chain.pop()
            chain.pop()
            kept, absorbed = min(current, nearest), max(current, nearest)
            merged_row = (size[kept] * similarity[kept] + size[absorbed] * similarity[absorbed]) / (
                size[kept] + size[absorbed]
            )
            size[kept] += size[absorbed]
            parent[absorbed] = kept
            _close(similarity, is_open, absorbed)
            merged_row[~is_open] = -np.inf
            merged_row[kept] = -np.inf
            similarity[kept] = merged_row
            similarity[:, kept] = merged_row
        else:
            chain.append(nearest)
    return first_appearance_labels(_resolve_roots(parent))


def _close(similarity: np.ndarray, is_open: np.ndarray, node: int) -> None:
    is_open[node] = False
    similarity[node] = -np.inf
    similarity[:, node] = -np.inf


def _resolve_roots(parent: np.ndarray) -> np.ndarray:
    root = parent.copy()
    while True:
        next_root = root[root]
        if np.array_equal(next_root, root):
            return root
        root = next_root


def first_appearance_labels(keys: np.ndarray) -> np.ndarray:
    """Labels 0, 1, … for the distinct `keys`, numbered in order of each key's first row."""
    _, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(first_index.size, dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(first_index.size)
    return rank[inverse]


def group_means(vectors: np.ndarray, labels: np.ndarray, group_count: int) -> np.ndarray:
    sums = np.zeros((group_count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, vectors)
    counts = np.bincount(labels, minlength=group_count).astype(np.float64)
    return sums / counts[:, None]


def _kmeans_labels(
    vectors: np.ndarray, cluster_count: int, seed: int, mini_batch: bool = False
) -> np.ndarray:
    if cluster_count >= vectors.shape[0]:
        return np.arange(vectors.shape[0])
    if cluster_count <= 1:
        return np.zeros(vectors.shape[0], dtype=np.int64)
    # Random seeding: k-means++ seeding cost 15x the iterations here, and the final average
    # linkage repairs what a rougher start leaves. One OpenMP thread: k-means sums partial
    # centers across threads in arbitrary order, and last-bit differences could flip a tie.
    with threadpool_limits(limits=1, user_api="openmp"):
        if mini_batch:
            model = MiniBatchKMeans(
                n_clusters=cluster_count,
                init="random",
                n_init=1,
                batch_size=4096,
                max_iter=10,
                random_state=seed,
            )
        else:
            model = KMeans(
                n_clusters=cluster_count, init="random", n_init=1, max_iter=20, random_state=seed
            )
        return model.fit_predict(vectors).astype(np.int64)


def micro_groups(vectors: np.ndarray, settings: GroupingSettings) -> np.ndarray:
    """Tight k-means micro-groups of a large block: coarse partitions, then groups inside each."""
    report_count = vectors.shape[0]
    group_size = max(
        settings.micro_group_size, math.ceil(report_count / settings.max_linkage_nodes)
    )
    # Partitions only bound the cost of the micro k-means; the final linkage runs over the
    # micro-groups of all partitions, so a grievance cut by a partition boundary is rejoined.
    partition_labels = _kmeans_labels(
        vectors, math.ceil(report_count / settings.partition_size), settings.seed, mini_batch=True
    )
    labels = np.empty(report_count, dtype=np.int64)
    next_label = 0
    for partition in range(int(partition_labels.max()) + 1):
        rows = np.flatnonzero(partition_labels == partition)
        if rows.size == 0:
            continue
        local = _kmeans_labels(vectors[rows], math.ceil(rows.size / group_size), settings.seed)
        labels[rows] = local + next_label
        next_label += int(local.max()) + 1
    return first_appearance_labels(labels)


def group_block(vectors: np.ndarray, settings: GroupingSettings) -> np.ndarray:
    """Label each unit vector of one lender's block (rows in canonical order)."""
    report_count = vectors.shape[0]
    if report_count <= settings.direct_linkage_max_reports:
        return average_linkage_labels(
            vectors.astype(np.float64), np.ones(report_count), settings.min_similarity
        )
    micro = micro_groups(vectors, settings)
    micro_count = int(micro.max()) + 1
    means = group_means(vectors, micro, micro_count)
    sizes = np.bincount(micro, minlength=micro_count)
    return average_linkage_labels(means, sizes, settings.min_similarity)[micro]
