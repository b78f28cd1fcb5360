"""Every obligation a case has (escalation matrix + regulatory regimes) and where each stands.

State comes only from the records made up to the time asked about: a notification receipt
with status "sent" for the obligation makes it sent (late if after the deadline); a recorded
decision not to notify makes it "not-notified" (the GDPR Art. 33(5) register); otherwise it is
"due" or, past its deadline, "overdue". An "immediate" escalation is due until the severity's
response time has passed (P1: 15 minutes). The status-update cadence (`update_every`) is a
recurring clock: the next update is due that long after the last internal notice sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from core.records import NotificationDecision, NotificationReceipt
from core.timeutil import rfc3339
from notify.context import IncidentContext
from notify.deadlines import Calendar, Duration, deadline, humanize, local_iso
from notify.policy import Policy
from notify.render import NOTICES

State = Literal["sent", "not-notified", "due", "overdue"]


@dataclass(frozen=True)
class Obligation:
    id: str  # "escalation:cto", "gdpr-art33", "update:internal"
    kind: Literal["escalation", "regulatory", "update"]
    label: str
    audience: str
    rule: Duration
    calendar: Calendar
    deadline: datetime  # UTC
    notice: str | None = None


@dataclass(frozen=True)
class ObligationStatus:
    obligation: Obligation
    state: State
    time_left: str
    sent_at: str | None = None
    late: bool = False
    decision_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        ob = self.obligation
        data = {
            "id": ob.id,
            "kind": ob.kind,
            "label": ob.label,
            "audience": ob.audience,
            "rule": str(ob.rule),
            "deadline": rfc3339(ob.deadline),
            "deadline_local": local_iso(ob.deadline, ob.calendar),
            "time_zone": ob.calendar.timezone,
            "notice": ob.notice,
            **{k: v for k, v in asdict(self).items() if k != "obligation"},
        }
        return data


def obligations(context: IncidentContext, policy: Policy) -> list[Obligation]:
    """What this case owes whom, by when, counted from its aware-at time."""
    start = context.case.aware_at
    severity = context.case.severity
    found: list[Obligation] = []
    response = policy.severities[severity].response_time
    for role_id, role in policy.escalation.items():
        rule = role.rule(severity)
        # "immediate" is due at once and overdue once the severity's response time has passed
        due = deadline(start, response if rule.kind == "immediate" else rule, policy.calendar)
        if due is not None:
            found.append(
                Obligation(
                    id=f"escalation:{role_id}",
                    kind="escalation",
                    label=role.label,
                    audience=role.label,
                    rule=rule,
                    calendar=policy.calendar,
                    deadline=due,
                    notice=role.notice,
                )
            )
    breach = context.personal_data_breach()
    for regime_id, regime in policy.regimes.items():
        if not regime.enabled or severity not in regime.severities:
            continue
        if regime.applies == "personal-data-breach" and not breach:
            continue
        calendar = policy.calendar_for(regime)
        due = deadline(start, regime.deadline, calendar, regime.cutoff)
        if due is not None:
            found.append(
                Obligation(
                    id=regime_id,
                    kind="regulatory",
                    label=regime.name,
                    audience=regime.audience,
                    rule=regime.deadline,
                    calendar=calendar,
                    deadline=due,
                    notice=regime.notice,
                )
            )
    return sorted(found, key=lambda ob: (ob.deadline, ob.id))


def next_update(context: IncidentContext, policy: Policy, now: datetime) -> Obligation | None:
    """The next internal status update, every `update_every` from the last one sent by `now`
    (from aware-at before the first); none once the case is resolved."""
    if context.case.status in ("resolved", "closed"):
        return None
    level = policy.severities[context.case.severity]
    sent = [
        r.sent_at
        for r in context.notifications
        if r.notice == "internal" and r.status in ("sent", "partial")
        if r.sent_at and r.sent_at <= now
    ]
    start = max(sent) if sent else context.case.aware_at
    due = deadline(start, level.update_every, policy.calendar)
    if due is None:
        return None
    return Obligation(
        id="update:internal",
        kind="update",
        label=f"Next status update (every {level.update_every}, internal notice)",
        audience="internal",
        rule=level.update_every,
        calendar=policy.calendar,
        deadline=due,
        notice="internal",
    )


def _first_sent(
    records: list[NotificationReceipt], obligation_id: str, now: datetime
) -> datetime | None:
    """The first send for the obligation up to `now` (a later one had not happened yet)."""
    times = [
        r.sent_at
        for r in records
        if r.status in ("sent", "partial") and r.sent_at and r.sent_at <= now
        if _names(r, obligation_id)
    ]
    return min(times) if times else None


def _names(record: NotificationReceipt | NotificationDecision, obligation_id: str) -> bool:
    return obligation_id in record.obligations or obligation_id == record.obligation


def status(
    owed: list[Obligation],
    notifications: list[NotificationReceipt],
    decisions: list[NotificationDecision],
    now: datetime,
) -> list[ObligationStatus]:
    """sent / not-notified / due / overdue for each obligation, from the records alone."""
    result = []
    for ob in owed:
        left = humanize(ob.deadline - now)
        sent_at = _first_sent(notifications, ob.id, now)
        decided = [d for d in decisions if _names(d, ob.id) and d.decided_at <= now]
        if sent_at is not None:
            result.append(
                ObligationStatus(ob, "sent", left, rfc3339(sent_at), late=sent_at > ob.deadline)
            )
        elif decided:
            reason = decided[-1].reason
            result.append(ObligationStatus(ob, "not-notified", left, decision_reason=reason))
        else:
            result.append(ObligationStatus(ob, "overdue" if now > ob.deadline else "due", left))
    return result


def notices_owed(context: IncidentContext, policy: Policy) -> list[str]:
    """internal always; external for P1/P2; regulator and data-subject notices when owed."""
    names = ["internal"]
    if context.case.severity in ("P1", "P2"):
        names.append("external")
    owed = {ob.notice for ob in obligations(context, policy) if ob.notice}
    return names + [n for n in NOTICES if n in owed and n not in names]
