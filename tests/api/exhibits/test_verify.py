"""`verify-bundle`: an intact bundle passes; a changed, added or deleted file is named."""

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from api.cli import main
from api.exhibits import render
from api.exhibits.verify import check_bundle, parse_sums
from tests.api.exhibits.conftest import spec_for, write_zip

NARRATIVE = "04_narratives/M001.md"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_zip(spec_for(tmp_path), tmp_path / "bundle.zip")


def rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of the archive with some entries replaced (bytes), dropped (None) or added."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            if info.filename in change:
                content = change.pop(info.filename)
                if content is not None:
                    copy.writestr(info, content)
            else:
                copy.writestr(info, original.read(info))
        for name, content in change.items():
            assert content is not None
            copy.writestr(name, content)
    return target


def read(bundle: Path, name: str) -> bytes:
    with zipfile.ZipFile(bundle) as archive:
        return archive.read(name)


def test_an_intact_bundle_passes(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check = check_bundle(bundle)
    assert check.is_intact, check.lines()
    assert check.files_checked > 10
    assert main(["verify-bundle", str(bundle)]) == 0
    assert "intact" in capsys.readouterr().out


def test_one_changed_byte_is_found(bundle: Path, tmp_path: Path) -> None:
    original = read(bundle, NARRATIVE)
    tampered = rewrite(bundle, tmp_path / "t.zip", {NARRATIVE: original[:-2] + b"X\n"})
    check = check_bundle(tampered)
    assert not check.is_intact
    assert [change.path for change in check.changed] == [NARRATIVE]
    assert check.changed[0].against == (render.SUMS_PATH, render.MANIFEST_PATH)
    assert check.added == [] and check.missing == []


def test_an_added_file_is_found(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = rewrite(bundle, tmp_path / "t.zip", {"05_evidence/exhibits/extra.pdf": b"%PDF"})
    check = check_bundle(tampered)
    assert check.added == ["05_evidence/exhibits/extra.pdf"]
    assert check.changed == [] and check.missing == []
    assert main(["verify-bundle", str(tampered)]) == 1
    assert "added: 05_evidence/exhibits/extra.pdf" in capsys.readouterr().out


def test_a_deleted_file_is_found(bundle: Path, tmp_path: Path) -> None:
    victim = "05_evidence/exhibits/TIQI7-S001-000001.pdf"
    check = check_bundle(rewrite(bundle, tmp_path / "t.zip", {victim: None}))
    assert check.missing == [victim]
    assert check.changed == [] and check.added == []


def test_a_change_with_a_matching_sums_line_still_disagrees_with_the_manifest(
    bundle: Path, tmp_path: Path
) -> None:
    content = b"# M001\n\nsomething else\n"
    sums = read(bundle, render.SUMS_PATH).decode()
    expected, _ = parse_sums(sums)
    forged = sums.replace(expected[NARRATIVE], hashlib.sha256(content).hexdigest()).encode()
    tampered = rewrite(bundle, tmp_path / "t.zip", {NARRATIVE: content, render.SUMS_PATH: forged})
    check = check_bundle(tampered)
    assert [(change.path, change.against) for change in check.changed] == [
        (NARRATIVE, (render.MANIFEST_PATH,))
    ]


def test_the_recorded_sha256_catches_a_consistent_forgery(bundle: Path, tmp_path: Path) -> None:
    recorded = hashlib.sha256(bundle.read_bytes()).hexdigest()
    copy = shutil.copy(bundle, tmp_path / "copy.zip")
    assert check_bundle(Path(copy), recorded).is_intact
    assert main(["verify-bundle", str(copy), "--sha256", "0" * 64]) == 1


def test_something_that_is_not_a_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert main(["verify-bundle", str(junk)]) == 1
    assert "not a ZIP" in capsys.readouterr().out
    assert main(["verify-bundle", str(tmp_path / "absent.zip")]) == 1
