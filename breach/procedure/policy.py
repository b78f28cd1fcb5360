"""The notification policy in force for a case, pinned in case.json.

A case keeps the whole policy it runs under (organisation, clocks, regimes; the default merged
with the user's file), pinned when the case is opened with `--policy` or when a command first
gives one. A later command without `--policy` uses the pinned one, so it cannot silently switch
organisation, clocks or regimes; a different `--policy` is refused, and changing it is the
explicit, journaled `set_policy` step (`breach incident policy`).

    policy = policy_for(case, settings.policy)      # every step that reads the policy
    set_policy(SetPolicySettings(case="INC-1", policy=Path("org.toml"), reason="..."))
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from breach.case import Case
from breach.procedure.incident import Reason, ensure_open
from core.errors import BadInput
from notify.policy import Policy, load_policy


def fingerprint(data: dict[str, Any]) -> str:
    """The sha256 of a policy's content (where it was read from left out)."""
    content = {key: value for key, value in data.items() if key != "source"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _dump(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(mode="json")


def pinned(case: Case) -> Policy | None:
    """The policy stored in the case, if one was pinned."""
    stored = case.record.policy
    if stored is None:
        return None
    try:
        return Policy.model_validate(stored)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{case.root / 'case.json'}: field policy.{field}: {first['msg']}") from None


def pin(case: Case, policy: Policy, reason: str) -> None:
    """Store the policy in the case (journaled by Case.update, with why)."""
    case.update(reason, policy=_dump(policy))


def policy_for(case: Case, path: Path | None) -> Policy:
    """The policy in force: the pinned one; a file given for the first time is pinned."""
    current = pinned(case)
    if path is None:
        return current if current is not None else load_policy(None)
    given = load_policy(path)
    if current is None:
        if case.record.status != "closed":  # a closed case is not changed
            pin(case, given, f"notification policy {path} pinned to the case")
        return given
    if fingerprint(_dump(given)) == fingerprint(_dump(current)):
        return current
    raise BadInput(
        f"{case.id} runs under the policy pinned from {current.source}; {path} differs"
        " (organisation, clocks or regimes would change)",
        hint=f"to change it: breach incident policy --case {case.root} --policy {path}"
        " --reason '...'",
        field="policy",
    )


class SetPolicySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str
    policy: Path
    reason: Reason


class PolicyChanged(BaseModel):
    case: str
    before: str | None  # where the previous pinned policy came from (None: the default, unpinned)
    source: str
    sha256: str
    reason: str


def set_policy(settings: SetPolicySettings) -> PolicyChanged:
    """Pin a (new) policy to an open case: the explicit, journaled change of its clocks."""
    case = ensure_open(Case.load(settings.case, write=True))
    current = pinned(case)
    given = load_policy(settings.policy)
    pin(case, given, settings.reason)
    return PolicyChanged(
        case=case.id,
        before=current.source if current else None,
        source=given.source,
        sha256=fingerprint(_dump(given)),
        reason=settings.reason,
    )
