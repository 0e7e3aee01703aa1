"""The numbers behind a fact pattern, the public page's suppressed aggregates, and the drafting
of the fact pattern text from its templates (api/data/templates/fact_pattern/).

Everything here is pure: a DataFrame of the campaign's reports (columns `REPORT_COLUMNS`, one
row per active member report) and plain values in, plain values out. No database, clock or
environment, so the same reports always give the same figures and the same draft.
"""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
import pandas as pd

from api.config import PACKAGE_DATA_DIR
from api.i18n import Language

REPORT_COLUMNS = (
    "report_id",
    "categories",
    "first_incident_month",
    "region_code",
    "contract_principal",
    "net_received",
    "apr_effective",
    "is_above_24",
    "is_above_36",
    "is_above_4lpr",
    "evidence_files",
)
CAP_COLUMNS = {"24": "is_above_24", "36": "is_above_36", "4lpr": "is_above_4lpr"}
# Smallest count the public page shows; anything below is "<5", so that nobody in a small
# group can be picked out from a published figure.
PUBLIC_MIN_CELL = 5
# Lower bounds of the amount bands in the member table: exact amounts help re-identify people.
AMOUNT_BAND_EDGES = (0, 1_000, 5_000, 10_000, 50_000, 100_000)
TEMPLATES_DIR = PACKAGE_DATA_DIR / "templates" / "fact_pattern"


@dataclass(frozen=True)
class CategoryCount:
    code: str
    count: int
    share: float


@dataclass(frozen=True)
class CapShare:
    cap: str
    count: int
    # Reports whose loan could be compared with the cap at all.
    known: int

    @property
    def share(self) -> float | None:
        return self.count / self.known if self.known else None


@dataclass(frozen=True)
class AprSummary:
    known: int
    q1: float | None
    median: float | None
    q3: float | None
    caps: tuple[CapShare, ...]


@dataclass(frozen=True)
class MonthCount:
    month: str
    count: int


@dataclass(frozen=True)
class MemberRow:
    member_id: str
    first_incident_month: str | None
    region_code: str | None
    amount_band: str | None
    net_received_band: str | None
    apr_effective: float | None
    caps_exceeded: tuple[str, ...]
    categories: tuple[str, ...]
    evidence_files: int


@dataclass(frozen=True)
class FactStatistics:
    report_count: int
    categories: tuple[CategoryCount, ...]
    apr: AprSummary
    months: tuple[MonthCount, ...]
    months_unknown: int
    members: tuple[MemberRow, ...]

    def category(self, code: str) -> CategoryCount:
        for item in self.categories:
            if item.code == code:
                return item
        return CategoryCount(code, 0, 0.0)


