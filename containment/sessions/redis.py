"""Revoke sessions kept in Redis, found by key pattern or by a per-user index set.

- pattern: `session:{user}:*` finds a user's keys with one SCAN pass over the keyspace (never KEYS,
  which blocks the server); `{user}` marks where the user id sits in the key name.
- index: `user_sessions:{user}` is a set whose members are the user's session keys (with an
  optional `key_prefix` in front); the index set is removed with them.

Keys are deleted with UNLINK (freed in the background), many per command and many commands per
pipeline. Key names may embed tokens, so receipts hold counts only. Before the UNLINK, each key's
type, time to live and value are staged as volatile evidence when the adapter has a `capture`
sink (containment.volatile): key names, set and list members and opaque strings as SHA-256 only,
hashes and JSON strings field by field (token-like fields hashed).
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from containment.base import AdapterBase, redis_connect
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION, NEW_SESSIONS_HINT, UNDO
from containment.volatile import is_secret, scrub, sha256_text, stage_capture
from core.errors import BadInput, StepFailed
from core.faults import point
from core.redact import redact_url

USER = "{user}"
PIPELINE_DEPTH = 10  # UNLINK commands sent per round trip


class RedisSessions(AdapterBase):
    name: ClassVar[str] = "redis"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"
    unit: ClassVar[str] = "sessions"
    reads_back_after_a_cut: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        *,
        pattern: str | None = None,
        index_key: str | None = None,
        key_prefix: str = "",
        batch_size: int = 1000,
    ) -> None:
        if pattern and index_key:
            raise BadInput("give either a key pattern or an index key, not both")
        template = index_key or pattern or "session:{user}:*"
        if USER not in template:
            raise BadInput(
                f"{template!r} does not say where the user id goes",
                hint="put {user} in it, e.g. session:{user}:* or user_sessions:{user}",
            )
        self.url = url
        self.mode: Literal["pattern", "index"] = "index" if index_key else "pattern"
        self.template = template
        self.key_prefix = key_prefix
        self.batch_size = max(1, batch_size)
        self.round_trips = 0
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = redis_connect(self.url)
        return self._client

    def system(self) -> str:
        return f"redis {redact_url(self.url)}"

    def operator(self) -> str:
        import redis

        self.round_trips += 1
        try:
            who = _text(self.client.execute_command("ACL WHOAMI"))
        except redis.ResponseError:  # Redis before 6 has no ACLs: everyone is `default`
            who = "default"
        except redis.RedisError as exc:
            raise StepFailed(f"Redis at {redact_url(self.url)}: {redis_error(exc)}") from None
        return f"{who} (redis user)"

    def settings(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "template": self.template,
            "key_prefix": self.key_prefix,
            "batch_size": self.batch_size,
        }

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import redis

        try:
            yield
        except redis.RedisError as exc:
            raise StepFailed(f"Redis at {redact_url(self.url)}: {redis_error(exc)}") from None

    # -- plan ------------------------------------------------------------------------------
    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        with self._errors():
            found = self._index_keys(targets) if self.mode == "index" else self._scan(targets)
        results = []
        for name in targets:
            keys = found.get(name, [])
            target = TargetResult(name=name, status="planned" if keys else "noop", work=keys)
            sessions = sum(1 for k in keys if k != self._index_name(name))
            target.before = {"sessions": sessions}
            target.count = sessions
            target.change = f"unlink {sessions}" if keys else "no sessions"
            results.append(target)
        return results

    def _index_name(self, user: str) -> str:
        return self.template.replace(USER, user) if self.mode == "index" else ""

    def _scan(self, users: Sequence[str]) -> dict[str, list[str]]:
        """One SCAN pass; each key is matched back to the user it belongs to."""
        match = self.template.replace(USER, "*")
        owner = _owner_finder(self.template, set(users))
        found: dict[str, list[str]] = {}
        cursor = 0
        while True:
            self.round_trips += 1
            cursor, keys = self.client.scan(cursor, match=match, count=1000)
            for raw in keys:
                key = _text(raw)
                user = owner(key)
                if user is not None:
                    found.setdefault(user, []).append(key)
            if cursor == 0:
                return found

    def _index_keys(self, users: Sequence[str]) -> dict[str, list[str]]:
        """Members of each user's index set that still exist, plus the set itself."""
        found: dict[str, list[str]] = {}
        for batch in _chunks(users, self.batch_size):
            members = self._pipeline([("smembers", (self._index_name(u),)) for u in batch])
            for user, keys in zip(batch, members, strict=True):
                names = sorted(self.key_prefix + _text(k) for k in keys)
                if names:
                    found[user] = names
        live = self._exists_each([k for keys in found.values() for k in keys])
        return {
            user: [k for k in keys if live[k]] + [self._index_name(user)]
            for user, keys in found.items()
        }

    def _exists_each(self, keys: Sequence[str]) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for batch in _chunks(keys, self.batch_size):
            answers = self._pipeline([("exists", (k,)) for k in batch])
            flags.update({k: bool(n) for k, n in zip(batch, answers, strict=True)})
        return flags

    def _pipeline(self, commands: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command, args in commands:
            getattr(pipe, command)(*args)
        self.round_trips += 1
        return list(pipe.execute())

    # -- apply and verify ------------------------------------------------------------------
    def apply(self, planned: list[TargetResult]) -> None:
        """UNLINK `batch_size` keys per command, PIPELINE_DEPTH commands per round trip.

        Keys of many users share a command; each user's count is what the plan found, and the
        read-back in `verify` proves none is left."""
        keys = [k for t in planned for k in t.work]
        commands = [("unlink", tuple(batch)) for batch in _chunks(keys, self.batch_size)]
        with self._errors():
            self.capture_values(planned)  # volatile evidence first: the values about to go
            for start in range(0, len(commands), PIPELINE_DEPTH):
                point("contain.apply.batch")
                self._pipeline(commands[start : start + PIPELINE_DEPTH])
        for target in planned:
            target.status = "ok"
            target.change = f"unlinked {target.count}"

    def verify(self, done: list[TargetResult]) -> None:
        with self._errors():
            if self.mode == "pattern":
                left = self._scan([t.name for t in done])
            else:
                keys = [k for t in done for k in t.work]
                live = self._exists_each(keys)
                left = {t.name: [k for k in t.work if live[k]] for t in done}
        for target in done:
            remaining = len(left.get(target.name, []))
            target.after = {"sessions": remaining}
            if remaining:
                target.fail(f"{remaining} session keys remain after UNLINK", NEW_SESSIONS_HINT)

    def undo(self, results: Sequence[TargetResult]) -> str:
        return UNDO

    # -- volatile evidence -----------------------------------------------------------------
    def capture_values(self, planned: list[TargetResult]) -> None:
        """Stage each key's type, TTL and value (secrets hashed); each target's `captured`."""
        if self.capture is None or not planned:
            return
        owned = [(t.name, key) for t in planned for key in t.work]
        keys = [key for _, key in owned]
        kinds: list[str] = []
        ttls: list[Any] = []
        for batch in _chunks(keys, self.batch_size):
            answers = self._pipeline([(c, (k,)) for k in batch for c in ("type", "pttl")])
            kinds += [_text(kind) for kind in answers[0::2]]
            ttls += answers[1::2]
        values = self._values(list(zip(keys, kinds, strict=True)))
        records, hashed = [], {"key"}
        for (user, key), kind, ttl, value in zip(owned, kinds, ttls, values, strict=True):
            record: dict[str, Any] = {"user_id": user, "key_sha256": sha256_text(key)}
            record["type"] = kind
            record["ttl_ms"] = ttl if isinstance(ttl, int) and ttl >= 0 else None
            record.update(_scrub_value(kind, value, hashed))
            records.append(record)
        stage_capture(self, f"session keys ({self.mode} {self.template})", records, hashed)
        for target in planned:
            target.captured = len(target.work)

    def _values(self, keys: list[tuple[str, str]]) -> list[Any]:
        reads = {
            "string": ("get", ()),
            "hash": ("hgetall", ()),
            "set": ("smembers", ()),
            "list": ("lrange", (0, -1)),
            "zset": ("zrange", (0, -1, False, True)),
        }
        values: list[Any] = []
        for batch in _chunks(keys, self.batch_size):
            known = [(key, reads[kind]) for key, kind in batch if kind in reads]
            answers = iter(self._pipeline([(cmd, (key, *args)) for key, (cmd, args) in known]))
            values += [next(answers) if kind in reads else None for _, kind in batch]
        return values


def _scrub_value(kind: str, value: Any, hashed: set[str]) -> dict[str, Any]:
    """A Redis value for the evidence: fields named like secrets, members and opaque strings
    as SHA-256 (their names are added to `hashed`)."""
    if kind == "hash":
        fields = {_text(k): _text(v) for k, v in value.items()}
        hashed.update(f"value.{k}" for k in fields if is_secret(k))
        return {"value": scrub(fields)}
    if kind in ("set", "list"):
        hashed.add("members")
        return {"members_sha256": sorted(sha256_text(_text(m)) or "" for m in value)}
    if kind == "zset":
        hashed.add("members")
        return {"members": [{"sha256": sha256_text(_text(m)), "score": s} for m, s in value]}
    if kind == "string" and value is not None:
        return _scrub_string(_text(value), hashed)
    return {"value": None}  # a stream or module type: its type and TTL only


def _scrub_string(text: str, hashed: set[str]) -> dict[str, Any]:
    import json

    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):  # a JSON session: kept field by field
        hashed.update(f"value.{k}" for k in parsed if is_secret(str(k)))
        return {"value": scrub({str(k): v for k, v in parsed.items()})}
    hashed.add("value")  # opaque: it may be the token itself
    return {"value_sha256": sha256_text(text), "value_length": len(text)}


