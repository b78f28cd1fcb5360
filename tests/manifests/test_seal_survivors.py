"""Survivors of `make mutate` on manifests/seal.py, killed (issue 16; docs/mutation.md lists the
equivalent ones left). What a seal writes is read back field by field: a statement, a bag-info
or a custody entry with one field dropped or altered still verifies, so only an exact reading
catches it."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from core import faults
from core.errors import BadInput, StepFailed
from core.timeutil import rfc3339, utcnow
from manifests import chain, custody, stream
from manifests.keys import GeneratedKeys, keyid, load_recipients
from manifests.seal import TAG_FILES, PreviousBundle, SealOptions, new_bundle_id, seal
from manifests.signing import local_signer
from manifests.staging import StagedArtifact


def _options(keys: GeneratedKeys, **extra: Any) -> SealOptions:
    return SealOptions(
        incident_id="INC-S",
        recipients=load_recipients([keys.recipient]),
        recipient_names=[keys.recipient],
        signer=local_signer(keys.signing_key),
        operator="sealer@example",
        tool_version="9.9",
        **extra,
    )


def _artifacts(tmp_path: Path) -> list[StagedArtifact]:
    folder = tmp_path / "staged"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n")
    (folder / "b.bin").write_bytes(b"\x00" * 70000)
    return [
        StagedArtifact(
            PurePosixPath("a.csv"), folder / "a.csv", {"source": "db", "collector": "pg"}
        ),
        StagedArtifact(PurePosixPath("b.bin"), folder / "b.bin", {"other": 1}),
    ]


def _statement(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "statement.dsse.json").read_bytes())
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return statement


def test_new_bundle_ids_name_the_incident_the_utc_second_and_differ(tmp_path: Path) -> None:
    first, second = new_bundle_id("INC-9"), new_bundle_id("INC-9")
    assert re.fullmatch(r"INC-9-\d{8}T\d{6}Z-[0-9a-f]{4}", first), first
    assert first[6:14] == utcnow().strftime("%Y%m%d")
    assert len({first, second, *(new_bundle_id("INC-9") for _ in range(20))}) > 1  # random part


def test_the_signed_predicate_holds_every_field_given(keys: GeneratedKeys, tmp_path: Path) -> None:
    journal = {"seq": 4, "sha256": "ab" * 32}
    previous = PreviousBundle("INC-S-prev", "cd" * 32)
    before = rfc3339(utcnow())
    options = _options(keys, severity="high", previous=previous, bundle_id="B-1", journal=journal)
    sealed = seal(_artifacts(tmp_path), tmp_path / "deep" / "er" / "b", options)
    bundle = _statement(sealed.path)["predicate"]["bundle"]
    created = bundle.pop("created_at")
    assert before <= created <= rfc3339(utcnow())
    assert bundle == {
        "id": "B-1",
        "incident": {"id": "INC-S", "severity": "high"},
        "created_by": "sealer@example",
        "tool": {"name": "breachkit", "version": "9.9"},
        "recipients": [keys.recipient],
        "previous": {"id": "INC-S-prev", "envelope_sha256": "cd" * 32},
        "journal": journal,
    }
    assert sealed.id == "B-1"


def test_a_first_bundle_names_no_previous_and_no_journal(
    keys: GeneratedKeys, tmp_path: Path
) -> None:
    sealed = seal(_artifacts(tmp_path), tmp_path / "b", _options(keys))
    bundle = _statement(sealed.path)["predicate"]["bundle"]
    assert bundle["previous"] is None and "journal" not in bundle
    assert bundle["incident"] == {"id": "INC-S", "severity": None}
    assert re.fullmatch(r"INC-S-\d{8}T\d{6}Z-[0-9a-f]{4}", sealed.id)


def test_each_artifact_record_is_exact(keys: GeneratedKeys, tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    sealed = seal(artifacts, tmp_path / "b", _options(keys))
    records = _statement(sealed.path)["predicate"]["artifacts"]
    assert records == sealed.artifacts
    for record, artifact in zip(records, artifacts, strict=True):
        payload = sealed.path / record["payload"]
        plain = artifact.path.read_bytes()
        expected = {
            "name": str(artifact.name),
            "payload": f"data/{artifact.name}.age",
            "media_type": artifact.media_type,
            "encryption": "age-encryption.org/v1",
            "plaintext": {"sha256": hashlib.sha256(plain).hexdigest(), "size": len(plain)},
            "ciphertext": {
                "sha256": hashlib.sha256(payload.read_bytes()).hexdigest(),
                "size": payload.stat().st_size,
            },
        }
        expected.update(
            {k: artifact.meta[k] for k in ("source", "collector") if k in artifact.meta}
        )
        assert record == expected


def test_bag_info_tag_manifest_and_verify_md_are_exact(keys: GeneratedKeys, tmp_path: Path) -> None:
    sealed = seal(_artifacts(tmp_path), tmp_path / "b", _options(keys, bundle_id="B-2"))
    signer = local_signer(keys.signing_key)
    sizes = sum(r["ciphertext"]["size"] for r in sealed.artifacts)
    assert (sealed.path / "bag-info.txt").read_text() == (
        "Source-Organization: breachkit\n"
        "External-Identifier: B-2\n"
        f"Bagging-Date: {utcnow().date().isoformat()}\n"
        f"Payload-Oxum: {sizes}.2\n"
        "Contact-Name: sealer@example\n"
        "Internal-Sender-Description: Sealed evidence for incident INC-S\n"
        f"Breachkit-Signer-Keyid: {keyid(signer.public_key)}\n"
    )
    tags = {n: stream.sha256_file(sealed.path / n) for n in TAG_FILES}
    assert (sealed.path / "tagmanifest-sha256.txt").read_text() == "".join(
        f"{tags[n]}  {n}\n" for n in sorted(tags)
    )
    verify_md = (sealed.path / "VERIFY.md").read_text()
    assert verify_md.startswith("# Verifying evidence bundle B-2\n\nIncident: INC-S. ")
    assert f"`{keyid(signer.public_key)}`" in verify_md and "ed25519" in verify_md
    envelope = (sealed.path / "statement.dsse.json").read_bytes()
    assert envelope.endswith(b"}\n") and envelope.startswith(b'{\n  "')
    assert sealed.envelope_sha256 == hashlib.sha256(envelope).hexdigest()


def test_the_sealing_custody_entry_binds_the_bag_and_names_the_operator(
    keys: GeneratedKeys, tmp_path: Path
) -> None:
    sealed = seal(_artifacts(tmp_path), tmp_path / "b", _options(keys, bundle_id="B-3"))
    [entry] = chain.entries(sealed.path / custody.CUSTODY_FILE)
    assert (entry["event"], entry["who"]) == ("sealed", "sealer@example")
    assert entry["details"] == {
        "bundle": "B-3",
        "envelope_sha256": sealed.envelope_sha256,
        "tagmanifest_sha256": stream.sha256_file(sealed.path / "tagmanifest-sha256.txt"),
    }
    assert entry["signature"]["keyid"] == keyid(local_signer(keys.signing_key).public_key)


def test_progress_hears_the_total_then_each_artifact(keys: GeneratedKeys, tmp_path: Path) -> None:
    heard: list[tuple[str, int]] = []

    class Progress:
        def __call__(self, done: int) -> None:
            heard.append(("done", done))

        def expect(self, total: int) -> None:
            heard.append(("total", total))

    seal(_artifacts(tmp_path), tmp_path / "b", _options(keys, progress=Progress()))
    assert heard == [("total", 5 + 70000), ("done", 5), ("done", 70000)]


def test_refusals_are_named_exactly_and_leave_nothing(keys: GeneratedKeys, tmp_path: Path) -> None:
    with pytest.raises(BadInput) as raised:
        seal([], tmp_path / "b", _options(keys))
    assert (raised.value.message, raised.value.hint) == (
        "nothing to seal: no staged artifact",
        "stage evidence first",
    )
    (tmp_path / "taken").mkdir()
    with pytest.raises(BadInput) as raised:
        seal(_artifacts(tmp_path), tmp_path / "taken", _options(keys))
    assert raised.value.message == (
        f"{tmp_path / 'taken'} already exists; a sealed bundle is never overwritten"
    )
    unreadable = StagedArtifact(PurePosixPath("dir"), tmp_path / "staged")  # root reads any file
    with pytest.raises(BadInput) as raised:
        seal([unreadable], tmp_path / "c", _options(keys))
    assert raised.value.message == f"cannot read artifact {tmp_path / 'staged'}: Is a directory"
    source = tmp_path / "staged" / "a.csv"
    twins = [
        StagedArtifact(PurePosixPath("a+b"), source),
        StagedArtifact(PurePosixPath("a_b"), source),
    ]
    with pytest.raises(BadInput) as raised:
        seal(twins, tmp_path / "d", _options(keys))
    assert raised.value.message == "artifacts 'a+b' and a_b map to one payload name"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "staged", "taken"]


def test_an_artifact_two_folders_deep_gets_its_payload_folders(
    keys: GeneratedKeys, tmp_path: Path
) -> None:
    source = tmp_path / "c.txt"
    source.write_text("deep")
    staged = [StagedArtifact(PurePosixPath("a/b/c.txt"), source)]
    sealed = seal(staged, tmp_path / "b", _options(keys))
    assert (sealed.path / "data" / "a" / "b" / "c.txt.age").is_file()


def test_a_failed_rename_is_named_and_leaves_no_partial_bundle(
    keys: GeneratedKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "rename", disk_full)
    out = tmp_path / "bundles" / "b"
    with pytest.raises(StepFailed) as raised:
        seal(_artifacts(tmp_path), out, _options(keys))
    assert raised.value.message == f"disk full while writing {out}"
    assert list((tmp_path / "bundles").iterdir()) == []


def test_seal_passes_its_crash_points_in_order(
    keys: GeneratedKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash tests kill a seal at these names (core.faults): a renamed point would leave
    them killing nothing."""
    trace = tmp_path / "trace"
    monkeypatch.setenv("BREACH_FAULT_TRACE", str(trace))
    seal(_artifacts(tmp_path), tmp_path / "b", _options(keys))
    seal_points = [p for p in faults.moments(str(trace)) if p.startswith("seal.")]
    assert seal_points == [
        "seal.started#1",
        "seal.encrypted#1",
        "seal.encrypted#2",
        "seal.signed#1",
        "seal.built#1",
    ]


def test_the_signed_statement_is_indented_with_sorted_keys(
    keys: GeneratedKeys, tmp_path: Path
) -> None:
    """VERIFY.md has the reader decode the statement to look at it: it is indented and its
    keys sorted, so two seals of the same evidence differ only where their contents do."""
    sealed = seal(_artifacts(tmp_path), tmp_path / "b", _options(keys))
    envelope = json.loads((sealed.path / "statement.dsse.json").read_bytes())
    payload = base64.b64decode(envelope["payload"])
    assert payload == json.dumps(json.loads(payload), indent=2, sort_keys=True).encode()


def test_a_disk_full_while_encrypting_is_named_and_leaves_no_partial_bundle(
    keys: GeneratedKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stream, "encrypt", disk_full)
    out = tmp_path / "bundles" / "b"
    with pytest.raises(StepFailed) as raised:
        seal(_artifacts(tmp_path), out, _options(keys))
    assert raised.value.message == f"disk full while writing {out}"
    assert list((tmp_path / "bundles").iterdir()) == []
