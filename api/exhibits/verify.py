"""Checking an exhibit bundle: does every file still have the hash `SHA256SUMS` and
`manifest.json` give it, and is every file listed, and every listed file there?

Pure: a ZIP in, a `BundleCheck` out. Files are hashed as they are read, so a large bundle is
checked in little memory. The two lists guard each other: a file changed together with its line
in SHA256SUMS still disagrees with the manifest, and the reverse. Changing both consistently is
caught only against the bundle's own SHA-256, which the platform records when it builds it
(pass it as `expected_sha256`).
"""

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from api.exhibits.render import FORMAT, MANIFEST_PATH, SUMS_PATH

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Change:
    path: str
    expected_sha256: str
    found_sha256: str
    # Which list the file disagrees with: "SHA256SUMS", "manifest.json", or both.
    against: tuple[str, ...]


@dataclass
class BundleCheck:
    files_checked: int = 0
    changed: list[Change] = field(default_factory=list)
    # In the archive but in neither list.
    added: list[str] = field(default_factory=list)
    # Listed, but not in the archive.
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bundle_sha256: str | None = None

    @property
    def is_intact(self) -> bool:
        return not (self.changed or self.added or self.missing or self.problems)

    def lines(self) -> list[str]:
        """What was found, one finding a line, in words a person can act on."""
        if self.is_intact:
            return [f"intact: all {self.files_checked} files match SHA256SUMS and manifest.json"]
        lines = [f"problem: {problem}" for problem in self.problems]
        for change in self.changed:
            lines.append(
                f"changed: {change.path} (expected SHA-256 {change.expected_sha256}, "
                f"found {change.found_sha256}; differs from {' and '.join(change.against)})"
            )
        lines += [
            f"added: {path} (listed in neither SHA256SUMS nor manifest.json)" for path in self.added
        ]
        lines += [f"missing: {path} (listed, but not in the archive)" for path in self.missing]
        lines.append(
            f"NOT intact: {len(self.changed)} changed, {len(self.added)} added, "
            f"{len(self.missing)} missing, {len(self.problems)} other problems"
        )
        return lines


def parse_sums(text: str) -> tuple[dict[str, str], list[str]]:
    """`sha256sum` lines (`<hex>  <path>`, or `<hex> *<path>` in binary mode)."""
    sums: dict[str, str] = {}
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, path = line.partition(" ")
        path = path[1:] if path[:1] in (" ", "*") else path
        if (
            len(digest) != 64
            or not path
            or any(c not in "0123456789abcdef" for c in digest.lower())
        ):
            bad.append(f"SHA256SUMS line {number} is not '<sha256>  <path>'")
            continue
        sums[path] = digest.lower()
    return sums, bad


def _manifest_hashes(data: bytes) -> tuple[dict[str, str], list[str]]:
    try:
        manifest: Any = json.loads(data.decode("utf-8"))
        if manifest.get("format") != FORMAT:
            return {}, [f"manifest.json is not a {FORMAT} manifest"]
        return {entry["path"]: str(entry["sha256"]).lower() for entry in manifest["files"]}, []
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return {}, ["manifest.json cannot be read as a bundle manifest"]


def _sha256(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _whole_file_sha256(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
    source.seek(0)
    return digest.hexdigest()


def check_bundle(source: Path | IO[bytes], expected_sha256: str | None = None) -> BundleCheck:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return check_bundle(handle, expected_sha256)
    check = BundleCheck(bundle_sha256=_whole_file_sha256(source))
    if expected_sha256 and check.bundle_sha256 != expected_sha256.lower():
        check.problems.append(
            f"the bundle's SHA-256 is {check.bundle_sha256}, not the recorded {expected_sha256}"
        )
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        check.problems.append("not a ZIP archive, or the archive is damaged")
        return check
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        names = [info.filename for info in infos]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        check.problems += [f"{name} appears more than once in the archive" for name in duplicates]
        present = {info.filename: info for info in infos}

        sums: dict[str, str] = {}
        if SUMS_PATH in present:
            sums, bad = parse_sums(archive.read(SUMS_PATH).decode("utf-8", errors="replace"))
            check.problems += bad
        else:
            check.missing.append(SUMS_PATH)
        manifest: dict[str, str] = {}
        if MANIFEST_PATH in present:
            manifest, bad = _manifest_hashes(archive.read(MANIFEST_PATH))
            check.problems += bad
        else:
            check.missing.append(MANIFEST_PATH)

        # The manifest cannot list itself, nor SHA256SUMS; SHA256SUMS cannot list itself.
        listed = set(sums) | set(manifest)
        for path in sorted(listed | {MANIFEST_PATH}):
            if path not in present:
                if path not in check.missing:
                    check.missing.append(path)
                continue
            found = _sha256(archive, present[path])
            check.files_checked += 1
            against = []
            expected = ""
            if path in sums and sums[path] != found:
                against.append(SUMS_PATH)
                expected = sums[path]
            if path != MANIFEST_PATH and path in manifest and manifest[path] != found:
                against.append(MANIFEST_PATH)
                expected = expected or manifest[path]
            if path != MANIFEST_PATH and (path in sums) != (path in manifest) and sums and manifest:
                only = SUMS_PATH if path in sums else MANIFEST_PATH
                check.problems.append(f"{path} is listed only in {only}")
            if against:
                check.changed.append(Change(path, expected, found, tuple(against)))
        if MANIFEST_PATH in present and sums and MANIFEST_PATH not in sums:
            check.problems.append("SHA256SUMS does not list manifest.json")
        check.added = sorted(set(present) - listed - {MANIFEST_PATH, SUMS_PATH})
    return check
