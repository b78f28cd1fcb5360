"""The WAF IP set's size limit (issue 16): a block that would push the set past 10,000
addresses fails each of its targets, saying why, and leaves the set as it was (moto)."""

from __future__ import annotations

import boto3
import pytest

from containment.block.wafv2 import MAX_ADDRESSES, WafIpSet
from containment.run import run_action
from core.aws import AwsAccount

pytestmark = pytest.mark.aws


def _full_set(waf, count: int) -> str:  # type: ignore[no-untyped-def]
    addresses = [f"10.{i // 250}.{i % 250}.0/32" for i in range(count)]
    got = waf.create_ip_set(
        Name="blocklist", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=addresses
    )
    return str(got["Summary"]["Id"])


def _addresses(waf, set_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return waf.get_ip_set(Name="blocklist", Scope="REGIONAL", Id=set_id)["IPSet"]["Addresses"]


def test_a_block_past_the_ip_set_limit_fails_every_target_and_changes_nothing(aws: None) -> None:
    waf = boto3.client("wafv2")
    set_id = _full_set(waf, MAX_ADDRESSES - 1)
    before = sorted(_addresses(waf, set_id))
    receipt = run_action(
        WafIpSet(AwsAccount(), "blocklist"), ["203.0.113.0/28", "198.51.100.7/32"], dry_run=False
    )
    assert receipt.status == "failed"
    for target in receipt.targets:
        assert target.status == "failed"
        assert target.reason == "the IP set would hold 10001 addresses, over 10000"
    assert sorted(_addresses(waf, set_id)) == before


def test_a_block_that_fills_the_ip_set_exactly_is_applied(aws: None) -> None:
    waf = boto3.client("wafv2")
    set_id = _full_set(waf, MAX_ADDRESSES - 1)
    receipt = run_action(WafIpSet(AwsAccount(), "blocklist"), ["203.0.113.0/28"], dry_run=False)
    assert receipt.status == "ok", receipt.targets[0].reason
    assert receipt.targets[0].after == {"in_ip_set": True, "ip_set_size": MAX_ADDRESSES}
    assert len(_addresses(waf, set_id)) == MAX_ADDRESSES
