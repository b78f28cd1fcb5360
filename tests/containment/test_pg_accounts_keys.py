"""PostgreSQL roles, application users and role passwords, on a real server."""

from __future__ import annotations

import psycopg
import pytest

from containment.keys.postgres_password import scram_matches

pytestmark = pytest.mark.pg


def test_scram_check_matches_the_server(pg_dsn: str, role: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        verifier = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()[0]
    assert scram_matches("old-password", verifier)
    assert not scram_matches("old-passwore", verifier)
    assert not scram_matches("x", "md5abc") and not scram_matches("x", None)
