"""Survivors of `make mutate` on manifests/verify.py, killed (issue 16; docs/mutation.md lists
what was run and the equivalent ones left)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from manifests import custody
from manifests.keys import GeneratedKeys, keyid, load_public_key_file
from manifests.trust import WAIVERS
from manifests.verify import load_trusted, verify_bundle


def _checks(bundle: Path, keys: GeneratedKeys) -> dict[str, tuple[bool | None, str, list[str]]]:
    report = verify_bundle(bundle, load_trusted([keys.signing_pub], []))
    return {c.name: (c.ok, c.detail, c.problems) for c in report.checks}


def test_a_replaced_signer_key_names_both_key_ids_exactly(
    fresh_copy, keys: GeneratedKeys, other_keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    shutil.copy(other_keys.signing_pub, bundle / "signer.pub.pem")
    signed_by = keyid(load_public_key_file(keys.signing_pub))
    held = keyid(load_public_key_file(other_keys.signing_pub))
    assert _checks(bundle, keys)["signer identity"] == (
        False,
        f"signer.pub.pem is not the key that signed (envelope names key {signed_by[:16]}…, "
        f"file holds {held[:16]}…): the signer key was replaced",
        [],
    )


def test_a_sealing_entry_whose_signature_is_not_an_object_is_reported(
    fresh_copy, keys: GeneratedKeys
) -> None:
    """A hostile custody log: the sealing entry's `signature` a string, not an object. Verify
    reports it (no key signed the sealing); it never crashes on it."""
    bundle = fresh_copy()
    log = bundle / custody.CUSTODY_FILE
    lines = log.read_bytes().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["signature"] = "forged"
    log.write_bytes(json.dumps(first).encode() + b"\n" + b"".join(lines[1:]))
    ok, _, problems = _checks(bundle, keys)["chain of custody"]
    assert ok is False
    assert "the sealing entry is signed by key None, not by the statement's signer" in problems


def test_a_waived_signer_check_names_its_waiver(bundle: Path, keys: GeneratedKeys) -> None:
    """Without a trusted sealer key and with `--waive signer` the check is not made: it says
    which waiver let it pass, in the report a reader (and --json) gets."""
    report = verify_bundle(bundle, load_trusted([], [], waive=["signer"]))
    [signer] = [c for c in report.checks if c.name == "signer identity"]
    assert (signer.ok, signer.waiver, signer.waived) == (None, "signer", True)
    signed_by = keyid(load_public_key_file(keys.signing_pub))
    assert signer.detail == (
        f"signed by key {signed_by}; NOT compared with a trusted sealer key ({WAIVERS['signer']}):"
        " the signature is checked only against the key inside the bundle"
    )
    assert report.to_dict()["checks"][4]["waiver"] == "signer"


def test_with_no_key_at_all_the_signature_is_not_checked_and_fails(
    fresh_copy, keys: GeneratedKeys
) -> None:
    """The signer check waived and signer.pub.pem gone: no key is left to check the statement
    with, which fails that check by name (never a crash on a missing key)."""
    bundle = fresh_copy()
    (bundle / "signer.pub.pem").unlink()
    report = verify_bundle(bundle, load_trusted([], [], waive=["signer"]))
    checks = {c.name: (c.ok, c.detail) for c in report.checks}
    assert checks["signature over the statement"] == (
        False,
        "no key to check the signature with",
    )
    assert report.ok is False
