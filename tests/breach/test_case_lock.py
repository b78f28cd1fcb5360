"""One writer per case: a second command is refused naming the holder (or queues with --wait),
and changes nothing; readers never wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from breach.caselock import CaseBusy, command_name

HOLD = (
    "import sys; from breach.case import Case; case = Case.load(sys.argv[1], write=True); "
    "print('held', flush=True); sys.stdin.read()"
)


@contextmanager
def held(root: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the case's lock until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return Case.open("INC-LOCK", "P2", "one writer", root=tmp_path / "case")


def test_a_second_writer_is_refused_naming_the_holder_and_changes_nothing(
    breach: Any, case: Case
) -> None:
    before = (case.journal_path.read_bytes(), (case.root / "case.json").read_bytes())
    with held(case.root) as holder:
        done = breach("incident", "severity", "--case", case.root, "--to", "P1", "--reason", "exfiltration confirmed")  # fmt: skip
        with pytest.raises(CaseBusy):
            Case.load(case.root, write=True)
    assert done.exit_code == 1
    assert done.stderr.startswith(
        f"error: case case is busy: `python` (pid {holder.pid}) holds it since 20"
    ), done.stderr
    assert "nothing was done" in done.stderr and "--wait SECONDS" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (case.journal_path.read_bytes(), (case.root / "case.json").read_bytes()) == before


def test_wait_queues_behind_the_holder(breach: Any, case: Case) -> None:
    with held(case.root) as holder:
        assert holder.stdin is not None
        threading.Timer(1.0, holder.stdin.close).start()  # the holder lets go after a second
        started = time.monotonic()
        done = breach("--wait", "20", "incident", "severity", "--case", case.root, "--to", "P1", "--reason", "exfiltration confirmed")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert time.monotonic() - started >= 0.9
    assert Case.load(case.root).record.severity == "P1"


def test_wait_gives_up_after_its_seconds(breach: Any, case: Case) -> None:
    with held(case.root):
        started = time.monotonic()
        done = breach("--wait", "0.5", "incident", "severity", "--case", case.root, "--to", "P1", "--reason", "exfiltration confirmed")  # fmt: skip
        waited = time.monotonic() - started
    assert done.exit_code == 1 and "is busy" in done.stderr
    assert 0.5 <= waited < 5


def test_readers_never_wait_for_the_lock(breach: Any, case: Case) -> None:
    with held(case.root):
        started = time.monotonic()
        shown = breach("incident", "show", "--case", case.root)
        due = breach("notify", "due", "--case", case.root)
        assert time.monotonic() - started < 10
    assert shown.exit_code == 0, shown.stderr
    assert due.exit_code in (0, 1) and "busy" not in due.stderr, due.stderr


def test_the_lock_is_shared_within_one_process_and_dropped_with_the_case(case: Case) -> None:
    first = Case.load(case.root, write=True)
    second = Case.load(case.root, write=True)  # the same process: the step's own nested load
    second.journal("step.inner")
    del first, second
    with held(case.root):  # another process gets it once this one dropped its cases
        pass


def test_the_holder_named_is_the_subcommand_never_an_option_value() -> None:
    argv = ["/usr/bin/breach", "--wait", "5", "evidence", "export-audit", "--dsn", "postgresql://u:secret@h/db"]  # fmt: skip
    assert command_name(argv) == "breach evidence export-audit"
    assert command_name(["-c"]) == "python"
