"""Verify, decrypt and custody on the paths a user relies on that once ran in no test (issue
16): each damaged part is named by the check it fails, in words, and nothing else breaks."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from core.errors import BadInput, StepFailed
from manifests import chain, custody
from manifests.decrypt import decrypt_bundle
from manifests.keys import GeneratedKeys, keyid, load_identities
from manifests.signing import local_signer, signer_pem
from manifests.verify import load_trusted, verify_bundle


def _checks(bundle: Path, keys: GeneratedKeys) -> dict[str, tuple[bool | None, str, list[str]]]:
    report = verify_bundle(bundle, load_trusted([keys.signing_pub], []))
    return {c.name: (c.ok, c.detail, c.problems) for c in report.checks}


def _failed(bundle: Path, keys: GeneratedKeys) -> dict[str, tuple[str, list[str]]]:
    return {n: (d, p) for n, (ok, d, p) in _checks(bundle, keys).items() if ok is False}


def test_the_pristine_copy_passes_every_check(fresh_copy, keys: GeneratedKeys) -> None:
    """The baseline the tests below break one part of."""
    assert all(ok for ok, _, _ in _checks(fresh_copy(), keys).values())


# -- the bag ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n", "declares version '0.97'"),
        ("BagIt-Version: 1.0\nTag-File-Character-Encoding: latin-1\n", "encoding 'latin-1'"),
        ("not a declaration\n", "declares version None"),
    ],
)
def test_a_bad_bagit_txt_fails_the_bag_declaration(
    fresh_copy, keys: GeneratedKeys, text: str, says: str
) -> None:
    bundle = fresh_copy()
    (bundle / "bagit.txt").write_text(text)
    failed = _failed(bundle, keys)
    detail, problems = failed["bag declaration"]
    assert detail == "the bag is not BagIt 1.0" and any(says in p for p in problems), problems
    assert "bundle metadata (tag manifest)" in failed  # bagit.txt is a sealed tag file too


def test_a_missing_data_folder_is_named(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    shutil.rmtree(bundle / "data")
    failed = _failed(bundle, keys)
    assert "the data/ folder is missing" in failed["bag declaration"][1]
    _, problems = failed["evidence files (payload manifest)"]
    assert any("listed in the manifest but missing" in p for p in problems)


def test_a_missing_or_malformed_payload_manifest(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "manifest-sha256.txt").unlink()
    failed = _failed(bundle, keys)
    assert failed["evidence files (payload manifest)"][0] == "manifest-sha256.txt is missing"
    bundle = fresh_copy()
    (bundle / "manifest-sha256.txt").write_text("not a manifest line\n")
    failed = _failed(bundle, keys)
    detail = failed["evidence files (payload manifest)"][0]
    assert "line 1 is not '<sha256>  <path>'" in detail


def test_a_missing_or_malformed_tag_manifest(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "tagmanifest-sha256.txt").unlink()
    assert _failed(bundle, keys)["bundle metadata (tag manifest)"][0] == (
        "tagmanifest-sha256.txt is missing"
    )
    bundle = fresh_copy()
    (bundle / "tagmanifest-sha256.txt").write_text("garbage\n")
    assert "is not '<sha256>  <path>'" in _failed(bundle, keys)["bundle metadata (tag manifest)"][0]
    bundle = fresh_copy()
    (bundle / "VERIFY.md").unlink()
    _, problems = _failed(bundle, keys)["bundle metadata (tag manifest)"]
    assert "VERIFY.md: listed but missing" in problems


def test_a_missing_signer_key(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "signer.pub.pem").unlink()
    failed = _failed(bundle, keys)
    assert failed["signer identity"][0] == "signer.pub.pem is missing or not a public key"
    # signer.pub.pem is a sealed tag file; the pinned key still checks the signature
    assert set(failed) == {"signer identity", "bundle metadata (tag manifest)"}
    (bundle / "signer.pub.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n")
    assert "signer identity" in _failed(bundle, keys)


def test_a_missing_or_broken_envelope(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "statement.dsse.json").unlink()
    failed = _failed(bundle, keys)
    assert failed["signature over the statement"][0] == (
        "statement.dsse.json is missing or not a DSSE envelope"
    )
    assert failed["statement matches the files"][0] == "no valid signed statement to compare with"
    checks = _checks(bundle, keys)
    assert checks["link to the previous bundle"][0] is None  # skipped, with the reason
    bundle = fresh_copy()
    (bundle / "statement.dsse.json").write_text("{not json")
    assert "signature over the statement" in _failed(bundle, keys)


def test_a_wrong_payload_type_is_refused_before_any_signature_check(
    fresh_copy, keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    path = bundle / "statement.dsse.json"
    envelope = json.loads(path.read_text())
    envelope["payloadType"] = "application/json"
    path.write_text(json.dumps(envelope))
    detail = _failed(bundle, keys)["signature over the statement"][0]
    assert detail == ("payloadType is 'application/json', expected application/vnd.in-toto+json")


def test_a_signature_that_is_not_base64_does_not_verify(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    path = bundle / "statement.dsse.json"
    envelope = json.loads(path.read_text())
    envelope["signatures"][0]["sig"] = "***not base64***"
    path.write_text(json.dumps(envelope))
    detail = _failed(bundle, keys)["signature over the statement"][0]
    assert "the signature does not match the statement" in detail


# -- custody entries -------------------------------------------------------------------------
def _append(bundle: Path, sign) -> None:  # type: ignore[no-untyped-def]
    fields = {"at": "2026-11-28T00:00:00Z", "event": "accessed", "who": "mallory"}
    chain.append(bundle / custody.CUSTODY_FILE, fields, sign=sign)


def _custody_problems(bundle: Path, keys: GeneratedKeys) -> list[str]:
    return _failed(bundle, keys)["chain of custody"][1]


def test_an_unsigned_custody_entry_is_named(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    _append(bundle, None)
    assert _custody_problems(bundle, keys) == ["entry 2 is not signed"]


def test_a_custody_entry_with_an_unreadable_signature(fresh_copy, keys: GeneratedKeys) -> None:
    for signature in (
        {"keyid": "x", "alg": "ed25519", "public_key": "not a key", "sig": "AAAA"},
        {"keyid": "x", "alg": "ed25519", "sig": "AAAA"},  # no key at all
    ):
        bundle = fresh_copy()
        _append(bundle, lambda body, s=signature: s)
        assert _custody_problems(bundle, keys) == ["entry 2 carries an unreadable signature"]
    bundle = fresh_copy()
    signer = local_signer(keys.signing_key)
    pem = signer_pem(signer).decode()
    bad_b64 = {"keyid": keyid(signer.public_key), "public_key": pem, "sig": "***"}
    _append(bundle, lambda body: bad_b64)
    assert _custody_problems(bundle, keys) == ["entry 2 carries an unreadable signature"]


def test_a_custody_entry_whose_key_id_is_not_its_key(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    signer = local_signer(keys.signing_key)
    pem = signer_pem(signer).decode()

    def sign(body: bytes) -> dict[str, str]:
        sig = base64.b64encode(signer.sign(body)).decode()
        return {"keyid": "0" * 64, "alg": "ed25519", "public_key": pem, "sig": sig}

    _append(bundle, sign)
    assert _custody_problems(bundle, keys) == ["entry 2 names a key id that does not match its key"]


def test_a_custody_entry_whose_content_changed_after_signing(
    fresh_copy, keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    signer = local_signer(keys.signing_key)
    custody.record(bundle, "accessed", signer, who="alice", why="review")
    log = bundle / custody.CUSTODY_FILE
    lines = log.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"alice"', b'"bob"')
    log.write_bytes(b"".join(lines))
    assert _custody_problems(bundle, keys) == [
        "entry 2 (accessed by bob) has a signature that does not match its content"
    ]


def test_custody_on_a_folder_that_is_not_a_bundle(tmp_path: Path, keys: GeneratedKeys) -> None:
    with pytest.raises(BadInput, match=r"is not a bundle \(no custody.jsonl\)"):
        custody.entries(tmp_path)
    with pytest.raises(BadInput, match="unknown custody event 'stolen'"):
        custody.record(tmp_path, "stolen", local_signer(keys.signing_key), who="x")


def test_a_missing_custody_log_fails_its_check(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / custody.CUSTODY_FILE).unlink()
    assert _failed(bundle, keys)["chain of custody"][0] == "custody.jsonl is missing"


# -- decrypt ---------------------------------------------------------------------------------
def test_decrypt_refuses_a_plaintext_that_differs_from_its_signed_hash(
    fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    """A payload swapped for another file encrypted to the same recipient (after verification,
    or in a bundle never verified): its plaintext sha256 differs from the signed one, the
    plaintext is removed, and the error names the artifact."""
    import pyrage

    bundle = fresh_copy()
    recipient = pyrage.x25519.Recipient.from_str(keys.recipient)
    forged = pyrage.encrypt(b"id,email\n1,forged@example.com\n", [recipient])
    (bundle / "data" / "users.csv.age").write_bytes(forged)
    out = tmp_path / "plain"
    with pytest.raises(StepFailed) as failed:
        decrypt_bundle(bundle, load_identities(keys.age_identity), out)
    message = failed.value.message
    assert message.startswith("decrypted content does not match the signed statement: ")
    assert "users.csv: plaintext sha256" in message and "differs from the signed" in message
    assert not out.exists()  # all or nothing: the good ones are not released either


def test_decrypt_names_a_missing_payload(fresh_copy, keys: GeneratedKeys, tmp_path: Path) -> None:
    bundle = fresh_copy()
    (bundle / "data" / "users.csv.age").unlink()
    with pytest.raises(BadInput, match=r"payload data/users.csv.age is missing from the bundle"):
        decrypt_bundle(bundle, load_identities(keys.age_identity), tmp_path / "plain")


def test_decrypt_of_a_folder_without_an_envelope(tmp_path: Path, keys: GeneratedKeys) -> None:
    with pytest.raises(BadInput, match=r"is not a bundle \(no statement.dsse.json\)"):
        decrypt_bundle(tmp_path, load_identities(keys.age_identity), tmp_path / "plain")
