"""Propose a severity from facts, and say why (the seed's P1-P4 definitions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notify.policy import SEVERITIES, Policy, Severity


class Facts(BaseModel):
    """What responders know. Unknown facts stay False / None."""

    model_config = ConfigDict(extra="forbid")

    data_breach: bool = False
    security_compromise: bool = False
    service_down: bool = False
    major_feature_degraded: bool = False
    error_rate: float | None = Field(None, ge=0, le=1)
    minor_feature_degraded: bool = False
    workaround: bool = False
    cosmetic: bool = False
    affected_users: int | None = Field(None, ge=0)
    records_touched: int | None = Field(None, ge=0)


@dataclass(frozen=True)
class Classification:
    severity: Severity
    reasons: list[str]
    definition: str
    response_time: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "reasons": self.reasons,
            "definition": self.definition,
            "response_time": self.response_time,
            "facts": self.facts,
        }


def _findings(facts: Facts, policy: Policy) -> list[tuple[Severity, str]]:
    """Every (severity, reason) the facts support; the most severe one wins."""
    found: list[tuple[Severity, str]] = []
    if facts.data_breach:
        found.append(("P1", "personal or confidential data was breached"))
    if facts.affected_users:
        found.append(("P1", f"the evidence scope found {facts.affected_users} affected users"))
    elif facts.records_touched:
        found.append(("P1", f"the evidence scope found {facts.records_touched} records touched"))
    if facts.security_compromise:
        found.append(("P1", "security is compromised"))
    if facts.service_down:
        found.append(("P1", "the service is fully unavailable"))
    threshold = policy.classify.error_rate_p2
    if facts.error_rate is not None and facts.error_rate > threshold:
        found.append(("P2", f"error rate {facts.error_rate:.1%} is above {threshold:.0%}"))
    if facts.major_feature_degraded:
        found.append(("P2", "a major feature is degraded"))
    if facts.minor_feature_degraded:
        found.append(("P3", "a minor feature is degraded"))
    if facts.workaround and not found:
        found.append(("P3", "a workaround is available"))
    if facts.cosmetic:
        found.append(("P4", "the issue is cosmetic"))
    return found


def classify(facts: Facts, policy: Policy) -> Classification:
    findings = _findings(facts, policy)
    if not findings:
        findings = [("P4", "no impact facts were given (minor inconvenience at most)")]
    severity = min((sev for sev, _ in findings), key=SEVERITIES.index)
    reasons = [f"{sev}: {why}" for sev, why in findings]
    if facts.workaround and severity in ("P1", "P2"):
        reasons.append(f"a workaround does not lower {severity}: its definition has no exception")
    level = policy.severities[severity]
    reasons.append(f"{severity} ({level.name}) is defined as: {level.definition}")
    return Classification(
        severity=severity,
        reasons=reasons,
        definition=level.definition,
        response_time=str(level.response_time),
        facts=facts.model_dump(exclude_defaults=True),
    )
