"""`breach scope`: counts from the staged audit Parquet, affected users with contacts."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from ..conftest import execute, fetch
from ..test_pgaudit import write_log

USERS = """
CREATE TABLE public.users (id bigint PRIMARY KEY, email text, phone text, password_hash text);
INSERT INTO public.users SELECT g, 'user' || g || '@example.test', '+4420' || g, 'secret' || g
    FROM generate_series(0, 49) AS g;
"""


@pytest.mark.pg
def test_scope_of_an_actor_with_contacts_from_the_users_snapshot(breach, case, audit_dsn) -> None:
    execute(audit_dsn, USERS)
    exported = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at",
        "--since", "2026-11-01", "--until", "2026-11-03",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    snap = breach("evidence", "snapshot", "--case", str(case.root), "--dsn", audit_dsn,
                  "--table", "public.users")  # fmt: skip
    assert snap.exit_code == 0, snap.stderr
    result = breach("scope", "--case", str(case.root), "--actor", "mallory", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    mine = "FROM audit_log WHERE actor = 'mallory'"
    assert data["events"] == fetch(audit_dsn, f"SELECT count(*) {mine}")[0][0] == 200
    assert data["principals"] == ["mallory"]
    assert data["source_ips"] == [
        r[0] for r in fetch(audit_dsn, f"SELECT DISTINCT host(source_ip) {mine} ORDER BY 1")
    ]
    assert data["actions"] == dict(
        fetch(audit_dsn, f"SELECT action, count(*) {mine} GROUP BY 1 ORDER BY 1")
    )
    assert data["tables"] == {"public.users": 200}
    records = fetch(audit_dsn, f"SELECT count(DISTINCT (table_name, record_id)) {mine}")[0][0]
    assert data["records_touched"] == records == 5
    touched = pq.read_table(case.staging / "scope" / "records-touched.parquet").to_pylist()
    assert [(r["table"], r["record_id"]) for r in touched] == fetch(
        audit_dsn, f"SELECT DISTINCT table_name, record_id {mine} ORDER BY 1, 2"
    )
    assert data["records_touched_artifact"] == "scope/records-touched.parquet"
    assert (case.staging / "scope" / "records-touched.parquet.meta.json").is_file()
    assert data["affected_users"] == 5
    assert data["since"] == "2026-11-01T00:00:00Z" and data["until"] == "2026-11-03T00:00:00Z"
    users = pq.read_table(case.staging / "scope" / "affected-users.parquet")
    assert users.column_names[:2] == ["user_id", "email"] and "phone" in users.column_names
    assert "password_hash" not in users.column_names  # secrets never travel to notification
    assert users.to_pylist()[0] == {
        "user_id": "0",
        "email": "user0@example.test",
        "phone": "+44200",
    }
    assert sorted(users.column("user_id").to_pylist()) == ["0", "10", "20", "30", "40"]
    record = json.loads((case.root / "case.json").read_text())
    assert set(record["scope"]) == {
        "since", "until", "principals", "source_ips", "actions", "tables",
        "records_touched", "affected_users", "affected_users_artifact",
        "first_seen", "last_seen", "columns", "uncounted",
    }  # fmt: skip
    assert record["scope"]["affected_users_artifact"] == "scope/affected-users.parquet"
    assert record["scope"]["uncounted"] == {}  # every event named a user's record: all counted
    assert json.loads((case.staging / "scope" / "scope.json").read_text())["events"] == 200
    assert (case.staging / "scope" / "affected-users.parquet.meta.json").is_file()
    whats = [e["what"] for e in case.timeline()]
    assert whats[-2:] == ["scope.compute", "case.update"]


@pytest.mark.pg
def test_scope_by_ip_block_and_narrower_window(breach, case, audit_dsn) -> None:
    breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at",
        "--since", "2026-11-01", "--until", "2026-11-03",
    )  # fmt: skip
    result = breach(
        "scope", "--case", str(case.root), "--ip", "10.0.1.0/24",
        "--since", "2026-11-01T12:00:00Z", "--until", "2026-11-01T13:00:00Z", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = fetch(
        audit_dsn,
        "SELECT actor, count(*) FROM audit_log WHERE source_ip <<= '10.0.1.0/24'"
        " AND occurred_at >= '2026-11-01T12:00:00Z' AND occurred_at < '2026-11-01T13:00:00Z'"
        " GROUP BY 1 ORDER BY 1",
    )
    assert result.json["principals"] == [r[0] for r in expected]
    assert result.json["events"] == sum(r[1] for r in expected) > 0
    assert result.json["source_ips"] == ["10.0.1.1"]
    assert result.json["affected_users"] == 0  # staff touched orders only
    # under --json warnings are in the result, not on stderr
    assert not any("no users table" in w for w in result.json["warnings"])


def test_scope_from_a_pgaudit_log_alone(breach, case, tmp_path) -> None:
    breach(
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log",
        str(write_log(tmp_path)), "--since", "2026-11-01", "--until", "2026-11-03",
    )  # fmt: skip
    result = breach(
        "scope", "--case", str(case.root), "--ip", "203.0.113.0/24", "--ip", "2001:db8::/32"
    )
    assert result.exit_code == 0, result.stderr
    assert "3 matching events" in result.stdout and "principals: mallory" in result.stdout
    scope = json.loads((case.root / "case.json").read_text())["scope"]
    assert scope["actions"] == {"SELECT": 2, "UPDATE": 1}
    assert scope["tables"] == {"public.users": 3}
    assert scope["source_ips"] == ["2001:db8::5", "203.0.113.7"]
    # a pgaudit line names a table, never a row or a person: unknown, not zero
    assert scope["records_touched"] is None and scope["affected_users"] is None
    assert scope["uncounted"] == {
        "records_touched": "3 matching event(s) in audit/pgaudit name no record",
        "affected_users": "3 matching event(s) in audit/pgaudit name no user"
        " (no subject column, no users table)",
    }
    users = pq.read_table(case.staging / "scope" / "affected-users.parquet")
    assert users.num_rows == 0 and users.column_names == ["user_id", "email"]


def test_scope_bad_input(breach, case, tmp_path) -> None:
    nothing = breach("scope", "--case", str(case.root), "--actor", "mallory")
    assert nothing.exit_code == 2 and "no exported audit logs" in nothing.stderr
    breach(
        "evidence", "export-audit", "--case", str(case.root), "--pgaudit-log",
        str(write_log(tmp_path)), "--since", "2026-11-01", "--until", "2026-11-03",
    )  # fmt: skip
    no_indicator = breach("scope", "--case", str(case.root))
    assert no_indicator.exit_code == 2 and "--actor or --ip" in no_indicator.stderr
    bad_ip = breach("scope", "--case", str(case.root), "--ip", "300.1.1.1")
    assert bad_ip.exit_code == 2 and bad_ip.stderr.strip().count("\n") == 0
    assert json.loads((case.root / "case.json").read_text())["scope"] is None


@pytest.mark.pg
def test_scope_warns_what_the_exports_cannot_show(breach, case, audit_dsn) -> None:
    exported = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at", "--actor", "mallory",
        "--since", "2026-11-01T12:00:00Z", "--until", "2026-11-02",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    result = breach(
        "scope", "--case", str(case.root), "--ip", "203.0.113.0/24",
        "--since", "2026-11-01", "--until", "2026-11-02", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json["warnings"][:2] == [
        "audit/public.audit_log covers only 2026-11-01T12:00:00Z .. 2026-11-02T00:00:00Z:"
        " events outside it are not counted",
        "audit/public.audit_log was exported only for actors mallory: other events are not in it",
    ]
    expected = fetch(
        audit_dsn,
        "SELECT count(*) FROM audit_log WHERE actor = 'mallory'"
        " AND occurred_at >= '2026-11-01T12:00:00Z' AND occurred_at < '2026-11-02'",
    )[0][0]
    assert result.json["events"] == expected > 0  # what the export holds, and no more
