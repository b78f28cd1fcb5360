"""`jobs` for CloudWatch Logs and S3 access logs, against moto (in-process): the same window
collected with 1 and with 4 threads stages the same bytes and the same metadata, the threads
really overlap (a hook holds the first call until another arrives), and a failure in one worker
is recorded in its place, never lost."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.cloud import CloudWatchStepSettings, S3LogsStepSettings, cloudwatch, s3_logs
from core.aws import AwsAccount
from tests.evidence.test_cloudwatch import _Raw, base_day, put, v2
from tests.evidence.test_s3logs import BUCKET, IN_WINDOW, OTHER, OUTSIDE, SINCE, UNTIL, body

FLOW = "/aws/vpc/flow-logs/jobs"
APP = "/ecs/jobs-api"
STREAMS = 6
FIRST = f"{FLOW} eni-0a1b2c3d4e5f60000-all"
DENIED_STREAM = "app/3"  # its second page is refused
HELD_BACK = 5.0  # seconds the first call waits for a second one (none comes with one thread)


def open_case(root: Path, name: str) -> Case:
    return Case.open("INC-2026-0301", "P1", "jobs", root=root / name)


def staged_files(case: Case, artifact: str) -> dict[str, str]:
    """Every file of an artifact (a folder or a file) -> its SHA-256."""
    top = case.staging / artifact
    files = sorted(top.rglob("*")) if top.is_dir() else [top]
    return {
        str(p.relative_to(case.staging)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


def refusal(status: int, body: bytes, content_type: str) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = "refused"
    headers["Content-Type"] = content_type
    return lambda request: AWSResponse(request.url, status, headers, _Raw(body))


class Overlap:
    """A before-parameter-build hook: the first call for `first` waits (up to HELD_BACK) until a
    call for another item of `among` is made on another thread, so the first item is the last
    fetched; records whether that happened, and every call."""

    def __init__(self, item: Callable[[dict[str, Any]], str], first: str, among: str) -> None:
        self.item, self.first, self.among = item, first, among
        self.other = threading.Event()
        self.held = False
        self.overlapped = False
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        item = self.item(params)
        with self._lock:
            self.calls.append(item)
            self.threads.add(threading.current_thread().name)
            hold = item == self.first and not self.held
            self.held = self.held or hold
        if hold:
            self.overlapped = self.other.wait(HELD_BACK)
        elif item.startswith(self.among) and item != self.first:
            self.other.set()


# -- CloudWatch ---------------------------------------------------------------------------------
def seed_logs(base: datetime) -> None:
    """Two groups of six streams, events interleaved over two days (and outside the window)."""
    for n in range(STREAMS):
        flow = [
            (at, v2(at, f"10.0.{n}.15", "203.0.113.45", 443, 50000 + i, "ACCEPT"))
            for i in range(-2, 40)
            for at in [base + timedelta(minutes=73 * i + n)]
        ]
        put(FLOW, f"eni-0a1b2c3d4e5f6000{n}-all", flow)
        app = [(base + timedelta(minutes=97 * i + n), f"app {n} line {i}") for i in range(-1, 30)]
        put(APP, f"app/{n}", app)


def deny_second_page(account: AwsAccount) -> None:
    """GetLogEvents of DENIED_STREAM refused once it asks for a next page."""
    answer = refusal(
        400,
        b'{"__type":"AccessDeniedException","message":"not this stream"}',
        "application/x-amz-json-1.1",
    )

    def hook(request: Any, **_: Any) -> Any:
        sent = json.loads(request.body)
        if sent["logStreamName"] == DENIED_STREAM and "nextToken" in sent:
            return answer(request)
        return None

    account.client("logs").meta.events.register("before-send.logs.GetLogEvents", hook)


def collect_logs(case: Case, jobs: int) -> tuple[Any, Overlap]:
    account = AwsAccount(session_name="test")
    deny_second_page(account)
    # the first stream of the flow logs is held until another of its streams is being read
    stream = Overlap(lambda p: f"{p['logGroupName']} {p['logStreamName']}", FIRST, FLOW)
    account.client("logs").meta.events.register("before-parameter-build.logs.GetLogEvents", stream)
    since = base_day()
    settings = CloudWatchStepSettings(
        case=str(case.root),
        log_groups=[FLOW, APP, "/no/such/group"],
        since=since,
        until=since + timedelta(days=2),
        page_size=7,
        jobs=jobs,
        aws=account,
    )
    return cloudwatch(settings), stream


def test_log_groups_fetched_at_once_stage_the_same_rows_in_the_same_order(
    tmp_path: Path, aws: None
) -> None:
    import pyarrow.dataset as ds

    seed_logs(base_day())
    case_one, case_four = open_case(tmp_path, "one"), open_case(tmp_path, "four")
    one, one_overlap = collect_logs(case_one, 1)
    four, four_overlap = collect_logs(case_four, 4)
    assert not one_overlap.overlapped and len(one_overlap.threads) == 1
    assert four_overlap.overlapped and len(four_overlap.threads) > 1
    assert sorted(one_overlap.calls) == sorted(four_overlap.calls)

    assert one.model_dump() == four.model_dump()
    assert [a.log_group for a in four.artifacts] == [FLOW, APP]
    assert [f.target for f in four.failed] == ["/no/such/group"]
    flow, app = four.artifacts
    assert flow.row_count == STREAMS * 40 and flow.complete and not app.complete
    for artifact in four.artifacts:
        assert staged_files(case_one, artifact.artifact) == staged_files(
            case_four, artifact.artifact
        )
        meta = f"{artifact.artifact}.meta.json"
        assert (
            json.loads((case_one.staging / meta).read_text())["source"]
            == json.loads((case_four.staging / meta).read_text())["source"]
        )
    # written in the streams' order (as listed: by name), each stream's events in time order
    for part in (case_four.staging / flow.artifact).rglob("*.parquet"):
        rows = ds.dataset(part).to_table(columns=["stream", "timestamp"]).to_pylist()
        order = [(r["stream"], r["timestamp"]) for r in rows]
        assert order == sorted(order) and len({s for s, _ in order}) == STREAMS


def test_a_stream_refused_in_one_worker_is_recorded_in_its_place(tmp_path: Path, aws: None) -> None:
    seed_logs(base_day())
    case = open_case(tmp_path, "four")
    result, _ = collect_logs(case, 4)
    (_, app) = result.artifacts
    assert not app.complete and result.problem and DENIED_STREAM in result.problem
    source = json.loads((case.staging / f"{app.artifact}.meta.json").read_text())["source"]
    (failed,) = source["streams"]["failed"]
    assert failed["stream"] == DENIED_STREAM and failed["events_read"] == 7
    assert "AccessDeniedException" in failed["reason"]
    assert source["streams"]["read"] == STREAMS - 1
    # the other streams whole, the refused one up to its first page
    assert app.row_count == (STREAMS - 1) * 30 + 7


# -- S3 access logs -----------------------------------------------------------------------------
MORE = [
    f"s3-access/2026-11-30-{h:02d}-{m:02d}-00-{h:08X}{m:08X}" for h in range(6) for m in (7, 37)
]
ARCHIVED = "s3-access/2026-11-30-09-00-00-00000000DEADBEEF"
DENIED_KEY = MORE[5]
COPIED = sorted({*IN_WINDOW, *MORE} - {DENIED_KEY})


@pytest.fixture
def access_logs(aws: None) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in [*IN_WINDOW, *OUTSIDE, *OTHER, *MORE]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"" if key.endswith("/") else body(key))
    s3.put_object(Bucket=BUCKET, Key=ARCHIVED, Body=body(ARCHIVED), StorageClass="GLACIER")


def collect_access_logs(case: Case, jobs: int) -> tuple[Any, Overlap]:
    account = AwsAccount(session_name="test")
    events = account.session.events  # the collector's own S3 client is made from the session
    denied = refusal(
        403,
        b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        "application/xml",
    )
    events.register(
        "before-send.s3.GetObject",
        lambda request, **_: denied(request) if request.url.endswith(DENIED_KEY) else None,
    )
    first = min(COPIED)
    overlap = Overlap(lambda p: str(p["Key"]), first, "")
    events.register("before-parameter-build.s3.GetObject", overlap)
    settings = S3LogsStepSettings(
        case=str(case.root),
        prefix=f"s3://{BUCKET}/",
        since=SINCE,
        until=UNTIL,
        jobs=jobs,
        aws=account,
    )
    return s3_logs(settings), overlap


def test_objects_copied_at_once_are_recorded_as_one_at_a_time(
    tmp_path: Path, access_logs: None
) -> None:
    case_one, case_four = open_case(tmp_path, "one"), open_case(tmp_path, "four")
    one, one_overlap = collect_access_logs(case_one, 1)
    four, four_overlap = collect_access_logs(case_four, 4)
    assert not one_overlap.overlapped and len(one_overlap.threads) == 1
    assert four_overlap.overlapped and len(four_overlap.threads) > 1
    assert sorted(one_overlap.calls) == sorted(four_overlap.calls)

    assert [c.key for c in four.copied] == COPIED  # in the listing's order
    assert one.model_dump(exclude={"index"}) == four.model_dump(exclude={"index"})
    copies = f"cloud/s3-logs/{Path(four.copied[0].artifact).parts[2]}"
    assert staged_files(case_one, copies) == staged_files(case_four, copies)
    index_one = json.loads((case_one.staging / one.index).read_text())
    index_four = json.loads((case_four.staging / four.index).read_text())
    assert index_one == index_four


def test_an_object_refused_in_one_worker_is_recorded_and_the_others_copied(
    tmp_path: Path, access_logs: None
) -> None:
    case = open_case(tmp_path, "four")
    result, _ = collect_access_logs(case, 4)
    assert [f.target for f in result.failed] == [DENIED_KEY, ARCHIVED]  # the listing's order
    assert "AccessDenied" in result.failed[0].reason
    assert "InvalidObjectState" in result.failed[1].reason
    assert result.problem and DENIED_KEY in result.problem
    index = json.loads((case.staging / result.index).read_text())
    status = {o["key"]: o["status"] for o in index["objects"]}
    assert status[DENIED_KEY] == status[ARCHIVED] == "failed"
    assert sorted(k for k, s in status.items() if s == "copied") == COPIED
    assert index["source"]["complete"] is False
    for copied in result.copied:
        assert (case.staging / copied.artifact).read_bytes() == body(copied.key)
