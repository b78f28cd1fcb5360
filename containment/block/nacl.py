"""Block CIDRs with deny entries in a VPC network ACL, inbound and outbound.

NACL entries are evaluated lowest rule number first, so each deny gets a free number below the
first allow entry of its direction. An existing deny entry for the same CIDR and direction counts
as done. Entries are added, never changed or removed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.base import AwsAdapter
from containment.block.interface import ACTION, mark_repeats, parse_cidr
from containment.interface import Action, TargetResult
from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput

DEFAULT_RULE = 32767  # the catch-all deny every NACL ends with
DIRECTIONS = {"ingress": False, "egress": True}


MAX_RULE = 32766  # AWS: 1..32766; 32767 is the implicit deny


class NetworkAcl(AwsAdapter):
    name: ClassVar[str] = "nacl"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "CIDR"
    unit: ClassVar[str] = "deny entries"
    unreadable: ClassVar[str] = "could not read the NACL back"

    def __init__(self, account: AwsAccount, nacl_id: str, first_rule: int = 1) -> None:
        super().__init__(account)
        self.nacl_id = nacl_id
        if not 1 <= first_rule <= MAX_RULE:
            raise BadInput(f"--first-rule {first_rule}: NACL rule numbers run from 1 to {MAX_RULE}")
        self.first_rule = first_rule
        self._entries_now: list[dict[str, Any]] = []
        self._used: set[tuple[bool, int]] = set()

    def settings(self) -> dict[str, Any]:
        return {"nacl_id": self.nacl_id, "first_rule": self.first_rule}

    def _entries(self, target: TargetResult | None) -> list[dict[str, Any]]:
        got = self.call("ec2", "describe_network_acls", target, NetworkAclIds=[self.nacl_id])
        acls = got.get("NetworkAcls", [])
        if not acls:
            raise BadInput(f"no network ACL {self.nacl_id}")
        return list(acls[0].get("Entries", []))

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        """The ACL's entries, read once; the rule numbers taken so far."""
        try:
            self._entries_now = self._entries(results[0] if results else None)
        except AwsCallFailed as exc:
            if exc.code.endswith(".NotFound"):  # InvalidNetworkAclID.NotFound
                raise BadInput(f"no network ACL {self.nacl_id}: {exc.message}") from None
            raise
        self._used = {(e["Egress"], e["RuleNumber"]) for e in self._entries_now}

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        entries, used = self._entries_now, self._used
        network = parse_cidr(target.name)
        if network is None:
            target.fail("not an IP address or CIDR")
            return
        cidr, key = str(network), ("CidrBlock" if network.version == 4 else "Ipv6CidrBlock")
        todo: list[dict[str, Any]] = []
        target.before = {}
        for direction, egress in DIRECTIONS.items():
            denied = _effective_deny(entries, egress, key, cidr)
            target.before[direction] = denied
            if denied is not None:
                continue
            number = self._free_number(entries, used, egress)
            if number is None:
                target.fail(
                    f"no free {direction} rule number below the first allow entry",
                    "renumber the allow entries upward",
                )
                return
            used.add((egress, number))
            todo.append({"Egress": egress, "RuleNumber": number, key: cidr})
        target.work = todo
        target.count = len(todo)
        if todo:
            target.change = ", ".join(
                f"deny {'egress' if t['Egress'] else 'ingress'} #{t['RuleNumber']}" for t in todo
            )
        else:
            target.status, target.change = "noop", "already denied both ways"

    def finish_plan(self, results: list[TargetResult]) -> list[TargetResult]:
        return mark_repeats(results)

    def _free_number(
        self, entries: list[dict[str, Any]], used: set[tuple[bool, int]], egress: bool
    ) -> int | None:
        for number in range(self.first_rule, _first_allow(entries, egress)):
            if (egress, number) not in used:
                return number
        return None

    def apply_one(self, target: TargetResult) -> None:
        for entry in target.work:
            self.call(
                "ec2",
                "create_network_acl_entry",
                target,
                NetworkAclId=self.nacl_id,
                Protocol="-1",
                RuleAction="deny",
                **entry,
            )

    def prepare_verify(self, done: list[TargetResult]) -> None:
        self._entries_now = self._entries(done[0])

    def verify_one(self, target: TargetResult) -> None:
        network = parse_cidr(target.name)
        key = "CidrBlock" if network is not None and network.version == 4 else "Ipv6CidrBlock"
        target.after = {
            direction: _effective_deny(self._entries_now, egress, key, str(network))
            for direction, egress in DIRECTIONS.items()
        }
        if None in target.after.values():
            target.fail(f"{network} is not denied both ways after apply: {target.after}")

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = [
            f"aws ec2 delete-network-acl-entry --network-acl-id {self.nacl_id} "
            f"--rule-number {entry['RuleNumber']} {'--egress' if entry['Egress'] else '--ingress'}"
            for target in results
            for entry in (target.work or [])
        ]
        return "; ".join(lines) or "nothing to undo"


def _first_allow(entries: list[dict[str, Any]], egress: bool) -> int:
    allows = [
        e["RuleNumber"] for e in entries if e["Egress"] == egress and e["RuleAction"] == "allow"
    ]
    return min(allows, default=DEFAULT_RULE)


def _effective_deny(entries: list[dict[str, Any]], egress: bool, key: str, cidr: str) -> int | None:
    """The rule number of a deny for exactly this CIDR that comes before every allow entry (a
    deny after an allow that matches first would not block anything)."""
    ceiling = _first_allow(entries, egress)
    numbers = [
        e["RuleNumber"]
        for e in entries
        if e["Egress"] == egress
        and e.get(key) == cidr
        and e["RuleAction"] == "deny"
        and e["RuleNumber"] < ceiling
    ]
    return min(numbers, default=None)
