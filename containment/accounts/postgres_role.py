"""Disable PostgreSQL roles: `ALTER ROLE ... NOLOGIN`, then terminate the role's open backends
(NOLOGIN alone leaves existing connections running)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from containment.accounts.interface import ACTION
from containment.base import PgAdapter
from containment.interface import Action, TargetResult


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
        killed = self.query(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = %s AND pid <> pg_backend_pid()",
            (target.name,),
        )[0][0]
        target.count = int(killed)
        target.change = f"NOLOGIN, terminated {killed} backends"

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
