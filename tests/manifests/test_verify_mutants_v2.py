"""Survivors of `make mutate` on manifests/verify.py (group V2: the envelope and signer key read,
the signature check, the subjects check), killed (issue 16). The messages asserted here are what
a reader of the report sees, so they are checked word for word."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from manifests import bagit, dsse
from manifests.keys import GeneratedKeys, keyid, load_public_key_file
from manifests.seal import ENVELOPE
from manifests.signing import local_signer, signature_entry
from manifests.trust import Trust
from manifests.verify import Check, load_trusted, verify_bundle

SIGNATURE = "signature over the statement"
SUBJECTS = "statement matches the files"


def _pinned(keys: GeneratedKeys) -> Trust:
    return load_trusted([keys.signing_pub], [])


def _unpinned() -> Trust:
    """No trusted sealer key: the signer check waived, the bundle's own key checks the signature."""
    return load_trusted([], [], waive=["signer"])


def _check(bundle: Path, trust: Trust, name: str) -> Check:
    [check] = [c for c in verify_bundle(bundle, trust).checks if c.name == name]
    return check


def _envelope(bundle: Path) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads((bundle / ENVELOPE).read_text())
    return envelope


def _statement(bundle: Path) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(base64.b64decode(_envelope(bundle)["payload"]))
    return statement


def _sign(bundle: Path, body: bytes, keys: GeneratedKeys) -> None:
    """The sealer's own key signs `body` as the statement: the signature holds, so what the
    statement says is all that is left to judge."""
    signature = signature_entry(local_signer(keys.signing_key), dsse.pae(dsse.IN_TOTO, body))
    envelope = dsse.envelope(body, dsse.IN_TOTO, [signature])
    (bundle / ENVELOPE).write_text(json.dumps(envelope))


def _set_signatures(bundle: Path, change: Callable[[dict[str, str]], None]) -> None:
    envelope = _envelope(bundle)
    change(envelope["signatures"][0])
    (bundle / ENVELOPE).write_text(json.dumps(envelope))


