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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Pt
from docx.styles.style import BaseStyle
from docx.table import Table
from fpdf import FPDF
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


def _append_docx_rows(table: Table, rows: Sequence[tuple[str, ...]]) -> None:
    """All rows at once, as one piece of WordprocessingML; the first row is the header, repeated
    on every page Word lays out.

    python-docx adds a row and sets a cell's text through several element lookups each, which
    for a member table of 10,000 rows took a quarter of a minute; parsing the rows as one XML
    string takes a fraction of a second and gives the same markup `cell.text` writes."""
    widths = [column.width.twips for column in table.columns]
    parts = []
    for index, row in enumerate(rows):
        parts.append("<w:tr><w:trPr><w:tblHeader/></w:trPr>" if index == 0 else "<w:tr>")
        for width, value in zip(widths, row, strict=False):
            parts.append(
                f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr><w:p><w:r>'
                f'<w:t xml:space="preserve">{escape(value)}</w:t></w:r></w:p></w:tc>'
            )
        # A short row still needs a cell under every column to be a valid table.
        parts.extend(
            f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr><w:p/></w:tc>'
            for width in widths[len(row) :]
        )
        parts.append("</w:tr>")
    parsed = parse_xml(f"<w:tbl {nsdecls('w')}>{''.join(parts)}</w:tbl>")
    # python-docx offers no public handle on the table element for appending rows in bulk.
    table._tbl.extend(list(parsed))


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
            table = document.add_table(rows=0, cols=len(block.rows[0]))
            table.style = "Table Grid"
            _append_docx_rows(table, block.rows)
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
_TABLE_PADDING_MM = 1.0
_TABLE_HEADER_FILL = 235
_WORD_RE = re.compile(r"\S+\s*")

# Tables are laid out here rather than with fpdf2's `table()`: that measures and wraps every
# cell through its general text engine, about 3 ms a cell, so a fact pattern's member table of
# 10,000 rows took half a minute. The glyph widths of a table's few distinct characters are
# measured once, cells are wrapped with them, and each line is placed with `text()`.


def _wrap_cell(
    text: str, width: float, glyph_widths: Mapping[str, float], by_word: bool
) -> list[str]:
    """`text` in lines no wider than `width`; between words if `by_word`, else anywhere
    (Chinese has no spaces). A word wider than the column is broken between characters."""
    if sum(glyph_widths[char] for char in text) <= width:
        return [text]
    lines: list[str] = []
    line, line_width = "", 0.0
    for unit in _WORD_RE.findall(text) if by_word else text:
        # A space at the end of a line takes no room: it is dropped there.
        unit_width = sum(glyph_widths[char] for char in unit.rstrip())
        if line and line_width + unit_width > width:
            lines.append(line.rstrip())
            line, line_width = "", 0.0
        if by_word and unit_width > width:
            *full, line = _wrap_cell(unit, width, glyph_widths, by_word=False)
            lines.extend(full)
            line_width = sum(glyph_widths[char] for char in line)
        else:
            line += unit
            line_width += sum(glyph_widths[char] for char in unit)
    lines.append(line.rstrip())
    return lines


def _column_widths(natural: Sequence[float], room: float) -> list[float]:
    """Widths filling `room`: a column narrower than an equal share keeps its natural width and
    the wider ones share what is left equally (their cells wrap)."""
    if sum(natural) <= room:
        return [room * width / sum(natural) for width in natural]
    widths = list(natural)
    wide = list(range(len(natural)))
    left = room
    while wide:
        share = left / len(wide)
        narrow = [column for column in wide if natural[column] <= share]
        if not narrow:
            for column in wide:
                widths[column] = share
            break
        for column in narrow:
            left -= natural[column]
            wide.remove(column)
    return widths


def _pdf_table(pdf: FPDF, rows: Sequence[tuple[str, ...]], *, by_word: bool) -> None:
    """A grid of `rows` (the first is the header, repeated at the top of every page) from the
    current position down, continued on new pages as needed."""
    pdf.set_font(FONT_FAMILY, size=_TABLE_SIZE)
    count = len(rows[0])
    cells = [(*row, *[""] * (count - len(row)))[:count] for row in rows]
    glyph_widths = {
        char: pdf.get_string_width(char)
        for char in sorted({char for row in cells for value in row for char in value})
    }

    def text_width(text: str) -> float:
        return sum(glyph_widths[char] for char in text)

    # Member tables repeat the same few values (bands, months) down a column: measure and wrap
    # each distinct value once.
    values = [sorted({row[column] for row in cells}) for column in range(count)]
    padding = 2 * _TABLE_PADDING_MM
    natural = [padding + max(map(text_width, column)) for column in values]
    widths = _column_widths(natural, pdf.epw)
    lefts = [pdf.l_margin + sum(widths[:column]) for column in range(count)]
    line_height = _TABLE_SIZE * 0.5
    layouts = [
        {value: _wrap_cell(value, width - padding, glyph_widths, by_word) for value in column}
        for column, width in zip(values, widths, strict=True)
    ]
    wrapped = [[layout[value] for layout, value in zip(layouts, row, strict=True)] for row in cells]
    header, body = wrapped[0], wrapped[1:]

    def height(row: Sequence[list[str]]) -> float:
        return max(len(lines) for lines in row) * line_height + padding

    # A row taller than a page goes on in pieces, each a row of its own.
    page_room = pdf.page_break_trigger - pdf.t_margin - height(header) - padding
    most_lines = max(1, int(page_room // line_height))
    pieces = [
        [lines[start : start + most_lines] for lines in row]
        for row in body
        for start in range(0, max(len(lines) for lines in row), most_lines)
    ]

    baseline = line_height / 2 + 0.3 * pdf.font_size
    table_right = lefts[-1] + widths[-1]

    def draw(row: Sequence[list[str]], top: float) -> float:
        for left, lines in zip(lefts, row, strict=True):
            for index, line in enumerate(lines):
                if line:
                    pdf.text(
                        left + _TABLE_PADDING_MM,
                        top + _TABLE_PADDING_MM + index * line_height + baseline,
                        line,
                    )
        return top + height(row)

    def start_page_part(top: float) -> list[float]:
        pdf.set_fill_color(_TABLE_HEADER_FILL)
        pdf.rect(lefts[0], top, table_right - lefts[0], height(header), style="F")
        pdf.set_fill_color(0)
        return [top, draw(header, top)]

    def rule_page_part(edges: list[float]) -> None:
        for y in edges:
            pdf.line(lefts[0], y, table_right, y)
        for x in (*lefts, table_right):
            pdf.line(x, edges[0], x, edges[-1])

    top = pdf.get_y()
    if pieces and top + height(header) + height(pieces[0]) > pdf.page_break_trigger:
        pdf.add_page()
        pdf.set_font(FONT_FAMILY, size=_TABLE_SIZE)
        top = pdf.get_y()
    edges = start_page_part(top)
    for piece in pieces:
        if edges[-1] + height(piece) > pdf.page_break_trigger:
            rule_page_part(edges)
            pdf.add_page()
            pdf.set_font(FONT_FAMILY, size=_TABLE_SIZE)
            edges = start_page_part(pdf.get_y())
        edges.append(draw(piece, edges[-1]))
    rule_page_part(edges)
    pdf.set_xy(pdf.l_margin, edges[-1])


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
            _pdf_table(pdf, block.rows, by_word=wrapmode == WrapMode.WORD)
            pdf.ln(2)
        else:
            write(block.text, _BODY_SIZE)
    return bytes(pdf.output())
