"""Organizer review decisions, re-applied in their given order after every clustering run.

Decisions name clusters by id; ids are stable across runs (see `stability`), so a decision keeps
meaning the same group after new reports arrive. What each kind does:

- merge: every cluster of `cluster_ids[1:]` joins `cluster_ids[0]`, which keeps its id and
  records the merged ids. Ids that no longer exist or belong to another lender are ignored; the
  decision is skipped when the first id is gone or none of the others can be merged.
- split: the listed counted reports (with their duplicates) leave their clusters for a new
  cluster whose id is derived from `decision_id`, so later decisions can name it. Skipped when no
  listed report is in a cluster, or the listed reports belong to different lenders.
- exclude: the listed reports, and their duplicates (copies of excluded text), get no cluster and
  `excluded` True. Skipped when none of them exists.
- rename: `cluster_ids[0]` gets `label`. Skipped when the cluster is gone.
- mark_duplicate: the listed reports become duplicates of `duplicate_of` (or of its own
  original) and join its cluster. Skipped when that report is gone, excluded, or another lender's.
- unmark_duplicate: the listed duplicates count as members again, in the cluster they are in.

A skipped decision changes nothing and is reported with its reason in `skipped_decisions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aggregation.clustering.stability import split_cluster_id

DECISION_KINDS = frozenset(
    {"merge", "split", "exclude", "rename", "mark_duplicate", "unmark_duplicate"}
)


@dataclass(frozen=True)
class ReviewDecision:
    decision_id: str
    kind: str
    cluster_ids: tuple[str, ...] = ()
    report_ids: tuple[str, ...] = ()
    label: str | None = None
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DECISION_KINDS:
            raise ValueError(f"decision {self.decision_id}: unknown kind {self.kind!r}")
        # Lists are accepted for convenience; tuples keep the decision hashable and immutable.
        object.__setattr__(self, "cluster_ids", tuple(self.cluster_ids))
        object.__setattr__(self, "report_ids", tuple(self.report_ids))
        needs = {
            "merge": len(self.cluster_ids) >= 2,
            "split": bool(self.report_ids),
            "exclude": bool(self.report_ids),
            "rename": len(self.cluster_ids) == 1 and self.label is not None,
            "mark_duplicate": bool(self.report_ids) and self.duplicate_of is not None,
            "unmark_duplicate": bool(self.report_ids),
        }
        if not needs[self.kind]:
            raise ValueError(f"decision {self.decision_id}: incomplete {self.kind} decision")


@dataclass
class Membership:
    """Mutable working state of one run while decisions are applied (rows in canonical order)."""

    row_of_report: dict[str, int]
    lender_of_row: np.ndarray
    cluster_of_row: list[str | None]
    original_of_row: np.ndarray  # row of the original for duplicates, -1 otherwise
    is_excluded: np.ndarray
    labels: dict[str, str] = field(default_factory=dict)
    merged_ids: dict[str, list[str]] = field(default_factory=dict)
    _members: dict[str, set[int]] = field(default_factory=dict)
    _copies: dict[int, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row, cluster_id in enumerate(self.cluster_of_row):
            if cluster_id is not None:
                self._members.setdefault(cluster_id, set()).add(row)
        for row in np.flatnonzero(self.original_of_row >= 0):
            self._copies.setdefault(int(self.original_of_row[row]), set()).add(int(row))

    def exists(self, cluster_id: str) -> bool:
        return cluster_id in self._members

    def lender_of_cluster(self, cluster_id: str) -> str:
        return str(self.lender_of_row[min(self._members[cluster_id])])

    def _move(self, row: int, cluster_id: str | None) -> None:
        current = self.cluster_of_row[row]
        if current is not None:
            self._members[current].discard(row)
            if not self._members[current]:
                del self._members[current]
                self.labels.pop(current, None)
        self.cluster_of_row[row] = cluster_id
        if cluster_id is not None:
            self._members.setdefault(cluster_id, set()).add(row)

    def _move_with_copies(self, row: int, cluster_id: str | None) -> None:
        self._move(row, cluster_id)
        for copy in sorted(self._copies.get(row, ())):
            self._move(copy, cluster_id)

    def _rows(self, report_ids: Iterable[str]) -> list[int]:
        return sorted({self.row_of_report[r] for r in report_ids if r in self.row_of_report})

    def merge(self, cluster_ids: Sequence[str]) -> str | None:
        target, *others = cluster_ids
        if not self.exists(target):
            return f"cluster {target} no longer exists"
        lender = self.lender_of_cluster(target)
        mergeable = [
            other
            for other in dict.fromkeys(others)
            if other != target and self.exists(other) and self.lender_of_cluster(other) == lender
        ]
        if not mergeable:
            return "none of the other clusters exists for this lender"
        for other in mergeable:
            for row in sorted(self._members[other]):
                self._move(row, target)
            self.merged_ids.setdefault(target, []).extend([other, *self.merged_ids.pop(other, [])])
        return None

    def split(self, decision_id: str, report_ids: Sequence[str]) -> str | None:
        rows = [
            row
            for row in self._rows(report_ids)
            if self.cluster_of_row[row] is not None and self.original_of_row[row] < 0
        ]
        if not rows:
            return "no listed report is a counted member of a cluster"
        if len({str(self.lender_of_row[row]) for row in rows}) > 1:
            return "the listed reports belong to different lenders"
        new_id = split_cluster_id(decision_id)
        for row in rows:
            self._move_with_copies(row, new_id)
        return None

    def exclude(self, report_ids: Sequence[str]) -> str | None:
        rows = self._rows(report_ids)
        if not rows:
            return "none of the listed reports exists"
        for row in rows:
            for excluded_row in (row, *sorted(self._copies.get(row, ()))):
                self.is_excluded[excluded_row] = True
                self._move(excluded_row, None)
        return None

    def rename(self, cluster_id: str, label: str) -> str | None:
        if not self.exists(cluster_id):
            return f"cluster {cluster_id} no longer exists"
        self.labels[cluster_id] = label
        return None

    def mark_duplicate(self, report_ids: Sequence[str], original_id: str) -> str | None:
        if original_id not in self.row_of_report:
            return f"report {original_id} no longer exists"
        original = self.row_of_report[original_id]
        if self.original_of_row[original] >= 0:
            original = int(self.original_of_row[original])
        target = self.cluster_of_row[original]
        if self.is_excluded[original] or target is None:
            return f"report {original_id} is excluded"
        lender = self.lender_of_row[original]
        rows = [
            row
            for row in self._rows(report_ids)
            if row != original and not self.is_excluded[row] and self.lender_of_row[row] == lender
        ]
        if not rows:
            return "no listed report can be a duplicate of that report"
        for row in rows:
            previous_original = int(self.original_of_row[row])
            if previous_original >= 0:
                self._copies[previous_original].discard(row)
            copies = self._copies.pop(row, set())
            for copy in (row, *sorted(copies)):
                self.original_of_row[copy] = original
                self._copies.setdefault(original, set()).add(copy)
                self._move(copy, target)
        return None

    def unmark_duplicate(self, report_ids: Sequence[str]) -> str | None:
        rows = [row for row in self._rows(report_ids) if self.original_of_row[row] >= 0]
        if not rows:
            return "none of the listed reports is a duplicate"
        for row in rows:
            self._copies[int(self.original_of_row[row])].discard(row)
            self.original_of_row[row] = -1
        return None


def apply_decisions(
    membership: Membership, decisions: Iterable[ReviewDecision]
) -> list[tuple[str, str, str]]:
    """Apply decisions in order; return (decision_id, kind, reason) for each skipped one."""
    skipped = []
    for decision in decisions:
        if decision.kind == "merge":
            reason = membership.merge(decision.cluster_ids)
        elif decision.kind == "split":
            reason = membership.split(decision.decision_id, decision.report_ids)
        elif decision.kind == "exclude":
            reason = membership.exclude(decision.report_ids)
        elif decision.kind == "rename":
            reason = membership.rename(decision.cluster_ids[0], str(decision.label))
        elif decision.kind == "mark_duplicate":
            reason = membership.mark_duplicate(decision.report_ids, str(decision.duplicate_of))
        else:
            reason = membership.unmark_duplicate(decision.report_ids)
        if reason is not None:
            skipped.append((decision.decision_id, decision.kind, reason))
    return skipped
