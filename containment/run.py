"""Plan, apply, verify: one driver for every adapter, and the receipt it produces.
(`read_targets` lives in containment.targets.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from containment.interface import (
    ContainmentAdapter,
    ContainmentReceipt,
    Plan,
    ReceiptStatus,
    TargetResult,
)
from containment.targets import read_targets as read_targets  # its old home, still imported
from core.errors import BreachError
from core.faults import point
from core.timeutil import utcnow

PAST = {
    "revoke-sessions": "revoked",
    "disable-accounts": "disabled",
    "rotate-keys": "rotated",
    "block": "blocked",
}
FUTURE = {
    "revoke-sessions": "would revoke",
    "disable-accounts": "would disable",
    "rotate-keys": "would rotate",
    "block": "would block",
}


def plan_action(
    adapter: ContainmentAdapter, targets: Sequence[str], *, since: datetime | None = None
) -> Plan:
    """Read-only: what is there now and what would change, target by target."""
    created = utcnow()
    operator = adapter.operator()
    return Plan(
        action=adapter.action,
        adapter=adapter.name,
        system=adapter.system(),
        operator=operator,
        created_at=created,
        since=since or created,
        targets=adapter.plan(list(targets), since=since or created),
    )


def execute(adapter: ContainmentAdapter, plan: Plan, *, dry_run: bool) -> ContainmentReceipt:
    """Apply the plan's `planned` targets (unless `dry_run`), read them back, make the receipt."""
    results = plan.targets
    attempted = plan.planned  # what was (or would be) touched, whatever the outcome
    if not dry_run:
        _apply_and_verify(adapter, attempted)
    return make_receipt(adapter, plan, results, attempted, dry_run=dry_run)


def make_receipt(
    adapter: ContainmentAdapter,
    plan: Plan,
    results: list[TargetResult],
    attempted: list[TargetResult],
    *,
    dry_run: bool = False,
    run: str | None = None,
    reconciled: bool = False,
) -> ContainmentReceipt:
    """The receipt of `results` (`attempted`: those acted on): status, summary and counts all
    from the targets' states."""
    return ContainmentReceipt(
        action=plan.action,
        adapter=plan.adapter,
        status=overall_status(results, dry_run),
        summary=summarize(adapter, results, dry_run),
        dry_run=dry_run,
        system=plan.system,
        operator=plan.operator,
        started_at=plan.created_at,
        finished_at=utcnow(),
        targets=results,
        undo=adapter.undo(attempted),
        counts=dict(Counter(t.status for t in results)),
        settings=adapter.settings(),
        run=run,
        reconciled=reconciled,
    )


def run_action(
    adapter: ContainmentAdapter,
    targets: Sequence[str],
    *,
    dry_run: bool,
    since: datetime | None = None,
) -> ContainmentReceipt:
    """Plan, then (unless `dry_run`) apply exactly that plan and read the result back."""
    return execute(adapter, plan_action(adapter, targets, since=since), dry_run=dry_run)


def _apply_and_verify(adapter: ContainmentAdapter, planned: list[TargetResult]) -> None:
    """A failure mid-action (a connection lost, a bug) becomes data on the targets it touched:
    the receipt is still written, naming what was done and what was not."""
    if not planned:
        return
    try:
        adapter.apply(planned)
    except Exception as exc:
        message, hint = _describe(exc)
        if getattr(adapter, "reads_back_after_a_cut", False):
            _read_back_after_cut(adapter, planned, message, hint)
            return
        for target in planned:
            if target.status == "planned":
                target.fail(f"not applied: {message}", hint)
    point("contain.applied")
    done = [t for t in planned if t.status == "ok"]
    if not done:
        return
    try:
        adapter.verify(done)
    except Exception as exc:
        message, hint = _describe(exc)
        for target in done:
            if target.status == "ok" and not target.after:
                target.fail(f"applied, but could not be read back: {message}", hint)


