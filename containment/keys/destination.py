"""Where a new secret goes: only a place the user names, never output, journal or receipt.

    secretsmanager:NAME   a Secrets Manager secret (created if absent, else a new version)
    file:PATH             a file written atomically with mode 0600

`{target}` in NAME or PATH is replaced by the target's name, so one destination serves many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput, StepFailed
from core.fsio import write_text


@dataclass(frozen=True)
class Stored:
    """Where a secret now is (its location and version, never its value)."""

    location: str
    version: str | None = None
    request_id: str | None = None


class Destination:
    def __init__(self, spec: str, account: AwsAccount | None) -> None:
        kind, sep, where = spec.partition(":")
        if not sep or kind not in ("secretsmanager", "file") or not where:
            raise BadInput(
                f"unusable secret destination {spec!r}",
                hint="secretsmanager:NAME or file:PATH ({target} is replaced by the target)",
            )
        self.kind, self.where, self.account = kind, where, account

    def describe(self, target: str) -> str:
        return f"{self.kind}:{self.where.replace('{target}', target)}"

    def store(self, target: str, value: str) -> Stored:
        where = self.where.replace("{target}", target)
        if self.kind == "file":
            try:
                write_text(Path(where), value + "\n", perms=0o600)
            except OSError as exc:  # e.g. a file where a folder of the path should be
                raise StepFailed(f"cannot write {where}: {exc.strerror or exc}") from None
            return Stored(f"file:{where}")
        return self._store_secret(where, value)

    def _store_secret(self, name: str, value: str) -> Stored:
        client = self._client()
        assert self.account is not None
        with self.account.calls(what="store the new secret"):
            try:
                got = client.put_secret_value(SecretId=name, SecretString=value)
            except client.exceptions.ResourceNotFoundException:
                got = client.create_secret(Name=name, SecretString=value)
        rid = got.get("ResponseMetadata", {}).get("RequestId")
        return Stored(f"secretsmanager:{got['ARN']}", got.get("VersionId"), rid)

    def fetch(self, target: str) -> tuple[str, datetime] | None:
        """The stored value and when it was written, or None when there is none yet."""
        where = self.where.replace("{target}", target)
        if self.kind == "file":
            path = Path(where)
            if not path.is_file():
                return None
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return path.read_text(encoding="utf-8").rstrip("\n"), written
        client = self._client()
        assert self.account is not None
        try:
            with self.account.calls(what="read the stored secret"):
                try:
                    got = client.get_secret_value(SecretId=where)
                except client.exceptions.ResourceNotFoundException:
                    return None
        except AwsCallFailed:
            return None
        return str(got.get("SecretString", "")), got["CreatedDate"]

    def _client(self) -> Any:
        if self.account is None:
            raise BadInput("a secretsmanager: destination needs AWS settings")
        return self.account.client("secretsmanager")
