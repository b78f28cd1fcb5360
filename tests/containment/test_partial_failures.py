"""Partial failure is data: the receipt names what failed and why, and the rest is done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import psycopg
import pytest
import redis

from containment.base import AdapterBase
from containment.interface import Action, TargetResult
from containment.run import execute, plan_action, read_targets, run_action
from containment.sessions.postgres import PostgresSessions
from containment.sessions.redis import RedisSessions
from core.errors import BadInput


@pytest.mark.pg
def test_postgres_lost_mid_action_is_recorded_not_raised(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE sessions (user_id int, token text, expires_at timestamptz)")
        conn.execute("INSERT INTO sessions VALUES (1, 'a', now()), (2, 'b', now())")
    adapter = PostgresSessions(pg_dsn)
    plan = plan_action(adapter, ["1", "2"])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (adapter.conn.info.backend_pid,))
    receipt = execute(adapter, plan, dry_run=False)
    adapter.close()
    assert receipt.status == "failed"
    assert all(
        t.status == "failed" and t.reason and t.reason.startswith("not applied: PostgreSQL")
        for t in receipt.targets
    )
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (2,)


@pytest.mark.redis
def test_redis_lost_mid_action_is_recorded_not_raised(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("session:alice:1", "x")
    adapter = RedisSessions(redis_url)
    plan = plan_action(adapter, ["alice"])
    adapter.client.connection_pool.disconnect()
    adapter.client.connection_pool.connection_kwargs["port"] = 1  # the server "goes away"
    adapter.client.connection_pool.reset()
    receipt = execute(adapter, plan, dry_run=False)
    assert receipt.status == "failed"
    assert "not applied: Redis" in (receipt.targets[0].reason or "")
    assert client.exists("session:alice:1") == 1


class Flaky(AdapterBase):
    """A fake for the driver alone: applies the first target, then raises an unexpected error."""

    name: ClassVar[str] = "flaky"
    action: ClassVar[Action] = "block"
    noun: ClassVar[str] = "CIDR"

    def system(self) -> str:
        return "nowhere"

    def operator(self) -> str:
        return "tester"

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        return [TargetResult(name=t, status="noop" if t == "done" else "planned") for t in targets]

    def apply(self, planned: list[TargetResult]) -> None:
        planned[0].status = "ok"
        raise RuntimeError("socket closed")

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
            target.after = {"blocked": True}


def test_driver_keeps_what_was_done_when_apply_blows_up() -> None:
    receipt = run_action(Flaky(), ["a", "b", "done"], dry_run=False)
    statuses = {t.name: t.status for t in receipt.targets}
    assert statuses == {"a": "ok", "b": "failed", "done": "noop"}
    assert receipt.targets[1].reason == "not applied: RuntimeError: socket closed"
    assert receipt.status == "partial"
    assert receipt.summary == "blocked 1 CIDR; 1 already done; 1 failed (b)"


def test_read_targets_dedupes_and_refuses_nothing(tmp_path: Any) -> None:
    listing = tmp_path / "t.txt"
    listing.write_text("a\n# note\n\nb # trailing\na\n")
    assert read_targets(["c", " ", "a"], listing) == ["c", "a", "b"]
    with pytest.raises(BadInput, match="no targets given"):
        read_targets([], None)
