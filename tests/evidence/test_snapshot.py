"""Snapshots: one point in time across tables and workers, DDL, locks, partial failure."""

from __future__ import annotations

import threading

import psycopg
import pyarrow.parquet as pq
import pytest

from evidence.interface import DirStager
from evidence.postgres.snapshot import TableSnapshot

from .conftest import execute, fetch

pytestmark = pytest.mark.pg

TABLES = """
CREATE TABLE public.users (
    id bigint PRIMARY KEY, email text NOT NULL UNIQUE, phone text, password_hash text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_created ON public.users (created_at);
CREATE TABLE public.sessions (
    id bigserial PRIMARY KEY, user_id bigint REFERENCES public.users (id), token text,
    CONSTRAINT token_len CHECK (length(token) > 3)
);
CREATE TABLE public.secrets (id int PRIMARY KEY, value text);
INSERT INTO public.users (id, email, phone, password_hash)
    SELECT g, 'user' || g || '@example.test', '+4420' || g, 'hash' || g
    FROM generate_series(1, 3000) AS g;
INSERT INTO public.sessions (user_id, token) SELECT (g % 3000) + 1, md5(g::text)
    FROM generate_series(1, 6000) AS g;
INSERT INTO public.secrets VALUES (1, 'x');
"""


def test_rows_committed_after_the_snapshot_are_absent_everywhere(case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    writes: list[int] = []
    locks: list[tuple[str, str]] = []
    once = threading.Lock()

    def write_meanwhile(key: str, rows: int) -> None:
        with once:
            if not writes:
                write_and_look()

    def write_and_look() -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:  # commits mid-export
            conn.execute("INSERT INTO users (id, email) VALUES (9001, 'late@example.test')")
            conn.execute("INSERT INTO sessions (user_id, token) VALUES (9001, 'late-token')")
            conn.execute("DELETE FROM sessions WHERE id <= 10")
            locks.extend(
                conn.execute(
                    "SELECT l.mode, c.relname FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " JOIN pg_class c ON c.oid = l.relation"
                    " WHERE a.application_name LIKE 'breachkit-evidence%'"
                    " AND l.locktype = 'relation' AND c.relname IN ('users', 'sessions')"
                ).fetchall()
            )
        writes.append(1)

    snap = TableSnapshot(
        pg_dsn,
        ["public.users", "public.sessions"],
        jobs=2,
        batch_bytes=4096,
        progress=write_meanwhile,
    )
    report = snap.run(case)
    assert writes == [1] and report.failed == []
    counts = {a.name.rsplit("/", 1)[-1]: a.row_count for a in report.exported}
    assert counts == {"public.users.parquet": 3000, "public.sessions.parquet": 6000}
    folder = case.staging / report.folder
    users = pq.read_table(folder / "public.users.parquet").column("id").to_pylist()
    sessions = pq.read_table(folder / "public.sessions.parquet").column("id").to_pylist()
    assert 9001 not in users and len(users) == 3000
    assert sorted(sessions) == list(range(1, 6001))  # deleted rows still there, new one absent
    assert fetch(pg_dsn, "SELECT count(*) FROM sessions")[0][0] == 5991  # the writes did land
    assert locks and {mode for mode, _ in locks} == {"AccessShareLock"}


def test_large_table_split_across_workers_by_ctid(case, pg_dsn) -> None:
    execute(
        pg_dsn,
        "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 60000) g",
        "ANALYZE big",
    )
    snap = TableSnapshot(pg_dsn, ["public.big"], jobs=3)
    report = snap.run(case)
    ids = pq.read_table(case.staging / report.exported[0].name).column("id").to_pylist()
    assert sorted(ids) == list(range(1, 60001))  # every row once, none twice
    # That the workers really split it is proved from the server's statements in
    # test_mutation_guards.py (recomputing the ranges here proved nothing).


def test_standalone_library_use(tmp_path, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    exported, failed = TableSnapshot(pg_dsn, ["public.secrets"]).collect(DirStager(tmp_path))
    assert failed == [] and exported[0].row_count == 1
    assert (tmp_path / exported[0].name).is_file()


def test_a_repeated_snapshot_id_never_overwrites_staged_evidence(tmp_path) -> None:
    from evidence.postgres.snapshot import snapshot_folder

    stager = DirStager(tmp_path)
    first = snapshot_folder(stager, "00000003-0000001B-1")
    assert not first.exists()  # a snapshot's folder appears whole, at its commit
    first.mkdir()
    (first / "public.users.parquet").write_bytes(b"earlier evidence")
    second = snapshot_folder(stager, "00000003-0000001B-1")
    assert second != first and second.name.startswith("00000003-0000001B-1-")
    assert (first / "public.users.parquet").read_bytes() == b"earlier evidence"


def test_split_table_rewritten_meanwhile_is_read_once_as_of_the_snapshot(case, pg_dsn) -> None:
    """Updates move rows to new blocks (another worker's ctid range): the snapshot still sees
    each row once, in its old version, and none inserted after it began."""
    execute(
        pg_dsn,
        "CREATE TABLE big AS SELECT g AS id, 'old' AS state, repeat('x', 200) AS pad"
        " FROM generate_series(1, 60000) g",
        "ANALYZE big",
    )
    done = threading.Event()

    def rewrite_meanwhile(key: str, rows: int) -> None:
        if not done.is_set():
            done.set()
            execute(
                pg_dsn,
                "UPDATE big SET state = 'new' WHERE id % 2 = 0",
                "DELETE FROM big WHERE id <= 100",
                "INSERT INTO big SELECT g, 'late', '' FROM generate_series(60001, 61000) g",
            )

    report = TableSnapshot(
        pg_dsn, ["public.big"], jobs=3, batch_bytes=65536, progress=rewrite_meanwhile
    ).run(case)
    assert done.is_set() and report.failed == []
    table = pq.read_table(case.staging / report.exported[0].name)
    assert sorted(table.column("id").to_pylist()) == list(range(1, 60001))
    assert set(table.column("state").to_pylist()) == {"old"}
    assert report.exported[0].row_count == 60000
    assert fetch(pg_dsn, "SELECT count(*) FILTER (WHERE state = 'new') FROM big")[0][0] == 29950
