"""Partial failure is data: the receipt names what failed and why, and the rest is done."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breach.case import Case
from tests.containment.conftest import by_name, receipts


@pytest.fixture
def fifty_roles(pg_dsn: str) -> Iterator[tuple[str, list[str]]]:
    """47 ordinary roles and 3 superusers, and a responder with CREATEROLE but not superuser:
    PostgreSQL refuses that responder the 3 superusers."""
    tag = uuid.uuid4().hex[:6]
    names = [f"r{tag}_{n:02d}" for n in range(50)]
    responder = f"responder_{tag}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(sql.Identifier(responder)))
        for n, name in enumerate(names):
            extra = sql.SQL("SUPERUSER") if n in (5, 17, 42) else sql.SQL("")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN {}").format(sql.Identifier(name), extra))
            if n not in (5, 17, 42):
                conn.execute(
                    sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                        sql.Identifier(name), sql.Identifier(responder)
                    )
                )
    params = conninfo_to_dict(pg_dsn)
    params["user"] = responder
    yield make_conninfo(**params), names
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in [*names, responder]:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.mark.pg
def test_three_of_fifty_fail_and_the_receipt_says_which_and_why(
    contain: Any, case: Case, pg_dsn: str, fifty_roles: tuple[str, list[str]], tmp_path: Any
) -> None:
    responder_dsn, names = fifty_roles
    listing = tmp_path / "roles.txt"
    listing.write_text("\n".join(names) + "\n")
    result = contain(
        "disable-accounts",
        "--adapter",
        "postgres-role",
        "--dsn",
        responder_dsn,
        "--targets-file",
        str(listing),
    )
    assert result.exit_code == 1
    assert "3 of 50 targets failed or were not found" in result.stderr
    targets = by_name(result.json)
    failed = sorted(n for n, t in targets.items() if t["status"] == "failed")
    assert failed == [names[5], names[17], names[42]]
    # PostgreSQL 16+ says "permission denied to alter role"; 15 says "must be superuser ...".
    assert all(
        "permission denied" in targets[n]["reason"] or "must be superuser" in targets[n]["reason"]
        for n in failed
    ), [targets[n]["reason"] for n in failed]
    assert all(targets[n]["hint"] for n in failed)
    assert sum(t["status"] == "ok" for t in targets.values()) == 47
    assert result.json["status"] == "partial" and result.json["counts"] == {"ok": 47, "failed": 3}
    assert result.json["operator"].startswith("responder_")
    with psycopg.connect(pg_dsn) as conn:
        can_login = dict(
            conn.execute(
                "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)", (names,)
            ).fetchall()
        )
    assert sorted(n for n, ok in can_login.items() if ok) == failed
    [receipt] = receipts(case)
    assert receipt["status"] == "partial" and len(receipt["targets"]) == 50
    assert case.timeline()[-1]["result"] == "partial"
