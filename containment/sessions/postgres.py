"""Revoke application sessions kept in a PostgreSQL table.

Two layouts: a table with a user column (the generic `sessions(user_id, token, expires_at)`, the
default), and Django's `django_session`, where the user id sits inside the encoded session data.
Rows are deleted in batches (one statement per `batch_size` users or keys); session keys are bearer
secrets, so receipts hold counts, never keys. Before the delete, the rows are staged as volatile
evidence when the adapter has a `capture` sink (containment.volatile): every column, the key
column (and Django's session_data) and token-like columns as SHA-256 only.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from psycopg import sql

from containment.base import PgAdapter, fits_column
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION, NEW_SESSIONS_HINT, UNDO
from containment.volatile import is_secret, scrub, stage_capture
from core.faults import point

USER_TEXT = "__breach_user"  # the user column as text, beside the row's own columns


@dataclass(frozen=True)
class SessionTable:
    table: str = "sessions"
    user_column: str = "user_id"
    key_column: str = "token"
    layout: Literal["column", "django"] = "column"


PRESETS = {
    "generic": SessionTable(),
    "django": SessionTable("django_session", "session_data", "session_key", "django"),
}


class PostgresSessions(PgAdapter):
    name: ClassVar[str] = "postgres"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"
    unit: ClassVar[str] = "sessions"
    reads_back_after_a_cut: ClassVar[bool] = True

    def __init__(self, dsn: str, table: SessionTable | None = None, batch_size: int = 1000) -> None:
        super().__init__(dsn)
        self.layout = table or PRESETS["generic"]
        self.batch_size = max(1, batch_size)
        self._user_type = "text"

    def settings(self) -> dict[str, Any]:
        return {**asdict(self.layout), "batch_size": self.batch_size}

    @property
    def _table(self) -> sql.Composable:
        return sql.Identifier(*self.layout.table.split("."))

    # -- plan ------------------------------------------------------------------------------
    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        self._check_columns()
        if self.layout.layout == "django":
            return self._plan_django(targets)
        results = {t: TargetResult(name=t, status="noop") for t in targets}
        valid = [t for t in targets if self._valid_user(results[t])]
        counts = self._counts(valid)
        for name in valid:
            found = counts.get(name, 0)
            target = results[name]
            target.before = {"sessions": found}
            if found:
                target.status, target.count, target.change = "planned", found, f"delete {found}"
            else:
                target.change = "no sessions"
        return list(results.values())

    def _check_columns(self) -> None:
        """The table and both columns must exist; the user column's type drives the casts."""
        types = self.column_types(
            self.layout.table,
            [self.layout.user_column, self.layout.key_column],
            hint="pick --preset django|generic, or name --table/--user-column/--key-column",
        )
        self._user_type = types[self.layout.user_column]

    def _valid_user(self, target: TargetResult) -> bool:
        if fits_column(target.name, self._user_type):
            return True
        target.status, target.reason = "missing", f"not a valid {self._user_type} user id"
        return False

    def _user_array(self) -> sql.Composable:
        return sql.SQL("%s::text[]::{}[]").format(sql.SQL(self._user_type))

    def _counts(self, users: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        column = sql.Identifier(self.layout.user_column)
        for batch in chunks(users, self.batch_size):
            statement = sql.SQL(
                "SELECT {col}::text, count(*) FROM {tbl} WHERE {col} = ANY({arr}) GROUP BY 1"
            ).format(col=column, tbl=self._table, arr=self._user_array())
            counts.update({str(u): int(n) for u, n in self.query(statement, (list(batch),))})
        return counts

    def _plan_django(self, targets: Sequence[str]) -> list[TargetResult]:
        keys = self._django_keys_by_user(set(targets))
        results = []
        for name in targets:
            found = keys.get(name, [])
            target = TargetResult(name=name, status="planned" if found else "noop")
            target.before = {"sessions": len(found)}
            target.count, target.work = len(found), found
            target.change = f"delete {len(found)}" if found else "no sessions"
            results.append(target)
        return results

    def _django_keys_by_user(self, users: set[str]) -> dict[str, list[str]]:
        """One streaming pass over django_session, decoding each row's user id."""
        found: dict[str, list[str]] = {}
        statement = sql.SQL("SELECT {key}, {data} FROM {tbl}").format(
            key=sql.Identifier(self.layout.key_column),
            data=sql.Identifier(self.layout.user_column),
            tbl=self._table,
        )
        with self.conn.transaction(), self.conn.cursor(name="breach_sessions") as cur:
            cur.itersize = 5000
            self.round_trips += 1
            cur.execute(statement)
            for key, data in cur:
                user = django_user_id(data)
                if user in users:
                    found.setdefault(user, []).append(key)
        return found

    # -- apply and verify ------------------------------------------------------------------
    def apply(self, planned: list[TargetResult]) -> None:
        self.capture_rows(planned)  # volatile evidence first: the rows about to be deleted
        if self.layout.layout == "django":
            self._delete_keys(planned)
            return
        column = sql.Identifier(self.layout.user_column)
        by_name = {t.name: t for t in planned}
        for batch in chunks(list(by_name), self.batch_size):
            point("contain.apply.batch")
            statement = sql.SQL(
                "WITH gone AS (DELETE FROM {tbl} WHERE {col} = ANY({arr}) RETURNING {col})"
                " SELECT {col}::text, count(*) FROM gone GROUP BY 1"
            ).format(col=column, tbl=self._table, arr=self._user_array())
            deleted = {str(u): int(n) for u, n in self.query(statement, (list(batch),))}
            for name in batch:
                target = by_name[name]
                target.status, target.count = "ok", deleted.get(name, 0)
                target.change = f"deleted {target.count}"

    def _delete_keys(self, planned: list[TargetResult]) -> None:
        key = sql.Identifier(self.layout.key_column)
        statement = sql.SQL(
            "WITH gone AS (DELETE FROM {tbl} WHERE {key} = ANY(%s) RETURNING 1)"
            " SELECT count(*) FROM gone"
        ).format(tbl=self._table, key=key)
        for target in planned:
            deleted = 0
            for batch in chunks(target.work, self.batch_size):
                point("contain.apply.batch")
                deleted += int(self.query(statement, (list(batch),))[0][0])
            target.status, target.count, target.change = "ok", deleted, f"deleted {deleted}"

    def verify(self, done: list[TargetResult]) -> None:
        if self.layout.layout == "django":
            left = self._django_keys_by_user({t.name for t in done})
            remaining = {name: len(keys) for name, keys in left.items()}
        else:
            remaining = self._counts([t.name for t in done])
        for target in done:
            count = remaining.get(target.name, 0)
            target.after = {"sessions": count}
            if count:
                target.fail(f"{count} sessions remain after the delete", NEW_SESSIONS_HINT)

    def undo(self, results: Sequence[TargetResult]) -> str:
        return UNDO

    def target_tables(self) -> list[str]:
        return [self.qualified(self.layout.table)]

    # -- volatile evidence -----------------------------------------------------------------
    def capture_rows(self, planned: list[TargetResult]) -> None:
        """Stage the rows the delete will remove (secrets hashed); each target's `captured`."""
        if self.capture is None or not planned:
            return
        secrets = {self.layout.key_column}
        if self.layout.layout == "django":
            secrets.add(self.layout.user_column)  # session_data: signed, holds the auth hash
        records: list[dict[str, Any]] = []
        per_user: dict[str, int] = {}
        hashed: set[str] = set()
        for user, row in self._doomed_rows(planned):
            per_user[user] = per_user.get(user, 0) + 1
            if not hashed:  # every row has the table's columns
                hashed.update(c for c in row if c in secrets or is_secret(c))
            django = {"user_id": user} if self.layout.layout == "django" else {}
            records.append({**django, **scrub(row, secrets)})
        where = {"table": self.qualified(self.layout.table)}
        stage_capture(self, f"session rows of {self.layout.table}", records, hashed, where)
        for target in planned:
            target.captured = per_user.get(target.name, 0)

    def _doomed_rows(self, planned: list[TargetResult]) -> list[tuple[str, dict[str, Any]]]:
        """(user, row) for every row the delete will remove."""
        found: list[tuple[str, dict[str, Any]]] = []
        if self.layout.layout == "django":
            owner = {key: t.name for t in planned for key in t.work}
            statement = sql.SQL("SELECT * FROM {tbl} WHERE {key} = ANY(%s)").format(
                tbl=self._table, key=sql.Identifier(self.layout.key_column)
            )
            for batch in chunks(list(owner), self.batch_size):
                for row in self.records(statement, (list(batch),)):
                    found.append((owner[str(row[self.layout.key_column])], row))
            return found
        column = sql.Identifier(self.layout.user_column)
        query = sql.SQL("SELECT {col}::text AS {alias}, * FROM {tbl} WHERE {col} = ANY({arr})")
        by_user = query.format(
            col=column, alias=sql.Identifier(USER_TEXT), tbl=self._table, arr=self._user_array()
        )
        for batch in chunks([t.name for t in planned], self.batch_size):
            for row in self.records(by_user, (list(batch),)):
                found.append((str(row.pop(USER_TEXT)), row))
        return found


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def django_user_id(session_data: str | None) -> str | None:
    """The `_auth_user_id` inside a Django session, in either encoding Django has used.

    Django 3.1+: signing.dumps -> "<b64 payload>:<timestamp>:<signature>", the payload
    zlib-compressed when it starts with '.'. Before: base64("<hash>:<json>").
    The signature is not checked: we only read which user a row belongs to.
    """
    if not session_data:
        return None
    payload = _signed_payload(session_data) or _legacy_payload(session_data)
    if not isinstance(payload, dict):
        return None
    user = payload.get("_auth_user_id")
    return None if user is None else str(user)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed_payload(data: str) -> Any:
    parts = data.split(":")
    if len(parts) < 3:
        return None
    body = parts[0]
    compressed = body.startswith(".")
    try:
        raw = _b64decode(body.lstrip("."))
        if compressed:
            raw = zlib.decompress(raw)
        return json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return None


def _legacy_payload(data: str) -> Any:
    try:
        raw = base64.b64decode(data.encode("ascii"))
        _, _, body = raw.partition(b":")
        return json.loads(body)
    except (binascii.Error, UnicodeError, ValueError):
        return None
