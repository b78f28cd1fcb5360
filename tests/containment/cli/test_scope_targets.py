"""Scope feeds containment: Parquet targets files (scope's affected users and actors), a named
column, `--from-scope`, and ids in natural order; on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breach.case import Case
from tests.evidence.conftest import AUDIT_DDL, AUDIT_ROWS

pytestmark = pytest.mark.pg

SESSIONS = """
CREATE TABLE sessions (user_id bigint NOT NULL, token text NOT NULL);
INSERT INTO sessions SELECT g % 120, 'tok-' || g FROM generate_series(0, 599) AS g;
"""


def sessions_left(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT DISTINCT user_id FROM sessions ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_a_parquet_targets_file_is_read_by_column_in_natural_order(
    contain: Any, pg_dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SESSIONS)
    listing = tmp_path / "picked.parquet"
    table = {"email": ["a@x", "b@x", "c@x", "d@x"], "user_id": ["10", "9", "100", "9"]}
    pq.write_table(pa.table(table), listing)
    args = ("--adapter", "postgres", "--dsn", pg_dsn, "--targets-file", str(listing))
    result = contain("revoke-sessions", *args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert [t["name"] for t in result.json["targets"]] == ["9", "10", "100"]
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"uid": pa.array([11.0, 2.0], pa.float64()), "n": [1, 2]}), ints)
    named = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn,
                    "--targets-file", str(ints), "--targets-column", "uid")  # fmt: skip
    assert named.exit_code == 0, named.stderr
    assert [t["name"] for t in named.json["targets"]] == ["2", "11"]
    assert 2 not in sessions_left(pg_dsn) and 11 not in sessions_left(pg_dsn)
    wrong = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn,
                    "--targets-file", str(ints), "--targets-column", "user")  # fmt: skip
    assert wrong.exit_code == 2
    assert wrong.stderr.strip().splitlines() == [
        f"error: {ints} has no column 'user' (hint: its columns: uid, n)"
    ]
    ambiguous = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn,
                        "--targets-file", str(ints))  # fmt: skip
    assert ambiguous.exit_code == 2 and "--targets-column" in ambiguous.stderr
    text = tmp_path / "t.txt"
    text.write_text("5\n")
    column_on_text = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn,
                             "--targets-file", str(text), "--targets-column", "uid")  # fmt: skip
    assert column_on_text.exit_code == 2 and "is a text file" in column_on_text.stderr


def test_from_scope_revokes_the_affected_users_and_actors_list_feeds_disable(
    breach: Any, contain: Any, case: Case, pg_dsn: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(AUDIT_DDL)
        conn.execute(AUDIT_ROWS)
        conn.execute(SESSIONS)
    early = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn, "--from-scope")
    assert early.exit_code == 2 and "this case has no scope yet" in early.stderr
    exported = breach("evidence", "export-audit", "--case", str(case.root), "--dsn", pg_dsn,
                      "--table", "public.audit_log", "--time-column", "occurred_at",
                      "--since", "2026-11-01", "--until", "2026-11-03")  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    scoped = breach("scope", "--case", str(case.root), "--ip", "203.0.113.0/24", "--json")
    assert scoped.exit_code == 0, scoped.stderr
    affected = pq.read_table(case.staging / "scope" / "affected-users.parquet")
    assert affected.column("user_id").to_pylist() == ["0", "10", "20", "30", "40"]
    result = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn, "--from-scope")
    assert result.exit_code == 0, result.stderr
    assert [t["name"] for t in result.json["targets"]] == ["0", "10", "20", "30", "40"]
    assert result.json["summary"] == "revoked 25 sessions of 5 users"
    assert not {0, 10, 20, 30, 40} & set(sessions_left(pg_dsn))
    assert len(sessions_left(pg_dsn)) == 115
    actors = case.staging / "scope" / "actors.parquet"
    assert pq.read_table(actors).to_pylist() == [{"actor": "mallory", "events": 200}]
    assert (case.staging / "scope" / "actors.parquet.meta.json").is_file()
    disable = contain("disable-accounts", "--adapter", "postgres-role", "--dsn", pg_dsn,
                      "--targets-file", str(actors), "--targets-column", "actor",
                      "--dry-run")  # fmt: skip
    assert disable.exit_code == 1  # no such role here: reported, by the name scope found
    assert [(t["name"], t["status"]) for t in disable.json["targets"]] == [("mallory", "missing")]
    victims = contain("disable-accounts", "--adapter", "postgres-role", "--dsn", pg_dsn,
                      "--from-scope")  # fmt: skip
    assert victims.exit_code == 2  # the flag is revoke-sessions' alone
