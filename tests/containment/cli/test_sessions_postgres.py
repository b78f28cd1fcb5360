"""Revoking sessions in a real PostgreSQL: the rows left are read back after each step."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from breach.case import Case
from tests.containment.conftest import by_name, receipts
from tests.containment.test_sessions_postgres import django_session, left, make_generic

pytestmark = pytest.mark.pg


@pytest.fixture
def revoke(contain: Any, pg_dsn: str) -> Any:
    """`breach contain revoke-sessions --adapter postgres --dsn <the test database> ARGS...`."""
    return lambda *args: contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn, *args)


def test_revoke_deletes_only_the_targets_rows_and_writes_a_receipt(
    revoke: Any, case: Case, pg_dsn: str
) -> None:
    make_generic(pg_dsn, {1: 3, 2: 2, 3: 4})
    result = revoke("--target", "1", "--target", "3")
    assert result.exit_code == 0, result.stderr
    assert left(pg_dsn) == {2: 2}
    data = result.json
    assert data["status"] == "ok" and data["summary"] == "revoked 7 sessions of 2 users"
    targets = by_name(data)
    assert targets["1"]["before"] == {"sessions": 3} and targets["1"]["after"] == {"sessions": 0}
    assert targets["3"]["count"] == 4
    assert data["operator"].startswith("postgres")
    assert "tok-" not in json.dumps(data)  # session tokens are bearer secrets
    [receipt] = receipts(case)
    for field in (
        "kind",
        "action",
        "adapter",
        "status",
        "summary",
        "started_at",
        "finished_at",
        "operator",
        "targets",
        "undo",
    ):
        assert field in receipt
    assert receipt["kind"] == "containment" and receipt["started_at"].endswith("Z")
    staged = case.staging / "receipts" / result.json["receipt"].rsplit("/", 1)[1]
    assert json.loads(staged.read_text()) == receipt
    assert staged.with_name(staged.name + ".meta.json").is_file()
    last = case.timeline()[-1]
    assert last["what"] == "contain.revoke-sessions" and last["result"] == "ok"


def test_dry_run_changes_nothing_and_apply_then_does_what_was_planned(
    revoke: Any, case: Case, pg_dsn: str
) -> None:
    make_generic(pg_dsn, {1: 3, 2: 2})
    args = ("--target", "1", "--target", "2")
    planned = revoke(*args, "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    assert planned.json["status"] == "planned" and planned.json["dry_run"] is True
    assert planned.json["summary"] == "would revoke 5 sessions of 2 users"
    assert left(pg_dsn) == {1: 3, 2: 2}
    applied = revoke(*args)
    assert {t["name"]: t["count"] for t in applied.json["targets"]} == {
        t["name"]: t["count"] for t in planned.json["targets"]
    }
    assert left(pg_dsn) == {}
    again = revoke(*args)
    assert again.exit_code == 0 and again.json["status"] == "noop"
    assert again.json["summary"].startswith("nothing to do")
    assert [r["status"] for r in receipts(case)] == ["planned", "ok", "noop"]


def test_bad_user_ids_are_reported_not_fatal(revoke: Any, pg_dsn: str) -> None:
    make_generic(pg_dsn, {1: 2})
    result = revoke("--target", "1", "--target", "bob")
    assert result.exit_code == 1
    assert "1 of 2 targets failed or were not found" in result.stderr
    targets = by_name(result.json)
    assert targets["1"]["status"] == "ok" and targets["bob"]["status"] == "missing"
    assert "not a valid bigint" in targets["bob"]["reason"]
    assert left(pg_dsn) == {}


def test_targets_file_and_small_batches(revoke: Any, pg_dsn: str, tmp_path: Any) -> None:
    make_generic(pg_dsn, {u: 2 for u in range(1, 11)})
    listing = tmp_path / "users.txt"
    listing.write_text("# affected users\n1\n2\n\n3  # the admin\n4\n5\n")
    result = revoke("--targets-file", str(listing), "--batch-size", "2")
    assert result.exit_code == 0, result.stderr
    assert result.json["summary"] == "revoked 10 sessions of 5 users"
    assert sorted(left(pg_dsn)) == [6, 7, 8, 9, 10]


def test_django_preset_decodes_session_data(revoke: Any, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, session_data text, expire_date timestamptz)"
        )
        rows = [
            ("k1", django_session(7)),
            ("k2", django_session(7, compressed=True)),
            ("k3", django_session(7, legacy=True)),
            ("k4", django_session(8)),
            ("k5", django_session(None)),
        ]
        conn.cursor().executemany("INSERT INTO django_session VALUES (%s, %s, now())", rows)
    result = revoke("--preset", "django", "--target", "7")
    assert result.exit_code == 0, result.stderr
    assert result.json["targets"][0]["after"] == {"sessions": 0}
    with psycopg.connect(pg_dsn) as conn:
        keys = sorted(r[0] for r in conn.execute("SELECT session_key FROM django_session"))
    assert keys == ["k4", "k5"]


def test_unreachable_postgres_is_one_line_exit_2(contain: Any, case: Case) -> None:
    dsn = "postgresql://app:hunter2@127.0.0.1:1/app"
    result = contain("revoke-sessions", "--adapter", "postgres", "--dsn", dsn, "--target", "1")
    assert result.exit_code == 2
    assert "cannot connect to PostgreSQL" in result.stderr and "hunter2" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert receipts(case) == []


def test_missing_table_is_bad_input(revoke: Any, pg_dsn: str) -> None:
    result = revoke("--target", "1")
    assert result.exit_code == 2
    assert "table 'sessions' has no column" in result.stderr
