"""Guards against mutations that once survived the evidence command tests (issue 16)."""

from __future__ import annotations

import pytest

from ..conftest import execute

USERS = """
CREATE TABLE public.users (id bigint PRIMARY KEY, email text, phone text);
INSERT INTO public.users SELECT g, 'user' || g || '@example.test', '+4420' || g
    FROM generate_series(0, 49) AS g;
"""
NO_USERS_TABLE = "no users table was snapshotted"


def _export(breach, case, dsn: str) -> None:  # type: ignore[no-untyped-def]
    exported = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at",
        "--since", "2026-11-01", "--until", "2026-11-03",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.stderr


@pytest.mark.pg
def test_scope_warns_of_no_users_table_only_when_none_was_snapshotted(
    breach, case, audit_dsn
) -> None:
    """Mutation: scope always warning that no users table was snapshotted. Read from the JSON
    under --json (stderr is silent there), and from stderr in a terminal run: the warning is
    there while no users table is staged, and gone once one is."""
    execute(audit_dsn, USERS)
    _export(breach, case, audit_dsn)
    before = breach("scope", "--case", str(case.root), "--actor", "mallory", "--json")
    assert before.exit_code == 0, before.stderr
    assert before.json["affected_users"] == 5
    assert any(NO_USERS_TABLE in w for w in before.json["warnings"]), before.json["warnings"]
    assert NO_USERS_TABLE not in before.stderr  # under --json, warnings are data
    human = breach("scope", "--case", str(case.root), "--actor", "mallory")
    assert human.exit_code == 0 and NO_USERS_TABLE in human.stderr

    snap = breach("evidence", "snapshot", "--case", str(case.root), "--dsn", audit_dsn,
                  "--table", "public.users")  # fmt: skip
    assert snap.exit_code == 0, snap.stderr
    after = breach("scope", "--case", str(case.root), "--actor", "mallory", "--json")
    assert after.exit_code == 0, after.stderr
    assert after.json["affected_users"] == 5
    assert not any(NO_USERS_TABLE in w for w in after.json["warnings"]), after.json["warnings"]
    human = breach("scope", "--case", str(case.root), "--actor", "mallory")
    assert human.exit_code == 0 and NO_USERS_TABLE not in human.stderr
