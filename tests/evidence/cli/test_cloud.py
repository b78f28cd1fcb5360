"""`breach evidence cloudwatch | s3-logs | cloud-snapshot` end to end, against moto's threaded
server on 127.0.0.1 through --endpoint-url: exit codes, one-line errors, escaped names."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breach.case import Case
from tests.evidence.test_cloudwatch import APP, FLOW, base_day, put, seed
from tests.evidence.test_s3logs import BUCKET, IN_WINDOW, OUTSIDE, body


@pytest.fixture
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto server; boto3 clients made by the test reach it, the command only by its flag."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def aws_args(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # what the command reaches, it reaches by its flag
    return ["--endpoint-url", endpoint, "--region", "us-east-1"]


def window_args(window: dict[str, Any]) -> list[str]:
    return ["--since", window["since"].isoformat(), "--until", window["until"].isoformat()]


def test_cloudwatch_stages_the_groups_and_exits_1_for_an_unknown_one(
    breach: Any, case: Case, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    window = seed(base_day())
    args = ["evidence", "cloudwatch", "--case", case.root, *window_args(window)]
    groups = ["--log-group", FLOW, "--log-group", APP, "--log-group", "/no/such/group"]
    done = breach(*args, *groups, *aws_args(endpoint, monkeypatch), "--json")
    assert done.exit_code == 1, done.stderr
    data = done.json
    assert [a["log_group"] for a in data["artifacts"]] == [FLOW, APP]
    assert [f["target"] for f in data["failed"]] == ["/no/such/group"]
    assert len(done.stderr.strip().splitlines()) == 1 and "/no/such/group" in done.stderr
    flow = case.staging / data["artifacts"][0]["artifact"]
    sql = f"SELECT count(*), count(srcaddr) FROM read_parquet('{flow}/**/*.parquet')"
    assert duckdb.connect().execute(sql).fetchall() == [(5, 3)]


def test_cloudwatch_shows_a_hostile_group_name_escaped(
    breach: Any, case: Case, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = base_day()
    hostile = "/app/[bold red]pwned[/bold red]\n\x1b[2Jfake line"
    put(hostile, "s", [(base + timedelta(hours=1), "hello")])
    window = {"since": base, "until": base + timedelta(days=1)}
    args = ["evidence", "cloudwatch", "--case", case.root, *window_args(window)]
    done = breach(*args, "--log-group", hostile, *aws_args(endpoint, monkeypatch))
    assert done.exit_code == 0, done.stderr
    assert "[bold red]pwned[/bold red]" in done.stdout  # shown as text, not as markup
    assert "\x1b" not in done.stdout and "\nfake line" not in done.stdout
    assert len(done.stdout.strip().splitlines()) == 2


def test_s3_logs_copies_the_window_and_exits_1_for_an_archived_object(
    breach: Any, case: Case, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in [*IN_WINDOW, *OUTSIDE]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body(key))
    archived = "s3-access/2026-11-30-12-00-00-00000000DEADBEEF"
    s3.put_object(Bucket=BUCKET, Key=archived, Body=body(archived), StorageClass="GLACIER")
    aws = aws_args(endpoint, monkeypatch)
    args = ["evidence", "s3-logs", "--case", case.root, "--prefix", f"s3://{BUCKET}/"]
    window = ["--since", "2026-11-29", "--until", "2026-12-01T00:00:00Z"]
    done = breach(*args, *window, *aws, "--json")
    assert done.exit_code == 1 and "DEADBEEF" in done.stderr
    data = done.json
    assert {c["key"] for c in data["copied"]} == set(IN_WINDOW)
    for copied in data["copied"]:
        assert (case.staging / copied["artifact"]).read_bytes() == body(copied["key"])
    s3_again = boto3.client("s3", endpoint_url=endpoint)
    s3_again.delete_object(Bucket=BUCKET, Key=archived)
    again = breach(*args, *window, *aws)
    assert again.exit_code == 0, again.stderr
    assert f"copied {len(IN_WINDOW)} log objects" in again.stdout


def test_cloud_snapshot_takes_shares_and_records(
    breach: Any, case: Case, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    ec2 = boto3.client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    args = ["evidence", "cloud-snapshot", "--case", case.root, "--ebs-volume", volume]
    args += ["--share-with", "111122223333", "--copy-to-region", "eu-west-1"]
    done = breach(*args, *aws_args(endpoint, monkeypatch), "--json")
    assert done.exit_code == 0, done.stderr
    (snap,) = done.json["snapshots"]
    assert snap["shared_with"] == ["111122223333"] and snap["copies"][0]["region"] == "eu-west-1"
    found = boto3.client("ec2", endpoint_url=endpoint).describe_snapshots(
        SnapshotIds=[snap["snapshot_id"]]
    )["Snapshots"][0]
    assert {t["Key"]: t["Value"] for t in found["Tags"]}["breachkit:incident"] == case.id
    record = json.loads((case.staging / done.json["record"]).read_text())
    assert record["snapshots"][0]["snapshot_id"] == snap["snapshot_id"]
    human = breach(*args[:6], *aws_args_again(endpoint))
    assert human.exit_code == 0 and f"of {volume}: completed" in human.stdout


def aws_args_again(endpoint: str) -> list[str]:
    return ["--endpoint-url", endpoint, "--region", "us-east-1"]


def test_cloud_snapshot_exits_1_for_a_missing_resource(
    breach: Any, case: Case, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["evidence", "cloud-snapshot", "--case", case.root, "--rds-instance", "no-such-db"]
    done = breach(*args, *aws_args(endpoint, monkeypatch))
    assert done.exit_code == 1
    assert "DBInstanceNotFound" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert [e["result"] for e in case.timeline()[-2:]] == ["intent", "incomplete"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cloudwatch", "--log-group", "g", "--fields", "version ../x"], "--fields"),
        (["s3-logs", "--prefix", "https://bucket.s3.amazonaws.com/"], "--prefix"),
        (["cloud-snapshot", "--ebs-volume", "vol-1", "--share-with", "1234"], "--share-with"),
        (
            ["cloud-snapshot", "--ebs-volume", "vol-1", "--copy-to-region", "x/y"],
            "--copy-to-region",
        ),
        (["cloud-snapshot"], "nothing to snapshot"),
        (["cloud-snapshot", "--ebs-volume", "vol-1", "--kms-key", "../k", "--share-with",
          "111122223333"], "--kms-key"),
        (["cloud-snapshot", "--ebs-volume", "vol-1", "--copy-to-region", "eu-west-1", "--kms-key",
          "arn:aws:kms:us-east-1:111122223333:key/0b7c"], "names a key in us-east-1"),
        (["cloud-snapshot", "--ebs-volume", "vol-1", "--kms-key", "alias/f"], "--kms-key"),
        (["s3-logs", "--prefix", "s3://b-b-b/", "--jobs", "0"], "--jobs"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    breach: Any, case: Case, aws_env: None, args: list[str], expected: str
) -> None:
    window = (
        ["--since", "2026-11-01", "--until", "2026-11-02"] if args[0] != "cloud-snapshot" else []
    )
    done = breach("evidence", args[0], "--case", case.root, *args[1:], *window)
    assert done.exit_code == 2, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["cloudwatch", "s3-logs"])
def test_a_window_in_the_future_is_refused(
    breach: Any, case: Case, aws_env: None, command: str
) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    target = ["--log-group", "g"] if command == "cloudwatch" else ["--prefix", "s3://b-b-b/"]
    window = ["--since", later.isoformat(), "--until", (later + timedelta(days=1)).isoformat()]
    done = breach("evidence", command, "--case", case.root, *target, *window)
    assert done.exit_code == 2 and "future" in done.stderr and "--since" in done.stderr
    assert not (case.staging / "cloud").exists()


@pytest.mark.parametrize("command", ["cloudwatch", "s3-logs", "cloud-snapshot"])
def test_help_loads_no_aws_or_arrow_library(command: str) -> None:
    probe = (
        "import json, sys\nfrom breach.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "evidence", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert loaded & {"boto3", "botocore", "pyarrow", "pydantic", "duckdb"} == set()
    assert "--endpoint-url" in proc.stdout
