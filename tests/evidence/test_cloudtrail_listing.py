"""CloudTrail from a bucket lists only what the window needs (moto, in-process): accounts and
regions are found one folder level at a time (Delimiter listings, no objects), and objects are
listed only in the day folders of the window, counted from botocore's own events."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.aws import AwsAccount
from tests.evidence.test_cloudtrail import ACCOUNT, KINDS, ORG, OTHER, log_key, log_object, record

BUCKET = "org-trail-listing"
REGIONS = ("us-east-1", "eu-west-1")
FIRST = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 10
EVERY = timedelta(hours=6)  # one object per account, region and 6 hours
SINCE = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 5, 23, 30, tzinfo=UTC)  # + the hour of delivery slack: into the 6th
WINDOW_DAYS = ("2026/11/04", "2026/11/05", "2026/11/06")


def seed() -> dict[str, bytes]:
    """Ten days of an organisation trail: two accounts, two regions, four objects a day each."""
    import boto3

    objects: dict[str, bytes] = {}
    for account in (ACCOUNT, OTHER):
        for region in REGIONS:
            for n in range(DAYS * 4):
                delivered = FIRST + n * EVERY + timedelta(minutes=5)
                events = [record(k, delivered - timedelta(minutes=30), region, n) for k in KINDS]
                objects[log_key(account, region, delivered, n, ORG)] = log_object(events)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for key, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return objects


class Listings:
    """Every ListObjectsV2 call (its prefix, whether it has a delimiter) and the keys each one
    returned, from botocore's before-parameter-build and after-call events."""

    def __init__(self, account: AwsAccount) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.keys: list[str] = []
        self._lock = threading.Lock()
        events = account.session.events  # the source's S3 client is made from this session
        events.register("before-parameter-build.s3.ListObjectsV2", self._asked)
        events.register("after-call.s3.ListObjectsV2", self._answered)

    def _asked(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls.append((str(params.get("Prefix", "")), "Delimiter" in params))

    def _answered(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.keys += [o["Key"] for o in parsed.get("Contents", [])]


def collect(tmp_path: Path, **settings: Any) -> tuple[Any, Listings]:
    from evidence.aws.cloudtrail import CloudTrailExport
    from evidence.aws.cloudtrail_source import S3Source
    from evidence.interface import DirStager, Window

    account = AwsAccount(region="us-east-1", session_name="test")
    listings = Listings(account)
    export = CloudTrailExport(S3Source(account, BUCKET), Window(SINCE, UNTIL), **settings)
    return export.run(DirStager(tmp_path / "staging")), listings


def day_folder(account: str, region: str, day: str) -> str:
    return f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day}/"


def test_only_the_windows_day_folders_are_listed(tmp_path: Path, aws: None) -> None:
    objects = seed()
    report, listings = collect(tmp_path, regions=["us-east-1"])

    folders = {
        day_folder(account, "us-east-1", day) for account in (ACCOUNT, OTHER) for day in WINDOW_DAYS
    }
    object_listings = [prefix for prefix, delimited in listings.calls if not delimited]
    assert sorted(object_listings) == sorted(folders)  # each once; no other region or day
    discovery = {prefix for prefix, delimited in listings.calls if delimited}
    assert discovery == {
        "AWSLogs/",
        f"AWSLogs/{ORG}/",
        f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/",
        f"AWSLogs/{ORG}/{OTHER}/CloudTrail/",
    }
    in_folders = sorted(k for k in objects if k.rsplit("/", 1)[0] + "/" in folders)
    assert sorted(listings.keys) == in_folders  # 24 keys listed of the bucket's 160
    assert len(in_folders) == 2 * len(WINDOW_DAYS) * 4 < len(objects)

    # and of those, the objects delivered in [since, until + 1 h] are read: every event in it
    read = [o.key for o in report.objects]
    assert read and set(read) <= set(in_folders) and not report.failed
    expected = sum(
        SINCE <= FIRST + n * EVERY - timedelta(minutes=25) < UNTIL for n in range(DAYS * 4)
    )
    assert report.rows == 2 * expected * len(KINDS)
    assert report.coverage["day_folders"] == ["2026-11-04", "2026-11-05", "2026-11-06"]
    assert report.coverage["regions_not_collected"] == ["eu-west-1"]


def test_one_account_asked_for_lists_only_its_folders(tmp_path: Path, aws: None) -> None:
    seed()
    _, listings = collect(tmp_path, accounts=[OTHER])
    object_listings = sorted(prefix for prefix, delimited in listings.calls if not delimited)
    assert object_listings == sorted(
        day_folder(OTHER, region, day) for region in REGIONS for day in WINDOW_DAYS
    )
    assert not any(ACCOUNT in prefix for prefix, _ in listings.calls)
