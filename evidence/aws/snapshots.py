"""Snapshots of the affected cloud resources: RDS instances and clusters, EBS volumes, instances.

Each snapshot is created, tagged (the incident, the tool, this run, the source), waited for,
then optionally copied to other regions and shared with a forensics account; the record of
every snapshot (ids, ARNs, times, states, sources, copies, shares, and what went wrong) is staged
as cloud/snapshots/<time>-<run>.json. These calls act outside the case: the procedure step
journals its intent first, and the run id tagged on every snapshot finds them again.

Sharing an RDS snapshot adds the account to its `restore` attribute (ModifyDBSnapshotAttribute,
ModifyDBClusterSnapshotAttribute); an EBS snapshot, to its `createVolumePermission`
(ModifySnapshotAttribute). Each share is read back. A snapshot encrypted with an AWS managed
key cannot be shared: AWS refuses, and the refusal is recorded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.artifacts import TOOL_VERSION, collector, describe
from core.errors import BreachError
from core.fsio import write_json
from core.timeutil import rfc3339, utcnow
from evidence.aws.calls import RetryLog
from evidence.interface import ArtifactResult, FailedItem, Progress, Stager, staged_name

if TYPE_CHECKING:
    from evidence.aws.settings import SnapshotSettings

COLLECTOR = "evidence.aws.snapshots"
DONE = {"available", "completed"}
BROKEN = {"failed", "error", "incompatible-restore", "recoverable"}
KINDS = {
    "rds_instances": "rds-instance",
    "rds_clusters": "rds-cluster",
    "ebs_volumes": "ebs-volume",
    "instances": "instance",
}


@dataclass
class Snap:
    """One snapshot (or a copy of one) as the record keeps it."""

    kind: str  # rds-instance, rds-cluster, ebs-volume (also for an instance's volumes)
    source: str
    region: str
    snapshot_id: str
    source_arn: str | None = None
    arn: str | None = None
    state: str = "unknown"
    progress: str | None = None
    created_at: str | None = None
    encrypted: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    shared_with: list[str] = field(default_factory=list)
    copies: list[Snap] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.state in DONE

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "source_arn": self.source_arn,
            "snapshot_id": self.snapshot_id,
            "arn": self.arn,
            "region": self.region,
            "state": self.state,
            "progress": self.progress,
            "created_at": self.created_at,
            "completed": self.completed,
            "encrypted": self.encrypted,
            "tags": self.tags,
            "shared_with": self.shared_with,
            "copies": [
                {
                    "region": c.region,
                    "snapshot_id": c.snapshot_id,
                    "arn": c.arn,
                    "state": c.state,
                    "shared_with": c.shared_with,
                    "error": "; ".join(c.problems) or None,
                }
                for c in self.copies
            ],
            "problems": self.problems + [p for c in self.copies for p in c.problems],
        }


@dataclass
class SnapshotReport:
    record: str
    snapshots: list[Snap]
    failed: list[FailedItem]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "snapshots": [s.to_json() for s in self.snapshots],
            "failed": [f.to_json() for f in self.failed],
            "warnings": self.warnings,
        }


class CloudSnapshots:
    """Collector: snapshot, tag, wait, copy, share; stage the record."""

    name = COLLECTOR

    def __init__(self, settings: SnapshotSettings) -> None:
        self.settings = settings
        self.account = settings.aws
        self.log = RetryLog(self.account)
        self.started = utcnow()
        self.sleep: Callable[[float], None] = time.sleep

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        report = self.run(stager)
        return [ArtifactResult(report.record, len(report.snapshots), {}, [])], report.failed

    def run(self, stager: Stager, progress: Progress | None = None) -> SnapshotReport:
        snaps: list[Snap] = []
        failed: list[FailedItem] = []
        try:
            for field_name, kind in KINDS.items():
                for target in getattr(self.settings, field_name):
                    try:
                        snaps.extend(self._create(kind, target))
                    except BreachError as exc:
                        failed.append(FailedItem(f"{kind} {target}", exc.diagnostics()))
            self._wait(snaps, progress)
            for region in self.settings.copy_to:
                for snap in snaps:
                    self._copy(snap, region)
            self._wait([c for s in snaps for c in s.copies], progress)
            for snap in [s for s in snaps if s.completed]:
                for each in [snap, *snap.copies]:
                    self._share(each)
        finally:  # whatever was created is on record, even when something unforeseen broke
            record = self._stage(stager, snaps, failed)
        warnings = [f"{s.snapshot_id}: {p}" for s in snaps for p in s.to_json()["problems"]]
        return SnapshotReport(record, snaps, failed, warnings)

    def reconcile(self, stager: Stager, regions: list[str]) -> SnapshotReport:
        """After a run that journaled its intent but never its outcome (a crash): find the
        snapshots tagged with its run id, in its region and the regions it copied to, as AWS has
        them now, and stage their record (marked reconciled)."""
        snaps: list[Snap] = []
        failed: list[FailedItem] = []
        for region in dict.fromkeys([self.account.region_name, *regions]):
            try:
                snaps.extend(self._tagged(region))
            except BreachError as exc:
                failed.append(FailedItem(f"run {self.settings.run} in {region}", exc.diagnostics()))
        for snap in snaps:
            if not snap.completed:
                snap.problems.append(f"{snap.state} when reconciled")
        record = self._stage(stager, snaps, failed, reconciled=True)
        warnings = [f"{s.snapshot_id}: {p}" for s in snaps for p in s.problems]
        return SnapshotReport(record, snaps, failed, warnings)

    def _tagged(self, region: str) -> list[Snap]:
        run = self.settings.run
        found: list[Snap] = []
        ec2 = self._client("ec2", region)
        filters = [{"Name": "tag:breachkit:run", "Values": [run]}]
        page = self.log.call(ec2.describe_snapshots, OwnerIds=["self"], Filters=filters)
        for info in page.get("Snapshots", []):
            tags = {t["Key"]: t["Value"] for t in info.get("Tags", [])}
            snap = Snap("ebs-volume", tags.get("breachkit:source", ""), region, info["SnapshotId"])
            snap.tags, snap.source_arn = tags, f"volume {info.get('VolumeId')}"
            snap.arn = self._ebs_arn(region, snap.snapshot_id)
            self._ebs_state(snap, info)
            found.append(snap)
        rds = self._client("rds", region)
        for kind, call, key in (
            ("rds-instance", rds.describe_db_snapshots, "DBSnapshots"),
            ("rds-cluster", rds.describe_db_cluster_snapshots, "DBClusterSnapshots"),
        ):
            kwargs: dict[str, Any] = {"SnapshotType": "manual"}
            while True:
                page = self.log.call(call, **kwargs)
                for info in page.get(key, []):
                    tags = {t["Key"]: t["Value"] for t in info.get("TagList", [])}
                    if tags.get("breachkit:run") != run:
                        continue
                    ident = info.get("DBSnapshotIdentifier") or info["DBClusterSnapshotIdentifier"]
                    snap = Snap(kind, tags.get("breachkit:source", ""), region, ident, tags=tags)
                    self._rds_state(snap, info)
                    found.append(snap)
                if not page.get("Marker"):
                    break
                kwargs["Marker"] = page["Marker"]
        return found

    # -- clients and names -------------------------------------------------------------------
    def _client(self, service: str, region: str | None = None) -> Any:
        if region is None or region == self.account.region_name:
            return self.account.client(service)
        return self.account.session.client(
            service, region_name=region, endpoint_url=self.account.endpoint_url
        )

    def _identifier(self, source: str) -> str:
        """An RDS snapshot identifier: letters, digits and single hyphens, from a letter."""
        stamp = self.started.strftime("%Y%m%d%H%M%S")
        raw = f"breach-{self.settings.incident}-{source}-{stamp}-{self.settings.run}".lower()
        return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", raw)).strip("-")[:255].rstrip("-")

    def _tags(self, source: str) -> dict[str, str]:
        tags = {
            "breachkit:incident": self.settings.incident,
            "breachkit:tool": f"breachkit {TOOL_VERSION}",
            "breachkit:run": self.settings.run,
            "breachkit:source": source[:256],
        }
        return {k: v for k, v in tags.items() if v}

    @staticmethod
    def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in tags.items()]

    def _ebs_arn(self, region: str, snapshot_id: str) -> str:
        partition = str(self.account.identity().get("Arn", "arn:aws:")).split(":")[1] or "aws"
        return f"arn:{partition}:ec2:{region}::snapshot/{snapshot_id}"

    # -- create ------------------------------------------------------------------------------
    def _create(self, kind: str, target: str) -> list[Snap]:
        region = self.account.region_name
        tags = self._tags(target)
        if kind == "rds-instance":
            rds = self._client("rds")
            found = self.log.call(rds.describe_db_instances, DBInstanceIdentifier=target)
            made = self.log.call(
                rds.create_db_snapshot,
                DBSnapshotIdentifier=self._identifier(target),
                DBInstanceIdentifier=target,
                Tags=self._tag_list(tags),
            )["DBSnapshot"]
            snap = Snap(kind, target, region, made["DBSnapshotIdentifier"], tags=tags)
            snap.source_arn = found["DBInstances"][0].get("DBInstanceArn")
            self._rds_state(snap, made)
            return [snap]
        if kind == "rds-cluster":
            rds = self._client("rds")
            found = self.log.call(rds.describe_db_clusters, DBClusterIdentifier=target)
            made = self.log.call(
                rds.create_db_cluster_snapshot,
                DBClusterSnapshotIdentifier=self._identifier(target),
                DBClusterIdentifier=target,
                Tags=self._tag_list(tags),
            )["DBClusterSnapshot"]
            snap = Snap(kind, target, region, made["DBClusterSnapshotIdentifier"], tags=tags)
            snap.source_arn = found["DBClusters"][0].get("DBClusterArn")
            self._rds_state(snap, made)
            return [snap]
        ec2 = self._client("ec2")
        spec = [{"ResourceType": "snapshot", "Tags": self._tag_list(tags)}]
        description = f"breachkit evidence for {self.settings.incident}: {target}"
        if kind == "ebs-volume":
            made = self.log.call(
                ec2.create_snapshot,
                VolumeId=target,
                Description=description,
                TagSpecifications=spec,
            )
            snaps = [made]
        else:  # an instance: every attached volume at one moment (crash-consistent)
            snaps = self.log.call(
                ec2.create_snapshots,
                InstanceSpecification={"InstanceId": target},
                Description=description,
                TagSpecifications=spec,
                CopyTagsFromSource="volume",
            )["Snapshots"]
        result = []
        for made in snaps:
            volume = str(made.get("VolumeId") or target)
            source = target if kind == "ebs-volume" else f"{target}:{volume}"
            snap = Snap("ebs-volume", source, region, made["SnapshotId"], tags=dict(tags))
            snap.source_arn = f"volume {volume}" + (f" of {target}" if kind == "instance" else "")
            snap.arn = self._ebs_arn(region, snap.snapshot_id)
            self._ebs_state(snap, made)
            result.append(snap)
        return result

    @staticmethod
    def _rds_state(snap: Snap, info: dict[str, Any]) -> None:
        snap.state = str(info.get("Status", snap.state))
        snap.arn = info.get("DBSnapshotArn") or info.get("DBClusterSnapshotArn") or snap.arn
        snap.progress = f"{info.get('PercentProgress', 0)}%"
        snap.created_at = _time(info.get("SnapshotCreateTime")) or snap.created_at
        encrypted = info.get("Encrypted", info.get("StorageEncrypted"))
        snap.encrypted = bool(encrypted) if encrypted is not None else snap.encrypted

    @staticmethod
    def _ebs_state(snap: Snap, info: dict[str, Any]) -> None:
        snap.state = str(info.get("State", snap.state))
        snap.progress = info.get("Progress") or snap.progress
        snap.created_at = _time(info.get("StartTime")) or snap.created_at
        if info.get("Encrypted") is not None:
            snap.encrypted = bool(info["Encrypted"])
        if info.get("StateMessage") and snap.state in BROKEN:
            snap.problems.append(str(info["StateMessage"]))

    # -- wait --------------------------------------------------------------------------------
    def _wait(self, snaps: list[Snap], progress: Progress | None) -> None:
        deadline = time.monotonic() + self.settings.wait_minutes * 60
        pending = [s for s in snaps if not s.completed]
        while True:
            still = []
            for snap in pending:
                try:
                    self._refresh(snap)
                except BreachError as exc:
                    snap.problems.append(f"state not read: {exc.diagnostics()}")
                    continue
                if snap.completed and progress:
                    progress(snap.snapshot_id, 1)
                elif snap.state in BROKEN:
                    snap.problems.append(f"the snapshot is {snap.state}")
                elif not snap.completed:
                    still.append(snap)
            pending = still
            if not pending or time.monotonic() >= deadline:
                break
            self.sleep(self.settings.poll_seconds)
        for snap in pending:
            snap.problems.append(
                f"still {snap.state} ({snap.progress or '?'}) when the step stopped waiting;"
                " AWS goes on with it"
            )

    def _refresh(self, snap: Snap) -> None:
        client = self._client("ec2" if snap.kind == "ebs-volume" else "rds", snap.region)
        if snap.kind == "rds-instance":
            found = self.log.call(
                client.describe_db_snapshots, DBSnapshotIdentifier=snap.snapshot_id
            )
            self._rds_state(snap, found["DBSnapshots"][0])
        elif snap.kind == "rds-cluster":
            found = self.log.call(
                client.describe_db_cluster_snapshots, DBClusterSnapshotIdentifier=snap.snapshot_id
            )
            self._rds_state(snap, found["DBClusterSnapshots"][0])
        else:
            found = self.log.call(client.describe_snapshots, SnapshotIds=[snap.snapshot_id])
            self._ebs_state(snap, found["Snapshots"][0])

    # -- copy and share ----------------------------------------------------------------------
    def _copy(self, snap: Snap, region: str) -> None:
        if not snap.completed:
            snap.problems.append(f"not copied to {region}: the snapshot is not complete")
            return
        tags = {**snap.tags, "breachkit:copy-of": snap.arn or snap.snapshot_id}
        client = self._client("ec2" if snap.kind == "ebs-volume" else "rds", region)
        copy = Snap(snap.kind, snap.source, region, "", source_arn=snap.arn, tags=tags)
        try:
            if snap.kind == "rds-instance":
                made = self.log.call(
                    client.copy_db_snapshot,
                    SourceDBSnapshotIdentifier=snap.arn,
                    TargetDBSnapshotIdentifier=snap.snapshot_id,
                    Tags=self._tag_list(tags),
                    SourceRegion=snap.region,
                )["DBSnapshot"]
                copy.snapshot_id = made["DBSnapshotIdentifier"]
                self._rds_state(copy, made)
            elif snap.kind == "rds-cluster":
                made = self.log.call(
                    client.copy_db_cluster_snapshot,
                    SourceDBClusterSnapshotIdentifier=snap.arn,
                    TargetDBClusterSnapshotIdentifier=snap.snapshot_id,
                    Tags=self._tag_list(tags),
                    SourceRegion=snap.region,
                )["DBClusterSnapshot"]
                copy.snapshot_id = made["DBClusterSnapshotIdentifier"]
                self._rds_state(copy, made)
            else:
                made = self.log.call(
                    client.copy_snapshot,
                    SourceRegion=snap.region,
                    SourceSnapshotId=snap.snapshot_id,
                    Description=f"copy of {snap.snapshot_id} for {self.settings.incident}",
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": self._tag_list(tags)}],
                )
                copy.snapshot_id = made["SnapshotId"]
                copy.arn = self._ebs_arn(region, copy.snapshot_id)
                copy.state = "pending"
        except BreachError as exc:
            copy.snapshot_id = copy.snapshot_id or "(none)"
            copy.state = "not copied"
            copy.problems.append(f"copy to {region} failed: {exc.diagnostics()}")
        snap.copies.append(copy)

    def _share(self, snap: Snap) -> None:
        accounts = list(self.settings.share_with)
        if not accounts or not snap.completed:
            return
        client = self._client("ec2" if snap.kind == "ebs-volume" else "rds", snap.region)
        try:
            if snap.kind == "rds-instance":
                self.log.call(
                    client.modify_db_snapshot_attribute,
                    DBSnapshotIdentifier=snap.snapshot_id,
                    AttributeName="restore",
                    ValuesToAdd=accounts,
                )
                read = self.log.call(
                    client.describe_db_snapshot_attributes, DBSnapshotIdentifier=snap.snapshot_id
                )["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
                shared = _restore_accounts(read)
            elif snap.kind == "rds-cluster":
                self.log.call(
                    client.modify_db_cluster_snapshot_attribute,
                    DBClusterSnapshotIdentifier=snap.snapshot_id,
                    AttributeName="restore",
                    ValuesToAdd=accounts,
                )
                read = self.log.call(
                    client.describe_db_cluster_snapshot_attributes,
                    DBClusterSnapshotIdentifier=snap.snapshot_id,
                )["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
                shared = _restore_accounts(read)
            else:
                self.log.call(
                    client.modify_snapshot_attribute,
                    SnapshotId=snap.snapshot_id,
                    Attribute="createVolumePermission",
                    OperationType="add",
                    UserIds=accounts,
                )
                found = self.log.call(
                    client.describe_snapshot_attribute,
                    SnapshotId=snap.snapshot_id,
                    Attribute="createVolumePermission",
                )
                shared = [p["UserId"] for p in found.get("CreateVolumePermissions", [])]
        except BreachError as exc:
            snap.problems.append(f"not shared: {exc.diagnostics()}")
            return
        snap.shared_with = sorted(a for a in accounts if a in shared)
        missing = sorted(set(accounts) - set(shared))
        if missing:
            snap.problems.append(f"sharing with {', '.join(missing)} not confirmed on read-back")

    # -- record ------------------------------------------------------------------------------
    def _stage(
        self, stager: Stager, snaps: list[Snap], failed: list[FailedItem], reconciled: bool = False
    ) -> str:
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        name = f"{stamp}-{self.settings.run or 'run'}{'-reconciled' if reconciled else ''}"
        target = stager.stage_path(f"cloud/snapshots/{name}.json")
        try:
            identity = self.account.identity()
        except BreachError:
            identity = {}
        record = {
            "incident": self.settings.incident,
            "run": self.settings.run,
            "account": identity.get("Account"),
            "region": self.account.region_name,
            "started_at": rfc3339(self.started),
            "recorded_at": rfc3339(utcnow()),
            "share_with": list(self.settings.share_with),
            "copy_to": list(self.settings.copy_to),
            "snapshots": [s.to_json() for s in snaps],
            "failed": [f.to_json() for f in failed],
            "calls": self.log.summary(),
        }
        if reconciled:
            record["reconciled"] = (
                "the run journaled its intent but not its outcome: these are the snapshots"
                " tagged with its run id as AWS had them when reconciled"
            )
        write_json(target, record)
        source = {
            "system": "aws",
            "account": identity.get("Account"),
            "region": self.account.region_name,
            "snapshots": len(snaps),
            "failed": len(failed),
            "complete": not failed and not any(s.to_json()["problems"] for s in snaps),
        }
        describe(
            target,
            {"media_type": "application/json", "source": source, "collector": collector(COLLECTOR)},
        )
        return staged_name(stager, target)


def _restore_accounts(attributes: list[dict[str, Any]]) -> list[str]:
    return [
        str(value)
        for attribute in attributes
        if attribute.get("AttributeName") == "restore"
        for value in attribute.get("AttributeValues", [])
    ]


def _time(value: Any) -> str | None:
    return rfc3339(value.astimezone(UTC)) if isinstance(value, datetime) else None
