"""Snapshots: one point in time across tables and workers, DDL, locks, partial failure."""

from __future__ import annotations

import json
import threading

import psycopg
import pyarrow.parquet as pq
import pytest

from evidence.interface import DirStager
from evidence.postgres import catalog
from evidence.postgres.snapshot import TableSnapshot

from ..conftest import execute, fetch, with_user

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


def snapshot_args(case, dsn: str, *extra: str) -> list[str]:
    return ["evidence", "snapshot", "--case", str(case.root), "--dsn", dsn, *extra]


def test_snapshot_writes_parquet_ddl_counts_and_ids(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    result = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "sessions", "--json")
    )
    assert result.exit_code == 0, result.stderr
    data = result.json
    snapshot_id = data["snapshot"]["pg_snapshot"]
    folder = case.staging / "snapshot" / snapshot_id
    assert data["folder"] == f"snapshot/{snapshot_id}"
    users = pq.read_table(folder / "public.users.parquet")
    assert (
        users.num_rows == 3000
        and pq.read_table(folder / "public.sessions.parquet").num_rows == 6000
    )
    ddl = (folder / "public.users.ddl.sql").read_text()
    assert 'CREATE TABLE "public"."users"' in ddl and "PRIMARY KEY (id)" in ddl
    assert "UNIQUE (email)" in ddl and "CREATE INDEX users_created" in ddl
    assert '"email" text NOT NULL' in ddl
    sessions_ddl = (folder / "public.sessions.ddl.sql").read_text()
    assert "FOREIGN KEY (user_id) REFERENCES users(id)" in sessions_ddl
    assert "CHECK ((length(token) > 3))" in sessions_ddl
    meta = json.loads((folder / "public.users.parquet.meta.json").read_text())
    assert meta["source"]["row_count"] == 3000 and meta["source"]["table"] == "public.users"
    assert meta["source"]["pg_snapshot"] == snapshot_id and meta["source"]["lsn"]
    assert isinstance(meta["source"]["txid"], int)
    summary = json.loads((folder / "snapshot.json").read_text())
    assert summary["tables"] == {"public.users": 3000, "public.sessions": 6000}
    assert case.timeline()[-1]["what"] == "evidence.snapshot"


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
    pages = fetch(pg_dsn, "SELECT relpages FROM pg_class WHERE relname = 'big'")[0][0]
    ranges = catalog.ctid_ranges(pages, 3)
    assert len(ranges) == 3 and ranges[0][0] == 0 and ranges[-1][1] is None  # really split


def test_permission_denied_on_one_table_fails_it_and_exports_the_rest(
    breach, case, pg_dsn, limited_role
) -> None:
    execute(pg_dsn, TABLES)
    role, password = limited_role
    execute(pg_dsn, f"GRANT SELECT ON public.users, public.sessions TO {role}")
    dsn = with_user(pg_dsn, role, password)
    result = breach(*snapshot_args(case, dsn, "--schema", "public", "--json"))
    assert result.exit_code == 1
    data = result.json
    assert [f["target"] for f in data["failed"]] == ["public.secrets"]
    assert "permission denied" in data["failed"][0]["reason"]
    assert sorted(a["name"].rsplit("/", 1)[-1] for a in data["exported"]) == [
        "public.sessions.parquet",
        "public.users.parquet",
    ]
    assert "1 table(s) not snapshotted: public.secrets" in result.stderr
    assert password not in result.stdout + result.stderr
    folder = case.staging / data["folder"]
    assert not (folder / "public.secrets.parquet").exists()
    summary = json.loads((folder / "snapshot.json").read_text())
    assert summary["failed"][0]["target"] == "public.secrets"
    assert case.timeline()[-1]["result"] == "failed"


