"""Decrypt is all or nothing (issue 9): the plaintext appears in --out whole or not at all, an
existing file is never overwritten or deleted, any failure removes everything the run wrote, and
the custody entry is recorded when, and only when, the plaintext is released."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import BadInput, StepFailed
from manifests.decrypt import DecryptedArtifact, decrypt_bundle
from manifests.keys import GeneratedKeys, load_identities


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root with the sha256 of its content ('dir' for a folder)."""
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def _forge(bundle: Path, keys: GeneratedKeys, payload: str, plaintext: bytes) -> None:
    """Replace a payload by another file encrypted to the same recipient: it decrypts, but its
    plaintext differs from the signed sha256."""
    import pyrage

    recipient = pyrage.x25519.Recipient.from_str(keys.recipient)
    (bundle / payload).write_bytes(pyrage.encrypt(plaintext, [recipient]))


# -- library: a failure midway leaves nothing ----------------------------------------------
def test_a_tampered_second_file_leaves_nothing(
    fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    """dump.bin decrypts and matches first; logs/access.log, the second, does not: the run
    fails and dump.bin is not released either, nor is any temporary folder left."""
    bundle = fresh_copy()
    _forge(bundle, keys, "data/logs/access.log.age", b"10.6.6.6 GET /forged 200\n")
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(work)
    with pytest.raises(StepFailed, match=r"^decrypted content does not match.*logs/access.log"):
        decrypt_bundle(bundle, load_identities(keys.age_identity), work / "a" / "b" / "plain")
    assert snapshot(work) == before  # not `plain`, not its parents a/b, no `.plain.decrypting-*`


def test_a_corrupt_age_chunk_midway_leaves_nothing(
    fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    bundle = fresh_copy()
    payload = bundle / "data" / "users.csv.age"  # the last artifact: the others were written
    data = bytearray(payload.read_bytes())
    data[-20] ^= 0x01
    payload.write_bytes(bytes(data))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(StepFailed) as failed:
        decrypt_bundle(bundle, load_identities(keys.age_identity), work / "plain")
    assert failed.value.message == (
        "cannot decrypt data/users.csv.age: the ciphertext is damaged (decryption error)"
    )
    assert list(work.iterdir()) == []  # neither `plain` nor `.plain.decrypting-*`


def test_a_failed_release_takes_the_plaintext_back(
    bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    """The release hook records custody; when it fails, the plaintext is not left released
    without its entry."""
    out = tmp_path / "plain"
    out.mkdir()  # an empty folder the user made: still there, still empty, afterwards
    seen: list[list[DecryptedArtifact]] = []

    def release(done: list[DecryptedArtifact]) -> None:
        seen.append(done)
        assert all(d.path.is_file() for d in done)  # released: in `out`, complete
        raise StepFailed("custody log not writable")

    with pytest.raises(StepFailed, match="custody log not writable"):
        decrypt_bundle(bundle, load_identities(keys.age_identity), out, release=release)
    assert len(seen) == 1 and len(seen[0]) == 3
    assert out.is_dir() and list(out.iterdir()) == []


# -- existing files are never touched ------------------------------------------------------
def test_an_existing_folder_with_files_is_refused_and_untouched(
    bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    out.mkdir()
    (out / "users.csv").write_text("my own notes, not evidence\n")
    before = snapshot(tmp_path)
    with pytest.raises(BadInput, match=r"already exists and is not an empty folder") as refused:
        decrypt_bundle(bundle, load_identities(keys.age_identity), out)
    assert refused.value.field == "out"
    assert snapshot(tmp_path) == before


def test_an_existing_file_as_out_is_refused_and_untouched(
    bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    out.write_text("a file, not a folder\n")
    with pytest.raises(BadInput, match=r"already exists"):
        decrypt_bundle(bundle, load_identities(keys.age_identity), out)
    assert out.read_text() == "a file, not a folder\n"


def test_an_empty_out_folder_receives_the_plaintext(
    bundle: Path, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    out.mkdir()
    done = decrypt_bundle(bundle, load_identities(keys.age_identity), out)
    assert {d.path for d in done} == {out / "dump.bin", out / "logs/access.log", out / "users.csv"}
    for d in done:
        assert d.path.read_bytes() == (evidence / d.name).read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".plain")] == []


# -- through the command: custody only on release ------------------------------------------
def _decrypt(breach, bundle: Path, keys: GeneratedKeys, out: Path):  # type: ignore[no-untyped-def]
    return breach(
        "decrypt", bundle, "-i", keys.age_identity, "--out", out, "--reason", "review",
        "--signing-key", keys.signing_key, "--pubkey", keys.signing_pub,
    )  # fmt: skip


def test_out_inside_the_bundle_is_refused(breach, bundle: Path, keys: GeneratedKeys) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(bundle)
    result = _decrypt(breach, bundle, keys, bundle / "data" / "plain")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "is inside the bundle" in result.stderr
    assert "--out" in result.stderr
    assert snapshot(bundle) == before  # no plaintext in it, no custody entry


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: the 1 MiB dump.bin cannot fit, the small files can."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("the full-disk decrypt test needs root to mount a 256 KiB tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_midway_leaves_nothing_and_records_no_custody(  # type: ignore[no-untyped-def]
    breach, bundle: Path, keys: GeneratedKeys, tiny_disk: Path
) -> None:
    custody_before = (bundle / "custody.jsonl").read_bytes()
    result = _decrypt(breach, bundle, keys, tiny_disk / "plain")
    assert result.exit_code == 1 and "disk full" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert list(tiny_disk.iterdir()) == []  # neither `plain` nor a temporary folder
    assert (bundle / "custody.jsonl").read_bytes() == custody_before  # nothing was released


def test_custody_is_recorded_once_the_plaintext_is_released(  # type: ignore[no-untyped-def]
    breach, bundle: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:
    result = _decrypt(breach, bundle, keys, tmp_path / "plain")
    assert result.exit_code == 0, result.stderr
    events = breach("custody", "show", bundle, "--json").json
    assert [e["event"] for e in events] == ["sealed", "decrypted"]
    assert events[-1]["details"]["artifacts"] == 3
    assert events[-1]["details"]["out"] == str(tmp_path / "plain")
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == [
        "dump.bin",
        "logs",
        "users.csv",
    ]
