"""A full disk under the case (a small tmpfs), filled so that each write of a seal, then of a
journal append, fails in turn; then space is freed. Every failure is one line that says what
happened, the case recovers on the next command, nothing is lost, and nothing is claimed that
did not happen ("nothing was sealed" only when no bundle was)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from core.errors import StepFailed
from manifests import chain
from manifests.keys import generate
from tests.breach.casecheck import assert_consistent, hidden_leftovers

PAGE = 4096  # tmpfs hands out space a page at a time
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"),
    reason="needs root and mount(8) to mount a small tmpfs (run the tests as root)",
)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Take all free space but `leave` bytes."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    size = stat.f_bavail * stat.f_frsize - leave
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if size > 0:
            os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return filler


def _staged(case: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (case / "staging").iterdir()
        if p.is_file()
    }


def test_each_write_of_a_seal_fails_in_turn_and_the_case_recovers(
    breach: Any, disk: Path, tmp_path: Path
) -> None:
    keys = generate(tmp_path / "keys")  # keys off the full disk
    case = Case.open("INC-FULL", "P1", "full disk", root=disk / "case").root
    seal = ["seal", "--case", case, "-r", keys.recipient, "--signing-key", keys.signing_key]
    failures: list[str] = []
    (case / "staging" / "evidence.txt").write_text("evidence\n" * 2000)
    for pages in range(40):  # one page more each time: the seal gets one write further
        before = (_staged(case), len(list((case / "bundles").iterdir())))
        filler = fill(disk, pages * PAGE)
        sealed = breach(*seal)
        filler.unlink()  # space again: the next command recovers what there is to recover
        Case.load(case, write=True)
        bundles = assert_consistent(case, keys.signing_pub)
        assert _staged(case) == before[0]  # nothing staged is lost or changed
        if sealed.exit_code == 0:
            assert len(bundles) == before[1] + 1
            break
        assert sealed.exit_code == 1 and len(sealed.stderr.strip().splitlines()) == 1
        assert "disk full while writing" in sealed.stderr, sealed.stderr
        if "nothing was sealed" in sealed.stderr:
            assert len(bundles) == before[1], (pages, sealed.stderr)
        else:  # committed before the disk filled: the bundle is there and recorded
            assert "is committed" in sealed.stderr and len(bundles) == before[1] + 1
        failures.append(
            sealed.stderr.split("disk full while writing ")[1].split(" ")[0].rstrip(";")
        )
    else:
        pytest.fail("the seal never had enough space")
    # the failing write moved from the bundle's files to the case's own records
    assert len(failures) >= 5, failures
    assert "/bundles/" in failures[0] and failures[-1].endswith(".case.json.next"), failures


def test_a_journal_append_on_a_full_disk_leaves_the_journal_whole(disk: Path) -> None:
    case = Case.open("INC-FULL", "P1", "full disk", root=disk / "case")
    filler = fill(disk, 0)
    appended = 0
    with pytest.raises(StepFailed, match=r"disk full while writing .*journal.jsonl"):
        for n in range(200):  # until an entry needs a page the disk does not have
            before = case.journal_path.read_bytes()
            Case.load(case.root, write=True).journal("note", why=f"note {n}")
            appended += 1
    assert case.journal_path.read_bytes() == before  # the failed entry left no byte behind
    assert chain.torn_tail(case.journal_path) is None and appended > 0
    filler.unlink()
    Case.load(case.root, write=True).journal("note", why="after the disk was freed")
    notes = [e["why"] for e in chain.entries(case.journal_path) if e["what"] == "note"]
    assert notes == [f"note {n}" for n in range(appended)] + ["after the disk was freed"]
    assert chain.verify(case.journal_path)[1] == [] and hidden_leftovers(case.root) == []
