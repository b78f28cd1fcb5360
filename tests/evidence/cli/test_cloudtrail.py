"""`breach evidence cloudtrail` end to end: moto's threaded server through --endpoint-url (behind
the loopback CloudTrail endpoint of the digest tests), exit codes, --json, one-line errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.evidence.test_cloudtrail import (
    ACCOUNT,
    ATTACKER_IP,
    KINDS,
    START,
    new_case,
    put_bucket,
    record,
    trail_objects,
    write_tree,
)
from tests.evidence.test_cloudtrail_digests import (
    BUCKET,
    CloudTrailEndpoint,
    setup_trail,
)


@pytest.fixture
def endpoint(moto_endpoint: str) -> Iterator[CloudTrailEndpoint]:
    found = CloudTrailEndpoint(moto_endpoint)
    yield found
    found.stop()


def _window(hours: int) -> list[str]:
    end = START + timedelta(hours=hours)
    return ["--since", START.isoformat(), "--until", end.isoformat()]


def test_bucket_with_digests_through_the_server(
    tmp_path: Path, endpoint: CloudTrailEndpoint, breach: Any
) -> None:
    objects, _ = setup_trail(endpoint)
    case = new_case(tmp_path)
    result = breach(
        "evidence", "cloudtrail", "--case", case.root, "--bucket", f"s3://{BUCKET}",
        *_window(5), "--validate-digests", "--endpoint-url", endpoint.url,
        "--region", "us-east-1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert data["rows"] == 4 * len(KINDS) and data["digests"] == {"valid": 4}
    folder = case.root / "staging" / data["artifact"]
    meta = json.loads((folder / "objects.meta.json").read_text())
    for entry in meta["source"]["objects"]:
        staged = (folder / entry["file"]).read_bytes()
        assert hashlib.sha256(staged).digest() == hashlib.sha256(objects[entry["key"]]).digest()
    journal = [json.loads(line) for line in case.journal_path.read_text().splitlines()]
    assert journal[-1]["what"] == "evidence.cloudtrail" and journal[-1]["result"] == "ok"


def test_access_denied_day_exits_1_after_staging(
    tmp_path: Path, endpoint: CloudTrailEndpoint, breach: Any
) -> None:
    put_bucket(BUCKET, trail_objects(START, 30), endpoint.moto_url)
    endpoint.deny_get = ["/2026/11/02/"]
    case = new_case(tmp_path)
    result = breach(
        "evidence", "cloudtrail", "--case", case.root, "--bucket", f"s3://{BUCKET}",
        *_window(31), "--endpoint-url", endpoint.url,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "NOT COVERED" in result.stdout and "AccessDenied" in result.stdout
    assert "not fully collected" in result.stderr
    assert "Traceback" not in result.stderr
    assert list((case.root / "staging" / "cloud" / "cloudtrail" / "trail" / "events").iterdir())


def test_bad_input_is_one_line(tmp_path: Path, endpoint: CloudTrailEndpoint, breach: Any) -> None:
    put_bucket(BUCKET, trail_objects(START, 2), endpoint.moto_url)
    case = new_case(tmp_path)
    wrong_prefix = breach(
        "evidence", "cloudtrail", "--case", case.root, "--bucket", f"s3://{BUCKET}/nothing-here",
        *_window(3), "--endpoint-url", endpoint.url,
    )  # fmt: skip
    assert wrong_prefix.exit_code == 2
    assert "no CloudTrail logs under" in wrong_prefix.stderr
    assert len(wrong_prefix.stderr.strip().splitlines()) == 1
    future = datetime.now(UTC) + timedelta(days=1)
    ahead = breach(
        "evidence", "cloudtrail", "--case", case.root, "--bucket", f"s3://{BUCKET}",
        "--since", START.isoformat(), "--until", future.isoformat(), "--endpoint-url", endpoint.url,
    )  # fmt: skip
    assert ahead.exit_code == 2 and "in the future" in ahead.stderr and "--until" in ahead.stderr
    both = breach(
        "evidence", "cloudtrail", "--case", case.root, "--bucket", f"s3://{BUCKET}",
        "--source", str(tmp_path), *_window(3),
    )  # fmt: skip
    assert both.exit_code == 2 and "exactly one of" in both.stderr


def test_local_source_and_escaped_output(tmp_path: Path, breach: Any) -> None:
    objects = trail_objects(START, 2)
    hostile = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/01/x\x1b[31mred.json.gz"
    objects[hostile] = b"not gzip"
    write_tree(tmp_path / "copy", objects)
    case = new_case(tmp_path)
    result = breach(
        "evidence", "cloudtrail", "--case", case.root, "--source", tmp_path / "copy", *_window(3)
    )
    assert result.exit_code == 1
    assert "\x1b[31m" not in result.stdout
    assert f"{2 * len(KINDS)} events from 3 objects" in result.stdout


def test_lookup_events_with_throttling(
    tmp_path: Path, endpoint: CloudTrailEndpoint, breach: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for i in range(120):
        at = now - timedelta(hours=2, minutes=i)
        rec = record(KINDS[i % 5], at, n=i)
        events.append({"EventId": rec["eventID"], "EventName": rec["eventName"],
                       "EventTime": at.timestamp(), "CloudTrailEvent": json.dumps(rec)})  # fmt: skip
    endpoint.events = events
    endpoint.throttle_first = 2
    case = new_case(tmp_path)
    since = now - timedelta(days=100)
    result = breach(
        "evidence", "cloudtrail", "--case", case.root, "--lookup", "--since", since.isoformat(),
        "--until", (now - timedelta(hours=1)).isoformat(), "--endpoint-url", endpoint.url,
        "--region", "us-east-1", "--json",
    )  # fmt: skip
    assert result.exit_code == 1  # the part older than 90 days is not covered
    data = result.json
    assert data["rows"] == 120
    assert data["coverage"]["throttling_retried"] == 2, (data, endpoint.calls)
    assert "90 days" in data["not_covered"][0]["reason"]
    assert endpoint.calls.count("LookupEvents") == 2 + 3  # two throttled, three pages of 50
    meta = json.loads((case.root / "staging" / data["artifact"] / "events.meta.json").read_text())
    assert meta["source"]["origin"] == "LookupEvents" and meta["source"]["limits"]
    ips = {json.loads(e["CloudTrailEvent"]).get("sourceIPAddress") for e in events}
    assert ATTACKER_IP in ips


def test_sealed_and_decrypted_objects_are_the_source_bytes(tmp_path: Path, breach: Any) -> None:
    objects = trail_objects(START, 3)
    write_tree(tmp_path / "copy", objects)
    case = new_case(tmp_path)
    staged = breach(
        "evidence", "cloudtrail", "--case", case.root, "--source", tmp_path / "copy", *_window(4)
    )
    assert staged.exit_code == 0, staged.stderr
    keys = breach("keys", "generate", "--out", tmp_path / "keys", "--json").json
    sealed = breach("seal", "--case", case.root, "-r", keys["age_recipient"],
                    "--signing-key", keys["signing_key"], "--json")  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    bundle = Path(sealed.json["bundle"])
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    artifacts = {a["name"]: a for a in statement["predicate"]["artifacts"]}
    gz = [a for name, a in artifacts.items() if "/objects/" in name]
    assert len(gz) == 3 and all(a["media_type"] == "application/gzip" for a in gz)
    assert all(a["collector"]["name"] == "evidence.aws.cloudtrail" for a in gz)
    out = tmp_path / "plain"
    opened = breach("decrypt", bundle, "-i", keys["age_identity"], "--out", out,
                    "--pubkey", keys["signing_pub"], "--reason", "test",
                    "--signing-key", keys["signing_key"])  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    meta = json.loads((case.root / "staging/cloud/cloudtrail/trail/objects.meta.json").read_text())
    for entry in meta["source"]["objects"]:
        plain = next(out.rglob(entry["file"].rsplit("/", 1)[-1]))
        assert plain.read_bytes() == objects[entry["key"]]
