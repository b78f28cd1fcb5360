"""Files are written under a temporary name, fsynced and renamed: nothing half-written is sealed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from core.errors import BadInput, StepFailed


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb", perms: int = 0o644) -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path`; on clean exit fsync it and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, perms)
    try:
        with disk_errors(path), os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: Path, data: bytes, perms: int = 0o644) -> None:
    with atomic_open(path, "wb", perms) as handle:
        handle.write(data)


def write_text(path: Path, text: str, perms: int = 0o644) -> None:
    write_bytes(path, text.encode("utf-8"), perms)


def write_json(path: Path, value: Any, perms: int = 0o644) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", perms)


def read_json(path: Path, *, what: str = "file") -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} {path} is not valid JSON: {exc}") from None


@contextlib.contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """Turn a full disk or a permission problem into one clear line."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StepFailed(
                f"disk full while writing {path}", hint="free space; nothing was sealed"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise BadInput(f"cannot write {path}: {exc.strerror}") from None
        raise


def safe_relpath(name: str) -> PurePosixPath:
    """A relative artifact name that cannot escape its folder: no `..`, no absolute path."""
    if not name or "\\" in name or "\x00" in name:
        raise BadInput(f"unsafe artifact name {name!r}")
    rel = PurePosixPath(name)
    if not rel.parts or rel.is_absolute() or any(part in ("..", ".", "") for part in rel.parts):
        raise BadInput(
            f"unsafe artifact name {name!r}", hint="names must be relative, without '..'"
        )
    return rel


def resolve_inside(root: Path, name: str) -> Path:
    """Join `name` under `root`, refusing anything that would land outside it."""
    target = (root / safe_relpath(name)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise BadInput(f"artifact {name!r} would be written outside {root}")
    return target
