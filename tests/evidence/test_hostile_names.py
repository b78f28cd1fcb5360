"""Names from the breached systems are attacker-controlled: tried against a real PostgreSQL and
moto. Tables, schemas and columns named with '/', '..', line breaks, U+2028, terminal escapes,
names differing only in case and names that encode to each other's naive form are exported,
snapshotted and sealed: nothing lands outside its artifact folder, nothing is overwritten, every
line-based file stays one entry a line (`sha256sum -c` passes), the bundle verifies, and the
original names are in the metadata and the signed statement. (AWS names:
test_hostile_aws_names.py.)"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from psycopg import sql

from breach.case import Case
from breach.procedure.bundle import SealSettings, VerifySettings, seal, verify
from breach.procedure.contain_evidence import snapshotted_tables
from breach.procedure.evidence import ExportAuditSettings, SnapshotSettings, export_audit, snapshot
from core.fsio import file_to_name, line_safe, qualified_file
from manifests.keys import generate

from .cli.test_sealed import statement_of
from .conftest import execute

# (schema, table): every one a distinct relation PostgreSQL accepts.
HOSTILE_TABLES = [
    ("public", "users"),
    ("public", "Users"),  # only the case differs
    ("public", "a/b"),
    ("public", "a%2Fb"),  # the naive percent-encoding of "a/b"
    ("public", "a_2Fb"),
    ("public", "a b"),  # staged as "a%20b", a payload "a_20b" once
    ("public", "a_20b"),  # staged as "a_20b": the two must stay two payloads
    ("public", "a+2Fb"),
    ("public", ".."),
    ("public", "."),
    ("public", ".hidden"),
    ("public", "../../etc/passwd"),
    ("public", "line\nbreak"),
    ("public", "cr\rx"),
    ("public", "sep\u2028x"),
    ("public", "nel\x85x"),
    ("public", "\x1b[31mred\x1b[0m"),
    ("public", 'q"uote'),
    ("public", "ж" * 21),  # 63 bytes, PostgreSQL's longest name
    ("a/b", "c"),
    ("s.a", "b"),  # ("s.a", "b") and ("s", "a.b") are both "s.a.b" written naively
    ("s", "a.b"),
    ("../../etc", "passwd"),
    ("ж" * 21, "ж" * 20 + "з"),  # too long for one file name: shortened, kept in metadata
]
HOSTILE_COLUMN = "../col\nname\u2028\x1b[2J"
UNICODE_BREAKS = ("\u2028".encode(), "\u2029".encode(), "\x85".encode())

pytestmark = pytest.mark.pg


def create_hostile_tables(dsn: str) -> None:
    schemas = sorted({s for s, _ in HOSTILE_TABLES} - {"public"})
    statements = [sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s)) for s in schemas]
    for tag, (schema, table) in enumerate(HOSTILE_TABLES):
        ident = sql.Identifier(schema, table)
        statements += [
            sql.SQL("CREATE TABLE {} (tag int, {} text, at timestamptz)").format(
                ident, sql.Identifier(HOSTILE_COLUMN)
            ),
            sql.SQL("INSERT INTO {} VALUES ({}, {}, '2026-11-01T12:00:00Z')").format(
                ident, sql.Literal(tag), sql.Literal(f"{schema}\n{table}")
            ),
        ]
    execute(dsn, *(s.as_string() for s in statements))


def quoted(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def assert_line_file(path: Path) -> list[bytes]:
    """A line-based file whose every reader sees the same lines: '\\n' only, no U+2028 etc."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data[:-1].split(b"\n")
    assert not any(mark in data for mark in UNICODE_BREAKS), path
    assert len(data.decode().splitlines()) == len(lines), path  # str.splitlines agrees
    return lines


