"""Blocking CIDRs: WAFv2 IP sets, NACL deny entries, security-group revocation (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.containment.conftest import by_name, network_acl, security_group
from tests.containment.test_block import ip_set

pytestmark = pytest.mark.aws


def test_wafv2_end_to_end_through_the_moto_server(moto_endpoint: str, contain: Any) -> None:
    """The real CLI, talking HTTP to moto's server through --endpoint-url."""
    waf = boto3.client("wafv2", endpoint_url=moto_endpoint)
    set_id = ip_set(waf, addresses=["198.51.100.0/24"])
    args = ("--adapter", "wafv2", "--ip-set", "blocklist", "--endpoint-url", moto_endpoint)
    targets = (
        "--target",
        "203.0.113.7",
        "--target",
        "198.51.100.9",
        "--target",
        "2001:db8::1",
        "--target",
        "nonsense",
    )
    dry = contain("block", *args, *targets, "--dry-run")
    assert dry.exit_code == 1  # two targets cannot be blocked here
    assert by_name(dry.json)["203.0.113.7"]["change"] == "add 203.0.113.7/32 to blocklist"
    assert waf.get_ip_set(Name="blocklist", Scope="REGIONAL", Id=set_id)["IPSet"]["Addresses"] == [
        "198.51.100.0/24"
    ]
    result = contain("block", *args, *targets)
    assert result.exit_code == 1
    got = by_name(result.json)
    assert got["203.0.113.7"]["status"] == "ok" and got["203.0.113.7"]["request_ids"]
    assert (
        got["198.51.100.9"]["status"] == "noop"
        and got["198.51.100.9"]["before"]["covered_by"] == "198.51.100.0/24"
    )
    assert "IPV6 CIDR cannot go in the IPV4 IP set" in got["2001:db8::1"]["reason"]
    assert got["nonsense"]["reason"] == "not an IP address or CIDR"
    assert result.json["summary"].startswith("blocked 1 CIDR; 1 already done; 2 failed")
    addresses = waf.get_ip_set(Name="blocklist", Scope="REGIONAL", Id=set_id)["IPSet"]["Addresses"]
    assert sorted(addresses) == ["198.51.100.0/24", "203.0.113.7/32"]
    assert "via http://127.0.0.1" in result.json["system"]
    again = contain("block", *args, "--target", "203.0.113.7")
    assert again.exit_code == 0 and again.json["status"] == "noop"


def test_nacl_deny_entries_in_both_directions(aws: None, contain: Any) -> None:
    # Inbound, 192.0.2.0/24 is already denied before the allow-all. Outbound, its deny comes
    # after the allow-all, never matches, and so does not count.
    ec2, acl = network_acl(
        (100, "allow", False, "0.0.0.0/0"),
        (100, "allow", True, "0.0.0.0/0"),
        (1, "deny", False, "192.0.2.0/24"),
        (200, "deny", True, "192.0.2.0/24"),
    )
    args = (
        "--adapter",
        "nacl",
        "--nacl-id",
        acl,
        "--target",
        "203.0.113.7",
        "--target",
        "192.0.2.0/24",
    )
    result = contain("block", *args)
    assert result.exit_code == 0, result.stderr
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    denies = sorted(
        (e["Egress"], e["RuleNumber"], e["CidrBlock"])
        for e in entries
        if e["RuleAction"] == "deny" and e["RuleNumber"] < 100
    )
    assert denies == [
        (False, 1, "192.0.2.0/24"),
        (False, 2, "203.0.113.7/32"),
        (True, 1, "203.0.113.7/32"),
        (True, 2, "192.0.2.0/24"),
    ]
    got = by_name(result.json)
    assert got["192.0.2.0/24"]["before"] == {"ingress": 1, "egress": None}
    assert got["203.0.113.7"]["after"] == {"ingress": 2, "egress": 1}
    assert result.json["summary"] == "blocked 3 deny entries of 2 CIDRs"
    assert "--rule-number 2 --ingress" in result.json["undo"]
    assert contain("block", *args).json["status"] == "noop"


def test_nacl_without_room_below_the_first_allow_fails_that_target(aws: None, contain: Any) -> None:
    _, acl = network_acl((1, "allow", False, "0.0.0.0/0"))
    result = contain("block", "--adapter", "nacl", "--nacl-id", acl, "--target", "203.0.113.7")
    assert result.exit_code == 1
    assert "no free ingress rule number" in result.json["targets"][0]["reason"]
    bad = contain(
        "block", "--adapter", "nacl", "--nacl-id", "acl-00000000", "--target", "203.0.113.7"
    )
    assert bad.exit_code == 2 and "no network ACL acl-00000000" in bad.stderr
    for number in ("0", "32767"):  # AWS numbers rules 1..32766
        out = contain("block", "--adapter", "nacl", "--nacl-id", acl, "--first-rule", number)
        assert out.exit_code == 2 and "--first-rule" in out.stderr