def _owner_finder(template: str, users: set[str]) -> Callable[[str], str | None]:
    """A function key -> user id (one of `users`) or None, for a `{user}` template with globs."""
    head, _, tail = template.partition(USER)
    head_re = re.compile(_glob_prefix(head))
    tail_re = re.compile(fnmatch.translate(tail))
    lengths = sorted({len(u) for u in users})
    # Fast path for the usual shape `prefix:{user}:*`: the user ends at the first separator.
    separator = tail[0] if tail and tail[0] not in "*?[" else None

    def owner(key: str) -> str | None:
        matched = head_re.match(key)
        if matched is None:
            return None
        rest = key[matched.end() :]
        if separator is not None:
            guess = rest.split(separator, 1)[0]
            if guess in users and tail_re.match(rest[len(guess) :]):
                return guess
        for size in lengths:
            if rest[:size] in users and tail_re.match(rest[size:]):
                return rest[:size]
        return None

    return owner


def _glob_prefix(glob: str) -> str:
    """A regex matching the start of a key against a glob (no end anchor)."""
    out = []
    for char in glob:
        out.append({"*": ".*?", "?": "."}.get(char, re.escape(char)))
    return "".join(out)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


PIPELINE_ERROR = re.compile(r"Command # (\d+) \(.*\) of pipeline caused error: ", re.DOTALL)


def redis_error(exc: Exception) -> str:
    """The error without the failing command: its arguments are session keys (bearer tokens)."""
    return PIPELINE_ERROR.sub(r"pipelined command #\1 failed: ", str(exc))
