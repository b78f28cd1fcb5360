"""Bad input: one clear line, exit 2, nothing written."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from core.errors import BadInput
from manifests.decrypt import decrypt_bundle
from manifests.keys import GeneratedKeys, load_identities


def one_line_exit_2(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return str(result.stderr)


def test_missing_signing_key(breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    err = one_line_exit_2(
        breach(
            "seal",
            evidence,
            "--out",
            tmp_path / "b",
            "--incident",
            "I",
            "-r",
            keys.recipient,
            "--signing-key",
            tmp_path / "nope.pem",
        )
    )
    assert "signing key not found" in err and not (tmp_path / "b").exists()


def test_no_signer_and_no_recipient(
    breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert "no signer given" in one_line_exit_2(
        breach("seal", evidence, "--out", tmp_path / "b", "--incident", "I", "-r", keys.recipient)
    )
    assert "no recipient" in one_line_exit_2(
        breach(
            "seal",
            evidence,
            "--out",
            tmp_path / "b",
            "--incident",
            "I",
            "--signing-key",
            keys.signing_key,
        )
    )
    assert "not an age or SSH public key" in one_line_exit_2(
        breach(
            "seal",
            evidence,
            "--out",
            tmp_path / "b",
            "--incident",
            "I",
            "-r",
            "bogus",
            "--signing-key",
            keys.signing_key,
        )
    )
    assert not (tmp_path / "b").exists()


def test_empty_source_folder(breach, keys: GeneratedKeys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    err = one_line_exit_2(
        breach(
            "seal",
            tmp_path / "empty",
            "--out",
            tmp_path / "b",
            "--incident",
            "I",
            "-r",
            keys.recipient,
            "--signing-key",
            keys.signing_key,
        )
    )
    assert "nothing to seal" in err and not (tmp_path / "b").exists()
    assert list(tmp_path.glob(".b*")) == []


def test_sealing_over_an_existing_bundle_is_refused(
    breach, bundle: Path, evidence: Path, seal_args: list[str]
) -> None:  # type: ignore[no-untyped-def]
    before = (bundle / "statement.dsse.json").read_bytes()
    err = one_line_exit_2(breach("seal", evidence, "--out", bundle, "--incident", "I", *seal_args))
    assert "already exists" in err and (bundle / "statement.dsse.json").read_bytes() == before


def test_a_path_that_is_not_a_bundle(breach, keys: GeneratedKeys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "folder").mkdir()
    pinned = ("--pubkey", keys.signing_pub)
    assert "is not a bundle" in one_line_exit_2(breach("verify", tmp_path / "folder", *pinned))
    assert "is not a bundle" in one_line_exit_2(breach("verify", tmp_path / "missing", *pinned))
    assert "is not a bundle" in one_line_exit_2(
        breach(
            "decrypt",
            tmp_path / "folder",
            "-i",
            keys.age_identity,
            "--out",
            tmp_path / "o",
            "--signing-key",
            keys.signing_key,
            "--pubkey",
            keys.signing_pub,
        )
    )
    assert not (tmp_path / "o").exists()


def test_wrong_identity_cannot_decrypt(
    breach, bundle: Path, other_keys: GeneratedKeys, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    err = one_line_exit_2(
        breach(
            "decrypt",
            bundle,
            "-i",
            other_keys.age_identity,
            "--out",
            tmp_path / "o",
            "--signing-key",
            keys.signing_key,
            "--pubkey",
            keys.signing_pub,
        )
    )
    assert "cannot decrypt" in err
    assert not any(p.is_file() for p in (tmp_path / "o").rglob("*"))


def test_decrypt_needs_a_custody_signer(
    breach, bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The library speaks of the key, the CLI names its flag.
    assert "needs a signing key (hint: check --signing-key)" in one_line_exit_2(
        breach(
            "decrypt",
            bundle,
            "-i",
            keys.age_identity,
            "--out",
            tmp_path / "o",
            "--pubkey",
            keys.signing_pub,
        )
    )


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/escape.txt"])
def test_decrypt_never_writes_outside_the_folder(
    bundle: Path, keys: GeneratedKeys, tmp_path: Path, name: str
) -> None:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["artifacts"][0]["name"] = name
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (bundle / "statement.dsse.json").write_text(json.dumps(envelope))
    out = tmp_path / "out"
    with pytest.raises(BadInput, match=r"unsafe artifact name|outside"):
        decrypt_bundle(bundle, load_identities(keys.age_identity), out)
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/escape.txt").exists()


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 256 KiB tmpfs: a real full disk. Needs root (CI and this machine run as root)."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("full-disk test needs root to mount a 256 KiB tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_cleanly_and_leaves_nothing_half_written(
    breach, evidence: Path, seal_args: list[str], tiny_disk: Path
) -> None:  # type: ignore[no-untyped-def]
    result = breach("seal", evidence, "--out", tiny_disk / "bundle", "--incident", "I", *seal_args)
    assert result.exit_code == 1 and "disk full" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert list(tiny_disk.iterdir()) == []
    assert (evidence / "dump.bin").stat().st_size == 1 << 20  # the evidence itself is untouched
