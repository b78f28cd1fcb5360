"""The derived PostgreSQL grants are enough, and each is needed: the PostgreSQL steps of the
data-breach playbook (export-audit, snapshot, revoke-sessions postgres, disable-role
postgres-role) run through the runner with a DSN for a role holding only
`breach playbook policy`'s grants; without one of them, the step using it fails and says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from breach.playbook.model import load
from breach.playbook.policy import policy_for
from core.timeutil import rfc3339, utcnow
from tests.breach.playbookrun import inputs_of, reduced, run, said

ROOT = Path(__file__).parents[2]
DATA_BREACH = ROOT / "playbooks" / "data-breach.yaml"
PG_STEPS = ["export-audit", "snapshot", "revoke-sessions", "disable-role"]


@pytest.fixture
def shop(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The sandbox's shop schema in a fresh database, a stolen role with an open connection,
    and a responder role with no privileges yet (roles are per server: unique, dropped after)."""
    from breach.procedure.sandbox import POLICY
    from breach.sandbox import seed

    tag = uuid.uuid4().hex[:8]
    stolen, responder = f"svc_stolen_{tag}", f"responder_{tag}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(seed.APP_SCHEMA)
        conn.execute(f"CREATE ROLE {stolen} LOGIN")
        conn.execute(f"CREATE ROLE {responder} LOGIN")
    (tmp_path / "policy.toml").write_text(POLICY)
    monkeypatch.setenv("BREACH_POLICY", str(tmp_path / "policy.toml"))
    monkeypatch.setenv("BREACH_DSN", make_conninfo(pg_dsn, user=responder))
    attacker = psycopg.connect(make_conninfo(pg_dsn, user=stolen), autocommit=True)
    now = utcnow().replace(microsecond=0)
    try:
        yield {
            "dsn": pg_dsn,
            "responder": responder,
            "attacker": attacker,
            "inputs": {
                "incident_id": "INC-2026-0098",
                "since": rfc3339(now - timedelta(days=2)),
                "until": rfc3339(now),
                "attacker_ips": ",".join(seed.ATTACKER_IPS),
                "compromised_actors": seed.STOLEN_ROLE,
                "database_roles": stolen,
            },
        }
    finally:
        attacker.close()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for role in (stolen, responder):
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")


def pg_only(tmp_path: Path) -> Path:
    """data-breach with its PostgreSQL steps, the open and scope steps they need, and no other."""
    book, _ = reduced("data-breach", tmp_path, keep=["open", "scope", *PG_STEPS])
    return book


def grant(shop: dict[str, Any], lines: list[str]) -> None:
    with psycopg.connect(shop["dsn"], autocommit=True) as conn:
        for line in lines:
            conn.execute(line)


def grants(shop: dict[str, Any]) -> list[str]:
    found = policy_for(load(DATA_BREACH), shop["inputs"])
    return found.pg_grants(shop["responder"])


def test_the_postgres_steps_run_with_only_the_derived_grants(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    book = pg_only(tmp_path)
    grant(shop, grants(shop))
    steps = run(book, tmp_path / "case", inputs_of(book, shop["inputs"]))
    assert {i: steps[i].state for i in PG_STEPS} == dict.fromkeys(PG_STEPS, "done")
    with psycopg.connect(shop["dsn"]) as conn:
        # Every user of the 800 customers read (all 500) lost their sessions.
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        can_login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
            (shop["inputs"]["database_roles"],),
        ).fetchone()
    assert can_login == (False,)
    assert shop["attacker"].closed or _is_cut(shop["attacker"])


def _is_cut(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


# Each grant taken away (by what its line holds), the step that then fails, and what it says.
# USAGE ON SCHEMA public is not here: PostgreSQL gives it to PUBLIC by default, so taking it
# away changes nothing on a default server; pg_read_all_stats only lets the receipt show the
# cut backends' addresses and queries.
TAKEN = [
    ("public.audit_log", "", "export-audit", "permission denied for table public.audit_log"),
    ("public.customers", "", "snapshot", "permission denied for table public.customers"),
    ("SELECT, DELETE", "SELECT", "revoke-sessions", "permission denied for table sessions"),
    ("CREATEROLE", "", "disable-role", "postgresql: permission denied"),
]
# pg_signal_backend is not here either: the ADMIN OPTION grant on the named role (which
# PostgreSQL 16 and later require for ALTER ROLE) makes the responder a member of that role,
# and a member may end its backends; pg_signal_backend is what a role not named in advance
# (targets from scope) needs.


@pytest.mark.parametrize(("held", "instead", "step", "saying"), TAKEN)
def test_a_grant_taken_away_fails_the_step_that_uses_it(
    held: str, instead: str, step: str, saying: str, shop: dict[str, Any], tmp_path: Path
) -> None:
    """`instead`: what is left of the line (SELECT without DELETE), or nothing."""
    book = pg_only(tmp_path)
    every = grants(shop)
    assert sum(held in line for line in every) == 1
    grant(shop, [line.replace(held, instead) for line in every if instead or held not in line])
    steps = run(book, tmp_path / "case", inputs_of(book, shop["inputs"]))
    assert steps[step].state == "failed"
    error = steps[step].error or ""
    assert error and "\n" not in error
    assert saying in said(steps[step], tmp_path / "case").lower()
