"""CloudTrail for a window: every log object preserved byte for byte, and a Parquet view of it.

    cloud/cloudtrail/<name>/objects/<safe key>          each log object as delivered (gzip)
    cloud/cloudtrail/<name>/objects.meta.json           key -> file, SHA-256, size, digest outcome
    cloud/cloudtrail/<name>/digests/<safe key>          the digest files read (--validate-digests)
    cloud/cloudtrail/<name>/events/day=YYYY-MM-DD/...   one row per event in the window
    cloud/cloudtrail/<name>/events.meta.json            window, counts, and what is NOT covered

Only the day folders the window needs are listed (from its first day to the day an hour after
its end: CloudTrail delivers an event within minutes, into the folder of the delivery time), and
of those only objects delivered in [since, until + 1 h]. Objects are read on `jobs` threads and
their events written by one Parquet writer thread: memory stays bounded by a few objects.

Completeness is data: accounts or regions asked for and absent, day folders with no object,
objects that could not be read (AccessDenied) or parsed, and throttling retried are in the
sidecar and in `report.failed` / `report.warnings`; anything in `failed` means the caller exits 1.
The whole folder is written under a hidden name and becomes visible at the step's journal entry
(evidence.interface.commit_staged).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from core import faults
from core.artifacts import collector, describe
from core.errors import BadInput
from core.fsio import disk_errors
from core.timeutil import rfc3339
from evidence.aws import cloudtrail_records as records
from evidence.aws.cloudtrail_source import (
    ACCOUNT,
    ORG,
    REGION,
    Item,
    ReadFailed,
    Source,
    file_time,
    printable,
    safe_name,
)
from evidence.interface import (
    PARQUET_MEDIA_TYPE,
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    Window,
    commit_staged,
    remove_hidden,
    staged_name,
)
from evidence.parquet import ParquetSink, by_day, temp_dir_for

COLLECTOR = "evidence.aws.cloudtrail"
DELIVERY_SLACK = timedelta(hours=1)
BATCH_ROWS = 20_000  # rows gathered per thread before a batch (a row group) goes to the writer
GZIP = "application/gzip"


@dataclass
class TrailRoot:
    """One account's log folder: [PREFIX/]AWSLogs/[ORG/]ACCOUNT/."""

    account: str
    org: str | None
    base: str


@dataclass
class ObjectRecord:
    key: str
    file: str
    sha256: str
    size: int
    account: str
    region: str
    day: str
    events: int = 0  # all records in the object
    in_window: int = 0
    error: str | None = None
    inflated_sha256: str | None = None  # of the decompressed content: what digests list
    digest: str | None = None  # valid | invalid | not covered | digest missing (with --validate)
    digest_detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        return out


@dataclass
class Report:
    """What one run staged and what it could not cover."""

    artifact: str = ""
    rows: int = 0
    objects: list[ObjectRecord] = field(default_factory=list)
    failed: list[FailedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    oldest: str | None = None
    newest: str | None = None
    digests: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "rows": self.rows,
            "objects": len(self.objects),
            "failed": [f.to_json() for f in self.failed],
            "warnings": self.warnings,
            "coverage": self.coverage,
            "oldest_event": self.oldest,
            "newest_event": self.newest,
            "digests": self.digests,
        }


def window_days(window: Window) -> list[date]:
    """The day folders the window needs: its first day to the day an hour after its end."""
    first = window.since.date()
    last = (window.until + DELIVERY_SLACK).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def find_roots(source: Source, prefix: str) -> list[TrailRoot]:
    """Every account folder under PREFIX/AWSLogs/ (organisation trails: one more level)."""
    logs = f"{prefix}AWSLogs/"
    roots = []
    for name in source.children(logs):
        if ACCOUNT.match(name):
            roots.append(TrailRoot(name, None, f"{logs}{name}/"))
        elif ORG.match(name):
            for account in source.children(f"{logs}{name}/"):
                if ACCOUNT.match(account):
                    roots.append(TrailRoot(account, name, f"{logs}{name}/{account}/"))
    return roots


