"""Friction under a 15-minute clock: the times a responder types, progress with totals and the
time left on a terminal, errors that name only flags the command has."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.timeutil import parse_rfc3339
from tests.terminal import on_a_terminal as terminal


def on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `breach ARGS` with stderr on a pseudo-terminal; its exit code and what it drew."""
    drawn = terminal([sys.executable, "-m", "breach.cli", *args], env)
    return drawn.code, drawn.text


def open_case(breach: Any, tmp_path: Path) -> Path:
    opened = breach("incident", "open", "--id", "INC-2026-0777", "--severity", "P1",
                    "--title", "friction", "--json")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    return Path(os.environ["BREACH_CASES_DIR"]) / "INC-2026-0777"


def test_times_take_now_relative_and_dates_and_say_what_they_meant(
    breach: Any, tmp_path: Path
) -> None:
    before = datetime.now(UTC)
    opened = breach("incident", "open", "--id", "INC-2026-0778", "--severity", "P1", "--title",
                    "t", "--detected-at", "2026-11-28", "--aware-at", "-2h")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    case = Path(os.environ["BREACH_CASES_DIR"]) / "INC-2026-0778"
    record = json.loads((case / "case.json").read_text())
    assert record["detected_at"] == "2026-11-28T00:00:00Z"
    notes = [line for line in opened.stderr.splitlines() if line.startswith("note: ")]
    assert notes[0] == (
        "note: --detected-at 2026-11-28 is 2026-11-28T00:00:00Z (the start of that day, UTC)"
    )
    match = re.fullmatch(r"note: --aware-at -2h is (\S+) \(relative to now\)", notes[1])
    assert match, notes
    assert record["aware_at"] == match.group(1)
    until = parse_rfc3339(match.group(1))
    assert (
        timedelta(hours=2) - timedelta(seconds=5) <= before - until <= timedelta(hours=2, seconds=5)
    )
    bad = breach("scope", "--case", str(case), "--actor", "mallory", "--since", "yesterday")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --since: 'yesterday' is not an RFC 3339 time, a date, now or a relative time"
        " (hint: accepted: 2026-11-28T07:30:00Z (RFC 3339), 2026-11-28 (00:00 UTC), now, -30m,"
        " -2h, -3d)"
    ]
    own = breach("contain", "revoke-sessions", "--case", str(case), "--adapter", "iam-role",
                 "--target", "app", "--revoke-before", "soon")  # fmt: skip
    assert own.exit_code == 2  # named by the command's own flag, not the setting (since)
    assert own.stderr.startswith("error: --revoke-before: 'soon' is not an RFC 3339 time")


@pytest.mark.pg
def test_an_export_on_a_terminal_shows_rows_of_the_estimated_total(
    breach: Any, tmp_path: Path, pg_dsn: str
) -> None:
    from tests.evidence.conftest import AUDIT_DDL, AUDIT_ROWS, execute

    execute(pg_dsn, AUDIT_DDL, AUDIT_ROWS, "ANALYZE public.audit_log")
    case = open_case(breach, tmp_path)
    code, drawn = on_a_terminal(
        "evidence", "export-audit", "--case", str(case), "--dsn", pg_dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at",
        "--since", "2026-11-01T00:00:00Z", "--until", "2026-11-03T00:00:00Z",
        env={"BREACH_CASES_DIR": os.environ["BREACH_CASES_DIR"]},
    )  # fmt: skip
    assert code == 0, drawn
    assert re.search(r"exporting public\.audit_log .* 2000/2000 \d:\d\d:\d\d \d:\d\d:\d\d", drawn)
    assert "/?" not in drawn.split("2000/2000")[-1]  # the total was known, not open-ended
    code, drawn = on_a_terminal(
        "evidence", "snapshot", "--case", str(case), "--dsn", pg_dsn, "--table", "public.audit_log",
        env={"BREACH_CASES_DIR": os.environ["BREACH_CASES_DIR"]},
    )  # fmt: skip
    assert code == 0, drawn
    assert re.search(r"snapshot rows .* 2000/2000 ", drawn), drawn[-400:]  # reltuples: 2000


def test_a_seal_on_a_terminal_shows_bytes_of_the_total(breach: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert breach("keys", "generate", "--out", str(keys)).exit_code == 0
    case = open_case(breach, tmp_path)
    (case / "staging" / "notes.txt").write_bytes(b"x" * 3_000_000)
    code, drawn = on_a_terminal(
        "seal", "--case", str(case), "-r", str(keys / "age.pub"),
        "--signing-key", str(keys / "signing.key.pem"),
        env={"BREACH_CASES_DIR": os.environ["BREACH_CASES_DIR"]},
    )  # fmt: skip
    assert code == 0, drawn
    sizes = re.findall(r"sealing .*?([\d.]+)/([\d.]+) MB", drawn)
    assert sizes, drawn
    assert {total for _, total in sizes} == {"3.0"}  # the staged bytes, known from the start
