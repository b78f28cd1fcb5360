"""Bad input: one clear line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from core.errors import BadInput
from manifests.keys import GeneratedKeys, load_identities, load_recipients, load_signing_key
from manifests.seal import SealOptions, seal
from manifests.signing import Ed25519Signer
from manifests.staging import StagedArtifact


def test_public_key_where_a_private_one_is_expected(keys: GeneratedKeys) -> None:
    with pytest.raises(BadInput, match="not a PEM private key"):
        load_signing_key(keys.signing_pub)
    with pytest.raises(BadInput, match="holds no age identity"):
        load_identities(keys.age_recipient)
    with pytest.raises(BadInput, match="no file of that name exists"):
        load_recipients(["/no/such/recipients.txt"])


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", ""])
def test_artifact_names_that_escape_are_refused_when_sealing(
    name: str, keys: GeneratedKeys, tmp_path: Path
) -> None:
    source = tmp_path / "f.txt"
    source.write_text("x")
    options = SealOptions(
        incident_id="I",
        recipients=load_recipients([keys.recipient]),
        recipient_names=[keys.recipient],
        signer=Ed25519Signer(load_signing_key(keys.signing_key)),
        operator="t",
        tool_version="0",
    )
    with pytest.raises(BadInput, match="unsafe artifact name"):
        seal(
            [StagedArtifact(PurePosixPath(name) if name else PurePosixPath("."), source)],
            tmp_path / "out",
            options,
        )
    assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out*")) == []
