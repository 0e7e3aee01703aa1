"""Stable cluster ids: derived from founding members, carried over from the previous run.

A new cluster gets "c-" + 12 hex digits of SHA-256 over its lender and sorted member ids, so the
same reports always found the same id. When `previous` assignments are given, each new cluster
that keeps most of a previous cluster's members inherits that cluster's id: candidate pairs
(new, old) qualify when their Jaccard overlap is at least 0.5 or the new cluster holds a majority
of the old cluster's members; they are matched greedily one-to-one by Jaccard, then overlap, then
old id, then new founding id, so ties resolve the same way every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

MIN_CARRY_JACCARD = 0.5


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


def founding_id(lender: str, member_ids: Sequence[str]) -> str:
    return "c-" + _short_hash(lender, *sorted(member_ids))


def split_cluster_id(decision_id: str) -> str:
    """Id of the cluster a split decision creates: the same on every re-run of the decision."""
    return "s-" + _short_hash("split", decision_id)


def carry_over_ids(
    member_report_ids: Sequence[np.ndarray],
    founding_ids: Sequence[str],
    previous_cluster_of: pd.Series | None,
) -> list[str]:
    """Final id per new cluster: an inherited previous id where matched, else its founding id.

    `previous_cluster_of` maps report_id → previous cluster id (null for none).
    """
    ids = list(founding_ids)
    if previous_cluster_of is None or previous_cluster_of.dropna().empty or not ids:
        return _deduplicated(ids)
    previous = previous_cluster_of.dropna().astype(str)
    old_size = previous.value_counts()
    new_membership = pd.DataFrame(
        {
            "report_id": np.concatenate(member_report_ids),
            "new": np.repeat(np.arange(len(ids)), [len(m) for m in member_report_ids]),
        }
    )
    joined = new_membership.merge(
        previous.rename("old").rename_axis("report_id").reset_index(), on="report_id"
    )
    if joined.empty:
        return _deduplicated(ids)
    overlap = joined.groupby(["new", "old"], sort=True).size().rename("overlap").reset_index()
    new_size = np.array([len(m) for m in member_report_ids])
    overlap["old_size"] = old_size.loc[overlap["old"]].to_numpy()
    overlap["jaccard"] = overlap["overlap"] / (
        new_size[overlap["new"]] + overlap["old_size"] - overlap["overlap"]
    )
    overlap["founding"] = [ids[new] for new in overlap["new"]]
    qualifies = (overlap["jaccard"] >= MIN_CARRY_JACCARD) | (
        2 * overlap["overlap"] > overlap["old_size"]
    )
    ranked = overlap[qualifies].sort_values(
        ["jaccard", "overlap", "old", "founding"], ascending=[False, False, True, True]
    )
    taken_new: set[int] = set()
    taken_old: set[str] = set()
    for new, old in zip(ranked["new"], ranked["old"], strict=True):
        if new in taken_new or old in taken_old:
            continue
        ids[new] = old
        taken_new.add(new)
        taken_old.add(old)
    return _deduplicated(ids, inherited=taken_new)


def _deduplicated(ids: list[str], inherited: set[int] | None = None) -> list[str]:
    # A founding id repeats another id only if member sets coincide, which matching normally
    # rules out; inherited ids keep their spelling and any other repeat gets a suffix.
    inherited = inherited or set()
    used = {ids[index] for index in inherited}
    unique = list(ids)
    for index, cluster_id in enumerate(ids):
        if index in inherited:
            continue
        candidate, suffix = cluster_id, 1
        while candidate in used:
            suffix += 1
            candidate = f"{cluster_id}-{suffix}"
        used.add(candidate)
        unique[index] = candidate
    return unique
