"""Connections to the server under investigation, and its errors turned into one clear line.

Two kinds of connection: a psycopg "control" connection (catalog look-ups, the exported snapshot,
locks) and ADBC worker connections that stream COPY BINARY into Arrow in C++. Workers identify
themselves with application_name so an operator (or a test) can see and end them.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.errors import BadInput, BreachError, StepFailed
from core.redact import redact_dsn

CONTROL_APP = "breachkit-evidence"
WORKER_APP = "breachkit-evidence-worker"
CONNECT_TIMEOUT_S = 10

# SQLSTATE classes that mean "the connection went away", not "your query is wrong".
_LOST_STATES = ("08", "57P01", "57P02", "57P03")
_LOST_WORDS = ("server closed the connection", "connection to server", "terminating connection")
# ADBC wraps the server's message, sometimes around the whole query text: keep the message only.
_ADBC_WRAPPER = re.compile(
    r"^(?:Failed to execute query '.*?'|[^'\n]*?):\s+(?=(?:ERROR|FATAL):)",
    re.DOTALL,
)


class ConnectionLost(StepFailed):
    """The server or network dropped us mid-export; the caller may retry."""


class PermissionDenied(StepFailed):
    """The role may not read this object (SQLSTATE 42501)."""


def conninfo(dsn: str, application_name: str) -> str:
    """The DSN with our application name and a connect timeout; PG* variables fill the rest."""
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise BadInput(f"unusable DSN {redact_dsn(dsn)!r}: {first_line(str(exc))}") from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params["application_name"] = application_name
    return make_conninfo(**params)


def first_line(message: str) -> str:
    """libpq messages span lines (DETAIL, LINE n, ^); the first meaningful one is enough."""
    text = re.sub(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?", "", message.strip())
    text = _ADBC_WRAPPER.sub("", text)
    for line in text.splitlines():
        line = re.sub(r"^(ERROR|FATAL):\s+", "", line.strip())
        if line and not line.startswith(("Query was:", "LINE ")):
            return line
    return text or "unknown error"


def connect_control(dsn: str) -> psycopg.Connection[Any]:
    """A psycopg connection in UTC; a wrong host, password or database is bad input (exit 2)."""
    try:
        conn = psycopg.connect(conninfo(dsn, CONTROL_APP))
    except psycopg.OperationalError as exc:
        raise BadInput(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {connect_reason(str(exc))}",
            hint="check host, port, user, password and database (libpq DSN or PG* variables)",
        ) from None
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


def connect_reason(message: str) -> str:
    """The useful clause of a libpq connection failure, without the server address preamble."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    for line in lines:
        match = re.search(r"(?:FATAL|ERROR):\s+(.*)", line)
        if match:
            return match.group(1)
    for line in lines:
        if "failed:" in line and line.rsplit("failed:", 1)[1].strip():
            return line.rsplit("failed:", 1)[1].strip()
    return lines[-1] if lines else "unknown error"


def sqlstate_of(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state:
        return state
    found = re.search(r"SQLSTATE: ([0-9A-Z]{5})", str(exc))
    return found.group(1) if found else None


def is_connection_lost(exc: BaseException) -> bool:
    state = sqlstate_of(exc)
    if state and state.startswith(_LOST_STATES):
        return True
    if isinstance(exc, psycopg.OperationalError) and not state:
        return True
    text = str(exc).lower()
    return any(word in text for word in _LOST_WORDS)


def classify(exc: BaseException, what: str) -> BreachError:
    """Map a driver error (psycopg or ADBC) about `what` to our error kinds."""
    state = sqlstate_of(exc)
    reason = first_line(str(exc))
    if is_connection_lost(exc):
        return ConnectionLost(f"connection lost while reading {what}: {reason}")
    if state == "42501":
        return PermissionDenied(f"permission denied reading {what}: {reason}")
    if state in ("42704", "22023") and "snapshot" in reason:  # adopted after it ended
        return StepFailed(
            f"{what} not read: the exported snapshot ended with its control connection ({reason})",
            hint="run the step again for a new snapshot",
        )
    if state in ("42P01", "42703", "42883", "42601", "42804", "3F000", "22007", "22008"):
        return BadInput(f"{what}: {reason}")
    return StepFailed(f"reading {what} failed: {reason}")


def server_version(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"
