"""`breach evidence export-audit` and `breach evidence snapshot` killed (as kill -9 would) at 20
moments each, before, inside and between their commit steps, then run again: every rerun
completes, and every staged export or snapshot is whole (all its files, its sidecar, and for a
snapshot every table with snapshot.json) and journaled, or absent; nothing hidden is left."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from breach.case import Case
from manifests import chain
from tests.breach.casecheck import hidden_leftovers
from tests.evidence.conftest import execute
from tests.kills import KILLS, kill_at, moments_of, spread

pytestmark = pytest.mark.pg

DAYS = 12  # one Parquet file per day: each closed file is a moment inside the export
TABLES = 6  # one table each: moments between the tables of one snapshot
ROWS = 30


def _rows(path: Path) -> int:
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return sum(pq.read_metadata(f).num_rows for f in files)


def _killed_and_rerun(
    tmp_path: Path,
    breach: Any,
    args: Callable[[Path, str], list[str]],
    caplog: pytest.LogCaptureFixture,
) -> list[tuple[str, Path, str]]:
    """Trace one run, kill a copy of the case at each of 20 moments, rerun on each copy."""
    template = Case.open("INC-KILL", "P1", "kill the export", root=tmp_path / "template").root
    traced = tmp_path / "traced"
    shutil.copytree(template, traced)
    picks = spread(moments_of(tmp_path / "trace", *args(traced, "traced")))
    assert len(picks) == KILLS, picks

    def kill(index: int) -> Path:
        case = tmp_path / f"killed-{index}"
        shutil.copytree(template, case)
        kill_at(picks[index], *args(case, "killed"))
        return case

    with ThreadPoolExecutor(2) as pool:
        killed = list(pool.map(kill, range(len(picks))))
    reruns = []
    for moment, case in zip(picks, killed, strict=True):
        caplog.clear()
        with caplog.at_level(logging.WARNING, "breach.case"):  # what it says on stderr
            rerun = breach(*args(case, "rerun"))
        assert rerun.exit_code == 0, (moment, rerun.stderr)
        assert hidden_leftovers(case) == [], (moment, hidden_leftovers(case))
        assert chain.verify(case / "journal" / "journal.jsonl")[1] == []
        reruns.append((moment, case, caplog.text + rerun.stderr))  # the breach logger: stderr
    return reruns


def _committed(case: Path, what: str) -> list[dict[str, Any]]:
    return [
        e
        for e in Case.load(case).timeline()
        if e["what"] == what and e["result"] == "ok" and "commit" in e
    ]


def test_export_audit_killed_at_twenty_moments(
    breach: Any, pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        pg_dsn,
        "CREATE TABLE audit_log (id int PRIMARY KEY, occurred_at timestamptz NOT NULL, actor text)",
        f"INSERT INTO audit_log SELECT g, timestamptz '2026-11-01 00:00+00'"
        f" + (g % {DAYS}) * interval '1 day' + g * interval '1 second', 'a' || g % 3"
        f" FROM generate_series(1, {DAYS * ROWS}) g",
    )

    def args(case: Path, name: str) -> list[str]:
        return [
            "evidence", "export-audit", "--case", str(case), "--dsn", pg_dsn,
            "--table", "public.audit_log", "--time-column", "occurred_at", "--name", name,
            "--since", "2026-10-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z",
        ]  # fmt: skip

    for moment, case, said in _killed_and_rerun(tmp_path, breach, args, caplog):
        staged = {p.name for p in (case / "staging" / "audit").iterdir() if p.is_dir()}
        journaled = {e["details"]["artifact"].split("/")[-1] for e in _committed(case, "evidence.export-audit")}  # fmt: skip
        assert staged == journaled and "rerun" in staged, (moment, staged, journaled)
        for name in staged:  # whole: every day, its sidecar, the rows it says it has
            folder = case / "staging" / "audit" / name
            meta = json.loads((folder.parent / f"{name}.meta.json").read_text())
            assert _rows(folder) == meta["source"]["row_count"] == DAYS * ROWS, (moment, name)
            assert len(list(folder.glob("day=*"))) == DAYS
        assert set((case / "staging" / "audit").iterdir()) == {
            case / "staging" / "audit" / f"{n}{suffix}"
            for n in staged
            for suffix in ("", ".meta.json")
        }
        if moment in ("case.committed#1", "case.moved#1"):  # after its entry, before its rename
            assert "killed" in staged and "finished committing staging/audit/killed" in said


def test_snapshot_killed_at_twenty_moments(
    breach: Any, pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        pg_dsn,
        *(
            f"CREATE TABLE t{n} AS SELECT g AS id, 'row ' || g AS note FROM generate_series(1, {ROWS + n}) g"
            for n in range(TABLES)
        ),
    )

    def args(case: Path, _: str) -> list[str]:
        tables = [arg for n in range(TABLES) for arg in ("--table", f"public.t{n}")]
        return ["evidence", "snapshot", "--case", str(case), "--dsn", pg_dsn, *tables]

    for moment, case, said in _killed_and_rerun(tmp_path, breach, args, caplog):
        folders = sorted(p for p in (case / "staging" / "snapshot").iterdir() if p.is_dir())
        journaled = _committed(case, "evidence.snapshot")
        assert len(folders) == len(journaled) in (1, 2), (moment, folders)
        for folder in folders:  # whole: snapshot.json and every table it names, with its DDL
            summary = json.loads((folder / "snapshot.json").read_text())
            assert len(summary["tables"]) == TABLES and summary["failed"] == []
            for table, rows in summary["tables"].items():
                assert _rows(folder / f"{table}.parquet") == rows == ROWS + int(table[-1])
                assert (folder / f"{table}.ddl.sql").is_file()
                assert (folder / f"{table}.parquet.meta.json").is_file()
        if moment == "case.committed#1":  # after its entry, before its rename
            assert len(folders) == 2 and "finished committing staging/snapshot/" in said
