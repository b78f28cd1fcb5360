"""Blocking CIDRs: WAFv2 IP sets, NACL deny entries, security-group revocation (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from containment.block.wafv2 import WafIpSet
from containment.interface import TargetResult
from containment.run import run_action
from core.aws import AwsAccount

pytestmark = pytest.mark.aws


def ip_set(client: Any, name: str = "blocklist", addresses: list[str] | None = None) -> str:
    got = client.create_ip_set(
        Name=name, Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=addresses or []
    )
    return str(got["Summary"]["Id"])


class RacingWafIpSet(WafIpSet):
    """Another responder adds an address between our read and our update: a stale lock token."""

    applying = False
    raced = 0
    updates = 0

    def apply(self, planned: list[TargetResult]) -> None:
        self.applying = True
        super().apply(planned)

    def _read(self, target: TargetResult | None) -> tuple[list[str], str]:
        addresses, token = super()._read(target)
        if self.applying and not self.raced:
            self.raced += 1
            self.account.client("wafv2").update_ip_set(
                Name=self.ip_set_name,
                Scope=self.scope,
                Id=self.ip_set_id,
                Addresses=[*addresses, "192.0.2.1/32"],
                LockToken=token,
            )
        return addresses, token

    def call(self, service: str, operation: str, target: TargetResult | None, **kwargs: Any) -> Any:
        if operation == "update_ip_set":
            self.updates += 1
        return super().call(service, operation, target, **kwargs)


def test_wafv2_retries_a_stale_lock_token_without_losing_the_other_change(aws: None) -> None:
    waf = boto3.client("wafv2")
    set_id = ip_set(waf)
    adapter = RacingWafIpSet(AwsAccount(), "blocklist", "REGIONAL")
    receipt = run_action(adapter, ["203.0.113.0/28"], dry_run=False)
    assert adapter.raced == 1 and adapter.updates == 2  # the first update hit the stale token
    assert receipt.status == "ok", receipt.targets[0].reason
    addresses = waf.get_ip_set(Name="blocklist", Scope="REGIONAL", Id=set_id)["IPSet"]["Addresses"]
    assert sorted(addresses) == ["192.0.2.1/32", "203.0.113.0/28"]
