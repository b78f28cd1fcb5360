"""`breach contain revoke-sessions` killed (kill -9, core.faults) at 20 moments of a run, against a
real PostgreSQL and a real Redis, then run again: every rerun completes, every session is gone,
every target appears as done in exactly one receipt with its sessions counted once, and no run
is left open in the journal."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from breach.case import Case
from tests.kills import KILLS, kill_at, moments_of, spread

USERS = [str(u) for u in range(1, 21)]


def done_receipts(case_root: Path) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted((case_root / "receipts").glob("*.json"))]
    return [r for r in found if not r["dry_run"]]


def assert_each_target_done_once(case_root: Path, sessions: dict[str, int], moment: str) -> None:
    """Every target is `ok` in exactly one receipt, and its sessions are counted exactly once
    over all receipts (part of a target by a run cut short, the rest by the run that finished)."""
    done: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for receipt in done_receipts(case_root):
        for target in receipt["targets"]:
            done[target["name"]] += target["status"] == "ok"
            counted[target["name"]] += target["count"]
    assert done == Counter(dict.fromkeys(sessions, 1)), moment
    assert counted == Counter(sessions), moment
    assert Case.load(case_root).unfinished() == [], moment


def kill_and_rerun(
    breach: Any, tmp_path: Path, seed: Any, left: Any, args: Any, sessions: dict[str, int]
) -> list[str]:
    """Trace one run, then for 20 of its moments: seed, kill there, rerun, check; the moments."""
    seed()
    traced = Case.open("INC-TRACE", "P1", "trace", root=tmp_path / "trace")
    moments = spread(moments_of(tmp_path / "trace.txt", *args(traced.root)))
    assert len(moments) == KILLS
    for number, moment in enumerate(moments):
        seed()
        case = Case.open(f"INC-K{number}", "P1", "killed", root=tmp_path / f"case-{number}")
        kill_at(moment, *args(case.root))
        was_open = bool(Case.load(case.root).unfinished())
        rerun = breach(*args(case.root))
        assert rerun.exit_code == 0, (moment, rerun.stderr)
        assert ("started but not finished" in rerun.stderr) == was_open, moment
        assert left() == 0, moment
        assert_each_target_done_once(case.root, sessions, moment)
    return moments


def revoke_args(adapter: str, *connection: str) -> Any:
    """The command line, for a case folder: every user, one user (or key) per round trip."""

    def args(root: Path) -> list[str]:
        targets = [a for u in USERS for a in ("--target", u)]
        return [
            "contain", "revoke-sessions", "--case", str(root), "--adapter", adapter,
            *connection, "--batch-size", "1", "--json", *targets,
        ]  # fmt: skip

    return args


# -- PostgreSQL ---------------------------------------------------------------------------
def seed_pg(dsn: str, per_user: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS sessions")
        conn.execute("CREATE TABLE sessions (user_id int, token text PRIMARY KEY)")
        rows = [(int(u), f"tok-{u}-{i}") for u in USERS for i in range(per_user)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO sessions VALUES (%s, %s)", rows)


def pg_left(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])  # type: ignore[index]


@pytest.mark.pg
def test_killed_postgres_revoke_reruns_to_one_receipt_per_target(
    breach: Any, pg_dsn: str, tmp_path: Path
) -> None:
    moments = kill_and_rerun(
        breach,
        tmp_path,
        lambda: seed_pg(pg_dsn, 2),
        lambda: pg_left(pg_dsn),
        revoke_args("postgres", "--dsn", pg_dsn),
        dict.fromkeys(USERS, 2),
    )
    names = {m.split("#")[0] for m in moments}
    assert {"contain.intent.before", "contain.apply.batch", "contain.receipt.written"} <= names


# -- Redis --------------------------------------------------------------------------------
def seed_redis(url: str, per_user: int) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.mset({f"session:{u}:{i}": "x" for u in USERS for i in range(per_user)})


def redis_left(url: str) -> int:
    return len(list(redis.Redis.from_url(url).scan_iter(match="session:*")))


@pytest.mark.redis
def test_killed_redis_revoke_reruns_to_one_receipt_per_target(
    breach: Any, redis_url: str, tmp_path: Path
) -> None:
    # 8 keys a user, 10 UNLINKs a pipeline: users straddle pipelines, so some are left half
    # done by a kill, finished by the rerun and counted whole.
    kill_and_rerun(
        breach,
        tmp_path,
        lambda: seed_redis(redis_url, 8),
        lambda: redis_left(redis_url),
        revoke_args("redis", "--redis-url", redis_url),
        dict.fromkeys(USERS, 8),
    )
