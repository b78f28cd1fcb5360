"""Revoking sessions in a real Redis: the keys left are read back after each step."""

from __future__ import annotations

import pytest
import redis

from containment.run import run_action
from containment.sessions.redis import RedisSessions

pytestmark = pytest.mark.redis


def seed(url: str, sessions: dict[str, int]) -> redis.Redis:
    client = redis.Redis.from_url(url)
    for user, count in sessions.items():
        for i in range(count):
            client.set(f"session:{user}:tok{i}", "data")
            client.sadd(f"user_sessions:{user}", f"sid{user}{i}")
            client.set(f"sess:sid{user}{i}", "data")
    client.set("session-config", "keep")
    return client


def test_batched_round_trips(redis_url: str) -> None:
    seed(redis_url, {f"u{n}": 5 for n in range(200)})
    adapter = RedisSessions(redis_url, batch_size=250)
    try:
        receipt = run_action(adapter, [f"u{n}" for n in range(200)], dry_run=False)
    finally:
        adapter.close()
    assert sum(t.count for t in receipt.targets) == 1000
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter("session:u*")) == []
    # 1000 keys in 4 pipelines of 250, not 1000 DELs; scans are ~count=1000 per call
    scans = adapter.round_trips - 1 - 4
    assert 2 <= scans <= 20