def test_security_group_rules_revoked_and_broader_rules_named(aws: None, contain: Any) -> None:
    ec2, group = security_group((22, ["203.0.113.0/28", "203.0.113.64/26"]), (443, ["0.0.0.0/0"]))
    result = contain(
        "block",
        "--adapter",
        "security-group",
        "--group-id",
        group,
        "--target",
        "203.0.113.0/24",
        "--target",
        "198.51.100.1",
    )
    assert result.exit_code == 1
    got = by_name(result.json)
    assert got["203.0.113.0/24"]["count"] == 2
    assert got["203.0.113.0/24"]["status"] == "failed"  # revoked, but 0.0.0.0/0 still lets it in
    assert (
        "0.0.0.0/0" in got["203.0.113.0/24"]["reason"]
        and "nacl or wafv2" in got["203.0.113.0/24"]["hint"]
    )
    assert got["198.51.100.1"]["status"] == "failed"
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])[
        "SecurityGroupRules"
    ]
    ingress = sorted(r["CidrIpv4"] for r in rules if not r["IsEgress"])
    assert ingress == ["0.0.0.0/0"]
    assert "authorize-security-group-ingress" in result.json["undo"]


def test_security_group_rule_by_id(aws: None, contain: Any) -> None:
    ec2, group = security_group((5432, ["10.9.0.0/16"]))
    rule = next(
        r
        for r in ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]
        if not r["IsEgress"]
    )
    result = contain(
        "block",
        "--adapter",
        "security-group",
        "--group-id",
        group,
        "--target",
        rule["SecurityGroupRuleId"],
    )
    assert result.exit_code == 0, result.stderr
    assert result.json["targets"][0]["before"]["rules"] == [
        f"{rule['SecurityGroupRuleId']} 10.9.0.0/16 tcp 5432-5432"
    ]
    left = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])[
        "SecurityGroupRules"
    ]
    assert [r for r in left if not r["IsEgress"]] == []
    assert (
        contain(
            "block",
            "--adapter",
            "security-group",
            "--group-id",
            group,
            "--target",
            rule["SecurityGroupRuleId"],
        ).json["status"]
        == "noop"
    )


def test_security_group_lookup_refused_is_not_reported_as_no_such_group(
    aws: None, contain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty rule list plus a refused DescribeSecurityGroups is a permission problem, not a typo."""
    import json

    from moto.core import enable_iam_authentication

    _, group = security_group()  # no ingress rule at all
    iam = boto3.client("iam")
    iam.create_user(UserName="narrow")
    allowed = ["sts:GetCallerIdentity", "ec2:DescribeSecurityGroupRules"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}],
    }
    iam.put_user_policy(UserName="narrow", PolicyName="p", PolicyDocument=json.dumps(policy))
    creds = iam.create_access_key(UserName="narrow")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    with enable_iam_authentication():
        result = contain(
            "block", "--adapter", "security-group", "--group-id", group, "--target", "1.2.3.4"
        )
    assert result.exit_code == 1, result.stderr
    target = result.json["targets"][0]
    assert target["status"] == "failed" and "DescribeSecurityGroups" in target["reason"]
    assert target["hint"] == "the incident-response role needs ec2:DescribeSecurityGroups"


def test_one_network_written_two_ways_is_acted_on_once(aws: None, contain: Any) -> None:
    """'203.0.113.7' and '203.0.113.7/32' are one network: one WAF address, one pair of NACL
    entries, one revoke (a second revoke of the same rule would fail)."""
    same = ("--target", "203.0.113.7", "--target", "203.0.113.7/32")
    waf = boto3.client("wafv2")
    ip_set_id = ip_set(waf)
    result = contain("block", "--adapter", "wafv2", "--ip-set", "blocklist", *same)
    assert result.exit_code == 0 and by_name(result.json)["203.0.113.7/32"]["status"] == "noop"
    got = waf.get_ip_set(Name="blocklist", Scope="REGIONAL", Id=ip_set_id)["IPSet"]["Addresses"]
    assert got == ["203.0.113.7/32"]

    ec2, group = security_group((22, ["203.0.113.7/32"]))
    _, acl = network_acl()
    result = contain("block", "--adapter", "nacl", "--nacl-id", acl, *same)
    assert result.exit_code == 0, result.stdout
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    denies = [e for e in entries if e["RuleAction"] == "deny" and e["RuleNumber"] < 32767]
    assert sorted((e["Egress"], e["CidrBlock"]) for e in denies) == [
        (False, "203.0.113.7/32"),
        (True, "203.0.113.7/32"),
    ]
    result = contain("block", "--adapter", "security-group", "--group-id", group, *same)
    assert result.exit_code == 0, result.stdout
    assert result.json["counts"] == {"ok": 1, "noop": 1}
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    assert [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]] == []
