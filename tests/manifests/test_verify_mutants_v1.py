"""Survivors of `make mutate` on manifests/verify.py (issue 16): the custody, custody-signer and
previous-bundle checks, each asserted exactly as a reader of the report (or --json) sees it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from manifests import chain, custody, dsse
from manifests.keys import GeneratedKeys, generate
from manifests.seal import ENVELOPE, SIGNER_PEM, PreviousBundle
from manifests.signing import local_signer, signature_entry
from manifests.verify import Check, Report, load_trusted, verify_bundle
from tests.manifests.test_trust import seal_into
from tests.manifests.test_verify_paths import _append

LINK = "link to the previous bundle"
CUSTODY = "chain of custody"
SIGNERS = "custody signers"


def _report(bundle: Path, keys: GeneratedKeys, custodians: tuple[Path, ...] = ()) -> Report:
    return verify_bundle(bundle, load_trusted([keys.signing_pub], [], list(custodians)))


def _check(report: Report, name: str) -> Check:
    [found] = [c for c in report.checks if c.name == name]
    return found


def _resign_statement(
    bundle: Path, keys: GeneratedKeys, change: Callable[[dict[str, Any]], None]
) -> None:
    """A statement changed and signed again with the sealer's own (trusted) key."""
    envelope = json.loads((bundle / ENVELOPE).read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    body = json.dumps(statement).encode()
    signature = signature_entry(local_signer(keys.signing_key), dsse.pae(dsse.IN_TOTO, body))
    (bundle / ENVELOPE).write_text(json.dumps(dsse.envelope(body, dsse.IN_TOTO, [signature])))


def _sealing_details(bundle: Path) -> dict[str, Any]:
    first = json.loads((bundle / custody.CUSTODY_FILE).read_text().splitlines()[0])
    details: dict[str, Any] = first["details"]
    return details


# -- a pristine bundle -------------------------------------------------------------------------
def test_a_pristine_bundle_says_first_bundle_sealed_and_sealed_by_the_statement_signer(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    report = _report(fresh_copy(), keys)
    assert report.checks[-3:] == [
        Check(LINK, True, "first bundle of its case (no previous bundle)"),
        Check(CUSTODY, True, "1 signed, chained event(s): sealed"),
        Check(SIGNERS, True, "the sealing by the statement's signer"),
    ]
    assert report.to_dict()["verdict"] == "verified"


# -- the link to the previous bundle -----------------------------------------------------------
def test_without_an_envelope_there_is_no_link_to_read_and_custody_is_not_compared_with_one(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """No envelope: the link is not checked (with the reason), the custody log is not held
    against an envelope that is not there, and signer.pub.pem still names the sealer."""
    bundle = fresh_copy()
    (bundle / ENVELOPE).unlink()
    report = _report(bundle, keys)
    assert report.checks[-3:] == [
        Check(LINK, None, "no valid statement to read the link from"),
        Check(CUSTODY, True, "1 signed, chained event(s): sealed"),
        Check(SIGNERS, True, "the sealing by the statement's signer"),
    ]
    assert report.to_dict()["not_checked"] == [
        {"check": LINK, "reason": "no valid statement to read the link from", "accept_with": ""}
    ]


def test_a_signed_statement_without_a_predicate_is_read_as_a_first_bundle_never_a_crash(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    _resign_statement(bundle, keys, lambda statement: statement.pop("predicate"))
    report = _report(bundle, keys)
    assert _check(report, LINK) == Check(
        LINK, True, "first bundle of its case (no previous bundle)"
    )
    assert report.bundle_id is None


def test_a_changed_previous_bundle_names_both_envelope_hashes_exactly(
    evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    first = seal_into(evidence, tmp_path / "case" / "INC-T-first", keys)
    expected = hashlib.sha256((first / ENVELOPE).read_bytes()).hexdigest()
    second = seal_into(
        evidence, tmp_path / "case" / "second", keys, PreviousBundle("INC-T-first", expected)
    )
    assert _check(_report(second, keys), LINK) == Check(
        LINK, True, "chained to INC-T-first, whose envelope is unchanged"
    )
    (first / ENVELOPE).write_text("{}")
    actual = hashlib.sha256(b"{}").hexdigest()
    report = _report(second, keys)
    assert _check(report, LINK) == Check(
        LINK,
        False,
        "previous bundle INC-T-first differs from the one this bundle was chained to "
        f"(envelope sha256 {actual[:16]}…, expected {expected[:16]}…)",
    )
    assert report.to_dict()["verdict"] == "failed"


# -- the chain of custody ----------------------------------------------------------------------
def test_a_missing_custody_log_fails_both_custody_checks_and_says_so(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    (bundle / custody.CUSTODY_FILE).unlink()
    report = _report(bundle, keys)
    assert report.checks[-2:] == [
        Check(CUSTODY, False, "custody.jsonl is missing"),
        Check(SIGNERS, False, "custody.jsonl is missing"),
    ]
    assert report.to_dict()["checks"][-1] == {
        "name": SIGNERS,
        "ok": False,
        "detail": "custody.jsonl is missing",
        "problems": [],
        "waiver": None,
        "waived": False,
    }
    assert report.verdict.state == "failed"


def _assert_no_sealing(report: Report) -> None:
    """Custody fails for a log that does not open with the sealing, and the signers check does
    not claim a sealing that is not there."""
    assert _check(report, CUSTODY) == Check(
        CUSTODY,
        False,
        "custody log problems in custody.jsonl",
        ["the first entry is not the sealing of this bundle"],
    )
    assert _check(report, SIGNERS) == Check(
        SIGNERS, None, "not judged: the log does not open with the sealing (chain of custody)"
    )


def test_an_empty_custody_log_has_no_sealing_entry_and_fails_by_name(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    (bundle / custody.CUSTODY_FILE).write_bytes(b"")
    _assert_no_sealing(_report(bundle, keys))


def test_a_log_that_opens_with_another_event_than_the_sealing_fails_custody(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """A log rewritten to start with an 'accessed' entry, signed by the sealer and naming the
    right envelope and tag manifest: still not the sealing of this bundle."""
    bundle = fresh_copy()
    details = _sealing_details(bundle)
    (bundle / custody.CUSTODY_FILE).unlink()
    signer = local_signer(keys.signing_key)
    custody.record(bundle, "accessed", signer, who="sealer", details=details)
    _assert_no_sealing(_report(bundle, keys))


def test_a_sealing_entry_naming_nothing_is_bound_to_neither_envelope_nor_tag_manifest(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """A log started over by the sealer's key with a sealing entry that has no details."""
    bundle = fresh_copy()
    (bundle / custody.CUSTODY_FILE).unlink()
    custody.record(bundle, "sealed", local_signer(keys.signing_key), who="sealer")
    assert _check(_report(bundle, keys), CUSTODY) == Check(
        CUSTODY,
        False,
        "custody log problems in custody.jsonl",
        [
            "the sealing entry names a different statement envelope",
            "the sealing entry names a different tagmanifest-sha256.txt",
        ],
    )


def test_custody_events_are_listed_in_order_with_a_question_mark_for_a_missing_event(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    signer = local_signer(keys.signing_key)
    custody.record(bundle, "accessed", signer, who="alice")
    fields = {"at": "2026-11-28T00:00:00Z", "who": "bob"}  # validly signed, no event named
    chain.append(bundle / custody.CUSTODY_FILE, fields, sign=custody._chain_signer(signer))
    assert _check(_report(bundle, keys), CUSTODY) == Check(
        CUSTODY, True, "3 signed, chained event(s): sealed, accessed, ?"
    )


# -- who signed the custody entries ------------------------------------------------------------
def test_entries_by_trusted_custodians_are_counted_and_their_keys_named(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, other_keys: GeneratedKeys, tmp_path: Path
) -> None:
    bundle = fresh_copy()
    third = generate(tmp_path / "third-keys")
    trusted = (other_keys.signing_pub, third.signing_pub)
    custody.record(bundle, "stored", local_signer(other_keys.signing_key), who="legal")
    assert _check(_report(bundle, keys, trusted), SIGNERS) == Check(
        SIGNERS,
        True,
        "the sealing by the statement's signer, 1 by trusted custodian key(s) "
        f"{other_keys.signing_keyid}",
    )
    custody.record(bundle, "transferred", local_signer(third.signing_key), who="counsel")
    both = ", ".join(sorted([other_keys.signing_keyid, third.signing_keyid]))
    report = _report(bundle, keys, trusted)
    assert _check(report, SIGNERS) == Check(
        SIGNERS,
        True,
        f"the sealing by the statement's signer, 2 by trusted custodian key(s) {both}",
    )
    assert report.to_dict()["verdict"] == "verified"


def test_entries_by_keys_nobody_vouched_for_are_listed_with_why_they_were_not_judged(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, other_keys: GeneratedKeys, tmp_path: Path
) -> None:
    bundle = fresh_copy()
    strangers = [generate(tmp_path / f"stranger-{n}") for n in (1, 2)]
    for n, stranger in enumerate(strangers):
        custody.record(bundle, "accessed", local_signer(stranger.signing_key), who=f"s{n}")
    ids = [s.signing_keyid for s in strangers]
    listed = [f"entry {n + 2} (accessed by s{n}) signed by key {ids[n]}" for n in (0, 1)]

    def expected(why: str) -> Check:
        return Check(
            SIGNERS,
            None,
            f"2 custody entry(ies) signed by key(s) {', '.join(sorted(ids))}, not checked for "
            f"who signed: {why}; their chain and signatures are intact",
            listed,
            waiver="custodians",
            waived=False,
        )

    report = _report(bundle, keys)
    assert _check(report, SIGNERS) == expected("no custody trust was given (--custody-trust)")
    assert report.to_dict()["verdict"] == "incomplete"
    report = _report(bundle, keys, (other_keys.signing_pub,))
    assert _check(report, SIGNERS) == expected("they are not in the custody trust set")


def test_a_custody_entry_with_a_bad_signature_leaves_its_signers_unjudged(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    _append(bundle, None)  # an unsigned entry
    assert _check(_report(bundle, keys), SIGNERS) == Check(
        SIGNERS, None, "not judged: an entry's signature is bad (chain of custody)"
    )


def test_a_replaced_signer_pem_does_not_change_who_sealed(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, other_keys: GeneratedKeys
) -> None:
    """The key whose signature over the statement held names the sealer, not signer.pub.pem."""
    bundle = fresh_copy()
    (bundle / SIGNER_PEM).write_bytes(other_keys.signing_pub.read_bytes())
    report = _report(bundle, keys)
    assert _check(report, SIGNERS) == Check(SIGNERS, True, "the sealing by the statement's signer")
    assert report.verdict.state == "failed"  # the signer identity check says what was replaced
