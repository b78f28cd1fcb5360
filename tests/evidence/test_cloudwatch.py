"""CloudWatch Logs and VPC flow logs against moto (in-process): every event of the window, typed
flow log columns read back by DuckDB and pyarrow, ordinary logs as lines, and what could not be
collected said in the metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.cloud import CloudWatchStepSettings, cloudwatch
from core.aws import AwsAccount
from core.errors import BadInput

FLOW = "/aws/vpc/flow-logs/prod"
CUSTOM = "/aws/vpc/flow-logs/v3"
APP = "/ecs/payments-api"
ENI = "eni-0a1b2c3d4e5f60001"
HEADER = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport"
    " dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status"
)
FLOW_COLUMNS = [
    "version",
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log_status",
]
EXTRA = ["timestamp", "ingestion_time", "stream", "message"]


def base_day() -> datetime:
    """Midnight UTC three days ago: moto takes events up to 14 days old."""
    now = datetime.now(UTC) - timedelta(days=3)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def v2(at: datetime, src: str, dst: str, sport: int, dport: int, action: str) -> str:
    start = int(at.timestamp()) - 60
    return (
        f"2 123456789012 {ENI} {src} {dst} {sport} {dport} 6 12 4416 {start} {start + 60}"
        f" {action} OK"
    )


def status_line(at: datetime, status: str) -> str:
    start = int(at.timestamp()) - 60
    return f"2 123456789012 {ENI} - - - - - - - {start} {start + 60} - {status}"


def v3(at: datetime) -> str:
    start = int(at.timestamp()) - 60
    return (
        "3 vpc-0abc1234 subnet-0def5678 i-0123456789abcdef0 eni-0a1b2c3d4e5f60002 123456789012"
        f" IPv4 10.0.1.5 10.0.0.220 39812 80 10.0.1.5 192.168.0.1 6 3800 10 {start} {start + 60}"
        " ACCEPT 19 OK"
    )


def put(group: str, stream: str, events: list[tuple[datetime, str]]) -> None:
    import boto3

    logs = boto3.client("logs")
    existing = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    if not any(g["logGroupName"] == group for g in existing):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    ordered = sorted(events, key=lambda e: e[0])
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ms(at), "message": text} for at, text in ordered],
    )


def seed(base: datetime) -> dict[str, Any]:
    """Flow logs (v2 default, a v3 custom format with a header) and an application's lines, with
    events before, inside (two days) and after the window [base, base + 2 days)."""
    h = timedelta(hours=1)
    flow = [
        (base - h, v2(base - h, "10.0.1.15", "198.51.100.1", 443, 50000, "ACCEPT")),
        (base + h, v2(base + h, "10.0.1.15", "203.0.113.45", 443, 51234, "ACCEPT")),
        (base + 2 * h, v2(base + 2 * h, "198.51.100.7", "10.0.1.15", 51515, 22, "REJECT")),
        (base + 3 * h, status_line(base + 3 * h, "NODATA")),
        (base + 4 * h, status_line(base + 4 * h, "SKIPDATA")),
        (base + 25 * h, v2(base + 25 * h, "10.0.1.15", "203.0.113.45", 443, 51240, "ACCEPT")),
        (base + 49 * h, v2(base + 49 * h, "10.0.1.15", "203.0.113.45", 443, 51299, "ACCEPT")),
    ]
    put(FLOW, f"{ENI}-all", flow)
    custom = [
        (base + h, HEADER),
        (base + 2 * h, v3(base + 2 * h)),
        (base + 26 * h, v3(base + 26 * h)),
    ]
    put(CUSTOM, "eni-0a1b2c3d4e5f60002-all", custom)
    first_and_last = [(base, "boundary: the window's first instant"), (base + 48 * h, "excluded")]
    app = [(base + h, "GET /health 200"), (base + 30 * h, "POST /pay 201"), *first_and_last]
    put(APP, "web/1", app)
    put(APP, "web/2", [(base + 2 * h, "panic: boom\n  at main.go:12 [red]not markup[/red]")])
    return {"since": base, "until": base + timedelta(days=2)}


@pytest.fixture
def window(aws: None) -> Iterator[dict[str, Any]]:
    yield seed(base_day())


def run(case: Case, window: dict[str, Any], *groups: str, **more: Any) -> Any:
    settings = CloudWatchStepSettings(
        case=str(case.root),
        log_groups=list(groups),
        since=window["since"],
        until=window["until"],
        **more,
    )
    return cloudwatch(settings)


def meta(case: Case, artifact: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case.staging / f"{artifact}.meta.json").read_text())
    return data


def rows(folder: Path) -> list[dict[str, Any]]:
    import pyarrow.dataset as ds

    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    return sorted(table.to_pylist(), key=lambda r: (r["timestamp"], r["stream"]))


def test_flow_logs_become_typed_columns_of_the_window(case: Case, window: dict[str, Any]) -> None:
    import duckdb
    import pyarrow as pa

    result = run(case, window, FLOW)
    assert result.problem is None and result.failed == []
    (artifact,) = result.artifacts
    assert artifact.artifact == "cloud/vpc-flow/%2Faws%2Fvpc%2Fflow-logs%2Fprod"
    assert (artifact.format, artifact.row_count, artifact.complete) == ("vpc-flow", 5, True)
    folder = case.staging / artifact.artifact
    assert sorted(p.name for p in folder.iterdir()) == [
        f"day={(window['since'] + timedelta(days=n)).date().isoformat()}" for n in (0, 1)
    ]

    import pyarrow.parquet as pq

    schema = pq.read_schema(next(folder.rglob("*.parquet")))
    assert schema.names == FLOW_COLUMNS + EXTRA
    assert schema.field("srcport").type == pa.int32()
    assert schema.field("bytes").type == pa.int64()
    assert schema.field("start").type == pa.timestamp("ms", tz="UTC")

    got = rows(folder)
    assert [r["log_status"] for r in got] == ["OK", "OK", "NODATA", "SKIPDATA", "OK"]
    first = got[0]
    since = window["since"]
    assert {k: first[k] for k in FLOW_COLUMNS} == {
        "version": 2,
        "account_id": "123456789012",
        "interface_id": ENI,
        "srcaddr": "10.0.1.15",
        "dstaddr": "203.0.113.45",
        "srcport": 443,
        "dstport": 51234,
        "protocol": 6,
        "packets": 12,
        "bytes": 4416,
        "start": since + timedelta(minutes=59),
        "end": since + timedelta(hours=1),
        "action": "ACCEPT",
        "log_status": "OK",
    }
    assert first["timestamp"] == since + timedelta(hours=1)
    assert first["stream"] == f"{ENI}-all" and first["message"].startswith("2 123456789012")
    assert first["ingestion_time"] is not None
    nodata = got[2]
    assert nodata["srcaddr"] is None and nodata["packets"] is None and nodata["action"] is None

    sql = (
        "SELECT srcaddr, dstport, action, log_status, epoch(start)::BIGINT, bytes"
        f" FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true)"
        " WHERE action = 'REJECT'"
    )
    assert duckdb.connect().execute(sql).fetchall() == [
        ("198.51.100.7", 22, "REJECT", "OK", int(since.timestamp()) + 7140, 4416)
    ]
    describe = f"DESCRIBE SELECT * FROM read_parquet('{folder}/**/*.parquet')"
    every = duckdb.connect().execute(describe).fetchall()
    assert [c[0] for c in every] == [*FLOW_COLUMNS, *EXTRA, "day"]  # day: the partition

    source = meta(case, artifact.artifact)["source"]
    assert source["log_group"] == FLOW and source["fields_from"] == "default format (version 2)"
    assert source["streams"] == {"listed": 1, "read": 1, "failed": []}
    assert source["row_count"] == 5 and source["not_covered"] == [] and source["complete"]


def test_a_custom_format_comes_from_the_logs_header(case: Case, window: dict[str, Any]) -> None:
    (artifact,) = run(case, window, CUSTOM).artifacts
    source = meta(case, artifact.artifact)["source"]
    assert source["fields_from"] == "header" and source["header_lines"] == 1
    got = rows(case.staging / artifact.artifact)
    assert len(got) == 2
    assert got[0]["vpc_id"] == "vpc-0abc1234" and got[0]["tcp_flags"] == 19
    assert got[0]["pkt_dstaddr"] == "192.168.0.1" and got[0]["type"] == "IPv4"
    assert got[0]["start"] == window["since"] + timedelta(hours=1, minutes=59)


def test_a_custom_format_given_as_fields(case: Case, window: dict[str, Any]) -> None:
    base = window["since"]
    line = f"vpc-0abc1234 {ENI} 203.0.113.9 10.0.0.5 REJECT {int(base.timestamp())}"
    put("/flow/custom-no-header", "s", [(base + timedelta(hours=5), line)])
    fields = "${vpc-id} ${interface-id} ${srcaddr} ${dstaddr} ${action} ${start}"
    (artifact,) = run(case, window, "/flow/custom-no-header", fields=fields).artifacts
    (row,) = rows(case.staging / artifact.artifact)
    assert (row["vpc_id"], row["srcaddr"], row["action"], row["start"]) == (
        "vpc-0abc1234",
        "203.0.113.9",
        "REJECT",
        base,
    )
    assert meta(case, artifact.artifact)["source"]["fields_from"] == "settings"


def test_other_logs_are_timestamped_lines(case: Case, window: dict[str, Any]) -> None:
    (artifact,) = run(case, window, APP).artifacts
    assert artifact.artifact == "cloud/logs/%2Fecs%2Fpayments-api" and artifact.format == "lines"
    got = rows(case.staging / artifact.artifact)
    assert [(r["stream"], r["message"]) for r in got] == [
        ("web/1", "boundary: the window's first instant"),
        ("web/1", "GET /health 200"),
        ("web/2", "panic: boom\n  at main.go:12 [red]not markup[/red]"),
        ("web/1", "POST /pay 201"),
    ]
    assert set(got[0]) == {*EXTRA, "day"}
    source = meta(case, artifact.artifact)["source"]
    assert source["streams"]["listed"] == 2 and source["streams"]["read"] == 2


def test_pages_are_followed_to_the_end(case: Case, window: dict[str, Any]) -> None:
    (artifact,) = run(case, window, FLOW, page_size=2).artifacts
    assert artifact.row_count == 5


def test_an_unknown_group_is_reported_after_the_others_are_staged(
    case: Case, window: dict[str, Any]
) -> None:
    result = run(case, window, APP, "/no/such/group")
    assert [a.log_group for a in result.artifacts] == [APP]
    assert (case.staging / result.artifacts[0].artifact).is_dir()
    (failed,) = result.failed
    assert failed.target == "/no/such/group" and "no log group named" in failed.reason
    assert result.problem and "/no/such/group" in result.problem
    entry = case.timeline()[-1]
    assert entry["what"] == "evidence.cloudwatch" and entry["result"] == "incomplete"


def test_a_hostile_group_name_neither_leaves_its_folder_nor_breaks_a_line(
    case: Case, window: dict[str, Any]
) -> None:
    hostile = "/../../../outside\n[bold]x"
    put(hostile, "s", [(window["since"] + timedelta(hours=1), "hello")])
    (artifact,) = run(case, window, hostile).artifacts
    folder = case.staging / artifact.artifact
    assert folder.parent == case.staging / "cloud" / "logs" and folder.is_dir()
    assert "\n" not in artifact.artifact and "/" not in folder.name
    assert meta(case, artifact.artifact)["source"]["log_group"] == hostile
    assert not (case.root.parent / "outside").exists()
    journal = case.journal_path.read_text()
    assert len(journal.splitlines()) == len(case.timeline())


def test_events_past_the_retention_are_not_covered(case: Case, window: dict[str, Any]) -> None:
    import boto3

    boto3.client("logs").put_retention_policy(logGroupName=APP, retentionInDays=1)
    result = run(case, window, APP)
    (artifact,) = result.artifacts
    assert not artifact.complete and "1-day retention" in artifact.not_covered[0]
    assert result.problem and artifact.row_count == 4  # what moto still holds is staged


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def throttle(account: AwsAccount, operation: str, times: int) -> dict[str, int]:
    """The next `times` calls of `operation` answered with AWS's throttling error."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    seen = {"throttled": 0}
    body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        if seen["throttled"] >= times:
            return None
        seen["throttled"] += 1
        headers = HTTPHeaders()
        headers["x-amzn-RequestId"] = "throttled"
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(request.url, 400, headers, _Raw(body))

    account.client("logs").meta.events.register(f"before-send.logs.{operation}", answer)
    return seen


