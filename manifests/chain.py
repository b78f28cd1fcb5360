"""Append-only, hash-chained JSON Lines logs: the case journal and the custody log.

Each line is one canonical JSON object naming `seq` (0, 1, 2, ...) and `prev`, the sha256 of the
previous line's bytes (64 zeros for the first). Changing, dropping or reordering any line breaks
the chain at the line after it. An optional signer adds a `signature` over the entry without it,
so the last line is protected too.

An append checks the whole log first and refuses one whose chain is broken (naming the line). A
torn last line (a kill or a full disk mid-write: bytes without a line end) was never an entry:
the next append cuts it off and, when the caller gives a `repair`, records what it removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import faults
from core.errors import BreachError, StepFailed
from core.fsio import disk_errors, fsync_dir
from core.untrusted import LINE, bounded_lines, loads, open_regular

GENESIS = "0" * 64
# JSON escapes only C0 controls; these break lines in str.splitlines, JavaScript and editors.
_UNICODE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}

Signer = Callable[[bytes], dict[str, str]]
# The fields of the entry that records a torn last line cut off (given the bytes removed).
Repairer = Callable[[bytes], dict[str, Any]]


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


def _torn_offset(handle: Any) -> int | None:
    """Where a torn last line starts (bytes after the last line end), None when there is none.

    An entry is written as one line with its line end; a line without one is what a full disk
    or a kill in the middle of an append leaves, and was never a complete entry."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return None
    handle.seek(end - 1)
    if handle.read(1) == b"\n":
        return None
    chunk = min(end, 1 << 16)
    while True:
        handle.seek(end - chunk)
        idx = handle.read(chunk).rfind(b"\n")
        if idx >= 0:
            return end - chunk + idx + 1
        if chunk == end:
            return 0
        chunk = min(end, chunk * 4)


def torn_tail(path: Path) -> bytes | None:
    """The bytes of a torn last line (no line end), or None when the log ends at a line end."""
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        offset = _torn_offset(handle)
        if offset is None:
            return None
        handle.seek(offset)
        return bytes(handle.read())


def append(
    path: Path,
    fields: dict[str, Any],
    sign: Signer | None = None,
    repair: Repairer | None = None,
    *,
    checked: bool = False,
) -> dict[str, Any]:
    """Append one entry under an exclusive lock and fsync it. Returns the entry as written.

    The log is checked first: a chain broken anywhere refuses the append, naming the line. A
    torn last line (no line end) is cut off and, with `repair`, recorded in an entry of its
    own (`repair(removed bytes)` gives its fields); without `repair` it refuses. `checked`: the
    caller checked the whole chain since it took the lock its writers share (breach.caselock),
    so only the last line is read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with disk_errors(path), open(path, "a+b", buffering=0) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        faults.point("journal.append.locked")
        _repair(handle, path, repair, sign, checked=checked)
        entry = _write_entry(handle, fields, sign)
    if created:
        fsync_dir(path.parent)
    return entry


def repair(path: Path, repair: Repairer, sign: Signer | None = None) -> bytes | None:
    """Cut a torn last line off and record it, as an append would first; returns the bytes
    removed, None when the log ends at a line end (or does not exist)."""
    if torn_tail(path) is None:
        return None
    with disk_errors(path), open(path, "a+b", buffering=0) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return _repair(handle, path, repair, sign)


def problems(path: Path) -> list[ChainProblem]:
    """Where the chain of complete lines breaks; a torn last line is not counted (the next
    append repairs it)."""
    return check(path)[1]


def check(path: Path) -> tuple[list[dict[str, Any]], list[ChainProblem]]:
    """In one read: the entries of the complete lines, and where their chain breaks."""
    complete = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            complete += chunk.count(b"\n")
    _, found, broken = _scan(path)
    torn = torn_tail(path)
    if torn is not None and found and canonical(found[-1]) == torn:
        found.pop()  # a torn line that happens to parse is still not an entry
    return found, [p for p in broken if p.line <= complete]


def _repair(
    handle: Any, path: Path, repair: Repairer | None, sign: Signer | None, *, checked: bool = False
) -> bytes | None:
    if not checked:
        _refuse_broken(path)
    removed = _cut_torn_tail(handle, path, repair)
    if removed is not None and repair is not None:
        _write_entry(handle, repair(removed), sign)
        faults.point("journal.append.repaired")
    return removed


def _cut_torn_tail(handle: Any, path: Path, repair: Repairer | None) -> bytes | None:
    offset = _torn_offset(handle)
    if offset is None:
        return None
    handle.seek(offset)
    removed = bytes(handle.read())
    if repair is None:
        raise StepFailed(
            f"{path}: last line is torn ({len(removed)} bytes without a line end); "
            "refusing to append"
        )
    os.ftruncate(handle.fileno(), offset)
    os.fsync(handle.fileno())
    faults.point("journal.append.truncated")
    return removed


def _refuse_broken(path: Path) -> None:
    found = problems(path)
    if found:
        first = found[0]
        raise StepFailed(
            f"{path}: the chain breaks at line {first.line} ({first.message}); refusing to append",
            hint="compare the log with the heads signed in the case's bundles",
        )


def _write_entry(handle: Any, fields: dict[str, Any], sign: Signer | None) -> dict[str, Any]:
    """Link `fields` to the last line and write it with its line end; a failed write is cut
    back off, so a full disk leaves the log as it was."""
    last = _last_line(handle)
    if last is None:
        seq, prev = 0, GENESIS
    else:
        try:
            seq = int(json.loads(last)["seq"]) + 1
        except (ValueError, KeyError, TypeError):
            raise StepFailed("last line is not a chain entry; refusing to append") from None
        prev = line_hash(last)
    entry = {**fields, "seq": seq, "prev": prev}
    if sign is not None:
        entry["signature"] = sign(signed_body(entry))
    data = canonical(entry) + b"\n"
    end = handle.seek(0, os.SEEK_END)
    try:
        half = len(data) // 2
        _write_all(handle, data[:half])
        faults.point("journal.append.half")
        _write_all(handle, data[half:])
        os.fsync(handle.fileno())
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(handle.fileno(), end)
        raise
    faults.point("journal.append.written")
    return entry


def _write_all(handle: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]


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
    count, _, found = _scan(path, check_signature)
    return count, found


def _scan(
    path: Path, check_signature: Callable[[dict[str, Any]], str | None] | None = None
) -> tuple[int, list[dict[str, Any]], list[ChainProblem]]:
    """One read: (lines read, the entries, the problems)."""
    problems: list[ChainProblem] = []
    found: list[dict[str, Any]] = []
    expected_prev, expected_seq, count = GENESIS, 0, 0
    for number, line, entry in read(path):
        count += 1
        if entry is not None:
            found.append(entry)
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
    return count, found, problems
