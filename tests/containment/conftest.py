"""Helpers for containment tests: a case to act in, a login role, and the `breach contain` call."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from breach.case import Case


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return Case.open("INC-2026-0404", "P1", "credential stuffing", root=tmp_path / "case")


@pytest.fixture
def role(pg_dsn: str) -> Iterator[str]:
    """A login role of its own (roles are cluster-wide, so the name is unique)."""
    name = f"mallory_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'old-password'").format(sql.Identifier(name))
        )
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def contain(breach: Any, case: Case) -> Callable[..., Any]:
    """`breach contain ACTION --case <case> --json ARGS...`; returns the runner's Result."""

    def run(action: str, *args: str) -> Any:
        return breach("contain", action, "--case", str(case.root), "--json", *args)

    return run


def receipts(case: Case) -> list[dict[str, Any]]:
    import json

    return [json.loads(p.read_text()) for p in sorted(case.receipts.glob("*.json"))]


def by_name(result_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in result_json["targets"]}


def assert_nowhere_in_case(case: Case, *secrets: str) -> None:
    """No file of the case (receipts, staged copies, journal, case.json) holds any of `secrets`."""
    files = [p for p in case.root.rglob("*") if p.is_file()]
    assert len(files) >= 4  # case.json, journal, a receipt and its staged copy at least
    for path in files:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret value is in {path}"


def security_group(*ingress: tuple[int, list[str]]) -> tuple[Any, str]:
    """A new VPC security group (moto) letting each (TCP port, CIDRs) in; the EC2 client and id."""
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="sg", Description="test", VpcId=vpc)["GroupId"]
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": cidr} for cidr in cidrs],
        }
        for port, cidrs in ingress
    ]
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
    return ec2, str(group)


def network_acl(*entries: tuple[int, str, bool, str]) -> tuple[Any, str]:
    """A new VPC network ACL (moto) holding each (rule number, allow|deny, egress, CIDR) for
    all protocols; the EC2 client and the ACL id."""
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number, action, egress, cidr in entries:
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            Protocol="-1",
            RuleAction=action,
            Egress=egress,
            CidrBlock=cidr,
        )
    return ec2, str(acl)
