"""Shared plumbing for adapters: the per-target loops (plan, apply, read back) written once, AWS
calls that keep request ids, PostgreSQL and Redis connections that fail with one line, and a
round-trip counter the benchmark reads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.interface import Action, TargetResult
from containment.volatile import Sink
from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput, BreachError, StepFailed
from core.redact import redact_dsn, redact_url


def done_since(moment: datetime | None, since: datetime) -> bool:
    """Was this (a rotation, a version) done at or after `since`? APIs report whole seconds."""
    return moment is not None and moment >= since.replace(microsecond=0)


class AdapterBase:
    """Defaults every adapter shares, the three steps included.

    `plan`, `apply` and `verify` run the per-target loop once for all adapters: each target is
    handed to a small hook (`plan_one`, `apply_one`, `verify_one`), and an error of a kind in
    `target_errors` fails (or, for `missing_codes`, marks missing) that target alone while the
    others go on. Any other error stops the step; the driver (`containment.run`) then marks what
    was left undone. An adapter that reads something all targets share (an IP set, a NACL) does
    it once in `prepare_plan` / `prepare_verify`. Adapters that batch (one statement or pipeline
    for many targets) override the steps themselves.
    """

    name: ClassVar[str]
    action: ClassVar[Action]
    noun: ClassVar[str] = "target"
    unit: ClassVar[str] = ""
    # Errors that concern one target only (an AWS call refused, a statement not permitted).
    target_errors: ClassVar[tuple[type[Exception], ...]] = ()
    # AWS error codes meaning "no such user/key/role": the target is `missing`, not `failed`.
    missing_codes: ClassVar[tuple[str, ...]] = ()
    # How a failed read-back begins: "could not read the user back: <error>".
    unreadable: ClassVar[str] = "could not read the target back"
    # After an apply cut off part way (a connection lost), read every attempted target back on
    # a fresh connection and let that say what was done (containment.run); for adapters whose
    # `verify` reads any target's state, whether or not its apply was acknowledged.
    reads_back_after_a_cut: ClassVar[bool] = False
    # Where what an action deletes is staged first (set by the procedure layer; None: nowhere).
    capture: Sink | None = None

    def settings(self) -> dict[str, Any]:
        return {}

    def target_tables(self) -> list[str]:
        """The database tables this action changes (schema-qualified), for the snapshot check."""
        return []

    def close(self) -> None:
        return None

    def undo(self, results: Sequence[TargetResult]) -> str:
        return "nothing to undo" if not results else "see each target's `before`"

    # -- the per-target loops --------------------------------------------------------------
    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        """Read-only: each target `planned` unless `plan_one` finds it done, missing or failed."""
        results = [TargetResult(name=name, status="planned") for name in targets]
        try:
            self.prepare_plan(results, since)
        except self.target_errors as exc:  # the shared read failed: so does every target
            for target in results:
                self.target_error(target, exc)
            return results
        for target in results:
            try:
                self.plan_one(target, since)
            except self.target_errors as exc:
                self.target_error(target, exc)
        return self.finish_plan(results)

    def apply(self, planned: list[TargetResult]) -> None:
        """`apply_one` per target; one it neither failed nor marked otherwise is `ok`."""
        for target in planned:
            try:
                self.apply_one(target)
            except self.target_errors as exc:
                self.target_error(target, exc)
                continue
            if target.status == "planned":
                target.status = "ok"

    def verify(self, done: list[TargetResult]) -> None:
        """`verify_one` per target (it reads back into `after`, and fails what disagrees)."""
        try:
            self.prepare_verify(done)
        except self.target_errors as exc:
            for target in done:
                self.unread(target, exc)
            return
        for target in done:
            try:
                self.verify_one(target)
            except self.target_errors as exc:
                self.unread(target, exc)

    # -- the hooks an adapter fills in -------------------------------------------------------
    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        """Read what every target's plan needs, once (default: nothing)."""

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        """Read one target into `before`; leave it `planned` with a `change`, or mark it."""
        raise NotImplementedError(f"{type(self).__name__} plans no single target")

    def finish_plan(self, results: list[TargetResult]) -> list[TargetResult]:
        return results

    def apply_one(self, target: TargetResult) -> None:
        raise NotImplementedError(f"{type(self).__name__} applies no single target")

    def prepare_verify(self, done: list[TargetResult]) -> None:
        """Read back what every target's check needs, once (default: nothing)."""

    def verify_one(self, target: TargetResult) -> None:
        raise NotImplementedError(f"{type(self).__name__} reads back no single target")

    def target_error(self, target: TargetResult, exc: Exception) -> None:
        """A per-target error while planning or applying: missing for `missing_codes`, else
        failed with the error's own line and hint."""
        if isinstance(exc, AwsCallFailed) and exc.code in self.missing_codes:
            target.status = "missing"
            target.change = ""  # nothing was or will be done to it
            target.reason = exc.message
        else:
            target.fail(*_message(exc))

    def unread(self, target: TargetResult, exc: Exception) -> None:
        """A per-target error while reading back."""
        message, hint = _message(exc)
        target.fail(f"{self.unreadable}: {message}", hint)


def _message(exc: Exception) -> tuple[str, str | None]:
    if isinstance(exc, BreachError):
        return exc.message, exc.hint
    return str(exc), None


