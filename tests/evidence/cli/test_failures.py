"""Failures as an operator meets them: a wrong password, connections lost during a snapshot."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from breach.case import Case
from evidence.postgres.snapshot import TableSnapshot

from ..conftest import BIG, execute, fetch, terminate, with_user
from ..test_failures import _staged_files
from ..test_snapshot import TABLES

pytestmark = pytest.mark.pg

SINCE, UNTIL = "2026-11-01T06:00:00Z", "2026-11-01T18:30:00Z"


@pytest.fixture
def scram_role(pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A role that must log in with scram-sha-256 (not the server's trust), via pg_hba.conf.

    The role's lines go first in the server's hba file and pg_reload_conf() applies them; the
    file is restored afterwards. Skips where the file is not writable from here.
    """
    name = f"bk_scram_{uuid.uuid4().hex[:8]}"
    password = f"right-{uuid.uuid4().hex[:8]}"
    try:
        hba = Path(fetch(pg_dsn, "SHOW hba_file")[0][0])
        original = hba.read_text()
        hba.write_text(original)
    except (OSError, psycopg.Error) as exc:
        pytest.skip(f"PostgreSQL: the hba file is not writable here ({exc}); run as a superuser")
    execute(
        pg_dsn,
        "SET password_encryption = 'scram-sha-256'",
        f"CREATE ROLE {name} LOGIN PASSWORD '{password}'",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}",
    )
    lines = [f"{kind} all {name} {where} scram-sha-256" for kind, where in (
        ("local", ""), ("host", "127.0.0.1/32"), ("host", "::1/128"),
    )]  # fmt: skip
    hba.write_text("\n".join(lines) + "\n" + original)
    try:
        execute(pg_dsn, "SELECT pg_reload_conf()")
        yield name, password
    finally:
        hba.write_text(original)
        execute(pg_dsn, "SELECT pg_reload_conf()")
        execute(pg_dsn, f"DROP OWNED BY {name}", f"DROP ROLE {name}")


def test_a_wrong_password_is_one_line_exit_2_and_never_recorded(
    breach, case: Case, audit_dsn: str, scram_role: tuple[str, str]
) -> None:
    role, password = scram_role
    wrong = with_user(audit_dsn, role, "wrong-Pa55word")
    commands = [
        ["evidence", "export-audit", "--table", "public.audit_log", "--time-column",
         "occurred_at", "--since", SINCE, "--until", UNTIL],
        ["evidence", "snapshot", "--table", "public.audit_log"],
        ["evidence", "snapshot", "--table", "public.audit_log", "--dry-run"],
    ]  # fmt: skip
    for command in commands:
        result = breach(*command, "--case", str(case.root), "--dsn", wrong)
        assert result.exit_code == 2, result.stderr
        assert f'password authentication failed for user "{role}"' in result.stderr
        assert result.stderr.strip().count("\n") == 0
        assert "wrong-Pa55word" not in result.stdout + result.stderr
    journal = case.journal_path.read_text()
    assert "wrong-Pa55word" not in journal and journal.count('"failed"') == 3
    assert not any(p.is_file() for p in case.staging.rglob("*"))
    # the same role with its password gets in: the refusal above was the password's
    right_dsn = with_user(audit_dsn, role, password)
    right = breach(*commands[0], "--case", str(case.root), "--dsn", right_dsn)
    assert right.exit_code == 0, right.stderr
    assert password not in case.journal_path.read_text()
    meta = (case.staging / "audit" / "public.audit_log.meta.json").read_text()
    assert password not in meta
    assert json.loads(meta)["source"]["dsn"].endswith("password=***")


def test_snapshot_workers_lost_for_good_fail_their_tables_cleanly(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            terminate(pg_dsn, "breachkit-evidence-worker")
            stop.wait(0.002)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = breach(
            "evidence", "snapshot", "--case", str(case.root), "--dsn", pg_dsn,
            "--table", "public.users", "--table", "public.sessions", "--json",
        )  # fmt: skip
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 1, result.stderr
    failed = {f["target"]: f["reason"] for f in result.json["failed"]}
    assert set(failed) == {"public.users", "public.sessions"}
    assert all("connection lost" in reason for reason in failed.values()), failed
    assert _staged_files(case, ".parquet") == []  # nothing partial staged
    assert not [p for p in case.staging.rglob(".*")]
    summary = json.loads((case.staging / result.json["folder"] / "snapshot.json").read_text())
    assert summary["tables"] == {} and len(summary["failed"]) == 2
    assert case.timeline()[-1]["result"] == "failed"


def test_snapshot_whose_control_connection_dies_fails_cleanly(breach, case, pg_dsn) -> None:
    """Without the exporting transaction the snapshot is gone: no retry can adopt it."""
    execute(pg_dsn, *BIG)
    killed: list[int] = []
    once = threading.Lock()

    def kill_everything(key: str, rows: int) -> None:
        with once:
            if not killed:
                killed.append(terminate(pg_dsn, "breachkit-evidence%", wait=True))

    report = TableSnapshot(
        pg_dsn, ["public.big"], jobs=1, batch_bytes=65536, progress=kill_everything
    ).run(case)
    assert killed == [2]  # the control connection and the worker
    assert report.exported == [] and len(report.failed) == 1
    assert "exported snapshot ended" in report.failed[0].reason, report.failed
    assert _staged_files(case, ".parquet") == []
    summary = json.loads((case.staging / report.folder / "snapshot.json").read_text())
    assert [f["target"] for f in summary["failed"]] == ["public.big"]
