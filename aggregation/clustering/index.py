"""In-memory index of a clustering run for placing one new report without re-running everything.

The index keeps, per lender, the matrix of cluster centroids (unnormalized means of the members'
unit LSA vectors), so placing a report costs one projection plus one matrix-vector product over
that lender's clusters, independent of the total number of reports. A run grouped by caller-given
embeddings keeps unit centroid directions in that embedding space instead, and a new report must
then bring its own embedding from the same model. Copies are found with the run's MinHash band
keys, kept sorted per band for binary search. Everything is numpy arrays, strings and the fitted
`FeatureSpace`, so the index pickles as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aggregation.clustering import columns as col
from aggregation.clustering.duplicates import (
    ShingleSettings,
    band_keys,
    estimated_jaccard,
    lender_hash,
    shingle_text,
    signatures,
)
from aggregation.clustering.features import (
    FeatureSpace,
    LenderNameMasker,
    clustering_text,
    term_hasher,
)
from aggregation.clustering.params import ClusteringParams


@dataclass(frozen=True)
class LenderCentroids:
    cluster_ids: np.ndarray  # str, one per row of `centroids`
    centroids: np.ndarray  # float32 (clusters × dimensions)


@dataclass(frozen=True)
class CopyIndex:
    """MinHash signatures of indexed reports with their band keys sorted per band."""

    report_ids: np.ndarray  # str per indexed row
    original_ids: np.ndarray  # str: the row's original (itself when it is not a duplicate)
    cluster_ids: np.ndarray  # str: the original's cluster
    signatures: np.ndarray  # uint32 (rows × bins)
    sorted_band_keys: np.ndarray  # uint64 (bands × rows), each band sorted
    row_of_sorted_key: np.ndarray  # int32 (bands × rows)


@dataclass(frozen=True)
class ClusterIndex:
    params: ClusteringParams
    feature_space: FeatureSpace
    lender_names: Mapping[str, tuple[str, ...]]
    centroids_by_lender: Mapping[str, LenderCentroids]
    copies: CopyIndex
    # Length of the embeddings the run grouped by; None when it grouped by its LSA vectors.
    embedding_dimensions: int | None = None
    _masker: LenderNameMasker = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_masker", LenderNameMasker(self.lender_names))

    @property
    def shingle_settings(self) -> ShingleSettings:
        return shingle_settings_of(self.params)

    @property
    def cluster_count(self) -> int:
        return sum(entry.cluster_ids.size for entry in self.centroids_by_lender.values())


def shingle_settings_of(params: ClusteringParams) -> ShingleSettings:
    return ShingleSettings(
        shingle_chars=params.duplicate_shingle_chars,
        bin_count=params.minhash_bins,
        rows_per_band=params.minhash_rows_per_band,
        min_shingles=params.duplicate_min_shingles,
        min_jaccard=params.duplicate_min_jaccard,
    )


def build_copy_index(
    report_ids: np.ndarray,
    original_ids: np.ndarray,
    cluster_ids: np.ndarray,
    signature_rows: np.ndarray,
    lenders: np.ndarray,
    settings: ShingleSettings,
) -> CopyIndex:
    lender_keys = np.array([lender_hash(lender) for lender in lenders], dtype=np.uint64)
    keys = band_keys(signature_rows, lender_keys, settings).T
    order = np.argsort(keys, axis=1, kind="stable").astype(np.int32)
    return CopyIndex(
        report_ids=report_ids,
        original_ids=original_ids,
        cluster_ids=cluster_ids,
        signatures=signature_rows,
        sorted_band_keys=np.take_along_axis(keys, order, axis=1),
        row_of_sorted_key=order,
    )


def build_centroids(
    cluster_ids: Sequence[str],
    lenders: Sequence[str],
    centroids: np.ndarray,
    as_directions: bool = False,
) -> dict[str, LenderCentroids]:
    """Per-lender centroid matrices; `as_directions` scales each to unit length (cosine scores)."""
    if as_directions:
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        centroids = centroids / np.where(norms > 0, norms, 1.0)
    frame = pd.DataFrame({"cluster_id": cluster_ids, "lender": lenders})
    return {
        str(lender): LenderCentroids(
            cluster_ids=frame["cluster_id"].to_numpy()[rows].astype(str),
            centroids=np.ascontiguousarray(centroids[rows], dtype=np.float32),
        )
        for lender, rows in frame.groupby("lender", sort=True).indices.items()
    }


def _field(report: Mapping[str, Any] | pd.Series, name: str) -> str:
    value = report.get(name)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(f"report field {name!r} is required")
    return str(value)


def _find_copies(
    index: ClusterIndex, texts: Sequence[str], lenders: Sequence[str]
) -> list[tuple[int, float] | None]:
    """Per text: (indexed row of the most similar earlier report it copies, its similarity)."""
    settings = index.shingle_settings
    copies = index.copies
    found: list[tuple[int, float] | None] = [None] * len(texts)
    if copies.report_ids.size == 0 or not texts:
        return found
    max_chars = index.params.max_text_chars
    signature_rows, shingle_counts = signatures(
        [shingle_text(text[:max_chars]) for text in texts], settings
    )
    lender_keys = np.array([lender_hash(lender) for lender in lenders], dtype=np.uint64)
    keys = band_keys(signature_rows, lender_keys, settings)
    # One binary search per band for the whole batch; matches are rare, so only the (text, band)
    # pairs whose key range is non-empty are visited one by one.
    candidates: list[set[int]] = [set() for _ in texts]
    for band in range(keys.shape[1]):
        sorted_keys = copies.sorted_band_keys[band]
        starts = np.searchsorted(sorted_keys, keys[:, band], side="left")
        ends = np.searchsorted(sorted_keys, keys[:, band], side="right")
        for text_number in np.flatnonzero(ends > starts):
            rows = copies.row_of_sorted_key[band, starts[text_number] : ends[text_number]]
            candidates[text_number].update(int(row) for row in rows)
    for text_number, rows_found in enumerate(candidates):
        if not rows_found or shingle_counts[text_number] < settings.min_shingles:
            continue
        rows = np.array(sorted(rows_found))
        similarity = estimated_jaccard(copies.signatures[rows], signature_rows[text_number])
        best = int(np.lexsort((copies.report_ids[rows], -similarity))[0])
        if similarity[best] >= settings.min_jaccard:
            found[text_number] = int(rows[best]), float(similarity[best])
    return found


def assign_report(
    index: ClusterIndex, report: Mapping[str, Any] | pd.Series
) -> tuple[str | None, str | None, float]:
    """Place one new report: (cluster_id or None, duplicate_of or None, similarity).

    A copy of an indexed report joins its original's cluster. Otherwise the report joins the
    lender's cluster it is most similar to (average cosine to the members, the same quantity the
    run's threshold cut on) when that is at least `min_similarity`; else None until the next
    run. `similarity` is that average cosine (0.0 when the lender has no clusters). The index is
    not changed.

    When the run grouped by embeddings, `report` must carry its `embedding` (same model, same
    length) and the score is instead its cosine to the direction of each cluster's centroid,
    placed at `embedding_assignment_min_similarity`; copies are still found from the text.
    """
    return assign_reports(index, [report])[0]


def assign_reports(
    index: ClusterIndex, reports: Sequence[Mapping[str, Any] | pd.Series]
) -> list[tuple[str | None, str | None, float]]:
    """`assign_report` for several reports at once, with the same answer for each.

    Reports arriving together (a server places what was filed in the last moments) share one
    MinHash pass, one term-hashing call and one projection, which costs little more than one
    report's; placed one by one, those fixed per-call costs dominate.
    """
    if not reports:
        return []
    texts = [_field(report, col.TEXT) for report in reports]
    lenders = [_field(report, col.LENDER) for report in reports]
    copies = _find_copies(index, texts, lenders)
    if index.embedding_dimensions is None:
        max_chars = index.params.max_text_chars
        masked = [
            clustering_text(text[:max_chars], lender, index._masker)
            for text, lender in zip(texts, lenders, strict=True)
        ]
        queries, coverage = index.feature_space.project(term_hasher().transform(masked))
        is_placeable = coverage >= index.params.min_coverage
        threshold = index.params.min_similarity
    else:
        queries = np.stack(
            [_report_embedding(report, index.embedding_dimensions) for report in reports]
        )
        is_placeable = np.ones(len(reports), dtype=bool)
        threshold = index.params.embedding_assignment_min_similarity
    return [
        _place(index, lenders[number], queries[number], bool(is_placeable[number]), threshold, copy)
        for number, copy in enumerate(copies)
    ]


def _place(
    index: ClusterIndex,
    lender: str,
    query: np.ndarray,
    is_placeable: bool,
    threshold: float,
    copy: tuple[int, float] | None,
) -> tuple[str | None, str | None, float]:
    duplicate_of = None if copy is None else str(index.copies.original_ids[copy[0]])
    entry = index.centroids_by_lender.get(lender)
    if entry is None or entry.cluster_ids.size == 0:
        return (None if copy is None else str(index.copies.cluster_ids[copy[0]])), duplicate_of, 0.0
    scores = entry.centroids @ query
    if copy is not None:
        cluster_id = str(index.copies.cluster_ids[copy[0]])
        matches = np.flatnonzero(entry.cluster_ids == cluster_id)
        return cluster_id, duplicate_of, float(scores[matches[0]]) if matches.size else 0.0
    best = int(np.argmax(scores))
    similarity = float(scores[best])
    if not is_placeable or similarity < threshold:
        return None, None, similarity
    return str(entry.cluster_ids[best]), None, similarity


def _report_embedding(report: Mapping[str, Any] | pd.Series, dimensions: int) -> np.ndarray:
    value = report.get(col.EMBEDDING)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(
            f"this index was built from embeddings: report field {col.EMBEDDING!r} is required "
            f"(a vector of {dimensions} floats from the model the run used)"
        )
    vector = np.asarray(value, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(vector)) if vector.size == dimensions else 0.0
    if vector.size != dimensions or not np.isfinite(vector).all() or norm == 0:
        raise ValueError(
            f"report field {col.EMBEDDING!r} must be {dimensions} finite floats, not all zero"
        )
    return (vector / norm).astype(np.float32)
