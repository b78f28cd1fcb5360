"""The step kinds a playbook may use: each is one procedure step, with its settings model.

A playbook step's `with:` is that step's settings (the same pydantic model the CLI and tests
build), less what the runner gives it (the case). The kind also says which phase of the
procedure it belongs to (containment must not destroy what evidence steps have yet to read)
and which outputs later steps may use as `${steps.<id>.<output>}`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

Phase = Literal["case", "evidence", "scope", "contain", "seal", "store", "notify"]


@dataclass(frozen=True)
class StepKind:
    call: str  # "module:function" of the procedure step
    settings: str  # "module:SettingsModel"
    phase: Phase
    summary: str
    outputs: tuple[str, ...] = ()
    injected: tuple[str, ...] = ("case",)  # given by the runner, never by the playbook
    fixed: dict[str, Any] = field(default_factory=dict)  # settings the kind itself decides

    def settings_model(self) -> type[BaseModel]:
        module, name = self.settings.split(":")
        model = getattr(importlib.import_module(module), name)
        assert isinstance(model, type) and issubclass(model, BaseModel)
        return model


def _contain(action: str) -> StepKind:
    return StepKind(
        "breach.procedure.contain:contain",
        "breach.procedure.contain:ContainSettings",
        "contain",
        f"contain: {action.replace('-', ' ')} through an adapter, read back, receipt",
        outputs=("done", "failed"),
        fixed={"action": action},
    )


_INCIDENT = "breach.procedure.incident"
_EVIDENCE = "breach.procedure.evidence"
_CLOUD = "breach.procedure.cloud"
_NOTIFY = "breach.procedure.notify"

KINDS: dict[str, StepKind] = {
    "incident.open": StepKind(
        f"{_INCIDENT}:open_case",
        f"{_INCIDENT}:OpenSettings",
        "case",
        "open the case (its folder is the run's --case)",
        outputs=("id", "severity"),
        injected=("case_dir",),
    ),
    "incident.classify": StepKind(
        f"{_INCIDENT}:classify_case",
        f"{_INCIDENT}:ClassifySettings",
        "case",
        "classify the incident from facts and set its severity",
        outputs=("severity",),
    ),
    "evidence.export-audit": StepKind(
        f"{_EVIDENCE}:export_audit",
        f"{_EVIDENCE}:ExportAuditSettings",
        "evidence",
        "export audit logs of the window to Parquet",
        outputs=("artifacts",),
    ),
    "evidence.snapshot": StepKind(
        f"{_EVIDENCE}:snapshot",
        f"{_EVIDENCE}:SnapshotSettings",
        "evidence",
        "snapshot tables at one point in time",
        outputs=("artifacts",),
    ),
    "evidence.cloudtrail": StepKind(
        "breach.procedure.cloudtrail:cloudtrail",
        "breach.procedure.cloudtrail:CloudTrailStepSettings",
        "evidence",
        "preserve CloudTrail logs of the window, with digests",
        outputs=("artifacts",),
    ),
    "evidence.cloudwatch": StepKind(
        f"{_CLOUD}:cloudwatch",
        f"{_CLOUD}:CloudWatchStepSettings",
        "evidence",
        "preserve CloudWatch and VPC flow logs of the window",
        outputs=("artifacts",),
    ),
    "evidence.s3-logs": StepKind(
        f"{_CLOUD}:s3_logs",
        f"{_CLOUD}:S3LogsStepSettings",
        "evidence",
        "copy access log objects of the window byte for byte",
        outputs=("artifacts",),
    ),
    "evidence.cloud-snapshot": StepKind(
        f"{_CLOUD}:cloud_snapshot",
        f"{_CLOUD}:CloudSnapshotStepSettings",
        "evidence",
        "snapshot RDS and EBS resources, tagged with the incident",
        outputs=("snapshots",),
    ),
    "scope": StepKind(
        f"{_EVIDENCE}:scope",
        f"{_EVIDENCE}:ScopeSettings",
        "scope",
        "who and what the attacker touched, from the staged evidence",
        outputs=("affected_users", "actors", "source_ips", "records_touched"),
    ),
    "contain.revoke-sessions": _contain("revoke-sessions"),
    "contain.disable-accounts": _contain("disable-accounts"),
    "contain.rotate-keys": _contain("rotate-keys"),
    "contain.block": _contain("block"),
    "seal": StepKind(
        "breach.procedure.bundle:seal",
        "breach.procedure.bundle:SealSettings",
        "seal",
        "hash, encrypt and sign the staged evidence into the next bundle",
        outputs=("bundle", "bundle_id"),
    ),
    "bundle.push": StepKind(
        "breach.procedure.locker:push",
        "breach.procedure.locker:PushSettings",
        "store",
        "push a sealed bundle to the evidence store, locked",
        outputs=("uri",),
        injected=(),
    ),
    "notify.draft": StepKind(
        f"{_NOTIFY}:draft",
        f"{_NOTIFY}:DraftSettings",
        "notify",
        "draft the notices that apply, for review",
        outputs=("drafts",),
    ),
    "notify.send": StepKind(
        f"{_NOTIFY}:send",
        f"{_NOTIFY}:SendSettings",
        "notify",
        "send one notice through a channel and record who was told when",
        outputs=("receipt",),
    ),
    "incident.close": StepKind(
        f"{_INCIDENT}:close_case",
        f"{_INCIDENT}:CloseSettings",
        "case",
        "close the case (the post-mortem must be finished for P1 and P2)",
    ),
}
