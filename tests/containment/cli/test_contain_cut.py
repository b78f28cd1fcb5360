"""The connection cut mid-revoke, by the server, from another connection: PostgreSQL terminates the
tool's backend (pg_terminate_backend) while a batch's DELETE waits on a row lock; Redis closes the
tool's connection (CLIENT KILL) half way through an UNLINK pipeline. The receipt counts what the
read-back finds, the summary, receipt and journal agree, the command exits 1 saying so, and a
rerun finishes the rest with every target done in exactly one receipt."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from breach.case import Case
from tests.containment.cli.test_contain_kills import assert_each_target_done_once
from tests.kills import BREACH

USERS = [str(u) for u in range(1, 11)]


def wait_for(found: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """Poll until `found()` returns something (the moment is set by a lock, not by a sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def revoke(case: Case, adapter: str, *connection: str) -> list[str]:
    targets = [a for u in USERS for a in ("--target", u)]
    return [
        "contain", "revoke-sessions", "--case", str(case.root), "--adapter", adapter,
        *connection, "--json", *targets,
    ]  # fmt: skip


def check_receipt_against(
    case: Case, receipt: dict[str, Any], before: int, left: dict[str, int]
) -> None:
    """Each target's `after` and `count` are the read-back; status, summary and journal agree."""
    for target in receipt["targets"]:
        remaining = left.get(target["name"], 0)
        assert target["after"] == {"sessions": remaining}, target
        assert target["count"] == before - remaining, target
        assert target["status"] == ("failed" if remaining else "ok"), target
    done = [t for t in receipt["targets"] if t["status"] == "ok"]
    deleted = sum(before - left.get(t["name"], 0) for t in done)
    assert receipt["summary"].startswith(f"revoked {deleted} sessions of {len(done)} users")
    [entry] = [e for e in case.timeline() if e.get("details", {}).get("receipt")]
    assert entry["result"] == receipt["status"] == "partial"
    assert entry["details"]["summary"] == receipt["summary"]
    assert entry["details"]["counts"] == receipt["counts"]
    assert entry["details"]["run"] == receipt["run"]


# -- PostgreSQL ---------------------------------------------------------------------------
def seed_pg(dsn: str, per_user: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE sessions (user_id int, token text PRIMARY KEY)")
        rows = [(int(u), f"tok-{u}-{i}") for u in USERS for i in range(per_user)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO sessions VALUES (%s, %s)", rows)


def pg_left(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT user_id::text, count(*) FROM sessions GROUP BY 1").fetchall()
    return {str(u): int(n) for u, n in rows}


def waiting_backend(dsn: str) -> int | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'breach_cut' AND wait_event_type = 'Lock'"
        ).fetchone()
    return None if row is None else int(row[0])


@pytest.mark.pg
def test_postgres_backend_terminated_mid_batch(
    breach: Any, pg_dsn: str, case: Case, tmp_path: Path
) -> None:
    seed_pg(pg_dsn, 3)
    args = revoke(case, "postgres", "--dsn", f"{pg_dsn} application_name=breach_cut")
    with psycopg.connect(pg_dsn) as holder:  # user 5's row locked: the third batch waits
        holder.execute("SELECT * FROM sessions WHERE user_id = 5 FOR UPDATE")
        tool = subprocess.Popen(
            [BREACH, *args, "--batch-size", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        pid = wait_for(lambda: waiting_backend(pg_dsn), "the DELETE to wait on the lock")
        with psycopg.connect(pg_dsn, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        holder.rollback()
    out, err = tool.communicate(timeout=60)
    assert tool.returncode == 1, err
    assert "6 of 10 targets failed" in err.decode()
    left = pg_left(pg_dsn)
    assert left == {u: 3 for u in USERS[4:]}  # two batches done, the third rolled back
    receipt = json.loads(out)
    check_receipt_against(case, receipt, 3, left)
    assert all("terminat" in t["reason"] for t in receipt["targets"] if t["status"] == "failed")
    rerun = breach(*revoke(case, "postgres", "--dsn", pg_dsn))
    assert rerun.exit_code == 0, rerun.stderr
    assert pg_left(pg_dsn) == {}
    assert_each_target_done_once(case.root, dict.fromkeys(USERS, 3), "after the cut")


# -- Redis --------------------------------------------------------------------------------
class HoldingProxy:
    """A relay to Redis that forwards whole commands and, on its first connection, holds every
    command after the first `unlinks` UNLINKs: the test then kills that connection mid-pipeline
    with CLIENT KILL. Later connections (the read-back) pass straight through."""

    def __init__(self, server: tuple[str, int], unlinks: int) -> None:
        self.server, self.unlinks = server, unlinks
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: str | None = None  # the held connection's address as the server sees it
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            first = self.connections == 1
            threading.Thread(target=self._relay, args=(down, first), daemon=True).start()

    def _relay(self, down: socket.socket, first: bool) -> None:
        up = socket.create_connection(self.server)
        host, port = up.getsockname()[:2]
        threading.Thread(target=_pump, args=(up, down), daemon=True).start()
        buffer, unlinks = b"", 0
        while data := _recv(down):
            buffer += data
            for command, raw in _commands(buffer):
                buffer = buffer[len(raw) :]
                unlinks += command == b"UNLINK"
                if first and unlinks > self.unlinks:
                    self.held = f"{host}:{port}"
                    continue
                up.sendall(raw)
        up.close()

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _pump(src: socket.socket, dst: socket.socket) -> None:
    while data := _recv(src):
        dst.sendall(data)
    dst.shutdown(socket.SHUT_RDWR)  # the tool sees the cut at once (close alone waits)
    dst.close()


def _commands(buffer: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(command name, its raw bytes) for each whole RESP array at the start of `buffer`."""
    at = 0
    while buffer.startswith(b"*", at):
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return
        count, pos, parts = int(buffer[at + 1 : end]), end + 2, []
        for _ in range(count):
            head = buffer.find(b"\r\n", pos)
            if head < 0:
                return
            size = int(buffer[pos + 1 : head])
            if len(buffer) < head + 2 + size + 2:
                return
            parts.append(buffer[head + 2 : head + 2 + size])
            pos = head + 2 + size + 2
        yield parts[0].upper(), buffer[at:pos]
        at = pos


@pytest.fixture
def proxy(redis_url: str) -> Iterator[HoldingProxy]:
    pool = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    relay = HoldingProxy((pool["host"], pool["port"]), unlinks=35)
    yield relay
    relay.close()


@pytest.mark.redis
def test_redis_connection_killed_mid_pipeline(
    breach: Any, redis_url: str, proxy: HoldingProxy, case: Case
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.mset({f"session:{u}:{i:02}": "x" for u in USERS for i in range(12)})
    db = redis_url.rsplit("/", 1)[1]
    through = f"redis://127.0.0.1:{proxy.port}/{db}"
    tool = subprocess.Popen(
        [BREACH, *revoke(case, "redis", "--redis-url", through), "--batch-size", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    held = wait_for(lambda: proxy.held, "the proxy to hold the 36th UNLINK")
    assert client.execute_command("CLIENT", "KILL", "ADDR", held)
    out, err = tool.communicate(timeout=60)
    assert tool.returncode == 1, err
    left: dict[str, int] = {}
    for key in client.scan_iter(match="session:*"):
        user = key.decode().split(":")[1]
        left[user] = left.get(user, 0) + 1
    assert sum(left.values()) == 120 - 35  # what the server did before the cut
    assert left["3"] == 1 and "1" not in left and "2" not in left  # user 3 cut half way
    check_receipt_against(case, json.loads(out), 12, left)
    rerun = breach(*revoke(case, "redis", "--redis-url", redis_url))
    assert rerun.exit_code == 0, rerun.stderr
    assert not list(client.scan_iter(match="session:*"))
    assert_each_target_done_once(case.root, dict.fromkeys(USERS, 12), "after the cut")
