"""The control transaction: one REPEATABLE READ snapshot, exported for the workers, and the
catalog look-ups (tables, sizes, privileges, DDL) made inside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from core.errors import BadInput, StepFailed
from evidence.postgres.connect import PermissionDenied, classify

LOCK_TIMEOUT = "10s"
# Tables smaller than this are read by one worker; splitting them costs more than it saves.
MIN_SPLIT_PAGES = 1024


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    relkind: str
    pages: int
    estimated_rows: int | None  # None: never vacuumed or analyzed, so unknown
    total_bytes: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)


@dataclass(frozen=True)
class SnapshotInfo:
    """Where the evidence was read: the exported snapshot and the server's position."""

    snapshot_id: str
    pg_snapshot: str  # xmin:xmax:xip-list
    txid: int  # xmax: the first transaction id the snapshot does not see
    lsn: str
    in_recovery: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "pg_snapshot": self.snapshot_id,
            "pg_current_snapshot": self.pg_snapshot,
            "txid": self.txid,
            "lsn": self.lsn,
            "in_recovery": self.in_recovery,
        }


_RELATION = """
SELECT c.oid, n.nspname, c.relname, c.relkind,
       (pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
"""
_TABLES_IN_SCHEMA = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""


def begin_snapshot_transaction(conn: psycopg.Connection[Any]) -> None:
    """REPEATABLE READ, READ ONLY: the snapshot holds for every later statement."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def split_name(text: str) -> tuple[str, str]:
    """'schema.table' or 'table' (public); quotes allowed for names with dots."""
    text = text.strip()
    if not text:
        raise BadInput("empty table name")
    if text.startswith('"') or '"' in text:
        parts = [p.strip('"') for p in _split_quoted(text)]
    else:
        parts = text.split(".", 1)
    if len(parts) == 1:
        return "public", parts[0]
    return parts[0], parts[1]


def _split_quoted(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def resolve_relation(conn: psycopg.Connection[Any], text: str) -> Relation:
    return find_relation(conn, *split_name(text))


def find_relation(conn: psycopg.Connection[Any], schema: str, name: str) -> Relation:
    row = conn.execute(_RELATION, (schema, name)).fetchone()
    if row is None:
        raise BadInput(
            f"no table {schema}.{name} in this database",
            hint="check the name with \\dt, or take every table of a schema",
        )
    return Relation(*row)


def tables_in_schema(conn: psycopg.Connection[Any], schema: str) -> list[Relation]:
    rows = conn.execute(_TABLES_IN_SCHEMA, (schema,)).fetchall()
    if not rows:
        raise BadInput(f"schema {schema!r} has no tables in this database")
    return [find_relation(conn, schema, r[0]) for r in rows]


def check_readable(conn: psycopg.Connection[Any], rel: Relation) -> None:
    row = conn.execute("SELECT has_table_privilege(%s, 'SELECT')", (rel.oid,)).fetchone()
    if not row or not row[0]:
        user = conn.execute("SELECT current_user").fetchone()
        raise PermissionDenied(
            f"permission denied for table {rel.qualified} (role {user[0] if user else '?'})"
        )


def lock_access_share(conn: psycopg.Connection[Any], rel: Relation) -> None:
    """ACCESS SHARE, the lock a plain SELECT takes: DDL must wait, writers are never blocked.

    Taken in a savepoint so a lock timeout fails this table without ending the transaction.
    """
    if rel.relkind in ("m", "f"):  # LOCK TABLE refuses these; a SELECT takes the same lock
        statement = sql.SQL("SELECT FROM {} LIMIT 0").format(rel.ident)
    else:
        statement = sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(rel.ident)
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        raise classify(exc, rel.qualified) from None


def export_snapshot(conn: psycopg.Connection[Any]) -> SnapshotInfo:
    row = conn.execute(
        "SELECT pg_export_snapshot(), pg_current_snapshot()::text,"
        " pg_snapshot_xmax(pg_current_snapshot())::text::bigint, pg_is_in_recovery(),"
        " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn()"
        " END::text"
    ).fetchone()
    if row is None:
        raise StepFailed("the server did not export a snapshot")
    return SnapshotInfo(
        snapshot_id=row[0], pg_snapshot=row[1], txid=int(row[2]), in_recovery=row[3], lsn=row[4]
    )


def ctid_ranges(pages: int, parts: int) -> list[tuple[int, int | None]]:
    """Split a heap into `parts` block ranges; the last is open-ended so nothing is missed."""
    if parts <= 1 or pages < MIN_SPLIT_PAGES:
        return [(0, None)]
    step = -(-pages // parts)
    ranges: list[tuple[int, int | None]] = [(i * step, (i + 1) * step) for i in range(parts)]
    ranges[-1] = (ranges[-1][0], None)
    return ranges


def ctid_filter(block_range: tuple[int, int | None]) -> sql.Composable:
    low, high = block_range
    if low == 0 and high is None:
        return sql.SQL("TRUE")
    clause = sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({low},0)"))
    if high is not None:
        clause = sql.SQL("{} AND ctid < {}::tid").format(clause, sql.Literal(f"({high},0)"))
    return clause


def estimated_rows(conn: psycopg.Connection[Any], query: sql.Composable) -> int | None:
    """The planner's row estimate for `query` (no row is read): a progress bar's total."""
    try:
        with conn.transaction():  # a savepoint: a refusal leaves the snapshot usable
            plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(query)).fetchone()
    except psycopg.Error:
        return None
    try:
        return int(plan[0][0]["Plan"]["Plan Rows"]) if plan else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def plan_scans_whole_table(conn: psycopg.Connection[Any], query: sql.Composable) -> bool:
    """True when the planner reads the whole heap anyway, so block ranges lose nothing."""
    rows = conn.execute(sql.SQL("EXPLAIN {}").format(query)).fetchall()
    text = "\n".join(r[0] for r in rows)
    return "Seq Scan" in text and "Index" not in text


def table_ddl(conn: psycopg.Connection[Any], rel: Relation) -> str:
    """CREATE TABLE with columns, defaults, NOT NULL and constraints, then its other indexes;
    a view's or materialized view's own definition."""
    if rel.relkind in ("v", "m"):
        row = conn.execute("SELECT pg_get_viewdef(%s::oid, true)", (rel.oid,)).fetchone()
        kind = "MATERIALIZED VIEW" if rel.relkind == "m" else "VIEW"
        body = (row[0] if row else "").strip().rstrip(";")
        return f"CREATE {kind} {rel.ident.as_string(conn)} AS\n{body};\n"
    columns = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d"
        "   ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (rel.oid,),
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s AND contype <> 'n' ORDER BY contype, conname",
        (rel.oid,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = %s AND NOT EXISTS"
        "   (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY i.indexrelid",
        (rel.oid,),
    ).fetchall()
    lines = [_column_ddl(conn, *col) for col in columns]
    lines += [
        f"CONSTRAINT {sql.Identifier(name).as_string(conn)} {definition}"
        for name, definition in constraints
    ]
    table = rel.ident.as_string(conn)
    body = ",\n    ".join(lines)
    statements = [f"CREATE TABLE {table} (\n    {body}\n);"]
    statements += [f"{row[0]};" for row in indexes]
    return "\n\n".join(statements) + "\n"


def _column_ddl(
    conn: psycopg.Connection[Any],
    name: str,
    type_text: str,
    not_null: bool,
    default: str | None,
    identity: str,
    generated: str,
) -> str:
    parts = [sql.Identifier(name).as_string(conn), type_text]
    if identity:
        parts.append(
            "GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY"
        )
    elif generated == "s" and default:
        parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
    elif default:
        parts.append(f"DEFAULT {default}")
    if not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def row_security_warning(conn: psycopg.Connection[Any], rel: Relation) -> str | None:
    """Row-level security silently hides rows from a role that does not bypass it: say so."""
    row = conn.execute(
        "SELECT c.relrowsecurity, c.relforcerowsecurity, r.rolsuper OR r.rolbypassrls,"
        " c.relowner = r.oid, current_user"
        " FROM pg_class c, pg_roles r WHERE c.oid = %s AND r.rolname = current_user",
        (rel.oid,),
    ).fetchone()
    if row is None or not row[0] or row[2] or (row[3] and not row[1]):
        return None
    return (
        f"row-level security is on for {rel.qualified} and role {row[4]} does not bypass it:"
        " the export holds only the rows that role may see"
    )
