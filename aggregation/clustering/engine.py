"""`cluster_reports`: reports in, stable clusters out. Pure: no database, clock, files or env.

Steps, each in its own module:
1. `features`: mask and vectorize each report (hashed TF-IDF → LSA fitted on a sample).
2. `duplicates`: copies within a lender (MinHash LSH); a copy takes its original's cluster and
   does not count.
3. `grouping`: per lender, average linkage cut at `min_similarity` over the originals; when the
   reports carry an `embedding` column, `embedding_grouping` on those vectors instead (average
   linkage in small blocks, a neighbour graph split by Louvain in large ones).
4. `stability`: ids carried over from `previous`, else derived from the founding members.
5. `decisions`: organizer decisions re-applied in order.
6. `statistics`: sizes, keywords, representatives and figures per cluster; `index` for placing
   new reports between runs.

Why these methods (measured on public data, figures in bench/README.md "## clustering"):
character 1–2-grams for Chinese and word 1–2-grams for English give the best same-meaning-pair
AUC on ATEC/BQ (0.695/0.763) and run 7x faster than `char_wb` 2–4; LSA beats sparse TF-IDF for
grouping (CFPB V 0.187 vs 0.116 at the true k); average linkage cut at a similarity needs no k
and, on BANKING77, beats TF-IDF + k-means given the true k on V-measure (0.652 vs 0.622) and
matches it on BCubed F1 (0.315 vs 0.317) with higher BCubed precision (0.364 vs 0.319); blocked
by lender on CFPB it beats per-lender k-means on both (V 0.916 vs 0.911, F1 0.698 vs 0.673); the
micro-group path for large blocks scores like direct linkage (V 0.655 vs 0.652). Sentence
embeddings see paraphrase that terms cannot: given MiniLM vectors in the optional `embedding`
column the engine reaches BANKING77 V 0.833 / BCubed F1 0.625 (BERTopic on the same vectors:
0.825 / 0.596); computing them needs torch and dominates the time, so callers supply them.

Determinism: rows are sorted by report_id first, every random step is seeded, and the per-report
text pass does not depend on how rows are chunked or on `n_jobs`; the same reports in any order
give identical output.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from aggregation.clustering import columns as col
from aggregation.clustering.decisions import Membership, ReviewDecision, apply_decisions
from aggregation.clustering.duplicates import (
    ShingleSettings,
    exact_jaccard,
    lender_hash,
    likely_copy_pairs,
    originals_by_rank,
    signatures,
)
from aggregation.clustering.embedding_grouping import (
    embedding_grouping_settings,
    group_block_by_embeddings,
    unit_embeddings,
)
from aggregation.clustering.features import (
    FeatureSpace,
    LenderNameMasker,
    fit_feature_space,
    keyword_terms,
    mask_normalized,
    term_hasher,
)
from aggregation.clustering.grouping import GroupingSettings, group_block, group_means
from aggregation.clustering.index import (
    ClusterIndex,
    build_centroids,
    build_copy_index,
    shingle_settings_of,
)
from aggregation.clustering.params import ClusteringParams
from aggregation.clustering.stability import carry_over_ids, founding_id
from aggregation.clustering.statistics import (
    class_tfidf_keywords,
    cluster_statistics,
    representatives,
)
from aggregation.text import normalize_text

_INPUT_COLUMNS = (*col.REQUIRED_INPUT_COLUMNS, *col.STATISTICS_SOURCE_COLUMNS, col.EMBEDDING)


@dataclass(frozen=True)
class ClusteringResult:
    """Output of one run. Frames are sorted by report_id / cluster_id.

    `assignments`: one row per report (`col.ASSIGNMENT_COLUMNS`); `cluster_id` is null only for
    excluded reports. `clusters`: one row per cluster (`col.CLUSTER_COLUMNS`), singletons
    included; `is_shown` says whether `size` reaches `params.min_cluster_size`.
    `skipped_decisions`: decisions that could not be re-applied and why. `index`: keep it in
    memory to place new reports with `assign_report` until the next run.
    """

    assignments: pd.DataFrame
    clusters: pd.DataFrame
    skipped_decisions: pd.DataFrame
    index: ClusterIndex


@dataclass(frozen=True)
class _TextPass:
    vectors: np.ndarray
    keyword_counts: sparse.csr_matrix
    keyword_vocabulary: list[str]
    signatures: np.ndarray
    shingle_counts: np.ndarray


def _canonical_frame(reports: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in col.REQUIRED_INPUT_COLUMNS if name not in reports.columns]
    if missing:
        raise ValueError(f"reports lack required columns: {', '.join(missing)}")
    frame = reports.loc[:, [name for name in _INPUT_COLUMNS if name in reports.columns]].copy()
    if frame[col.REPORT_ID].isna().any() or frame[col.LENDER].isna().any():
        raise ValueError(f"{col.REPORT_ID} and {col.LENDER} must not be null")
    frame[col.REPORT_ID] = frame[col.REPORT_ID].astype(str)
    frame[col.LENDER] = frame[col.LENDER].astype(str)
    frame[col.TEXT] = frame[col.TEXT].fillna("").astype(str)
    duplicated = frame[col.REPORT_ID].duplicated()
    if duplicated.any():
        raise ValueError(f"{col.REPORT_ID} repeats: {frame.loc[duplicated, col.REPORT_ID].iloc[0]}")
    return frame.sort_values(col.REPORT_ID, kind="stable").reset_index(drop=True)


def _sample_rows(report_ids: pd.Series, size: int) -> np.ndarray:
    """A deterministic sample that changes little when reports are added: smallest id hashes."""
    if len(report_ids) <= size:
        return np.arange(len(report_ids))
    hashes = pd.util.hash_array(report_ids.to_numpy(dtype=object))
    return np.sort(np.lexsort((np.arange(hashes.size), hashes))[:size])


def _text_pass_chunk(
    texts: Sequence[str],
    lenders: Sequence[str],
    masker: LenderNameMasker,
    shingles: ShingleSettings,
    max_chars: int,
) -> tuple[sparse.csr_matrix, sparse.csr_matrix, list[str], np.ndarray, np.ndarray]:
    """Hashed term counts, keyword counts and vocabulary, MinHash signatures, shingle counts."""
    normalized = [normalize_text(text[:max_chars]) for text in texts]
    masked = [
        mask_normalized(text, lender, masker)
        for text, lender in zip(normalized, lenders, strict=True)
    ]
    term_counts = term_hasher().transform(masked)
    counter = CountVectorizer(analyzer=keyword_terms, dtype=np.float32)
    try:
        keyword_counts = counter.fit_transform(masked)
        vocabulary = [""] * len(counter.vocabulary_)
        for term, column in counter.vocabulary_.items():
            vocabulary[column] = term
    except ValueError:
        # CountVectorizer refuses a chunk without a single keyword term.
        keyword_counts = sparse.csr_matrix((len(masked), 0), dtype=np.float32)
        vocabulary = []
    signature_rows, shingle_counts = signatures(
        [text.replace(" ", "") for text in normalized], shingles
    )
    return term_counts, keyword_counts, vocabulary, signature_rows, shingle_counts


def _map_chunks(function, chunk_arguments: Iterable[tuple], n_jobs: int) -> list:
    # A generator of arguments is consumed as workers free up, so not all chunks exist at once.
    if n_jobs == 1 or (isinstance(chunk_arguments, list) and len(chunk_arguments) == 1):
        return [function(*arguments) for arguments in chunk_arguments]
    return Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(function)(*arguments) for arguments in chunk_arguments
    )


def _map_in_background(function, chunk_arguments: Iterable[tuple], n_jobs: int) -> Iterator:
    """Results in order; with workers, later chunks are computed while the caller works."""
    if n_jobs == 1:
        return (function(*arguments) for arguments in chunk_arguments)
    return Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
        delayed(function)(*arguments) for arguments in chunk_arguments
    )


def _chunks(row_count: int, size: int, offset: int = 0) -> list[slice]:
    return [
        slice(offset + start, offset + min(start + size, row_count))
        for start in range(0, row_count, size)
    ]


def _text_pass(
    frame: pd.DataFrame, masker: LenderNameMasker, params: ClusteringParams
) -> tuple[FeatureSpace, _TextPass]:
    """Every report's text read once: the LSA space is fitted on the sample's term counts while
    the workers go on with the other reports, then each chunk is projected as it arrives."""
    sample = _sample_rows(frame[col.REPORT_ID], params.lsa_sample_size)
    is_sample = np.zeros(len(frame), dtype=bool)
    is_sample[sample] = True
    # The sample's chunks come first, so the fit starts as soon as they are done.
    row_order = np.concatenate([sample, np.flatnonzero(~is_sample)])
    sample_chunks = _chunks(sample.size, params.chunk_size)
    parts = _chunks(len(frame) - sample.size, params.chunk_size, offset=sample.size)
    texts = frame[col.TEXT].to_numpy(dtype=object)
    lenders = frame[col.LENDER].to_numpy(dtype=object)
    shingles = shingle_settings_of(params)
    results = iter(
        _map_in_background(
            _text_pass_chunk,
            (
                (
                    texts[row_order[part]].tolist(),
                    lenders[row_order[part]].tolist(),
                    masker,
                    shingles,
                    params.max_text_chars,
                )
                for part in sample_chunks + parts
            ),
            params.n_jobs,
        )
    )
    sample_results = [next(results) for _ in sample_chunks]
    space = fit_feature_space(
        sparse.vstack([result[0] for result in sample_results], format="csr")
        if sample_results
        else sparse.csr_matrix((0, 1)),
        params.lsa_dimensions,
        params.max_kept_columns,
        params.seed,
    )
    # Results are written straight to their canonical rows: no stacked copy in chunk order.
    vectors = np.zeros((len(frame), space.components.shape[1]), dtype=np.float32)
    signature_rows = np.zeros((len(frame), shingles.bin_count), dtype=np.uint32)
    shingle_counts = np.zeros(len(frame), dtype=np.int64)
    vocabulary: dict[str, int] = {}
    keyword_parts = []
    for part, (term_counts, counts, local_terms, part_signatures, part_shingles) in zip(
        sample_chunks + parts, itertools.chain(sample_results, results), strict=True
    ):
        rows = row_order[part]
        vectors[rows] = space.project(term_counts)[0]
        signature_rows[rows] = part_signatures
        shingle_counts[rows] = part_shingles
        # Chunks have their own vocabularies; remap them onto one, in chunk order.
        global_column = np.array(
            [vocabulary.setdefault(term, len(vocabulary)) for term in local_terms], dtype=np.int64
        )
        counts = sparse.csr_matrix(counts)
        keyword_parts.append((counts.indptr, global_column[counts.indices], counts.data))
    sample_results.clear()
    keyword_counts = sparse.vstack(
        [
            sparse.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, len(vocabulary)))
            for indptr, indices, data in keyword_parts
        ],
        format="csr",
    )
    keyword_parts.clear()
    position_of_row = np.empty(len(frame), dtype=np.int64)
    position_of_row[row_order] = np.arange(len(frame))
    return space, _TextPass(
        vectors=vectors,
        keyword_counts=keyword_counts[position_of_row],
        keyword_vocabulary=list(vocabulary),
        signatures=signature_rows,
        shingle_counts=shingle_counts,
    )


def _original_rows(
    frame: pd.DataFrame, text_pass: _TextPass, shingles: ShingleSettings, max_text_chars: int
) -> np.ndarray:
    """Row of each row's original (itself when it is not a copy)."""
    lender_code, lender_names = pd.factorize(frame[col.LENDER])
    lender_keys = np.array([lender_hash(lender) for lender in lender_names], dtype=np.uint64)[
        lender_code
    ]
    if col.SUBMITTED_AT in frame.columns:
        submitted = pd.to_datetime(frame[col.SUBMITTED_AT], utc=True, errors="coerce")
        # Unknown submission times sort last; rows are already in report_id order.
        submitted_ns = submitted.astype("int64").where(submitted.notna(), np.iinfo(np.int64).max)
        order = np.lexsort((np.arange(len(frame)), submitted_ns.to_numpy()))
    else:
        order = np.arange(len(frame))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(len(frame))
    pairs = likely_copy_pairs(
        text_pass.signatures, text_pass.shingle_counts, lender_keys, rank, shingles
    )
    similarity = exact_jaccard(
        pairs, frame[col.TEXT].to_numpy(dtype=object), max_text_chars, shingles
    )
    copies = similarity >= shingles.min_jaccard
    return originals_by_rank(pairs[copies], similarity[copies], rank)


