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

With a KMS key (`kms_key`), the copies are encrypted with it: every copy to another region, and,
when sharing, a copy in the snapshot's own region of every encrypted snapshot, which is shared in
its place (the original's key may be AWS managed, or one the forensics account cannot use). The
key is looked up in each region first (DescribeKey: it must exist there, be enabled and be a
customer managed key), and each copy is read back: a copy not encrypted with it is a problem.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core import faults
from core.artifacts import TOOL_VERSION, collector, describe
from core.errors import BadInput, BreachError, StepFailed
from core.fsio import write_json
from core.timeutil import rfc3339, utcnow
from evidence.aws.calls import RetryLog
from evidence.interface import (
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    commit_described,
    hidden_twin,
    remove_hidden,
    staged_name,
)

if TYPE_CHECKING:
    from evidence.aws.settings import SnapshotSettings

COLLECTOR = "evidence.aws.snapshots"
DONE = {"available", "completed"}
BROKEN = {"failed", "error", "incompatible-restore", "recoverable"}
REGION_COPY = "region copy"
SHARE_COPY = "re-encrypted to share"
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:(?:key|alias)/")
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
    kms_key_id: str | None = None
    purpose: str = "snapshot"  # or, for a copy, REGION_COPY or SHARE_COPY
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
            "kms_key_id": self.kms_key_id,
            "tags": self.tags,
            "shared_with": self.shared_with,
            "copies": [
                {
                    "region": c.region,
                    "purpose": c.purpose,
                    "snapshot_id": c.snapshot_id,
                    "arn": c.arn,
                    "state": c.state,
                    "encrypted": c.encrypted,
                    "kms_key_id": c.kms_key_id,
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
        self._keys: dict[str, str] = {}  # region -> the key's ARN there

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
            if self.settings.kms_key and self.settings.share_with:
                for snap in [s for s in snaps if s.completed and s.encrypted]:
                    self._copy(snap, snap.region, purpose=SHARE_COPY)
            copies = [c for s in snaps for c in s.copies]
            self._wait(copies, progress)
            for copy in copies:
                self._check_encryption(copy)
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
        snap.kms_key_id = info.get("KmsKeyId") or snap.kms_key_id

    @staticmethod
    def _ebs_state(snap: Snap, info: dict[str, Any]) -> None:
        snap.state = str(info.get("State", snap.state))
        snap.progress = info.get("Progress") or snap.progress
        snap.created_at = _time(info.get("StartTime")) or snap.created_at
        if info.get("Encrypted") is not None:
            snap.encrypted = bool(info["Encrypted"])
        snap.kms_key_id = info.get("KmsKeyId") or snap.kms_key_id
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
    def _copy(self, snap: Snap, region: str, purpose: str = REGION_COPY) -> None:
        if not snap.completed:
            snap.problems.append(f"not copied to {region}: the snapshot is not complete")
            return
        tags = {**snap.tags, "breachkit:copy-of": snap.arn or snap.snapshot_id}
        client = self._client("ec2" if snap.kind == "ebs-volume" else "rds", region)
        copy = Snap(snap.kind, snap.source, region, "", source_arn=snap.arn, tags=tags)
        copy.purpose = purpose
        # A copy in the snapshot's own region needs another identifier (RDS), and no
        # pre-signed request (botocore makes one for RDS whenever SourceRegion is given).
        target = snap.snapshot_id if region != snap.region else f"{snap.snapshot_id[:240]}-shared"
        source_region = {"SourceRegion": snap.region} if region != snap.region else {}
        try:
            key = self._key(region) if self.settings.kms_key else None
            if snap.kind == "rds-instance":
                made = self.log.call(
                    client.copy_db_snapshot,
                    SourceDBSnapshotIdentifier=snap.arn,
                    TargetDBSnapshotIdentifier=target,
                    Tags=self._tag_list(tags),
                    **source_region,
                    **({"KmsKeyId": key} if key else {}),
                )["DBSnapshot"]
                copy.snapshot_id = made["DBSnapshotIdentifier"]
                self._rds_state(copy, made)
            elif snap.kind == "rds-cluster":
                # AWS encrypts a cluster snapshot's copy only when the snapshot is encrypted
                # (an unencrypted one's copy stays so: _check_encryption says it)
                made = self.log.call(
                    client.copy_db_cluster_snapshot,
                    SourceDBClusterSnapshotIdentifier=snap.arn,
                    TargetDBClusterSnapshotIdentifier=target,
                    Tags=self._tag_list(tags),
                    **source_region,
                    **({"KmsKeyId": key} if key and snap.encrypted else {}),
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
                    **({"Encrypted": True, "KmsKeyId": key} if key else {}),
                )
                copy.snapshot_id = made["SnapshotId"]
                copy.arn = self._ebs_arn(region, copy.snapshot_id)
                copy.state = "pending"
        except BreachError as exc:
            copy.snapshot_id = copy.snapshot_id or "(none)"
            copy.state = "not copied"
            copy.problems.append(f"copy to {region} failed: {exc.diagnostics()}")
        snap.copies.append(copy)

    def _key(self, region: str) -> str:
        """The ARN of the settings' KMS key in `region`, looked up once: it must exist there, be
        enabled and be customer managed (an AWS managed key's snapshots cannot be shared)."""
        if region not in self._keys:
            given = str(self.settings.kms_key)
            try:
                found = self.log.call(self._client("kms", region).describe_key, KeyId=given)
            except BreachError as exc:
                problem = f"KMS key {given} not usable in {region}: {exc.diagnostics()}"
                raise StepFailed(problem) from None
            meta = found["KeyMetadata"]
            if meta.get("KeyState", "Enabled") != "Enabled":
                raise StepFailed(f"KMS key {given} in {region} is {meta.get('KeyState')}")
            if meta.get("KeyManager") == "AWS":
                raise StepFailed(f"KMS key {given} in {region} is AWS managed: not shareable")
            self._keys[region] = str(meta["Arn"])
        return self._keys[region]

    def _check_encryption(self, copy: Snap) -> None:
        """A completed copy made with the KMS key is encrypted with it (read back from AWS)."""
        if not self.settings.kms_key or not copy.completed:
            return
        wanted = self._keys.get(copy.region, "")
        same_key = (copy.kms_key_id or "") in (wanted, wanted.rsplit("/", 1)[-1])
        if not copy.encrypted or not same_key:
            copy.problems.append(
                f"the copy in {copy.region} is not encrypted with {self.settings.kms_key}"
                f" (encrypted: {copy.encrypted}, key: {copy.kms_key_id})"
            )

    def _share(self, snap: Snap) -> None:
        accounts = list(self.settings.share_with)
        if not accounts or not snap.completed:
            return
        if any(c.purpose == SHARE_COPY for c in snap.copies):
            return  # shared through its copy under the KMS key
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
        tmp = hidden_twin(target)
        write_json(tmp, record)
        source = {
            "system": "aws",
            "account": identity.get("Account"),
            "region": self.account.region_name,
            "snapshots": len(snaps),
            "failed": len(failed),
            "complete": not failed and not any(s.to_json()["problems"] for s in snaps),
        }
        try:  # the record and its sidecar, hidden until the step's journal entry
            describe(
                tmp,
                {
                    "media_type": "application/json",
                    "source": source,
                    "collector": collector(COLLECTOR),
                },
            )
            faults.point("cloud-snapshot.recorded")
        except BaseException:
            remove_hidden(tmp)
            raise
        commit_described(stager, tmp, target)
        return staged_name(stager, target)


def check_kms_key(settings: SnapshotSettings) -> None:
    """Refused before anything is created: a key with no copy to encrypt, or a key's ARN (one
    region's key) where copies are made in another region too."""
    key = settings.kms_key
    if not key:
        return
    if not settings.copy_to and not settings.share_with:
        raise BadInput(
            "a KMS key encrypts copies: copy to a region or share with an account too",
            field="kms_key",
        )
    found = KEY_ARN.match(key)
    if not found:
        return
    needed = set(settings.copy_to) | ({settings.aws.region_name} if settings.share_with else set())
    elsewhere = sorted(needed - {found["region"]})
    if elsewhere:
        raise BadInput(
            f"the KMS key's ARN names a key in {found['region']}; copies are made in"
            f" {', '.join(elsewhere)}",
            hint="give its alias (alias/NAME) or a multi-Region key's mrk- id: each region"
            " finds its own",
            field="kms_key",
        )


def _restore_accounts(attributes: list[dict[str, Any]]) -> list[str]:
    return [
        str(value)
        for attribute in attributes
        if attribute.get("AttributeName") == "restore"
        for value in attribute.get("AttributeValues", [])
    ]


def _time(value: Any) -> str | None:
    return rfc3339(value.astimezone(UTC)) if isinstance(value, datetime) else None
