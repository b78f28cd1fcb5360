"""Block CIDRs with an AWS WAFv2 IP set (the web ACL rule that references the set does the
blocking). All new CIDRs go in one UpdateIPSet; a stale lock token (someone else changed the set
in between) is retried with a fresh read, so no concurrent change is lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.base import AwsAdapter
from containment.block.interface import ACTION, Network, mark_repeats, parse_cidr
from containment.interface import Action, TargetResult
from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput

MAX_ADDRESSES = 10_000
LOCK_RETRIES = 5


class WafIpSet(AwsAdapter):
    name: ClassVar[str] = "wafv2"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "CIDR"
    unreadable: ClassVar[str] = "could not read the IP set back"

    def __init__(self, account: AwsAccount, ip_set: str, scope: str = "REGIONAL") -> None:
        if scope not in ("REGIONAL", "CLOUDFRONT"):
            raise BadInput(f"unknown WAF scope {scope!r}", hint="REGIONAL or CLOUDFRONT")
        super().__init__(account)
        self.ip_set_name, _, self.ip_set_id = ip_set.partition("/")
        self.scope = scope
        self.version: str | None = None
        self._present: list[Network] = []
        self._addresses: set[str] = set()
        self._size = 0

    def settings(self) -> dict[str, Any]:
        return {"ip_set": self.ip_set_name, "ip_set_id": self.ip_set_id, "scope": self.scope}

    def _find_id(self, target: TargetResult | None) -> str:
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Scope": self.scope, "Limit": 100}
            if marker:
                kwargs["NextMarker"] = marker
            got = self.call("wafv2", "list_ip_sets", target, **kwargs)
            for summary in got.get("IPSets", []):
                if summary["Name"] == self.ip_set_name:
                    return str(summary["Id"])
            marker = got.get("NextMarker")
            if not marker or not got.get("IPSets"):
                raise BadInput(f"no WAF IP set named {self.ip_set_name} ({self.scope})")

    def _read(self, target: TargetResult | None) -> tuple[list[str], str]:
        if not self.ip_set_id:
            self.ip_set_id = self._find_id(target)
        got = self.call(
            "wafv2",
            "get_ip_set",
            target,
            Name=self.ip_set_name,
            Scope=self.scope,
            Id=self.ip_set_id,
        )
        self.version = got["IPSet"]["IPAddressVersion"]
        return list(got["IPSet"]["Addresses"]), str(got["LockToken"])

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        addresses, _ = self._read(results[0] if results else None)
        self._present = [n for n in (parse_cidr(a) for a in addresses) if n is not None]

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        network = parse_cidr(target.name)
        wanted = "IPV4" if network is None or network.version == 4 else "IPV6"
        if network is None:
            target.fail("not an IP address or CIDR")
            return
        if wanted != self.version:
            target.fail(
                f"an {wanted} CIDR cannot go in the {self.version} IP set {self.ip_set_name}"
            )
            return
        target.work = network
        target.before = {"in_ip_set": False}
        covering = [
            p
            for p in self._present
            if p.version == network.version and network.subnet_of(p)  # type: ignore[arg-type]
        ]
        if covering:
            target.status, target.change = "noop", f"already blocked by {covering[0]}"
            target.before = {"in_ip_set": True, "covered_by": str(covering[0])}
        else:
            target.change = f"add {network} to {self.ip_set_name}"

    def finish_plan(self, results: list[TargetResult]) -> list[TargetResult]:
        return mark_repeats(results)

    def apply(self, planned: list[TargetResult]) -> None:
        """One UpdateIPSet for every planned CIDR (batched, so the per-target loop is not used)."""
        adding = [str(t.work) for t in planned]
        for attempt in range(LOCK_RETRIES):
            try:
                addresses, token = self._read(planned[0])
                merged = sorted(set(addresses) | set(adding))
                if len(merged) > MAX_ADDRESSES:
                    for target in planned:
                        target.fail(
                            f"the IP set would hold {len(merged)} addresses, over {MAX_ADDRESSES}"
                        )
                    return
                got = self.call(
                    "wafv2",
                    "update_ip_set",
                    None,
                    Name=self.ip_set_name,
                    Scope=self.scope,
                    Id=self.ip_set_id,
                    Addresses=merged,
                    LockToken=token,
                )
            except AwsCallFailed as exc:
                if exc.code == "WAFOptimisticLockException" and attempt + 1 < LOCK_RETRIES:
                    continue
                for target in planned:
                    target.fail(exc.message, exc.hint)
                return
            rid = got.get("ResponseMetadata", {}).get("RequestId")
            for target in planned:
                target.status, target.count = "ok", 1
                target.change = f"added to {self.ip_set_name}"
                if rid:
                    target.request_ids.append(str(rid))
            return

    def prepare_verify(self, done: list[TargetResult]) -> None:
        addresses, _ = self._read(done[0])
        self._addresses = {str(parse_cidr(a)) for a in addresses}
        self._size = len(addresses)

    def verify_one(self, target: TargetResult) -> None:
        in_set = str(target.work) in self._addresses
        target.after = {"in_ip_set": in_set, "ip_set_size": self._size}
        if not in_set:
            target.fail(f"{target.work} is not in {self.ip_set_name} after the update")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        cidrs = " ".join(str(t.work) for t in results)
        return (
            f"remove {cidrs} from WAF IP set {self.ip_set_name} ({self.scope}, id {self.ip_set_id}): "
            f"aws wafv2 get-ip-set, then update-ip-set with the remaining addresses and the lock token"
        )