def _base_groups(
    frame: pd.DataFrame,
    vectors: np.ndarray,
    original_row: np.ndarray,
    params: ClusteringParams,
    by_embeddings: bool = False,
) -> np.ndarray:
    """Base group number per row; copies get their original's group."""
    settings = GroupingSettings(
        min_similarity=params.min_similarity,
        direct_linkage_max_reports=params.direct_linkage_max_reports,
        partition_size=params.partition_size,
        micro_group_size=params.micro_group_size,
        max_linkage_nodes=params.max_linkage_nodes,
        seed=params.seed,
    )
    is_original = original_row == np.arange(len(frame))
    group = np.full(len(frame), -1, dtype=np.int64)
    next_group = 0
    lender_rows = pd.Series(np.arange(len(frame))[is_original]).groupby(
        frame[col.LENDER].to_numpy()[is_original], sort=True
    )
    blocks = [rows.to_numpy() for _, rows in lender_rows]
    grouper = (
        partial(group_block_by_embeddings, settings=embedding_grouping_settings(params))
        if by_embeddings
        else partial(group_block, settings=settings)
    )
    # Lenders are grouped independently, so they are spread over the workers, largest first so
    # that the workers finish together; labels are put back in lender order.
    largest_first = sorted(range(len(blocks)), key=lambda index: (-blocks[index].size, index))
    labels_largest_first = _map_chunks(
        grouper,
        ((vectors[blocks[index]],) for index in largest_first),
        params.n_jobs if len(blocks) > 1 else 1,
    )
    labels_of_block: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(blocks)
    for index, labels in zip(largest_first, labels_largest_first, strict=True):
        labels_of_block[index] = labels
    for block, labels in zip(blocks, labels_of_block, strict=True):
        group[block] = labels + next_group
        next_group += int(labels.max()) + 1
    return group[original_row]


