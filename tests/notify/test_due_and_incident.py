"""`notify due` states and exit codes, decisions, classify, the aware-at clock, the post-mortem."""

from __future__ import annotations

from notify.classify import Facts, classify
from notify.policy import load_policy


def test_classify_library_covers_each_level() -> None:
    policy = load_policy()
    assert classify(Facts(service_down=True), policy).severity == "P1"
    assert classify(Facts(major_feature_degraded=True), policy).severity == "P2"
    assert classify(Facts(error_rate=0.05), policy).severity == "P4"  # not above 5%
    assert classify(Facts(minor_feature_degraded=True, workaround=True), policy).severity == "P3"
    assert classify(Facts(cosmetic=True), policy).severity == "P4"
    assert classify(Facts(affected_users=12), policy).reasons[0].startswith("P1: the evidence")
