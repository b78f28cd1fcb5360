"""`kms_key` for cloud snapshots against moto (in-process): copies to another region encrypted
with the key, encrypted snapshots shared through a copy re-encrypted with it (never the original),
each copy's encryption read back from AWS, and a key that cannot serve refused or recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.cloud import CloudSnapshotStepSettings, cloud_snapshot
from core.errors import BadInput

FORENSICS = "111122223333"
ALIAS = "alias/forensics"


def make_key(region: str, alias: str | None = ALIAS) -> str:
    """A customer managed key in `region` (with the alias), its ARN."""
    import boto3

    kms = boto3.client("kms", region_name=region)
    arn = str(kms.create_key(Description="forensics copies")["KeyMetadata"]["Arn"])
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn


@pytest.fixture
def resources(aws: None) -> Iterator[dict[str, Any]]:
    """An RDS instance and EBS volumes, encrypted with the victim's own key, and one plain
    volume; the forensics key (alias/forensics) in us-east-1 and eu-west-1."""
    import boto3

    rds, ec2 = boto3.client("rds"), boto3.client("ec2")
    victim_key = make_key("us-east-1", alias=None)
    database: dict[str, Any] = {
        "Engine": "postgres",
        "DBInstanceClass": "db.t3.micro",
        "AllocatedStorage": 20,
        "MasterUsername": "app",
        "MasterUserPassword": "not-a-secret-1",
    }
    rds.create_db_instance(DBInstanceIdentifier="plain-db", **database)
    rds.create_db_instance(
        DBInstanceIdentifier="secret-db", StorageEncrypted=True, KmsKeyId=victim_key, **database
    )
    sealed = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=8, Encrypted=True, KmsKeyId=victim_key
    )["VolumeId"]
    plain = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    keys = {region: make_key(region) for region in ("us-east-1", "eu-west-1")}
    yield {"rds": rds, "ec2": ec2, "sealed": sealed, "plain": plain, "keys": keys}


def ours(ec2: Any) -> list[str]:
    """The EBS snapshots breachkit made (tagged with a run) in the client's region."""
    tagged = [{"Name": "tag-key", "Values": ["breachkit:run"]}]
    return [s["SnapshotId"] for s in ec2.describe_snapshots(Filters=tagged)["Snapshots"]]


def take(case: Case, **targets: Any) -> Any:
    return cloud_snapshot(CloudSnapshotStepSettings(case=str(case.root), **targets))


def test_copies_to_another_region_are_encrypted_with_the_key(
    case: Case, resources: dict[str, Any]
) -> None:
    import boto3

    eu_key = resources["keys"]["eu-west-1"]
    result = take(
        case,
        rds_instances=["plain-db"],
        ebs_volumes=[resources["plain"]],
        copy_to=["eu-west-1"],
        kms_key=ALIAS,
    )
    assert result.problem is None, result.problem
    db_copy, ebs_copy = (s.copies[0] for s in result.snapshots)
    for copy in (db_copy, ebs_copy):
        assert (copy.region, copy.purpose, copy.encrypted) == ("eu-west-1", "region copy", True)
        assert copy.kms_key_id == eu_key
    (found,) = boto3.client("rds", region_name="eu-west-1").describe_db_snapshots(
        DBSnapshotIdentifier=db_copy.snapshot_id
    )["DBSnapshots"]
    assert (found["Encrypted"], found["KmsKeyId"]) == (True, eu_key)
    (snap,) = boto3.client("ec2", region_name="eu-west-1").describe_snapshots(
        SnapshotIds=[ebs_copy.snapshot_id]
    )["Snapshots"]
    assert (snap["Encrypted"], snap["KmsKeyId"]) == (True, eu_key)
    intent = [e for e in case.timeline() if e["result"] == "intent"][-1]
    assert intent["details"]["kms_key"] == ALIAS  # journaled before anything was created
    record = json.loads((case.staging / result.record).read_text())
    assert record["snapshots"][0]["copies"][0]["kms_key_id"] == eu_key


