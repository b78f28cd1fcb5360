"""Volatile evidence: what containment destroys is recorded first, on a real PostgreSQL and Redis.

- disabling a role records each backend it terminates, as pg_stat_activity showed it;
- revoking sessions stages the deleted rows or keys (tokens as SHA-256) before deleting them;
- a revoke or disable on a table the case never snapshotted warns; --require-snapshot refuses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breach.case import Case
from tests.containment.conftest import assert_nowhere_in_case, by_name

SESSIONS = """
CREATE TABLE sessions (
    id serial PRIMARY KEY, user_id bigint NOT NULL, token text NOT NULL,
    refresh_token text, ip inet, user_agent text, created_at timestamptz NOT NULL
);
INSERT INTO sessions (user_id, token, refresh_token, ip, user_agent, created_at) VALUES
    (1, 'tok-one-a', 'ref-one-a', '203.0.113.7', 'curl/8.4', '2026-11-28T06:01:00Z'),
    (1, 'tok-one-b', NULL, '203.0.113.8', 'curl/8.4', '2026-11-28T06:02:00Z'),
    (2, 'tok-two', 'ref-two', '198.51.100.2', 'Firefox', '2026-11-28T06:03:00Z'),
    (3, 'tok-three', NULL, '192.0.2.3', 'Safari', '2026-11-28T06:04:00Z');
