"""`breach verify | decrypt | custody | bundle fetch`: the trust anchor and key roles, as a user
meets them (issue 9). The library side is tests/manifests/test_trust.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from manifests.keys import GeneratedKeys, generate


@pytest.fixture
def legal(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "legal", name="legal-signing")


def decrypt_as_legal(breach: Any, bundle: Path, keys: GeneratedKeys, legal: GeneratedKeys, out: Path) -> Any:  # fmt: skip
    return breach("decrypt", bundle, "-i", keys.age_identity, "--out", out, "--reason", "counsel review",
                  "--signing-key", legal.signing_key, "--pubkey", keys.signing_pub)  # fmt: skip


def test_no_anchor_is_refused_exit_2_naming_the_option_and_nothing_is_written(
    breach: Any, bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    log = (bundle / "custody.jsonl").read_bytes()
    verified = breach("verify", bundle)
    assert verified.exit_code == 2 and verified.stdout == ""
    [line] = verified.stderr.splitlines()
    assert "no trusted sealer key" in line and "--pubkey" in line and "--no-signer-check" in line
    out = tmp_path / "plain"
    opened = breach("decrypt", bundle, "-i", keys.age_identity, "--out", out, "--reason", "r",
                    "--signing-key", keys.signing_key)  # fmt: skip
    assert opened.exit_code == 2 and "--pubkey" in opened.stderr
    assert not out.exists() and (bundle / "custody.jsonl").read_bytes() == log
    # A custodian's key is no anchor for the statement: still refused.
    custodian = breach("verify", bundle, "--custody-trust", keys.signing_pub)
    assert custodian.exit_code == 2 and "--pubkey" in custodian.stderr
    # The sealer's key found in the bundle itself is no anchor either.
    inside = breach("verify", bundle, "--pubkey", bundle / "signer.pub.pem")
    assert inside.exit_code == 2 and "inside the bundle" in inside.stderr


def test_the_anchor_from_the_environment(
    breach: Any, bundle: Path, keys: GeneratedKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREACH_TRUST", str(keys.signing_pub.parent))
    done = breach("verify", bundle, "--json")
    assert done.exit_code == 0 and done.json["verdict"] == "verified"


def test_waiving_the_signer_check_says_so_first(
    breach: Any, bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    done = breach("verify", bundle, "--no-signer-check")
    assert done.exit_code == 0
    first = done.stdout.splitlines()[0]
    assert first.startswith("SIGNER NOT CHECKED: bundle INC-1-") and "VERIFIED" not in first
    data = breach("verify", bundle, "--no-signer-check", "--json").json
    assert data["signer_checked"] is False and data["verdict"] == "signer-not-checked"
    opened = breach("decrypt", bundle, "-i", keys.age_identity, "--out", tmp_path / "p",
                    "--reason", "triage", "--signing-key", keys.signing_key,
                    "--no-signer-check")  # fmt: skip
    assert opened.exit_code == 0 and opened.stdout.startswith("SIGNER NOT CHECKED")


def test_a_bundle_re_signed_by_another_key_is_not_verified(
    breach: Any, bundle: Path, evidence: Path, keys: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path
) -> None:  # fmt: skip
    forged = tmp_path / "forged"
    sealed = breach("seal", evidence, "--out", forged, "--incident", "INC-1",
                    "-r", keys.recipient, "--signing-key", legal.signing_key)  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    done = breach("verify", forged, "--pubkey", keys.signing_pub, "--custody-trust", legal.signing_pub)  # fmt: skip
    assert done.exit_code == 1 and done.stdout.startswith("NOT VERIFIED")
    assert "signer identity" in done.stdout.splitlines()[0]


def test_legal_annotated_bundle_verifies_with_the_sealer_key_alone(
    breach: Any, bundle: Path, keys: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path
) -> None:
    assert decrypt_as_legal(breach, bundle, keys, legal, tmp_path / "plain").exit_code == 0
    alone = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    checks = {c["name"]: c for c in alone.json["checks"]}
    assert [n for n, c in checks.items() if c["ok"] is False] == []  # no tampering
    assert checks["custody signers"]["ok"] is None
    assert legal.signing_keyid in checks["custody signers"]["detail"]
    # Not every check was made: exit 1, and the headline names what and how to accept it.
    assert alone.exit_code == 1 and alone.json["verdict"] == "incomplete"
    human = breach("verify", bundle, "--pubkey", keys.signing_pub)
    first = human.stdout.splitlines()[0]
    assert "not checked: custody signers" in first and "--no-custodian-check" in first
    vouched = breach("verify", bundle, "--pubkey", keys.signing_pub, "--custody-trust", legal.signing_pub)  # fmt: skip
    assert vouched.exit_code == 0 and vouched.stdout.startswith("VERIFIED: bundle INC-1-")
    waived = breach("verify", bundle, "--pubkey", keys.signing_pub, "--no-custodian-check")
    assert waived.exit_code == 0
    assert "not checked, by choice: custody signers" in waived.stdout.splitlines()[0]


def test_custody_show_and_record_name_each_key_and_its_role(
    breach: Any, bundle: Path, keys: GeneratedKeys, legal: GeneratedKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    stranger = generate(tmp_path / "stranger")
    recorded = breach("custody", "record", bundle, "--event", "transferred", "--to", "counsel",
                      "--signing-key", legal.signing_key)  # fmt: skip
    assert recorded.exit_code == 0 and legal.signing_keyid in recorded.stdout
    assert "--custody-trust" in recorded.stdout
    other = breach("custody", "record", bundle, "--event", "accessed", "--signing-key", stranger.signing_key)  # fmt: skip
    assert other.exit_code == 0
    monkeypatch.setenv("BREACH_CUSTODY_TRUST", str(legal.signing_pub))
    shown = breach("custody", "show", bundle, "--json").json
    assert [e["role"] for e in shown] == ["sealer", "custodian", "outside"]
    lines = breach("custody", "show", bundle).stdout.splitlines()
    assert f"[outside key {stranger.signing_keyid}]" in lines[2]
    # verify reads the same variable: legal's entry vouched for, the stranger's listed.
    done = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    signers = {c["name"]: c for c in done.json["checks"]}["custody signers"]
    assert signers["problems"] == [f"entry 3 (accessed by tester@breachkit) signed by key {stranger.signing_keyid}"]  # fmt: skip


def test_a_missing_previous_bundle_is_named_and_fails_unless_waived(
    breach: Any, keys: GeneratedKeys, tmp_path: Path
) -> None:
    assert breach("incident", "open", "--id", "INC-2026-0001", "--severity", "P2", "--title", "t").exit_code == 0  # fmt: skip
    case = tmp_path / "cases" / "INC-2026-0001"
    sealing = ["seal", "--case", "INC-2026-0001", "-r", keys.recipient, "--signing-key", keys.signing_key, "--json"]  # fmt: skip
    (case / "staging").mkdir(exist_ok=True)
    (case / "staging" / "one.txt").write_text("first")
    first = breach(*sealing).json["id"]
    (case / "staging" / "two.txt").write_text("second")
    second = Path(breach(*sealing).json["bundle"])
    alone = tmp_path / "legal" / second.name
    shutil.copytree(second, alone)
    done = breach("verify", alone, "--pubkey", keys.signing_pub)
    assert done.exit_code == 1
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith(f"NOT VERIFIED: bundle {second.name}: not checked: link to the previous bundle")  # fmt: skip
    assert first in first_line and "--no-previous-check" in first_line
    waived = breach("verify", alone, "--pubkey", keys.signing_pub, "--no-previous-check", "--json")  # fmt: skip
    assert waived.exit_code == 0
    assert waived.json["waived"] == [{"check": "link to the previous bundle", "waived_by": "--no-previous-check"}]  # fmt: skip
    assert breach("verify", second, "--pubkey", keys.signing_pub).exit_code == 0  # beside it


def test_a_renamed_folder_is_noted_without_failing(
    breach: Any, bundle: Path, keys: GeneratedKeys
) -> None:
    done = breach("verify", bundle, "--pubkey", keys.signing_pub)
    assert done.exit_code == 0
    headline, note = done.stdout.splitlines()[:2]
    bundle_id = headline.split("bundle ")[1].split(",")[0]
    assert headline.startswith("VERIFIED: bundle INC-1-")
    assert note == f"  note: the folder is named 'b1'; the signed bundle id is '{bundle_id}'"


def test_fetch_without_an_anchor_is_refused_before_the_store_is_touched(
    breach: Any, keys: GeneratedKeys, tmp_path: Path
) -> None:
    store = tmp_path / "locker"
    done = breach("bundle", "fetch", "INC-1-x", "--store", store, "--out", tmp_path / "o",
                  "--reason", "r", "--signing-key", keys.signing_key)  # fmt: skip
    assert done.exit_code == 2 and "--pubkey" in done.stderr
    assert not store.exists() and not (tmp_path / "o").exists()