class Accumulator:
    """Batches gathered on one thread until they are worth a row group."""

    def __init__(self, sink: ParquetSink) -> None:
        self.sink = sink
        self.parts: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.parts.append(batch)
            self.rows += batch.num_rows
        if self.rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.parts:  # one row group, its batches never concatenated (a copy of every record)
            self.sink.put(pa.Table.from_batches(self.parts, schema=records.SCHEMA))
        self.parts, self.rows = [], 0


@dataclass
class CloudTrailExport:
    """Read a trail's delivery (bucket or folder) for a window. Build it through the registry."""

    source: Source
    window: Window
    prefix: str = ""
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    jobs: int = 2
    artifact: str | None = None
    validate_digests: bool = False
    account_client: Any = None  # AwsAccount, for ListPublicKeys when validating a bucket
    progress: Progress | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    name = "aws.cloudtrail"

    def __post_init__(self) -> None:
        self.prefix = self._trail_prefix(self.prefix)
        self._lock = threading.Lock()
        self.planned_keys: set[str] = set()  # every object the window needs, read or not

    def _trail_prefix(self, prefix: str) -> str:
        """The part before AWSLogs/: a prefix given down to AWSLogs/[ORG/]ACCOUNT is cut there,
        its account (if any) becoming the account to collect."""
        parts = [p for p in prefix.split("/") if p]
        if "AWSLogs" not in parts:
            return "".join(f"{p}/" for p in parts)
        at = parts.index("AWSLogs")
        below = [p for p in parts[at + 1 :] if ACCOUNT.match(p)]
        if below and not self.accounts:
            self.accounts = below[:1]
        return "".join(f"{p}/" for p in parts[:at])

    # -- discovery ---------------------------------------------------------------------------
    def plan(self, report: Report) -> list[tuple[TrailRoot, str, list[Item]]]:
        """(account, region, objects of the window) for every account and region collected;
        what is missing goes into the report."""
        try:
            roots = find_roots(self.source, self.prefix)
        except ReadFailed as exc:
            raise BadInput(f"cannot list {self.source.describe()}: {exc.message}") from None
        where = f"{self.source.describe()}/{self.prefix}AWSLogs/".replace("//AWSLogs", "/AWSLogs")
        if not roots:
            raise BadInput(
                f"no CloudTrail logs under {where}",
                hint="the trail's bucket and prefix (AWSLogs/<account>/CloudTrail/ below it)",
                field="bucket",
            )
        present = sorted({r.account for r in roots})
        wanted = set(self.accounts) or set(present)
        for account in sorted(wanted - set(present)):
            report.failed.append(FailedItem(f"account {account}", f"no logs under {where}"))
        skipped = [a for a in present if a not in wanted]
        report.coverage["accounts_present"] = present
        report.coverage["accounts_not_collected"] = skipped
        if skipped:
            report.warnings.append(f"accounts not collected: {', '.join(skipped)}")
        days = window_days(self.window)
        planned = []
        regions_seen: set[str] = set()
        regions_skipped: set[str] = set()
        missing_days: list[str] = []
        for root in roots:
            if root.account not in wanted:
                continue
            try:
                regions = [r for r in self.source.children(f"{root.base}CloudTrail/")]
            except ReadFailed as exc:
                report.failed.append(FailedItem(f"account {root.account}", exc.message))
                continue
            regions = [r for r in regions if REGION.match(r)]
            regions_seen.update(regions)
            for region in regions:
                if self.regions and region not in self.regions:
                    regions_skipped.add(region)
                    continue
                for day in days:
                    folder = f"{root.base}CloudTrail/{region}/{day:%Y/%m/%d}/"
                    try:
                        items = self.source.objects(folder)
                    except ReadFailed as exc:
                        report.failed.append(
                            FailedItem(
                                f"{root.account}/{region}/{day}", f"not covered: {exc.message}"
                            )
                        )
                        continue
                    if not items:
                        missing_days.append(f"{root.account}/{region}/{day}")
                    chosen = [i for i in items if self.delivered_in_window(i.key)]
                    if chosen:
                        planned.append((root, region, chosen))
        for region in sorted(set(self.regions) - regions_seen):
            report.failed.append(FailedItem(f"region {region}", f"no logs for it under {where}"))
        report.coverage["regions_present"] = sorted(regions_seen)
        report.coverage["regions_not_collected"] = sorted(regions_skipped)
        report.coverage["day_folders"] = [str(d) for d in days]
        report.coverage["missing_day_folders"] = missing_days
        if regions_skipped:
            report.warnings.append(f"regions not collected: {', '.join(sorted(regions_skipped))}")
        if missing_days:
            report.warnings.append(
                f"{len(missing_days)} day folder(s) with no log object: {', '.join(missing_days[:10])}"
                + (" ..." if len(missing_days) > 10 else "")
            )
        return planned

    def delivered_in_window(self, key: str) -> bool:
        if not key.endswith(".json.gz"):
            return False
        delivered = file_time(key)
        if delivered is None:  # not CloudTrail's naming: read it rather than guess
            return True
        # Delivered before the window starts: every event in it is older (the name's minute is
        # truncated; 5 minutes allow for clock skew). After the slack: every event is newer.
        return self.window.since <= delivered + timedelta(minutes=5) and (
            delivered <= self.window.until + DELIVERY_SLACK
        )

    # -- the export --------------------------------------------------------------------------
    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        report = self.run(stager)
        return [ArtifactResult(report.artifact, report.rows, report.to_json(), report.warnings)], (
            report.failed
        )

    def run(self, stager: Stager) -> Report:
        report = Report()
        planned = self.plan(report)
        name = self.artifact or "cloud/cloudtrail/trail"
        final = _free_name(stager, name)
        tmp = temp_dir_for(final)
        tmp.mkdir(parents=True)
        sink = ParquetSink(
            tmp / "events",
            records.SCHEMA,
            by_day("event_time"),
            time_column="event_time",
            dictionary_columns=records.DICTIONARY_COLUMNS,
        )
        try:
            work = [(root, region, item) for root, region, items in planned for item in items]
            self.planned_keys = {item.key for _, _, item in work}
            self._read_all(work, tmp, sink, report)
            stats = sink.finish(empty_file="part-0000.parquet")
        except BaseException:
            sink.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        report.rows = stats.rows
        report.oldest = rfc3339(stats.oldest) if isinstance(stats.oldest, datetime) else None
        report.newest = rfc3339(stats.newest) if isinstance(stats.newest, datetime) else None
        report.objects.sort(key=lambda o: o.key)
        report.artifact = staged_name(stager, final)
        try:  # objects, digests, events and their sidecars in the hidden folder: one rename
            self._finish(tmp, report)
            faults.point("cloudtrail.written")
            commit_staged(stager, tmp, final)
        except BaseException:
            remove_hidden(tmp)
            raise
        return report

    def _finish(self, tmp: Path, report: Report) -> None:
        """The digests checked (when asked), throttling counted, the sidecars written."""
        if self.validate_digests:
            from evidence.aws.digest import validate_objects

            report.digests = validate_objects(self, report, tmp)
        throttled = int(getattr(self.source, "throttled", 0))
        report.coverage["throttling_retried"] = throttled
        if throttled:
            report.warnings.append(f"throttled {throttled} time(s); retried")
        self._describe(tmp, report)

    def _read_all(
        self,
        work: list[tuple[TrailRoot, str, Item]],
        tmp: Path,
        sink: ParquetSink,
        report: Report,
    ) -> None:
        (tmp / "objects").mkdir()
        local = threading.local()
        accumulators: list[Accumulator] = []

        def task(entry: tuple[TrailRoot, str, Item]) -> None:
            acc = getattr(local, "acc", None)
            if acc is None:
                acc = local.acc = Accumulator(sink)
                with self._lock:
                    accumulators.append(acc)
            self._read_one(entry, tmp, acc, report)

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="cloudtrail") as pool:
            for _ in pool.map(task, work):
                pass
        for acc in accumulators:
            acc.flush()

    def _read_one(
        self, entry: tuple[TrailRoot, str, Item], tmp: Path, acc: Accumulator, report: Report
    ) -> None:
        root, region, item = entry
        day = "/".join(item.key.rsplit("/", 4)[1:4]).replace("/", "-")
        try:
            data, _ = self.source.read(item.key)
        except ReadFailed as exc:
            with self._lock:
                report.failed.append(FailedItem(item.key, f"not covered: {exc.message}"))
            return
        file = safe_name(item.key)
        with disk_errors(tmp):
            (tmp / "objects" / file).write_bytes(data)
        faults.point("cloudtrail.object")
        record = ObjectRecord(
            item.key, f"objects/{file}", hashlib.sha256(data).hexdigest(), len(data),
            root.account, region, day,
        )  # fmt: skip
        bad: list[int] = []
        since, until = self.window.since, self.window.until
        try:
            inflated = _gunzip(data)
            if self.validate_digests:
                record.inflated_sha256 = hashlib.sha256(inflated).hexdigest()
            batch, record.events = records.object_batch(
                inflated, item.key, since, until, on_bad_time=bad.append
            )
            del inflated
        except records.MalformedObject as exc:
            record.error = str(exc)
            batch = records.to_batch([], item.key, since, until)
        if bad:
            record.error = f"{sum(bad)} record(s) without a readable eventTime (kept in the object)"
        record.in_window = batch.num_rows
        acc.add(batch)
        with self._lock:
            report.objects.append(record)
            if record.error and record.events == 0:
                report.failed.append(FailedItem(item.key, f"preserved, not parsed: {record.error}"))
            elif record.error:
                report.warnings.append(f"{printable(item.key)}: {record.error}")
        if self.progress is not None:
            self.progress("cloudtrail", batch.num_rows)

    # -- metadata ----------------------------------------------------------------------------
    def _describe(self, tmp: Path, report: Report) -> None:
        source = {
            "system": "aws-cloudtrail",
            **self.origin,
            "prefix": self.prefix,
            "window": self.window.to_json(),
            "accounts": self.accounts,
            "regions": self.regions,
            "delivery_slack": "PT1H",
        }
        objects = {
            **source,
            "objects": [o.to_json() for o in report.objects],
            "object_count": len(report.objects),
            "not_covered": [f.to_json() for f in report.failed],
        }
        if report.digests is not None:
            objects["digests"] = report.digests
        describe(tmp / "objects", {"media_type": GZIP, "source": objects,
                                   "collector": collector(COLLECTOR)})  # fmt: skip
        events = {
            **source,
            "row_count": report.rows,
            "oldest_event": report.oldest,
            "newest_event": report.newest,
            "objects_read": len(report.objects),
            "coverage": report.coverage,
            "not_covered": [f.to_json() for f in report.failed],
            "warnings": report.warnings,
            "partitioning": "hive: day=YYYY-MM-DD of event_time (UTC)",
            "columns": records.SCHEMA.names,
            "roles": {
                "time": "event_time",
                "actor": "identity_arn",
                "access_key": "access_key_id",
                "ip": "source_ip",
                "action": "event_name",
            },
        }
        if report.digests is not None:
            events["digests"] = {k: v for k, v in report.digests.items() if k != "files"}
        describe(tmp / "events", {"media_type": PARQUET_MEDIA_TYPE, "source": events,
                                  "collector": collector(COLLECTOR)})  # fmt: skip


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise records.MalformedObject(f"not gzip: {exc}") from None


def _free_name(stager: Stager, name: str) -> Path:
    """staging/NAME, or NAME-2, NAME-3... when an earlier run staged it."""
    target = stager.stage_path(name)
    n = 2
    while target.exists():
        target = stager.stage_path(f"{name}-{n}")
        n += 1
    return target
