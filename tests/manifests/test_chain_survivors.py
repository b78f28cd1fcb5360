"""Survivors of `make mutate` on manifests/chain.py, killed (issue 16; docs/mutation.md): the
count of entries read and the problem named for a line that is not JSON, exactly."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import faults
from core.errors import StepFailed
from manifests import chain
from manifests.chain import ChainProblem


def _log(tmp_path: Path, entries: int) -> Path:
    path = tmp_path / "log.jsonl"
    for n in range(entries):
        chain.append(path, {"what": f"step {n}"})
    return path


def _killed_once_written(path: Path, call: str) -> None:
    """Run `call` on the log `path` in a child process killed (as kill -9 would) right after its
    entry is written: no flush, no close, nothing after."""
    script = f"import sys; from pathlib import Path; from manifests import chain; path = Path(sys.argv[1]); {call}"  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "BREACH_FAULT": "journal.append.written",
            "PYTHONPATH": str(Path(__file__).parents[2]),
        },
        check=False,
    )
    assert done.returncode == faults.KILLED_EXIT, done.stderr


def test_verify_counts_every_entry_read(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    assert chain.verify(path) == (3, [])
    assert chain.verify(_log(tmp_path / "one", 1)) == (1, [])


def test_a_line_that_is_not_json_is_named_by_its_line_number(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b"{torn line\n"
    path.write_bytes(b"".join(lines))
    count, problems = chain.verify(path)
    assert count == 3
    assert problems == [
        ChainProblem(2, "is not a valid JSON entry"),
        ChainProblem(3, "does not link to the entry before it (prev hash differs)"),
    ]


def test_blank_lines_are_not_entries(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\n", 1))
    assert chain.verify(path) == (2, [])


def test_a_dropped_entry_is_named_by_seq_and_link_exactly(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])  # the middle entry removed
    assert chain.verify(path) == (
        2,
        [
            ChainProblem(2, "has seq 2, expected 1"),
            ChainProblem(2, "does not link to the entry before it (prev hash differs)"),
        ],
    )


def test_an_unknown_custody_event_lists_the_known_ones(tmp_path: Path) -> None:
    import pytest

    from core.errors import BadInput
    from manifests import custody
    from manifests.keys import generate
    from manifests.signing import local_signer

    signer = local_signer(generate(tmp_path / "k").signing_key)
    with pytest.raises(BadInput) as raised:
        custody.record(tmp_path, "stolen", signer, who="x")
    assert raised.value.message == "unknown custody event 'stolen'"
    assert raised.value.hint == (
        "one of: sealed, stored, locked, legal-hold-on, legal-hold-off, accessed, verified, "
        "decrypted, transferred"
    )


def test_a_json_line_that_is_not_an_object_is_not_an_entry(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"[1, 2]\n" + lines[1])
    count, problems = chain.verify(path)
    assert count == 3 and problems[0] == ChainProblem(2, "is not a valid JSON entry")
    assert [e["what"] for e in chain.entries(path)] == ["step 0", "step 1"]


def test_a_log_rewritten_with_crlf_line_ends_no_longer_links(tmp_path: Path) -> None:
    """Every byte counts: a log whose line ends were changed (an editor, a mail transfer) is
    not the log that was written, and its links say so."""
    path = _log(tmp_path, 3)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    count, problems = chain.verify(path)
    assert count == 3
    assert [p.line for p in problems] == [2, 3]
    assert all(p.message.startswith("does not link") for p in problems)


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    """What is hashed and signed: sorted keys, no spaces, UTF-8 as is."""
    assert chain.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert chain.canonical({"a": "é", "b": 1}) == chain.canonical({"b": 1, "a": "é"})


def test_line_hash_ignores_only_the_line_end() -> None:
    import hashlib

    assert chain.line_hash(b'{"a":1}\n') == hashlib.sha256(b'{"a":1}').hexdigest()
    assert chain.line_hash(b'{"a":1}') == hashlib.sha256(b'{"a":1}').hexdigest()
    assert chain.line_hash(b"\nX\n") == hashlib.sha256(b"\nX").hexdigest()


def test_an_append_links_to_the_last_line_exactly_as_stored(tmp_path: Path) -> None:
    """The next entry's `prev` is the hash of the last line's bytes as they are on disk (a
    trailing carriage return included), so verify, which reads the same bytes, agrees."""
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    entry = chain.append(path, {"what": "after"})
    first = path.read_bytes().split(b"\n")[0]
    assert first.endswith(b"\r") and entry["prev"] == chain.line_hash(first)
    assert chain.verify(path) == (2, [])


def test_append_refuses_a_last_line_that_is_not_an_entry(tmp_path: Path) -> None:
    import pytest

    from core.errors import StepFailed

    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes().rstrip(b"\n") + b"X\n")  # a byte added after the JSON
    with pytest.raises(StepFailed, match=r"breaks at line 1 .is not a valid JSON entry.; refusing"):
        chain.append(path, {"what": "after"})


def _signed(body: bytes) -> dict[str, str]:
    return {"sig": hashlib.sha256(body).hexdigest()}


def test_repair_cuts_a_torn_last_line_and_records_it_linked_and_signed(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    last = path.read_bytes().splitlines()[-1]
    path.write_bytes(path.read_bytes() + b'{"torn')
    removed = chain.repair(path, lambda cut: {"repaired": cut.decode()}, _signed)
    assert removed == b'{"torn'
    entry = chain.entries(path)[-1]
    body = {"repaired": '{"torn', "seq": 2, "prev": chain.line_hash(last)}
    assert entry == {**body, "signature": _signed(chain.canonical(body))}
    assert path.read_bytes().endswith(chain.canonical(entry) + b"\n")
    assert chain.verify(path) == (3, [])


def test_repair_leaves_a_whole_or_missing_log_alone(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    before = path.read_bytes()
    assert chain.repair(path, lambda cut: {"repaired": "?"}) is None
    assert path.read_bytes() == before
    missing = tmp_path / "none.jsonl"
    assert chain.repair(missing, lambda cut: {"repaired": "?"}) is None
    assert not missing.exists()


def test_append_and_repair_pass_their_crash_points_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash tests kill an append at these names (core.faults): a renamed point would leave
    them killing nothing."""
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes() + b"{")
    trace = tmp_path / "trace"
    monkeypatch.setenv("BREACH_FAULT_TRACE", str(trace))
    chain.append(path, {"what": "next"}, repair=lambda cut: {"repaired": cut.decode()})
    assert faults.moments(str(trace)) == [
        "journal.append.locked#1",
        "journal.append.truncated#1",
        "journal.append.half#1",
        "journal.append.written#1",
        "journal.append.repaired#1",
        "journal.append.half#2",
        "journal.append.written#2",
    ]