class AwsAdapter(AdapterBase):
    """An adapter acting through one AWS account: a refused call concerns one target."""

    target_errors: ClassVar[tuple[type[Exception], ...]] = (AwsCallFailed,)

    def __init__(self, account: AwsAccount) -> None:
        self.account = account

    def system(self) -> str:
        return self.account.describe()

    def operator(self) -> str:
        return self.account.operator()

    def call(self, service: str, operation: str, target: TargetResult | None, **kwargs: Any) -> Any:
        """One API call; its request id goes on the target; errors become AwsCallFailed."""
        method = getattr(self.account.client(service), operation)
        try:
            with self.account.calls(what=operation):
                response = method(**kwargs)
        except AwsCallFailed as exc:  # a refused call is part of the record too
            if target is not None and exc.request_id:
                target.request_ids.append(exc.request_id)
            raise
        rid = response.get("ResponseMetadata", {}).get("RequestId")
        if target is not None and rid:
            target.request_ids.append(str(rid))
        return response

    def call_if_exists(
        self, service: str, operation: str, target: TargetResult | None, missing: str, **kwargs: Any
    ) -> Any:
        """`call`, or None when the error code says the thing read does not exist (`missing`)."""
        try:
            return self.call(service, operation, target, **kwargs)
        except AwsCallFailed as exc:
            if exc.code == missing:
                return None
            raise


# -- PostgreSQL ----------------------------------------------------------------------------
class PgAdapter(AdapterBase):
    """An adapter acting on one PostgreSQL database through psycopg (autocommit)."""

    # The hint for a statement refused for want of privilege (it fails that target only).
    privilege_hint: ClassVar[str | None] = None

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.round_trips = 0
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = pg_connect(self.dsn)
        return self._conn

    def query(self, statement: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """Execute one statement (one round trip); lost connections fail the step."""
        import psycopg

        self.round_trips += 1
        try:
            cur = self.conn.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
        except psycopg.OperationalError as exc:
            raise StepFailed(f"PostgreSQL: {_first_line(exc)}") from None

    def records(self, statement: Any, params: Any = None) -> list[dict[str, Any]]:
        """`query`, each row as a dict by column name."""
        import psycopg

        self.round_trips += 1
        try:
            cur = self.conn.execute(statement, params)
            names = [column.name for column in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except psycopg.OperationalError as exc:
            raise StepFailed(f"PostgreSQL: {_first_line(exc)}") from None

    def column_types(self, table: str, columns: Sequence[str], hint: str) -> dict[str, str]:
        """Each column's SQL type; a table or column that is not there is one line, exit 2."""
        import psycopg

        try:
            rows = self.query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                " WHERE a.attrelid = to_regclass(%s) AND a.attname = ANY(%s)"
                " AND NOT a.attisdropped",
                (table, list(columns)),
            )
        except psycopg.errors.InvalidName:
            raise BadInput(f"{table!r} is not a table name", hint=hint) from None
        types = {str(name): str(kind) for name, kind in rows}
        for column in columns:
            if column not in types:
                raise BadInput(
                    f"table {table!r} has no column {column} (or no such table)", hint=hint
                )
        return types

    def target_error(self, target: TargetResult, exc: Exception) -> None:
        """A role that is not there is missing; a refused statement fails the one target."""
        import psycopg

        if isinstance(exc, psycopg.errors.UndefinedObject):
            target.status, target.reason = "missing", _first_line(exc)
        elif isinstance(exc, psycopg.Error):
            refused = isinstance(exc, psycopg.errors.InsufficientPrivilege)
            target.fail(f"PostgreSQL: {_first_line(exc)}", self.privilege_hint if refused else None)
        else:
            super().target_error(target, exc)

    def qualified(self, table: str) -> str:
        """`schema.table` as the server resolves `table` (unchanged when it does not exist)."""
        import psycopg

        try:
            rows = self.query(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
                (table,),
            )
        except psycopg.errors.InvalidName:
            return table
        return str(rows[0][0]) if rows else table

    def system(self) -> str:
        info = self.conn.info
        return f"postgresql {info.user}@{info.host}:{info.port}/{info.dbname}"

    def operator(self) -> str:
        return f"{self.query('SELECT current_user')[0][0]} (database user)"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


INTEGER_TYPES = {"smallint", "integer", "bigint"}


def fits_column(value: str, column_type: str) -> bool:
    """Can this target be cast to the column's type? A bad one is reported, not fatal."""
    if column_type in INTEGER_TYPES or column_type.startswith("numeric"):
        return re.fullmatch(r"-?\d+", value) is not None
    if column_type == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return False
    return True


def pg_connect(dsn: str) -> Any:
    """A connection, or one line naming the (redacted) server and exit 2."""
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise BadInput(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {_first_line(exc)}",
            hint="check --dsn (or PG* variables) and that the server is up",
        ) from None
    except psycopg.ProgrammingError as exc:
        raise BadInput(f"bad PostgreSQL DSN {redact_dsn(dsn)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- Redis ---------------------------------------------------------------------------------
def redis_connect(url: str) -> Any:
    """A client that answered PING, or one line and exit 2."""
    import redis

    try:
        # No silent retries: a command cut off is reported and read back (containment.run),
        # not resent on a new connection behind the receipt's back.
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, retry=None)
        client.ping()
    except ValueError as exc:
        raise BadInput(f"bad Redis URL {redact_url(url)}: {exc}") from None
    except redis.RedisError as exc:
        raise BadInput(
            f"cannot reach Redis at {redact_url(url)}: {_first_line(exc)}",
            hint="check --redis-url and that the server is up",
        ) from None
    return client
