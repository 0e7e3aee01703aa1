"""Grouping by caller-given embeddings, on synthetic blobs of vectors generated here."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from aggregation.clustering import (
    ClusteringParams,
    assign_report,
    cluster_reports,
)
from aggregation.clustering import columns as col

DIMENSIONS = 24
LENDERS = ("lender-a", "lender-b")
THEMES = ("refund", "harassment", "insurance")
REPORTS_PER_BLOB = 9
LONG_STORY = (
    "The collector called my mother at work four times in one afternoon, told her colleagues "
    "that I was a thief, and promised to keep calling until the whole loan was repaid."
)


def _blob_centres(rng: np.random.Generator) -> np.ndarray:
    # Orthonormal centres: blobs are far apart (cosine 0) whatever the noise below.
    basis, _ = np.linalg.qr(rng.normal(size=(DIMENSIONS, DIMENSIONS)))
    return basis[: len(LENDERS) * len(THEMES)]


@pytest.fixture(scope="module")
def blobs() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    centres = _blob_centres(rng)
    rows = []
    for lender_number, lender in enumerate(LENDERS):
        for theme_number, theme in enumerate(THEMES):
            blob = lender_number * len(THEMES) + theme_number
            for member in range(REPORTS_PER_BLOB):
                vector = centres[blob] + rng.normal(scale=0.08, size=DIMENSIONS)
                rows.append(
                    {
                        col.REPORT_ID: f"{lender}-{theme}-{member}",
                        col.LENDER: lender,
                        col.TEXT: f"{theme} complaint number {member}",
                        col.EMBEDDING: vector.tolist(),
                        "blob": blob,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def result(blobs):
    return cluster_reports(blobs.drop(columns=["blob"]))


def _partition(assignments: pd.DataFrame, groups: pd.Series) -> set[frozenset[str]]:
    frame = assignments.assign(group=groups.to_numpy())
    return {frozenset(ids) for ids in frame.groupby("group")[col.REPORT_ID].apply(list)}


def test_well_separated_blobs_per_lender_are_recovered_exactly(blobs, result):
    assignments = result.assignments.set_index(col.REPORT_ID).loc[blobs[col.REPORT_ID]]
    found = _partition(blobs[[col.REPORT_ID]], assignments[col.CLUSTER_ID])
    assert found == _partition(blobs[[col.REPORT_ID]], blobs["blob"])
    assert result.clusters[col.IS_SHOWN].all()
    assert result.index.embedding_dimensions == DIMENSIONS


def test_keywords_still_come_from_the_text(blobs, result):
    for keywords in result.clusters[col.KEYWORDS]:
        assert len({"refund", "harassment", "insurance"} & set(keywords)) == 1


def test_any_row_order_gives_identical_output(blobs, result):
    shuffled = blobs.drop(columns=["blob"]).sample(frac=1.0, random_state=3)
    again = cluster_reports(shuffled)
    pd.testing.assert_frame_equal(again.assignments, result.assignments)
    pd.testing.assert_frame_equal(again.clusters, result.clusters)


def test_numpy_vectors_and_lists_are_the_same_input(blobs, result):
    as_arrays = blobs.drop(columns=["blob"]).assign(
        **{col.EMBEDDING: [np.asarray(vector) for vector in blobs[col.EMBEDDING]]}
    )
    pd.testing.assert_frame_equal(cluster_reports(as_arrays).assignments, result.assignments)


def test_representatives_are_nearest_the_centre_in_the_embedding_space(blobs):
    first_blob = np.vstack(blobs.loc[blobs["blob"] == 0, col.EMBEDDING].tolist())
    first = blobs[col.REPORT_ID].iloc[0]
    moved = blobs.assign(
        **{col.EMBEDDING: [first_blob.mean(axis=0).tolist(), *blobs[col.EMBEDDING].iloc[1:]]}
    )
    clusters = cluster_reports(moved.drop(columns=["blob"])).clusters
    chosen = clusters[col.REPRESENTATIVE_REPORT_IDS]
    assert any(ids[0] == first for ids in chosen)


def test_embeddings_are_all_or_none(blobs):
    reports = blobs.drop(columns=["blob"])
    some_missing = reports.assign(**{col.EMBEDDING: [None, *reports[col.EMBEDDING].iloc[1:]]})
    with pytest.raises(ValueError, match="every report or for none"):
        cluster_reports(some_missing)
    uneven = reports.assign(**{col.EMBEDDING: [[1.0, 0.0], *reports[col.EMBEDDING].iloc[1:]]})
    with pytest.raises(ValueError, match="one length"):
        cluster_reports(uneven)
    zero = reports.assign(**{col.EMBEDDING: [[0.0] * DIMENSIONS, *reports[col.EMBEDDING][1:]]})
    with pytest.raises(ValueError, match="not all zero"):
        cluster_reports(zero)
    lexical = cluster_reports(reports.assign(**{col.EMBEDDING: None}))
    assert lexical.index.embedding_dimensions is None


def test_duplicates_are_still_found_from_the_text(blobs):
    reports = blobs.drop(columns=["blob"])
    far_vector = np.ones(DIMENSIONS).tolist()
    stories = pd.DataFrame(
        {
            col.REPORT_ID: ["story-1", "story-2"],
            col.LENDER: "lender-a",
            col.TEXT: [LONG_STORY, LONG_STORY + " Again."],
            col.EMBEDDING: [reports[col.EMBEDDING].iloc[0], far_vector],
        }
    )
    assignments = cluster_reports(pd.concat([reports, stories], ignore_index=True)).assignments
    by_id = assignments.set_index(col.REPORT_ID)
    assert by_id.loc["story-2", col.DUPLICATE_OF] == "story-1"
    assert by_id.loc["story-2", col.CLUSTER_ID] == by_id.loc["story-1", col.CLUSTER_ID]


def test_new_reports_are_placed_by_their_embedding(blobs, result):
    index = pickle.loads(pickle.dumps(result.index))
    member = blobs.iloc[REPORTS_PER_BLOB + 1]
    expected = result.assignments.set_index(col.REPORT_ID).loc[member[col.REPORT_ID]]
    near = np.asarray(member[col.EMBEDDING]) * 1.5
    cluster_id, duplicate_of, similarity = assign_report(
        index,
        {col.LENDER: member[col.LENDER], col.TEXT: "a new story", col.EMBEDDING: near},
    )
    assert (cluster_id, duplicate_of) == (expected[col.CLUSTER_ID], None)
    assert similarity > 0.9
    centres = _blob_centres(np.random.default_rng(7))
    # Orthogonal to every blob centre, so far from every cluster.
    unrelated = np.ones(DIMENSIONS) - centres.T @ (centres @ np.ones(DIMENSIONS))
    placed, _, _ = assign_report(
        index, {col.LENDER: "lender-a", col.TEXT: "something else", col.EMBEDDING: unrelated}
    )
    assert placed is None


def test_an_embedding_index_needs_the_new_reports_embedding(result):
    report = {col.LENDER: "lender-a", col.TEXT: "a new story"}
    with pytest.raises(ValueError, match="built from embeddings"):
        assign_report(result.index, report)
    with pytest.raises(ValueError, match=f"{DIMENSIONS} finite floats"):
        assign_report(result.index, {**report, col.EMBEDDING: [1.0, 2.0]})


def test_embedding_parameters_are_validated():
    with pytest.raises(ValueError, match="embedding_resolution"):
        ClusteringParams(embedding_resolution=0.0)
    with pytest.raises(ValueError, match="embedding_neighbour_count"):
        ClusteringParams(embedding_neighbour_count=0)
    with pytest.raises(ValueError, match="embedding_neighbour_min_similarity"):
        ClusteringParams(embedding_neighbour_min_similarity=1.5)


@pytest.fixture(scope="module")
def large_block() -> pd.DataFrame:
    """One lender with more reports than `embedding_graph_min_reports`: the Louvain path."""
    theme_count, members, dimensions = 60, 36, 64
    rng = np.random.default_rng(11)
    basis, _ = np.linalg.qr(rng.normal(size=(dimensions, dimensions)))
    blob = np.repeat(np.arange(theme_count), members)
    vectors = basis[blob] + rng.normal(scale=0.04, size=(blob.size, dimensions))
    return pd.DataFrame(
        {
            col.REPORT_ID: [f"r{row:05d}" for row in range(blob.size)],
            col.LENDER: "lender-a",
            col.TEXT: [f"theme{theme} story" for theme in blob],
            col.EMBEDDING: list(vectors),
            "blob": blob,
        }
    )


def test_large_blocks_are_grouped_on_the_neighbour_graph_deterministically(large_block):
    params = ClusteringParams()
    assert len(large_block) >= params.embedding_graph_min_reports
    reports = large_block.drop(columns=["blob"])
    first = cluster_reports(reports, params=params)
    assignments = first.assignments.set_index(col.REPORT_ID).loc[large_block[col.REPORT_ID]]
    found = _partition(large_block[[col.REPORT_ID]], assignments[col.CLUSTER_ID])
    assert found == _partition(large_block[[col.REPORT_ID]], large_block["blob"])
    again = cluster_reports(reports.sample(frac=1.0, random_state=5), params=params)
    pd.testing.assert_frame_equal(again.assignments, first.assignments)
    pd.testing.assert_frame_equal(again.clusters, first.clusters)


def test_a_large_block_with_no_near_neighbours_is_left_as_singletons():
    # 2,000 reports in 2,000 dimensions along distinct axes: every pair has cosine 0, so the
    # neighbour graph has no edge at all.
    params = ClusteringParams(embedding_graph_min_reports=2000)
    report_count = params.embedding_graph_min_reports
    reports = pd.DataFrame(
        {
            col.REPORT_ID: [f"r{row:05d}" for row in range(report_count)],
            col.LENDER: "lender-a",
            col.TEXT: [f"story {row}" for row in range(report_count)],
            col.EMBEDDING: list(np.eye(report_count, dtype=np.float32)),
        }
    )
    result = cluster_reports(reports, params=params)
    assert result.assignments[col.CLUSTER_ID].nunique() == report_count
