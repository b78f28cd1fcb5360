"""Containment runs: intent before action, receipts, and reconciling a run that was interrupted.

A run that will change something journals its intent first (`Case.intend`): the adapter, the
system, how many targets, and the plan (every planned target with what it held before) kept in
`runs/<run>.json`. Its receipt (named with the run id) and journal entry close it. A run found
open on the next `contain` of the same action, adapter and system is reconciled before anything
else: its planned targets are read back, and those the read-back finds done go into a receipt
of that run (`reconciled: true`), never done again; the rest are left to the new run.

Fault points (core.faults) at each moment a crash matters: contain.intent.before,
contain.intent.after, contain.apply.batch (adapters), contain.applied, contain.verified,
contain.receipt.written, contain.done, contain.reconcile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from breach.case import Case, Intent, new_run
from containment.interface import ContainmentAdapter, Plan
from containment.run import count_from_read_back, execute, make_receipt, plan_action, summarize
from core.artifacts import artifact_meta
from core.faults import point
from core.fsio import read_json, write_json
from core.records import ContainmentReceipt, TargetResult
from core.timeutil import parse_rfc3339, rfc3339, utcnow

RUNS = "runs"


class KeptReceipt(BaseModel):
    receipt: ContainmentReceipt
    path: Path = Field(description="where the receipt is kept (receipts/ in the case)")


class Reconciled(BaseModel):
    """What reconciling the open runs found: their receipts, and per target left for the new
    run, how much of it an interrupted run had already done (the new run's receipt counts it)."""

    kept: list[KeptReceipt] = Field(default_factory=list)
    partly: dict[str, tuple[str, int]] = Field(default_factory=dict)

    @property
    def done(self) -> set[str]:
        return {t.name for k in self.kept for t in k.receipt.targets if t.status == "ok"}


def act(
    case: Case,
    adapter: ContainmentAdapter,
    names: Sequence[str],
    since: datetime | None,
    reason: str | None,
    partly: dict[str, tuple[str, int]] | None = None,
) -> ContainmentReceipt:
    """Plan; journal the intent (with the plan kept beside it) when something is to change;
    apply and read back. The receipt names the run, and counts what an interrupted run had
    done of a target (`partly`) with that target."""
    plan = plan_action(adapter, names, since=since)
    if not plan.planned:
        return execute(adapter, plan, dry_run=False)  # nothing will change: nothing to intend
    run = new_run()
    plan_file = f"{RUNS}/{run}.json"
    write_json(case.root / plan_file, {"run": run, "targets": _dump(plan.planned)})
    point("contain.intent.before")
    case.intend(
        f"contain.{plan.action}",
        {
            "adapter": plan.adapter,
            "system": plan.system,
            "operator": plan.operator,
            "since": rfc3339(plan.since),
            "targets": len(plan.planned),
            "first_targets": [t.name for t in plan.planned[:20]],
            "plan": plan_file,
        },
        why=reason,
        run=run,
    )
    point("contain.intent.after")
    receipt = execute(adapter, plan, dry_run=False)
    receipt.run = run
    if partly:
        credit_partly_done(adapter, receipt, partly)
    point("contain.verified")
    return receipt


def keep_receipt(
    case: Case,
    receipt: ContainmentReceipt,
    reason: str | None,
    *,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """The receipt in receipts/ (and staged as evidence), then one journal entry for the step,
    carrying the run id that closes its intent."""
    name = name or receipt_name(receipt)
    source = {"system": receipt.system, "action": receipt.action, "adapter": receipt.adapter}
    meta = artifact_meta("application/json", source, "breachkit.containment")
    path = case.write_receipt(name, receipt.model_dump(mode="json"), meta)
    point("contain.receipt.written")
    details: dict[str, Any] = {
        "adapter": receipt.adapter,
        "summary": receipt.summary,
        "dry_run": receipt.dry_run,
        "operator": receipt.operator,
        "counts": receipt.counts,
        **({"run": receipt.run} if receipt.run else {}),
        **({"reconciled": True} if receipt.reconciled else {}),
        **(extra or {}),
        "receipt": f"receipts/{name}",
    }
    case.journal(
        f"contain.{receipt.action}",
        result=receipt.status,
        why=reason,
        where=receipt.system,
        details=details,
    )
    point("contain.done")
    return path


def receipt_name(receipt: ContainmentReceipt) -> str:
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    suffix = "-dry-run" if receipt.dry_run else ""
    run = f"-{receipt.run}" if receipt.run else ""
    return f"contain-{stamp}-{receipt.action}-{receipt.adapter}{suffix}{run}.json"


# -- reconcile ------------------------------------------------------------------------------
def reconcile(case: Case, adapter: ContainmentAdapter, reason: str | None) -> Reconciled:
    """Every open run of this action on this adapter and system, reconciled from the state read
    back; the receipts of what those runs did (a run that did nothing leaves a journal entry)."""
    found = Reconciled()
    for intent in case.unfinished(f"contain.{adapter.action}"):
        details = intent.details
        if details.get("adapter") != adapter.name or details.get("system") != adapter.system():
            continue  # another adapter's or system's run: a run of that one reconciles it
        point("contain.reconcile")
        kept, partly = _reconcile_run(case, adapter, intent, reason)
        found.kept += [kept] if kept is not None else []
        found.partly.update({name: (intent.run, n) for name, n in partly.items()})
    return found


def credit_partly_done(
    adapter: ContainmentAdapter, receipt: ContainmentReceipt, partly: dict[str, tuple[str, int]]
) -> None:
    """A target an interrupted run had begun: its receipt (this run's) counts that part too."""
    for target in receipt.targets:
        if target.name in partly and target.status not in ("noop", "missing"):
            run, count = partly[target.name]
            target.count += count
            target.reason = f"{count} of these by interrupted run {run} (read back)"
    receipt.summary = summarize(adapter, receipt.targets, receipt.dry_run)


def _reconcile_run(
    case: Case, adapter: ContainmentAdapter, intent: Intent, reason: str | None
) -> tuple[KeptReceipt | None, dict[str, int]]:
    what = f"contain.{adapter.action}"
    written = sorted(case.receipts.glob(f"contain-*-{intent.run}.json"))
    if written:  # the receipt was kept, its journal entry not: adopt it as it is
        receipt = ContainmentReceipt.model_validate(read_json(written[-1], what="receipt"))
        path = keep_receipt(case, receipt, reason, name=written[-1].name, extra={"adopted": True})
        return KeptReceipt(receipt=receipt, path=path), {}
    plan_path = case.root / str(intent.details.get("plan", ""))
    if not plan_path.is_file():
        error = f"its plan {plan_path.name} is gone: nothing to read back against"
        case.journal(what, result="unreconciled", details={"run": intent.run, "error": error})
        return None, {}
    planned = [TargetResult.model_validate(t) for t in read_json(plan_path)["targets"]]
    since = parse_rfc3339(str(intent.details["since"]))
    now = plan_action(adapter, [t.name for t in planned], since=since)
    done, partly = _read_back(planned, now.targets)
    if not done:
        details = {"run": intent.run, "done": 0, "left": len(planned), "partly_done": partly}
        case.journal(what, result="reconciled", why=reason, details=details)
        return None, partly
    started = now.model_copy(update={"created_at": parse_rfc3339(intent.at)})
    receipt = _reconciled_receipt(adapter, started, done, intent.run)
    path = keep_receipt(case, receipt, reason, extra={"partly_done": partly} if partly else None)
    return KeptReceipt(receipt=receipt, path=path), partly


def _read_back(
    planned: list[TargetResult], now: list[TargetResult]
) -> tuple[list[TargetResult], dict[str, int]]:
    """The planned targets the read-back finds done (nothing left to do), and for the others
    that hold less than the plan saw, how much less (finished by the new run)."""
    current = {t.name: t for t in now}
    done, partly = [], {}
    for target in planned:
        found = current.get(target.name)
        if found is None:
            continue
        if found.status == "noop":
            target.status = "ok"
            target.after = dict(found.before)
            count_from_read_back(target)
            target.reason = "done by the interrupted run, as read back after it"
            done.append(target)
        elif found.status == "planned" and found.count < target.count:
            partly[target.name] = target.count - found.count
    return done, partly


def _reconciled_receipt(
    adapter: ContainmentAdapter, plan: Plan, done: list[TargetResult], run: str
) -> ContainmentReceipt:
    receipt = make_receipt(adapter, plan, done, done, run=run, reconciled=True)
    receipt.summary = f"interrupted run {run}, read back: {summarize(adapter, done, False)}"
    return receipt


def _dump(targets: list[TargetResult]) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json") for t in targets]
