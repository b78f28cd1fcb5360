"""The records that prove who was told what, when: notification receipts and decisions.

Both are core.records models (NotificationReceipt, NotificationDecision), built here and read
back by the clocks (notify.obligations). Receipts hold counts, hashes, provider ids and times,
never address lists or secrets. A decision not to notify (GDPR Art. 33(5): document every
breach, including why it was not notified) is a record of its own kind.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import BadInput
from core.records import (
    CONTAINMENT,
    DECISION,
    NOTIFICATION,
    ContainmentReceipt,
    NotificationDecision,
    NotificationReceipt,
)
from core.timeutil import utcnow
from notify.bulk import BulkResult
from notify.channels.interface import Delivery
from notify.policy import Policy

# On disk a single message's receipt has no bulk fields, and a bulk run's none of a single one's.
_BULK_ONLY = {
    "mode", "recipients_total", "recipients_failed", "sent_this_run", "resumed_from", "deliveries",
    "recipients_in_doubt",
}  # fmt: skip
_SINGLE_ONLY = {"recipients_intended", "provider_response"}
_WORD = re.compile(r"[^\W\d_]{2,}")  # two or more letters


def record_name(kind: str, *parts: str, at: datetime | None = None) -> str:
    """A file name that sorts by time and never collides: kind-20261128T073000.000000Z-....json."""
    stamp = (at or utcnow()).strftime("%Y%m%dT%H%M%S.%fZ")
    tail = "-".join(p.replace(":", "_").replace("/", "_") for p in parts if p)
    return f"{kind}-{stamp}-{tail}-{secrets.token_hex(3)}.json"


def receipt_json(receipt: NotificationReceipt) -> dict[str, Any]:
    """The receipt as written to receipts/: the fields of its kind of send."""
    drop = _BULK_ONLY if receipt.mode == "single" else _SINGLE_ONLY
    return receipt.model_dump(mode="json", exclude=drop)


def _receipt(
    case_id: str, notice: str, channel: dict[str, Any], obligations: list[str], **fields: Any
) -> NotificationReceipt:
    """What every notification receipt holds, around the fields of its kind of send."""
    return NotificationReceipt(
        case=case_id,
        notice=notice,
        channel=channel["channel"],
        destination=channel["destination"],
        obligation=obligations[0] if obligations else None,
        obligations=obligations,
        recorded_at=utcnow(),
        **fields,
    )


def notification_receipt(
    *,
    case_id: str,
    notice: str,
    channel: dict[str, Any],
    obligations: list[str],
    message_sha256: str,
    delivery: Delivery,
) -> NotificationReceipt:
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
        sent_at=delivery.sent_at,
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
) -> NotificationReceipt:
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
        recipients_in_doubt=result.in_doubt,
    )


def decision_record(obligation: str, reason: str, decided_by: str) -> NotificationDecision:
    """A decision not to notify, with its reason in words (not a code, not punctuation)."""
    reason = " ".join(reason.split())
    if len(reason) < 10 or len(_WORD.findall(reason)) < 2:
        raise BadInput(
            "a decision not to notify needs its reason in words (at least 10 characters)",
            hint="e.g. 'data was encrypted at rest and the key was not exposed'",
            field="reason",
        )
    return NotificationDecision(
        obligation=obligation,
        obligations=[obligation],
        reason=reason,
        decided_by=decided_by,
        decided_at=utcnow(),
    )


def check_obligations(
    policy: Policy, wanted: list[str], *, field: str = "obligations"
) -> list[str]:
    known = policy.obligation_ids()
    for name in wanted:
        if name not in known:
            raise BadInput(
                f"unknown obligation {name!r}", hint=f"known: {', '.join(known)}", field=field
            )
    return wanted


def default_obligations(policy: Policy, notice: str) -> list[str]:
    """Obligations a notice satisfies by itself: regimes and roles whose `notice` names it."""
    regimes = [rid for rid, r in policy.regimes.items() if r.notice == notice]
    roles = [f"escalation:{rid}" for rid, r in policy.escalation.items() if r.notice == notice]
    return regimes + roles


Records = tuple[list[ContainmentReceipt], list[NotificationReceipt], list[NotificationDecision]]
_KINDS: dict[str, type[BaseModel]] = {
    CONTAINMENT: ContainmentReceipt,
    NOTIFICATION: NotificationReceipt,
    DECISION: NotificationDecision,
}


def split_receipts(receipts: Iterable[tuple[str, Any]]) -> Records:
    """(containment, notifications, decisions) from a case's receipts, each `(where, data)`,
    read as the core.records models; other kinds are ignored. A malformed one is one line
    naming the receipt and the field."""
    by_kind: dict[str, list[Any]] = {kind: [] for kind in _KINDS}
    for where, data in receipts:
        kind = str(data.get("kind")) if isinstance(data, dict) else ""
        model = _KINDS.get(kind)
        if model is None:
            continue
        try:
            by_kind[kind].append(model.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise BadInput(f"receipt {where}: field {field}: {first['msg']}") from None
    return by_kind[CONTAINMENT], by_kind[NOTIFICATION], by_kind[DECISION]
