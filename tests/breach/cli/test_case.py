"""The case workspace and its hash-chained journal."""

from __future__ import annotations

import json
from pathlib import Path


def test_open_creates_the_layout_and_journals_it(breach, tmp_path: Path) -> None:
    result = breach(
        "incident",
        "open",
        "--id",
        "INC-2026-0001",
        "--severity",
        "P1",
        "--title",
        "exfil",
        "--aware-at",
        "2026-11-28T06:00:00+01:00",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    root = Path(result.json["case"])
    for sub in ("journal", "staging", "bundles", "receipts"):
        assert (root / sub).is_dir()
    record = json.loads((root / "case.json").read_text())
    assert record["severity"] == "P1"
    assert record["aware_at"] == "2026-11-28T05:00:00Z"
    shown = breach("incident", "show", "--case", "INC-2026-0001", "--json").json
    assert shown["journal_entries"] == 1 and shown["journal_intact"] is True
    assert shown["timeline"][0]["what"] == "incident.open"
    assert shown["timeline"][0]["who"] == "tester@breachkit"


def test_bad_input_is_one_line_exit_2(breach) -> None:
    result = breach("incident", "show", "--case", "does-not-exist")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "no case at" in result.stderr
    bad_id = breach("incident", "open", "--id", "../x", "--severity", "P1", "--title", "t")
    assert bad_id.exit_code == 2 and "not usable as a folder name" in bad_id.stderr
    bad_time = breach(
        "incident",
        "open",
        "--id",
        "INC-9",
        "--severity",
        "P1",
        "--title",
        "t",
        "--aware-at",
        "yesterday",
    )
    assert bad_time.exit_code == 2 and "RFC 3339" in bad_time.stderr


def test_reopening_a_case_is_refused(breach) -> None:
    args = ("incident", "open", "--id", "INC-5", "--severity", "P3", "--title", "t")
    assert breach(*args).exit_code == 0
    again = breach(*args)
    assert again.exit_code == 2 and "already exists" in again.stderr