def test_dry_run_lists_tables_and_stages_nothing(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES, "ANALYZE", "CREATE TABLE fresh AS SELECT 1 AS id")
    result = breach(*snapshot_args(case, pg_dsn, "--schema", "public", "--dry-run", "--json"))
    assert result.exit_code == 0, result.stderr
    tables = {t["table"]: t for t in result.json["tables"]}
    assert set(tables) == {"public.users", "public.sessions", "public.secrets", "public.fresh"}
    assert tables["public.fresh"]["estimated_rows"] is None  # never analyzed: unknown, not 0
    assert tables["public.users"]["estimated_rows"] == 3000
    assert tables["public.sessions"]["total_bytes"] > 0
    assert all(t["lock"] == "ACCESS SHARE" for t in tables.values())
    assert not any(case.staging.iterdir())
    assert case.timeline()[-1]["result"] == "dry-run"
    human = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "fresh", "--dry-run")
    )
    assert "public.users: ~3000 rows" in human.stdout
    assert "public.fresh: rows unknown (never analyzed)" in human.stdout


def test_unknown_table_is_bad_input_before_anything_is_read(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    result = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "public.nope")
    )
    assert result.exit_code == 2
    assert "no table public.nope" in result.stderr and result.stderr.strip().count("\n") == 0
    assert not (case.staging / "snapshot").exists()
    empty_schema = breach(*snapshot_args(case, pg_dsn, "--schema", "nothing_here"))
    assert empty_schema.exit_code == 2 and "has no tables" in empty_schema.stderr


def test_standalone_library_use(tmp_path, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    exported, failed = TableSnapshot(pg_dsn, ["public.secrets"]).collect(DirStager(tmp_path))
    assert failed == [] and exported[0].row_count == 1
    assert (tmp_path / exported[0].name).is_file()


def test_row_level_security_is_warned_about(breach, case, pg_dsn, limited_role) -> None:
    execute(pg_dsn, TABLES)
    role, password = limited_role
    execute(
        pg_dsn,
        f"GRANT SELECT ON public.users TO {role}",
        "ALTER TABLE public.users ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY first_ten ON public.users FOR SELECT TO {role} USING (id <= 10)",
    )
    dsn = with_user(pg_dsn, role, password)
    result = breach(*snapshot_args(case, dsn, "--table", "public.users"))
    assert result.exit_code == 0, result.stderr
    assert "row-level security is on for public.users" in result.stderr
    assert "public.users.parquet: 10 rows" in result.stdout


def test_a_repeated_snapshot_id_never_overwrites_staged_evidence(tmp_path) -> None:
    from evidence.postgres.snapshot import snapshot_folder

    stager = DirStager(tmp_path)
    first = snapshot_folder(stager, "00000003-0000001B-1")
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


def test_views_partitions_and_names_with_dots(breach, case, pg_dsn) -> None:
    execute(
        pg_dsn,
        TABLES,
        "CREATE MATERIALIZED VIEW user_ids AS SELECT id FROM users",
        "CREATE VIEW emails AS SELECT id, email FROM users WHERE id <= 10",
        "CREATE TABLE ev (id int, at timestamptz) PARTITION BY RANGE (at)",
        "CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2026-11-01') TO ('2026-11-02')",
        "INSERT INTO ev SELECT g, '2026-11-01'::timestamptz + g * interval '1 s'"
        " FROM generate_series(1, 500) g",
        'CREATE SCHEMA "we.ird"',
        'CREATE TABLE "we.ird"."tab.le" (id int)',
        'INSERT INTO "we.ird"."tab.le" VALUES (1), (2)',
    )
    result = breach(
        *snapshot_args(
            case, pg_dsn, "--table", "user_ids", "--table", "public.emails", "--table", "ev",
            "--schema", "we.ird", "--json",
        )
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    counts = {a["name"].rsplit("/", 1)[-1]: a["row_count"] for a in result.json["exported"]}
    assert counts == {
        "public.user_ids.parquet": 3000,
        "public.emails.parquet": 10,
        "public.ev.parquet": 500,
        "we.ird.tab.le.parquet": 2,
    }
    folder = case.staging / result.json["folder"]
    view_ddl = (folder / "public.emails.ddl.sql").read_text()
    assert 'CREATE VIEW "public"."emails" AS' in view_ddl and "id <= 10;" in view_ddl
    assert (
        'CREATE MATERIALIZED VIEW "public"."user_ids" AS'
        in (folder / "public.user_ids.ddl.sql").read_text()
    )
    dry = breach(*snapshot_args(case, pg_dsn, "--schema", "we.ird", "--dry-run", "--json"))
    assert [t["table"] for t in dry.json["tables"]] == ["we.ird.tab.le"]
