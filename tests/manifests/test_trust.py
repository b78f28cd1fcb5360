"""Verification has a trust anchor, and keys have roles (issue 9).

Sealers sign statements, custodians sign custody entries, neither stands in for the other; no
anchor is no verdict; a check not made fails unless waived by name, and the headline says so.
Each test tries the attack or the omission and asserts the refusal or the named gap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from breach.procedure.bundle import (
    CustodyShowSettings,
    DecryptSettings,
    VerifySettings,
    custody_show,
    decrypt,
    verify,
)
from core.errors import BadInput, StepFailed
from manifests import bagit, custody, dsse
from manifests.keys import GeneratedKeys, generate, load_recipients
from manifests.seal import ENVELOPE, SIGNER_PEM, TAG_FILES, PreviousBundle, SealOptions, seal
from manifests.signing import Signer, local_signer, signature_entry, signer_pem
from manifests.staging import staged_artifacts
from manifests.trust import load_trusted
from manifests.verify import verify_bundle

SIGNERS = "custody signers"
LINK = "link to the previous bundle"


def seal_into(
    folder: Path, out: Path, keys: GeneratedKeys, previous: PreviousBundle | None = None
) -> Path:
    options = SealOptions(
        incident_id="INC-T",
        recipients=load_recipients([keys.recipient]),
        recipient_names=[keys.recipient],
        signer=local_signer(keys.signing_key),
        operator="sealer@breachkit",
        tool_version="test",
        previous=previous,
    )
    return seal(staged_artifacts(folder), out, options).path


@pytest.fixture
def sealer(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "sealer")


@pytest.fixture
def legal(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "legal", name="legal-signing")


@pytest.fixture
def bundle(evidence: Path, sealer: GeneratedKeys, tmp_path: Path) -> Path:
    return seal_into(evidence, tmp_path / "bundles" / "b1", sealer)


def checks_of(result: Any) -> dict[str, Any]:
    return {c.name: c for c in result.checks}


def resign(bundle: Path, attacker: Signer) -> None:
    """What a forger does: alter the statement, sign it with their own key, ship their public
    key as signer.pub.pem, redo the tag manifest and start a custody log of their own."""
    envelope = json.loads((bundle / ENVELOPE).read_bytes())
    body = base64.b64decode(envelope["payload"]).replace(b'"INC-T"', b'"INC-Z"')
    signature = signature_entry(attacker, dsse.pae(dsse.IN_TOTO, body))
    forged = json.dumps(dsse.envelope(body, dsse.IN_TOTO, [signature]), indent=2).encode()
    (bundle / ENVELOPE).write_bytes(forged)
    (bundle / SIGNER_PEM).write_bytes(signer_pem(attacker))
    digest = {n: hashlib.sha256((bundle / n).read_bytes()).hexdigest() for n in TAG_FILES}
    (bundle / bagit.TAG_MANIFEST).write_text(bagit.manifest_text(digest))
    (bundle / custody.CUSTODY_FILE).unlink()
    tag_sha = hashlib.sha256((bundle / bagit.TAG_MANIFEST).read_bytes()).hexdigest()
    details = {"envelope_sha256": hashlib.sha256(forged).hexdigest(), "tagmanifest_sha256": tag_sha}
    custody.record(bundle, "sealed", attacker, who="mallory", details=details)


# -- no anchor, no verdict -------------------------------------------------------------------
def test_without_a_sealer_key_verify_and_decrypt_are_refused_naming_the_option(
    bundle: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    log_before = (bundle / custody.CUSTODY_FILE).read_bytes()
    with pytest.raises(BadInput, match="no trusted sealer key") as refused:
        verify_bundle(bundle, load_trusted([], []))
    assert "--pubkey" in str(refused.value.hint) and "--no-signer-check" in str(refused.value.hint)
    with pytest.raises(BadInput, match="no trusted sealer key") as step:
        verify(VerifySettings(bundle=bundle))
    assert step.value.field == "pubkeys"
    out = tmp_path / "plain"
    with pytest.raises(BadInput, match="no trusted sealer key"):
        decrypt(
            DecryptSettings(
                bundle=bundle,
                identity=sealer.age_identity,
                out=out,
                reason="review",
                signing_key=sealer.signing_key,
            )
        )
    assert not out.exists()  # no plaintext, and no custody entry either
    assert (bundle / custody.CUSTODY_FILE).read_bytes() == log_before


def test_waiving_the_signer_check_is_said_in_the_headline_and_the_json(
    bundle: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    checked = verify(VerifySettings(bundle=bundle, no_signer_check=True))
    assert checked.ok and checked.verdict == "signer-not-checked"
    assert checked.signer_checked is False
    assert checked.headline.startswith("SIGNER NOT CHECKED") and "VERIFIED" not in checked.headline
    assert checked.waived == [{"check": "signer identity", "waived_by": "--no-signer-check"}]
    signer = checks_of(checked)["signer identity"]
    assert signer.ok is None and signer.waived
    opened = decrypt(
        DecryptSettings(
            bundle=bundle,
            identity=sealer.age_identity,
            out=tmp_path / "plain",
            reason="triage",
            signing_key=sealer.signing_key,
            no_signer_check=True,
        )
    )
    assert opened.verification == "signer-not-checked" and "SIGNER NOT CHECKED" in opened.headline
    assert opened.custody.details is not None
    assert opened.custody.details["verification"] == "signer-not-checked"  # on the record


def test_a_bundle_re_signed_by_an_attacker_is_not_verified(
    bundle: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    attacker = generate(tmp_path / "mallory")
    resign(bundle, local_signer(attacker.signing_key))
    checked = verify(VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub]))
    assert not checked.ok and checked.verdict == "failed"
    assert {"signer identity", "signature over the statement"} <= set(checked.failed)
    assert checked.headline.startswith("NOT VERIFIED")
    # Without an anchor the forgery is intact and consistent: only the sealer's key tells.
    unanchored = verify(VerifySettings(bundle=bundle, no_signer_check=True))
    assert unanchored.verdict == "signer-not-checked" and "re-signed" in unanchored.headline


def test_a_trusted_key_read_from_inside_the_bundle_is_refused(bundle: Path) -> None:
    with pytest.raises(BadInput, match="inside the bundle"):
        verify(VerifySettings(bundle=bundle, pubkeys=[bundle / SIGNER_PEM]))
    with pytest.raises(BadInput, match="inside the bundle"):
        verify(VerifySettings(bundle=bundle, trust=[bundle]))


# -- roles ------------------------------------------------------------------------------------
def test_a_custodian_key_is_never_a_sealer(
    bundle: Path, sealer: GeneratedKeys, legal: GeneratedKeys
) -> None:
    custodian = {"custody_trust": [legal.signing_pub]}
    with pytest.raises(BadInput, match="no trusted sealer key"):
        verify(VerifySettings(bundle=bundle, **custodian))
    # Legal re-signs the statement with its custody key: trusted as a custodian, it still
    # cannot make the statement verify.
    resign(bundle, local_signer(legal.signing_key))
    checked = verify(VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub], **custodian))
    assert not checked.ok and "signature over the statement" in checked.failed
    with pytest.raises(BadInput, match="keep the two folders apart"):
        load_trusted([], [legal.signing_pub.parent], [legal.signing_pub.parent])


def test_a_legal_annotated_bundle_verifies_against_the_sealer_key_alone(
    bundle: Path, sealer: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path
) -> None:
    decrypt(
        DecryptSettings(
            bundle=bundle,
            identity=sealer.age_identity,
            out=tmp_path / "plain",
            reason="counsel review",
            signing_key=legal.signing_key,
            pubkeys=[sealer.signing_pub],
        )
    )
    custody.record(bundle, "transferred", local_signer(legal.signing_key), who="legal")
    alone = verify(VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub]))
    assert alone.failed == []  # the evidence verifies: legal's entries are not tampering
    checks = checks_of(alone)
    assert checks["chain of custody"].ok is True
    assert checks["signer identity"].ok is True
    # ... and legal's entries are named with their key id, as not vouched for: not a pass.
    signers = checks[SIGNERS]
    assert signers.ok is None and legal.signing_keyid in signers.detail
    assert len(signers.problems) == 2
    assert alone.verdict == "incomplete" and SIGNERS in alone.headline
    assert "--no-custodian-check" in alone.headline
    waived = verify(
        VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub], no_custodian_check=True)
    )
    assert waived.ok and waived.verdict == "verified"
    assert "not checked, by choice: custody signers (--no-custodian-check)" in waived.headline
    # The sealer's key is not needed for legal's entries: legal's own key vouches for them.
    vouched = verify(
        VerifySettings(
            bundle=bundle, pubkeys=[sealer.signing_pub], custody_trust=[legal.signing_pub]
        )
    )
    assert vouched.ok and vouched.verdict == "verified" and vouched.headline.startswith("VERIFIED")
    # The sealer's key as a sealer does not vouch for custody, nor legal's key for the statement.
    assert not verify(VerifySettings(bundle=bundle, pubkeys=[legal.signing_pub])).ok


def test_a_custody_entry_by_an_unknown_key_is_listed_with_its_key_id_not_as_tampering(
    bundle: Path, sealer: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path
) -> None:
    stranger = generate(tmp_path / "stranger")
    custody.record(bundle, "accessed", local_signer(stranger.signing_key), who="someone")
    checked = verify(
        VerifySettings(
            bundle=bundle, pubkeys=[sealer.signing_pub], custody_trust=[legal.signing_pub]
        )
    )
    assert checked.failed == [] and checks_of(checked)["chain of custody"].ok is True
    signers = checks_of(checked)[SIGNERS]
    assert signers.problems == [
        f"entry 2 (accessed by someone) signed by key {stranger.signing_keyid}"
    ]
    assert "not in the custody trust set" in signers.detail
    shown = custody_show(CustodyShowSettings(bundle=bundle, custody_trust=[legal.signing_pub]))
    assert [e["role"] for e in shown.entries] == ["sealer", "outside"]
    custody.record(bundle, "transferred", local_signer(legal.signing_key), who="legal")
    shown = custody_show(CustodyShowSettings(bundle=bundle, custody_trust=[legal.signing_pub]))
    assert [e["role"] for e in shown.entries] == ["sealer", "outside", "custodian"]


def test_the_sealing_entry_must_be_signed_by_the_statement_signer(
    bundle: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    """A custody log swapped in whole, its sealing signed by someone else, is tampering."""
    first = json.loads((bundle / custody.CUSTODY_FILE).read_text().splitlines()[0])
    (bundle / custody.CUSTODY_FILE).unlink()
    mallory = local_signer(generate(tmp_path / "mallory").signing_key)
    custody.record(bundle, "sealed", mallory, who="mallory", details=first["details"])
    checked = verify(VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub]))
    problems = checks_of(checked)["chain of custody"].problems
    assert checked.failed == ["chain of custody"]
    assert any("not by the statement's signer" in p for p in problems)


# -- no check is silently skipped --------------------------------------------------------------
def test_a_missing_previous_bundle_is_named_and_fails_unless_waived(
    evidence: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    first = seal_into(evidence, tmp_path / "chain" / "first", sealer)
    envelope_sha = hashlib.sha256((first / ENVELOPE).read_bytes()).hexdigest()
    first_id = json.loads(base64.b64decode(json.loads((first / ENVELOPE).read_text())["payload"]))[
        "predicate"
    ]["bundle"]["id"]
    first.rename(first.parent / first_id)  # a case keeps its bundles under their ids
    second = seal_into(
        evidence, tmp_path / "chain" / "second", sealer, PreviousBundle(first_id, envelope_sha)
    )
    anchor = {"pubkeys": [sealer.signing_pub]}
    assert checks_of(verify(VerifySettings(bundle=second, **anchor)))[LINK].ok is True
    alone = tmp_path / "alone" / second.name
    shutil.copytree(second, alone)
    checked = verify(VerifySettings(bundle=alone, **anchor))
    assert not checked.ok and checked.verdict == "incomplete" and checked.failed == []
    assert checked.headline.startswith("NOT VERIFIED") and first_id in checked.headline
    assert checked.not_checked == [
        {
            "check": LINK,
            "reason": checks_of(checked)[LINK].detail,
            "accept_with": "--no-previous-check",
        }
    ]
    with pytest.raises(StepFailed, match="not checked: link to the previous bundle"):
        checked.raise_if_failed()
    waived = verify(VerifySettings(bundle=alone, no_previous_check=True, **anchor))
    assert waived.ok and "not checked, by choice: link to the previous bundle" in waived.headline
    # A waiver never hides a failure: a previous bundle that is there but changed still fails.
    (first.parent / first_id / ENVELOPE).write_text("{}")
    changed = verify(VerifySettings(bundle=second, no_previous_check=True, **anchor))
    assert not changed.ok and changed.failed == [LINK]


def test_a_renamed_folder_is_noted_and_the_headline_names_the_signed_id(
    bundle: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    checked = verify(VerifySettings(bundle=bundle, pubkeys=[sealer.signing_pub]))
    assert checked.ok and checked.bundle_id is not None
    assert (
        checked.headline == f"VERIFIED: bundle {checked.bundle_id}, signed by a trusted sealer key"
    )
    assert checked.notes == [
        f"the folder is named 'b1'; the signed bundle id is {checked.bundle_id!r}"
    ]
    named = bundle.rename(bundle.parent / checked.bundle_id)
    assert verify(VerifySettings(bundle=named, pubkeys=[sealer.signing_pub])).notes == []


def test_a_dropped_custody_tail_is_caught_against_the_case_journal(
    sealer: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path
) -> None:
    from breach.case import Case
    from breach.procedure.bundle import CustodyRecordSettings, SealSettings, custody_record
    from breach.procedure.bundle import seal as seal_case

    Case.open("INC-2026-0009", "P2", "tail").stage_json("note.json", {"seen": True})
    sealing = {"recipients": [sealer.recipient], "signing_key": sealer.signing_key}
    bundle = seal_case(SealSettings(case="INC-2026-0009", **sealing)).bundle
    for event in ("transferred", "accessed"):
        custody_record(
            CustodyRecordSettings(bundle=bundle, event=event, signing_key=legal.signing_key)
        )
    trust = {"pubkeys": [sealer.signing_pub], "custody_trust": [legal.signing_pub]}
    mirror = "custody log against the case journal"
    assert checks_of(verify(VerifySettings(bundle=bundle, **trust)))[mirror].ok is True
    log = bundle / custody.CUSTODY_FILE
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))  # the last entry dropped: the log alone still holds
    assert checks_of(verify_bundle(bundle, load_trusted(**trust_args(trust))))[
        "chain of custody"
    ].ok
    checked = verify(VerifySettings(bundle=bundle, **trust))
    assert checked.failed == [mirror]
    assert checks_of(checked)[mirror].problems == ["entry 3 (accessed) is missing from the log"]
    with pytest.raises(StepFailed, match=f"failed: {mirror}"):
        decrypt(
            DecryptSettings(
                bundle=bundle,
                identity=sealer.age_identity,
                out=tmp_path / "plain",
                reason="r",
                signing_key=legal.signing_key,
                **trust,
            )
        )
    assert not (tmp_path / "plain").exists()


def trust_args(trust: dict[str, Any]) -> dict[str, Any]:
    return {"pubkeys": trust["pubkeys"], "trust_dirs": [], "custodians": trust["custody_trust"]}