def _previous_map(previous: pd.DataFrame | None) -> pd.Series | None:
    if previous is None:
        return None
    id_column = col.BASE_CLUSTER_ID if col.BASE_CLUSTER_ID in previous.columns else col.CLUSTER_ID
    return pd.Series(
        previous[id_column].to_numpy(), index=previous[col.REPORT_ID].astype(str).to_numpy()
    )


def cluster_reports(
    reports: pd.DataFrame,
    params: ClusteringParams | None = None,
    previous: pd.DataFrame | None = None,
    decisions: Iterable[ReviewDecision] = (),
    lender_names: Mapping[str, Sequence[str]] | None = None,
) -> ClusteringResult:
    """Group reports into per-lender grievance clusters with stable ids.

    `reports` needs `report_id`, `lender`, `text` (see `columns`); optional statistics columns
    are used when present, and an optional `embedding` column (one float vector per report, for
    all reports or none) makes the run group by those vectors instead of the text's LSA vectors.
    `previous` is the last run's `assignments` (report_id, cluster_id and, when kept,
    base_cluster_id). `decisions` are applied in the given order. `lender_names` maps a lender
    key to its names and aliases, masked out of that lender's texts. Inputs are not modified.
    """
    params = params or ClusteringParams()
    frame = _canonical_frame(reports)
    embeddings = unit_embeddings(frame[col.EMBEDDING]) if col.EMBEDDING in frame.columns else None
    masker = LenderNameMasker(lender_names)
    space, text_pass = _text_pass(frame, masker, params)
    if embeddings is not None:
        # Given embeddings replace the LSA vectors for grouping, centroids and representatives;
        # duplicates and keywords still come from the text.
        text_pass = replace(text_pass, vectors=embeddings)
    shingles = shingle_settings_of(params)
    report_ids = frame[col.REPORT_ID].to_numpy(dtype=object)
    lenders = frame[col.LENDER].to_numpy(dtype=object)

    original_row = _original_rows(frame, text_pass, shingles, params.max_text_chars)
    base_group = _base_groups(
        frame, text_pass.vectors, original_row, params, by_embeddings=embeddings is not None
    )
    base_ids = _stable_base_ids(report_ids, lenders, original_row, base_group, previous)

    membership = Membership(
        row_of_report={report_id: row for row, report_id in enumerate(report_ids)},
        lender_of_row=lenders,
        cluster_of_row=list(base_ids),
        original_of_row=np.where(original_row != np.arange(len(frame)), original_row, -1),
        is_excluded=np.zeros(len(frame), dtype=bool),
    )
    skipped = apply_decisions(membership, decisions)
    previous_ids = _previous_ids(previous)
    assignments, clusters, centroids = _summarize(
        frame, text_pass, membership, base_ids, previous_ids, params
    )
    index = ClusterIndex(
        params=params,
        feature_space=space,
        lender_names={key: tuple(names) for key, names in (lender_names or {}).items()},
        centroids_by_lender=build_centroids(
            clusters[col.CLUSTER_ID].tolist(),
            clusters[col.LENDER].tolist(),
            centroids,
            as_directions=embeddings is not None,
        ),
        copies=_copy_index(frame, text_pass, membership, shingles),
        embedding_dimensions=None if embeddings is None else embeddings.shape[1],
    )
    return ClusteringResult(
        assignments=assignments,
        clusters=clusters,
        skipped_decisions=pd.DataFrame(skipped, columns=list(col.SKIPPED_DECISION_COLUMNS)),
        index=index,
    )


