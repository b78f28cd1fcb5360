"""Scope from cloud evidence: what an access key, an ARN or an address did, read from the staged
CloudTrail view and VPC flow-log Parquet (no AWS call, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breach.case import Case
from core.errors import BadInput
from tests.evidence.test_cloudtrail import (
    ACCOUNT,
    ATTACKER_IP,
    KEY_ID,
    START,
    new_case,
    run,
    trail_objects,
    write_tree,
)

MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops"


def stage_flows(case: Case, name: str = "vpc-flow-logs") -> None:
    """A flow-log export as evidence.aws.cloudwatch stages it (snake_case columns)."""
    ms = pa.timestamp("ms", tz="UTC")

    def at(minutes: int) -> int:
        return int((START + timedelta(minutes=minutes)).timestamp() * 1000)

    table = pa.table(
        {
            "version": pa.array([2, 2, 2, 2], pa.int32()),
            "srcaddr": ["10.0.1.5", ATTACKER_IP, "10.0.1.5", "10.0.2.9"],
            "dstaddr": [ATTACKER_IP, "10.0.1.5", "198.51.100.1", "10.0.1.5"],
            "srcport": pa.array([443, 51515, 443, 22], pa.int32()),
            "dstport": pa.array([51515, 443, 40000, 40001], pa.int32()),
            "protocol": pa.array([6, 6, 6, 6], pa.int32()),
            "packets": pa.array([900, 20, 5, 7], pa.int64()),
            "bytes": pa.array([9_000_000, 2_000, 500, 700], pa.int64()),
            "start": pa.array([at(10), at(11), at(12), at(13)], ms),
            "end": pa.array([at(11), at(12), at(13), at(14)], ms),
            "action": ["ACCEPT", "REJECT", "ACCEPT", "ACCEPT"],
            "log_status": ["OK", "OK", "OK", "OK"],
        }
    )
    folder = case.staging / "cloud" / "vpc-flow" / name / "day=2026-11-01"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0000.parquet")


def scope_of(case: Case, **values: Any) -> Any:
    from breach.procedure.evidence import ScopeSettings, scope

    return scope(ScopeSettings(case=str(case.root), **values))


def trail_case(tmp_path: Path) -> Case:
    write_tree(tmp_path / "trail", trail_objects(START, 6))
    case = new_case(tmp_path)
    run(case, source=tmp_path / "trail", since=START, until=START + timedelta(hours=7))
    return case


def test_access_key_scope(tmp_path: Path) -> None:
    case = trail_case(tmp_path)
    found = scope_of(case, actors=[KEY_ID])
    cloud = found.cloud
    # ListUsers, GetObject and the denied GetSecretValue carry the key: 3 calls an hour, 6 hours
    assert cloud["events"] == 18
    assert cloud["api_calls"] == {
        "iam.amazonaws.com ListUsers": 6,
        "s3.amazonaws.com GetObject": 6,
        "secretsmanager.amazonaws.com GetSecretValue": 6,
    }
    assert cloud["buckets"] == {"customer-data": 6}
    assert cloud["objects_total"] == 6
    assert "arn:aws:s3:::customer-data" in cloud["resources"]
    assert cloud["errors"] == {"AccessDenied secretsmanager.amazonaws.com GetSecretValue": 6}
    assert len(cloud["denied"]) == 6 and cloud["denied"][0]["source_ip"] == ATTACKER_IP
    actor = cloud["actors"][MALLORY]
    assert actor["access_keys"] == [KEY_ID] and actor["errors"] == 6
    first, last = actor["first_seen"], actor["last_seen"]
    assert first < last and first.startswith("2026-11-01T00:") and last.startswith("2026-11-01T05:")
    # the scope the case keeps (and notices read) names them too
    assert MALLORY in found.principals and ATTACKER_IP in found.source_ips
    assert found.actions["cloudtrail:s3.amazonaws.com GetObject"] == 6
    events = pq.read_table(case.staging / "scope" / "cloudtrail-events.parquet")
    assert events.num_rows == 18 and set(events.column("access_key_id").to_pylist()) == {KEY_ID}
    stored = json.loads((case.root / "case.json").read_text())["scope"]
    assert MALLORY in stored["principals"]
    # the attacker's period (a notice's "period of the breach") is the cloud's too
    assert (stored["first_seen"], stored["last_seen"]) == (first, last)


def test_arn_role_and_ip_scope_with_flows(tmp_path: Path) -> None:
    case = trail_case(tmp_path)
    stage_flows(case)
    by_role = scope_of(case, actors=[ROLE])  # the role: every session that assumed it
    assert by_role.cloud["api_calls"] == {"ec2.amazonaws.com DescribeInstances": 6}
    by_ip = scope_of(case, ips=[f"{ATTACKER_IP}/32"])
    cloud = by_ip.cloud
    # ListUsers, ConsoleLogin, GetObject, GetSecretValue come from the attacker's address
    assert cloud["events"] == 24 and "signin.amazonaws.com ConsoleLogin" in cloud["api_calls"]
    flows = cloud["flows"]["cloud/vpc-flow/vpc-flow-logs"]
    assert flows["flows"] == 2
    assert flows["bytes_to"] == 9_000_000  # exfiltration toward the attacker
    assert flows["bytes_from"] == 2_000
    assert flows["actions"] == {"ACCEPT": 1, "REJECT": 1}
    assert flows["peers"] == {"10.0.1.5": 2}
    assert flows["first_seen"] == "2026-11-01T00:10:00Z"
    # the period spans the flows and the CloudTrail events of the address
    stored = json.loads((case.root / "case.json").read_text())["scope"]
    trail_firsts = [a["first_seen"] for a in cloud["actors"].values()]
    trail_lasts = [a["last_seen"] for a in cloud["actors"].values()]
    assert stored["first_seen"] == min([*trail_firsts, "2026-11-01T00:10:00Z"])
    assert stored["last_seen"] == max(trail_lasts) > "2026-11-01T00:14:00Z"


def test_nothing_matched_and_nothing_staged(tmp_path: Path) -> None:
    case = trail_case(tmp_path)
    found = scope_of(case, actors=["AKIANOBODY"])
    assert found.cloud["events"] == 0
    assert any("no CloudTrail event or flow matched" in w for w in found.warnings)
    empty = Case.open("INC-CT-2", "P2", "empty", root=tmp_path / "empty")
    with pytest.raises(BadInput, match="no exported audit logs"):
        scope_of(empty, actors=[KEY_ID])


def test_window_narrows_and_warns(tmp_path: Path) -> None:
    case = trail_case(tmp_path)
    since = START + timedelta(hours=2)
    found = scope_of(case, actors=[KEY_ID], since=since, until=START + timedelta(hours=4))
    assert found.cloud["events"] == 6
    wide = scope_of(
        case,
        actors=[KEY_ID],
        since=START - timedelta(days=1),
        until=datetime(2026, 11, 3, tzinfo=UTC),
    )
    assert any("covers only" in w for w in wide.warnings)