"""
TOKENS = ("tok-one-a", "tok-one-b", "tok-two", "ref-one-a", "ref-two")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def as_role(dsn: str, role: str, **extra: str) -> str:
    params = conninfo_to_dict(dsn)
    params.update(user=role, **extra)
    return make_conninfo(**params)


def staged(case: Case, artifact: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case.staging / artifact).read_text())
    return data


@pytest.mark.pg
def test_disabling_a_role_records_each_backend_before_terminating_it(
    contain: Any, case: Case, pg_dsn: str, role: str
) -> None:
    attacker = psycopg.connect(as_role(pg_dsn, role, application_name="exfil-tool"))
    attacker.autocommit = True
    attacker.execute("SELECT 'dumping customers' AS marker").fetchall()
    pid = attacker.info.backend_pid
    secret = psycopg.connect(as_role(pg_dsn, role), autocommit=True)
    secret.execute("SELECT 'password=hunter2' AS leaked").fetchall()
    result = contain(
        "disable-accounts", "--adapter", "postgres-role", "--dsn", pg_dsn, "--target", role
    )
    assert result.exit_code == 0, result.stderr
    target = by_name(result.json)[role]
    assert target["count"] == 2 and len(target["backends"]) == 2
    backends = {b["pid"]: b for b in target["backends"]}
    seen = backends[pid]
    assert seen["user"] == role and seen["application_name"] == "exfil-tool"
    if conninfo_to_dict(pg_dsn).get("host", "").startswith("/"):  # a unix socket: no address
        assert seen["client_addr"] is None and seen["client_port"] in (None, -1)
    else:
        assert seen["client_addr"] == "127.0.0.1" and seen["client_port"] > 0
    assert seen["state"] == "idle" and seen["backend_start"].endswith("Z")
    assert seen["query"] == "SELECT 'dumping customers' AS marker"
    assert seen["query_sha256"] == sha256(seen["query"])
    other = backends[secret.info.backend_pid]
    assert other["query"] is None and other["query_withheld"] == "it names a password"
    assert other["query_sha256"] == sha256("SELECT 'password=hunter2' AS leaked")
    assert_nowhere_in_case(case, "hunter2")
    with pytest.raises(psycopg.OperationalError):  # and it was terminated after being read
        attacker.execute("SELECT 1")
    human = contain(
        "disable-accounts", "--adapter", "postgres-role", "--dsn", pg_dsn, "--target", role
    )
    assert human.json["targets"][0]["backends"] == []  # nothing left to end the second time


@pytest.mark.pg
def test_revoking_postgres_sessions_stages_the_rows_first_with_tokens_hashed(
    contain: Any, case: Case, pg_dsn: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SESSIONS)
    args = ("--adapter", "postgres", "--dsn", pg_dsn, "--target", "1", "--target", "2")
    result = contain("revoke-sessions", *args)
    assert result.exit_code == 0, result.stderr
    (kept,) = result.json["captured"]
    assert kept["records"] == 3 and kept["hashed"] == ["refresh_token", "token"]
    assert {t["name"]: t["captured"] for t in result.json["targets"]} == {"1": 2, "2": 1}
    data = staged(case, kept["artifact"])
    assert kept["artifact"].startswith("volatile/") and data["hashed"] == kept["hashed"]
    rows = sorted(data["records"], key=lambda r: r["token_sha256"])
    expected = sorted(
        [
            (1, "tok-one-a", sha256("ref-one-a"), "203.0.113.7", "2026-11-28T06:01:00Z"),
            (1, "tok-one-b", None, "203.0.113.8", "2026-11-28T06:02:00Z"),
            (2, "tok-two", sha256("ref-two"), "198.51.100.2", "2026-11-28T06:03:00Z"),
        ],
        key=lambda r: sha256(r[1]),
    )
    assert [
        (r["user_id"], r["token_sha256"], r["refresh_token_sha256"], r["ip"], r["created_at"])
        for r in rows
    ] == [(u, sha256(t), ref, ip, at) for u, t, ref, ip, at in expected]
    assert "token" not in rows[0] and rows[0]["user_agent"] in ("curl/8.4", "Firefox")
    meta = json.loads((case.staging / (kept["artifact"] + ".meta.json")).read_text())
    assert meta["source"]["table"] == "public.sessions" and meta["source"]["row_count"] == 3
    assert_nowhere_in_case(case, *TOKENS)
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute("SELECT user_id FROM sessions ORDER BY 1").fetchall()
    assert left == [(3,)]
    dry = contain("revoke-sessions", "--adapter", "postgres", "--dsn", pg_dsn, "--target", "3",
                  "--dry-run")  # fmt: skip
    assert dry.json["captured"] == []  # a dry run deletes nothing, so keeps nothing


@pytest.mark.pg
def test_django_sessions_keep_the_user_and_hash_key_and_data(
    contain: Any, case: Case, pg_dsn: str
) -> None:
    import base64

    payload = base64.urlsafe_b64encode(b'{"_auth_user_id":"7","_auth_user_hash":"h4sh"}')
    data = payload.decode().rstrip("=") + ":1tAbCd:signature"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY,"
            " session_data text NOT NULL, expire_date timestamptz NOT NULL)"
        )
        conn.execute(
            "INSERT INTO django_session VALUES ('djkey-secret', %s, '2026-12-01T00:00:00Z')",
            (data,),
        )
    args = ("--adapter", "postgres", "--preset", "django", "--dsn", pg_dsn, "--target", "7")
    result = contain("revoke-sessions", *args)
    assert result.exit_code == 0, result.stderr
    (kept,) = result.json["captured"]
    (row,) = staged(case, kept["artifact"])["records"]
    assert row == {
        "user_id": "7",
        "session_key_sha256": sha256("djkey-secret"),
        "session_data_sha256": sha256(data),
        "expire_date": "2026-12-01T00:00:00Z",
    }
    assert_nowhere_in_case(case, "djkey-secret", "h4sh")


def test_revoking_redis_sessions_stages_type_ttl_and_values_first(
    contain: Any, case: Case, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("session:42:tok-json", json.dumps({"ip": "203.0.113.7", "csrf_token": "csrf-1"}))
    client.expire("session:42:tok-json", 3600)
    client.hset("session:42:tok-hash", mapping={"ua": "curl/8.4", "refresh_token": "ref-42"})
    client.set("session:42:tok-opaque", "opaque-bearer-value")
    client.set("session:7:tok-other", "untouched")
    result = contain("revoke-sessions", "--adapter", "redis", "--redis-url", redis_url,
                     "--target", "42")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (kept,) = result.json["captured"]
    assert kept["records"] == 3
    assert kept["hashed"] == ["key", "value", "value.csrf_token", "value.refresh_token"]
    assert result.json["targets"][0]["captured"] == 3
    records = {r["key_sha256"]: r for r in staged(case, kept["artifact"])["records"]}
    as_json = records[sha256("session:42:tok-json")]
    assert as_json["type"] == "string" and 3500 < as_json["ttl_ms"] <= 3_600_000
    assert as_json["value"] == {"ip": "203.0.113.7", "csrf_token_sha256": sha256("csrf-1")}
    as_hash = records[sha256("session:42:tok-hash")]
    assert as_hash["ttl_ms"] is None
    assert as_hash["value"] == {"ua": "curl/8.4", "refresh_token_sha256": sha256("ref-42")}
    opaque = records[sha256("session:42:tok-opaque")]
    assert opaque["value_sha256"] == sha256("opaque-bearer-value")
    assert opaque["value_length"] == len("opaque-bearer-value")
    assert all(r["user_id"] == "42" for r in records.values())
    assert_nowhere_in_case(case, "tok-json", "csrf-1", "ref-42", "opaque-bearer-value")
    assert client.keys("session:42:*") == [] and client.get("session:7:tok-other") == b"untouched"


@pytest.mark.pg
def test_a_table_not_snapshotted_warns_and_require_snapshot_refuses(
    breach: Any, contain: Any, case: Case, pg_dsn: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SESSIONS)
    args = ("--adapter", "postgres", "--dsn", pg_dsn, "--target", "3")
    refused = contain("revoke-sessions", *args, "--require-snapshot")
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "error: refusing to revoke: public.sessions has not been snapshotted in this case"
        f" (hint: breach evidence snapshot --case {case.id} --dsn ... --table public.sessions)"
    ]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (4,)
    warned = contain("revoke-sessions", *args, "--dry-run")
    assert warned.exit_code == 0 and warned.json["status"] == "planned"
    (warning,) = warned.json["warnings"]
    assert warning.startswith("public.sessions has not been snapshotted in this case")
    human = breach("contain", "revoke-sessions", "--case", str(case.root), *args, "--dry-run")
    assert human.exit_code == 0
    assert human.stderr.strip().splitlines() == [f"warning: {warning}"]
    taken = breach("evidence", "snapshot", "--case", str(case.root), "--dsn", pg_dsn,
                   "--table", "public.sessions")  # fmt: skip
    assert taken.exit_code == 0, taken.stderr
    done = contain("revoke-sessions", *args, "--require-snapshot")
    assert done.exit_code == 0 and done.json["warnings"] == []
    assert done.json["summary"] == "revoked 1 session of 1 user"
    users = ("--adapter", "app-users", "--dsn", pg_dsn, "--table", "sessions", "--id-column",
             "id", "--flag-column", "user_agent", "--disabled-value", "x", "--target", "1")  # fmt: skip
    assert contain("disable-accounts", *users, "--require-snapshot").exit_code == 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, is_active boolean)")
    other = contain("disable-accounts", "--adapter", "app-users", "--dsn", pg_dsn, "--target",
                    "1", "--require-snapshot")  # fmt: skip
    assert other.exit_code == 2 and "public.users has not been snapshotted" in other.stderr
