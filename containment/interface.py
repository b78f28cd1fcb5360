"""What every containment adapter promises, and the records it returns.

An action runs in three steps, each a method of the adapter:

    plan(targets)   read-only calls: what is there now, what would change (a `Plan`)
    apply(plan)     change exactly the targets the plan marked `planned`
    verify(results) read the state back and record it as each target's `after`

`containment.run.run_action` drives the three steps and turns the outcome into a
`ContainmentReceipt`, the
record the post-mortem and the regulator notice read. A receipt never holds a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from containment.volatile import Sink
from core.models import UtcDatetime
from core.records import (
    ACTIONS,
    Action,
    ContainmentReceipt,
    ReceiptStatus,
    TargetResult,
    TargetStatus,
)

__all__ = [
    "ACTIONS",
    "Action",
    "ContainmentAdapter",
    "ContainmentReceipt",
    "Plan",
    "ReceiptStatus",
    "TargetResult",
    "TargetStatus",
]


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


@runtime_checkable
class ContainmentAdapter(Protocol):
    """One system that an action acts on. Each kind's interface narrows `action`."""

    name: ClassVar[str]
    action: ClassVar[Action]
    noun: ClassVar[str]  # what a target is: "user", "role", "key", "CIDR"
    unit: ClassVar[str]  # what `count` counts: "sessions", "access keys", "rules"
    capture: Sink | None  # where what an action deletes is staged first (volatile evidence)

    def system(self) -> str:
        """Where this adapter acts (host, database, account, region), without secrets."""

    def operator(self) -> str:
        """Who acts: the AWS caller identity, the database user, or the OS user."""

    def settings(self) -> dict[str, Any]:
        """The non-secret options, for the receipt."""

    def target_tables(self) -> list[str]:
        """The database tables (schema.table) the action changes; none for other systems."""

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
