"""A bundle verifies and decrypts with stock tools alone: sha256sum, openssl, age."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from manifests.keys import GeneratedKeys

pytestmark = pytest.mark.interop


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool}); .ci/run installs it")
    return path


def test_breachkit_decrypts_age_cli_output(keys: GeneratedKeys, tmp_path: Path) -> None:
    age = need("age")
    from manifests.keys import load_identities
    from manifests.stream import decrypt

    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"evidence from a third party\n" * 5000)
    encrypted = tmp_path / "plain.bin.age"
    subprocess.run([age, "-r", keys.recipient, "-o", str(encrypted), str(plain)], check=True)
    target = tmp_path / "out.bin"
    with open(encrypted, "rb") as src, open(target, "wb") as dst:
        digest, size = decrypt(src, dst, load_identities(keys.age_identity), name="plain.bin.age")
    assert target.read_bytes() == plain.read_bytes()
    import hashlib

    assert (digest, size) == (hashlib.sha256(plain.read_bytes()).hexdigest(), plain.stat().st_size)