def test_a_disk_full_repair_is_named_with_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes() + b"{")

    def disk_full(fd: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "ftruncate", disk_full)
    with pytest.raises(StepFailed) as raised:
        chain.repair(path, lambda cut: {"repaired": cut.decode()})
    assert raised.value.message == f"disk full while writing {path}"


def test_a_repair_is_on_disk_when_the_process_dies_right_after_it(tmp_path: Path) -> None:
    """The repair entry is written unbuffered and fsynced before the append reports it: a
    process killed at that moment (no flush, no close) leaves it in the log."""
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes() + b"{")
    _killed_once_written(path, "chain.repair(path, lambda cut: {'repaired': cut.decode()})")
    assert chain.verify(path) == (2, [])
    assert chain.entries(path)[-1]["repaired"] == "{"


def test_a_checked_append_still_refuses_a_last_line_with_bytes_after_the_entry(
    tmp_path: Path,
) -> None:
    """With `checked` only the last line is read: a byte after its JSON still makes it no
    entry to link to (only the line end is stripped from it, nothing else)."""
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes().rstrip(b"\n") + b"X\n")
    with pytest.raises(StepFailed) as raised:
        chain.append(path, {"what": "after"}, checked=True)
    assert raised.value.message == "last line is not a chain entry; refusing to append"


def test_a_last_line_longer_than_the_first_read_still_links_and_repairs(tmp_path: Path) -> None:
    """The last line is found from the end in growing reads (64 KiB first): an entry, or a torn
    line, longer than that is read whole before the next append links to it or cuts it."""
    path = _log(tmp_path, 1)
    big = chain.append(path, {"what": "x" * 300_000})
    after = chain.append(path, {"what": "after"})
    assert after["prev"] == chain.line_hash(chain.canonical(big))
    assert chain.verify(path) == (3, [])
    whole = path.read_bytes()
    path.write_bytes(whole + b"{" + b"y" * 300_000)
    removed = chain.repair(path, lambda cut: {"repaired": len(cut)})
    assert removed == b"{" + b"y" * 300_000
    assert chain.entries(path)[-1]["repaired"] == 300_001
    assert chain.verify(path) == (4, [])


