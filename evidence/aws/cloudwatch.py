"""CloudWatch Logs: the events of a window, per log group, to day-partitioned Parquet.

    cloud/vpc-flow/<safe group name>/day=YYYY-MM-DD/part-0000.parquet   flow logs, typed columns
    cloud/logs/<safe group name>/day=YYYY-MM-DD/part-0000.parquet       any other log, as lines
    cloud/<kind>/<safe group name>.meta.json                             the group's name, the
        window, the streams read and not read, retries, malformed records, what is not covered

Every stream of the group is read with GetLogEvents (startFromHead, paginated until the token
repeats) and kept to [since, until). A stream that cannot be read is recorded and the others go
on; a group that does not exist is a failed item. With `jobs` > 1 groups are collected at once
and each group's streams are fetched on several threads, but written in the order they were
listed: the staged rows and metadata are the same whatever `jobs` is. Group names are
attacker-controlled: the folder is evidence.aws.names.safe_name of the name, the name itself is
in the metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from core import faults
from core.artifacts import collector, describe
from core.aws import AwsAccount
from core.errors import BreachError, StepFailed
from core.timeutil import rfc3339
from evidence.aws import flowlogs
from evidence.aws.calls import RetryLog, epoch_ms
from evidence.aws.names import safe_name
from evidence.aws.parallel import in_order, ordered_map
from evidence.interface import (
    PARQUET_MEDIA_TYPE,
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    Window,
    commit_described,
    remove_hidden,
    staged_name,
)

COLLECTOR = "evidence.aws.cloudwatch"
BATCH_ROWS = 10_000
Format = Literal["auto", "vpc-flow", "lines"]
Event = tuple[str, dict[str, Any]]  # (stream, GetLogEvents event)


@dataclass
class GroupReport:
    """What one group's collection covered, for its metadata."""

    log_group: str
    streams_listed: int = 0
    streams_read: int = 0
    streams_failed: list[dict[str, Any]] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class LogGroupExport:
    """Collector: CloudWatch log groups in a window; flow logs typed, other logs as lines."""

    account: AwsAccount
    log_groups: list[str]
    window: Window
    collected_at: datetime
    format: Format = "auto"
    fields: list[str] | None = None
    page_size: int = 10_000
    backoff: float = 1.0
    jobs: int = 1  # groups at once, and streams of a group fetched at once
    progress: Progress | None = None
    name: str = COLLECTOR

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        groups = min(self.jobs, len(self.log_groups))
        streams = max(1, -(-self.jobs // max(groups, 1)))  # under 2 x `jobs` threads in all
        self._make_clients()

        def one(group: str) -> ArtifactResult | FailedItem:
            try:
                return self.export_group(stager, group, jobs=streams)
            except BreachError as exc:
                return FailedItem(group, exc.diagnostics())

        outcomes = ordered_map(one, self.log_groups, groups, name="log-group")
        artifacts = [o for o in outcomes if isinstance(o, ArtifactResult)]
        return artifacts, [o for o in outcomes if isinstance(o, FailedItem)]

    def _make_clients(self) -> None:
        """The clients the threads share, made here: a boto3 session must not make clients on
        several threads at once. A failure here is met again, and reported, per group."""
        with contextlib.suppress(BreachError), self.account.calls(what="make AWS clients"):
            flow_logs_described = self.format != "lines" and not self.fields
            for service in ("logs", "sts", *(["ec2"] if flow_logs_described else [])):
                self.account.client(service)

    # -- one group ---------------------------------------------------------------------------
    def export_group(self, stager: Stager, group: str, *, jobs: int = 1) -> ArtifactResult:
        log = RetryLog(self.account, backoff=self.backoff)
        report = GroupReport(group)
        info = self._describe(group, log)
        streams = self._streams(group, log)
        report.streams_listed = len(streams)
        self._retention(info, report)
        events = self._events(group, streams, log, report, jobs)
        first = next(events, None)
        kind, fields, fields_from = self._format(group, first, log, report)
        folder = "vpc-flow" if kind == "vpc-flow" else "logs"
        final = stager.stage_path(f"cloud/{folder}/{safe_name(group)}")
        if final.exists():
            raise StepFailed(
                f"log group {group!r} is already staged as {staged_name(stager, final)}",
                hint="seal or move the earlier collection first",
            )
        everything = itertools.chain([first] if first else [], events)
        writer = _Rows(kind, fields)
        stats, tmp = self._write(final, writer, everything, group)
        if self.collected_at < self.window.until:
            report.notes.append(
                f"the window ends after the collection ({rfc3339(self.collected_at)}):"
                " later events did not exist yet"
            )
        source = {
            "system": "aws.cloudwatch-logs",
            "log_group": group,
            "log_group_arn": info.get("arn"),
            "staged_as": safe_name(group),
            "account": self.account.identity().get("Account"),
            "region": self.account.region_name,
            "format": kind,
            "fields": fields,
            "fields_from": fields_from,
            "window": self.window.to_json(),
            "covered_until": rfc3339(min(self.collected_at, self.window.until)),
            "retention_days": info.get("retentionInDays"),
            "streams": {
                "listed": report.streams_listed,
                "read": report.streams_read,
                "failed": report.streams_failed,
            },
            "malformed_records": writer.malformed,
            "header_lines": writer.headers,
            "calls": log.summary(),
            "not_covered": report.not_covered,
            "notes": report.notes,
            "complete": not report.not_covered,
        }
        meta = _meta(source, stats, writer.schema)
        try:  # the folder and its sidecar, both hidden until the step's journal entry
            describe(tmp, meta)
            faults.point("cloudwatch.written")
        except BaseException:
            remove_hidden(tmp)
            raise
        commit_described(stager, tmp, final)
        warnings = [f"{group}: {line}" for line in report.not_covered]
        if log.retries:
            warnings.append(f"{group}: throttled or transient errors retried: {log.retries}")
        if writer.malformed:
            warnings.append(f"{group}: {writer.malformed} record(s) not in the flow log format")
        return ArtifactResult(staged_name(stager, final), stats.rows, meta, warnings)

    def _describe(self, group: str, log: RetryLog) -> dict[str, Any]:
        client = self.account.client("logs")
        kwargs: dict[str, Any] = {"logGroupNamePrefix": group}
        while True:
            page = log.call(client.describe_log_groups, **kwargs)
            for info in page.get("logGroups", []):
                if info.get("logGroupName") == group:
                    return dict(info)
            if not page.get("nextToken"):
                raise StepFailed(
                    f"no log group named {group!r} in {self.account.region_name}",
                    hint="check the name and --region (aws logs describe-log-groups)",
                )
            kwargs["nextToken"] = page["nextToken"]

    def _streams(self, group: str, log: RetryLog) -> list[str]:
        client = self.account.client("logs")
        kwargs: dict[str, Any] = {"logGroupName": group}
        names: list[str] = []
        while True:
            page = log.call(client.describe_log_streams, **kwargs)
            names.extend(s["logStreamName"] for s in page.get("logStreams", []))
            if not page.get("nextToken"):
                return names
            kwargs["nextToken"] = page["nextToken"]

    def _retention(self, info: dict[str, Any], report: GroupReport) -> None:
        days = info.get("retentionInDays")
        if not days:
            return
        horizon = self.collected_at - timedelta(days=int(days))
        if self.window.since < horizon:
            report.not_covered.append(
                f"events before {rfc3339(horizon)} are past the group's {days}-day retention"
            )

    def _events(
        self, group: str, streams: list[str], log: RetryLog, report: GroupReport, jobs: int
    ) -> Iterator[Event]:
        """The streams' events in the streams' order (fetched on `jobs` threads); what each
        stream's failure leaves out is recorded here, in that order too."""
        fetched = in_order(streams, lambda s: self._pages(group, s, log), jobs, name="log-stream")
        with contextlib.closing(fetched):
            for stream, pages in fetched:
                seen = 0
                try:
                    for page in pages:
                        for event in page:
                            seen += 1
                            yield stream, event
                except BreachError as exc:
                    report.streams_failed.append(
                        {"stream": stream, "events_read": seen, "reason": exc.diagnostics()}
                    )
                    report.not_covered.append(
                        f"stream {stream!r} not read to its end ({seen} events read):"
                        f" {exc.diagnostics()}"
                    )
                    continue
                report.streams_read += 1

    def _pages(self, group: str, stream: str, log: RetryLog) -> Iterator[list[dict[str, Any]]]:
        """One stream's events of the window, page by page, until the token repeats."""
        client = self.account.client("logs")
        since, until = epoch_ms(self.window.since), epoch_ms(self.window.until)
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startTime": since,
                "endTime": until,
                "startFromHead": True,
                "limit": self.page_size,
            }
            if token:
                kwargs["nextToken"] = token
            page = log.call(client.get_log_events, **kwargs)
            yield [e for e in page.get("events", []) if since <= int(e["timestamp"]) < until]
            following = page.get("nextForwardToken")
            if not following or following == token:
                return
            token = following

    def _format(
        self, group: str, first: Event | None, log: RetryLog, report: GroupReport
    ) -> tuple[str, list[str] | None, str | None]:
        """lines or vpc-flow, and for flow logs the field list and where it came from."""
        if self.format == "lines":
            return "lines", None, None
        message = first[1].get("message", "") if first else ""
        if self.fields:
            return "vpc-flow", list(self.fields), "settings"
        described = self._described_format(group, log, report)
        if described:
            return "vpc-flow", described, "flow log description"
        header = flowlogs.header_fields(message)
        if header:
            return "vpc-flow", header, "header"
        if self.format == "vpc-flow" or flowlogs.looks_like_v2(message):
            return "vpc-flow", list(flowlogs.DEFAULT_FIELDS), "default format (version 2)"
        return "lines", None, None

    def _described_format(self, group: str, log: RetryLog, report: GroupReport) -> list[str]:
        """The LogFormat of the flow log delivering to this group (ec2:DescribeFlowLogs)."""
        filters = [{"Name": "log-group-name", "Values": [group]}]
        try:
            found = log.call(self.account.client("ec2").describe_flow_logs, Filter=filters)
        except BreachError as exc:
            report.notes.append(f"flow log description not read: {exc.diagnostics()}")
            return []
        formats = {f.get("LogFormat") for f in found.get("FlowLogs", []) if f.get("LogFormat")}
        if len(formats) > 1:
            report.notes.append(
                f"{len(formats)} flow logs of different formats deliver here: columns follow"
                " each stream's header, or the first format; every row keeps its raw record"
            )
        return flowlogs.parse_fields(sorted(formats)[0]) if formats else []

    def _write(
        self, final: Any, rows: _Rows, events: Iterator[Event], group: str
    ) -> tuple[Any, Any]:
        from evidence.parquet import ParquetSink, by_day, temp_dir_for

        tmp = temp_dir_for(final)
        sink = ParquetSink(tmp, rows.schema, by_day("timestamp"), time_column="timestamp")
        try:
            for batch in rows.batches(events):
                sink.put(batch)
                if self.progress:
                    self.progress(group, batch.num_rows)
            stats = sink.finish(empty_file="part-0000.parquet")
        except BaseException:
            sink.abort()
            raise
        return stats, tmp


class _Rows:
    """Events to Arrow batches: flow records into typed columns, other logs as lines."""

    def __init__(self, kind: str, fields: list[str] | None) -> None:
        import pyarrow as pa

        self.kind = kind
        self.fields = fields or []
        self.columns = [flowlogs.column(f) for f in self.fields]
        common = [
            pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
            pa.field("ingestion_time", pa.timestamp("ms", tz="UTC")),
            pa.field("stream", pa.string()),
            pa.field("message", pa.string()),
        ]
        typed = [pa.field(flowlogs.column(f), flowlogs.arrow_type(f)) for f in self.fields]
        self.schema = pa.schema(typed + common)
        self.malformed = 0
        self.headers = 0
        self._parsers: dict[tuple[str, ...], flowlogs.FlowParser] = {}

    def batches(self, events: Iterator[Event]) -> Iterator[Any]:
        import pyarrow as pa

        data: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        stream_fields: dict[str, list[str]] = {}
        for stream, event in events:
            message = str(event.get("message", ""))
            if self.kind == "vpc-flow":
                if stream not in stream_fields:  # a stream's first record may be its header
                    header = flowlogs.header_fields(message)
                    stream_fields[stream] = header or self.fields
                    if header:
                        self.headers += 1
                        continue
                self._flow(data, stream_fields[stream], message)
            data["timestamp"].append(event.get("timestamp"))
            data["ingestion_time"].append(event.get("ingestionTime"))
            data["stream"].append(stream)
            data["message"].append(message)
            if len(data["message"]) >= BATCH_ROWS:
                yield pa.RecordBatch.from_pydict(data, schema=self.schema)
                data = {name: [] for name in self.schema.names}
        if data["message"]:
            yield pa.RecordBatch.from_pydict(data, schema=self.schema)

    def _flow(self, data: dict[str, list[Any]], fields: list[str], message: str) -> None:
        parser = self._parsers.get(tuple(fields))
        if parser is None:
            parser = self._parsers[tuple(fields)] = flowlogs.FlowParser(fields)
        values = parser.parse(message)
        if values is None:
            self.malformed += 1
            found: dict[str, Any] = {}
        else:
            found = dict(zip(parser.columns, values, strict=True))
        for name in self.columns:
            data[name].append(found.get(name))


def _meta(source: dict[str, Any], stats: Any, schema: Any) -> dict[str, Any]:
    written = {
        "row_count": stats.rows,
        "oldest_event": _time(stats.oldest),
        "newest_event": _time(stats.newest),
        "schema_sha256": hashlib.sha256(schema.serialize().to_pybytes()).hexdigest(),
        "arrow_schema": schema.to_string(show_schema_metadata=False),
        "partitions": [{"path": p, "rows": n} for p, n in sorted(stats.files.items())],
    }
    return {
        "media_type": PARQUET_MEDIA_TYPE,
        "source": {**source, **written},
        "collector": collector(COLLECTOR),
    }


def _time(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return rfc3339(value if value.tzinfo else value.replace(tzinfo=UTC))