# -- the envelope ----------------------------------------------------------------------------
def test_an_envelope_that_is_not_json_or_not_dsse_is_named_by_the_signature_check(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """Why the envelope could not be read reaches the report, naming the file."""
    bundle = fresh_copy()
    (bundle / ENVELOPE).write_text("{not json")
    report = verify_bundle(bundle, _pinned(keys))
    [entry] = [c for c in report.to_dict()["checks"] if c["name"] == SIGNATURE]
    assert (entry["ok"], entry["detail"]) == (False, "statement.dsse.json is not valid JSON")
    bundle = fresh_copy()
    (bundle / ENVELOPE).write_text(json.dumps({"payloadType": dsse.IN_TOTO, "signatures": []}))
    check = _check(bundle, _pinned(keys), SIGNATURE)
    assert (check.ok, check.detail) == (
        False,
        "statement.dsse.json is not a DSSE envelope (KeyError)",
    )


# -- the signature ---------------------------------------------------------------------------
def test_an_altered_statement_says_which_keys_it_was_checked_against(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """With a trusted sealer key the failure names the trusted keys; without one (signer check
    waived), the key inside the bundle."""
    bundle = fresh_copy()
    envelope = _envelope(bundle)
    body = base64.b64decode(envelope["payload"]).replace(b'"INC-1"', b'"INC-X"')
    envelope["payload"] = base64.b64encode(body).decode()
    (bundle / ENVELOPE).write_text(json.dumps(envelope))
    pinned = _check(bundle, _pinned(keys), SIGNATURE)
    assert (pinned.name, pinned.ok, pinned.detail) == (
        SIGNATURE,
        False,
        "the signature does not match the statement in statement.dsse.json under any trusted "
        "key: the statement or signature was altered",
    )
    unpinned = _check(bundle, _unpinned(), SIGNATURE)
    assert (unpinned.ok, unpinned.detail) == (
        False,
        "the signature does not match the statement in statement.dsse.json under "
        "signer.pub.pem: the statement or signature was altered",
    )


def test_a_valid_signature_names_the_first_16_hex_digits_of_the_key_id(
    bundle: Path, keys: GeneratedKeys
) -> None:
    signed_by = keyid(load_public_key_file(keys.signing_pub))
    check = _check(bundle, _pinned(keys), SIGNATURE)
    assert (check.ok, check.detail) == (True, f"valid signature by key {signed_by[:16]}…")


def test_a_signature_with_a_character_outside_base64_does_not_verify(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """The real signature with one stray character: strict base64 refuses it, where a lenient
    decoder would drop the character and accept a signature that is not what the file says."""
    bundle = fresh_copy()
    _set_signatures(bundle, lambda s: s.update(sig="!" + s["sig"]))
    check = _check(bundle, _pinned(keys), SIGNATURE)
    assert (check.ok, check.detail) == (
        False,
        "the signature does not match the statement in statement.dsse.json under any trusted "
        "key: the statement or signature was altered",
    )


@pytest.mark.parametrize(
    "entry",
    [{"keyid": "k"}, "x", None, {"keyid": 5, "sig": "c2ln"}, {"keyid": "k", "sig": 7}],
    ids=["no sig", "a string", "null", "a number for keyid", "a number for sig"],
)
def test_a_hostile_signature_entry_fails_the_signature_check_and_never_crashes_verify(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, entry: Any
) -> None:
    """Every check still reports (the envelope's shape is refused where it is read), where a
    signature entry that is not an object of texts once stopped verify with an internal error."""
    bundle = fresh_copy()
    envelope = _envelope(bundle)
    envelope["signatures"] = [entry]
    (bundle / ENVELOPE).write_text(json.dumps(envelope))
    report = verify_bundle(bundle, _pinned(keys))
    checks = {c.name: (c.ok, c.detail) for c in report.checks}
    assert checks[SIGNATURE] == (
        False,
        "statement.dsse.json is not a DSSE envelope (a signature is not a keyid and a sig)",
    )
    assert report.ok is False and len(report.checks) == 10


def test_a_validly_signed_statement_that_is_not_json_fails_the_signature_check(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    _sign(bundle, b"{not json", keys)
    report = verify_bundle(bundle, _pinned(keys))
    [entry] = [c for c in report.to_dict()["checks"] if c["name"] == SIGNATURE]
    assert (entry["ok"], entry["detail"], entry["problems"]) == (
        False,
        "the signed statement is not valid JSON",
        [],
    )
    assert report.verdict.ok is False


def test_a_validly_signed_statement_that_is_not_an_object_fails_the_signature_check(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    _sign(bundle, b'["subject"]', keys)
    report = verify_bundle(bundle, _pinned(keys))
    [entry] = [c for c in report.to_dict()["checks"] if c["name"] == SIGNATURE]
    assert (entry["ok"], entry["detail"], entry["problems"]) == (
        False,
        "the signed statement is not a JSON object",
        [],
    )
    assert report.verdict.ok is False


# -- the subjects ----------------------------------------------------------------------------
def test_a_signed_statement_with_a_malformed_subject_list_fails_the_subjects_check(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    for subject in ("not a list of subjects", [{"name": "data/users.csv.age"}]):
        bundle = fresh_copy()
        statement = _statement(bundle)
        statement["subject"] = subject
        _sign(bundle, json.dumps(statement).encode(), keys)
        report = verify_bundle(bundle, _pinned(keys))
        checks = {c["name"]: c for c in report.to_dict()["checks"]}
        assert checks[SIGNATURE]["ok"] is True
        entry = checks[SUBJECTS]
        assert (entry["ok"], entry["detail"], entry["problems"]) == (
            False,
            "the statement's subject list is malformed",
            [],
        )
        assert report.ok is False


def test_every_difference_between_manifest_and_statement_is_listed(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """One subject dropped from the manifest, one file added to it, one digest changed: the
    subjects check lists all three, each in its own words."""
    bundle = fresh_copy()
    manifest = bundle / bagit.PAYLOAD_MANIFEST
    listed = bagit.parse_manifest(manifest)
    assert {"data/users.csv.age", "data/dump.bin.age"} <= set(listed)
    del listed["data/users.csv.age"]
    listed["data/dump.bin.age"] = "0" * 64
    listed["data/extra.age"] = "1" * 64
    manifest.write_text(bagit.manifest_text(listed))
    check = _check(bundle, _pinned(keys), SUBJECTS)
    assert (check.ok, check.detail, check.problems) == (
        False,
        "the manifest does not match what was signed",
        [
            "data/users.csv.age: signed in the statement but not in the manifest",
            "data/extra.age: in the manifest but not in the signed statement",
            "data/dump.bin.age: manifest sha256 differs from the signed statement",
        ],
    )
