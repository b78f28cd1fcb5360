"""Reading files someone else handed us (a bundle, a custody log) without trusting them.

Only regular files are opened (O_NOFOLLOW on every path component below the root, O_NONBLOCK
so a FIFO never blocks, then fstat), every read has a size bound, and JSON is parsed with a
depth bound and refuses duplicate keys: two readers of one signed document must never see two
different values. Each refusal is a StepFailed with one line: the input failed a check.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import StepFailed

MAX_DEPTH = 64  # a statement nests about 6 deep; custody details a few more
SMALL = 1 << 16  # bagit.txt, a public key
LARGE = 64 << 20  # a statement, a manifest, a custody log
LINE = 1 << 20  # one custody or journal line
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class NotRegular(StepFailed):
    """A path that is a link, a FIFO, a device or a folder where a file was expected."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(root: Path, name: str) -> io.BufferedReader:
    """Open root/name for reading, refusing a symlink at any component below `root`, and
    anything but a regular file at the end. Raises FileNotFoundError when it is absent."""
    parts = PurePosixPath(name).parts
    if not parts or any(p in ("..", "/") for p in parts):
        raise NotRegular(f"{name!r} is not a path inside {root}")
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            child = _open_at(dir_fd, part, _OPEN_FLAGS | os.O_DIRECTORY, name, final=False)
            os.close(dir_fd)
            dir_fd = child
        fd = _open_at(dir_fd, parts[-1], _OPEN_FLAGS, name, final=True)
    finally:
        os.close(dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(f"{name} is {_kind(mode)}, not a regular file; refusing to read it")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _open_at(dir_fd: int, part: str, flags: int, name: str, *, final: bool) -> int:
    """os.open relative to `dir_fd`; O_NOFOLLOW's ELOOP (and ENOTDIR on the way) is a refusal."""
    try:
        return os.open(part, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            where = "is" if final else f"passes through {part}, which is"
            raise NotRegular(f"{name} {where} a symbolic link; refusing to follow it") from None
        if exc.errno == errno.ENOTDIR:
            raise NotRegular(f"{name}: {part} is not a folder") from None
        raise


def read_regular(root: Path, name: str, limit: int) -> bytes:
    """The bytes of root/name, a regular file of at most `limit` bytes."""
    with open_regular(root, name) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise StepFailed(f"{name} is larger than {limit:,} bytes; refusing to read it")
    return data


def read_file(path: Path, limit: int) -> bytes:
    """read_regular for a path named on its own (its parent is trusted, the file is not)."""
    return read_regular(path.parent, path.name, limit)


def bounded_lines(
    handle: io.BufferedReader, limit: int = LINE
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, the line without its '\\n', or None when longer than `limit`).

    Splits on '\\n' only, as the files are written; an over-long line is skipped without being
    held in memory."""
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(limit)
            yield number, None
            continue
        yield number, raw.rstrip(b"\n")


class _DuplicateKey(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def nesting(data: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings do not count)."""
    brackets = _STRING.sub(b"", data).translate(None, delete=_NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads(data: bytes | str, *, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON that may be hostile: nesting deeper than `max_depth` and duplicate keys are
    refused (StepFailed naming `what`)."""
    raw = data.encode() if isinstance(data, str) else data
    if nesting(raw) > max_depth:
        raise StepFailed(f"{what} nests deeper than {max_depth} levels; refusing to parse it")
    try:
        return json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except RecursionError:  # unreachable after the depth check; kept as a fence
        raise StepFailed(f"{what} nests too deeply") from None
    except _DuplicateKey as exc:
        raise StepFailed(
            f"{what} holds the key {str(exc.args[0])[:40]!r} twice; refusing an ambiguous document"
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise StepFailed(f"{what} is not valid JSON") from None
