"""RDS and EBS snapshots against moto (in-process): created, tagged, waited for, shared and copied,
read back from AWS, recorded in the case, and the intent journaled before anything was created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.cloud import CloudSnapshotStepSettings, cloud_snapshot
from core.errors import BadInput

FORENSICS = "111122223333"


@pytest.fixture
def resources(aws: None) -> Iterator[dict[str, Any]]:
    import boto3

    rds, ec2 = boto3.client("rds"), boto3.client("ec2")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
    )
    rds.create_db_cluster(
        DBClusterIdentifier="ledger",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
    )
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    yield {"rds": rds, "ec2": ec2, "volume": volume, "instance": instance["InstanceId"]}


def take(case: Case, **targets: Any) -> Any:
    return cloud_snapshot(CloudSnapshotStepSettings(case=str(case.root), **targets))


def test_rds_and_ebs_snapshots_are_taken_tagged_and_recorded(
    case: Case, resources: dict[str, Any]
) -> None:
    rds, ec2 = resources["rds"], resources["ec2"]
    result = take(
        case,
        rds_instances=["orders-db"],
        rds_clusters=["ledger"],
        ebs_volumes=[resources["volume"]],
        instances=[resources["instance"]],
    )
    assert result.problem is None and result.failed == []
    kinds = [(s.kind, s.source.split(":")[0]) for s in result.snapshots]
    assert kinds == [
        ("rds-instance", "orders-db"),
        ("rds-cluster", "ledger"),
        ("ebs-volume", resources["volume"]),
        ("ebs-volume", resources["instance"]),
    ]
    assert all(s.completed and s.state in ("available", "completed") for s in result.snapshots)
    want = {"breachkit:incident": case.id, "breachkit:run": result.run}

    db = rds.describe_db_snapshots(DBSnapshotIdentifier=result.snapshots[0].snapshot_id)
    (snap,) = db["DBSnapshots"]
    assert snap["DBInstanceIdentifier"] == "orders-db"
    assert snap["DBSnapshotArn"] == result.snapshots[0].arn
    tags = rds.list_tags_for_resource(ResourceName=snap["DBSnapshotArn"])["TagList"]
    assert want.items() <= {t["Key"]: t["Value"] for t in tags}.items()
    assert result.snapshots[0].source_arn and result.snapshots[0].source_arn.endswith(":orders-db")

    cluster = rds.describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=result.snapshots[1].snapshot_id
    )["DBClusterSnapshots"][0]
    assert cluster["DBClusterIdentifier"] == "ledger"

    ebs = ec2.describe_snapshots(SnapshotIds=[s.snapshot_id for s in result.snapshots[2:]])
    for found in ebs["Snapshots"]:
        assert want.items() <= {t["Key"]: t["Value"] for t in found["Tags"]}.items()
    volumes = {s["VolumeId"] for s in ebs["Snapshots"]}
    assert resources["volume"] in volumes and len(volumes) == 2
    assert result.snapshots[2].arn == f"arn:aws:ec2:us-east-1::snapshot/{ebs_id(result, 2)}"

    record = json.loads((case.staging / result.record).read_text())
    assert record["incident"] == case.id and record["run"] == result.run
    assert [s["snapshot_id"] for s in record["snapshots"]] == [
        s.snapshot_id for s in result.snapshots
    ]
    assert all(s["created_at"] and s["source"] for s in record["snapshots"])
    sidecar = json.loads((case.staging / f"{result.record}.meta.json").read_text())
    assert sidecar["source"]["complete"] is True


def ebs_id(result: Any, index: int) -> str:
    return str(result.snapshots[index].snapshot_id)


def test_the_intent_is_journaled_before_the_outcome(case: Case, resources: dict[str, Any]) -> None:
    result = take(case, rds_instances=["orders-db"], share_with=[FORENSICS])
    intent, outcome = case.timeline()[-2:]
    assert (intent["what"], intent["result"]) == ("evidence.cloud-snapshot", "intent")
    assert intent["details"]["run"] == result.run
    assert intent["details"]["targets"] == {"rds_instances": ["orders-db"]}
    assert intent["details"]["share_with"] == [FORENSICS]
    assert (outcome["result"], outcome["details"]["run"]) == ("ok", result.run)
    assert outcome["details"]["record"] == result.record


def test_sharing_is_applied_and_read_back(case: Case, resources: dict[str, Any]) -> None:
    rds, ec2 = resources["rds"], resources["ec2"]
    result = take(
        case,
        rds_instances=["orders-db"],
        rds_clusters=["ledger"],
        ebs_volumes=[resources["volume"]],
        share_with=[FORENSICS],
    )
    assert result.problem is None
    assert all(s.shared_with == [FORENSICS] for s in result.snapshots)
    attributes = rds.describe_db_snapshot_attributes(
        DBSnapshotIdentifier=result.snapshots[0].snapshot_id
    )["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
    assert {"AttributeName": "restore", "AttributeValues": [FORENSICS]} in attributes
    permissions = ec2.describe_snapshot_attribute(
        SnapshotId=result.snapshots[2].snapshot_id, Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    assert permissions == [{"UserId": FORENSICS}]


def test_copies_land_in_the_other_region_tagged(case: Case, resources: dict[str, Any]) -> None:
    import boto3

    result = take(
        case,
        rds_instances=["orders-db"],
        ebs_volumes=[resources["volume"]],
        copy_to=["eu-west-1"],
        share_with=[FORENSICS],
    )
    assert result.problem is None
    db_copy, ebs_copy = (s.copies[0] for s in result.snapshots)
    assert db_copy.region == "eu-west-1" and db_copy.state == "available"
    assert db_copy.shared_with == [FORENSICS]
    eu_rds = boto3.client("rds", region_name="eu-west-1")
    (found,) = eu_rds.describe_db_snapshots(DBSnapshotIdentifier=db_copy.snapshot_id)["DBSnapshots"]
    assert found["DBSnapshotArn"] == db_copy.arn and ":eu-west-1:" in str(db_copy.arn)
    eu_ec2 = boto3.client("ec2", region_name="eu-west-1")
    (snap,) = eu_ec2.describe_snapshots(SnapshotIds=[ebs_copy.snapshot_id])["Snapshots"]
    tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
    assert tags["breachkit:incident"] == case.id
    assert tags["breachkit:copy-of"] == result.snapshots[1].arn


def test_a_missing_resource_is_reported_after_the_others_are_taken(
    case: Case, resources: dict[str, Any]
) -> None:
    result = take(case, rds_instances=["orders-db", "no-such-db"], ebs_volumes=["vol-0000000000"])
    assert [s.source for s in result.snapshots] == ["orders-db"]
    assert [f.target for f in result.failed] == [
        "rds-instance no-such-db",
        "ebs-volume vol-0000000000",
    ]
    assert "DBInstanceNotFound" in result.failed[0].reason
    assert result.problem and "no-such-db" in result.problem
    record = json.loads((case.staging / result.record).read_text())
    assert [f["target"] for f in record["failed"]] == [f.target for f in result.failed]
    assert case.timeline()[-1]["result"] == "incomplete"


def test_a_snapshot_not_complete_in_time_is_a_problem_not_a_wait_forever(
    case: Case, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.aws import snapshots

    def stuck(self: Any, snap: Any, info: dict[str, Any]) -> None:
        snap.state, snap.progress = "pending", "40%"

    monkeypatch.setattr(snapshots.CloudSnapshots, "_ebs_state", stuck)
    result = take(case, ebs_volumes=[resources["volume"]], wait_minutes=0, copy_to=["eu-west-1"])
    (snap,) = result.snapshots
    assert snap.state == "pending" and not snap.completed
    assert any("still pending (40%)" in p for p in snap.problems)
    assert any("not copied to eu-west-1" in p for p in snap.problems)
    assert result.problem


def test_nothing_to_snapshot_and_bad_accounts_are_refused(case: Case, aws: None) -> None:
    from pydantic import ValidationError

    with pytest.raises(BadInput, match="nothing to snapshot"):
        take(case)
    with pytest.raises(ValidationError, match="12 digits"):
        take(case, rds_instances=["db"], share_with=["1111"])
    with pytest.raises(ValidationError, match="not an AWS region"):
        take(case, rds_instances=["db"], copy_to=["../eu"])
    assert [e["what"] for e in case.timeline()] == ["incident.open"]


def test_a_run_that_died_after_its_intent_is_reconciled_by_the_next(
    case: Case, resources: dict[str, Any]
) -> None:
    """The intent is journaled, a snapshot created and tagged, then the process dies: the next
    run finds it by its run id, stages its record and journals the outcome, once."""
    ec2 = resources["ec2"]
    case.journal(
        "evidence.cloud-snapshot",
        result="intent",
        details={"run": "0123456789ab", "targets": {"ebs_volumes": [resources["volume"]]}},
    )
    tags = [
        {"Key": "breachkit:run", "Value": "0123456789ab"},
        {"Key": "breachkit:source", "Value": resources["volume"]},
    ]
    orphan = ec2.create_snapshot(
        VolumeId=resources["volume"],
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}],
    )["SnapshotId"]
    ec2.create_snapshot(VolumeId=resources["volume"])  # not ours: not reconciled
    resources["rds"].create_db_snapshot(
        DBSnapshotIdentifier="nightly", DBInstanceIdentifier="orders-db"
    )

    result = take(case, rds_instances=["orders-db"])
    (earlier,) = result.reconciled
    assert earlier.run == "0123456789ab"
    assert [(s.snapshot_id, s.source, s.state) for s in earlier.snapshots] == [
        (orphan, resources["volume"], "completed")
    ]
    record = json.loads((case.staging / earlier.record).read_text())
    assert record["reconciled"] and record["snapshots"][0]["snapshot_id"] == orphan
    reconciled = [e for e in case.timeline() if e["result"] == "reconciled"]
    assert [e["details"]["run"] for e in reconciled] == ["0123456789ab"]
    assert take(case, rds_instances=["orders-db"]).reconciled == []
