"""Load-balancer and S3 server access log objects against moto (in-process): the window's objects
chosen by the time in their key names, copied byte for byte with their SHA-256 and key, and every
other key accounted for."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.cloud import S3LogsStepSettings, s3_logs
from core.errors import BadInput
from evidence.aws.s3logs import classify

BUCKET = "acme-access-logs"
ACCOUNT = "123456789012"
ELB = f"AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1"
SINCE = datetime(2026, 11, 29, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
ALB_LINE = (
    "https 2026-11-29T00:04:12.123456Z app/web/50dc6c495c0c9188 203.0.113.45:51234 10.0.1.15:443"
    ' 0.000 0.012 0.000 200 200 312 1024 "GET https://shop.example.com:443/api/orders?id=42'
    ' HTTP/1.1" "curl/8.4.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:'
    'us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354"'
    ' "shop.example.com" "-" 0 2026-11-29T00:04:12.111000Z "forward" "-" "-" "10.0.1.15:443"'
    ' "200" "-" "-"\n'
)
S3_LINE = (
    "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be acme-app-data"
    " [29/Nov/2026:10:14:57 +0000] 203.0.113.45 arn:aws:iam::123456789012:user/mallory"
    ' 3E57427F3EXAMPLE REST.GET.OBJECT customers/export.csv "GET /acme-app-data/customers/'
    'export.csv HTTP/1.1" 200 - 113 113 7 6 "-" "aws-cli/2.15.0" - HOSTID SigV4'
    " ECDHE-RSA-AES128-GCM-SHA256 AuthHeader acme-app-data.s3.us-east-1.amazonaws.com TLSv1.2 - -\n"
)


def elb_key(day: str, lb: str, end: str, suffix: str = ".log.gz") -> str:
    y, m, d = day.split("-")
    return (
        f"{ELB}/{y}/{m}/{d}/{ACCOUNT}_elasticloadbalancing_us-east-1_{lb}_{end}"
        f"_198.51.100.10_2dlv4yqa{suffix}"
    )


IN_WINDOW = {
    elb_key("2026-11-29", "app.web.50dc6c495c0c9188", "20261129T0005Z"): "alb",
    elb_key("2026-11-29", "app.web.50dc6c495c0c9188", "20261129T1340Z"): "alb",
    elb_key("2026-11-30", "app.web.50dc6c495c0c9188", "20261130T2355Z"): "alb",
    # written just after the window, with its last requests
    elb_key("2026-12-01", "app.web.50dc6c495c0c9188", "20261201T0005Z"): "alb",
    elb_key("2026-11-30", "net.edge.1234567890abcdef", "20261130T1200Z"): "nlb",
    elb_key("2026-11-30", "legacy-clb", "20261130T1000Z", ".log"): "clb",
    "s3-access/2026-11-29-10-15-02-5A3F1C2B9E8D7A6B": "s3-access",
    f"s3-access/{ACCOUNT}/us-east-1/acme-app-data/2026/11/30/2026-11-30-08-00-00-0123456789ABCDEF": (
        "s3-access"
    ),
}
OUTSIDE = [
    elb_key("2026-11-28", "app.web.50dc6c495c0c9188", "20261128T2350Z"),
    elb_key("2026-12-01", "app.web.50dc6c495c0c9188", "20261201T0300Z"),
    "s3-access/2026-11-27-10-00-00-FFFFFFFFFFFFFFFF",
]
OTHER = ["README.txt", "alb/"]


def body(key: str) -> bytes:
    """Each object's own bytes (so a mix-up shows), gzipped where the key says so."""
    line = (S3_LINE if "s3-access" in key else ALB_LINE).encode() + key.encode() + b"\n"
    return gzip.compress(line, mtime=0) if key.endswith(".gz") else line


@pytest.fixture
def bucket(aws: None) -> Iterator[Any]:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in [*IN_WINDOW, *OUTSIDE, *OTHER]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"" if key.endswith("/") else body(key))
    yield s3


def run(case: Case, prefix: str = f"s3://{BUCKET}/", **more: Any) -> Any:
    settings = {"case": str(case.root), "prefix": prefix, "since": SINCE, "until": UNTIL, **more}
    return s3_logs(S3LogsStepSettings.model_validate(settings))


def test_key_names_say_which_log_and_when() -> None:
    alb = classify(elb_key("2026-11-29", "app.web.50dc6c495c0c9188", "20261129T0005Z"))
    assert alb is not None and alb.kind == "alb"
    assert alb.time == datetime(2026, 11, 29, 0, 5, tzinfo=UTC)
    assert alb.interval == timedelta(minutes=5)
    clb = classify(elb_key("2026-11-30", "legacy-clb", "20261130T1000Z", ".log"))
    assert clb is not None and clb.interval == timedelta(minutes=60)
    s3 = classify("logs/prefix-2026-11-29-10-15-02-5A3F1C2B9E8D7A6B")
    assert s3 is not None and s3.time == datetime(2026, 11, 29, 10, 15, 2, tzinfo=UTC)
    assert classify("logs/2026-13-45-10-15-02-5A3F1C2B9E8D7A6B") is None
    assert classify("README.txt") is None


