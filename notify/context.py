"""What notify needs to know about an incident, as plain data.

The procedure layer (breach.procedure.notify.incident_context) builds this from the case folder
(case.json, its `scope`, receipts, the journal) and passes it in; notify never reads a case
folder itself. The scope and the receipts are the core.records models their producers write.
Every part but the case is optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.models import UtcDatetime
from core.records import (
    ContainmentReceipt,
    NotificationDecision,
    NotificationReceipt,
    ScopeRecord,
)
from core.timeutil import parse_rfc3339
from notify.policy import Severity

Scope = ScopeRecord  # the name this module used before core.records held the one model


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


class IncidentContext(_Open):
    case: CaseInfo
    scope: ScopeRecord | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    containment: list[ContainmentReceipt] = Field(default_factory=list)
    notifications: list[NotificationReceipt] = Field(default_factory=list)
    decisions: list[NotificationDecision] = Field(default_factory=list)
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
