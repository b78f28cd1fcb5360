"""Fixtures for the evidence tests: a case, an audit table with known rows, SQL helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breach.case import Case

AUDIT_DDL = """
CREATE TABLE public.audit_log (
    id bigint PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    source_ip inet,
    action text NOT NULL,
    table_name text,
    record_id text,
    target_user_id bigint,
    success boolean,
    amount numeric(12, 2),
    request_id uuid,
    tags text[],
    payload jsonb
)
"""
# 2000 events, one a minute from 2026-11-01 00:00 UTC (so about a day and a half); every 10th
# is mallory from 203.0.113.x reading public.users; the rest are staff from 10.0.0.0/8.
AUDIT_ROWS = """
INSERT INTO public.audit_log
SELECT g,
       timestamptz '2026-11-01 00:00:00+00' + (g - 1) * interval '1 minute',
       CASE WHEN g % 10 = 0 THEN 'mallory' ELSE 'staff' || (g % 3) END,
       CASE WHEN g % 10 = 0 THEN ('203.0.113.' || (g % 7))::inet
            ELSE ('10.0.' || (g % 5) || '.1')::inet END,
       CASE WHEN g % 20 = 0 THEN 'UPDATE' ELSE 'SELECT' END,
       CASE WHEN g % 10 = 0 THEN 'public.users' ELSE 'public.orders' END,
       (g % 50)::text,
       CASE WHEN g % 10 = 0 THEN g % 50 END,
       g % 3 <> 0,
       (g % 1000) / 100.0,
       md5(g::text)::uuid,
       ARRAY['t' || (g % 4), 'k'],
       jsonb_build_object('n', g, 'note', 'quote " and, comma')
FROM generate_series(1, 2000) AS g
"""


def execute(dsn: str, *statements: str, params: Any = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params)


def fetch(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = user
    if password is not None:
        params["password"] = password
    return make_conninfo(**params)


def terminate(dsn: str, pattern: str, *, wait: bool = False) -> int:
    """End our backends by application name; with `wait`, until they are really gone."""
    find = "FROM pg_stat_activity WHERE application_name LIKE %s AND pid <> pg_backend_pid()"
    with psycopg.connect(dsn, autocommit=True) as conn:
        killed = len(
            conn.execute(f"SELECT pg_terminate_backend(pid) {find}", (pattern,)).fetchall()
        )
        for _ in range(500 if wait else 0):
            if not conn.execute(f"SELECT 1 {find}", (pattern,)).fetchone():
                break
            time.sleep(0.01)
    return killed


# Large enough (about 13 MB) that a worker cannot have it all in socket buffers when it is ended.
BIG = (
    "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 60000) g",
    "ANALYZE big",
)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return Case.open(
        "INC-2026-0300", "P1", "exfiltration via a stolen token", root=tmp_path / "case"
    )


@pytest.fixture
def audit_dsn(pg_dsn: str) -> str:
    """A database holding public.audit_log with AUDIT_ROWS."""
    execute(pg_dsn, AUDIT_DDL, AUDIT_ROWS, "ANALYZE public.audit_log")
    return pg_dsn


@pytest.fixture
def limited_role(pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A login role with a password; the test grants what it needs. Dropped afterwards."""
    name = f"bk_ro_{uuid.uuid4().hex[:8]}"
    execute(pg_dsn, f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'")
    yield name, f"pw-{name}"
    execute(pg_dsn, f"DROP OWNED BY {name}", f"DROP ROLE {name}")
