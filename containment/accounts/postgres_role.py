"""Disable PostgreSQL roles: `ALTER ROLE ... NOLOGIN`, then terminate the role's open backends
(NOLOGIN alone leaves existing connections running)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from psycopg import sql

from containment.accounts.interface import ACTION
from containment.base import PgAdapter
from containment.interface import Action, TargetResult


class PostgresRoles(PgAdapter):
    name: ClassVar[str] = "postgres-role"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "role"

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

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        results = []
        myself = self.query("SELECT current_user")[0][0]
        for name in targets:
            state = self._state(name)
            target = TargetResult(name=name, status="planned", before=state or {})
            if state is None:
                target.status, target.reason = "missing", f"no role {name}"
            elif name == myself:  # NOLOGIN on it would lock the responder out, undo included
                target.fail(
                    f"refusing to disable {name}: this connection's own role",
                    "connect as another role with CREATEROLE (--dsn) and run again",
                )
            elif not state["can_login"] and not state["backends"]:
                target.status, target.change = "noop", "already NOLOGIN, no backends"
            else:
                steps = ["NOLOGIN"] if state["can_login"] else []
                if state["backends"]:
                    steps.append(f"terminate {state['backends']} backends")
                target.change = ", ".join(steps)
            results.append(target)
        return results

    def apply(self, planned: list[TargetResult]) -> None:
        import psycopg

        for target in planned:
            try:
                self.query(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(target.name)))
                killed = self.query(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE usename = %s AND pid <> pg_backend_pid()",
                    (target.name,),
                )[0][0]
            except psycopg.errors.InsufficientPrivilege as exc:
                target.fail(
                    f"PostgreSQL: {str(exc).strip().splitlines()[0]}",
                    "needs CREATEROLE (and pg_signal_backend to end backends)",
                )
                continue
            except psycopg.errors.UndefinedObject as exc:
                target.status, target.reason = "missing", str(exc).strip().splitlines()[0]
                continue
            target.status, target.count = "ok", int(killed)
            target.change = f"NOLOGIN, terminated {killed} backends"

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
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
