"""The only code that moves data between the database and the aggregation engine's frames."""

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from api.clusters.models import Cluster, ClusteringRun, ClusterMembership
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


def save_clusters(session: Session, run: ClusteringRun, clusters: pd.DataFrame) -> None:
    if clusters.empty:
        return
    session.execute(
        insert(Cluster),
        [
            {
                "run_id": run.id,
                "cluster_key": row["cluster_id"],
                "lender_key": row["lender"],
                "label": row.get("label"),
                "size": int(row["size"]),
                "duplicate_count": int(row.get("duplicate_count", 0)),
                "keywords": list(row["keywords"]),
                "representative_report_ids": list(row["representative_report_ids"]),
                "statistics": row["statistics"],
            }
            for row in clusters.to_dict("records")
        ],
    )


def _id_or_none(value: object) -> str | None:
    # pandas gives NaN or None for a missing id, depending on the column's dtype.
    return value if isinstance(value, str) else None


def save_memberships(
    session: Session, run: ClusteringRun, assignments: pd.DataFrame, batch_size: int = 10_000
) -> None:
    records = [
        {
            "run_id": run.id,
            "report_id": row["report_id"],
            "cluster_key": row["cluster_id"] if isinstance(row["cluster_id"], str) else None,
            "duplicate_of_id": row["duplicate_of"]
            if isinstance(row["duplicate_of"], str)
            else None,
            "assigned_by": "run",
            "similarity": None,
        }
        for row in assignments[["report_id", "cluster_id", "duplicate_of"]].to_dict("records")
    ]
    for start in range(0, len(records), batch_size):
        session.execute(insert(ClusterMembership), records[start : start + batch_size])


def load_previous_assignments(session: Session, run: ClusteringRun | None) -> pd.DataFrame | None:
    if run is None:
        return None
    rows = session.execute(
        select(ClusterMembership.report_id, ClusterMembership.cluster_key.label("cluster_id"))
        .where(ClusterMembership.run_id == run.id, ClusterMembership.cluster_key.is_not(None))
        .order_by(ClusterMembership.report_id)
    ).all()
    return pd.DataFrame(rows, columns=["report_id", "cluster_id"])
