"""Near-duplicate detection: exact verification and which earlier report a copy points to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aggregation.clustering import cluster_reports
from aggregation.clustering import columns as col
from aggregation.clustering.duplicates import (
    ShingleSettings,
    exact_jaccard,
    originals_by_rank,
    shingle_text,
)

SETTINGS = ShingleSettings(
    shingle_chars=5, bin_count=128, rows_per_band=4, min_shingles=30, min_jaccard=0.7
)

STORY = (
    "The lender withdrew money from my checking account three times after I revoked the "
    "authorization in writing, my bank charged overdraft fees each time, and nobody at the "
    "company would stop the recurring debits when I called them again and again."
)


def shingle_set(text: str) -> set[str]:
    shingled = shingle_text(text)
    return {shingled[start : start + 5] for start in range(len(shingled) - 4)}


def test_exact_jaccard_matches_the_shingle_sets():
    edited = STORY.replace("three times", "twice").replace("again and again", "every week")
    similarity = exact_jaccard(np.array([[0, 1], [0, 2]]), [STORY, edited, ""], 3000, SETTINGS)
    first, second = shingle_set(STORY), shingle_set(edited)
    assert similarity[0] == len(first & second) / len(first | second)
    assert similarity[1] == 0.0


def test_a_copy_points_to_an_original_it_resembles_itself():
    # 0 is the earliest; 1 copies 0; 2 resembles only 1, which is a copy, so 2 is a new story;
    # 3 resembles the copy 1 most but points to the original 0, which it also resembles.
    pairs = np.array([[0, 1], [1, 2], [1, 3], [0, 3]])
    similarity = np.array([0.9, 0.9, 0.95, 0.75])
    rank = np.array([0, 1, 2, 3])
    assert originals_by_rank(pairs, similarity, rank).tolist() == [0, 0, 2, 0]


def test_every_identical_copy_points_to_the_earliest_submission():
    # Report ids sort against the submission order, so the earliest is not the first row.
    reports = pd.DataFrame(
        {
            col.REPORT_ID: ["a", "b", "c", "d", "e"],
            col.LENDER: ["lender"] * 5,
            col.TEXT: [STORY] * 5,
            col.SUBMITTED_AT: pd.to_datetime(
                ["2024-05-05", "2024-05-04", "2024-05-03", "2024-05-01", "2024-05-02"], utc=True
            ),
        }
    )
    duplicate_of = cluster_reports(reports).assignments.set_index(col.REPORT_ID)[col.DUPLICATE_OF]
    assert duplicate_of.to_dict() == {"a": "d", "b": "d", "c": "d", "d": None, "e": "d"}


def test_copies_below_the_exact_threshold_are_separate_stories():
    words = STORY.split()
    # Every fourth word changed: the shingle sets overlap well under 0.7.
    rewritten = " ".join(
        word if position % 4 else word.upper()[::-1] for position, word in enumerate(words)
    )
    assert (
        len(shingle_set(STORY) & shingle_set(rewritten))
        / len(shingle_set(STORY) | shingle_set(rewritten))
        < SETTINGS.min_jaccard
    )
    reports = pd.DataFrame(
        {
            col.REPORT_ID: ["first", "second"],
            col.LENDER: ["lender", "lender"],
            col.TEXT: [STORY, rewritten],
        }
    )
    assert cluster_reports(reports).assignments[col.DUPLICATE_OF].isna().all()
