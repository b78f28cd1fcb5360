"""pgaudit logs staged through the CLI: partitioned by day, in the log's time zone, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from ..test_pgaudit import write_log


def test_ambiguous_zone_abbreviation_needs_log_timezone(breach, case, tmp_path) -> None:
    line = "2026-10-15 10:00:00 PDT [1] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n"
    log = write_log(tmp_path, line)
    args = [
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log", str(log),
        "--since", "2026-10-15", "--until", "2026-10-16",
    ]  # fmt: skip
    result = breach(*args)
    assert result.exit_code == 2 and "--log-timezone" in result.stderr
    assert not (case.staging / "audit" / "pgaudit").exists()
    result = breach(*args, "--log-timezone", "America/Los_Angeles", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["artifacts"][0]["oldest_event"] == "2026-10-15T17:00:00Z"


def test_cli_stages_the_window_partitioned_by_day(breach, case, tmp_path) -> None:
    log = write_log(tmp_path)
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log", str(log),
        "--since", "2026-11-01T10:00:00Z", "--until", "2026-11-03T00:00:00Z", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    folder = case.staging / "audit" / "pgaudit"
    assert sorted(p.name for p in folder.iterdir()) == ["day=2026-11-01", "day=2026-11-02"]
    table = ds.dataset(folder, format="parquet").to_table().sort_by("statement_id")
    assert table.column("statement_id").to_pylist() == [1, 2, 3, 4, 5]
    meta = json.loads((case.staging / "audit" / "pgaudit.meta.json").read_text())
    assert meta["source"]["audit_records"] == 5 and meta["source"]["malformed_records"] == 1
    assert meta["source"]["row_count"] == 5 and meta["source"]["log_file"] == "postgresql.log"
    assert "could not be parsed" in " ".join(result.json["warnings"])


def test_missing_log_is_bad_input(breach, case, tmp_path) -> None:
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log",
        str(tmp_path / "nope.log"), "--since", "2026-11-01", "--until", "2026-11-02",
    )  # fmt: skip
    assert result.exit_code == 2 and "no log file" in result.stderr


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [("2026-11-02", "2026-11-01", "is not before"), ("yesterday", "2026-11-01", "RFC 3339")],
)
def test_bad_window_is_bad_input(breach, case, tmp_path, since, until, message) -> None:
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log",
        str(write_log(tmp_path)), "--since", since, "--until", until,
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.stderr


def test_a_case_given_by_a_relative_path_works(breach, tmp_path, monkeypatch) -> None:
    from breach.case import Case

    monkeypatch.chdir(tmp_path)
    Case.open("INC-REL", "P2", "relative", root=Path("rel-case"))
    result = breach(
        "evidence", "export-audit", "--case", "rel-case", "--pgaudit-log", str(write_log(tmp_path)),
        "--since", "2026-11-01", "--until", "2026-11-03", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json["artifacts"][0]["artifact"] == "audit/pgaudit"
