"""Files are written under a temporary name, fsynced and renamed: nothing half-written is sealed."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import string
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote

from core.errors import BadInput, StepFailed

# Names from the systems under investigation (tables, columns, roles, S3 keys, log groups) choose
# no path: each becomes ONE file name by percent-encoding (UTF-8) every character but lower-case
# ASCII letters, digits, '-', '_' and '.'. So the name has no '/', no control or line-breaking
# character, never starts with '.' (a leading '.' is encoded too), and two names never differ only
# in case (capitals are encoded, escapes are upper-case hex), which keeps them apart on
# case-insensitive file systems as well; Windows' device names and a trailing '.' are encoded
# too. `file_to_name` undoes it; so does any URL decoder.
KEPT = frozenset(string.ascii_lowercase + string.digits + "-_.")
MAX_FILE_NAME = 200  # bytes: file systems allow 255; suffixes (.ddl.sql.meta.json) need the rest
SHORTENED = "~"  # never kept as is, so it marks a name shortened to its head and a hash
SIDECAR = ".meta.json"  # core.artifacts.META_SUFFIX: no encoded name ends like a sidecar
EMPTY = "%"  # an empty name (an S3 key's empty segment); a lone '%' is never an escape
# Names Windows gives to devices, with any extension ("con", "aux.log"): a bundle copied there by
# legal must extract; such a name has its first letter encoded ("%63on").
WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", *(f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10))]
)
# What breaks a line in Python's str.splitlines and in terminals: never in a staged path.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# ASCII as name_to_file writes it (a table for str.translate: one C call for the common case)
_ASCII = {c: chr(c) if chr(c) in KEPT - {"."} else f"%{c:02X}" for c in range(128)}
_ASCII_KEEPING_DOTS = {**_ASCII, ord("."): "."}


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder (a folder: the names in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fsync_path(path)


FSYNC_THREADS = 16  # fsyncs in flight at once: the file system commits them together


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root` (a file alone too), then `root` itself: what a
    rename is about to make visible is on disk first. Many files are synced on several threads
    (a CloudTrail export's thousand objects: a quarter of the time one after another takes)."""
    if root.is_file():
        fsync_path(root)
        return
    folders: list[str] = []
    files: list[str] = []
    for folder, _, names in os.walk(root):
        folders.append(folder)
        files.extend(os.path.join(folder, name) for name in names)
    threads = max(1, min(FSYNC_THREADS, len(files)))
    with ThreadPoolExecutor(threads, thread_name_prefix="fsync") as pool:
        for _ in pool.map(fsync_path, files):  # the first failure is raised here
            pass
    for folder in reversed(folders):  # the deepest first, `root` last
        fsync_dir(Path(folder))


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


def make_folder(folder: Path) -> None:
    """mkdir -p; a file where a folder must go (names 'a' and 'a/b') is one line, StepFailed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StepFailed(f"cannot make folder {folder}: a file of that name is there") from None


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
                f"disk full while writing {path}", hint="free space, then run the command again"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise BadInput(f"cannot write {path}: {exc.strerror}") from None
        raise


def safe_relpath(name: str) -> PurePosixPath:
    """A relative artifact name that cannot escape its folder (no `..`, no absolute path) and
    cannot break a line-based file (no control or line-breaking character)."""
    if not name or "\\" in name or not line_safe(name):
        raise BadInput(
            f"unsafe artifact name {name!r}",
            hint="names read from breached systems go through core.fsio.name_to_file",
        )
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


def name_to_file(name: str, *, keep_dots: bool = True) -> str:
    """One safe file name for a name read from a breached system: reversible, collision-free.

    `keep_dots=False` encodes '.' too, so that parts joined by '.' (`qualified_file`) stay apart.
    A name whose encoding is longer than MAX_FILE_NAME keeps a readable head and ends in '~' and
    a hash of the whole name: the artifact's metadata keeps the name itself."""
    if name == "":
        return EMPTY
    text = name.translate(_ASCII_KEEPING_DOTS if keep_dots else _ASCII)
    if not text.isascii():  # what translate left: non-ASCII, as its UTF-8 bytes
        text = "".join(c if c.isascii() else _escaped(c) for c in text)
    if text.startswith("."):
        text = "%2E" + text[1:]
    if text.endswith(SIDECAR):  # "x.meta.json" is never taken for the sidecar of "x"
        text = text[: -len(".json")] + "%2Ejson"
    if text.partition(".")[0] in WINDOWS_DEVICES:  # "con.parquet" would open a device there
        text = f"%{ord(text[0]):02X}{text[1:]}"
    if text.endswith("."):  # Windows drops a trailing dot: "a." would become "a"
        text = text[:-1] + "%2E"
    return _shortened(text, name)


def _escaped(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def qualified_file(*parts: str) -> str:
    """One file name for a qualified name (schema, table): each part encoded with its dots,
    joined by '.', so ("a.b", "c") and ("a", "b.c") never meet."""
    joined = ".".join(name_to_file(part, keep_dots=False) for part in parts)
    return _shortened(joined, "\x00".join(parts))


def _shortened(text: str, name: str) -> str:
    if len(text) <= MAX_FILE_NAME:
        return text
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    head = text[: MAX_FILE_NAME - len(digest) - 1]
    cut = head.rfind("%", len(head) - 2)  # never end inside an escape
    return f"{head[:cut] if cut != -1 else head}{SHORTENED}{digest}"


def file_to_name(file: str) -> str | None:
    """The name `name_to_file` was given, or None for a shortened name (see its metadata)."""
    if SHORTENED in file:
        return None
    if file == EMPTY:
        return ""
    return unquote(file, encoding="utf-8", errors="surrogatepass")


def file_to_qualified(file: str) -> tuple[str, ...] | None:
    """The parts `qualified_file` joined (schema, table), or None for a shortened name."""
    if SHORTENED in file:
        return None
    return tuple(file_to_name(part) or "" for part in file.split("."))


def names_to_path(names: list[str]) -> str:
    """A relative path of several untrusted names (an S3 key's segments), one folder each."""
    return "/".join(name_to_file(name) for name in names)


def line_safe(text: str) -> bool:
    """True when `text` can be one field of a line-based file (a manifest, a sha256sum list)
    and be shown on a terminal: no control character (C0, DEL, C1) and no line break."""
    return not (_CONTROL.search(text) or LINE_BREAKS.intersection(text))


def stage_target(root: Path, name: str) -> Path:
    """Where `name` goes under `root` (resolve_inside), with its folders made. A name whose
    folder is already a file (S3 keys 'a' and 'a/b') cannot be stored: StepFailed, so the
    collector records it and goes on with the others."""
    target = resolve_inside(root, name)
    make_folder(target.parent)
    return target
