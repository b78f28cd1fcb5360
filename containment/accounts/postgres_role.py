"""Disable PostgreSQL roles: `ALTER ROLE ... NOLOGIN`, then terminate the role's open backends
(NOLOGIN alone leaves existing connections running).

Each backend is read from pg_stat_activity (pid, user, address, application, start, state,
current query) into the receipt before it is terminated: the attacker's live connection is
evidence that termination destroys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from containment.accounts.interface import ACTION
from containment.base import PgAdapter
from containment.interface import Action, TargetResult
from core.records import Backend

BACKENDS = (
    "SELECT pid, usename, host(client_addr), client_port, application_name, backend_start,"
    " query_start, state, query FROM pg_stat_activity"
    " WHERE usename = %s AND pid <> pg_backend_pid() AND pid <> ALL(%s) ORDER BY backend_start, pid"
)
# Terminate only backends read first (and still the role's: a pid can be reused).
TERMINATE = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE usename = %s AND pid = ANY(%s)"
)


class PostgresRoles(PgAdapter):
    name: ClassVar[str] = "postgres-role"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "role"
    # A role PostgreSQL refuses us (a superuser, say) fails alone; one dropped meanwhile is missing.
    target_errors: ClassVar[tuple[type[Exception], ...]] = (
        psycopg.errors.InsufficientPrivilege,
        psycopg.errors.UndefinedObject,
    )
    privilege_hint: ClassVar[str | None] = (
        "needs CREATEROLE (and pg_signal_backend to end backends)"
    )
    unreadable: ClassVar[str] = "could not read the role back"
    _myself: str = ""

    def _state(self, role: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT r.rolcanlogin, (SELECT count(*) FROM pg_stat_activity a"
            "  WHERE a.usename = r.rolname AND a.pid <> pg_backend_pid())"
            " FROM pg_roles r WHERE r.rolname = %s",
            (role,),
        )
        if not rows:
            return None
        return {"can_login": bool(rows[0][0]), "backends": int(rows[0][1])}

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        self._myself = self.query("SELECT current_user")[0][0]

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        state = self._state(target.name)
        target.before = state or {}
        if state is None:
            target.status, target.reason = "missing", f"no role {target.name}"
        elif target.name == self._myself:  # NOLOGIN on it would lock the responder out, undo too
            target.fail(
                f"refusing to disable {target.name}: this connection's own role",
                "connect as another role with CREATEROLE (--dsn) and run again",
            )
        elif not state["can_login"] and not state["backends"]:
            target.status, target.change = "noop", "already NOLOGIN, no backends"
        else:
            steps = ["NOLOGIN"] if state["can_login"] else []
            if state["backends"]:
                steps.append(f"terminate {state['backends']} backends")
            target.change = ", ".join(steps)

    def apply_one(self, target: TargetResult) -> None:
        self.query(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(target.name)))
        killed = 0
        for _ in range(3):  # a backend still authenticating may show up after the first read
            found = self.read_backends(target.name, [b.pid for b in target.backends])
            if not found:
                break
            target.backends.extend(found)  # recorded before the backends are terminated
            pids = [b.pid for b in found]
            killed += int(self.query(TERMINATE, (target.name, pids))[0][0])
        target.count = killed
        target.change = f"NOLOGIN, terminated {killed} backends"

    def read_backends(self, role: str, known: list[int]) -> list[Backend]:
        """The role's backends not in `known`, as pg_stat_activity shows them now."""
        rows = self.query(BACKENDS, (role, known))
        return [backend_record(*row) for row in rows]

    def verify_one(self, target: TargetResult) -> None:
        state = self._wait_for_backends(target.name)
        target.after = state or {}
        if state is None or state["can_login"]:
            target.fail("the role can still log in after ALTER ROLE NOLOGIN")
        elif state["backends"]:
            target.fail(f"{state['backends']} backends still open after pg_terminate_backend")

    def _wait_for_backends(self, role: str) -> dict[str, Any] | None:
        """Terminated backends take a moment to leave pg_stat_activity."""
        import time

        state = self._state(role)
        for _ in range(50):
            if state is None or not state["backends"]:
                break
            time.sleep(0.05)
            state = self._state(role)
        return state

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = [f'ALTER ROLE "{t.name}" LOGIN;' for t in results if t.before.get("can_login")]
        return " ".join(lines) or "nothing to undo"


def backend_record(
    pid: int,
    user: str | None,
    address: str | None,
    port: int | None,
    application: str | None,
    started: datetime | None,
    query_start: datetime | None,
    state: str | None,
    query: str | None,
) -> Backend:
    """A backend for the receipt. A statement naming a password (ALTER ROLE ... PASSWORD) is
    kept as its hash only: receipts hold no secrets, and SQL is not redacted by pattern."""
    import hashlib

    digest = hashlib.sha256(query.encode()).hexdigest() if query is not None else None
    withheld = query is not None and "password" in query.lower()
    return Backend(
        pid=pid,
        user=user,
        client_addr=address,
        client_port=port if port is not None and port >= 0 else None,
        application_name=application,
        backend_start=started,
        query_start=query_start,
        state=state,
        query=None if withheld else query,
        query_sha256=digest,
        query_withheld="it names a password" if withheld else None,
    )
