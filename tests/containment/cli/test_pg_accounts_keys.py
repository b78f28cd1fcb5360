"""PostgreSQL roles, application users and role passwords, on a real server."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breach.case import Case
from containment.keys.postgres_password import scram_matches
from tests.containment.conftest import assert_nowhere_in_case, by_name

pytestmark = pytest.mark.pg


def as_role(dsn: str, role: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = role
    return make_conninfo(**params)


def test_postgres_role_nologin_and_backends_terminated(
    contain: Any, pg_dsn: str, role: str
) -> None:
    attacker = psycopg.connect(as_role(pg_dsn, role), autocommit=True)
    result = contain(
        "disable-accounts",
        "--adapter",
        "postgres-role",
        "--dsn",
        pg_dsn,
        "--target",
        role,
        "--target",
        "no_such_role",
    )
    assert result.exit_code == 1, result.stderr  # the missing role is reported
    target = by_name(result.json)[role]
    assert target["before"] == {"can_login": True, "backends": 1}
    assert target["after"] == {"can_login": False, "backends": 0}
    assert by_name(result.json)["no_such_role"]["status"] == "missing"
    with pytest.raises(psycopg.OperationalError):
        attacker.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(as_role(pg_dsn, role))
    assert f'ALTER ROLE "{role}" LOGIN;' in result.json["undo"]
    again = contain(
        "disable-accounts", "--adapter", "postgres-role", "--dsn", pg_dsn, "--target", role
    )
    assert again.exit_code == 0 and again.json["status"] == "noop"


def test_postgres_role_refuses_the_connections_own_role(contain: Any, pg_dsn: str) -> None:
    """NOLOGIN on the role the responder is connected as would lock out the responder and undo."""
    with psycopg.connect(pg_dsn) as conn:
        myself = conn.execute("SELECT current_user").fetchone()
    assert myself is not None
    args = ("--adapter", "postgres-role", "--dsn", pg_dsn, "--target", myself[0])
    result = contain("disable-accounts", *args)
    assert result.exit_code == 1
    target = result.json["targets"][0]
    assert target["status"] == "failed" and "this connection's own role" in target["reason"]
    with psycopg.connect(pg_dsn) as conn:
        can_login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert can_login == (True,)


def test_app_users_flag(contain: Any, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE accounts (uid int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false)"
        )
        conn.execute(
            "INSERT INTO accounts SELECT g, 'u' || g || '@example.com', false FROM generate_series(1, 5) g"
        )
    args = (
        "--adapter",
        "app-users",
        "--dsn",
        pg_dsn,
        "--table",
        "accounts",
        "--id-column",
        "uid",
        "--flag-column",
        "locked",
        "--disabled-value",
        "true",
    )
    dry = contain("disable-accounts", *args, "--target", "2", "--target", "4", "--dry-run")
    assert dry.json["summary"] == "would disable 2 users"
    result = contain(
        "disable-accounts",
        *args,
        "--target",
        "2",
        "--target",
        "4",
        "--target",
        "99",
        "--target",
        "bob",
    )
    assert result.exit_code == 1
    targets = by_name(result.json)
    assert targets["2"]["before"] == {"locked": "false"} and targets["2"]["after"] == {
        "locked": "true"
    }
    assert targets["99"]["status"] == "missing"
    assert (
        targets["bob"]["status"] == "missing"
        and targets["bob"]["reason"] == "not a valid integer id"
    )
    with psycopg.connect(pg_dsn) as conn:
        locked = [r[0] for r in conn.execute("SELECT uid FROM accounts WHERE locked ORDER BY uid")]
    assert locked == [2, 4]
    assert "UPDATE accounts SET locked = 'false' WHERE uid = '2';" in result.json["undo"]
    assert contain("disable-accounts", *args, "--target", "2").json["status"] == "noop"


def test_app_users_text_flag_and_bad_settings(contain: Any, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE members (handle text PRIMARY KEY, state text)")
        conn.execute("INSERT INTO members VALUES ('o''brien', 'it''s active')")
    args = ("--adapter", "app-users", "--dsn", pg_dsn, "--table", "members", "--id-column")
    args += ("handle", "--flag-column", "state", "--disabled-value", "locked")
    result = contain("disable-accounts", *args, "--target", "o'brien")
    assert result.exit_code == 0, result.stdout
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT state FROM members").fetchone() == ("locked",)
        conn.execute(result.json["undo"])  # the undo step runs as printed, quotes and all
        assert conn.execute("SELECT state FROM members").fetchone() == ("it's active",)
    for bad, message in (
        # PostgreSQL 15 calls this an invalid name, later versions no such table: one line both.
        (("--table", "members; drop table members"), "'members; drop table members'"),
        (("--table", "nosuch"), "table 'nosuch' has no column"),
    ):
        result = contain("disable-accounts", *args, *bad, "--target", "x")
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    flag = ("--adapter", "app-users", "--dsn", pg_dsn, "--disabled-value", "maybe")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, is_active boolean)")
    result = contain("disable-accounts", *flag, "--target", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --disabled-value 'maybe' is not a boolean (the type of users.is_active)"
    )


def test_postgres_password_rotation_to_a_0600_file(
    contain: Any, case: Case, pg_dsn: str, role: str, tmp_path: Path
) -> None:
    destination = tmp_path / "secrets" / "{target}.password"
    args = (
        "--adapter",
        "postgres-password",
        "--dsn",
        pg_dsn,
        "--target",
        role,
        "--secret-destination",
        f"file:{destination}",
    )
    result = contain("rotate-keys", *args)
    assert result.exit_code == 0, result.stderr
    stored = Path(str(destination).replace("{target}", role))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    password = stored.read_text().strip()
    assert len(password) >= 32 and password not in result.stdout
    written = [p for p in case.root.rglob("*") if p.is_file()]
    assert len(written) >= 4  # case.json, journal, receipt, staged receipt and sidecar
    assert all(password not in p.read_text() for p in written)
    with psycopg.connect(pg_dsn) as conn:
        verifier = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()[0]
    assert scram_matches(password, verifier) and not scram_matches("old-password", verifier)
    assert result.json["targets"][0]["after"]["password_matches_destination"] is True
    again = contain("rotate-keys", *args)
    assert again.json["status"] == "noop", again.json
    assert stored.read_text().strip() == password


def test_postgres_password_needs_a_destination(contain: Any, pg_dsn: str, role: str) -> None:
    result = contain(
        "rotate-keys", "--adapter", "postgres-password", "--dsn", pg_dsn, "--target", role
    )
    assert result.exit_code == 2 and "needs --secret-destination" in result.stderr
    bad = contain(
        "rotate-keys",
        "--adapter",
        "postgres-password",
        "--dsn",
        pg_dsn,
        "--target",
        role,
        "--secret-destination",
        "stdout:",
    )
    assert bad.exit_code == 2 and "unusable secret destination" in bad.stderr


@pytest.mark.aws
def test_postgres_password_rotation_to_secrets_manager(
    aws: None, contain: Any, case: Case, pg_dsn: str, role: str
) -> None:
    import boto3

    args = (
        "--adapter", "postgres-password", "--dsn", pg_dsn, "--target", role,
        "--secret-destination", "secretsmanager:db/{target}/password",
    )  # fmt: skip
    result = contain("rotate-keys", *args)
    assert result.exit_code == 0, result.stderr
    stored = boto3.client("secretsmanager").get_secret_value(SecretId=f"db/{role}/password")
    password = stored["SecretString"]
    assert password not in result.stdout
    assert_nowhere_in_case(case, password)
    assert result.json["targets"][0]["request_ids"]  # the PutSecretValue/CreateSecret call
    with psycopg.connect(pg_dsn) as conn:
        verifier = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()[0]
    assert scram_matches(password, verifier)
    assert contain("rotate-keys", *args).json["status"] == "noop"