def _read_back_after_cut(
    adapter: ContainmentAdapter, planned: list[TargetResult], message: str, hint: str | None
) -> None:
    """The action stopped part way (a connection cut, a server gone): what the client saw
    acknowledged is not the truth. Read every attempted target back on a fresh connection and
    let that decide: done, with what the read-back counts, or not done."""
    adapter.close()
    unacknowledged = [t for t in planned if t.status == "planned"]
    for target in unacknowledged:
        target.status = "ok"
    touched = [t for t in planned if t.status == "ok"]
    try:
        adapter.verify(touched)
    except Exception as exc:
        again, _ = _describe(exc)
        for target in touched:
            if target.status == "ok":
                target.fail(f"stopped ({message}), and could not be read back: {again}", hint)
        return
    for target in unacknowledged:
        count_from_read_back(target)
        if target.status == "ok":
            target.reason = f"the action was cut off ({message}); read back as done"
        else:
            target.fail(f"not applied: {message}; read back: {target.reason}", hint)


def count_from_read_back(target: TargetResult) -> None:
    """What changed is what was there before less what the read-back still finds."""
    for key, before in target.before.items():
        after = target.after.get(key)
        if isinstance(before, int) and isinstance(after, int):
            target.count = max(0, before - after)
            return


def _describe(exc: Exception) -> tuple[str, str | None]:
    if isinstance(exc, BreachError):
        return exc.message, exc.hint
    return f"{type(exc).__name__}: {exc}", "an unexpected error; rerun with --verbose"


def overall_status(results: Sequence[TargetResult], dry_run: bool) -> ReceiptStatus:
    bad = sum(t.status in ("failed", "missing") for t in results)
    if bad == len(results):
        return "failed"
    if bad:
        return "partial"
    if all(t.status == "noop" for t in results):
        return "noop"
    return "planned" if dry_run else "ok"


def summarize(adapter: ContainmentAdapter, results: Sequence[TargetResult], dry_run: bool) -> str:
    """One human line, e.g. 'revoked 120 sessions of 3 users; 1 already done; 1 failed (bob)'."""
    acted = [t for t in results if t.status in ("ok", "planned")]
    verb = (FUTURE if dry_run else PAST)[adapter.action]
    noun = adapter.noun
    noop = sum(t.status == "noop" for t in results)
    if not acted:
        done = "nothing planned" if dry_run else "nothing done"
        head = f"nothing to do for {_plural(noop, noun)}" if noop else done
    elif adapter.unit:
        count = sum(t.count for t in acted)
        head = f"{verb} {_plural(count, adapter.unit)} of {_plural(len(acted), noun)}"
    elif adapter.action == "revoke-sessions":  # Cognito and IAM cannot count live sessions
        head = f"{verb} the sessions of {_plural(len(acted), noun)}"
    else:
        head = f"{verb} {_plural(len(acted), noun)}"
    parts = [head]
    if noop and acted:
        parts.append(f"{noop} already done")
    for status, label in (("failed", "failed"), ("missing", "not found")):
        names = [t.name for t in results if t.status == status]
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            parts.append(f"{len(names)} {label} ({shown})")
    return "; ".join(parts)


SHOWN_TARGETS = 20


def targets_to_show(targets: Sequence[TargetResult]) -> tuple[list[TargetResult], int]:
    """Every target that failed or was missing, and the first few others (in their order), and
    how many were left out: a list for 10,000 users stays readable while nothing that needs
    attention is hidden."""
    trouble = {"failed", "missing"}
    calm = [t for t in targets if t.status not in trouble]
    keep = {id(t) for t in calm[:SHOWN_TARGETS]}
    shown = [t for t in targets if t.status in trouble or id(t) in keep]
    return shown, len(targets) - len(shown)


def _plural(count: int, word: str) -> str:
    """'1 session', '3 sessions', '2 CIDRs' from either form of the word."""
    singular = word[:-1] if word.endswith("s") else word
    return f"{count} {singular if count == 1 else singular + 's'}"
