"""The bundle steps called as a library (breach.procedure.bundle), as a playbook would call them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from breach.case import Case
from breach.procedure.bundle import (
    RECORDABLE_EVENTS,
    CustodyRecordSettings,
    CustodyShowSettings,
    DecryptSettings,
    SealSettings,
    VerifySettings,
    custody_record,
    custody_show,
    decrypt,
    passphrase_needed,
    seal,
    verify,
)
from core.aws import AwsCallFailed
from core.errors import BadInput, StepFailed
from manifests import CUSTODY_EVENTS
from manifests.keys import GeneratedKeys, generate
from tests.manifests.conftest import SignerRole


def statement_of(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


def seal_folder(evidence: Path, out: Path, keys: GeneratedKeys) -> Path:
    settings = SealSettings(
        source=evidence,
        out=out,
        incident="INC-1",
        recipients=[keys.recipient],
        signing_key=keys.signing_key,
    )
    return seal(settings).bundle


def tamper(bundle: Path) -> None:
    """One byte of one encrypted artifact changes; the custody log stays intact."""
    payload = bundle / "data" / "users.csv.age"
    data = bytearray(payload.read_bytes())
    data[-5] ^= 0xFF
    payload.write_bytes(bytes(data))


@pytest.fixture
def sealed(evidence: Path, keys: GeneratedKeys, tmp_path: Path) -> Path:
    return seal_folder(evidence, tmp_path / "bundles" / "b1", keys)


def test_sealing_a_case_twice_chains_the_second_bundle_to_the_first(
    keys: GeneratedKeys, tmp_path: Path
) -> None:
    case = Case.open("INC-S", "P1", "exfiltration")
    case.stage_json("scope.json", {"users": 3})
    settings = SealSettings(case="INC-S", recipients=[keys.recipient], signing_key=keys.signing_key)
    progress: list[int] = []
    first = seal(settings, progress=progress.append)
    assert progress and sum(progress) == first.plaintext_bytes
    staged_size = (case.staging / "scope.json").stat().st_size
    assert first.artifacts[0]["plaintext"]["size"] == staged_size
    assert first.bundle == case.bundles / first.id and first.bundle.is_dir()
    assert statement_of(first.bundle)["predicate"]["bundle"]["previous"] is None
    assert statement_of(first.bundle)["predicate"]["bundle"]["incident"] == {
        "id": "INC-S",
        "severity": "P1",
    }

    with pytest.raises(BadInput, match="nothing new to seal"):
        seal(settings)

    case.stage_json("receipts/revoke.json", {"revoked": 3})
    second = seal(settings)
    chained = statement_of(second.bundle)["predicate"]
    # The case record (journal, case.json) travels with every seal of the case.
    assert [a["name"] for a in chained["artifacts"]] == [
        "receipts/revoke.json",
        "case/journal.jsonl",
        "case/case.json",
    ]
    assert chained["bundle"]["previous"] == {
        "id": first.id,
        "envelope_sha256": first.envelope_sha256,
    }
    reloaded = Case.load("INC-S")
    assert reloaded.record.last_bundle == {
        "id": second.id,
        "envelope_sha256": second.envelope_sha256,
    }
    assert set(reloaded.record.sealed) == {"scope.json", "receipts/revoke.json"}
    seals = [e for e in reloaded.timeline() if e["what"] == "evidence.seal"]
    assert [e["details"]["previous"] for e in seals] == [None, first.id]
    assert reloaded.verify_journal() == []

    checked = verify(VerifySettings(bundle=second.bundle, pubkeys=[keys.signing_pub]))
    link = {c.name: c for c in checked.checks}["link to the previous bundle"]
    assert checked.ok and link.ok is True and first.id in link.detail


def test_a_tampered_bundle_fails_verification_as_a_result_not_an_error(
    sealed: Path, keys: GeneratedKeys
) -> None:
    clean = verify(VerifySettings(bundle=sealed, pubkeys=[keys.signing_pub]))
    assert clean.ok and clean.failed == [] and clean.custody is None
    clean.raise_if_failed()

    tamper(sealed)
    result = verify(VerifySettings(bundle=sealed, pubkeys=[keys.signing_pub]))
    assert result.ok is False
    assert result.failed == ["evidence files (payload manifest)"]
    payload = {c.name: c for c in result.checks}["evidence files (payload manifest)"]
    assert payload.problems and "data/users.csv.age: content changed" in payload.problems[0]
    with pytest.raises(StepFailed, match=r"NOT VERIFIED: bundle .*: failed: evidence files"):
        result.raise_if_failed()
    # Nothing was recorded: verifying without `record` only reads.
    assert [e["event"] for e in custody_show(CustodyShowSettings(bundle=sealed)).entries] == [
        "sealed"
    ]


def test_decrypt_refuses_a_bundle_that_fails_verification(
    sealed: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    tamper(sealed)
    settings = DecryptSettings(
        bundle=sealed,
        identity=keys.age_identity,
        out=tmp_path / "plain",
        signing_key=keys.signing_key,
        pubkeys=[keys.signing_pub],
    )
    with pytest.raises(StepFailed, match=r"refusing to decrypt.*evidence files"):
        decrypt(settings)
    assert not (tmp_path / "plain").exists()
    assert [e["event"] for e in custody_show(CustodyShowSettings(bundle=sealed)).entries] == [
        "sealed"
    ]


def test_decrypt_checks_each_file_and_records_the_custody_event(
    sealed: Path, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    done = decrypt(
        DecryptSettings(
            bundle=sealed,
            identity=keys.age_identity,
            out=out,
            reason="regulator request",
            signing_key=keys.signing_key,
            pubkeys=[keys.signing_pub],
        )
    )
    assert sorted(a.name for a in done.artifacts) == ["dump.bin", "logs/access.log", "users.csv"]
    for artifact in done.artifacts:
        assert artifact.path.read_bytes() == (evidence / artifact.name).read_bytes()
    assert done.custody.event == "decrypted" and done.custody.why == "regulator request"
    assert done.custody.details == {"artifacts": 3, "out": str(out), "verification": "verified"}
    last = custody_show(CustodyShowSettings(bundle=sealed)).entries[-1]
    assert last == {**done.custody.model_dump(mode="json", exclude_none=True), "role": "outside"}
    # The entry is signed into the chain: the bundle still verifies with it, its key trusted
    # as a custodian's (here the sealer's own key, given in both roles).
    both = {"pubkeys": [keys.signing_pub], "custody_trust": [keys.signing_pub]}
    assert verify(VerifySettings(bundle=sealed, **both)).ok


def test_verify_record_writes_the_real_outcome(sealed: Path, keys: GeneratedKeys) -> None:
    def verify_and_record() -> str | None:
        result = verify(
            VerifySettings(
                bundle=sealed, pubkeys=[keys.signing_pub], record=True, signing_key=keys.signing_key
            )
        )
        assert result.custody is not None and result.custody.event == "verified"
        return result.custody.why

    assert verify_and_record() == "verification passed"
    tamper(sealed)
    assert verify_and_record() == "verification failed"
    logged = custody_show(CustodyShowSettings(bundle=sealed)).entries
    assert [(e["event"], e.get("why")) for e in logged] == [
        ("sealed", None),
        ("verified", "verification passed"),
        ("verified", "verification failed"),
    ]


def test_custody_record_is_signed_chained_and_mirrored_in_the_case_journal(
    keys: GeneratedKeys,
) -> None:
    case = Case.open("INC-C", "P2", "t")
    case.stage_json("note.json", {"seen": True})
    bundle = seal(
        SealSettings(case="INC-C", recipients=[keys.recipient], signing_key=keys.signing_key)
    ).bundle
    entry = custody_record(
        CustodyRecordSettings(
            bundle=bundle,
            event="transferred",
            to="outside counsel",
            why="litigation hold",
            signing_key=keys.signing_key,
        )
    )
    assert (entry.seq, entry.event, entry.details) == (1, "transferred", {"to": "outside counsel"})
    assert entry.who == "tester@breachkit" and entry.signature["alg"] == "ed25519"
    journaled = Case.load("INC-C").timeline()[-1]
    assert journaled["what"] == "custody.transferred" and journaled["why"] == "litigation hold"
    assert journaled["details"] == {
        "bundle": bundle.name,
        "custody_seq": 1,
        "to": "outside counsel",
    }
    both = {"pubkeys": [keys.signing_pub], "custody_trust": [keys.signing_pub]}
    assert verify(VerifySettings(bundle=bundle, **both)).ok


def test_input_checks_live_in_the_library(
    sealed: Path, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    base: dict[str, Any] = {"recipients": [keys.recipient], "signing_key": keys.signing_key}
    with pytest.raises(BadInput, match="either a case or a source folder") as neither:
        seal(SealSettings(**base))
    assert neither.value.field == "case"
    with pytest.raises(BadInput, match="either a case or a source folder"):
        seal(SealSettings(case="INC-X", source=evidence, **base))
    with pytest.raises(BadInput, match="bundle folder") as no_out:
        seal(SealSettings(source=evidence, incident="I", **base))
    assert no_out.value.field == "out"
    with pytest.raises(BadInput, match="incident id") as no_incident:
        seal(SealSettings(source=evidence, out=tmp_path / "o", **base))
    assert no_incident.value.field == "incident"
    with pytest.raises(BadInput, match="not both") as both:
        seal(SealSettings(source=evidence, out=tmp_path / "o", incident="I", kms_key="k", **base))
    assert both.value.field == "kms_key"
    with pytest.raises(BadInput, match="no signer given") as none:
        seal(
            SealSettings(
                source=evidence, out=tmp_path / "o", incident="I", recipients=[keys.recipient]
            )
        )
    assert none.value.field == "signing_key"
    assert not (tmp_path / "o").exists()

    with pytest.raises(BadInput, match="needs a signing key") as unsigned:
        decrypt(
            DecryptSettings(
                bundle=sealed,
                identity=keys.age_identity,
                out=tmp_path / "p",
                pubkeys=[keys.signing_pub],
            )
        )
    assert unsigned.value.field == "signing_key" and not (tmp_path / "p").exists()
    with pytest.raises(BadInput, match="needs a signing key"):
        verify(VerifySettings(bundle=sealed, record=True, pubkeys=[keys.signing_pub]))
    with pytest.raises(BadInput, match="needs a signing key"):
        custody_record(CustodyRecordSettings(bundle=sealed, event="stored"))
    with pytest.raises(BadInput, match="is not a bundle"):
        custody_record(
            CustodyRecordSettings(bundle=evidence, event="stored", signing_key=keys.signing_key)
        )
    assert not (evidence / "custody.jsonl").exists()
    with pytest.raises(BadInput, match="is not a bundle"):
        custody_show(CustodyShowSettings(bundle=evidence))
    assert [e["event"] for e in custody_show(CustodyShowSettings(bundle=sealed)).entries] == [
        "sealed"
    ]

    # Settings refuse what no step knows, as a playbook's YAML would be refused.
    with pytest.raises(ValidationError):
        SealSettings.model_validate({"case": "INC-X", "recipient": ["age1..."]})
    with pytest.raises(ValidationError):
        CustodyRecordSettings.model_validate({"bundle": sealed, "event": "sealed"})
    assert set(RECORDABLE_EVENTS) == set(CUSTODY_EVENTS) - {"sealed"}


def test_an_encrypted_key_takes_its_passphrase_from_settings_or_the_environment(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BREACH_KEY_PASSPHRASE", raising=False)
    made = generate(tmp_path / "locked", passphrase="correct horse")
    assert passphrase_needed(made.signing_key) and not passphrase_needed(None)

    def seal_to(out: str, passphrase: str | None = None) -> Path:
        return seal(
            SealSettings(
                source=evidence,
                out=tmp_path / out,
                incident="I",
                recipients=[made.recipient],
                signing_key=made.signing_key,
                passphrase=SecretStr(passphrase) if passphrase is not None else None,
            )
        ).bundle

    with pytest.raises(BadInput, match="is encrypted"):
        seal_to("none")
    with pytest.raises(BadInput, match="wrong passphrase"):
        seal_to("wrong", "battery staple")
    assert seal_to("given", "correct horse").is_dir()
    monkeypatch.setenv("BREACH_KEY_PASSPHRASE", "correct horse")
    assert not passphrase_needed(made.signing_key)
    assert seal_to("from-env").is_dir()
    assert not (tmp_path / "none").exists() and not (tmp_path / "wrong").exists()


def test_kms_signing_goes_through_the_role_of_the_settings(
    signer_role: SignerRole, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    def settings(out: str, role_arn: str | None) -> SealSettings:
        return SealSettings(
            source=evidence,
            out=tmp_path / out,
            incident="INC-R",
            recipients=[keys.recipient],
            kms_key=signer_role.key_arn,
            region="us-east-1",
            role_arn=role_arn,
        )

    signer_role.act_as("responder")
    with pytest.raises(StepFailed, match="KMS: AccessDenied"):
        seal(settings("direct", None))
    sealed = seal(settings("assumed", signer_role.role_arn))
    assert (sealed.bundle / "signer.pub.pem").read_bytes() == signer_role.public_pem
    signer_role.act_as("outsider")
    with pytest.raises(AwsCallFailed, match="AssumeRole") as refused:
        seal(settings("refused", signer_role.role_arn))
    assert refused.value.code == "AccessDenied"
    assert not (tmp_path / "direct").exists() and not (tmp_path / "refused").exists()
