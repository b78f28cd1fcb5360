"""Guards against mutations that once survived the bundle tests (issue 16).

Each test names the mutation it kills; docs/mutation.md lists them with the run that proved it.
"""

from __future__ import annotations

from pathlib import Path

from manifests.keys import GeneratedKeys


def _tamper_payload(bundle: Path) -> None:
    target = bundle / "data" / "users.csv.age"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))


def test_verify_record_writes_failed_for_a_failed_verification(
    breach, fresh_copy, keys: GeneratedKeys
) -> None:
    """Mutation: `breach verify --record` recording "passed" whatever the outcome. The custody
    entry it writes is read back: a tampered bundle's entry says "verification failed"."""
    bundle = fresh_copy()
    _tamper_payload(bundle)
    result = breach(
        "verify", bundle, "--pubkey", keys.signing_pub, "--record",
        "--signing-key", keys.signing_key, "--json",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert result.json["ok"] is False
    events = breach("custody", "show", bundle, "--json").json
    assert [e["event"] for e in events] == ["sealed", "verified"]
    assert events[-1]["why"] == "verification failed"
    assert events[-1]["who"] == "tester@breachkit"


def test_verify_record_writes_passed_for_a_good_bundle(
    breach, fresh_copy, keys: GeneratedKeys
) -> None:
    """Mutation: the recorded outcome inverted or fixed to "failed": a good bundle's entry
    reads back as "verification passed"."""
    bundle = fresh_copy()
    result = breach(
        "verify", bundle, "--pubkey", keys.signing_pub, "--record",
        "--signing-key", keys.signing_key,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    events = breach("custody", "show", bundle, "--json").json
    assert [e["event"] for e in events] == ["sealed", "verified"]
    assert events[-1]["why"] == "verification passed"
