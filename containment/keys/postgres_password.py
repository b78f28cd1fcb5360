"""Rotate PostgreSQL role passwords.

The new password is random, stored first at the destination the user names (Secrets Manager or
a 0600 file), then set with `ALTER ROLE ... PASSWORD` carrying a SCRAM-SHA-256 verifier computed
client-side (libpq's PQencryptPasswordConn), so the plain password never reaches the server's
statement log. The read-back checks the password against the role's stored verifier (pg_authid,
readable by superusers). A destination written after `since` whose password already matches the
role's verifier means nothing to do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from containment.base import PgAdapter, done_since
from containment.interface import Action, TargetResult
from containment.keys.destination import Destination
from containment.keys.interface import ACTION
from core.errors import BreachError


def scram_matches(password: str, verifier: str | None) -> bool:
    """Does `password` produce this `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey` verifier?"""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        _, params, keys = verifier.split("$")
        iterations, salt = params.split(":")
        stored_key = base64.b64decode(keys.split(":")[0])
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


class PostgresPasswords(PgAdapter):
    name: ClassVar[str] = "postgres-password"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "role"
    target_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.errors.InsufficientPrivilege,)
    privilege_hint: ClassVar[str | None] = "needs CREATEROLE"
    unreadable: ClassVar[str] = "could not read the role's verifier back"

    def __init__(self, dsn: str, destination: Destination) -> None:
        super().__init__(dsn)
        self.destination = destination

    def settings(self) -> dict[str, Any]:
        return {
            "secret_destination": self.destination.describe("{target}"),
            "method": "scram-sha-256",
        }

    def _verifier(self, role: str) -> tuple[bool, str | None]:
        """(role exists, its stored verifier or None when unreadable or unset)."""
        import psycopg

        if not self.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
            return False, None
        try:
            rows = self.query("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        except psycopg.errors.InsufficientPrivilege:
            return True, None
        return True, (rows[0][0] if rows else None)

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        exists, verifier = self._verifier(target.name)
        where = self.destination.describe(target.name)
        if not exists:
            target.status, target.reason = "missing", f"no role {target.name}"
        else:
            target.before = {"verifier_readable": verifier is not None}
            if self._already_rotated(target.name, verifier, since):
                target.status, target.change = "noop", f"{where} already holds the current password"
            else:
                target.change = f"new password, stored at {where}"

    def _already_rotated(self, role: str, verifier: str | None, since: datetime) -> bool:
        try:
            stored = self.destination.fetch(role)
        except BreachError:
            return False
        return (
            stored is not None
            and done_since(stored[1], since)
            and scram_matches(stored[0], verifier)
        )

    def apply_one(self, target: TargetResult) -> None:
        password = secrets.token_urlsafe(32)
        try:
            stored = self.destination.store(target.name, password)
        except BreachError as exc:
            target.fail(f"could not store the new password: {exc.message}", exc.hint)
            return
        if stored.request_id:
            target.request_ids.append(stored.request_id)
        verifier = self.conn.pgconn.encrypt_password(
            password.encode(), target.name.encode(), b"scram-sha-256"
        ).decode()
        self.query(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(target.name), sql.Literal(verifier)
            )
        )
        target.count = 1
        target.change = f"password changed; stored at {stored.location}"
        target.work = {"password": password, "stored": stored.location}

    def verify_one(self, target: TargetResult) -> None:
        _, verifier = self._verifier(target.name)
        if verifier is None:
            target.after = {"verified": False, "why": "pg_authid is not readable by this user"}
            return
        matches = scram_matches(target.work["password"], verifier)
        target.after = {"password_matches_destination": matches, "stored_at": target.work["stored"]}
        target.work = None  # drop the password as soon as it is checked
        if not matches:
            target.fail("the role's stored verifier does not match the new password")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        return (
            "none: the old password is not kept; give the application the new one from "
            + ", ".join(self.destination.describe(t.name) for t in results)
        )
