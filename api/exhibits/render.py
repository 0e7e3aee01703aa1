"""The exhibit bundle's files, and the ZIP that holds them: plain values in, bytes out.

No database, clock or environment: a `BundleSpec` says everything, so the same spec always
gives a byte-identical ZIP. That needs every format pinned down: ZIP entries carry a fixed time
and permissions and are listed in sorted order; XLSX and DOCX parts are re-zipped the same way
with fixed document dates; PNGs carry no software tag; PDFs carry a fixed creation date (fpdf2
and pypdf derive the file identifier from the content).

Evidence is converted one file at a time and streamed into the archive, so memory stays flat
however many files the bundle holds. Each page is stamped with its Bates number
`<CAMPAIGN>-<MEMBER>-<SEQ>`; redaction happened before (the stamped copy of an image is the
metadata-free one). Given an `ExhibitCache`, a build keeps its stamped PDFs and the next build
of the campaign reuses those whose inputs are unchanged, which are the same bytes.
"""

import csv
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import openpyxl
from fpdf import FPDF, image_parsing
from fpdf.enums import WrapMode, XPos, YPos
from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from openpyxl.writer.excel import ExcelWriter
from PIL import Image, ImageSequence
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.errors import PdfReadError

from api.campaigns.facts import CAP_SHORT_LABELS, FactStatistics
from api.config import PACKAGE_DATA_DIR

FORMAT = "gongsu-exhibit-bundle/1"
# ZIP's earliest representable time: any fixed value makes the archive reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FIXED_DOCUMENT_TIME = datetime(1980, 1, 1, tzinfo=UTC)
FONT_PATH = PACKAGE_DATA_DIR / "fonts" / "NotoSansSC-Regular.otf"
FONT_FAMILY = "NotoSansSC"
MANIFEST_PATH = "manifest.json"
SUMS_PATH = "SHA256SUMS"
README_PATH = "README.txt"
SEQ_DIGITS = 6
# Below this many evidence files, starting worker processes costs more than it saves.
POOL_MIN_ITEMS = 200
POOL_AHEAD_PER_WORKER = 4
# Formats that are compressed already; deflating them again only costs time.
_STORED_SUFFIXES = frozenset(
    {".pdf", ".png", ".jpg", ".xlsx", ".docx", ".mp3", ".m4a", ".amr", ".ogg", ".aac", ".flac"}
)
_COPY_CHUNK = 1024 * 1024
_A4 = (595.28, 841.89)
_MARGIN_PT = 36.0
_STAMP_BAND_PT = 28.0
_STAMP_SIZE_PT = 9.0
# zlib level for the pixels of a non-JPEG picture, which fpdf2 re-compresses losslessly: level 1
# takes half the time of the default 6 (a screenshot: 15 ms instead of 30) for files about a
# third larger, and thousands of screenshots make that the larger part of a first build.
_IMAGE_DEFLATE_LEVEL = 1
AUDIO_SUFFIXES = {
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-wav": ".wav",
    "audio/amr": ".amr",
    "audio/ogg": ".ogg",
    "audio/aac": ".aac",
    "audio/x-flac": ".flac",
}


# What goes in


@dataclass(frozen=True)
class BundleFile:
    path: str
    content: bytes


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    slug: str
    code: str
    title: str
    channel: str
    channel_name: str
    jurisdiction: str
    group_reference: str
    language: str


@dataclass(frozen=True)
class FactPatternDocument:
    version_id: int
    language: str
    number: int
    body_sha256: str
    approved_at: str
    files: tuple[BundleFile, ...]


@dataclass(frozen=True)
class SignatoryRow:
    member_code: str
    role: str
    joined_at: str
    report_member_id: str
    identity: Mapping[str, str]
    bates_ranges: tuple[str, ...]


@dataclass(frozen=True)
class Narrative:
    member_id: str
    title: str
    first_incident_month: str | None
    categories: tuple[str, ...]
    body: str
    updates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CustodyRow:
    event: str
    occurred_at: str
    sha256: str | None


@dataclass(frozen=True)
class EvidenceItem:
    evidence_id: str
    member_code: str
    exhibit_number: str
    media_type: str
    capture_method: str
    received_at: str
    sha256_original: str
    sha256_redacted: str | None
    redaction_status: str
    proves: tuple[str, ...]
    first_page: int
    page_count: int
    # The copy that is stamped: the metadata-free image, or the original PDF or recording.
    source_path: Path = field(compare=False)
    custody: tuple[CustodyRow, ...] = ()

    @property
    def is_audio(self) -> bool:
        return self.media_type.startswith("audio/")


