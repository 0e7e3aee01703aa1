"""DOCX and PDF renderings: the Chinese text is really there, and the bytes are reproducible."""

import io
import zipfile
from datetime import UTC, datetime

import pypdfium2
from docx import Document
from PIL import ImageStat

from api.campaigns import documents

MARKDOWN = """# 提钱游拒绝协商

共同事实陈述（草稿）

## 一、文书信息

- 收件人：贷款合同上的出借机构
- 群组编号：GS-000042

| 编号 | 实际年化利率 | 反映的问题 |
|---|---|---|
| M001 | 161.7% | 骚扰亲友、联系人、单位 |
| M002 | 13.6% | 拒绝协商还款 |

1. 《民法典》第六百七十条：利息不得预先在本金中扣除。
"""
META = documents.DocumentMeta(
    title="提钱游拒绝协商",
    language="zh",
    reference="GS-000042 · zh v3 · 0123456789ab",
    created_at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
)


def test_markdown_blocks() -> None:
    blocks = documents.parse_markdown(MARKDOWN)

    assert [block.kind for block in blocks] == [
        "heading",
        "paragraph",
        "heading",
        "bullet",
        "bullet",
        "table",
        "paragraph",
    ]
    assert blocks[5].rows[0] == ("编号", "实际年化利率", "反映的问题")
    assert blocks[5].rows[2] == ("M002", "13.6%", "拒绝协商还款")


def test_docx_holds_the_chinese_text() -> None:
    content = documents.render_docx(META, MARKDOWN)
    document = Document(io.BytesIO(content))

    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    assert "提钱游拒绝协商" in paragraphs
    assert "收件人：贷款合同上的出借机构" in paragraphs
    assert "《民法典》第六百七十条：利息不得预先在本金中扣除。" in " ".join(paragraphs)
    table = document.tables[0]
    assert table.cell(1, 2).text == "骚扰亲友、联系人、单位"
    assert document.core_properties.title == "提钱游拒绝协商"
    assert document.core_properties.created == META.created_at
    assert document.sections[0].footer.paragraphs[0].text == META.reference


def test_docx_bytes_are_reproducible() -> None:
    first = documents.render_docx(META, MARKDOWN)

    assert documents.render_docx(META, MARKDOWN) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_pdf_renders_the_chinese_text_with_an_embedded_font() -> None:
    content = documents.render_pdf(META, MARKDOWN)
    pdf = pypdfium2.PdfDocument(content)
    try:
        page = pdf[0]
        image = page.render(scale=1.5).to_pil().convert("L")
        text = page.get_textpage().get_text_range()
    finally:
        pdf.close()

    # A blank page is one shade; text makes dark pixels on the white page.
    darkest, lightest = ImageStat.Stat(image).extrema[0]
    assert lightest == 255 and darkest < 100
    dark_share = sum(image.histogram()[:128]) / (image.width * image.height)
    assert 0.002 < dark_share < 0.5
    for expected in (
        "提钱游拒绝协商",
        "骚扰亲友、联系人、单位",
        "利息不得预先在本金中扣除",
        "GS-000042",
    ):
        assert expected in text
    # Subset and embedded: the reader needs no Chinese font of its own.
    assert b"/FontFile3" in content or b"/FontFile2" in content
    assert b"NotoSansSC" in content


def test_pdf_bytes_are_reproducible() -> None:
    assert documents.render_pdf(META, MARKDOWN) == documents.render_pdf(META, MARKDOWN)


def test_english_pdf_keeps_words_whole() -> None:
    meta = documents.DocumentMeta(
        title="Refusal to negotiate",
        language="en",
        reference="GS-000042 · en v1",
        created_at=META.created_at,
    )
    content = documents.render_pdf(meta, "# Refusal to negotiate\n\n- 5 of 8 reporters\n")
    pdf = pypdfium2.PdfDocument(content)
    try:
        text = pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()

    assert "Refusal to negotiate" in text
    assert "5 of 8 reporters" in text


def _member_table(rows: int) -> str:
    lines = ["# 成员", "", "| 编号 | 实际年化利率 | 反映的问题 |", "|---|---|---|"]
    lines += [
        f"| M{index:05d} | {index % 200}.5% | 拒绝协商还款、骚扰亲友 |" for index in range(rows)
    ]
    return "\n".join([*lines, "", "表后的段落。"]) + "\n"


def test_a_long_pdf_table_goes_on_over_pages_with_its_header_on_each() -> None:
    pdf = pypdfium2.PdfDocument(documents.render_pdf(META, _member_table(300)))
    try:
        texts = [pdf[index].get_textpage().get_text_range() for index in range(len(pdf))]
    finally:
        pdf.close()

    assert len(texts) > 3
    assert all("编号" in text and "反映的问题" in text for text in texts)
    everything = "\n".join(texts)
    assert all(f"M{index:05d}" in everything for index in range(300))
    assert everything.count("拒绝协商还款、骚扰亲友") == 300
    assert "表后的段落。" in texts[-1]


def test_pdf_table_cells_wrap_english_between_words_and_chinese_anywhere() -> None:
    long_words = " ".join(["negotiation"] * 40)
    markdown = f"| Member | Note |\n|---|---|\n| M001 | {long_words} |\n"
    meta = documents.DocumentMeta(
        title="Refusal", language="en", reference="GS-1 · en v1", created_at=META.created_at
    )
    pdf = pypdfium2.PdfDocument(documents.render_pdf(meta, markdown))
    try:
        text = pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()

    note_lines = [line.strip() for line in text.splitlines() if "negotiation" in line]
    assert len(note_lines) > 1
    assert all(set(line.replace("M001", "").split()) == {"negotiation"} for line in note_lines)
    assert sum(line.split().count("negotiation") for line in note_lines) == 40


def test_a_table_row_taller_than_a_page_continues_on_the_next() -> None:
    tall = "很长的说明" * 1500
    pdf = pypdfium2.PdfDocument(
        documents.render_pdf(META, f"| 编号 | 说明 |\n|---|---|\n| M1 | {tall} |\n")
    )
    try:
        text = "".join(
            pdf[index].get_textpage().get_text_range().replace("\r", "").replace("\n", "")
            for index in range(len(pdf))
        )
        pages = len(pdf)
    finally:
        pdf.close()

    assert pages > 1
    assert text.count("很长的说明") >= 1499


def test_a_long_docx_table_keeps_every_row_and_repeats_its_header() -> None:
    document = Document(io.BytesIO(documents.render_docx(META, _member_table(300))))

    (table,) = document.tables
    assert len(table.rows) == 301
    assert [cell.text for cell in table.rows[0].cells] == ["编号", "实际年化利率", "反映的问题"]
    assert [cell.text for cell in table.rows[300].cells] == [
        "M00299",
        "99.5%",
        "拒绝协商还款、骚扰亲友",
    ]
    assert table.rows[0]._tr.trPr is not None
    assert table.rows[0]._tr.trPr.xpath("w:tblHeader")
    assert document.paragraphs[-1].text == "表后的段落。"


def test_short_table_rows_are_padded_and_markup_characters_kept_as_text() -> None:
    markdown = "| a | b | c |\n|---|---|---|\n| x & <y> |\n"
    document = Document(io.BytesIO(documents.render_docx(META, markdown)))

    assert [cell.text for cell in document.tables[0].rows[1].cells] == ["x & <y>", "", ""]
    pdf = pypdfium2.PdfDocument(documents.render_pdf(META, markdown))
    try:
        assert "x & <y>" in pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()
