"""Revoking sessions in a real Redis: the keys left are read back after each step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.containment.conftest import by_name
from tests.containment.test_sessions_redis import seed

pytestmark = pytest.mark.redis


def test_pattern_mode_unlinks_the_users_keys_only(contain: Any, redis_url: str) -> None:
    client = seed(redis_url, {"alice": 3, "bob": 2, "al": 1})
    result = contain(
        "revoke-sessions",
        "--adapter",
        "redis",
        "--redis-url",
        redis_url,
        "--target",
        "alice",
        "--target",
        "al",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json["summary"] == "revoked 4 sessions of 2 users"
    targets = by_name(result.json)
    assert targets["alice"]["before"] == {"sessions": 3} and targets["alice"]["after"] == {
        "sessions": 0
    }
    assert targets["al"]["count"] == 1
    left = sorted(k.decode() for k in client.scan_iter("session*"))
    assert left == ["session-config", "session:bob:tok0", "session:bob:tok1"]
    again = contain(
        "revoke-sessions", "--adapter", "redis", "--redis-url", redis_url, "--target", "alice"
    )
    assert again.json["status"] == "noop"


def test_index_mode_removes_members_and_the_index(contain: Any, redis_url: str) -> None:
    client = seed(redis_url, {"alice": 3, "bob": 1})
    client.srem("user_sessions:alice", "sidalice2")  # an index can be stale: only live keys count
    client.sadd("user_sessions:alice", "gone-already")
    args = (
        "--adapter",
        "redis",
        "--redis-url",
        redis_url,
        "--index-key",
        "user_sessions:{user}",
        "--key-prefix",
        "sess:",
        "--target",
        "alice",
    )
    planned = contain("revoke-sessions", *args, "--dry-run")
    assert planned.json["targets"][0]["before"] == {"sessions": 2}
    assert client.exists("sess:sidalice0", "sess:sidalice1") == 2
    result = contain("revoke-sessions", *args)
    assert result.exit_code == 0, result.stderr
    assert client.exists("sess:sidalice0", "sess:sidalice1", "user_sessions:alice") == 0
    assert client.exists("sess:sidalice2") == 1  # not indexed, so not this adapter's to find
    assert client.exists("sess:sidbob0", "user_sessions:bob") == 2
    assert contain("revoke-sessions", *args).json["status"] == "noop"


def test_template_without_user_is_bad_input(contain: Any, redis_url: str) -> None:
    result = contain(
        "revoke-sessions",
        "--adapter",
        "redis",
        "--redis-url",
        redis_url,
        "--pattern",
        "session:*",
        "--target",
        "a",
    )
    assert result.exit_code == 2 and "does not say where the user id goes" in result.stderr


def test_unreachable_redis_is_one_line_exit_2(contain: Any) -> None:
    url = "redis://:s3cret@127.0.0.1:1/0"
    result = contain("revoke-sessions", "--adapter", "redis", "--redis-url", url, "--target", "a")
    assert result.exit_code == 2
    assert "cannot reach Redis" in result.stderr and "s3cret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