@dataclass(frozen=True)
class BatesGap:
    member_code: str
    first_page: int
    page_count: int
    reason: str


@dataclass(frozen=True)
class BundleSpec:
    campaign: CampaignInfo
    fact_patterns: tuple[FactPatternDocument, ...]
    identity_fields: tuple[str, ...]
    identity_labels: Mapping[str, str]
    signatories: tuple[SignatoryRow, ...]
    statistics: FactStatistics
    category_labels: Mapping[str, str]
    narratives: tuple[Narrative, ...]
    evidence: tuple[EvidenceItem, ...]
    gaps: tuple[BatesGap, ...]
    consent_fingerprint: str
    # Figures about the inputs for the manifest (run id, counts…), JSON-serialisable.
    inputs: Mapping[str, Any]
    # Headings and labels in the bundle's language, by key (see api.exhibits.service.TEXT_KEYS).
    texts: Mapping[str, str]


def bates_label(campaign_code: str, member_code: str, page: int) -> str:
    return f"{campaign_code}-{member_code}-{page:0{SEQ_DIGITS}d}"


def bates_range(campaign_code: str, member_code: str, first: int, count: int) -> str:
    first_label = bates_label(campaign_code, member_code, first)
    if count == 1:
        return first_label
    return f"{first_label} – {bates_label(campaign_code, member_code, first + count - 1)}"


# Tables


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel shows Chinese as mojibake."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def rezip(data: bytes) -> bytes:
    """The same archive with every entry dated `ZIP_EPOCH` and fixed permissions."""
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            target.writestr(_zip_info(entry.filename, zipfile.ZIP_DEFLATED), source.read(entry))
    return output.getvalue()


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[object]]]]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    # openpyxl's save_workbook stamps the clock into `modified`; ExcelWriter leaves it alone.
    workbook.properties.created = FIXED_DOCUMENT_TIME.replace(tzinfo=None)
    workbook.properties.modified = FIXED_DOCUMENT_TIME.replace(tzinfo=None)
    workbook.properties.creator = "Gongsu 共诉"
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append(list(header))
        for row in rows:
            sheet.append(["" if value is None else value for value in row])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    return rezip(buffer.getvalue())


def _table_files(
    stem: str, sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[object]]]]
) -> list[BundleFile]:
    files = [BundleFile(f"{stem}.xlsx", xlsx_bytes(sheets))]
    if len(sheets) == 1:
        _, header, rows = sheets[0]
        files.append(BundleFile(f"{stem}.csv", csv_bytes(header, rows)))
    else:
        folder = stem.rpartition("/")[0]
        for name, header, rows in sheets:
            files.append(BundleFile(f"{folder}/{name}.csv", csv_bytes(header, rows)))
    return files


