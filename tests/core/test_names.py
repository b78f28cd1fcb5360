"""core.fsio's one mapping from untrusted names to file names, and the root it never leaves."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from core.artifacts import META_SUFFIX
from core.errors import BadInput, StepFailed
from core.fsio import (
    MAX_FILE_NAME,
    SIDECAR,
    file_to_name,
    line_safe,
    name_to_file,
    qualified_file,
    resolve_inside,
    stage_target,
)

# Lower-case letters, digits, '-', '_', '.' and escapes in upper-case hex: nothing else.
PLAIN = re.compile(r"%|(?:[a-z0-9_.-]|%[0-9A-F]{2})+")
# Everything PostgreSQL allows in a quoted name or S3 in a key, and that a path or a line fears.
HOSTILE = [
    "users",
    "Users",
    "USERS",
    "a/b",
    "a%2Fb",
    "a%2fb",
    "a_2Fb",
    "a+2Fb",
    "..",
    ".",
    "../../etc/passwd",
    ".hidden",
    "",
    "%",
    "~",
    "line\nbreak",
    "cr\rx",
    "sep\u2028x",
    "para\u2029x",
    "nel\x85x",
    "\x1b[31mred\x1b[0m",
    "tab\tx",
    "nul\x00x",
    "back\\slash",
    "é",
    "e\u0301",  # the same letter decomposed: macOS would otherwise fold it with "é"
    "ß",
    "SS",
    "\U0001f600",
    "con",
    "aux.log",
    "lpt1",
    "trailing.",
    " lead and trail ",
    "users.meta.json",  # would be the sidecar of "users"
    ".meta.json",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_each_name_is_one_plain_reversible_file_name(name: str) -> None:
    file = name_to_file(name)
    assert file not in ("", ".", "..") and not file.startswith(".")
    assert PLAIN.fullmatch(file), file
    assert line_safe(file) and "/" not in file and "\\" not in file
    assert file_to_name(file) == name


def test_no_name_is_taken_for_a_sidecar() -> None:
    assert SIDECAR == META_SUFFIX
    assert not any(name_to_file(n).endswith(META_SUFFIX) for n in HOSTILE)
    assert name_to_file("users.meta.json") == "users.meta%2Ejson"


@pytest.mark.parametrize(
    ("name", "file"),
    [("con", "%63on"), ("aux.log", "%61ux.log"), ("nul", "%6Eul"), ("com1", "%63om1"),
     ("lpt9.tar.gz", "%6Cpt9.tar.gz"), ("a.", "a%2E"), ("console", "console"), ("com10", "com10"),
     ("x.con", "x.con")],
)  # fmt: skip
def test_a_name_windows_would_take_for_a_device_or_trim_is_encoded(name: str, file: str) -> None:
    """Legal may copy a bundle to Windows: `con.parquet` would open the console there, and `a.`
    would lose its dot and meet `a`."""
    assert name_to_file(name) == file and file_to_name(file) == name
    assert qualified_file("nul", "t") == "%6Eul.t"


def test_no_two_names_meet_even_on_a_case_insensitive_file_system() -> None:
    files = [name_to_file(n) for n in HOSTILE]
    assert len({f.casefold() for f in files}) == len(HOSTILE)


def test_qualified_names_with_dots_stay_apart() -> None:
    pairs = [("a.b", "c"), ("a", "b.c"), ("a", "b"), ("A", "b"), ("a", "B"), ("", "a.b")]
    files = [qualified_file(*p) for p in pairs]
    assert len({f.casefold() for f in files}) == len(pairs)
    assert qualified_file("public", "audit_log") == "public.audit_log"
    for (schema, table), file in zip(pairs, files, strict=True):
        head, _, tail = file.partition(".")
        assert (file_to_name(head), file_to_name(tail)) == (schema or "", table)


def test_a_long_name_is_shortened_with_a_hash_and_stays_distinct() -> None:
    # 63 bytes is PostgreSQL's limit; 21 three-byte letters are 63 bytes and 189 characters
    names = ["ж" * 21, "ж" * 20 + "з", "x" * 600 + "1", "x" * 600 + "2"]
    files = [name_to_file(n) for n in names] + [qualified_file("ж" * 21, n) for n in names]
    assert len(set(files)) == len(files)
    assert all(len(f) <= MAX_FILE_NAME and f.isascii() and line_safe(f) for f in files)
    assert file_to_name(name_to_file("ж" * 21)) == "ж" * 21  # 189 characters: kept whole
    assert file_to_name(files[2]) is None  # shortened: the metadata keeps the name
    # a suffix and a sidecar still fit a file system's 255 bytes
    assert all(len(f"{f}.ddl.sql.meta.json") < 255 for f in files)


def test_the_one_root_is_never_left(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    for name in ["../x", "/etc/passwd", "a/../../x", "link/x", "a\nb", "a\u2028b", "a\x1bb", ""]:
        with pytest.raises(BadInput):
            resolve_inside(root, name)
    for name in HOSTILE:
        target = resolve_inside(root, f"t/{name_to_file(name)}")
        assert target.parent == (root / "t").resolve()


def test_a_file_where_a_folder_must_go_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    stage_target(root, "s3/a").write_bytes(b"the object 'a'")
    with pytest.raises(StepFailed, match="a file of that name is there") as refused:
        stage_target(root, "s3/a/b")
    assert "\n" not in str(refused.value)
    assert (root / "s3" / "a").read_bytes() == b"the object 'a'"


def test_every_pair_of_hostile_names_differs_in_its_file() -> None:
    for one, two in itertools.combinations(HOSTILE, 2):
        assert name_to_file(one) != name_to_file(two), (one, two)
