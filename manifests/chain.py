"""Append-only, hash-chained JSON Lines logs: the case journal and the custody log.

Each line is one canonical JSON object naming `seq` (0, 1, 2, ...) and `prev`, the sha256 of the
previous line's bytes (64 zeros for the first). Changing, dropping or reordering any line breaks
the chain at the line after it. An optional signer adds a `signature` over the entry without it,
so the last line is protected too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput, BreachError
from core.fsio import disk_errors, fsync_dir
from core.untrusted import LINE, bounded_lines, loads, open_regular

GENESIS = "0" * 64
# JSON escapes only C0 controls; these break lines in str.splitlines, JavaScript and editors.
_UNICODE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}

Signer = Callable[[bytes], dict[str, str]]


def canonical(value: Any) -> bytes:
    """The bytes that are hashed and signed: sorted keys, no spaces, UTF-8; the Unicode line
    breaks escaped, so a name holding one never splits a line for any reader."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_UNICODE_BREAKS).encode()


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def signed_body(entry: dict[str, Any]) -> bytes:
    """What a chain signer signs: the entry without its signature."""
    return canonical({k: v for k, v in entry.items() if k != "signature"})


def _last_line(handle: Any) -> bytes | None:
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    if end == 0:
        return None
    chunk = min(end, 1 << 16)
    while True:
        handle.seek(end - chunk)
        tail = handle.read(chunk).rstrip(b"\n")
        idx = tail.rfind(b"\n")
        if idx >= 0 or chunk == end:
            return tail[idx + 1 :]
        chunk = min(end, chunk * 4)


def append(path: Path, fields: dict[str, Any], sign: Signer | None = None) -> dict[str, Any]:
    """Append one entry under an exclusive lock and fsync it. Returns the entry as written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with disk_errors(path), open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        last = _last_line(handle)
        if last is None:
            seq, prev = 0, GENESIS
        else:
            try:
                seq = int(json.loads(last)["seq"]) + 1
            except (ValueError, KeyError, TypeError):
                raise BadInput(
                    f"{path}: last line is not a chain entry; refusing to append"
                ) from None
            prev = line_hash(last)
        entry = {**fields, "seq": seq, "prev": prev}
        if sign is not None:
            entry["signature"] = sign(signed_body(entry))
        handle.seek(0, os.SEEK_END)
        handle.write(canonical(entry) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_dir(path.parent)
    return entry


@dataclass(frozen=True)
class ChainProblem:
    line: int  # 1-based line number in the file
    message: str


def read(path: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """Yield (line number, raw line, parsed entry or None when it is not an entry).

    The log may be hostile: only a regular file is opened (never a link or a FIFO), a line
    longer than LINE bytes is not held in memory (yielded as b"" and None), and a line nested
    too deep or holding a key twice is not an entry."""
    with open_regular(path.parent, path.name) as handle:
        for number, line in bounded_lines(handle, LINE):
            if line == b"":
                continue
            parsed = None
            if line is not None:
                try:
                    parsed = loads(line, what=f"line {number}")
                except BreachError:
                    parsed = None
            yield number, line or b"", parsed if isinstance(parsed, dict) else None


def entries(path: Path) -> list[dict[str, Any]]:
    return [entry for _, _, entry in read(path) if entry is not None]


def verify(
    path: Path, check_signature: Callable[[dict[str, Any]], str | None] | None = None
) -> tuple[int, list[ChainProblem]]:
    """Check sequence, links and (optionally) signatures. Returns (entries read, problems)."""
    problems: list[ChainProblem] = []
    expected_prev, expected_seq, count = GENESIS, 0, 0
    for number, line, entry in read(path):
        count += 1
        if entry is None:
            problems.append(ChainProblem(number, "is not a valid JSON entry"))
        else:
            if entry.get("seq") != expected_seq:
                problems.append(
                    ChainProblem(number, f"has seq {entry.get('seq')!r}, expected {expected_seq}")
                )
            if entry.get("prev") != expected_prev:
                problems.append(
                    ChainProblem(number, "does not link to the entry before it (prev hash differs)")
                )
            if check_signature is not None:
                reason = check_signature(entry)
                if reason:
                    problems.append(ChainProblem(number, reason))
        expected_prev, expected_seq = line_hash(line), expected_seq + 1
    return count, problems
