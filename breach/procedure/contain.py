"""Contain: one containment action (revoke sessions, disable accounts, rotate keys, block) on a
list of targets, planned, applied and read back, its receipt kept in the case and journaled.

    result = contain(ContainSettings(
        case="INC-2026-0042", action="block", adapter="nacl", targets=["203.0.113.7"],
        options={"nacl_id": "acl-0abc"}, aws={"region": "eu-west-1"}))
    result.receipt.summary       # 'blocked 2 deny entries of 1 CIDR'
    result.failed                # targets that failed or were not found (a step that failed)

The adapter's own options (`options`) are validated by its typed settings model in
`containment.registry`: an option the adapter does not take is refused, naming the adapter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from breach.case import Case
from breach.procedure.contain_evidence import CaseSink, scope_targets, snapshot_warnings
from breach.procedure.contain_runs import KeptReceipt, Reconciled, act, keep_receipt, reconcile
from containment.interface import Action
from containment.registry import AdapterSettings, Connections, build
from containment.run import run_action
from containment.targets import read_targets
from core.aws import AwsAccount
from core.errors import BadInput
from core.models import Moment
from core.records import ContainmentReceipt, TargetResult
from core.timeutil import rfc3339, utcnow


class ContainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str
    action: Action
    adapter: str
    targets: list[str] = Field(default_factory=list)
    targets_file: Path | None = Field(
        default=None, description="text (one target a line, # comments) or Parquet"
    )
    targets_column: str | None = Field(
        default=None, description="the targets file's column (Parquet): user_id, actor..."
    )
    from_scope: bool = Field(
        default=False, description="revoke-sessions: the affected users of the case's scope"
    )
    require_snapshot: bool = Field(
        default=False,
        description="refuse a revoke or disable whose table no snapshot of the case holds",
    )
    dry_run: bool = False
    reason: str | None = Field(default=None, description="why: the journal entry's `why`")
    since: Moment | None = Field(
        default=None,
        description="rotate-keys: keys rotated after this need nothing (default: when the case"
        " was opened); revoke-sessions: deny tokens issued before this (default: now)",
    )
    # Where the adapter acts, shared by every adapter: PostgreSQL (None: libpq's PG* variables
    # when set), Redis, and the AWS account (credential chain, profile, region, role, endpoint).
    dsn: SecretStr | None = None
    redis_url: SecretStr | None = None
    aws: AwsAccount = Field(default_factory=AwsAccount)
    # The adapter's own options: a mapping (from YAML or the CLI) or its settings model.
    options: dict[str, Any] | AdapterSettings = Field(default_factory=dict)


class ContainResult(BaseModel):
    receipt: ContainmentReceipt
    path: Path = Field(description="where the receipt is kept (receipts/ in the case)")
    reconciled: list[KeptReceipt] = Field(
        default_factory=list,
        description="receipts of interrupted runs, read back before this run acted",
    )
    warnings: list[str] = Field(default_factory=list, description="e.g. a table not snapshotted")

    @property
    def failed(self) -> list[TargetResult]:
        """Targets that failed or do not exist: the step did not do what was asked."""
        return self.receipt.failed


def contain(settings: ContainSettings) -> ContainResult:
    """Plan the action on every target and, unless a dry run, apply exactly that plan and read it
    back; keep the receipt (staged as evidence) and journal `contain.<action>`."""
    since = settings.since
    if settings.action == "rotate-keys" and since is not None and since > utcnow():
        raise BadInput(
            f"the rotation cut-off {rfc3339(since)} is in the future: every key would look"
            " stale, and each run would rotate again",
            field="since",
        )
    case = Case.load(settings.case, write=True)
    names = _targets(settings, case)
    if settings.action == "rotate-keys" and since is None:
        since = case.record.opened_at  # a key rotated since the case was opened is done
    connections = Connections(
        dsn=_secret(settings.dsn) or libpq_env_dsn(),
        redis_url=_secret(settings.redis_url),
        aws=settings.aws,
    )
    adapter = build(settings.action, settings.adapter, settings.options, connections)
    found = Reconciled()
    sink = adapter.capture = CaseSink(case)  # what the action deletes is staged there first
    try:
        required = settings.require_snapshot
        warnings = snapshot_warnings(case, adapter, settings.action, required=required)
        if settings.dry_run:
            receipt = run_action(adapter, names, dry_run=True, since=since)
        else:  # an interrupted run's work is recorded as its own first, and never redone
            found = reconcile(case, adapter, settings.reason)
            left = [n for n in names if n not in found.done]
            if not left:  # the interrupted runs did it all: the last one's receipt answers
                last = found.kept[-1]
                return ContainResult(**dict(last), reconciled=found.kept[:-1], warnings=warnings)
            receipt = act(case, adapter, left, since, settings.reason, found.partly)
    finally:
        adapter.close()
    receipt.captured = sink.captured
    path = keep_receipt(case, receipt, settings.reason)
    return ContainResult(receipt=receipt, path=path, reconciled=found.kept, warnings=warnings)


def _targets(settings: ContainSettings, case: Case) -> list[str]:
    """--target values, the targets file's, and (--from-scope) the scope's affected users."""
    scoped: list[str] = []
    if settings.from_scope:
        if settings.action != "revoke-sessions":
            raise BadInput(
                "the scope's affected users are victims: only their sessions are revoked",
                hint="take attackers from scope/actors.parquet with --targets-file",
                field="from_scope",
            )
        scoped = scope_targets(case)
    return read_targets(
        [*settings.targets, *scoped], settings.targets_file, settings.targets_column
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def libpq_env_dsn() -> str | None:
    """With no DSN, libpq's own PG* variables still work (an empty DSN reads them)."""
    return "" if any(k in os.environ for k in ("PGHOST", "PGDATABASE", "PGSERVICE")) else None
