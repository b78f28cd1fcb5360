"""Secrets never leave the process (issue 9).

A real PostgreSQL role gets a password holding `#`, `?`, `@`, quotes, a backslash and a space
(`ALTER ROLE ... PASSWORD`). The case is worked through the real commands (export, snapshot,
revoke sessions, disable an account, seal, and two failing commands) with that password in a
URL, a key/value DSN, a multi-host URL and PGPASSWORD. Then every byte of the case and of the
bundle (the journal, case.json, sidecars, receipts, the custody log, the base64-decoded DSSE
statement, the decrypted artifacts) and every stdout and stderr is searched for any piece of it.

Private keys: a key passed where a recipient was expected is refused without a byte of it on
stderr; key files open to group or others are refused, naming `chmod 600`.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.timeutil import rfc3339, utcnow
from manifests.keys import GeneratedKeys, generate

pytestmark = [pytest.mark.pg]

# Eight-character pieces: any one of them found anywhere is a leak, however the rest was
# escaped, quoted or percent-encoded around it.
PIECES = [f"Tok3n{c * 3}" for c in "ABCDEFGH"]
PASSWORD = "Tok3nAAA#Tok3nBBB?Tok3nCCC@Tok3nDDD'Tok3nEEE\"Tok3nFFF\\Tok3nGGG Tok3nHHH"

SETUP = """
create table audit_log(id serial primary key, at timestamptz not null, actor text,
    source_ip inet, action text);
insert into audit_log(at, actor, source_ip, action)
select now() - interval '1 hour' + g * interval '1 second', 'svc-leaked', '203.0.113.7', 'SELECT'
from generate_series(1, 20) g;
create table users(id text primary key, email text);
insert into users values ('u1', 'a@example.com'), ('u2', 'b@example.com');
create table sessions(user_id text, token text, expires_at timestamptz);
insert into sessions select 'svc-leaked', md5(g::text), now() + interval '1 day'
from generate_series(1, 3) g;
"""


@pytest.fixture
def secret_role(pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A login role whose password holds every character a pattern-based redactor trips on,
    and a victim role to disable. Yields (role, victim)."""
    role, victim = f"bk_sec_{uuid.uuid4().hex[:8]}", f"bk_victim_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(PASSWORD)
            )
        )
        conn.execute(f'CREATE ROLE "{victim}" LOGIN')
        conn.execute(SETUP)
    yield role, victim
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in (role, victim):
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def dsn_forms(pg_dsn: str, role: str) -> dict[str, tuple[str, dict[str, str]]]:
    """{form: (DSN, extra environment)} with the password in it (or in PGPASSWORD)."""
    params = conninfo_to_dict(pg_dsn)
    host, port, db = params.get("host", "127.0.0.1"), params.get("port", "5432"), params["dbname"]
    secret = quote(PASSWORD, safe="")
    at = quote(host, safe="")  # a socket folder (the embedded server) is percent-encoded in a URL
    return {
        "url": (f"postgresql://{role}:{secret}@{at}:{port}/{db}", {}),
        "key/value": (
            make_conninfo(host=host, port=port, dbname=db, user=role, password=PASSWORD),
            {},
        ),
        "multi-host url": (f"postgresql://{role}:{secret}@{at}:{port},localhost:{port}/{db}", {}),
        "PGPASSWORD": (f"postgresql://{role}@{at}:{port}/{db}", {"PGPASSWORD": PASSWORD}),
    }


def leaks(data: bytes) -> list[str]:
    return [piece for piece in PIECES if piece.encode() in data]


