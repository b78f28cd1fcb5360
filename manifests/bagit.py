"""BagIt 1.0 (RFC 8493), written by breachkit itself: manifests whose lines `sha256sum -c` reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput
from core.fsio import line_safe
from core.untrusted import LARGE, SMALL, read_file

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *]?(.+)$")
# Characters a payload name may not carry, so manifests stay readable by `sha256sum -c` and
# need no RFC 8493 percent-encoding: '%', backslash, control characters and line breaks.
# Staged names made from untrusted names are percent-encoded (core.fsio.name_to_file) and hold
# no '+': '%' becomes '+' (same length, one-to-one on such names, so 'a%2Fb' and 'a_2Fb' stay
# two payloads); any other of them becomes '_' (two names meeting there are refused by seal).
_UNSAFE = re.compile("[+\\\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Lines are split on '\n' only (as written); a line holding any other line break or control
# character (a '\r', U+2028, U+0085) is malformed, never read as two lines or a name with it.
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def safe_payload_name(name: str) -> str:
    """The payload's path for a staged name (without '%' and line breaks, same length)."""
    return _UNSAFE.sub("_", name).replace("%", "+")


def manifest_text(entries: dict[str, str]) -> str:
    """`<sha256>  <path>` lines, sorted by path: the format of sha256sum. A path that would
    break its line (or be read back differently) is refused, never written."""
    for path in entries:
        if not path or "\\" in path or not line_safe(path):
            raise BadInput(
                f"refusing to list {path!r} in a manifest: it holds a line break or control"
                " character",
                hint="staged names go through core.fsio.name_to_file",
            )
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries.items()))


def tag_lines(path: Path, limit: int) -> list[str]:
    """A tag file's lines (a regular file of at most `limit` bytes), split on '\n' only."""
    try:
        text = read_file(path, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path.name} is not UTF-8") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if _BREAKS.search(line):
            raise BadInput(f"{path.name} line {number} holds a control character or line separator")
    return lines


def parse_manifest(path: Path) -> dict[str, str]:
    """{relative path: sha256} from a manifest file; a malformed line is bad input."""
    entries: dict[str, str] = {}
    for number, line in enumerate(tag_lines(path, LARGE), start=1):
        if not line:
            continue
        match = _LINE.match(line)
        if not match:
            raise BadInput(f"{path.name} line {number} is not '<sha256>  <path>'")
        if match.group(2) in entries:
            raise BadInput(f"{path.name} line {number} lists {match.group(2)} a second time")
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
    for line in tag_lines(bag / "bagit.txt", SMALL):
        label, _, value = line.partition(":")
        fields[label.strip()] = value.strip()
    return BagitDeclaration(fields.get("BagIt-Version"), fields.get("Tag-File-Character-Encoding"))
