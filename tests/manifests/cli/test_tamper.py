"""Every kind of tampering is caught by a named check; a clean bundle always passes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from manifests.keys import GeneratedKeys


def flip_byte(path: Path, offset: int = -40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def failed_checks(breach, bundle: Path, keys: GeneratedKeys, *extra: str) -> set[str]:  # type: ignore[no-untyped-def]
    # The tests' custody entries are signed by the sealer's key: trusted as a custodian too.
    trust = ("--pubkey", keys.signing_pub, "--custody-trust", keys.signing_pub)
    result = breach("verify", bundle, *trust, *extra, "--json")
    failed = {c["name"] for c in result.json["checks"] if c["ok"] is False}
    assert (result.exit_code == 1) == bool(failed), result.stdout
    return failed


PAYLOAD = "evidence files (payload manifest)"
TAGS = "bundle metadata (tag manifest)"
SIGNER = "signer identity"
SIGNATURE = "signature over the statement"
SUBJECTS = "statement matches the files"
CUSTODY = "chain of custody"


def _rewrite_statement(bundle: Path) -> None:
    env = json.loads((bundle / "statement.dsse.json").read_text())
    import base64

    body = base64.b64decode(env["payload"]).replace(b'"INC-1"', b'"INC-X"')
    env["payload"] = base64.b64encode(body).decode()
    (bundle / "statement.dsse.json").write_text(json.dumps(env))


TAMPERING: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "byte flipped in a payload": (lambda b: flip_byte(b / "data/users.csv.age"), {PAYLOAD}),
    "byte flipped in the statement envelope": (
        lambda b: flip_byte(b / "statement.dsse.json", 30),
        {TAGS, SIGNATURE, SUBJECTS, CUSTODY},
    ),
    "statement content rewritten": (_rewrite_statement, {TAGS, SIGNATURE, SUBJECTS, CUSTODY}),
    "byte flipped in bag-info.txt": (lambda b: flip_byte(b / "bag-info.txt", 5), {TAGS}),
    "byte flipped in VERIFY.md": (lambda b: flip_byte(b / "VERIFY.md", 10), {TAGS}),
    "byte flipped in the payload manifest": (
        lambda b: flip_byte(b / "manifest-sha256.txt", 3),
        {PAYLOAD, TAGS, SUBJECTS},
    ),
    "byte flipped in the tag manifest": (
        lambda b: flip_byte(b / "tagmanifest-sha256.txt", 3),
        {TAGS, CUSTODY},
    ),
    "payload deleted": (lambda b: (b / "data/dump.bin.age").unlink(), {PAYLOAD}),
    "payload added": (
        lambda b: (b / "data/extra.age").write_bytes(b"age-encryption.org/v1\n"),
        {PAYLOAD},
    ),
    "payload renamed": (
        lambda b: (b / "data/users.csv.age").rename(b / "data/users2.csv.age"),
        {PAYLOAD},
    ),
    "age file truncated": (
        lambda b: (b / "data/dump.bin.age").write_bytes(
            (b / "data/dump.bin.age").read_bytes()[:-100]
        ),
        {PAYLOAD},
    ),
    "custody entry byte flipped": (
        lambda b: (b / "custody.jsonl").write_text(
            (b / "custody.jsonl").read_text().replace('"sealed"', '"sealeD"')
        ),
        {CUSTODY},
    ),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_caught(breach, fresh_copy, keys: GeneratedKeys, how: str) -> None:  # type: ignore[no-untyped-def]
    bundle = fresh_copy()
    assert failed_checks(breach, bundle, keys) == set()
    tamper, expected = TAMPERING[how]
    tamper(bundle)
    assert failed_checks(breach, bundle, keys) == expected


def test_payload_swapped_with_one_from_another_bundle(
    breach, fresh_copy, evidence: Path, keys: GeneratedKeys, seal_args, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    (evidence / "users.csv").write_text("id,email\n1,mallory@example.com\n")
    other = tmp_path / "other"
    assert (
        breach("seal", evidence, "--out", other, "--incident", "INC-1", *seal_args).exit_code == 0
    )
    bundle = fresh_copy()
    shutil.copy(other / "data/users.csv.age", bundle / "data/users.csv.age")
    assert failed_checks(breach, bundle, keys) == {PAYLOAD}
    # Swapping the manifest line too is caught by the tag manifest and the signed subjects.
    theirs = {
        line.split()[1]: line for line in (other / "manifest-sha256.txt").read_text().splitlines()
    }
    ours = (bundle / "manifest-sha256.txt").read_text().splitlines()
    swapped = [theirs["data/users.csv.age"] if "users.csv" in line else line for line in ours]
    (bundle / "manifest-sha256.txt").write_text("\n".join(swapped) + "\n")
    assert failed_checks(breach, bundle, keys) == {TAGS, SUBJECTS}


def test_signer_key_replaced(
    breach, fresh_copy, keys: GeneratedKeys, other_keys: GeneratedKeys
) -> None:  # type: ignore[no-untyped-def]
    bundle = fresh_copy()
    shutil.copy(other_keys.signing_pub, bundle / "signer.pub.pem")
    assert failed_checks(breach, bundle, keys) == {TAGS, SIGNER}
    # Even with the signer check waived, the swapped key does not match the signature.
    unpinned = breach("verify", bundle, "--no-signer-check", "--json").json
    assert {c["name"] for c in unpinned["checks"] if c["ok"] is False} >= {SIGNER, SIGNATURE}


def test_bundle_re_signed_by_an_attacker_fails_against_the_pinned_key(
    breach, evidence: Path, other_keys: GeneratedKeys, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    forged = tmp_path / "forged"
    assert (
        breach(
            "seal",
            evidence,
            "--out",
            forged,
            "--incident",
            "INC-1",
            "-r",
            keys.recipient,
            "--signing-key",
            other_keys.signing_key,
        ).exit_code
        == 0
    )
    assert SIGNER in failed_checks(breach, forged, keys)


def test_custody_entries_reordered(breach, bundle: Path, fresh_copy, keys: GeneratedKeys) -> None:  # type: ignore[no-untyped-def]
    for event in ("stored", "transferred"):
        assert (
            breach(
                "custody", "record", bundle, "--event", event, "--signing-key", keys.signing_key
            ).exit_code
            == 0
        )
    copy = fresh_copy()
    lines = (copy / "custody.jsonl").read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    (copy / "custody.jsonl").write_text("".join(lines))
    assert failed_checks(breach, copy, keys) == {CUSTODY}


def test_last_custody_entry_altered_is_caught_by_its_signature(
    breach, bundle: Path, keys: GeneratedKeys
) -> None:  # type: ignore[no-untyped-def]
    assert (
        breach(
            "custody",
            "record",
            bundle,
            "--event",
            "accessed",
            "--why",
            "review",
            "--signing-key",
            keys.signing_key,
        ).exit_code
        == 0
    )
    log = bundle / "custody.jsonl"
    log.write_text(log.read_text().replace('"review"', '"revieW"'))
    result = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    custody = {c["name"]: c for c in result.json["checks"]}[CUSTODY]
    assert custody["ok"] is False and "does not match its content" in custody["problems"][0]


def test_human_report_names_the_file_and_the_difference(
    breach, fresh_copy, keys: GeneratedKeys
) -> None:  # type: ignore[no-untyped-def]
    bundle = fresh_copy()
    flip_byte(bundle / "data/users.csv.age")
    result = breach("verify", bundle, "--pubkey", keys.signing_pub)
    assert result.exit_code == 1
    assert "FAIL  evidence files (payload manifest)" in result.stdout
    assert "data/users.csv.age: content changed" in result.stdout
    assert "NOT VERIFIED" in result.stdout
    assert result.stderr.count("\n") == 1 and "NOT VERIFIED" in result.stderr


def test_decrypt_refuses_a_tampered_bundle(
    breach, fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bundle = fresh_copy()
    flip_byte(bundle / "data/users.csv.age")
    out = tmp_path / "never"
    result = breach(
        "decrypt", bundle, "-i", keys.age_identity, "--out", out, "--signing-key", keys.signing_key,
        "--pubkey", keys.signing_pub,
    )  # fmt: skip
    assert result.exit_code == 1 and "refusing to decrypt" in result.stderr
    assert not out.exists()