def test_a_log_that_is_only_a_torn_line_is_cut_whole(tmp_path: Path) -> None:
    """A kill during the very first append leaves a log without any line end: all of it is the
    torn line, and the repair entry becomes the log's first entry."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"seq":0,"what":"first')
    assert chain.repair(path, lambda cut: {"repaired": cut.decode()}) == b'{"seq":0,"what":"first'
    [entry] = chain.entries(path)
    assert (entry["seq"], entry["prev"]) == (0, chain.GENESIS)
    assert chain.verify(path) == (1, [])


def test_append_creates_its_folders_and_syncs_the_folder_of_a_new_log_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(chain, "fsync_dir", synced.append)
    path = tmp_path / "a" / "b" / "log.jsonl"
    chain.append(path, {"what": "first"})
    assert synced == [path.parent]  # the new name made durable
    chain.append(path, {"what": "second"})
    assert synced == [path.parent]  # later appends fsync the file only
    assert chain.verify(path) == (2, [])


def test_a_disk_full_append_is_named_and_leaves_the_log_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _log(tmp_path, 1)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StepFailed) as raised:
        chain.append(path, {"what": "lost"})
    assert raised.value.message == f"disk full while writing {path}"
    assert path.read_bytes() == before


def test_an_append_repairing_a_torn_line_signs_the_repair_entry(tmp_path: Path) -> None:
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes() + b"{")
    chain.append(path, {"what": "next"}, _signed, repair=lambda cut: {"repaired": cut.decode()})
    repaired, after = chain.entries(path)[1:]
    assert repaired["repaired"] == "{" and "signature" in repaired and "signature" in after
    assert chain.verify(path) == (3, [])


def test_a_checked_append_trusts_its_caller_for_the_lines_before_the_last(
    tmp_path: Path,
) -> None:
    """`checked`: the caller verified the chain under the lock its writers share, so a broken
    middle line is not read again (an unchecked append refuses it)."""
    path = _log(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"not json\n" + lines[2])
    with pytest.raises(StepFailed):
        chain.append(path, {"what": "unchecked"})
    assert chain.append(path, {"what": "checked"}, checked=True)["seq"] == 3


def test_an_append_is_on_disk_when_the_process_dies_right_after_it(tmp_path: Path) -> None:
    path = _log(tmp_path, 1)
    _killed_once_written(path, "chain.append(path, {'what': 'kept'})")
    assert chain.verify(path) == (2, [])
    assert chain.entries(path)[-1]["what"] == "kept"


def test_check_counts_line_ends_across_a_log_longer_than_one_read(tmp_path: Path) -> None:
    """check() counts complete lines in 1 MiB reads: a break far from the end of a larger log
    is still a problem of a complete line, reported."""
    path = tmp_path / "log.jsonl"
    for n in range(30):
        chain.append(path, {"what": f"{n}" + "x" * 50_000}, checked=True)
    assert path.stat().st_size > 1 << 20
    lines = path.read_bytes().splitlines(keepends=True)
    lines[19] = b"not json\n"
    path.write_bytes(b"".join(lines))
    found, broken = chain.check(path)
    assert len(found) == 29
    assert [p.line for p in broken] == [20, 21]


def test_check_never_counts_a_torn_line_as_an_entry_even_when_it_parses(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"what":"torn"}')  # a whole JSON object, but no line end
    assert [e["what"] for e in chain.check(path)[0]] == ["step 0", "step 1"]
    path.write_bytes(whole + b"{")  # a torn line that does not parse takes no entry with it
    assert [e["what"] for e in chain.check(path)[0]] == ["step 0", "step 1"]


def test_repair_refuses_a_log_broken_before_its_torn_line(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"not json\n" + lines[2] + b"{")
    with pytest.raises(StepFailed, match="the chain breaks at line 2"):
        chain.repair(path, lambda cut: {"repaired": cut.decode()})


def test_an_append_without_repair_names_the_torn_log_exactly(tmp_path: Path) -> None:
    path = _log(tmp_path, 1)
    path.write_bytes(path.read_bytes() + b'{"se')
    with pytest.raises(StepFailed) as raised:
        chain.append(path, {"what": "next"})
    assert raised.value.message == (
        f"{path}: last line is torn (4 bytes without a line end); refusing to append"
    )


def test_a_broken_chain_refuses_the_append_with_where_to_compare_it(tmp_path: Path) -> None:
    """The refusal names the first break and tells the responder what to check it against."""
    path = _log(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])  # the middle entry removed
    with pytest.raises(StepFailed) as raised:
        chain.append(path, {"what": "after"})
    assert raised.value.message == (
        f"{path}: the chain breaks at line 2 (has seq 2, expected 1); refusing to append"
    )
    assert raised.value.hint == "compare the log with the heads signed in the case's bundles"


def test_a_failed_write_whose_cut_back_fails_too_still_reports_the_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills mid-entry and the truncation that would undo it fails as well: the
    responder is told the disk is full (the first error), not about the second."""
    path = _log(tmp_path, 1)

    def disk_full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setattr(os, "ftruncate", disk_full)
    with pytest.raises(StepFailed) as raised:
        chain.append(path, {"what": "lost"})
    assert raised.value.message == f"disk full while writing {path}"


def test_an_over_long_line_is_one_problem_and_is_read_as_an_empty_line(tmp_path: Path) -> None:
    """A line longer than chain.LINE is never held in memory: it is reported as no entry, and
    the next entry is linked against the empty line read in its place (so a forged successor
    of an over-long line is judged by the same rule whatever the line held)."""
    path = _log(tmp_path, 1)
    forged = {"what": "after", "seq": 2, "prev": chain.line_hash(b"")}
    path.write_bytes(
        path.read_bytes() + b"x" * (chain.LINE + 1) + b"\n" + chain.canonical(forged) + b"\n"
    )
    assert [line for _, line, _ in chain.read(path)][1] == b""
    assert chain.verify(path) == (3, [ChainProblem(2, "is not a valid JSON entry")])