def _stable_base_ids(
    report_ids: np.ndarray,
    lenders: np.ndarray,
    original_row: np.ndarray,
    base_group: np.ndarray,
    previous: pd.DataFrame | None,
) -> np.ndarray:
    group_count = int(base_group.max()) + 1 if base_group.size else 0
    order = np.argsort(base_group, kind="stable")
    bounds = np.searchsorted(base_group[order], np.arange(group_count + 1))
    is_original = original_row == np.arange(report_ids.size)
    members, founding = [], []
    for group in range(group_count):
        rows = order[bounds[group] : bounds[group + 1]]
        members.append(report_ids[rows].astype(str))
        founders = report_ids[rows[is_original[rows]]]
        founding.append(founding_id(str(lenders[rows[0]]), [str(r) for r in founders]))
    ids = carry_over_ids(members, founding, _previous_map(previous))
    return np.array(ids, dtype=object)[base_group] if group_count else np.array([], dtype=object)


def _previous_ids(previous: pd.DataFrame | None) -> set[str]:
    if previous is None:
        return set()
    id_columns = [name for name in (col.CLUSTER_ID, col.BASE_CLUSTER_ID) if name in previous]
    return {str(value) for name in id_columns for value in previous[name].dropna()}


def _summarize(
    frame: pd.DataFrame,
    text_pass: _TextPass,
    membership: Membership,
    base_ids: np.ndarray,
    previous_ids: set[str],
    params: ClusteringParams,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    cluster_of_row = np.array(membership.cluster_of_row, dtype=object)
    in_cluster = np.array([cluster_id is not None for cluster_id in cluster_of_row])
    is_copy = membership.original_of_row >= 0
    counted = in_cluster & ~is_copy
    cluster_ids = np.array(sorted({str(c) for c in cluster_of_row[in_cluster]}), dtype=object)
    code = np.full(len(frame), -1, dtype=np.int64)
    code[in_cluster] = np.searchsorted(cluster_ids, cluster_of_row[in_cluster].astype(str))
    cluster_count = cluster_ids.size
    report_ids = frame[col.REPORT_ID].to_numpy(dtype=object)

    centroids = group_means(text_pass.vectors[counted], code[counted], cluster_count)
    chosen, member_similarity = representatives(
        text_pass.vectors[counted],
        code[counted],
        centroids,
        report_ids[counted].astype(str),
        params.representative_count,
    )
    similarity = np.full(len(frame), np.nan)
    similarity[counted] = member_similarity
    copies = in_cluster & is_copy
    similarity[copies] = np.einsum("ij,ij->i", text_pass.vectors[copies], centroids[code[copies]])
    keywords = class_tfidf_keywords(
        text_pass.keyword_counts[np.flatnonzero(counted)],
        code[counted],
        cluster_count,
        text_pass.keyword_vocabulary,
        params.keyword_count,
    )
    size = np.bincount(code[counted], minlength=cluster_count)
    duplicate_count = np.bincount(code[copies], minlength=cluster_count)
    lender_of_cluster = np.empty(cluster_count, dtype=object)
    lender_of_cluster[code[in_cluster]] = frame[col.LENDER].to_numpy(dtype=object)[in_cluster]
    statistics_columns = [name for name in col.STATISTICS_SOURCE_COLUMNS if name in frame.columns]
    statistics = cluster_statistics(
        frame.loc[counted, statistics_columns], pd.Series(cluster_ids[code[counted]], dtype=object)
    ).set_index(col.CLUSTER_ID)
    clusters = pd.DataFrame(
        {
            col.CLUSTER_ID: pd.Series(cluster_ids, dtype=object),
            col.LENDER: pd.Series(lender_of_cluster, dtype=object),
            col.SIZE: size.astype(np.int64),
            col.DUPLICATE_COUNT: duplicate_count.astype(np.int64),
            col.IS_SHOWN: size >= params.min_cluster_size,
            col.LABEL: pd.Series([membership.labels.get(c) for c in cluster_ids], dtype=object),
            col.KEYWORDS: keywords,
            col.REPRESENTATIVE_REPORT_IDS: chosen,
            col.IS_NEW: [c not in previous_ids for c in cluster_ids],
            col.MERGED_CLUSTER_IDS: [list(membership.merged_ids.get(c, [])) for c in cluster_ids],
        }
    )
    for name in col.STATISTICS_COLUMNS:
        clusters[name] = statistics[name].reindex(cluster_ids).to_numpy()
    original_row = membership.original_of_row
    # Object columns keep missing ids as None; pandas would otherwise infer a string dtype.
    assignments = pd.DataFrame(
        {
            col.REPORT_ID: pd.Series(report_ids.astype(str), dtype=object),
            col.CLUSTER_ID: pd.Series(cluster_of_row, dtype=object),
            col.BASE_CLUSTER_ID: pd.Series(base_ids, dtype=object),
            col.DUPLICATE_OF: pd.Series(
                np.where(is_copy, report_ids[np.maximum(original_row, 0)], None), dtype=object
            ),
            col.EXCLUDED: membership.is_excluded.copy(),
            col.CENTROID_SIMILARITY: similarity,
        }
    )
    return assignments, clusters.loc[:, list(col.CLUSTER_COLUMNS)], centroids


def _copy_index(
    frame: pd.DataFrame, text_pass: _TextPass, membership: Membership, shingles: ShingleSettings
):
    cluster_of_row = np.array(membership.cluster_of_row, dtype=object)
    rows = np.flatnonzero(
        (text_pass.shingle_counts >= shingles.min_shingles)
        & ~membership.is_excluded
        & np.array([cluster_id is not None for cluster_id in cluster_of_row])
    )
    report_ids = frame[col.REPORT_ID].to_numpy(dtype=object)
    original_row = np.where(
        membership.original_of_row >= 0, membership.original_of_row, np.arange(len(frame))
    )
    return build_copy_index(
        report_ids=report_ids[rows].astype(str),
        original_ids=report_ids[original_row[rows]].astype(str),
        cluster_ids=cluster_of_row[rows].astype(str),
        signature_rows=text_pass.signatures[rows],
        lenders=frame[col.LENDER].to_numpy(dtype=object)[rows],
        settings=shingles,
    )