def signatory_files(spec: BundleSpec) -> list[BundleFile]:
    t = spec.texts
    header = [
        t["signatory.member_code"],
        t["signatory.role"],
        t["signatory.joined_at"],
        t["signatory.report"],
        *(spec.identity_labels.get(name, name) for name in spec.identity_fields),
        t["signatory.exhibits"],
    ]
    rows = [
        [
            row.member_code,
            row.role,
            row.joined_at,
            row.report_member_id,
            *(row.identity.get(name, "") for name in spec.identity_fields),
            "; ".join(row.bates_ranges),
        ]
        for row in spec.signatories
    ]
    return _table_files("02_signatories/signatories", [("signatories", header, rows)])


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def statistics_files(spec: BundleSpec) -> list[BundleFile]:
    t, stats = spec.texts, spec.statistics
    categories = [
        [c.code, spec.category_labels.get(c.code, c.code), c.count, _percent(c.share)]
        for c in stats.categories
    ]
    months = [[m.month, m.count] for m in stats.months]
    apr = stats.apr
    apr_rows = [
        [t["stats.apr_known"], apr.known],
        [t["stats.apr_q1"], _percent(apr.q1)],
        [t["stats.apr_median"], _percent(apr.median)],
        [t["stats.apr_q3"], _percent(apr.q3)],
    ]
    caps = [[CAP_SHORT_LABELS[c.cap], c.count, c.known, _percent(c.share)] for c in stats.apr.caps]
    members = [
        [
            m.member_id,
            m.first_incident_month,
            m.region_code,
            m.amount_band,
            m.net_received_band,
            _percent(m.apr_effective),
            ", ".join(CAP_SHORT_LABELS[cap] for cap in m.caps_exceeded),
            ", ".join(spec.category_labels.get(code, code) for code in m.categories),
            m.evidence_files,
        ]
        for m in stats.members
    ]
    sheets: list[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = [
        (
            "categories",
            [t["stats.code"], t["stats.category"], t["stats.reports"], t["stats.share_percent"]],
            categories,
        ),
        ("months", [t["stats.month"], t["stats.reports"]], months),
        ("apr", [t["stats.measure"], t["stats.value_percent"]], apr_rows),
        (
            "caps",
            [t["stats.cap"], t["stats.above"], t["stats.known"], t["stats.share_percent"]],
            caps,
        ),
        (
            "members",
            [
                t["stats.member"],
                t["stats.month"],
                t["stats.region"],
                t["stats.amount_band"],
                t["stats.net_band"],
                t["stats.apr_percent"],
                t["stats.caps_exceeded"],
                t["stats.categories"],
                t["stats.evidence_files"],
            ],
            members,
        ),
    ]
    return _table_files("03_statistics/statistics", sheets)


# Charts


@lru_cache(maxsize=1)
def _chart_font() -> str:
    font_manager.fontManager.addfont(str(FONT_PATH))
    return font_manager.FontProperties(fname=str(FONT_PATH)).get_name()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    # No "Software" text chunk: it names the matplotlib version, which is not an input.
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _no_data(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def chart_files(spec: BundleSpec) -> list[BundleFile]:
    t, stats = spec.texts, spec.statistics
    charts: list[BundleFile] = []
    with rc_context({"font.family": _chart_font(), "axes.unicode_minus": False}):
        figure = Figure(figsize=(8, 4.5))
        axes = figure.add_subplot()
        if stats.months:
            labels = [m.month for m in stats.months]
            axes.bar(range(len(labels)), [m.count for m in stats.months], color="#3b6ea5")
            step = max(1, len(labels) // 12)
            axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
            axes.set_ylabel(t["chart.reports"])
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            _no_data(axes, t["chart.no_data"])
        axes.set_title(t["chart.months_title"])
        figure.tight_layout()
        charts.append(BundleFile("03_statistics/charts/reports_per_month.png", _png(figure)))

        figure = Figure(figsize=(8, 4.5))
        axes = figure.add_subplot()
        if stats.categories:
            ordered = list(reversed(stats.categories))
            axes.barh(
                [spec.category_labels.get(c.code, c.code) for c in ordered],
                [c.share * 100 for c in ordered],
                color="#a5563b",
            )
            axes.set_xlabel(t["chart.share_percent"])
            axes.set_xlim(0, 100)
        else:
            _no_data(axes, t["chart.no_data"])
        axes.set_title(t["chart.categories_title"])
        figure.tight_layout()
        charts.append(BundleFile("03_statistics/charts/category_shares.png", _png(figure)))

        figure = Figure(figsize=(8, 4.5))
        axes = figure.add_subplot()
        aprs = [m.apr_effective * 100 for m in stats.members if m.apr_effective is not None]
        if aprs:
            top = max(48.0, min(max(aprs), 400.0))
            bins = [edge * 6.0 for edge in range(int(top // 6) + 2)]
            axes.hist([min(value, top) for value in aprs], bins=bins, color="#5b8c5a")
            for line, style in ((24, "--"), (36, "-")):
                axes.axvline(line, color="#b00020", linestyle=style, linewidth=1.2)
                axes.text(line, axes.get_ylim()[1] * 0.95, f" {line}%", color="#b00020")
            axes.set_xlabel(t["chart.apr_percent"])
            axes.set_ylabel(t["chart.reports"])
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            _no_data(axes, t["chart.no_data"])
        axes.set_title(t["chart.apr_title"])
        figure.tight_layout()
        charts.append(BundleFile("03_statistics/charts/apr_distribution.png", _png(figure)))
    return charts


# Narratives


def narrative_file(item: Narrative, texts: Mapping[str, str]) -> BundleFile:
    lines = [f"# {item.member_id} · {item.title}", ""]
    if item.first_incident_month:
        lines.append(f"- {texts['narrative.month']}: {item.first_incident_month}")
    if item.categories:
        lines.append(f"- {texts['narrative.categories']}: {', '.join(item.categories)}")
    lines += ["", item.body.strip(), ""]
    for submitted_on, body in item.updates:
        lines += [f"## {texts['narrative.update']} {submitted_on}", "", body.strip(), ""]
    text = "\n".join(lines).rstrip("\n") + "\n"
    return BundleFile(f"04_narratives/{item.member_id}.md", text.encode("utf-8"))


# Evidence as Bates-stamped PDF pages


def _open_pdf(path: Path) -> PdfReader | None:
    """A readable PDF, or None: a damaged or password-protected file gets a placeholder page."""
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        if len(reader.pages) == 0:
            return None
        return reader
    except (PdfReadError, OSError, ValueError, KeyError, TypeError):
        return None


def count_pages(media_type: str, path: Path) -> int:
    """How many Bates pages the file becomes; agrees with `evidence_pdf`."""
    if media_type != "application/pdf":
        return 1
    reader = _open_pdf(path)
    return len(reader.pages) if reader is not None else 1


def _draw_stamp(pdf: FPDF, width: float, height: float, left: str, right: str) -> None:
    """The exhibit number bottom left and the Bates number bottom right, on white boxes so
    they stay legible over a dark page."""
    pdf.set_font("helvetica", size=_STAMP_SIZE_PT)
    pdf.set_fill_color(255, 255, 255)
    y = height - _STAMP_BAND_PT + 8
    for text, x in ((right, None), (left, _MARGIN_PT / 2)):
        box_width = pdf.get_string_width(text) + 8
        box_x = width - _MARGIN_PT / 2 - box_width if x is None else x
        pdf.rect(box_x, y - 2, box_width, 14, style="F")
        pdf.set_xy(box_x, y)
        pdf.cell(box_width, 10, text, align="C")


def _stamp_overlay(
    sizes: Sequence[tuple[float, float]], stamps: Sequence[tuple[str, str]]
) -> bytes:
    """One page per size, blank but for the stamp."""
    pdf = FPDF(unit="pt", format=sizes[0])
    pdf.set_creation_date(FIXED_DOCUMENT_TIME)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    for (width, height), (left, right) in zip(sizes, stamps, strict=True):
        pdf.add_page(format=(width, height))
        _draw_stamp(pdf, width, height, left, right)
    return bytes(pdf.output())


def _finish_pdf(writer: PdfWriter) -> bytes:
    writer.metadata = None
    writer.add_metadata({"/Producer": "Gongsu exhibits", "/Creator": "Gongsu 共诉"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _stamp_pdf(source: PdfReader | bytes, stamps: Sequence[tuple[str, str]]) -> bytes:
    writer = PdfWriter(clone_from=source if isinstance(source, PdfReader) else io.BytesIO(source))
    sizes = []
    for page in writer.pages:
        # Stamp where the reader sees the bottom: a page shown rotated is straightened first.
        page.transfer_rotation_to_content()
        box = page.cropbox
        sizes.append((float(box.width), float(box.height)))
    overlay = PdfReader(io.BytesIO(_stamp_overlay(sizes, stamps)))
    for page, stamp_page in zip(writer.pages, overlay.pages, strict=True):
        box = page.cropbox
        page.merge_transformed_page(
            stamp_page, Transformation().translate(float(box.left), float(box.bottom))
        )
    return _finish_pdf(writer)


def _image_page(path: Path, stamp: tuple[str, str]) -> bytes:
    """The picture on one stamped A4 page (landscape for a wide picture), fitted above the
    stamp band. Drawn in one document: no second pass to merge the stamp."""
    with Image.open(path) as opened:
        is_plain_jpeg = opened.format == "JPEG" and opened.mode in ("RGB", "L")
        # An animated GIF is shown by its first frame.
        image = None if is_plain_jpeg else next(ImageSequence.Iterator(opened)).copy()
        width_px, height_px = opened.size
    if image is not None and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    page = _A4 if height_px >= width_px else (_A4[1], _A4[0])
    pdf = FPDF(unit="pt", format=page)
    pdf.set_creation_date(FIXED_DOCUMENT_TIME)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.add_page()
    room_w = page[0] - 2 * _MARGIN_PT
    room_h = page[1] - 2 * _MARGIN_PT - _STAMP_BAND_PT
    scale = min(room_w / width_px, room_h / height_px)
    shown_w, shown_h = width_px * scale, height_px * scale
    x = (page[0] - shown_w) / 2
    # A JPEG goes in as it is (PDF embeds JPEG data unchanged); anything else is re-encoded
    # losslessly. fpdf2 takes the zlib level from a module setting only.
    image_parsing.SETTINGS.compression_level = _IMAGE_DEFLATE_LEVEL
    pdf.image(str(path) if image is None else image, x=x, y=_MARGIN_PT, w=shown_w, h=shown_h)
    _draw_stamp(pdf, page[0], page[1], *stamp)
    return bytes(pdf.output())


@lru_cache(maxsize=8)
def _slip_sheet(title: str, lines: tuple[str, ...]) -> bytes:
    """A one-page template with the fixed (possibly Chinese) text of a placeholder page.

    Made once per text and stamped per file: embedding the Chinese font costs a quarter of a
    second a document, far too slow to repeat for each of thousands of files."""
    pdf = FPDF(unit="pt", format=_A4)
    pdf.set_creation_date(FIXED_DOCUMENT_TIME)
    pdf.add_font(FONT_FAMILY, "", str(FONT_PATH))
    pdf.set_margins(_MARGIN_PT * 2, _MARGIN_PT * 2, _MARGIN_PT * 2)
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, size=16)
    pdf.multi_cell(0, 22, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
    pdf.ln(10)
    pdf.set_font(FONT_FAMILY, size=10.5)
    for line in lines:
        pdf.multi_cell(0, 15, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
    return bytes(pdf.output())


def _details_overlay(details: Sequence[tuple[str, str]], stamp: tuple[str, str]) -> bytes:
    """The file's own facts (ASCII only, so a core font does) on a page with its stamp."""
    base = PdfReader(io.BytesIO(_stamp_overlay([_A4], [stamp])))
    pdf = FPDF(unit="pt", format=_A4)
    pdf.set_creation_date(FIXED_DOCUMENT_TIME)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("courier", size=9)
    y = _A4[1] / 2
    for label, value in details:
        pdf.set_xy(_MARGIN_PT * 2, y)
        pdf.multi_cell(_A4[0] - 4 * _MARGIN_PT, 12, f"{label}: {value}", align="L")
        y = pdf.get_y() + 4
    writer = PdfWriter(clone_from=io.BytesIO(bytes(pdf.output())))
    writer.pages[0].merge_page(base.pages[0])
    return _finish_pdf(writer)


def _placeholder(
    item: EvidenceItem, texts: Mapping[str, str], title_key: str, stamp: tuple[str, str]
) -> bytes:
    template = PdfWriter(
        clone_from=io.BytesIO(
            _slip_sheet(texts[f"{title_key}.title"], tuple(texts[f"{title_key}.body"].split("\n")))
        )
    )
    details = [
        ("exhibit", item.exhibit_number),
        ("media type", item.media_type),
        ("capture method", item.capture_method),
        ("received", item.received_at),
        ("SHA-256 (original)", item.sha256_original),
    ]
    overlay = PdfReader(io.BytesIO(_details_overlay(details, stamp)))
    template.pages[0].merge_page(overlay.pages[0])
    return _finish_pdf(template)


def evidence_pdf(item: EvidenceItem, campaign_code: str, texts: Mapping[str, str]) -> bytes:
    """The evidence file as PDF pages, each stamped with its Bates number."""
    stamps = [
        (
            f"Ex. {item.exhibit_number}  p. {page + 1}/{item.page_count}",
            bates_label(campaign_code, item.member_code, item.first_page + page),
        )
        for page in range(item.page_count)
    ]
    if item.is_audio:
        return _placeholder(item, texts, "placeholder.audio", stamps[0])
    if item.media_type == "application/pdf":
        reader = _open_pdf(item.source_path)
        if reader is None:
            return _placeholder(item, texts, "placeholder.unreadable", stamps[0])
        if len(reader.pages) != item.page_count:
            raise ValueError(
                f"evidence {item.evidence_id} has {len(reader.pages)} pages, "
                f"but {item.page_count} Bates numbers were assigned to it"
            )
        return _stamp_pdf(reader, stamps)
    return _image_page(item.source_path, stamps[0])


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class EvidenceChanged(ValueError):
    """A stored evidence file no longer has the hash it was received with."""


def check_source(item: EvidenceItem) -> None:
    expected = item.sha256_redacted or item.sha256_original
    if _file_sha256(item.source_path) != expected:
        raise EvidenceChanged(f"evidence {item.evidence_id}: the stored file's SHA-256 changed")


def exhibit_path(campaign_code: str, item: EvidenceItem) -> str:
    return (
        f"05_evidence/exhibits/{bates_label(campaign_code, item.member_code, item.first_page)}.pdf"
    )


def native_path(campaign_code: str, item: EvidenceItem) -> str:
    suffix = AUDIO_SUFFIXES.get(item.media_type, ".bin")
    label = bates_label(campaign_code, item.member_code, item.first_page)
    return f"05_evidence/native/{label}{suffix}"


def catalogue_files(spec: BundleSpec, produced: Mapping[str, tuple[str, str]]) -> list[BundleFile]:
    """The evidence catalogue (证据目录) and the chain of custody; `produced` maps an evidence
    id to its exhibit file's path and SHA-256 in this bundle."""
    t, code = spec.texts, spec.campaign.code
    header = [
        t["catalogue.number"],
        t["catalogue.name"],
        t["catalogue.type"],
        t["catalogue.source"],
        t["catalogue.proves"],
        t["catalogue.pages"],
        t["catalogue.page_count"],
        t["catalogue.original_or_copy"],
        t["catalogue.obtained"],
        t["catalogue.sha256_original"],
        t["catalogue.redaction"],
        t["catalogue.file"],
        t["catalogue.sha256_file"],
        t["catalogue.remarks"],
    ]
    entries: list[tuple[int, list[object]]] = []
    for item in spec.evidence:
        kind = (
            "audio" if item.is_audio else "pdf" if item.media_type == "application/pdf" else "image"
        )
        path, digest = produced[item.evidence_id]
        remarks = (
            t["catalogue.remark_native"].format(path=native_path(code, item))
            if item.is_audio
            else ""
        )
        entries.append(
            (
                item.first_page,
                [
                    item.exhibit_number,
                    t[f"catalogue.name_{kind}"].format(member=item.member_code),
                    t[f"catalogue.type_{kind}"],
                    t.get(f"capture.{item.capture_method}", item.capture_method),
                    "; ".join(item.proves),
                    bates_range(code, item.member_code, item.first_page, item.page_count),
                    item.page_count,
                    t["catalogue.copy"],
                    item.received_at[:10],
                    item.sha256_original,
                    t.get(f"redaction.{item.redaction_status}", item.redaction_status),
                    path,
                    digest,
                    remarks,
                ],
            )
        )
    for gap in spec.gaps:
        entries.append(
            (
                gap.first_page,
                [
                    "—",
                    t["catalogue.gap_name"],
                    "",
                    "",
                    "",
                    bates_range(code, gap.member_code, gap.first_page, gap.page_count),
                    gap.page_count,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    t[f"catalogue.gap_{gap.reason}"].format(member=gap.member_code),
                ],
            )
        )
    rows = [row for _, row in sorted(entries, key=lambda entry: entry[0])]
    custody_header = [
        t["catalogue.number"],
        t["custody.event"],
        t["custody.occurred_at"],
        t["custody.sha256"],
    ]
    custody = [
        [item.exhibit_number, row.event, row.occurred_at, row.sha256 or ""]
        for item in spec.evidence
        for row in (
            *item.custody,
            CustodyRow("bundle_pdf_stamped", "", produced[item.evidence_id][1]),
        )
    ]
    return [
        *_table_files("05_evidence/catalogue", [("catalogue", header, rows)]),
        *_table_files("05_evidence/custody", [("custody", custody_header, custody)]),
    ]


# The archive


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str


def _zip_info(path: str, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=ZIP_EPOCH)
    info.compress_type = compress_type
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _compression(path: str) -> int:
    return (
        zipfile.ZIP_STORED
        if Path(path).suffix.lower() in _STORED_SUFFIXES
        else zipfile.ZIP_DEFLATED
    )


class BundleZip:
    """A ZIP written entry by entry, recording each entry's size and SHA-256 on the way."""

    def __init__(self, target: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(target, "w", allowZip64=True)
        self.files: list[ManifestFile] = []

    def add(self, path: str, content: bytes) -> ManifestFile:
        entry = ManifestFile(path, len(content), hashlib.sha256(content).hexdigest())
        self._zip.writestr(_zip_info(path, _compression(path)), content, compresslevel=6)
        self.files.append(entry)
        return entry

    def add_file(self, path: str, source: Path) -> ManifestFile:
        digest, size = hashlib.sha256(), 0
        with (
            source.open("rb") as handle,
            self._zip.open(_zip_info(path, _compression(path)), "w", force_zip64=True) as out,
        ):
            while chunk := handle.read(_COPY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        entry = ManifestFile(path, size, digest.hexdigest())
        self.files.append(entry)
        return entry

    def close(self) -> None:
        # The central directory, which is what every ZIP tool lists, in path order.
        self._zip.filelist.sort(key=lambda info: info.filename)
        self._zip.close()

    def __enter__(self) -> "BundleZip":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def manifest_bytes(spec: BundleSpec, files: Sequence[ManifestFile], fingerprint: str) -> bytes:
    manifest = {
        "format": FORMAT,
        "campaign": asdict(spec.campaign),
        "fact_pattern_versions": [
            {
                "id": document.version_id,
                "language": document.language,
                "number": document.number,
                "body_sha256": document.body_sha256,
                "approved_at": document.approved_at,
            }
            for document in spec.fact_patterns
        ],
        "consent_fingerprint": spec.consent_fingerprint,
        "inputs": {**spec.inputs, "fingerprint": fingerprint},
        "files": [asdict(entry) for entry in sorted(files, key=lambda entry: entry.path)],
    }
    return (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


def sums_bytes(files: Sequence[ManifestFile]) -> bytes:
    # The layout `sha256sum -c` reads: hash, two spaces, path.
    lines = [f"{entry.sha256}  {entry.path}\n" for entry in sorted(files, key=lambda e: e.path)]
    return "".join(lines).encode("utf-8")


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
    ).encode()


def inputs_fingerprint(spec: BundleSpec) -> str:
    """SHA-256 over everything the bundle is made from (file locations aside): equal
    fingerprints, equal bundles."""
    digest = hashlib.sha256()
    digest.update(_canonical(asdict(spec.campaign)))
    for document in spec.fact_patterns:
        digest.update(_canonical([document.version_id, document.body_sha256, document.approved_at]))
    digest.update(_canonical([spec.identity_fields, spec.consent_fingerprint, spec.inputs]))
    for signatory in spec.signatories:
        digest.update(_canonical(asdict(signatory)))
    digest.update(_canonical(asdict(spec.statistics)))
    digest.update(_canonical(dict(spec.category_labels)))
    for narrative in spec.narratives:
        digest.update(_canonical(asdict(narrative)))
    for item in spec.evidence:
        digest.update(_canonical({**asdict(item), "source_path": None}))
    for gap in spec.gaps:
        digest.update(_canonical(asdict(gap)))
    digest.update(_canonical(dict(spec.texts)))
    return digest.hexdigest()


Progress = Callable[[float, str], None]


def _ignore_progress(_share: float, _note: str) -> None:
    return None


def _convert(item: EvidenceItem, campaign_code: str, texts: Mapping[str, str]) -> bytes:
    check_source(item)
    return evidence_pdf(item, campaign_code, texts)


# Libraries whose output the exhibit pages are made of.
_RENDERING_PACKAGES = ("fpdf2", "pypdf", "pillow")


@lru_cache(maxsize=1)
def renderer_fingerprint() -> str:
    """Changes whenever a stamped page could: this module, the font, the PDF and image libraries."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(FONT_PATH.read_bytes())
    for package in _RENDERING_PACKAGES:
        digest.update(f"{package}=={metadata.version(package)}".encode())
    return digest.hexdigest()


def exhibit_key(item: EvidenceItem, campaign_code: str, texts: Mapping[str, str]) -> str:
    """Equal keys, byte-identical stamped PDFs: the key covers everything `evidence_pdf` reads
    (the source by its SHA-256, which `check_source` holds it to)."""
    return hashlib.sha256(
        _canonical(
            [
                renderer_fingerprint(),
                campaign_code,
                {**asdict(item), "source_path": None, "custody": None},
                {key: value for key, value in texts.items() if key.startswith("placeholder.")},
            ]
        )
    ).hexdigest()


class ExhibitCache:
    """The stamped PDFs of a campaign's last build, by `exhibit_key`.

    A rebuild (after a withdrawal, say) keeps almost every exhibit's Bates numbers and so its
    key: reading the earlier PDF replaces a conversion, tens of milliseconds a file. After a
    build only its own exhibits are kept, so copies of withdrawn evidence do not linger here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pdf"

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, content: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f"{key}.{os.getpid()}.part"
        partial.write_bytes(content)
        partial.replace(self._path(key))

    def keep_only(self, keys: Iterable[str]) -> None:
        kept = {self._path(key).name for key in keys}
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.name not in kept:
                    path.unlink(missing_ok=True)


def _conversions(
    items: Sequence[EvidenceItem], campaign_code: str, texts: Mapping[str, str], workers: int
) -> Iterator[bytes]:
    """Each item's stamped PDF, in order; converted in `workers` processes for a large bundle.

    Only a few items per worker are converted ahead of the archive, so memory stays flat."""
    if workers <= 1 or len(items) < POOL_MIN_ITEMS:
        for item in items:
            yield _convert(item, campaign_code, texts)
        return
    # Spawned, not forked: the server process runs threads, which a fork would copy mid-step.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        queue = iter(items)
        pending: deque[Future[bytes]] = deque(
            pool.submit(_convert, item, campaign_code, texts)
            for item in itertools.islice(queue, workers * POOL_AHEAD_PER_WORKER)
        )
        while pending:
            content = pending.popleft().result()
            for item in itertools.islice(queue, 1):
                pending.append(pool.submit(_convert, item, campaign_code, texts))
            yield content


def _converted_evidence(
    items: Sequence[EvidenceItem],
    keys: Sequence[str],
    campaign_code: str,
    texts: Mapping[str, str],
    workers: int,
    cache: ExhibitCache | None,
) -> Iterator[bytes]:
    """Each item's stamped PDF, in order: from `cache` when an earlier build made it (by its
    `exhibit_key` in `keys`), else converted and then kept in `cache`."""
    cached = {key for key in keys if cache is not None and cache.has(key)}
    missing = [item for item, key in zip(items, keys, strict=True) if key not in cached]
    converted = _conversions(missing, campaign_code, texts, workers)
    for item, key in zip(items, keys, strict=True):
        if cache is None or key not in cached:
            content = next(converted)
            if cache is not None:
                cache.write(key, content)
        else:
            check_source(item)
            content = cache.read(key) or _convert(item, campaign_code, texts)
        yield content


def _table_and_chart_files(spec: BundleSpec) -> list[BundleFile]:
    return [*signatory_files(spec), *statistics_files(spec), *chart_files(spec)]


def write_bundle(
    spec: BundleSpec,
    target: IO[bytes],
    progress: Progress = _ignore_progress,
    *,
    workers: int = 1,
    cache: ExhibitCache | None = None,
) -> str:
    """Write the whole bundle into `target`; returns the inputs fingerprint.

    `progress(share, note)` is called now and then with the share done (0–1). Evidence is
    converted in `workers` processes when there is enough of it to pay for starting them, or
    read from `cache` when an earlier build converted it the same way; the archive is the same
    either way."""
    code = spec.campaign.code
    keys = [exhibit_key(item, code, spec.texts) for item in spec.evidence]
    # The tables, charts and fingerprint are made in a thread while the evidence is converted
    # in other processes: made first, they kept one core idle for seconds of a large build.
    with ThreadPoolExecutor(max_workers=1) as side, BundleZip(target) as archive:
        tables = side.submit(_table_and_chart_files, spec)
        fingerprint = side.submit(inputs_fingerprint, spec)
        produced: dict[str, tuple[str, str]] = {}
        total = len(spec.evidence)
        converted = _converted_evidence(spec.evidence, keys, code, spec.texts, workers, cache)
        for done, (item, content) in enumerate(zip(spec.evidence, converted, strict=True), 1):
            path = exhibit_path(code, item)
            produced[item.evidence_id] = (path, archive.add(path, content).sha256)
            if item.is_audio:
                archive.add_file(native_path(code, item), item.source_path)
            if done % 50 == 0 or done == total:
                progress(0.8 * done / total, f"evidence {done}/{total}")
        archive.add(
            README_PATH, spec.texts["readme"].format(**asdict(spec.campaign)).encode("utf-8")
        )
        for document in spec.fact_patterns:
            for file in document.files:
                archive.add(file.path, file.content)
        for file in tables.result():
            archive.add(file.path, file.content)
        progress(0.85, "tables")
        for narrative in spec.narratives:
            file = narrative_file(narrative, spec.texts)
            archive.add(file.path, file.content)
        progress(0.95, "narratives")
        for file in catalogue_files(spec, produced):
            archive.add(file.path, file.content)
        # The manifest lists every file but itself and SHA256SUMS, which lists the manifest too.
        archive.add(MANIFEST_PATH, manifest_bytes(spec, archive.files, fingerprint.result()))
        archive.add(SUMS_PATH, sums_bytes(archive.files))
    if cache is not None:
        cache.keep_only(keys)
    progress(1.0, "written")
    return fingerprint.result()
