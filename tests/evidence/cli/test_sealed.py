"""Export, snapshot and scope, then seal the case: every sidecar lands in the signed statement."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from notify.context import Scope

from ..conftest import execute
from .test_scope import USERS

pytestmark = pytest.mark.pg


def statement_of(bundle: Path) -> dict:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def test_sealed_statement_carries_the_evidence_metadata(breach, case, audit_dsn, tmp_path) -> None:
    execute(audit_dsn, USERS)
    # a password in the DSN (the test server trusts it away) must be redacted everywhere
    dsn = make_conninfo(**{**conninfo_to_dict(audit_dsn), "password": "Seal-S3cret"})
    root = str(case.root)
    steps = [
        ["evidence", "export-audit", "--case", root, "--dsn", dsn, "--table", "public.audit_log",
         "--time-column", "occurred_at", "--since", "2026-11-01", "--until", "2026-11-03"],
        ["evidence", "snapshot", "--case", root, "--dsn", dsn, "--table", "public.users"],
        ["scope", "--case", root, "--actor", "mallory"],
        ["keys", "generate", "--out", str(tmp_path / "keys"), "--json"],
    ]  # fmt: skip
    results = [breach(*step) for step in steps]
    assert [r.exit_code for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    keys = results[-1].json
    sealed = breach(
        "seal", "--case", root, "-r", keys["age_recipient"],
        "--signing-key", keys["signing_key"], "--json",
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    bundle = Path(sealed.json["bundle"])
    statement = statement_of(bundle)
    artifacts = {a["name"]: a for a in statement["predicate"]["artifacts"]}
    subjects = {s["name"] for s in statement["subject"]}
    assert all(a["payload"] in subjects for a in artifacts.values())

    day = artifacts["audit/public.audit_log/day=2026-11-01/part-0000.parquet"]
    audit = day["source"]
    assert day["media_type"] == "application/vnd.apache.parquet"
    assert day["collector"]["name"] == "evidence.postgres.audit"
    assert audit["row_count"] == 2000 and audit["table"] == "public.audit_log"
    assert audit["window"] == {"since": "2026-11-01T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
    assert audit["oldest_event"] == "2026-11-01T00:00:00Z"
    assert audit["newest_event"] == "2026-11-02T09:19:00Z"  # event 2000, a minute apart
    assert {p["path"]: p["rows"] for p in audit["partitions"]} == {
        "day=2026-11-01/part-0000.parquet": 1440,
        "day=2026-11-02/part-0000.parquet": 560,
    }
    assert audit["pg_snapshot"] and audit["lsn"] and audit["txid"] > 0
    assert audit["server_version"] and 'FROM "public"."audit_log"' in audit["query"]
    assert "amount: decimal128(12, 2)" in audit["arrow_schema"]
    assert audit["roles"]["actor"] == "actor"

    snapshot_id = results[1].stdout.split()[1]
    users = artifacts[f"snapshot/{snapshot_id}/public.users.parquet"]["source"]
    assert users["row_count"] == 50 and users["pg_snapshot"] == snapshot_id
    assert f"snapshot/{snapshot_id}/public.users.ddl.sql" in artifacts
    assert f"snapshot/{snapshot_id}/snapshot.json" in artifacts
    affected = artifacts["scope/affected-users.parquet"]["source"]
    assert affected["row_count"] == 5 and affected["indicators"]["actors"] == ["mallory"]
    assert affected["inputs"] == [
        "audit/public.audit_log",
        f"snapshot/{snapshot_id}/public.users.parquet",
    ]  # staged names: each input is found in this very bundle
    assert artifacts["scope/scope.json"]["collector"]["name"] == "evidence.scope"
    assert artifacts["scope/records-touched.parquet"]["source"]["row_count"] == 5

    signed = json.dumps(statement)
    assert "Seal-S3cret" not in signed and "password=***" in signed
    for path in case.root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".sql", ".txt", ".md"):
            assert "Seal-S3cret" not in path.read_text(errors="replace"), path
    verified = breach("verify", str(bundle), "--pubkey", keys["signing_pub"], "--json")
    assert verified.exit_code == 0, verified.stdout + verified.stderr

    # the counts stored in the case are what the notification step reads
    stored = json.loads((case.root / "case.json").read_text())["scope"]
    model = Scope.model_validate(stored)
    assert model.affected_users == 5 and model.records_touched == 5
    assert model.affected_users_artifact == "scope/affected-users.parquet"
    assert model.principals == ["mallory"] and model.tables == {"public.users": 200}