def _amount_band(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    amount = float(value)
    lower = max(edge for edge in AMOUNT_BAND_EDGES if edge <= amount)
    position = AMOUNT_BAND_EDGES.index(lower)
    if position + 1 == len(AMOUNT_BAND_EDGES):
        return f"≥{lower:,}"
    return f"{lower:,}–{AMOUNT_BAND_EDGES[position + 1] - 1:,}"


def member_ids(report_ids: Sequence[str]) -> dict[str, str]:
    """Pseudonyms M001, M002… in report-id order: stable for the same members, and meaningless
    outside the campaign (report ids are random)."""
    ordered = sorted(report_ids)
    width = max(3, len(str(len(ordered))))
    return {report_id: f"M{number:0{width}d}" for number, report_id in enumerate(ordered, 1)}


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    return str(value)


def _flag(value: Any) -> bool | None:
    if value is None or pd.isna(value):
        return None
    return bool(value)


def _quantiles(values: pd.Series) -> tuple[float | None, float | None, float | None]:
    if values.empty:
        return None, None, None
    q1, median, q3 = (float(v) for v in values.quantile([0.25, 0.5, 0.75]).tolist())
    return q1, median, q3


def _months(column: pd.Series) -> tuple[tuple[MonthCount, ...], int]:
    known = column.dropna()
    if known.empty:
        return (), len(column)
    counts = known.value_counts()
    # Every month from the first to the last, so a gap shows as a gap on the timeline.
    span = pd.period_range(min(known), max(known), freq="M").strftime("%Y-%m")
    months = tuple(MonthCount(month, int(counts.get(month, 0))) for month in span)
    return months, len(column) - len(known)


def fact_statistics(reports: pd.DataFrame) -> FactStatistics:
    missing = set(REPORT_COLUMNS) - set(reports.columns)
    if missing:
        raise ValueError(f"report frame lacks columns {sorted(missing)}")
    frame = reports.sort_values("report_id", kind="stable").reset_index(drop=True)
    total = len(frame)

    category_counts: dict[str, int] = {}
    for codes in frame["categories"]:
        for code in dict.fromkeys(codes or ()):
            category_counts[code] = category_counts.get(code, 0) + 1
    categories = tuple(
        CategoryCount(code, count, count / total)
        for code, count in sorted(category_counts.items(), key=lambda item: (-item[1], item[0]))
    )

    apr = pd.to_numeric(frame["apr_effective"], errors="coerce").dropna()
    caps = []
    for cap, column in CAP_COLUMNS.items():
        flags = [flag for flag in map(_flag, frame[column]) if flag is not None]
        caps.append(CapShare(cap, sum(flags), len(flags)))
    q1, median, q3 = _quantiles(apr)

    months, months_unknown = _months(frame["first_incident_month"])

    pseudonyms = member_ids(frame["report_id"].tolist())
    members = []
    for row in frame.to_dict("records"):
        exceeded = tuple(cap for cap, column in CAP_COLUMNS.items() if _flag(row[column]))
        apr_value = row["apr_effective"]
        members.append(
            MemberRow(
                member_id=pseudonyms[row["report_id"]],
                first_incident_month=_text(row["first_incident_month"]),
                region_code=_text(row["region_code"]),
                amount_band=_amount_band(row["contract_principal"]),
                net_received_band=_amount_band(row["net_received"]),
                apr_effective=None if pd.isna(apr_value) else float(apr_value),
                caps_exceeded=exceeded,
                categories=tuple(dict.fromkeys(row["categories"] or ())),
                evidence_files=0 if pd.isna(row["evidence_files"]) else int(row["evidence_files"]),
            )
        )
    members.sort(key=lambda member: member.member_id)

    return FactStatistics(
        report_count=total,
        categories=categories,
        apr=AprSummary(len(apr), q1, median, q3, tuple(caps)),
        months=months,
        months_unknown=months_unknown,
        members=tuple(members),
    )


# The public page


@dataclass(frozen=True)
class PublicCell:
    """A count for the public page: the number, or None when it is below the threshold."""

    count: int | None
    share: float | None

    @property
    def is_suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class PublicAggregates:
    report_count: PublicCell
    categories: tuple[tuple[str, PublicCell], ...]
    months: tuple[tuple[str, PublicCell], ...]
    apr_known: PublicCell
    apr_quartiles: tuple[float, float, float] | None
    caps: tuple[tuple[str, PublicCell], ...]


def _cell(count: int, denominator: int, k: int) -> PublicCell:
    if count < k or denominator < k:
        return PublicCell(None, None)
    return PublicCell(count, count / denominator)


def public_aggregates(stats: FactStatistics, k: int = PUBLIC_MIN_CELL) -> PublicAggregates:
    """The figures a public page may show: every count below `k` is suppressed, and so is every
    share or quartile computed over fewer than `k` reports."""
    total = stats.report_count
    quartiles = None
    if stats.apr.known >= k and stats.apr.q1 is not None:
        quartiles = (stats.apr.q1, stats.apr.median or 0.0, stats.apr.q3 or 0.0)
    return PublicAggregates(
        report_count=_cell(total, total, k),
        categories=tuple((c.code, _cell(c.count, total, k)) for c in stats.categories),
        months=tuple((m.month, _cell(m.count, total, k)) for m in stats.months if m.count),
        apr_known=_cell(stats.apr.known, stats.apr.known, k),
        apr_quartiles=quartiles,
        caps=tuple((cap.cap, _cell(cap.count, cap.known, k)) for cap in stats.apr.caps),
    )


# The fact pattern text


@dataclass(frozen=True)
class FactPatternInput:
    """Everything a fact pattern template can use, already in the draft's language."""

    language: Language
    title: str
    group_ref: str
    drafted_on: str
    channel_name: str
    recipient: str
    jurisdiction: str
    respondents: tuple[dict[str, str | None], ...]
    lawyers: tuple[str, ...]
    representatives_min: int
    representatives_max: int | None
    min_group_size: int
    statistics: FactStatistics
    grounds: tuple[tuple[str, bool], ...]
    demands: tuple[str, ...]
    deadlines: tuple[tuple[str, int, str, bool], ...]
    category_labels: dict[str, str]
    respondent_role_labels: dict[str, str]


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def markdown_cell(value: object) -> str:
    """A value that cannot break a Markdown table row or start a new block."""
    text = "—" if value is None or value == "" else str(value)
    return " ".join(text.replace("|", "/").split())


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Markdown, not HTML: escaping would put entities into the filed text.
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["pct"] = percent
    environment.filters["cell"] = markdown_cell
    return environment


CAP_SHORT_LABELS = {"24": "24%", "36": "36%", "4lpr": "4×LPR"}
_LIST_SEPARATORS: dict[Language, str] = {"zh": "、", "en": ", "}


def render_fact_pattern(data: FactPatternInput) -> str:
    template = _environment().get_template(f"{data.language}.md.j2")
    separator = _LIST_SEPARATORS[data.language]

    def category(code: str) -> str:
        return data.category_labels.get(code, code)

    def labels(codes: Sequence[str]) -> str:
        return separator.join(category(code) for code in codes)

    def caps(codes: Sequence[str]) -> str:
        return separator.join(CAP_SHORT_LABELS[code] for code in codes)

    text = template.render(d=data, s=data.statistics, category=category, labels=labels, caps=caps)
    lines: list[str] = []
    for line in text.strip().splitlines():
        line = line.rstrip()
        # Template logic leaves runs of blank lines; one is all Markdown needs.
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines) + "\n"


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> list[str]:
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm=""
        )
    )