def test_throttling_is_retried_and_recorded(
    case: Case, window: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore gives up at once: our retries show
    account = AwsAccount(session_name="test")
    seen = throttle(account, "GetLogEvents", 2)
    result = run(case, window, FLOW, aws=account, backoff=0.01)
    assert seen["throttled"] == 2
    (artifact,) = result.artifacts
    assert artifact.complete and artifact.row_count == 5
    calls = meta(case, artifact.artifact)["source"]["calls"]
    assert calls == {
        "retries": {"get_log_events": 2},
        "throttled_then_retried": {"get_log_events": 2},
    }
    assert any("retried" in w for w in result.warnings)


def test_throttling_that_never_ends_leaves_the_stream_not_covered(
    case: Case, window: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    account = AwsAccount(session_name="test")
    throttle(account, "GetLogEvents", 1000)
    result = run(case, window, APP, aws=account, backoff=0.001)
    (artifact,) = result.artifacts
    assert artifact.row_count == 0 and not artifact.complete
    source = meta(case, artifact.artifact)["source"]
    assert [f["stream"] for f in source["streams"]["failed"]] == ["web/1", "web/2"]
    assert "ThrottlingException" in source["streams"]["failed"][0]["reason"]
    assert result.problem


def test_a_window_in_the_future_is_refused(case: Case, aws: None) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(BadInput) as caught:
        run(case, {"since": later, "until": later + timedelta(days=1)}, APP)
    assert caught.value.field == "since" and "future" in caught.value.message
    assert not (case.staging / "cloud").exists()
