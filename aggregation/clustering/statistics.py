"""Per-cluster statistics, keywords and representatives, computed over counted members only.

Counted members are a cluster's reports that are neither duplicates nor excluded, so a story sent
ten times weighs once in every figure, as it does in `size`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from aggregation.clustering import columns as col

APR_CAP_24PCT = 0.24
APR_CAP_36PCT = 0.36


def _nested_dicts(pairs: pd.Series, cluster_ids: np.ndarray) -> list[dict]:
    """{inner key: value} per cluster id from a Series indexed by (cluster id, inner key)."""
    per_cluster: dict[str, dict] = {cluster_id: {} for cluster_id in cluster_ids}
    for (cluster_id, key), value in pairs.sort_index().items():
        per_cluster[cluster_id][key] = value
    return [per_cluster[cluster_id] for cluster_id in cluster_ids]


def _category_shares(frame: pd.DataFrame, cluster_ids: np.ndarray) -> list[dict]:
    size = frame.groupby(col.CLUSTER_ID).size()
    codes = frame[[col.CLUSTER_ID, col.CATEGORIES]].copy()
    codes[col.CATEGORIES] = codes[col.CATEGORIES].map(
        lambda value: [] if value is None or isinstance(value, (str, float)) else list(value)
    )
    # A report names each category once however often its list repeats it.
    exploded = codes.explode(col.CATEGORIES).dropna().reset_index().drop_duplicates()
    counts = exploded.groupby([col.CLUSTER_ID, col.CATEGORIES]).size()
    shares = counts / size.reindex(counts.index.get_level_values(0)).to_numpy()
    return _nested_dicts(shares.astype(float), cluster_ids)


def _region_counts(frame: pd.DataFrame, cluster_ids: np.ndarray) -> list[dict]:
    regions = frame[[col.CLUSTER_ID, col.REGION]].dropna()
    counts = regions.astype({col.REGION: str}).groupby([col.CLUSTER_ID, col.REGION]).size()
    return _nested_dicts(counts.astype(int), cluster_ids)


def _share_above(frame: pd.DataFrame, cluster_ids: np.ndarray, cap: float) -> np.ndarray:
    apr = pd.to_numeric(frame[col.APR_EFFECTIVE], errors="coerce")
    known = apr.notna()
    shares = (apr[known] > cap).groupby(frame.loc[known, col.CLUSTER_ID]).mean()
    aligned = shares.reindex(cluster_ids)
    return aligned.astype(object).where(aligned.notna(), None)


def cluster_statistics(members: pd.DataFrame, cluster_ids: pd.Series) -> pd.DataFrame:
    """Statistics per cluster id of `members` (counted members with their input columns).

    Month range uses `submitted_at` (first and last month, YYYY-MM); category shares are the
    share of members naming each code (multi-label, so shares need not sum to 1); APR shares are
    among members whose effective APR is known and strictly above the cap; figures with no known
    value are None.
    """
    frame = members.reset_index(drop=True).assign(**{col.CLUSTER_ID: cluster_ids.to_numpy()})
    ids = np.array(sorted(frame[col.CLUSTER_ID].unique()), dtype=object)
    result = pd.DataFrame({col.CLUSTER_ID: ids})
    missing = pd.Series([None] * ids.size, dtype=object)
    if col.SUBMITTED_AT in frame.columns:
        stamps = pd.to_datetime(frame[col.SUBMITTED_AT], utc=True, errors="coerce")
        # Earliest and latest stamps give the month range; formatting per cluster rather than
        # per report keeps string work off the reports.
        by_cluster = stamps.groupby(frame[col.CLUSTER_ID])
        first = by_cluster.min().reindex(ids).dt.strftime("%Y-%m")
        last = by_cluster.max().reindex(ids).dt.strftime("%Y-%m")
        result[col.FIRST_MONTH] = first.astype(object).where(first.notna(), None).to_numpy()
        result[col.LAST_MONTH] = last.astype(object).where(last.notna(), None).to_numpy()
    else:
        result[col.FIRST_MONTH] = missing
        result[col.LAST_MONTH] = missing
    result[col.CATEGORY_SHARES] = (
        _category_shares(frame, ids) if col.CATEGORIES in frame.columns else [{} for _ in ids]
    )
    result[col.REGION_COUNTS] = (
        _region_counts(frame, ids) if col.REGION in frame.columns else [{} for _ in ids]
    )
    if col.PRINCIPAL in frame.columns:
        principal = pd.to_numeric(frame[col.PRINCIPAL], errors="coerce")
        median = principal.groupby(frame[col.CLUSTER_ID]).median().reindex(ids)
        result[col.MEDIAN_PRINCIPAL] = median.astype(object).where(median.notna(), None).to_numpy()
    else:
        result[col.MEDIAN_PRINCIPAL] = missing
    for name, cap in (
        (col.SHARE_APR_ABOVE_24PCT, APR_CAP_24PCT),
        (col.SHARE_APR_ABOVE_36PCT, APR_CAP_36PCT),
    ):
        result[name] = (
            _share_above(frame, ids, cap).to_numpy()
            if col.APR_EFFECTIVE in frame.columns
            else missing
        )
    return result.loc[:, [col.CLUSTER_ID, *col.STATISTICS_COLUMNS]]


def class_tfidf_keywords(
    term_counts: sparse.csr_matrix,
    cluster_codes: np.ndarray,
    cluster_count: int,
    terms: Sequence[str],
    keyword_count: int,
) -> list[list[str]]:
    """Top terms per cluster by class-based TF-IDF (BERTopic's c-TF-IDF).

    All members of a cluster form one class document; tf is L1-normalized per class and
    idf = log(1 + A / f) with A the average number of terms per class and f the term's frequency
    over all classes, so words common to every grievance of every lender rank low. Ties are
    broken by the term itself so labels are deterministic.
    """
    if cluster_count == 0:
        return []
    indicator = sparse.csr_matrix(
        (np.ones(cluster_codes.size), (cluster_codes, np.arange(cluster_codes.size))),
        shape=(cluster_count, cluster_codes.size),
    )
    class_counts = sparse.csr_matrix(indicator @ term_counts, dtype=np.float64)
    class_totals = np.asarray(class_counts.sum(axis=1)).ravel()
    term_totals = np.asarray(class_counts.sum(axis=0)).ravel()
    average_terms = class_totals.mean() if class_totals.size else 0.0
    class_counts.sort_indices()
    keywords: list[list[str]] = []
    term_array = np.asarray(terms, dtype=object)
    for row in range(cluster_count):
        start, end = class_counts.indptr[row], class_counts.indptr[row + 1]
        columns_of_row = class_counts.indices[start:end]
        if columns_of_row.size == 0:
            keywords.append([])
            continue
        tf = class_counts.data[start:end] / max(class_totals[row], 1.0)
        score = tf * np.log1p(average_terms / term_totals[columns_of_row])
        words = term_array[columns_of_row]
        order = np.lexsort((words, -np.round(score, 12)))[:keyword_count]
        keywords.append([str(word) for word in words[order]])
    return keywords


def representatives(
    vectors: np.ndarray,
    cluster_codes: np.ndarray,
    centroids: np.ndarray,
    report_ids: np.ndarray,
    count: int,
) -> tuple[list[list[str]], np.ndarray]:
    """Up to `count` member ids nearest each centroid, and each row's similarity to its centroid.

    Similarity to an unnormalized centroid is the member's average cosine to the cluster's
    members, the quantity the average-linkage threshold is about.
    """
    similarity = np.einsum("ij,ij->i", vectors, centroids[cluster_codes]).astype(np.float64)
    order = np.lexsort((report_ids, -np.round(similarity, 9), cluster_codes))
    sorted_codes = cluster_codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(centroids.shape[0]), side="left")
    ends = np.searchsorted(sorted_codes, np.arange(centroids.shape[0]), side="right")
    chosen = [
        [str(report_id) for report_id in report_ids[order[start : min(end, start + count)]]]
        for start, end in zip(starts, ends, strict=True)
    ]
    return chosen, similarity
