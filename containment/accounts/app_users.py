"""Disable users in an application's own users table by setting a flag column
(default `users.is_active = false`). One UPDATE per batch of ids; the read-back checks the flag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from psycopg import sql

from containment.accounts.interface import ACTION
from containment.base import PgAdapter, fits_column
from containment.interface import Action, TargetResult
from core.errors import BadInput

BATCH = 1000


class AppUsers(PgAdapter):
    name: ClassVar[str] = "app-users"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "users",
        id_column: str = "id",
        flag_column: str = "is_active",
        disabled_value: str = "false",
    ) -> None:
        super().__init__(dsn)
        self.table, self.id_column = table, id_column
        self.flag_column, self.disabled_value = flag_column, disabled_value
        self._types: dict[str, str] = {}

    def settings(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "id_column": self.id_column,
            "flag_column": self.flag_column,
            "disabled_value": self.disabled_value,
        }

    def target_tables(self) -> list[str]:
        return [self.qualified(self.table)]

    def _check_columns(self) -> None:
        import psycopg

        self._types = self.column_types(
            self.table,
            [self.id_column, self.flag_column],
            hint="name them with --table, --id-column and --flag-column",
        )
        flag_type = self._types[self.flag_column]
        try:
            self.query(sql.SQL("SELECT %s::{}").format(sql.SQL(flag_type)), (self.disabled_value,))
        except psycopg.DataError:
            raise BadInput(
                f"--disabled-value {self.disabled_value!r} is not a {flag_type}"
                f" (the type of {self.table}.{self.flag_column})"
            ) from None

    def _parts(self) -> dict[str, sql.Composable]:
        return {
            "tbl": sql.Identifier(*self.table.split(".")),
            "id": sql.Identifier(self.id_column),
            "flag": sql.Identifier(self.flag_column),
            "ids": sql.SQL("%(ids)s::text[]::{}[]").format(sql.SQL(self._types[self.id_column])),
            "off": sql.SQL("%(off)s::{}").format(sql.SQL(self._types[self.flag_column])),
        }

    def _flags(self, names: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """id -> (flag as text, already disabled?)."""
        statement = sql.SQL(
            "SELECT {id}::text, {flag}::text, {flag} IS NOT DISTINCT FROM {off}"
            " FROM {tbl} WHERE {id} = ANY({ids})"
        ).format(**self._parts())
        found: dict[str, tuple[str, bool]] = {}
        for start in range(0, len(names), BATCH):
            params = {"ids": list(names[start : start + BATCH]), "off": self.disabled_value}
            for ident, flag, off in self.query(statement, params):
                found[str(ident)] = (flag, bool(off))
        return found

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        self._check_columns()
        id_type = self._types[self.id_column]
        flags = self._flags([t for t in targets if fits_column(t, id_type)])
        results = []
        for name in targets:
            target = TargetResult(name=name, status="planned")
            if not fits_column(name, id_type):
                target.status, target.reason = "missing", f"not a valid {id_type} id"
            elif name not in flags:
                target.status, target.reason = (
                    "missing",
                    f"no row in {self.table} with {self.id_column} = {name}",
                )
            else:
                flag, off = flags[name]
                target.before = {self.flag_column: flag}
                target.status = "noop" if off else "planned"
                target.change = (
                    "already disabled" if off else f"set {self.flag_column} = {self.disabled_value}"
                )
            results.append(target)
        return results

    def apply(self, planned: list[TargetResult]) -> None:
        statement = sql.SQL(
            "UPDATE {tbl} SET {flag} = {off} WHERE {id} = ANY({ids})"
            " AND {flag} IS DISTINCT FROM {off} RETURNING {id}::text"
        ).format(**self._parts())
        for start in range(0, len(planned), BATCH):
            batch = planned[start : start + BATCH]
            params = {"ids": [t.name for t in batch], "off": self.disabled_value}
            changed = {row[0] for row in self.query(statement, params)}
            for target in batch:
                target.status = "ok"
                target.change = "disabled" if target.name in changed else "disabled meanwhile"

    def verify(self, done: list[TargetResult]) -> None:
        flags = self._flags([t.name for t in done])
        for target in done:
            flag, off = flags.get(target.name, ("<row gone>", False))
            target.after = {self.flag_column: flag}
            if not off:
                target.fail(f"{self.flag_column} is {flag} after the update")

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = [
            f"UPDATE {self.table} SET {self.flag_column} = {_literal(t.before[self.flag_column])}"
            f" WHERE {self.id_column} = {_literal(t.name)};"
            for t in results
            if self.flag_column in t.before
        ]
        return " ".join(lines) or "nothing to undo"


def _literal(value: str) -> str:
    """A SQL string literal, quotes doubled, so the undo step can be pasted as it is."""
    return "'" + value.replace("'", "''") + "'"
