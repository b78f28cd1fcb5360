"""The records that prove who was told what, when: notification receipts and decisions.

Receipts hold counts, hashes, provider ids and times, never addresses lists or secrets. A
decision not to notify (GDPR Art. 33(5): document every breach, including why it was not
notified) is a record of its own kind.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from core.errors import BadInput
from core.timeutil import rfc3339, utcnow
from notify.bulk import BulkResult
from notify.channels.interface import Delivery
from notify.policy import Policy

NOTIFICATION = "notification"
DECISION = "notification-decision"


def record_name(kind: str, *parts: str, at: datetime | None = None) -> str:
    """A file name that sorts by time and never collides: kind-20261128T073000.000000Z-....json."""
    stamp = (at or utcnow()).strftime("%Y%m%dT%H%M%S.%fZ")
    tail = "-".join(p.replace(":", "_").replace("/", "_") for p in parts if p)
    return f"{kind}-{stamp}-{tail}-{secrets.token_hex(3)}.json"


def _receipt(
    case_id: str, notice: str, channel: dict[str, Any], obligations: list[str], **fields: Any
) -> dict[str, Any]:
    """What every notification receipt holds, around the fields of its kind of send."""
    return {
        "kind": NOTIFICATION,
        "case": case_id,
        "notice": notice,
        "channel": channel["channel"],
        "destination": channel["destination"],
        **fields,
        "obligation": obligations[0] if obligations else None,
        "obligations": obligations,
        "recorded_at": rfc3339(utcnow()),
    }


def notification_receipt(
    *,
    case_id: str,
    notice: str,
    channel: dict[str, Any],
    obligations: list[str],
    message_sha256: str,
    delivery: Delivery,
) -> dict[str, Any]:
    return _receipt(
        case_id,
        notice,
        channel,
        obligations,
        recipients=delivery.recipients,
        recipients_intended=delivery.intended,
        message_sha256=message_sha256,
        provider_message_id=delivery.provider_message_id,
        provider_response=delivery.provider_response,
        sent_at=rfc3339(delivery.sent_at) if delivery.sent_at else None,
        status=delivery.status,
        attempts=delivery.attempts,
        errors=delivery.errors,
    )


def bulk_receipt(
    *,
    case_id: str,
    notice: str,
    channel: dict[str, Any],
    obligations: list[str],
    result: BulkResult,
    deliveries: str,
) -> dict[str, Any]:
    return _receipt(
        case_id,
        notice,
        channel,
        obligations,
        mode="bulk",
        recipients=result.sent,
        recipients_total=result.total,
        recipients_failed=result.failed,
        sent_this_run=result.sent_this_run,
        resumed_from=result.resumed_from,
        message_sha256=result.message_sha256,
        provider_message_id=result.first_message_id,
        sent_at=result.sent_at if result.sent else None,
        status=result.status,
        attempts=result.attempts,
        errors=result.errors,
        deliveries=deliveries,
    )


def decision_record(obligation: str, reason: str, decided_by: str) -> dict[str, Any]:
    """A decision not to notify, with its reason."""
    reason = " ".join(reason.split())
    if len(reason) < 10:
        raise BadInput(
            "a decision not to notify needs its reason in words (at least 10 characters)",
            hint="e.g. --reason 'data was encrypted at rest and the key was not exposed'",
        )
    return {
        "kind": DECISION,
        "obligation": obligation,
        "obligations": [obligation],
        "decision": "not-notified",
        "reason": reason,
        "decided_by": decided_by,
        "decided_at": rfc3339(utcnow()),
    }


def check_obligations(policy: Policy, wanted: list[str]) -> list[str]:
    known = policy.obligation_ids()
    for name in wanted:
        if name not in known:
            raise BadInput(f"unknown obligation {name!r}", hint=f"known: {', '.join(known)}")
    return wanted


def default_obligations(policy: Policy, notice: str) -> list[str]:
    """Obligations a notice satisfies by itself: regimes and roles whose `notice` names it."""
    regimes = [rid for rid, r in policy.regimes.items() if r.notice == notice]
    roles = [f"escalation:{rid}" for rid, r in policy.escalation.items() if r.notice == notice]
    return regimes + roles


def split_receipts(
    receipts: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(containment, notifications, decisions) from a case's receipts; others are ignored."""
    by_kind: dict[str, list[dict[str, Any]]] = {"containment": [], NOTIFICATION: [], DECISION: []}
    for receipt in receipts:
        bucket = by_kind.get(str(receipt.get("kind")))
        if bucket is not None:
            bucket.append(receipt)
    return by_kind["containment"], by_kind[NOTIFICATION], by_kind[DECISION]
