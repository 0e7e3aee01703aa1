"""DOCX and PDF renderings of a fact pattern version: Markdown text in, file bytes out.

Only the Markdown the fact pattern templates write is understood: `#`–`###` headings, `- `
bullets, `1. ` numbered items, `| a | b |` tables and plain lines. Both renderings are
byte-for-byte reproducible: the document dates are the version's own creation time, and the
DOCX archive is rewritten with fixed entry times.

The PDF embeds a subset of Noto Sans SC (SIL Open Font License), which covers Chinese and Latin
text, from the `pylopdf-fonts-zh-cn` package, so a PDF reader needs no Chinese font of its own.
"""

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.styles.style import BaseStyle
from fpdf import FPDF, FontFace
from fpdf.enums import WrapMode, XPos, YPos

from api.config import PACKAGE_DATA_DIR
from api.i18n import Language

_HEADING_RE = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET_RE = re.compile(r"^[-*]\s+(.*)$")
_TABLE_RULE_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
# The earliest time a ZIP entry can carry; any fixed value makes the archive reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_MEDIA_TYPE = "application/pdf"
FONT_FAMILY = "NotoSansSC"
# Word has no font to embed here; these are the faces a Chinese legal reader is likely to have.
DOCX_EAST_ASIA_FONT = "SimSun"
DOCX_LATIN_FONT = "Times New Roman"


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "paragraph", "bullet" or "table"
    text: str = ""
    level: int = 0
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class DocumentMeta:
    title: str
    language: Language
    # Printed in every page footer, so a printed page says which version it belongs to.
    reference: str
    created_at: datetime
    author: str = "Gongsu 共诉"


def _table_cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def parse_markdown(text: str) -> list[Block]:
    blocks: list[Block] = []
    table: list[tuple[str, ...]] = []

    def close_table() -> None:
        if table:
            blocks.append(Block("table", rows=tuple(table)))
            table.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if not _TABLE_RULE_RE.match(line):
                table.append(_table_cells(line))
            continue
        close_table()
        if not line:
            continue
        if heading := _HEADING_RE.match(line):
            blocks.append(Block("heading", heading.group(2), level=len(heading.group(1))))
        elif bullet := _BULLET_RE.match(line):
            blocks.append(Block("bullet", bullet.group(1)))
        else:
            blocks.append(Block("paragraph", line))
    close_table()
    return blocks


# DOCX


def _set_fonts(style: BaseStyle) -> None:
    style.font.name = DOCX_LATIN_FONT
    # python-docx sets only the Latin faces; Chinese runs use the East Asian one.
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), DOCX_EAST_ASIA_FONT)


def _reproducible_zip(data: bytes) -> bytes:
    """The same archive with every entry dated `_ZIP_EPOCH`; python-docx stamps the clock."""
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(entry.filename))
    return output.getvalue()


def render_docx(meta: DocumentMeta, markdown: str) -> bytes:
    document = Document()
    properties = document.core_properties
    properties.title = meta.title
    properties.author = meta.author
    properties.last_modified_by = meta.author
    properties.comments = meta.reference
    # python-docx writes naive times as UTC.
    created = meta.created_at.astimezone(UTC).replace(tzinfo=None)
    properties.created = created
    properties.modified = created
    properties.revision = 1
    properties.language = "zh-CN" if meta.language == "zh" else "en"
    for style_name in ("Normal", "Heading 1", "Heading 2", "Heading 3", "Title"):
        _set_fonts(document.styles[style_name])
    document.styles["Normal"].font.size = Pt(10.5)

    for block in parse_markdown(markdown):
        if block.kind == "heading":
            document.add_heading(block.text, level=block.level)
        elif block.kind == "bullet":
            document.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "table":
            header, *body = block.rows
            table = document.add_table(rows=0, cols=len(header))
            table.style = "Table Grid"
            for row in (header, *body):
                cells = table.add_row().cells
                for cell, value in zip(cells, row, strict=False):
                    cell.text = value
        else:
            document.add_paragraph(block.text)
    footer = document.sections[0].footer.paragraphs[0]
    footer.text = meta.reference
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER

    buffer = io.BytesIO()
    document.save(buffer)
    return _reproducible_zip(buffer.getvalue())


# PDF


@lru_cache(maxsize=1)
def font_path() -> Path:
    return PACKAGE_DATA_DIR / "fonts" / "NotoSansSC-Regular.otf"


class _FactPatternPdf(FPDF):
    def __init__(self, meta: DocumentMeta) -> None:
        super().__init__(format="A4")
        self.meta = meta

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, size=8)
        page = f"第 {self.page_no()} 页" if self.meta.language == "zh" else f"Page {self.page_no()}"
        self.cell(0, 6, f"{self.meta.reference} · {page}", align="C")


_HEADING_SIZES = {1: 16.0, 2: 13.0, 3: 11.5}
_BODY_SIZE = 10.5
_TABLE_SIZE = 7.5


def render_pdf(meta: DocumentMeta, markdown: str) -> bytes:
    pdf = _FactPatternPdf(meta)
    pdf.set_creation_date(meta.created_at)
    pdf.set_title(meta.title)
    pdf.set_author(meta.author)
    pdf.set_subject(meta.reference)
    pdf.set_lang("zh-CN" if meta.language == "zh" else "en")
    pdf.add_font(FONT_FAMILY, "", str(font_path()))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    # Chinese has no spaces to break lines at; English must not break inside words.
    wrapmode = WrapMode.CHAR if meta.language == "zh" else WrapMode.WORD

    def write(text: str, size: float, *, indent: float = 0, gap: float = 1.5) -> None:
        pdf.set_font(FONT_FAMILY, size=size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(
            0,
            size * 0.5,
            text,
            align="L",
            wrapmode=wrapmode,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(gap)

    for block in parse_markdown(markdown):
        if block.kind == "heading":
            pdf.ln(2)
            write(block.text, _HEADING_SIZES[block.level], gap=2)
        elif block.kind == "bullet":
            write(f"• {block.text}", _BODY_SIZE, indent=3)
        elif block.kind == "table":
            pdf.set_font(FONT_FAMILY, size=_TABLE_SIZE)
            with pdf.table(
                headings_style=FontFace(fill_color=(235, 235, 235)),
                line_height=_TABLE_SIZE * 0.5,
                text_align="LEFT",
                wrapmode=wrapmode,
                padding=1,
            ) as table:
                width = len(block.rows[0])
                for row in block.rows:
                    cells = table.row()
                    for value in (*row, *[""] * (width - len(row)))[:width]:
                        cells.cell(value)
            pdf.ln(2)
        else:
            write(block.text, _BODY_SIZE)
    return bytes(pdf.output())
