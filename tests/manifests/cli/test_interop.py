"""A bundle verifies and decrypts with stock tools alone: sha256sum, openssl, age."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from manifests.dsse import pae
from manifests.keys import GeneratedKeys
from tests.manifests.test_interop import need

pytestmark = pytest.mark.interop


def rebuild_pae(bundle: Path, tmp_path: Path) -> tuple[Path, Path]:
    """What VERIFY.md tells a person to do with jq and base64: PAE and signature files."""
    env = json.loads((bundle / "statement.dsse.json").read_text())
    body = base64.b64decode(env["payload"])
    pae_file, sig_file = tmp_path / "pae.bin", tmp_path / "sig.bin"
    pae_file.write_bytes(pae(env["payloadType"], body))
    sig_file.write_bytes(base64.b64decode(env["signatures"][0]["sig"]))
    return pae_file, sig_file


def test_sha256sum_checks_both_manifests(bundle: Path) -> None:
    need("sha256sum")
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        run = subprocess.run(
            ["sha256sum", "-c", manifest], cwd=bundle, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stdout + run.stderr
    (bundle / "data/users.csv.age").write_bytes(b"changed")
    run = subprocess.run(
        ["sha256sum", "-c", "manifest-sha256.txt"], cwd=bundle, capture_output=True, text=True
    )
    assert run.returncode == 1 and "data/users.csv.age: FAILED" in run.stdout


def test_openssl_verifies_the_ed25519_signature_over_the_pae(bundle: Path, tmp_path: Path) -> None:
    need("openssl")
    pae_file, sig_file = rebuild_pae(bundle, tmp_path)
    cmd = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(bundle / "signer.pub.pem"),
        "-rawin",
        "-in",
        str(pae_file),
        "-sigfile",
        str(sig_file),
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout
    pae_file.write_bytes(pae_file.read_bytes().replace(b"INC-1", b"INC-2"))
    assert subprocess.run(cmd, capture_output=True).returncode != 0


def test_keyid_is_the_sha256_of_the_spki_der(bundle: Path, keys: GeneratedKeys) -> None:
    need("openssl")
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(bundle / "signer.pub.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    import hashlib

    env = json.loads((bundle / "statement.dsse.json").read_text())
    assert env["signatures"][0]["keyid"] == hashlib.sha256(der).hexdigest() == keys.signing_keyid


def test_verify_md_script_runs_with_stock_tools(bundle: Path, tmp_path: Path) -> None:
    """The commands of VERIFY.md sections 1, 3 and 4, run as written."""
    for tool in ("jq", "openssl", "sha256sum", "base64"):
        need(tool)
    text = (bundle / "VERIFY.md").read_text()
    blocks = text.split("```sh\n")[1:]
    script = "set -e\n" + "\n".join(b.split("```")[0] for b in (blocks[0], blocks[2], blocks[3]))
    script = script.replace("/tmp/", f"{tmp_path}/")
    run = subprocess.run(["bash", "-c", script], cwd=bundle, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Signature Verified Successfully" in run.stdout
    assert (
        "no extra or missing payload" in run.stdout and "statement matches manifest" in run.stdout
    )


def test_age_cli_decrypts_breachkit_output(
    bundle: Path, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    age = need("age")
    out = tmp_path / "dump.bin"
    subprocess.run(
        [
            age,
            "-d",
            "-i",
            str(keys.age_identity),
            "-o",
            str(out),
            str(bundle / "data/dump.bin.age"),
        ],
        check=True,
    )
    assert out.read_bytes() == (evidence / "dump.bin").read_bytes()


def test_age_keygen_identity_works_as_a_recipient(
    breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    keygen = need("age-keygen")
    identity = tmp_path / "legal.key"
    subprocess.run([keygen, "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        [keygen, "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    out = tmp_path / "b"
    assert (
        breach(
            "seal",
            evidence,
            "--out",
            out,
            "--incident",
            "I",
            "-r",
            recipient,
            "--signing-key",
            keys.signing_key,
        ).exit_code
        == 0
    )
    result = breach(
        "decrypt", out, "-i", identity, "--out", tmp_path / "p", "--signing-key", keys.signing_key,
        "--pubkey", keys.signing_pub,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "p" / "users.csv").read_bytes() == (evidence / "users.csv").read_bytes()
