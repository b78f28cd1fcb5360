"""The postgres-password and signing-key rotations' failure paths (issue 16): each failure is
data on its target, the old secret is left as it was, and what could not be checked says so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from containment.keys.destination import Destination
from containment.keys.postgres_password import PostgresPasswords, scram_matches
from containment.keys.signing_key import SigningKeys, rotation_record
from containment.run import run_action
from core.timeutil import utcnow
from manifests.keys import generate, keyid, load_public_key_file


def _verifier(dsn: str, role: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        return str(row.fetchone()[0])  # type: ignore[index]


# -- postgres-password -----------------------------------------------------------------------
@pytest.mark.pg
def test_a_role_that_does_not_exist_is_missing(pg_dsn: str, tmp_path: Path) -> None:
    destination = Destination(f"file:{tmp_path}/{{target}}.pw", None)
    receipt = run_action(PostgresPasswords(pg_dsn, destination), ["nobody_here"], dry_run=False)
    (target,) = receipt.targets
    assert (target.status, target.reason) == ("missing", "no role nobody_here")
    assert receipt.status == "failed" and not list(tmp_path.glob("*.pw"))


@pytest.mark.pg
def test_a_destination_that_cannot_be_written_leaves_the_password_alone(
    pg_dsn: str, role: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where a folder should be")
    before = _verifier(pg_dsn, role)
    destination = Destination(f"file:{tmp_path}/not-a-folder/{{target}}.pw", None)
    receipt = run_action(PostgresPasswords(pg_dsn, destination), [role], dry_run=False)
    (target,) = receipt.targets
    assert target.status == "failed"
    assert (target.reason or "").startswith(
        f"could not store the new password: cannot write {tmp_path}/not-a-folder/{role}.pw"
    )
    assert _verifier(pg_dsn, role) == before  # never changed without a copy stored
    assert scram_matches("old-password", before)


@pytest.mark.pg
def test_a_secrets_manager_destination_without_aws_settings_fails_the_target(
    pg_dsn: str, role: str
) -> None:
    """fetch() refuses (no AWS account) while planning: not "already rotated"; store() refuses
    while applying: the target fails with the reason, and the password is unchanged."""
    before = _verifier(pg_dsn, role)
    destination = Destination("secretsmanager:db/{target}", None)
    receipt = run_action(PostgresPasswords(pg_dsn, destination), [role], dry_run=False)
    (target,) = receipt.targets
    assert target.status == "failed"
    assert target.reason == (
        "could not store the new password: a secretsmanager: destination needs AWS settings"
    )
    assert _verifier(pg_dsn, role) == before


@pytest.fixture
def rotator(pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A CREATEROLE login that is not a superuser (cannot read pg_authid), and a role it made
    (so it may change its password on any PostgreSQL version)."""
    suffix = uuid.uuid4().hex[:8]
    name, target = f"rotator_{suffix}", f"victim_{suffix}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'rot-pw'").format(
            sql.Identifier(name)))  # fmt: skip
    params = conninfo_to_dict(pg_dsn)
    params.update(user=name, password="rot-pw")
    dsn = make_conninfo(**params)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'old'").format(sql.Identifier(target)))
    yield dsn, target
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for who in (target, name):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(who)))


@pytest.mark.pg
def test_a_rotator_that_cannot_read_pg_authid_says_it_could_not_verify(
    pg_dsn: str, rotator: tuple[str, str], tmp_path: Path
) -> None:
    dsn, target_role = rotator
    destination = Destination(f"file:{tmp_path}/{{target}}.pw", None)
    adapter = PostgresPasswords(dsn, destination)
    receipt = run_action(adapter, [target_role], dry_run=False)
    adapter.close()
    (target,) = receipt.targets
    assert target.before == {"verifier_readable": False}
    assert target.status == "ok"
    assert target.after == {"verified": False, "why": "pg_authid is not readable by this user"}
    stored = (tmp_path / f"{target_role}.pw").read_text().strip()
    assert scram_matches(stored, _verifier(pg_dsn, target_role))  # it was changed, all the same


# -- signing-key -----------------------------------------------------------------------------
def test_a_key_file_that_is_not_a_key_fails_its_target(tmp_path: Path) -> None:
    bad = tmp_path / "signing.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    receipt = run_action(SigningKeys(), [str(bad), str(tmp_path / "gone.pem")], dry_run=False)
    failed, missing = receipt.targets
    assert failed.status == "failed" and (failed.reason or "").startswith(f"cannot read {bad}:")
    assert failed.hint == "a PEM Ed25519 key; BREACH_KEY_PASSPHRASE"
    assert (missing.status, missing.reason) == ("missing", f"no key file at {tmp_path}/gone.pem")
    assert receipt.status == "failed" and sorted(p.name for p in tmp_path.iterdir()) == [
        "signing.pem"
    ]


def test_an_encrypted_key_without_its_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No passphrase: the public half beside it identifies the key; without that half the
    target fails, naming the variable to set."""
    monkeypatch.delenv("BREACH_KEY_PASSPHRASE", raising=False)
    keys = generate(tmp_path / "k", passphrase="correct horse")
    private = keys.signing_key.rename(keys.signing_key.with_name("signing.pem"))
    assert keys.signing_pub.name == "signing.pub.pem"  # the public half beside signing.pem
    planned = run_action(SigningKeys(), [str(private)], dry_run=True)
    assert planned.targets[0].before == {
        "keyid": keyid(load_public_key_file(keys.signing_pub)),
        "path": str(private),
    }
    keys.signing_pub.unlink()
    receipt = run_action(SigningKeys(), [str(private)], dry_run=False)
    (target,) = receipt.targets
    assert target.status == "failed"
    assert (
        target.reason == f"cannot read {private}: {private} is encrypted: set BREACH_KEY_PASSPHRASE"
    )


def test_a_new_key_that_cannot_be_written_leaves_the_old_one(tmp_path: Path) -> None:
    keys = generate(tmp_path / "k")
    old = keys.signing_key
    before = old.read_bytes()
    # Every name the new key could take in the next minute is already a folder.
    now = utcnow()
    for second in range(60):
        at = now + timedelta(seconds=second)
        (old.parent / f"{old.name.removesuffix('.pem')}-{at:%Y%m%dT%H%M%SZ}.pem").mkdir()
    receipt = run_action(SigningKeys(), [str(old)], dry_run=False)
    (target,) = receipt.targets
    assert target.status == "failed"
    assert (target.reason or "").startswith(f"cannot write {old.parent}/")
    assert old.read_bytes() == before and not rotation_record(old).exists()
