"""Revoke security-group ingress rules that let an attacker's CIDR in.

A target is a CIDR (every ingress rule whose source lies inside it is revoked) or a rule id
(sgr-...). Security groups can only allow, so a CIDR still let in by a broader rule (0.0.0.0/0)
is reported as failed with that rule named: block it with the nacl or wafv2 adapter instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.base import AwsAdapter
from containment.block.interface import ACTION, Network, mark_repeats, parse_cidr
from containment.interface import Action, TargetResult
from core.aws import AwsAccount
from core.errors import BadInput


def rule_source(rule: dict[str, Any]) -> Network | None:
    return parse_cidr(rule.get("CidrIpv4") or rule.get("CidrIpv6") or "")


def rule_text(rule: dict[str, Any]) -> str:
    ports = (
        "all"
        if rule["IpProtocol"] == "-1"
        else f"{rule['IpProtocol']} {rule.get('FromPort')}-{rule.get('ToPort')}"
    )
    return f"{rule['SecurityGroupRuleId']} {rule_source(rule)} {ports}"


class SecurityGroupRules(AwsAdapter):
    name: ClassVar[str] = "security-group"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "CIDR"
    unit: ClassVar[str] = "rules"
    unreadable: ClassVar[str] = "could not read the group back"

    def __init__(self, account: AwsAccount, group_id: str) -> None:
        super().__init__(account)
        self.group_id = group_id
        self._rules_now: list[dict[str, Any]] = []

    def settings(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "direction": "ingress"}

    def _rules(self, target: TargetResult | None) -> list[dict[str, Any]]:
        got = self.call(
            "ec2",
            "describe_security_group_rules",
            target,
            Filters=[{"Name": "group-id", "Values": [self.group_id]}],
        )
        return [r for r in got.get("SecurityGroupRules", []) if not r.get("IsEgress")]

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        self._rules_now = self._rules(results[0] if results else None)
        if not self._rules_now and not self._group_exists():
            raise BadInput(f"no security group {self.group_id}")

    def _group_exists(self) -> bool:
        """Only NotFound means no group: an AccessDenied here must not read as a typo."""
        got = self.call_if_exists(
            "ec2",
            "describe_security_groups",
            None,
            "InvalidGroup.NotFound",
            GroupIds=[self.group_id],
        )
        return got is not None

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        matching, broader = _matching(target.name, self._rules_now)
        if matching is None:
            target.fail("not a CIDR, an address or a rule id (sgr-...)")
            return
        target.before = {"rules": [rule_text(r) for r in matching]}
        target.work, target.count = matching, len(matching)
        if matching:
            target.change = f"revoke {', '.join(r['SecurityGroupRuleId'] for r in matching)}"
        elif broader:
            target.fail(
                f"no rule names it, but {rule_text(broader[0])} still lets it in",
                "security groups cannot deny: use --adapter nacl or wafv2",
            )
        else:
            target.status, target.change = "noop", "no ingress rule lets it in"

    def finish_plan(self, results: list[TargetResult]) -> list[TargetResult]:
        return mark_repeats(results)

    def apply_one(self, target: TargetResult) -> None:
        self.call(
            "ec2",
            "revoke_security_group_ingress",
            target,
            GroupId=self.group_id,
            SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in target.work],
        )

    def prepare_verify(self, done: list[TargetResult]) -> None:
        self._rules_now = self._rules(done[0])

    def verify_one(self, target: TargetResult) -> None:
        left, broader = _matching(target.name, self._rules_now)
        target.after = {"rules": [rule_text(r) for r in left or []]}
        if left:
            target.fail(f"still allowed after revoke: {', '.join(target.after['rules'])}")
        elif broader:
            target.fail(
                f"revoked, but {rule_text(broader[0])} still lets it in",
                "security groups cannot deny: use --adapter nacl or wafv2",
            )

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = []
        for target in results:
            for rule in target.work or []:
                source = rule_source(rule)
                key = "CidrIp" if source is not None and source.version == 4 else "CidrIpv6"
                ranges = "IpRanges" if key == "CidrIp" else "Ipv6Ranges"
                ports = (
                    ""
                    if rule["IpProtocol"] == "-1"
                    else f",FromPort={rule.get('FromPort')},ToPort={rule.get('ToPort')}"
                )
                lines.append(
                    f"aws ec2 authorize-security-group-ingress --group-id {self.group_id} "
                    f"--ip-permissions IpProtocol={rule['IpProtocol']}{ports},{ranges}=[{{{key}={source}}}]"
                )
        return "; ".join(lines) or "nothing to undo"


def _matching(
    name: str, rules: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(rules to revoke for this target, broader rules that still let it in); None: bad target."""
    if name.startswith("sgr-"):
        return [r for r in rules if r["SecurityGroupRuleId"] == name], []
    network = parse_cidr(name)
    if network is None:
        return None, []
    inside, broader = [], []
    for rule in rules:
        source = rule_source(rule)
        if source is None or source.version != network.version:
            continue
        if source.subnet_of(network):  # type: ignore[arg-type]
            inside.append(rule)
        elif network.subnet_of(source):  # type: ignore[arg-type]
            broader.append(rule)
    return inside, broader
