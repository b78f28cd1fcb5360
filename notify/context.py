"""What notify needs to know about an incident, as plain data.

The CLI builds this from the case folder (case.json, its `scope`, receipts, the journal) and
passes it in; notify never reads a case folder itself. Every part but the case is optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.models import UtcDatetime
from core.timeutil import parse_rfc3339
from notify.policy import Severity


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CaseInfo(_Open):
    id: str
    title: str = ""
    severity: Severity
    status: str = "open"
    aware_at: UtcDatetime
    detected_at: UtcDatetime | None = None
    opened_at: UtcDatetime | None = None


class Scope(_Open):
    """What the evidence step found (case.json `scope`)."""

    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    principals: list[str] = Field(default_factory=list)
    source_ips: list[str] = Field(default_factory=list)
    actions: dict[str, Any] = Field(default_factory=dict)
    tables: dict[str, Any] = Field(default_factory=dict)
    records_touched: int | None = None
    affected_users: int | None = None
    affected_users_artifact: str | None = None


class ContainmentAction(_Open):
    """A containment receipt, as far as notices and the post-mortem use it."""

    action: str = ""
    adapter: str = ""
    status: str = ""
    summary: str = ""
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    targets: list[Any] = Field(default_factory=list)

    @property
    def changed_something(self) -> bool:
        """Applied and effective: not a dry-run plan, not a no-op, not a wholly failed attempt."""
        return self.status in ("ok", "partial")


class IncidentContext(_Open):
    case: CaseInfo
    scope: Scope | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    containment: list[ContainmentAction] = Field(default_factory=list)
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list)

    def personal_data_breach(self) -> bool:
        """Recorded as a data breach, or the scope found people or records touched."""
        if self.facts.get("data_breach"):
            return True
        scope = self.scope
        return bool(scope and ((scope.affected_users or 0) > 0 or (scope.records_touched or 0) > 0))

    def resolved_at(self) -> datetime | None:
        """When the journal first shows the case resolved or closed."""
        for entry in self.timeline:
            after = (entry.get("details") or {}).get("after") or {}
            if after.get("status") in ("resolved", "closed"):
                return parse_rfc3339(str(entry["at"]), field="journal time")
        return None
