"""What every containment adapter promises, and the records it returns.

An action runs in three steps, each a method of the adapter:

    plan(targets)   read-only calls: what is there now, what would change (a `Plan`)
    apply(plan)     change exactly the targets the plan marked `planned`
    verify(results) read the state back and record it as each target's `after`

`containment.run.run_action` drives the three steps and turns the outcome into a `Receipt`, the
record the post-mortem and the regulator notice read. A receipt never holds a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from manifests.models import UtcDatetime

Action = Literal["revoke-sessions", "disable-accounts", "rotate-keys", "block"]
ACTIONS: tuple[Action, ...] = ("revoke-sessions", "disable-accounts", "rotate-keys", "block")

# One target: planned (dry run), ok (changed and read back), noop (nothing to do),
# failed (an error, or the read-back disagreed), missing (no such user/key/role).
TargetStatus = Literal["planned", "ok", "noop", "failed", "missing"]
ReceiptStatus = Literal["ok", "partial", "failed", "noop", "planned"]


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
    # Adapter-private working data carried from plan to apply (never serialized).
    work: Any = Field(default=None, exclude=True)

    def fail(self, reason: str, hint: str | None = None) -> TargetResult:
        self.status = "failed"
        self.reason = reason
        self.hint = hint
        return self


class Plan(BaseModel):
    """The outcome of the read-only step: one entry per requested target."""

    action: Action
    adapter: str
    system: str = Field(description="where the adapter acts, credentials redacted")
    operator: str
    created_at: UtcDatetime
    since: UtcDatetime = Field(description="work done after this counts as done")
    targets: list[TargetResult]

    @property
    def planned(self) -> list[TargetResult]:
        return [t for t in self.targets if t.status == "planned"]


class Receipt(BaseModel):
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

    @property
    def failed(self) -> list[TargetResult]:
        return [t for t in self.targets if t.status in ("failed", "missing")]


@runtime_checkable
class ContainmentAdapter(Protocol):
    """One system that an action acts on. Each kind's interface narrows `action`."""

    name: ClassVar[str]
    action: ClassVar[Action]
    noun: ClassVar[str]  # what a target is: "user", "role", "key", "CIDR"
    unit: ClassVar[str]  # what `count` counts: "sessions", "access keys", "rules"

    def system(self) -> str:
        """Where this adapter acts (host, database, account, region), without secrets."""

    def operator(self) -> str:
        """Who acts: the AWS caller identity, the database user, or the OS user."""

    def settings(self) -> dict[str, Any]:
        """The non-secret options, for the receipt."""

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        """Read-only: each target as `planned`, `noop`, `missing` or `failed`.

        `since` is the moment after which work already done counts (a key rotated after the
        case was opened needs no second rotation).
        """

    def apply(self, planned: list[TargetResult]) -> None:
        """Change the planned targets in place: status `ok` with request ids, or `failed`."""

    def verify(self, done: list[TargetResult]) -> None:
        """Read back each changed target into `after`; fail it when the state disagrees."""

    def undo(self, results: Sequence[TargetResult]) -> str:
        """The step that undoes what was done (a command or SQL, never a secret)."""

    def close(self) -> None:
        """Release connections."""
