"""CloudTrail through LookupEvents, when no trail delivers to S3.

    cloud/cloudtrail/<name>/responses/<region>/page-NNNNN.json   each answer's Events, as received
    cloud/cloudtrail/<name>/events/day=YYYY-MM-DD/...              the same Parquet view as a trail's

LookupEvents is what every account has without a trail, with limits the metadata states: the last
90 days only, management events only (no S3 object or Lambda data events, no Insights), one
region per call, 50 events per page and 2 calls per second per region (throttling is retried and
counted). The part of a window older than 90 days is recorded as not covered.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core import faults
from core.artifacts import collector, describe
from core.aws import AwsAccount, AwsCallFailed
from core.fsio import name_to_file, write_text
from core.timeutil import rfc3339, utcnow
from evidence.aws import cloudtrail_records as records
from evidence.aws.cloudtrail import COLLECTOR, Accumulator, Report, _free_name
from evidence.aws.cloudtrail_source import THROTTLE_CODES
from evidence.interface import (
    PARQUET_MEDIA_TYPE,
    ArtifactResult,
    FailedItem,
    Stager,
    Window,
    commit_staged,
    remove_hidden,
    staged_name,
)
from evidence.parquet import ParquetSink, by_day, temp_dir_for

RETENTION = timedelta(days=90)
LIMITS = [
    "LookupEvents covers the last 90 days only",
    "management events only: no data events (S3 objects, Lambda invocations), no Insights",
    "one region per call; 50 events per page; 2 calls per second per region",
]
MAX_THROTTLE_RETRIES = 8


@dataclass
class LookupExport:
    account: AwsAccount
    window: Window
    regions: list[str] = field(default_factory=list)
    artifact: str | None = None
    sleep: Any = time.sleep
    name = "aws.cloudtrail"

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        report = self.run(stager)
        return [as_artifact(report)], report.failed

    def run(self, stager: Stager) -> Report:
        report = Report()
        regions = self.regions or [self.account.region_name]
        since, until = self.window.since, self.window.until
        oldest = utcnow() - RETENTION
        if since < oldest:
            report.failed.append(
                FailedItem(
                    f"{rfc3339(since)} .. {rfc3339(min(until, oldest))}",
                    "not covered: older than LookupEvents' 90 days",
                )
            )
            since = max(since, oldest)
        final = _free_name(stager, self.artifact or "cloud/cloudtrail/lookup")
        tmp = temp_dir_for(final)
        tmp.mkdir(parents=True)
        sink = ParquetSink(
            tmp / "events", records.SCHEMA, by_day("event_time"), time_column="event_time",
            dictionary_columns=records.DICTIONARY_COLUMNS,
        )  # fmt: skip
        throttled = 0
        try:
            acc = Accumulator(sink)
            for region in regions if since < until else []:
                throttled += self._region(region, since, until, tmp, acc, report)
            acc.flush()
            stats = sink.finish(empty_file="part-0000.parquet")
        except BaseException:
            sink.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        report.rows = stats.rows
        report.oldest = rfc3339(stats.oldest) if isinstance(stats.oldest, datetime) else None
        report.newest = rfc3339(stats.newest) if isinstance(stats.newest, datetime) else None
        report.coverage = {"regions": regions, "throttling_retried": throttled, "limits": LIMITS}
        report.warnings.append("no trail read: " + "; ".join(LIMITS))
        report.artifact = staged_name(stager, final)
        source = {
            "system": "aws-cloudtrail",
            "origin": "LookupEvents",
            "window": self.window.to_json(),
            "regions": regions,
            "row_count": report.rows,
            "oldest_event": report.oldest,
            "newest_event": report.newest,
            "coverage": report.coverage,
            "not_covered": [f.to_json() for f in report.failed],
            "limits": LIMITS,
            "columns": records.SCHEMA.names,
        }
        meta = {"media_type": PARQUET_MEDIA_TYPE, "source": source,
                "collector": collector(COLLECTOR)}  # fmt: skip
        try:  # the events, the responses and their sidecars inside the hidden folder
            describe(tmp / "events", meta)
            if (tmp / "responses").is_dir():
                describe(tmp / "responses", {**meta, "media_type": "application/json"})
            faults.point("cloudtrail.written")
            commit_staged(stager, tmp, final)
        except BaseException:
            remove_hidden(tmp)
            raise
        return report

    def _region(
        self, region: str, since: Any, until: Any, tmp: Any, acc: Accumulator, report: Report
    ) -> int:
        import botocore.exceptions as bex
        from botocore.config import Config

        client = self.account.session.client(
            "cloudtrail", region_name=region, endpoint_url=self.account.endpoint_url,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )  # fmt: skip
        token: str | None = None
        page_no = throttled = 0
        while True:
            extra = {"NextToken": token} if token else {}
            try:
                with self.account.calls(what=f"look up CloudTrail events in {region}"):
                    page = client.lookup_events(
                        StartTime=since, EndTime=until, MaxResults=50, **extra
                    )
            except AwsCallFailed as exc:
                if exc.code in THROTTLE_CODES and throttled < MAX_THROTTLE_RETRIES * (page_no + 1):
                    throttled += 1
                    self.sleep(min(0.5 * 2 ** min(throttled, 5), 8))
                    continue
                report.failed.append(FailedItem(f"region {region}", f"not covered: {exc.message}"))
                return throttled
            except bex.BotoCoreError as exc:
                report.failed.append(FailedItem(f"region {region}", f"not covered: {exc}"))
                return throttled
            page_no += 1
            events = page.get("Events", [])
            name = f"responses/{name_to_file(region)}/page-{page_no:05d}.json"
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            write_text(tmp / name, json.dumps(events, default=str, indent=1) + "\n")
            texts = [str(e.get("CloudTrailEvent") or "{}") for e in events]
            rows = records.records_from_strings(texts)
            acc.add(records.to_batch(rows, f"lookup:{name}", self.window.since, self.window.until))
            token = page.get("NextToken")
            if not token:
                return throttled


def as_artifact(report: Report) -> ArtifactResult:
    return ArtifactResult(report.artifact, report.rows, report.to_json(), report.warnings)
