"""`breach scope` on a case holding only cloud evidence: a CloudTrail view and VPC flow logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.evidence.test_cloudtrail import ATTACKER_IP, KEY_ID
from tests.evidence.test_scope_cloud import MALLORY, stage_flows, trail_case


def test_scope_reads_cloudtrail_and_flows(tmp_path: Path, breach: Any) -> None:
    case = trail_case(tmp_path)
    stage_flows(case)
    result = breach(
        "scope", "--case", case.root, "--actor", KEY_ID, "--ip", f"{ATTACKER_IP}/32", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = result.json
    cloud = data["cloud"]
    assert cloud["events"] == 24 and cloud["buckets"] == {"customer-data": 6}
    assert cloud["actors"][MALLORY]["access_keys"] == [KEY_ID]
    assert cloud["flows"]["cloud/vpc-flow/vpc-flow-logs"]["flows"] == 2
    assert MALLORY in data["principals"] and data["events"] == 0  # no database audit staged
    human = breach("scope", "--case", case.root, "--actor", KEY_ID)
    assert human.exit_code == 0 and MALLORY in human.stdout
