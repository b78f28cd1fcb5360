"""Survivors of `make mutate` on manifests/decrypt.py and manifests/custody.py, killed (issue
16; docs/mutation.md lists the equivalent ones left). Every message a lawyer or a responder
reads is checked word for word here, since a test that only matches a fragment lets a mutated
message through."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from core.errors import BadInput, StepFailed
from manifests import chain, custody
from manifests.decrypt import decrypt_bundle
from manifests.keys import GeneratedKeys, generate, keyid, load_identities
from manifests.signing import local_signer
from manifests.verify import load_trusted, verify_bundle


def _rewrite_statement(bundle: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Edit the statement inside the envelope (the signature no longer matches: decrypt_bundle
    alone does not verify, which is what these tests reach)."""
    path = bundle / "statement.dsse.json"
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))


def _identities(keys: GeneratedKeys):  # type: ignore[no-untyped-def]
    return load_identities(keys.age_identity)


# -- decrypt ---------------------------------------------------------------------------------
def test_a_statement_without_an_artifact_list(fresh_copy, keys: GeneratedKeys, tmp_path) -> None:
    bundle = fresh_copy()
    _rewrite_statement(bundle, lambda s: s["predicate"].pop("artifacts"))
    with pytest.raises(BadInput) as raised:
        decrypt_bundle(bundle, _identities(keys), tmp_path / "out")
    assert (
        raised.value.message == f"{bundle}/statement.dsse.json: the statement has no artifact list"
    )


def test_a_statement_whose_artifact_list_is_not_a_list(
    fresh_copy, keys: GeneratedKeys, tmp_path
) -> None:
    bundle = fresh_copy()
    _rewrite_statement(bundle, lambda s: s["predicate"].update(artifacts={"a": 1}))
    with pytest.raises(BadInput) as raised:
        decrypt_bundle(bundle, _identities(keys), tmp_path / "out")
    assert raised.value.message == (
        f"{bundle}/statement.dsse.json: the statement's artifact list is malformed"
    )


def test_an_envelope_that_is_not_dsse_is_named(fresh_copy, keys: GeneratedKeys, tmp_path) -> None:
    bundle = fresh_copy()
    (bundle / "statement.dsse.json").write_text('{"payload": "not base64!"}')
    with pytest.raises(BadInput) as raised:
        decrypt_bundle(bundle, _identities(keys), tmp_path / "out")
    assert raised.value.message.startswith("statement.dsse.json is not a DSSE envelope")


def test_a_wrong_identity_names_the_payload(
    fresh_copy, other_keys: GeneratedKeys, tmp_path
) -> None:
    with pytest.raises(BadInput) as raised:
        decrypt_bundle(fresh_copy(), _identities(other_keys), tmp_path / "out")
    assert raised.value.message.startswith("cannot decrypt data/")
    assert raised.value.hint == "is this identity a recipient?"


def test_every_mismatch_is_named_exactly_and_none_is_kept(
    fresh_copy, keys: GeneratedKeys, tmp_path
) -> None:
    """Two artifacts whose signed plaintext hash is wrong (one changed, one gone): the loop
    goes on after the first, both are named, joined by '; ', with 16 hex digits of each."""
    bundle = fresh_copy()
    forged = "ab" * 32

    def change(statement) -> None:  # type: ignore[no-untyped-def]
        for artifact in statement["predicate"]["artifacts"]:
            if artifact["name"] == "dump.bin":
                artifact["plaintext"]["sha256"] = forged
            if artifact["name"] == "users.csv":
                del artifact["plaintext"]

    _rewrite_statement(bundle, change)
    out = tmp_path / "out"
    import hashlib

    real = {
        name: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in (
            ("dump.bin", tmp_path / "evidence" / "dump.bin"),
            ("users.csv", tmp_path / "evidence" / "users.csv"),
        )
    }
    with pytest.raises(StepFailed) as raised:
        decrypt_bundle(bundle, _identities(keys), out)
    assert raised.value.message == (
        "decrypted content does not match the signed statement: "
        f"dump.bin: plaintext sha256 {real['dump.bin'][:16]}… differs from the signed "
        f"{forged[:16]}…; "
        f"users.csv: plaintext sha256 {real['users.csv'][:16]}… differs from the signed None…"
    )
    assert not out.exists()  # all or nothing: not even access.log, which matched, is released


# -- custody ---------------------------------------------------------------------------------
def test_a_changed_entry_without_event_or_who_is_named_with_question_marks(
    fresh_copy, keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    signer = local_signer(keys.signing_key)
    custody.record(bundle, "accessed", signer, who="alice")
    log = bundle / custody.CUSTODY_FILE
    lines = log.read_text().splitlines()
    entry = json.loads(lines[-1])
    del entry["event"], entry["who"]
    lines[-1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    check = custody.signature_checker(None)
    assert check(entry) == "(? by ?) has a signature that does not match its content"


def test_an_untrusted_custody_key_is_named_with_the_event_and_who(
    fresh_copy, keys: GeneratedKeys, tmp_path
) -> None:
    bundle = fresh_copy()
    stranger = generate(tmp_path / "stranger")
    signer = local_signer(stranger.signing_key)
    entry = custody.record(bundle, "transferred", signer, who="bob", why="handover")
    check = custody.signature_checker({keys.signing_keyid})
    stranger_id = keyid(signer.public_key)
    assert check(entry) == (
        f"(transferred by bob) is signed by key {stranger_id[:16]}…, which is not trusted "
        "(add its public key with --trust)"
    )
    anonymous = {k: v for k, v in entry.items() if k not in ("event", "who", "signature")}
    anonymous["signature"] = custody._chain_signer(signer)(chain.signed_body(anonymous))
    assert check(anonymous) == (
        f"(? by ?) is signed by key {stranger_id[:16]}…, which is not trusted "
        "(add its public key with --trust)"
    )
    # verify lists such an entry with its key id as not vouched for; it is not tampering.
    report = verify_bundle(bundle, load_trusted([keys.signing_pub], []))
    checks = {c.name: c for c in report.checks}
    assert checks["chain of custody"].ok is True
    assert checks["custody signers"].problems == [
        f"entry 2 (transferred by bob) signed by key {stranger_id}"
    ]
