"""The records that pass between packages, as one set of pydantic models.

Producers build them and consumers read them with the same class, so a field renamed on one side
breaks a type check, not a regulator notice. Every record is written to disk with
`model_dump(mode="json")` (times as RFC 3339 with Z) and read back with `model_validate`.

    JournalEntry          one step of a case's timeline (breach.case)
    ArtifactMeta          an artifact's sidecar (evidence collectors, notify, breach)
    ScopeRecord           what the indicators touched (evidence.scope -> case.json -> notify)
    TargetResult,
    ContainmentReceipt    one containment action (containment -> receipts/ -> notify)
    Backend               a database connection a containment ended, as it was just before
    CapturedArtifact      session rows or values staged before containment deleted them
    NotificationReceipt   one notice sent (notify -> receipts/)
    NotificationDecision  a decision not to notify, with its reason (notify -> receipts/)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.models import UtcDatetime

Action = Literal["revoke-sessions", "disable-accounts", "rotate-keys", "block"]
ACTIONS: tuple[Action, ...] = ("revoke-sessions", "disable-accounts", "rotate-keys", "block")

# One target: planned (dry run), ok (changed and read back), noop (nothing to do),
# failed (an error, or the read-back disagreed), missing (no such user/key/role).
TargetStatus = Literal["planned", "ok", "noop", "failed", "missing"]
ReceiptStatus = Literal["ok", "partial", "failed", "noop", "planned"]

CONTAINMENT = "containment"
NOTIFICATION = "notification"
DECISION = "notification-decision"


class JournalEntry(BaseModel):
    """One step of the timeline: what, who, when (UTC), where, why, result."""

    model_config = ConfigDict(extra="allow")  # the chain's own fields: seq, prev

    at: UtcDatetime
    who: str
    what: str
    result: str = "ok"
    where: str | None = None
    why: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Collector(BaseModel):
    name: str
    version: str


class ArtifactMeta(BaseModel):
    """A staged artifact's sidecar: its media type, where its bytes came from, who collected it."""

    model_config = ConfigDict(extra="allow")

    media_type: str
    source: dict[str, Any] = Field(default_factory=dict)
    collector: Collector | None = None


class ScopeRecord(BaseModel):
    """What the indicators touched: the counts case.json keeps and notices and containment read."""

    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    principals: list[str] = Field(default_factory=list)
    source_ips: list[str] = Field(default_factory=list)
    actions: dict[str, int] = Field(default_factory=dict)
    tables: dict[str, int] = Field(default_factory=dict)
    records_touched: int | None = None
    affected_users: int | None = None
    affected_users_artifact: str | None = None
    # When the attacker was active: the first and last matching event (not the searched window).
    first_seen: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None
    # The columns of each touched table, from its snapshot (what kinds of data were exposed).
    columns: dict[str, list[str]] = Field(default_factory=dict)
    # What the evidence cannot count, and why: affected_users / records_touched -> reason.
    # A count named here is a lower bound (or None: nothing countable), never a true zero.
    uncounted: dict[str, str] = Field(default_factory=dict)


class Backend(BaseModel):
    """A PostgreSQL backend as pg_stat_activity showed it just before it was terminated: the
    attacker's live connection is volatile evidence that termination destroys."""

    pid: int
    user: str | None = None
    client_addr: str | None = Field(default=None, description="None: a Unix socket")
    client_port: int | None = None
    application_name: str | None = None
    backend_start: UtcDatetime | None = None
    query_start: UtcDatetime | None = None
    state: str | None = Field(default=None, description="active, idle, idle in transaction...")
    query: str | None = Field(
        default=None, description="current (or last) statement; None when withheld"
    )
    query_sha256: str | None = None
    query_withheld: str | None = Field(
        default=None, description="why the text is not kept (it may hold a password)"
    )


class CapturedArtifact(BaseModel):
    """Rows or values staged as evidence before an action deleted them (secrets as hashes)."""

    artifact: str = Field(description="the staged artifact, relative to the case's staging/")
    records: int
    hashed: list[str] = Field(
        default_factory=list, description="fields kept only as SHA-256 (tokens, keys)"
    )


class TargetResult(BaseModel):
    """One target's story: what it was, what was (or would be) done, what it is now."""

    name: str
    status: TargetStatus
    change: str = Field(default="", description="what was (or would be) done, in words")
    count: int = Field(default=0, description="how many things changed: sessions, keys, rules")
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    hint: str | None = None
    request_ids: list[str] = Field(default_factory=list)
    backends: list[Backend] = Field(
        default_factory=list, description="connections terminated, as they were just before"
    )
    captured: int | None = Field(
        default=None, description="rows or keys staged as evidence before they were deleted"
    )
    # Adapter-private working data carried from plan to apply (never serialized).
    work: Any = Field(default=None, exclude=True)

    def fail(self, reason: str, hint: str | None = None) -> TargetResult:
        self.status = "failed"
        self.reason = reason
        self.hint = hint
        return self


class ContainmentReceipt(BaseModel):
    """The evidence of one containment action (the JSON the post-mortem reads)."""

    kind: Literal["containment"] = "containment"
    action: Action
    adapter: str
    status: ReceiptStatus
    summary: str
    dry_run: bool
    system: str
    operator: str
    started_at: UtcDatetime
    finished_at: UtcDatetime
    targets: list[TargetResult]
    undo: str
    counts: dict[str, int] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="non-secret options the adapter ran with"
    )
    captured: list[CapturedArtifact] = Field(
        default_factory=list, description="what was staged before it was deleted"
    )
    run: str | None = Field(default=None, description="the run id its journaled intent names")
    reconciled: bool = Field(
        default=False,
        description="made after an interrupted run, from the state read back: what it did",
    )

    @property
    def failed(self) -> list[TargetResult]:
        return [t for t in self.targets if t.status in ("failed", "missing")]

    @property
    def changed_something(self) -> bool:
        """Applied and effective: not a dry-run plan, not a no-op, not a wholly failed attempt."""
        return self.status in ("ok", "partial") and not self.dry_run


class NotificationReceipt(BaseModel):
    """Who was told what, when, through which channel: counts, hashes and ids, never addresses."""

    kind: Literal["notification"] = "notification"
    case: str
    notice: str
    channel: str
    destination: str
    status: str
    recipients: int = 0
    message_sha256: str
    provider_message_id: str | None = None
    sent_at: UtcDatetime | None = None
    attempts: int = 0
    errors: list[str] = Field(default_factory=list)
    obligation: str | None = None
    obligations: list[str] = Field(default_factory=list)
    recorded_at: UtcDatetime
    # a single message
    recipients_intended: int | None = None
    provider_response: Any = None
    # one mail each to a list of recipients
    mode: Literal["single", "bulk"] = "single"
    recipients_total: int | None = None
    recipients_failed: int | None = None
    sent_this_run: int | None = None
    resumed_from: int | None = None
    deliveries: str | None = None
    recipients_in_doubt: int | None = Field(
        default=None, description="sends started and never recorded (the server may have them)"
    )
    run: str | None = Field(default=None, description="the run id its journaled intent names")


class NotificationDecision(BaseModel):
    """A decision not to notify an obligation, with its reason (GDPR Art. 33(5))."""

    kind: Literal["notification-decision"] = "notification-decision"
    obligation: str
    obligations: list[str]
    decision: Literal["not-notified"] = "not-notified"
    reason: str
    decided_by: str
    decided_at: UtcDatetime
