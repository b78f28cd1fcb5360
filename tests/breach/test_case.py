"""The case workspace and its hash-chained journal."""

from __future__ import annotations

from pathlib import Path

from breach.case import Case


def test_journal_is_chained_and_a_changed_line_is_caught(tmp_path: Path) -> None:
    case = Case.open("INC-7", "P2", "t", root=tmp_path / "c")
    case.journal("step.one", details={"n": 1})
    case.journal("step.two")
    assert case.verify_journal() == []
    lines = case.journal_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":1', b'"n":2')
    case.journal_path.write_bytes(b"".join(lines))
    problems = case.verify_journal()
    assert [p.line for p in problems] == [3]