def test_hostile_tables_snapshot_export_and_seal_safely(
    case: Case, pg_dsn: str, tmp_path: Path
) -> None:
    create_hostile_tables(pg_dsn)
    before = files_under(tmp_path)
    others = [quoted(s, t) for s, t in HOSTILE_TABLES if s != "public"]
    taken = snapshot(
        SnapshotSettings(case=str(case.root), dsn=pg_dsn, schema_name="public", tables=others)
    )
    assert taken.failed == []
    assert len(taken.exported) == len(HOSTILE_TABLES)  # none merged, none overwritten
    folder = case.staging / taken.folder
    by_names = {}
    for artifact in taken.exported:
        source = artifact.meta["source"]
        by_names[(source["schema_name"], source["table_name"])] = artifact.name
        path = case.staging / artifact.name
        assert path.parent == folder and line_safe(artifact.name) and artifact.name.isascii()
        stem = path.name.removesuffix(".parquet")
        if "~" not in stem:  # a whole name maps back; a shortened one is in the sidecar only
            assert tuple(file_to_name(p) for p in stem.split(".")) == (
                source["schema_name"],
                source["table_name"],
            )
        rows = pq.read_table(path).to_pylist()
        expected_tag = HOSTILE_TABLES.index((source["schema_name"], source["table_name"]))
        assert rows == [
            {
                "tag": expected_tag,
                HOSTILE_COLUMN: f"{source['schema_name']}\n{source['table_name']}",
                "at": datetime(2026, 11, 1, 12, tzinfo=UTC),
            }
        ]
        ddl = (folder / f"{stem}.ddl.sql").read_text()
        assert ddl.splitlines()[0].startswith(f"-- {stem} as of snapshot")
    assert set(by_names) == set(HOSTILE_TABLES)
    # containment's snapshot check reads the names back, a shortened one from its sidecar
    assert snapshotted_tables(case) == {f"{s}.{t}" for s, t in HOSTILE_TABLES}

    schema, table = "a/b", "c"
    exported = export_audit(
        ExportAuditSettings(
            case=str(case.root), dsn=pg_dsn, table=quoted(schema, table), time_column="at",
            since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2026, 11, 2, tzinfo=UTC),
        )
    )  # fmt: skip
    (audit,) = exported.artifacts
    assert audit.artifact == "audit/a%2Fb.c" and audit.row_count == 1
    audit_meta = json.loads((case.staging / "audit/a%2Fb.c.meta.json").read_text())
    assert (audit_meta["source"]["schema_name"], audit_meta["source"]["table_name"]) == (
        schema,
        table,
    )

    written = files_under(tmp_path) - before
    audit_folder = case.staging / "audit" / "a%2Fb.c"
    stray = {
        p for p in written if not p.is_relative_to(folder) and not p.is_relative_to(audit_folder)
    }
    assert stray == {case.staging / "audit" / "a%2Fb.c.meta.json"}
    assert not (case.staging / "etc").exists() and not (tmp_path / "etc").exists()
    for line in assert_line_file(case.journal_path):
        json.loads(line)

    keys = generate(tmp_path / "keys")
    sealed = seal(
        SealSettings(case=str(case.root), recipients=[keys.recipient], signing_key=keys.signing_key)
    )
    bundle = sealed.bundle
    payloads = {a["payload"] for a in sealed.artifacts}
    assert len(payloads) == len(sealed.artifacts)  # one file per artifact: none merged
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        lines = assert_line_file(bundle / manifest)
        assert all(len(line) > 66 and line[64:66] == b"  " for line in lines)
        checked = subprocess.run(
            ["sha256sum", "--strict", "-c", manifest],
            cwd=bundle,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count(": OK\n") == len(lines)
    assert len(assert_line_file(bundle / "manifest-sha256.txt")) == len(payloads)

    checked_bundle = verify(VerifySettings(bundle=bundle, pubkeys=[keys.signing_pub]))
    assert checked_bundle.ok, checked_bundle.headline
    signed = {
        (a["source"].get("schema_name"), a["source"].get("table_name"))
        for a in statement_of(bundle)["predicate"]["artifacts"]
        if a.get("source", {}).get("system") == "postgresql"
    }
    assert set(HOSTILE_TABLES) <= signed


def test_scope_finds_a_users_table_whose_name_is_encoded(tmp_path: Path) -> None:
    from evidence.scope import find_users_snapshot

    folder = tmp_path / "snapshot" / "00000003-1"
    folder.mkdir(parents=True)
    (folder / "public.orders.parquet").write_bytes(b"")
    assert find_users_snapshot(tmp_path) is None
    users = folder / f"{qualified_file('public', 'Users')}.parquet"  # public.%55sers.parquet
    users.write_bytes(b"")
    assert find_users_snapshot(tmp_path) == users
