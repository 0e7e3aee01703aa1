"""The only code that moves data between the database and the aggregation engine's frames."""

import math

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from aggregation import ReviewDecision as EngineDecision
from aggregation import columns as col
from api.clusters.models import Cluster, ClusteringRun, ClusterMembership, ReviewDecision
from api.lenders.models import Lender
from api.reports.models import Report, ReportStatus


def load_reports_frame(session: Session) -> pd.DataFrame:
    """Active reports only: withdrawn, excluded and duplicate-status reports never enter a run.

    `lender` is the canonical lender key, or the normalized name as typed when nobody has
    mapped it yet, so unmapped reports still group with the others that typed the same name.
    """
    rows = session.execute(
        select(
            Report.id.label("report_id"),
            func.coalesce(Lender.key, Report.lender_name_key).label("lender"),
            Report.title,
            Report.narrative,
            Report.categories,
            Report.submitted_at,
            Report.region_code.label("region"),
            Report.apr_effective,
            func.coalesce(Report.net_received, Report.contract_principal).label("principal"),
        )
        .outerjoin(Lender, Lender.id == Report.lender_id)
        .where(Report.status == ReportStatus.active)
        .order_by(Report.id)
    ).mappings()
    frame = pd.DataFrame.from_records(
        list(rows),
        columns=[
            "report_id",
            "lender",
            "title",
            "narrative",
            "categories",
            "submitted_at",
            "region",
            "apr_effective",
            "principal",
        ],
    )
    frame["text"] = frame["title"] + "\n" + frame["narrative"]
    frame["principal"] = pd.to_numeric(frame["principal"], errors="coerce").astype(float)
    frame["apr_effective"] = frame["apr_effective"].astype(float)
    return frame.drop(columns=["title", "narrative"])


def lender_names(session: Session) -> dict[str, list[str]]:
    """Every name of every lender, so the engine can mask them out of the text."""
    names: dict[str, list[str]] = {}
    for lender in session.scalars(select(Lender)):
        names[lender.key] = [lender.name_zh, lender.name_en]
    return names


_CLUSTER_TABLE_FIELDS = {
    col.CLUSTER_ID,
    col.LENDER,
    col.SIZE,
    col.DUPLICATE_COUNT,
    col.IS_SHOWN,
    col.LABEL,
    col.KEYWORDS,
    col.REPRESENTATIVE_REPORT_IDS,
}


def _json_ready(value: object) -> object:
    """numpy scalars and arrays from the engine as plain JSON values."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_clusters(session: Session, run: ClusteringRun, clusters: pd.DataFrame) -> None:
    """One row per cluster; everything the engine computed beyond the table's own columns
    (month range, category shares, APR shares, is_new, merged ids…) goes into `statistics`."""
    if clusters.empty:
        return
    session.execute(
        insert(Cluster),
        [
            {
                "run_id": run.id,
                "cluster_key": row[col.CLUSTER_ID],
                "lender_key": row[col.LENDER],
                "label": _text_or_none(row[col.LABEL]),
                "size": int(row[col.SIZE]),
                "duplicate_count": int(row[col.DUPLICATE_COUNT]),
                "is_shown": bool(row[col.IS_SHOWN]),
                "keywords": _json_ready(list(row[col.KEYWORDS])),
                "representative_report_ids": _json_ready(list(row[col.REPRESENTATIVE_REPORT_IDS])),
                "statistics": _json_ready(
                    {k: v for k, v in row.items() if k not in _CLUSTER_TABLE_FIELDS}
                ),
            }
            for row in clusters.to_dict("records")
        ],
    )


def _text_or_none(value: object) -> str | None:
    # pandas gives NaN or None for a missing value, depending on the column's dtype.
    return value if isinstance(value, str) else None


def save_memberships(
    session: Session, run: ClusteringRun, assignments: pd.DataFrame, batch_size: int = 10_000
) -> None:
    wanted = [
        col.REPORT_ID,
        col.CLUSTER_ID,
        col.BASE_CLUSTER_ID,
        col.DUPLICATE_OF,
        col.CENTROID_SIMILARITY,
    ]
    records = [
        {
            "run_id": run.id,
            "report_id": row[col.REPORT_ID],
            "cluster_key": _text_or_none(row[col.CLUSTER_ID]),
            "base_cluster_key": _text_or_none(row[col.BASE_CLUSTER_ID]),
            "duplicate_of_id": _text_or_none(row[col.DUPLICATE_OF]),
            "assigned_by": "run",
            "similarity": _json_ready(row[col.CENTROID_SIMILARITY]),
        }
        for row in assignments[wanted].to_dict("records")
    ]
    for start in range(0, len(records), batch_size):
        session.execute(insert(ClusterMembership), records[start : start + batch_size])


def load_decisions(session: Session) -> list[EngineDecision]:
    """Every organizer decision, oldest first: the engine re-applies them in this order."""
    return [
        EngineDecision(
            decision_id=str(decision.id),
            kind=str(decision.kind),
            cluster_ids=tuple(decision.cluster_keys),
            report_ids=tuple(decision.report_ids),
            label=decision.label,
            duplicate_of=decision.duplicate_of_id,
        )
        for decision in session.scalars(select(ReviewDecision).order_by(ReviewDecision.id))
    ]


def load_previous_assignments(session: Session, run: ClusteringRun | None) -> pd.DataFrame | None:
    """The last run's placements, which the engine matches new clusters against for stable ids."""
    if run is None:
        return None
    rows = session.execute(
        select(
            ClusterMembership.report_id,
            ClusterMembership.cluster_key,
            ClusterMembership.base_cluster_key,
        )
        .where(ClusterMembership.run_id == run.id, ClusterMembership.assigned_by == "run")
        .order_by(ClusterMembership.report_id)
    ).all()
    return pd.DataFrame(rows, columns=[col.REPORT_ID, col.CLUSTER_ID, col.BASE_CLUSTER_ID])
