"""Revoking sessions in a real PostgreSQL: the rows left are read back after each step."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import psycopg
import pytest

from containment.run import run_action
from containment.sessions.postgres import PRESETS, PostgresSessions, django_user_id

pytestmark = pytest.mark.pg


def make_generic(dsn: str, sessions: dict[int, int]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sessions (user_id bigint, token text PRIMARY KEY, expires_at timestamptz)"
        )
        rows = [
            (user, f"tok-{user}-{i}", "2030-01-01T00:00:00Z")
            for user, count in sessions.items()
            for i in range(count)
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO sessions VALUES (%s, %s, %s)", rows)


def left(dsn: str) -> dict[int, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT user_id, count(*) FROM sessions GROUP BY 1").fetchall())


def django_session(user: int | None, compressed: bool = False, legacy: bool = False) -> str:
    payload = json.dumps({"_auth_user_id": str(user)} if user else {"cart": [1]}).encode()
    if legacy:
        return base64.b64encode(b"0123abcd:" + payload).decode()
    body = (
        b"." + base64.urlsafe_b64encode(zlib.compress(payload)).rstrip(b"=")
        if compressed
        else base64.urlsafe_b64encode(payload).rstrip(b"=")
    )
    return f"{body.decode()}:1tXyZa:signaturesignature"


def test_django_decoder_ignores_garbage() -> None:
    assert django_user_id("not base64 at all") is None
    assert django_user_id(None) is None
    assert django_user_id(django_session(42, compressed=True)) == "42"


def test_library_counts_round_trips_per_batch(pg_dsn: str) -> None:
    make_generic(pg_dsn, {u: 1 for u in range(1, 101)})
    adapter = PostgresSessions(pg_dsn, PRESETS["generic"], batch_size=50)
    try:
        receipt = run_action(adapter, [str(u) for u in range(1, 101)], dry_run=False)
    finally:
        adapter.close()
    assert receipt.status == "ok" and sum(t.count for t in receipt.targets) == 100
    # operator + columns + 2 count batches (plan) + 2 delete batches + 2 count batches (verify)
    assert adapter.round_trips == 8
    assert left(pg_dsn) == {}


class AttackerLogsInAgain(PostgresSessions):
    """Between the delete and the read-back, the attacker signs in again (a real INSERT)."""

    def apply(self, planned: list[Any]) -> None:
        super().apply(planned)
        self.query("INSERT INTO sessions VALUES (1, 'tok-new', now())")


def test_read_back_catches_sessions_created_during_the_revoke(pg_dsn: str) -> None:
    make_generic(pg_dsn, {1: 2})
    adapter = AttackerLogsInAgain(pg_dsn)
    try:
        receipt = run_action(adapter, ["1"], dry_run=False)
    finally:
        adapter.close()
    [target] = receipt.targets
    assert target.status == "failed" and target.count == 2
    assert target.after == {"sessions": 1}
    assert target.reason == "1 sessions remain after the delete"
    assert target.hint is not None and "disable-accounts" in target.hint
    assert receipt.status == "failed"