def everything_in(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes under root, and each DSSE statement decoded from base64."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            yield str(path.relative_to(root)), data
            if path.name == "statement.dsse.json":
                yield f"{path} (decoded statement)", base64.b64decode(json.loads(data)["payload"])


@pytest.mark.parametrize("form", ["url", "key/value", "multi-host url", "PGPASSWORD"])
def test_no_piece_of_a_dsn_password_is_written_or_printed(
    breach: Any,
    pg_dsn: str,
    secret_role: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    role, victim = secret_role
    dsn, env = dsn_forms(pg_dsn, role)[form]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    keys = generate(tmp_path / "keys")
    root = tmp_path / "INC-SEC"
    now = utcnow()
    window = ("--since", rfc3339(now - timedelta(hours=2)), "--until", rfc3339(now))
    unreachable = dsn.replace(f":{conninfo_to_dict(pg_dsn).get('port', '5432')}", ":1", 1)
    printed: list[tuple[str, Any]] = []

    def run(*args: Any, ok: bool = True) -> None:
        result = breach(*args)
        printed.append((" ".join(str(a) for a in args[:3]), result))
        assert (result.exit_code == 0) == ok, (args, result.stdout, result.stderr)

    run(
        "incident",
        "open",
        "--id",
        "INC-SEC",
        "--severity",
        "P2",
        "--title",
        "t",
        "--case-dir",
        root,
    )
    run("evidence", "export-audit", "--case", root, "--dsn", dsn, "--table", "public.audit_log",
        "--time-column", "at", *window)  # fmt: skip
    run("evidence", "snapshot", "--case", root, "--dsn", dsn, "--table", "public.users")
    run("contain", "revoke-sessions", "--case", root, "--adapter", "postgres", "--dsn", dsn,
        "--target", "svc-leaked", "--reason", "leaked key")  # fmt: skip
    run("contain", "disable-accounts", "--case", root, "--adapter", "postgres-role", "--dsn", dsn,
        "--target", victim, "--reason", "attacker's account")  # fmt: skip
    # Failures speak of the DSN too: a missing table, a server that is not there.
    run("evidence", "snapshot", "--case", root, "--dsn", dsn, "--table", "public.nope", ok=False)
    run("evidence", "export-audit", "--case", root, "--dsn", unreachable, "--table",
        "public.audit_log", "--time-column", "at", *window, ok=False)  # fmt: skip
    run("seal", "--case", root, "-r", keys.age_recipient, "--signing-key", keys.signing_key)

    [bundle] = (root / "bundles").iterdir()
    from manifests.decrypt import decrypt_bundle
    from manifests.keys import load_identities

    decrypt_bundle(bundle, load_identities(keys.age_identity), tmp_path / "plain")
    searched = list(everything_in(root)) + list(everything_in(tmp_path / "plain"))
    assert any(name.endswith("journal.jsonl") for name, _ in searched)
    assert any("receipts" in name for name, _ in searched)
    assert any(name.endswith(".meta.json") for name, _ in searched)
    assert any("decoded statement" in name for name, _ in searched)
    found = {name: leaks(data) for name, data in searched if leaks(data)}
    found |= {
        f"{what}: {stream}": leaks(text.encode())
        for what, result in printed
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr))
        if leaks(text.encode())
    }
    assert found == {}
    # The search itself finds the password where it is: the DSN the commands were given.
    assert leaks((dsn + json.dumps(env)).encode()) == PIECES


# -- private keys --------------------------------------------------------------------------
def _secret_lines(path: Path) -> list[str]:
    """The key file's secret lines (not the comments or PEM armour)."""
    return [
        ln.strip()
        for ln in path.read_text().splitlines()
        if ln.strip() and not ln.startswith(("#", "-----"))
    ]


def _secret_parts(path: Path) -> list[str]:
    """Every 8-character run of the key's secret lines: none may be shown."""
    return [line[i : i + 8] for line in _secret_lines(path) for i in range(0, len(line) - 7)]


@pytest.mark.parametrize("which", ["age identity", "signing key"])
def test_a_private_key_passed_as_a_recipient_is_refused_unseen(
    breach: Any, tmp_path: Path, which: str
) -> None:
    keys = generate(tmp_path / "keys")
    private = keys.age_identity if which == "age identity" else keys.signing_key
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("evidence\n")
    # The file, and its secret line typed as a recipient.
    for recipient in (str(private), _secret_lines(private)[0]):
        result = breach(
            "seal", source, "--out", tmp_path / "b", "--incident", "I", "-r", recipient,
            "--signing-key", keys.signing_key,
        )  # fmt: skip
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
        if recipient == str(private):
            assert f"recipients file {private} holds a private key" in result.stderr
        shown = [part for part in _secret_parts(private) if part in result.stderr + result.stdout]
        assert shown == []
        assert not (tmp_path / "b").exists()


def test_recipients_files_are_read_once(keys_dir: GeneratedKeys, tmp_path: Path) -> None:
    """The names signed into the statement and the keys encrypted to come from one reading."""
    from manifests.keys import resolve_recipients

    listed = tmp_path / "recipients.txt"
    listed.write_text(f"# legal\n{keys_dir.recipient}\n")
    reads: list[Path] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "read_bytes", counting)
        names, recipients = resolve_recipients([str(listed)])
    assert names == [keys_dir.recipient] and len(recipients) == 1
    assert reads.count(listed) == 1


@pytest.fixture
def keys_dir(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "k")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
@pytest.mark.parametrize("which", ["signing key", "age identity"])
def test_private_keys_open_to_others_are_refused(
    breach: Any, keys_dir: GeneratedKeys, tmp_path: Path, mode: int, which: str
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("evidence\n")
    out = tmp_path / "b"
    sealed = breach(
        "seal", source, "--out", out, "--incident", "I", "-r", keys_dir.recipient,
        "--signing-key", keys_dir.signing_key,
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    private = keys_dir.signing_key if which == "signing key" else keys_dir.age_identity
    os.chmod(private, mode)
    result = breach(
        "decrypt", out, "-i", keys_dir.age_identity, "--out", tmp_path / "plain",
        "--signing-key", keys_dir.signing_key, "--pubkey", keys_dir.signing_pub,
    )  # fmt: skip
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    what = "signing key" if which == "signing key" else "identity"
    assert f"{what} {private} is open to group or others (mode {mode:04o})" in result.stderr
    assert f"chmod 600 {private}" in result.stderr
    assert not (tmp_path / "plain").exists()
    os.chmod(private, 0o600)
    result = breach(
        "decrypt", out, "-i", keys_dir.age_identity, "--out", tmp_path / "plain",
        "--signing-key", keys_dir.signing_key, "--pubkey", keys_dir.signing_pub,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def test_keys_generate_makes_its_folder_0700(breach: Any, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "keys"
    result = breach("keys", "generate", "--out", folder)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("signing.key.pem", "age.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
