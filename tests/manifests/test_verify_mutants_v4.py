"""Survivors of `make mutate` on manifests/verify.py (issue 16): the contents check ("nothing
unlisted in the bag"), the bundle id of the report and the refusal of a folder that is not a
bundle, asserted exactly as a reader of the report (or --json) sees them. Every test calls
verify_bundle in this process (tests/manifests/test_hostile_bundles.py runs `breach` in child
processes, which no mutant reaches)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.errors import BadInput
from manifests.keys import GeneratedKeys
from manifests.seal import ENVELOPE
from manifests.verify import Check, Report, load_trusted, verify_bundle
from tests.manifests.test_verify_mutants_v1 import _resign_statement

CONTENTS = "nothing unlisted in the bag"


def _report(bundle: Path, keys: GeneratedKeys) -> Report:
    return verify_bundle(bundle, load_trusted([keys.signing_pub], []))


def _contents(bundle: Path, keys: GeneratedKeys) -> Check:
    report = _report(bundle, keys)
    [found] = [c for c in report.checks if c.name == CONTENTS]
    assert report.checks[3] is found  # the fourth check, as the report and --json list it
    return found


# -- a pristine bundle -------------------------------------------------------------------------
def test_a_pristine_bundle_has_nothing_unlisted_and_says_so(
    bundle: Path, keys: GeneratedKeys
) -> None:
    report = _report(bundle, keys)
    assert report.checks[3] == Check(
        CONTENTS, True, "only listed regular files, no links or special files"
    )
    assert report.to_dict()["checks"][3] == {
        "name": CONTENTS,
        "ok": True,
        "detail": "only listed regular files, no links or special files",
        "problems": [],
        "waiver": None,
        "waived": False,
    }


# -- what an attacker can leave in a bag -------------------------------------------------------
def test_unlisted_files_folders_links_fifos_and_sockets_are_each_named_in_walk_order(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """A file and an empty folder beside the tag files, an empty folder, a link, a FIFO and a
    socket among the evidence: each is one problem, in the order the bag is walked (each
    folder's entries sorted, a folder before what is inside it)."""
    bundle = fresh_copy()
    (bundle / "notes.txt").write_text("not part of the evidence")
    (bundle / "extra").mkdir()
    (bundle / "data" / "empty").mkdir()
    (bundle / "data" / "link.age").symlink_to(bundle / "data" / "users.csv.age")
    os.mkfifo(bundle / "data" / "pipe.age")
    os.mknod(bundle / "data" / "socket.age", 0o600 | stat.S_IFSOCK)
    problems = [
        "extra/: a folder holding no listed file",
        "notes.txt: a file the bag does not list",
        "data/empty/: a folder holding no listed file",
        "data/link.age: a symbolic link (never followed)",
        "data/pipe.age: a FIFO, not a regular file",
        "data/socket.age: a device or socket, not a regular file",
    ]
    report = _report(bundle, keys)
    assert report.checks[3] == Check(CONTENTS, False, "6 unexpected item(s) in the bag", problems)
    assert report.to_dict()["checks"][3] == {
        "name": CONTENTS,
        "ok": False,
        "detail": "6 unexpected item(s) in the bag",
        "problems": problems,
        "waiver": None,
        "waived": False,
    }
    assert report.ok is False


def test_a_listed_file_replaced_by_a_folder_of_its_name_is_an_unlisted_folder(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """A listed name is a file, never a folder: an empty folder in the place of a tag file or
    of an evidence file holds no listed file and is named as such."""
    bundle = fresh_copy()
    for name in ("bag-info.txt", "data/users.csv.age"):
        (bundle / name).unlink()
        (bundle / name).mkdir()
    assert _contents(bundle, keys) == Check(
        CONTENTS,
        False,
        "2 unexpected item(s) in the bag",
        [
            "bag-info.txt/: a folder holding no listed file",
            "data/users.csv.age/: a folder holding no listed file",
        ],
    )


def test_an_unreadable_payload_manifest_spares_the_data_folders_but_nothing_else(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """The manifest cannot be read, so it lists nothing: data/ and its folders are not reported
    as unlisted (the payload check says why the manifest is unreadable), but an unlisted file
    beside the tag files and a link among the evidence, after data/logs/, still are."""
    bundle = fresh_copy()
    (bundle / "manifest-sha256.txt").write_text("not a manifest line\n")
    (bundle / "notes.txt").write_text("not part of the evidence")
    (bundle / "data" / "zz.age").symlink_to(bundle / "data" / "users.csv.age")
    assert _contents(bundle, keys) == Check(
        CONTENTS,
        False,
        "2 unexpected item(s) in the bag",
        [
            "notes.txt: a file the bag does not list",
            "data/zz.age: a symbolic link (never followed)",
        ],
    )


def test_an_unreadable_payload_manifest_alone_leaves_nothing_unlisted(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    (bundle / "manifest-sha256.txt").write_text("not a manifest line\n")
    assert _contents(bundle, keys) == Check(
        CONTENTS, True, "only listed regular files, no links or special files"
    )


@pytest.mark.parametrize(("count", "more"), [(53, ["... and 3 more"]), (50, [])])
def test_more_than_fifty_unexpected_items_name_fifty_and_count_the_rest(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, count: int, more: list[str]
) -> None:
    """Fifty are named one by one; only past fifty is the rest counted."""
    bundle = fresh_copy()
    for n in range(count):
        (bundle / f"extra-{n:02}.txt").write_text("x")
    assert _contents(bundle, keys) == Check(
        CONTENTS,
        False,
        f"{count} unexpected item(s) in the bag",
        [*(f"extra-{n:02}.txt: a file the bag does not list" for n in range(50)), *more],
    )


# -- not a bundle ----------------------------------------------------------------------------
def test_a_folder_without_bagit_txt_is_refused_with_a_hint_to_pass_the_bundle_folder(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    (bundle / "bagit.txt").unlink()
    with pytest.raises(BadInput) as refused:
        _report(bundle, keys)
    assert refused.value.diagnostics() == (
        f"{bundle} is not a bundle (no bagit.txt) (hint: pass the bundle folder)"
    )


# -- the bundle id of the report -------------------------------------------------------------
def test_without_a_valid_statement_the_report_has_no_bundle_id(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """No statement to read the id from: the id is absent (null in --json), never an empty
    string that reads as an id."""
    bundle = fresh_copy()
    (bundle / ENVELOPE).unlink()
    report = _report(bundle, keys)
    assert report.bundle_id is None
    assert report.to_dict()["bundle_id"] is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda statement: statement.pop("predicate"), id="no predicate"),
        pytest.param(lambda statement: statement["predicate"].pop("bundle"), id="no bundle"),
    ],
)
def test_a_signed_statement_without_a_bundle_section_gives_no_bundle_id_never_a_crash(
    fresh_copy: Callable[[], Path],
    keys: GeneratedKeys,
    change: Callable[[dict[str, Any]], None],
) -> None:
    bundle = fresh_copy()
    _resign_statement(bundle, keys, change)
    report = _report(bundle, keys)
    assert report.bundle_id is None
    assert report.to_dict()["bundle_id"] is None
    assert report.checks[5] == Check("signature over the statement", True, report.checks[5].detail)


def test_a_sealed_bundle_reports_the_id_it_was_sealed_under(
    bundle: Path, keys: GeneratedKeys
) -> None:
    """The counterpart of the tests above: the id comes from the signed statement."""
    bundle_id = _report(bundle, keys).bundle_id
    assert bundle_id is not None and bundle_id.startswith("INC-1-")
    shutil.rmtree(bundle / "data" / "logs")  # tampering does not change whose bundle it is
    assert _report(bundle, keys).bundle_id == bundle_id


LINK = "link to the previous bundle"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set statement[a][b]... = value for path 'a.b...'."""

    def change(statement: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        where = statement
        for part in parents:
            where = where[part]
        where[last] = value

    return change


FIRST = Check(LINK, True, "first bundle of its case (no previous bundle)")
MALFORMED = Check(LINK, False, "the statement's link to the previous bundle is malformed")


@pytest.mark.parametrize(
    ("change", "has_id", "link"),
    [
        pytest.param(_set("predicate", "x"), False, FIRST, id="predicate a text"),
        pytest.param(_set("predicate.bundle", None), False, FIRST, id="bundle null"),
        pytest.param(_set("predicate.bundle.id", 7), False, FIRST, id="id a number"),
        pytest.param(_set("predicate.bundle.id", ["a"]), False, FIRST, id="id a list"),
        pytest.param(_set("predicate.bundle.previous", "x"), True, MALFORMED, id="previous text"),
        pytest.param(_set("predicate.bundle.previous", {"id": "a"}), True, MALFORMED, id="no sha"),
        pytest.param(
            _set("predicate.bundle.previous", False), True, MALFORMED, id="previous false"
        ),
    ],
)
def test_a_signed_statement_of_the_wrong_shape_fails_its_check_and_never_stops_verify(
    fresh_copy: Callable[[], Path],
    keys: GeneratedKeys,
    change: Callable[[dict[str, Any]], None],
    has_id: bool,
    link: Check,
) -> None:
    """A statement signed by a key verify accepts (with the signer check waived, the one in the
    bundle: anyone's) but shaped by an attacker: every check still reports, the bundle id is
    null unless it is a text, and a malformed link to the previous bundle fails its check."""
    bundle = fresh_copy()
    _resign_statement(bundle, keys, change)
    report = _report(bundle, keys)
    assert len(report.checks) == 10
    bundle_id = report.to_dict()["bundle_id"]
    assert isinstance(bundle_id, str) if has_id else bundle_id is None
    [found] = [c for c in report.checks if c.name == LINK]
    assert found == link
