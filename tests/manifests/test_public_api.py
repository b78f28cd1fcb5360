"""manifests' public surface, and what verifying and `breach verify --help` load."""

from __future__ import annotations

import subprocess
import sys

import manifests


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running `code` in a fresh interpreter."""
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_every_public_name_resolves_to_the_real_object() -> None:
    from manifests import custody, keys, seal, verify

    assert manifests.seal_bundle is seal.seal
    assert manifests.verify_bundle is verify.verify_bundle
    assert manifests.record_custody is custody.record
    assert manifests.generate_keys is keys.generate
    assert manifests.CUSTODY_EVENTS == custody.EVENTS
    for name in manifests.__all__:
        assert getattr(manifests, name) is not None, name
    assert set(manifests.__all__) <= set(dir(manifests))


def test_verifying_loads_neither_pydantic_nor_boto3() -> None:
    loaded = loaded_after(
        "import manifests\n"
        "manifests.verify_bundle, manifests.decrypt_bundle, manifests.custody_entries\n"
        "manifests.load_trusted, manifests.local_signer, manifests.seal_bundle"
    )
    assert "manifests" in loaded and "cryptography" in loaded
    assert not loaded & {"pydantic", "boto3", "botocore", "breach"}, loaded


def test_importing_the_bundle_commands_loads_nothing_heavy() -> None:
    loaded = loaded_after("import breach.commands.bundle")
    heavy = {"pydantic", "boto3", "botocore", "cryptography", "pyrage", "manifests"}
    assert not loaded & heavy, loaded & heavy