def test_encrypted_snapshots_are_shared_through_a_copy_under_the_key(
    case: Case, resources: dict[str, Any]
) -> None:
    rds, ec2 = resources["rds"], resources["ec2"]
    us_key = resources["keys"]["us-east-1"]
    result = take(
        case,
        rds_instances=["secret-db"],
        ebs_volumes=[resources["sealed"], resources["plain"]],
        share_with=[FORENSICS],
        kms_key=ALIAS,
    )
    assert result.problem is None, result.problem
    db, sealed, plain = result.snapshots
    for original in (db, sealed):
        assert original.encrypted and original.kms_key_id != us_key
        assert original.shared_with == []  # its key is not the forensics account's to use
        (copy,) = original.copies
        assert (copy.region, copy.purpose) == ("us-east-1", "re-encrypted to share")
        assert (copy.encrypted, copy.kms_key_id, copy.shared_with) == (True, us_key, [FORENSICS])
    assert plain.encrypted is False and plain.copies == [] and plain.shared_with == [FORENSICS]

    def restore(snapshot_id: str) -> list[str]:
        found = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=snapshot_id)
        attributes = found["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
        return [v for a in attributes if a["AttributeName"] == "restore" for v in a["AttributeValues"]]  # fmt: skip

    assert restore(db.snapshot_id) == [] and restore(db.copies[0].snapshot_id) == [FORENSICS]
    (found,) = rds.describe_db_snapshots(DBSnapshotIdentifier=db.copies[0].snapshot_id)[
        "DBSnapshots"
    ]
    assert found["KmsKeyId"] == us_key and found["Encrypted"]

    def permitted(snapshot_id: str) -> list[dict[str, str]]:
        return list(
            ec2.describe_snapshot_attribute(
                SnapshotId=snapshot_id, Attribute="createVolumePermission"
            )["CreateVolumePermissions"]
        )

    assert permitted(sealed.snapshot_id) == []
    assert permitted(sealed.copies[0].snapshot_id) == [{"UserId": FORENSICS}]
    tags = ec2.describe_snapshots(SnapshotIds=[sealed.copies[0].snapshot_id])["Snapshots"][0]
    assert {t["Key"]: t["Value"] for t in tags["Tags"]}["breachkit:copy-of"] == sealed.arn


def test_a_key_that_cannot_serve_a_region_leaves_its_copies_unmade_and_says_why(
    case: Case, resources: dict[str, Any]
) -> None:
    import boto3

    eu_key = resources["keys"]["eu-west-1"].rsplit("/", 1)[-1]
    boto3.client("kms", region_name="eu-west-1").disable_key(KeyId=eu_key)
    result = take(
        case, ebs_volumes=[resources["plain"]], copy_to=["eu-west-1", "eu-central-1"], kms_key=ALIAS
    )
    (snap,) = result.snapshots
    assert snap.completed  # the snapshot itself is taken and on record
    disabled, missing = snap.copies
    assert disabled.state == missing.state == "not copied"
    assert "in eu-west-1 is Disabled" in str(disabled.error)
    assert "not usable in eu-central-1" in str(missing.error) and "NotFound" in str(missing.error)
    assert result.problem and "eu-central-1" in result.problem
    assert ours(boto3.client("ec2", region_name="eu-west-1")) == []
    assert case.timeline()[-1]["result"] == "incomplete"


def test_a_key_that_cannot_be_used_is_refused_before_anything_is_made(
    case: Case, resources: dict[str, Any]
) -> None:
    from pydantic import ValidationError

    arn = resources["keys"]["us-east-1"]
    with pytest.raises(BadInput, match="names a key in us-east-1; copies are made in eu-west-1"):
        take(case, ebs_volumes=[resources["plain"]], copy_to=["eu-west-1"], kms_key=arn)
    with pytest.raises(BadInput, match="copy to a region or share"):
        take(case, ebs_volumes=[resources["plain"]], kms_key=ALIAS)
    with pytest.raises(ValidationError, match="is not a KMS key"):
        take(case, ebs_volumes=[resources["plain"]], copy_to=["eu-west-1"], kms_key="../key")
    assert [e["what"] for e in case.timeline()] == ["incident.open"]
    assert ours(resources["ec2"]) == []
    # the same ARN where it is the key of every region it serves: accepted
    same = take(case, ebs_volumes=[resources["plain"]], share_with=[FORENSICS], kms_key=arn)
    assert same.problem is None