def test_the_windows_objects_are_copied_byte_for_byte(case: Case, bucket: Any) -> None:
    result = run(case)
    assert result.problem is None and result.failed == []
    assert {c.key: c.kind for c in result.copied} == IN_WINDOW
    for copied in result.copied:
        staged = (case.staging / copied.artifact).read_bytes()
        source = bucket.get_object(Bucket=BUCKET, Key=copied.key)["Body"].read()
        assert staged == source
        assert copied.sha256 == hashlib.sha256(source).hexdigest() and copied.size == len(source)
        sidecar = json.loads((case.staging / f"{copied.artifact}.meta.json").read_text())
        assert sidecar["source"]["key"] == copied.key
        assert sidecar["source"]["sha256"] == copied.sha256
        assert sidecar["source"]["bucket"] == BUCKET
    assert result.skipped == {
        "outside the window": 3,
        "not an access log key": 1,
        "folder marker": 1,
    }

    index = json.loads((case.staging / result.index).read_text())
    statuses = {o["key"]: o["status"] for o in index["objects"]}
    assert set(statuses) == {*IN_WINDOW, *OUTSIDE, *OTHER}
    assert {k for k, s in statuses.items() if s == "copied"} == set(IN_WINDOW)
    assert index["source"]["complete"] is True
    entry = case.timeline()[-1]
    assert (entry["what"], entry["result"], entry["details"]["copied"]) == (
        "evidence.s3-logs",
        "ok",
        len(IN_WINDOW),
    )


def test_a_prefix_narrows_the_listing(case: Case, bucket: Any) -> None:
    result = run(case, prefix=f"s3://{BUCKET}/s3-access/")
    assert {c.key for c in result.copied} == {k for k in IN_WINDOW if k.startswith("s3-access/")}


def test_an_archived_object_is_recorded_and_the_others_copied(case: Case, bucket: Any) -> None:
    key = "s3-access/2026-11-30-12-00-00-00000000DEADBEEF"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=body(key), StorageClass="GLACIER")
    result = run(case)
    assert {c.key for c in result.copied} == set(IN_WINDOW)
    (failed,) = result.failed
    assert failed.target == key and "InvalidObjectState" in failed.reason
    assert result.problem and key in result.problem
    index = json.loads((case.staging / result.index).read_text())
    assert index["source"]["complete"] is False
    assert [o["status"] for o in index["objects"] if o["key"] == key] == ["failed"]
    assert not list(case.staging.rglob("*DEADBEEF"))
    assert case.timeline()[-1]["result"] == "incomplete"


def test_hostile_keys_stay_inside_the_staging_folder(case: Case, bucket: Any) -> None:
    key = "s3-access/../../../../outside\n[red]x/.hidden/2026-11-29-11-00-00-ABCDEF0123456789"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=body(key))
    result = run(case)
    (copied,) = [c for c in result.copied if c.key == key]
    path = case.staging / copied.artifact
    assert path.is_file() and path.resolve().is_relative_to(case.staging.resolve())
    assert "\n" not in copied.artifact and "/." not in copied.artifact
    assert path.read_bytes() == body(key)
    assert json.loads(path.with_name(path.name + ".meta.json").read_text())["source"]["key"] == key


def test_a_second_run_keeps_identical_copies_and_refuses_to_replace_a_changed_one(
    case: Case, bucket: Any
) -> None:
    first = run(case)
    again = run(case)
    assert again.problem is None and len(again.copied) == len(first.copied)
    assert again.index != first.index
    key = next(iter(IN_WINDOW))
    bucket.put_object(Bucket=BUCKET, Key=key, Body=body(key) + b"tampered")
    third = run(case)
    (failed,) = third.failed
    assert failed.target == key and "different copy is already staged" in failed.reason
    (kept,) = [c for c in first.copied if c.key == key]
    assert (case.staging / kept.artifact).read_bytes() == body(key)


def test_an_empty_prefix_or_a_missing_bucket_is_not_collected(case: Case, bucket: Any) -> None:
    empty = run(case, prefix=f"s3://{BUCKET}/nothing-here/")
    assert empty.copied == [] and empty.problem and "no object under" in empty.problem
    missing = run(case, prefix="s3://no-such-bucket-here/")
    assert missing.problem and "NoSuchBucket" in missing.failed[0].reason


def test_bad_prefixes_and_future_windows_are_refused(case: Case, aws: None) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="s3://BUCKET/PREFIX"):
        run(case, prefix="https://acme-access-logs.s3.amazonaws.com/")
    later = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(BadInput) as caught:
        run(case, since=later, until=later + timedelta(days=1))
    assert caught.value.field == "since"


def test_a_load_balancers_region_folder_is_listed_only_in_the_windows_days(
    case: Case, bucket: Any
) -> None:
    result = run(case, prefix=f"s3://{BUCKET}/{ELB}/")
    elb = {k for k in IN_WINDOW if k.startswith(ELB)}
    assert {c.key for c in result.copied} == elb and result.problem is None
    index = json.loads((case.staging / result.index).read_text())
    days = ["2026/11/29/", "2026/11/30/", "2026/12/01/"]
    assert index["source"]["listed_prefixes"] == [f"{ELB}/{day}" for day in days]
    listed = {o["key"] for o in index["objects"]}
    assert OUTSIDE[0] not in listed  # 2026/11/28: its folder was never listed
    assert OUTSIDE[1] in listed  # 2026/12/01 03:00: listed, and outside the window
