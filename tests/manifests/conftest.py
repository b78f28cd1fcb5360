"""Keys, a sample evidence folder and a sealed bundle for the bundle tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from manifests.keys import GeneratedKeys, generate


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


@pytest.fixture
def other_keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "other-keys")


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    src = tmp_path / "evidence"
    (src / "logs").mkdir(parents=True)
    (src / "logs" / "access.log").write_text("10.0.0.1 GET /admin 200\n" * 100)
    (src / "users.csv").write_text("id,email\n1,a@example.com\n2,b@example.com\n")
    (src / "dump.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB, several age chunks
    return src


@pytest.fixture
def seal_args(keys: GeneratedKeys) -> list[str]:
    return ["-r", str(keys.age_recipient), "--signing-key", str(keys.signing_key)]


@pytest.fixture
def bundle(breach, evidence: Path, tmp_path: Path, seal_args: list[str]) -> Path:
    out = tmp_path / "bundles" / "b1"
    result = breach("seal", evidence, "--out", out, "--incident", "INC-1", *seal_args)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def fresh_copy(bundle: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory of pristine copies of the sealed bundle to tamper with."""
    count = iter(range(1000))

    def make() -> Path:
        target = tmp_path / "copies" / f"c{next(count)}"
        shutil.copytree(bundle, target)
        return target

    return make
