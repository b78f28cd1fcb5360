"""BagIt 1.0 (RFC 8493), written by breachkit itself: manifests whose lines `sha256sum -c` reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *]?(.+)$")
# Characters a payload name may not carry, so manifests stay readable by `sha256sum -c` and
# need no RFC 8493 percent-encoding: '%', backslash, control characters.
_UNSAFE = re.compile(r"[%\\\x00-\x1f\x7f]")


def safe_payload_name(name: str) -> str:
    return _UNSAFE.sub("_", name)


def manifest_text(entries: dict[str, str]) -> str:
    """`<sha256>  <path>` lines, sorted by path: the format of sha256sum."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries.items()))


def parse_manifest(path: Path) -> dict[str, str]:
    """{relative path: sha256} from a manifest file; a malformed line is bad input."""
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise BadInput(f"{path.name} line {number} is not '<sha256>  <path>'")
        entries[match.group(2)] = match.group(1)
    return entries


def bag_info_text(fields: list[tuple[str, str]]) -> str:
    return "".join(f"{label}: {value}\n" for label, value in fields)


@dataclass(frozen=True)
class BagitDeclaration:
    version: str | None
    encoding: str | None


def read_declaration(bag: Path) -> BagitDeclaration:
    fields: dict[str, str] = {}
    for line in (bag / "bagit.txt").read_text(encoding="utf-8").splitlines():
        label, _, value = line.partition(":")
        fields[label.strip()] = value.strip()
    return BagitDeclaration(fields.get("BagIt-Version"), fields.get("Tag-File-Character-Encoding"))
