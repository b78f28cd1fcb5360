"""CloudTrail: the delivery layout read from a folder and from S3 (moto), objects preserved byte
for byte, the Parquet view read back by pyarrow and DuckDB, completeness recorded.

The helpers here (realistic records, objects in CloudTrail's layout, digests as CloudTrail
documents them) are shared with the digest and CLI tests."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from breach.case import Case
from core.errors import BadInput
from core.fsio import name_to_file

ACCOUNT = "111122223333"
OTHER = "444455556666"
ORG = "o-abcdef1234"
ATTACKER_IP = "203.0.113.7"
KEY_ID = "AKIAEXAMPLEATTACKER1"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(kind: str, at: datetime, region: str = "us-east-1", n: int = 0) -> dict[str, Any]:
    """One record of a kind CloudTrail writes: iam-user, assumed-role, federated, root, console
    login, s3 data event, denied call, minimal (optional fields absent)."""
    base: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": _iso(at),
        "awsRegion": region,
        "eventID": f"ev-{kind}-{n}-{at.timestamp():.0f}",
        "requestID": f"req-{n}",
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "readOnly": True,
        "recipientAccountId": ACCOUNT,
        "userAgent": "aws-cli/2.15.0 Python/3.11",
        "sourceIPAddress": "198.51.100.20",
    }
    if kind == "iam-user":
        base |= {
            "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers",
            "sourceIPAddress": ATTACKER_IP,
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
                "accountId": ACCOUNT,
                "accessKeyId": KEY_ID,
                "userName": "mallory",
            },
            "requestParameters": None,
            "responseElements": None,
        }
    elif kind == "assumed-role":
        base |= {
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:ops",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/ops-session",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLESESSION01",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLE",
                        "arn": f"arn:aws:iam::{ACCOUNT}:role/ops",
                        "accountId": ACCOUNT,
                        "userName": "ops",
                    },
                    "attributes": {"creationDate": _iso(at), "mfaAuthenticated": "true"},
                },
            },
            "requestParameters": {"instancesSet": {}, "filterSet": {}},
        }
    elif kind == "federated":
        base |= {
            "eventSource": "sts.amazonaws.com",
            "eventName": "GetCallerIdentity",
            "userIdentity": {
                "type": "FederatedUser",
                "principalId": f"{ACCOUNT}:alice",
                "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/alice",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLEFEDERATED",
                "sessionContext": {
                    "sessionIssuer": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/b"},
                    "attributes": {"mfaAuthenticated": "false"},
                },
            },
        }
    elif kind == "root":
        base |= {
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateAccessKey",
            "readOnly": False,
            "userIdentity": {
                "type": "Root",
                "principalId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:root",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLEROOT00001",
            },
            "requestParameters": {"userName": "backdoor"},
            "responseElements": {"accessKey": {"accessKeyId": "AKIANEWKEY", "status": "Active"}},
        }
    elif kind == "console":
        base |= {
            "eventSource": "signin.amazonaws.com",
            "eventName": "ConsoleLogin",
            "eventType": "AwsConsoleSignIn",
            "readOnly": False,
            "sourceIPAddress": ATTACKER_IP,
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
                "accountId": ACCOUNT,
                "userName": "mallory",
            },
            "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"},
        }
    elif kind == "s3-data":
        base |= {
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "managementEvent": False,
            "eventCategory": "Data",
            "sourceIPAddress": ATTACKER_IP,
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
                "accountId": ACCOUNT,
                "accessKeyId": KEY_ID,
                "userName": "mallory",
            },
            "requestParameters": {"bucketName": "customer-data", "key": f"exports/{n}.csv"},
            "resources": [
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::customer-data/exports/{n}.csv"},
                {
                    "accountId": ACCOUNT,
                    "type": "AWS::S3::Bucket",
                    "ARN": "arn:aws:s3:::customer-data",
                },
            ],
        }
    elif kind == "denied":
        base |= {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "GetSecretValue",
            "sourceIPAddress": ATTACKER_IP,
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
                "accountId": ACCOUNT,
                "accessKeyId": KEY_ID,
            },
            "errorCode": "AccessDenied",
            "errorMessage": "User: mallory is not authorized to perform: GetSecretValue",
        }
    elif kind == "minimal":  # optional fields absent
        base = {"eventTime": _iso(at), "eventSource": "kms.amazonaws.com", "eventName": "Decrypt"}
    return base


KINDS = ["iam-user", "assumed-role", "federated", "root", "console", "s3-data", "denied", "minimal"]


def log_key(
    account: str, region: str, delivered: datetime, n: int = 0, org: str | None = None
) -> str:
    day = delivered.strftime("%Y/%m/%d")
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    root = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
    return (
        f"{root}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_x{n:04d}.json.gz"
    )


def log_object(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)


def trail_objects(start: datetime, hours: int, region: str = "us-east-1", account: str = ACCOUNT,
                  org: str | None = None) -> dict[str, bytes]:  # fmt: skip
    """One object an hour; each holds one record of every kind, its events in the hour before
    its delivery (so a window boundary falls inside files)."""
    objects = {}
    for hour in range(hours):
        delivered = start + timedelta(hours=hour + 1, minutes=5)
        events = [
            record(kind, delivered - timedelta(minutes=60 - 7 * i), region, hour * 10 + i)
            for i, kind in enumerate(KINDS)
        ]
        objects[log_key(account, region, delivered, hour, org)] = log_object(events)
    return objects


def write_tree(root: Path, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def put_bucket(bucket: str, objects: dict[str, bytes], endpoint: str | None = None) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def new_case(tmp_path: Path) -> Case:
    return Case.open("INC-CT-1", "P1", "cloudtrail test", root=tmp_path / "case")


def events_of(case: Case, artifact: str) -> Any:
    import pyarrow as pa

    folder = case.staging / artifact / "events"
    files = sorted(p for p in folder.rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in files]) if files else None


START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def run(case: Case, **settings: Any) -> Any:
    from breach.procedure.cloudtrail import CloudTrailStepSettings, cloudtrail

    return cloudtrail(CloudTrailStepSettings(case=str(case.root), **settings))


# -- tests ----------------------------------------------------------------------------------
def test_local_copy_window_inside_files_all_columns(tmp_path: Path) -> None:
    objects = trail_objects(START, 30) | trail_objects(START, 30, region="eu-west-1")
    write_tree(tmp_path / "trail", objects)
    case = new_case(tmp_path)
    since, until = START + timedelta(hours=2, minutes=30), START + timedelta(hours=26)
    result = run(case, source=tmp_path / "trail", since=since, until=until)
    table = events_of(case, result.artifact)
    # every event in [since, until), none outside, from both regions and two days
    expected = 0
    for data in objects.values():
        for rec in json.loads(gzip.decompress(data))["Records"]:
            at = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            expected += since <= at < until
    assert result.rows == table.num_rows == expected > 0
    assert not result.not_covered
    times = table.column("event_time").to_pylist()
    assert min(times) >= since and max(times) < until
    assert set(table.column("aws_region").to_pylist()) == {"us-east-1", "eu-west-1", None}
    rows = {r["event_name"]: r for r in table.to_pylist()}
    assert rows["DescribeInstances"]["session_issuer_arn"] == f"arn:aws:iam::{ACCOUNT}:role/ops"
    assert rows["DescribeInstances"]["mfa_authenticated"] is True
    assert rows["ConsoleLogin"]["mfa_authenticated"] is False
    assert rows["ConsoleLogin"]["event_type"] == "AwsConsoleSignIn"
    assert rows["CreateAccessKey"]["identity_type"] == "Root"
    assert rows["CreateAccessKey"]["read_only"] is False
    assert rows["GetCallerIdentity"]["identity_type"] == "FederatedUser"
    assert rows["GetSecretValue"]["error_code"] == "AccessDenied"
    assert rows["GetObject"]["management_event"] is False
    assert rows["GetObject"]["request_bucket"] == "customer-data"
    assert {r["type"] for r in rows["GetObject"]["resources"]} == {
        "AWS::S3::Object",
        "AWS::S3::Bucket",
    }
    assert rows["Decrypt"]["identity_arn"] is None and rows["Decrypt"]["source_ip"] is None
    assert rows["ListUsers"]["access_key_id"] == KEY_ID
    # the full record and where it came from
    for row in table.to_pylist()[:50]:
        original = json.loads(gzip.decompress(objects[row["log_object"]]))["Records"]
        assert json.loads(row["record"]) == original[row["log_index"]]
    # preserved byte for byte, under safe names, with the key in the sidecar
    meta = json.loads((case.staging / result.artifact / "objects.meta.json").read_text())
    listed = meta["source"]["objects"]
    assert listed and all(o["key"] in objects for o in listed)
    for entry in listed:
        data = (case.staging / result.artifact / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert hashlib.sha256(objects[entry["key"]]).hexdigest() == entry["sha256"]
    # Hive partitions by day
    days = sorted(
        p.name for p in (case.staging / result.artifact / "events").iterdir() if p.is_dir()
    )
    assert days == ["day=2026-11-01", "day=2026-11-02"]


def test_duckdb_reads_the_view_as_it_is(tmp_path: Path) -> None:
    duckdb = pytest.importorskip(
        "duckdb", reason="duckdb is in the test extras: pip install -e .[test]"
    )
    write_tree(tmp_path / "trail", trail_objects(START, 6))
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "trail", since=START, until=START + timedelta(hours=7))
    glob = str(case.staging / result.artifact / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    count, day, denied, resources = con.execute(
        "SELECT count(*), min(day), count(*) FILTER (WHERE error_code = 'AccessDenied'),"
        " sum(len(resources)) FROM read_parquet(?, hive_partitioning = true)",
        [glob],
    ).fetchone()
    assert count == result.rows == 6 * len(KINDS)
    assert str(day) == "2026-11-01" and denied == 6 and resources == 12
    columns = [
        r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [glob]).fetchall()
    ]
    from evidence.aws.cloudtrail_records import SCHEMA

    assert columns == [*SCHEMA.names, "day"]  # the Hive partition, as DuckDB reads it


def test_s3_in_process_org_trail_accounts_and_regions(tmp_path: Path, aws: None) -> None:
    objects = (
        trail_objects(START, 4, org=ORG)
        | trail_objects(START, 4, region="ap-south-1", org=ORG)
        | trail_objects(START, 4, account=OTHER, org=ORG)
    )
    put_bucket("org-trail", {f"logs/{k}": v for k, v in objects.items()})
    case = new_case(tmp_path)
    result = run(
        case, bucket="s3://org-trail/logs", since=START, until=START + timedelta(hours=5),
        accounts=[ACCOUNT, "999999999999"], regions=["us-east-1"], jobs=3,
    )  # fmt: skip
    table = events_of(case, result.artifact)
    assert set(table.column("aws_region").to_pylist()) == {"us-east-1", None}  # None: minimal
    assert table.num_rows == 4 * len(KINDS)
    assert result.coverage["accounts_not_collected"] == [OTHER]
    assert result.coverage["regions_not_collected"] == ["ap-south-1"]
    assert [n.target for n in result.not_covered] == ["account 999999999999"]
    journal = case.journal_path.read_text().splitlines()
    assert json.loads(journal[-1])["result"] == "failed"


def test_malformed_object_recorded_others_parsed(tmp_path: Path) -> None:
    objects = trail_objects(START, 3)
    bad_key = log_key(ACCOUNT, "us-east-1", START + timedelta(minutes=30), 99)
    objects[bad_key] = gzip.compress(b'{"Records": [{"eventTime": "2026-11-01T00:10:00Z"', mtime=0)
    write_tree(tmp_path / "trail", objects)
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "trail", since=START, until=START + timedelta(hours=4))
    assert result.rows == 3 * len(KINDS)
    assert [n.target for n in result.not_covered] == [bad_key]
    assert "preserved, not parsed" in result.not_covered[0].reason
    assert (case.staging / result.artifact / "objects").joinpath(
        name_to_file(bad_key)
    ).read_bytes() == objects[bad_key]


def test_no_trail_under_prefix_and_future_window(tmp_path: Path) -> None:
    (tmp_path / "empty" / "AWSLogs").mkdir(parents=True)
    case = new_case(tmp_path)
    with pytest.raises(BadInput, match="no CloudTrail logs under"):
        run(case, source=tmp_path / "empty", since=START, until=START + timedelta(hours=1))
    future = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(BadInput, match="in the future"):
        run(case, source=tmp_path / "empty", since=START, until=future)


def test_missing_day_folder_is_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path / "trail", trail_objects(START, 3))
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "trail", since=START, until=START + timedelta(days=2))
    assert result.coverage["missing_day_folders"] == [
        f"{ACCOUNT}/us-east-1/2026-11-02",
        f"{ACCOUNT}/us-east-1/2026-11-03",
    ]
    assert any("day folder" in w for w in result.warnings)


def test_hostile_keys_never_choose_a_path(tmp_path: Path) -> None:
    from evidence.aws.cloudtrail_source import original_key, safe_name

    for key in ["../../etc/passwd", ".hidden", "a/b~c", "x" * 400, "é\n\x1b[31m"]:
        name = safe_name(key)
        assert "/" not in name and not name.startswith(".") and len(name) <= 200
        assert original_key(name) in (key, None)
        assert (original_key(name) is None) == (len(key) > 150)


def test_stdlib_fallback_matches_msgspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.aws import cloudtrail_records as records

    data = json.dumps({"Records": [record(k, START, n=i) for i, k in enumerate(KINDS)]}).encode()
    fast = [row for row, _ in records.split_records(data)]
    monkeypatch.setattr(records, "FAST", False)
    slow = [row for row, _ in records.split_records(data)]
    assert fast == slow
    odd = json.dumps(
        {"Records": [{"eventTime": _iso(START), "readOnly": "yes", "userIdentity": 5}]}
    )
    monkeypatch.undo()
    assert records.split_records(odd.encode())[0][0][19] is True


def test_prefix_given_down_to_the_account(tmp_path: Path) -> None:
    write_tree(tmp_path / "trail", trail_objects(START, 2) | trail_objects(START, 2, account=OTHER))
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "trail", since=START, until=START + timedelta(hours=3))
    assert result.objects == 4
    from evidence.aws.cloudtrail import CloudTrailExport
    from evidence.aws.cloudtrail_source import LocalSource
    from evidence.interface import Window

    export = CloudTrailExport(
        LocalSource(tmp_path / "trail"), Window(START, START + timedelta(hours=3)),
        prefix=f"AWSLogs/{OTHER}/CloudTrail",
    )  # fmt: skip
    assert export.prefix == "" and export.accounts == [OTHER]


def test_registry_builds_it_from_plain_settings_for_any_stager(tmp_path: Path) -> None:
    from evidence.interface import DirStager
    from evidence.registry import build

    write_tree(tmp_path / "trail", trail_objects(START, 2))
    collector = build(
        "aws.cloudtrail",
        {"source": str(tmp_path / "trail"), "since": "2026-11-01", "until": "2026-11-01T03:00:00Z"},
    )
    artifacts, failed = collector.collect(DirStager(tmp_path / "staging"))
    assert failed == [] and artifacts[0].row_count == 2 * len(KINDS)
    assert (tmp_path / "staging" / artifacts[0].name / "events.meta.json").is_file()
    with pytest.raises(ValueError, match="exactly one of"):
        build("aws.cloudtrail", {"since": "2026-11-01", "until": "2026-11-02"})


def test_arrow_reader_and_per_record_path_agree() -> None:
    from evidence.aws import cloudtrail_records as records

    if not records.FAST:
        pytest.skip("msgspec is not installed: only the per-record path runs (pip install msgspec)")
    since, until = START - timedelta(days=1), START + timedelta(days=1)
    data = json.dumps({"Records": [record(k, START, n=i) for i, k in enumerate(KINDS)]}).encode()
    raws = records._object_decoder.decode(data).Records
    arrow = records._arrow_batch(raws, "k", since, until, None)
    assert arrow is not None  # realistic records take the C++ reader
    slow = records.to_batch(records.split_records(data), "k", since, until)
    assert arrow.to_pylist() == slow.to_pylist()
    odd = json.dumps({"Records": [{"eventTime": _iso(START), "readOnly": "yes"}]}).encode()
    assert records._arrow_batch(records._object_decoder.decode(odd).Records, "k", since, until,
                                None) is None  # fmt: skip
    batch, count = records.object_batch(odd, "k", since, until)
    assert count == 1 and batch.column("read_only").to_pylist() == [True]
    # Records over several lines, back to back in one block: still the C++ reader, and the
    # record column is each record's text as written, line ends and all.
    pretty = json.dumps({"Records": [record("root", START), record("s3-data", START)]}, indent=2)
    raws = records._object_decoder.decode(pretty.encode()).Records
    arrow = records._arrow_batch(raws, "k", since, until, None)
    assert arrow is not None and arrow.column("identity_type").to_pylist() == ["Root", "IAMUser"]
    assert arrow.column("record").to_pylist() == [bytes(r).decode() for r in raws]
    assert "\n" in arrow.column("record")[0].as_py()
    # A record that is not an object: the per-record path, which reads it as an empty record.
    mixed = json.dumps({"Records": [record("root", START), 7]}).encode()
    mixed_raws = records._object_decoder.decode(mixed).Records
    assert records._arrow_batch(mixed_raws, "k", since, until, None) is None
    batch, count = records.object_batch(mixed, "k", since, until)
    assert count == 2 and batch.column("identity_type").to_pylist() == ["Root"]
