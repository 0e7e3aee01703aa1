"""The bundle's files and archive, from a spec written by hand: no database."""

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from pypdf import PdfReader

from api.exhibits import render
from tests.api.exhibits.conftest import pdf, spec_for, write_zip


def test_the_same_spec_gives_a_byte_identical_zip(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    first = write_zip(spec, tmp_path / "first.zip").read_bytes()
    second = write_zip(spec, tmp_path / "second.zip").read_bytes()
    assert first == second
    changed = spec_for(tmp_path, consent_fingerprint="d" * 64)
    assert write_zip(changed, tmp_path / "third.zip").read_bytes() != first


def test_entries_are_sorted_dated_1980_and_plain_files(tmp_path: Path) -> None:
    with zipfile.ZipFile(write_zip(spec_for(tmp_path), tmp_path / "b.zip")) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {render.ZIP_EPOCH}
    assert {info.external_attr >> 16 for info in infos} == {0o644}
    assert {render.MANIFEST_PATH, render.SUMS_PATH, render.README_PATH} <= set(names)


def test_every_evidence_page_carries_its_bates_number(tmp_path: Path) -> None:
    with zipfile.ZipFile(write_zip(spec_for(tmp_path), tmp_path / "b.zip")) as archive:
        pages = {}
        for name in archive.namelist():
            if name.startswith("05_evidence/exhibits/"):
                reader = PdfReader(io.BytesIO(archive.read(name)))
                pages[name] = [page.extract_text() for page in reader.pages]
        native = archive.read("05_evidence/native/TIQI7-S003-000007.wav")
    assert sorted(pages) == [
        "05_evidence/exhibits/TIQI7-S001-000001.pdf",
        "05_evidence/exhibits/TIQI7-S001-000002.pdf",
        "05_evidence/exhibits/TIQI7-S003-000007.pdf",
    ]
    contract = pages["05_evidence/exhibits/TIQI7-S001-000002.pdf"]
    assert len(contract) == 2
    assert "TIQI7-S001-000002" in contract[0] and "Loan contract page 1" in contract[0]
    assert "TIQI7-S001-000003" in contract[1] and "Loan contract page 2" in contract[1]
    (recording,) = pages["05_evidence/exhibits/TIQI7-S003-000007.pdf"]
    assert "TIQI7-S003-000007" in recording
    assert spec_for(tmp_path).evidence[2].sha256_original in recording.replace("\n", "")
    assert native == (tmp_path / "call.wav").read_bytes()


def test_the_catalogue_lists_items_in_bates_order_and_notes_the_gap(tmp_path: Path) -> None:
    with zipfile.ZipFile(write_zip(spec_for(tmp_path), tmp_path / "b.zip")) as archive:
        catalogue = archive.read("05_evidence/catalogue.csv").decode("utf-8-sig").splitlines()
        manifest = json.loads(archive.read(render.MANIFEST_PATH))
    numbers = [line.split(",")[0] for line in catalogue[1:]]
    assert numbers == ["1-1", "1-2", "—", "3-1"]
    gap = catalogue[3]
    assert "TIQI7-S002-000004 – TIQI7-S002-000006" in gap
    assert "S002 已撤回同意" in gap
    assert "TIQI7-S001-000002 – TIQI7-S001-000003" in catalogue[2]
    assert manifest["consent_fingerprint"] == "c" * 64
    assert manifest["fact_pattern_versions"][0]["id"] == 3
    assert len(manifest["inputs"]["fingerprint"]) == 64


def test_xlsx_and_png_carry_no_clock_or_software_version(tmp_path: Path) -> None:
    with zipfile.ZipFile(write_zip(spec_for(tmp_path), tmp_path / "b.zip")) as archive:
        workbook_bytes = archive.read("02_signatories/signatories.xlsx")
        chart = archive.read("03_statistics/charts/apr_distribution.png")
    workbook = openpyxl.load_workbook(io.BytesIO(workbook_bytes))
    assert workbook.properties.created.year == 1980
    assert workbook.properties.modified.year == 1980
    assert [cell.value for cell in workbook.active[2]][:2] == ["S001", "成员"]
    with zipfile.ZipFile(io.BytesIO(workbook_bytes)) as parts:
        assert {info.date_time for info in parts.infolist()} == {render.ZIP_EPOCH}
    with Image.open(io.BytesIO(chart)) as image:
        assert image.format == "PNG"
        assert "Software" not in image.info


def test_a_damaged_pdf_becomes_one_placeholder_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf")
    assert render.count_pages("application/pdf", broken) == 1
    assert render.count_pages("application/pdf", tmp_path / "missing.pdf") == 1
    good = tmp_path / "good.pdf"
    good.write_bytes(pdf(3))
    assert render.count_pages("application/pdf", good) == 3


def test_a_stored_file_that_changed_stops_the_build(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    (tmp_path / "contract.pdf").write_bytes(pdf(1))
    with pytest.raises(render.EvidenceChanged, match="ev-contract.pdf"):
        write_zip(spec, tmp_path / "b.zip")


def _write_cached(spec: render.BundleSpec, path: Path, cache: render.ExhibitCache) -> bytes:
    with path.open("wb") as handle:
        render.write_bundle(spec, handle, cache=cache)
    return path.read_bytes()


def test_a_rebuild_reads_its_stamped_pdfs_from_the_cache_and_gives_the_same_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(tmp_path)
    cache = render.ExhibitCache(tmp_path / "cache")
    uncached = write_zip(spec, tmp_path / "plain.zip").read_bytes()

    assert _write_cached(spec, tmp_path / "first.zip", cache) == uncached
    assert len(list(cache.folder.iterdir())) == len(spec.evidence)

    def no_conversion(*_args: object) -> bytes:
        raise AssertionError("converted again")

    monkeypatch.setattr(render, "evidence_pdf", no_conversion)
    assert _write_cached(spec, tmp_path / "again.zip", cache) == uncached


def test_the_cache_keeps_only_the_last_builds_exhibits_and_misses_on_any_change(
    tmp_path: Path,
) -> None:
    spec = spec_for(tmp_path)
    cache = render.ExhibitCache(tmp_path / "cache")
    _write_cached(spec, tmp_path / "first.zip", cache)
    image, contract, recording = spec.evidence
    renumbered = dataclasses.replace(image, exhibit_number="1-9")
    code = spec.campaign.code
    assert render.exhibit_key(renumbered, code, spec.texts) != render.exhibit_key(
        image, code, spec.texts
    )

    smaller = dataclasses.replace(spec, evidence=(renumbered, recording))
    rebuilt = _write_cached(smaller, tmp_path / "second.zip", cache)

    assert rebuilt == write_zip(smaller, tmp_path / "plain.zip").read_bytes()
    assert sorted(path.name for path in cache.folder.iterdir()) == sorted(
        f"{render.exhibit_key(item, code, spec.texts)}.pdf" for item in (renumbered, recording)
    )


def test_a_cached_exhibit_does_not_hide_a_changed_stored_file(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    cache = render.ExhibitCache(tmp_path / "cache")
    _write_cached(spec, tmp_path / "first.zip", cache)
    (tmp_path / "contract.pdf").write_bytes(pdf(1))

    with pytest.raises(render.EvidenceChanged, match="ev-contract.pdf"):
        _write_cached(spec, tmp_path / "second.zip", cache)
