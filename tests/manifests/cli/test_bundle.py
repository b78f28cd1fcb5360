"""Seal, verify and decrypt round trip, through the CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from manifests.keys import GeneratedKeys, keyid, load_public_key_file


def test_bundle_layout_and_statement(bundle: Path, evidence: Path) -> None:
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert names == [
        "VERIFY.md",
        "bag-info.txt",
        "bagit.txt",
        "custody.jsonl",
        "data/dump.bin.age",
        "data/logs/access.log.age",
        "data/users.csv.age",
        "manifest-sha256.txt",
        "signer.pub.pem",
        "statement.dsse.json",
        "tagmanifest-sha256.txt",
    ]
    assert (bundle / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    # No plaintext anywhere in the bundle.
    for path in (bundle / "data").rglob("*.age"):
        head = path.read_bytes()
        assert head.startswith(b"age-encryption.org/v1\n")
        assert b"a@example.com" not in head and b"/admin" not in head
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert [s["name"] for s in statement["subject"]] == [
        "data/dump.bin.age",
        "data/logs/access.log.age",
        "data/users.csv.age",
    ]
    artifact = {a["name"]: a for a in statement["predicate"]["artifacts"]}["users.csv"]
    assert artifact["media_type"] == "text/csv"
    assert artifact["plaintext"]["size"] == (evidence / "users.csv").stat().st_size
    import hashlib

    assert (
        artifact["plaintext"]["sha256"]
        == hashlib.sha256((evidence / "users.csv").read_bytes()).hexdigest()
    )
    assert statement["predicate"]["bundle"]["incident"]["id"] == "INC-1"
    assert statement["predicate"]["bundle"]["previous"] is None


def test_clean_bundle_verifies(breach, bundle: Path, keys: GeneratedKeys) -> None:
    result = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    assert result.exit_code == 0, result.stdout
    report = result.json
    assert report["ok"] is True
    assert all(c["ok"] is True for c in report["checks"]), report["checks"]
    trust_dir = keys.signing_pub.parent
    assert breach("verify", bundle, "--trust", trust_dir).exit_code == 0


def test_without_a_trust_anchor_verify_refuses_unless_the_signer_check_is_waived(
    breach, bundle: Path
) -> None:
    refused = breach("verify", bundle, "--json")
    assert refused.exit_code == 2 and "--pubkey" in refused.stderr and refused.stdout == ""
    report = breach("verify", bundle, "--no-signer-check", "--json").json
    signer = {c["name"]: c for c in report["checks"]}["signer identity"]
    assert signer["ok"] is None and signer["waived"] and "--no-signer-check" in signer["detail"]
    assert report["verdict"] == "signer-not-checked" and report["signer_checked"] is False


def test_decrypt_round_trip_and_custody(
    breach, bundle: Path, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    result = breach(
        "decrypt",
        bundle,
        "--identity",
        keys.age_identity,
        "--out",
        out,
        "--reason",
        "legal review",
        "--signing-key",
        keys.signing_key,
        "--pubkey",
        keys.signing_pub,
    )
    assert result.exit_code == 0, result.stderr
    for original in evidence.rglob("*"):
        if original.is_file():
            copy = out / original.relative_to(evidence)
            assert copy.read_bytes() == original.read_bytes()
            assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
    events = breach("custody", "show", bundle, "--json").json
    assert [e["event"] for e in events] == ["sealed", "decrypted"]
    assert events[1]["why"] == "legal review" and events[1]["who"] == "tester@breachkit"
    # The same key sealed and decrypted here: trusted in both roles only when given in both.
    both = ("--pubkey", keys.signing_pub, "--custody-trust", keys.signing_pub)
    assert breach("verify", bundle, *both).exit_code == 0


def test_custody_events_and_recorded_verification(
    breach, bundle: Path, keys: GeneratedKeys
) -> None:
    recorded = breach(
        "custody",
        "record",
        bundle,
        "--event",
        "transferred",
        "--to",
        "outside counsel",
        "--why",
        "litigation hold",
        "--signing-key",
        keys.signing_key,
    )
    assert recorded.exit_code == 0, recorded.stderr
    assert (
        breach(
            "verify",
            bundle,
            "--pubkey",
            keys.signing_pub,
            "--custody-trust",
            keys.signing_pub,
            "--record",
            "--signing-key",
            keys.signing_key,
        ).exit_code
        == 0
    )
    events = breach("custody", "show", bundle, "--json").json
    assert [e["event"] for e in events] == ["sealed", "transferred", "verified"]
    assert events[1]["details"] == {"to": "outside counsel"}


def test_custody_entry_by_an_unknown_key_is_listed_not_tampering(
    breach, bundle: Path, keys: GeneratedKeys, other_keys: GeneratedKeys
) -> None:
    assert (
        breach(
            "custody",
            "record",
            bundle,
            "--event",
            "accessed",
            "--signing-key",
            other_keys.signing_key,
        ).exit_code
        == 0
    )
    pinned = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    assert pinned.exit_code == 1 and pinned.json["verdict"] == "incomplete"
    checks = {c["name"]: c for c in pinned.json["checks"]}
    assert checks["chain of custody"]["ok"] is True  # intact: not tampering
    signers = checks["custody signers"]
    other = keyid(load_public_key_file(other_keys.signing_pub))
    assert signers["ok"] is None and other in signers["problems"][0]
    # Trusting the other key as a sealer does not vouch for its custody entry.
    as_sealer = ("--pubkey", keys.signing_pub, "--pubkey", other_keys.signing_pub)
    assert breach("verify", bundle, *as_sealer).exit_code == 1
    as_custodian = ("--pubkey", keys.signing_pub, "--custody-trust", other_keys.signing_pub)
    assert breach("verify", bundle, *as_custodian).exit_code == 0


def test_ssh_recipient_and_identity(
    breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    ssh_private = tmp_path / "id_ed25519"
    ssh_private.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    ssh_private.chmod(0o600)  # as ssh-keygen leaves it: an identity others can read is refused
    ssh_public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    out = tmp_path / "ssh-bundle"
    sealed = breach(
        "seal",
        evidence,
        "--out",
        out,
        "--incident",
        "INC-2",
        "-r",
        ssh_public,
        "--signing-key",
        keys.signing_key,
    )
    assert sealed.exit_code == 0, sealed.stderr
    result = breach(
        "decrypt",
        out,
        "-i",
        ssh_private,
        "--out",
        tmp_path / "p",
        "--signing-key",
        keys.signing_key,
        "--pubkey",
        keys.signing_pub,
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "p" / "users.csv").read_bytes() == (evidence / "users.csv").read_bytes()


def test_passphrase_protected_signing_key(
    breach, evidence: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BREACH_KEY_PASSPHRASE", "correct horse")
    made = breach("keys", "generate", "--out", tmp_path / "k", "--passphrase", "--json").json
    assert made["encrypted"] is True
    key_pem = Path(made["signing_key"])
    assert stat.S_IMODE(key_pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(made["age_identity"]).stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_pem.read_bytes()
    args = [
        "seal",
        evidence,
        "--incident",
        "I",
        "-r",
        made["age_recipient"],
        "--signing-key",
        key_pem,
    ]
    assert breach(*args, "--out", tmp_path / "ok").exit_code == 0
    monkeypatch.setenv("BREACH_KEY_PASSPHRASE", "wrong")
    wrong = breach(*args, "--out", tmp_path / "no")
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.stderr
    assert not (tmp_path / "no").exists()
    monkeypatch.delenv("BREACH_KEY_PASSPHRASE")
    missing = breach(*args, "--out", tmp_path / "no")
    assert missing.exit_code == 2 and "BREACH_KEY_PASSPHRASE" in missing.stderr


def test_multiple_recipients_each_can_decrypt(
    breach, evidence: Path, keys: GeneratedKeys, other_keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "two"
    sealed = breach(
        "seal",
        evidence,
        "--out",
        out,
        "--incident",
        "I",
        "-r",
        keys.recipient,
        "-r",
        other_keys.age_recipient,
        "--signing-key",
        keys.signing_key,
    )
    assert sealed.exit_code == 0, sealed.stderr
    for ident, name in ((keys.age_identity, "a"), (other_keys.age_identity, "b")):
        assert (
            breach(
                "decrypt",
                out,
                "-i",
                ident,
                "--out",
                tmp_path / name,
                "--signing-key",
                keys.signing_key,
                "--pubkey",
                keys.signing_pub,
                "--custody-trust",  # the first decryption's entry, signed with the same key
                keys.signing_pub,
            ).exit_code
            == 0
        )
