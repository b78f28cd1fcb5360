"""Decrypt a bundle's artifacts, checking each plaintext against the signed statement.

All or nothing: every artifact is decrypted into a fresh folder beside `out`, checked, and only
then renamed to `out` (which must not exist, or be an empty folder). Any failure, up to and
including the caller's release hook (the custody entry), removes everything this run wrote;
an existing file is never overwritten or deleted.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput, StepFailed
from core.fsio import atomic_open, disk_errors, fsync_dir, resolve_inside
from core.untrusted import LARGE, loads, open_regular, read_regular
from manifests import dsse
from manifests.keys import Identity
from manifests.seal import ENVELOPE
from manifests.stream import decrypt


@dataclass(frozen=True)
class DecryptedArtifact:
    name: str
    path: Path
    sha256: str
    size: int


Release = Callable[[list[DecryptedArtifact]], None]


def signed_artifacts(bag: Path) -> list[dict[str, Any]]:
    """The artifact records of the bundle's statement (verify the bundle first to trust them)."""
    try:
        data = read_regular(bag, ENVELOPE, LARGE)
    except FileNotFoundError:
        raise BadInput(f"{bag} is not a bundle (no {ENVELOPE})") from None
    _, payload, _ = dsse.parse(data, source=ENVELOPE)
    try:
        artifacts = loads(payload, what="the signed statement")["predicate"]["artifacts"]
    except (KeyError, TypeError):
        raise BadInput(f"{bag / ENVELOPE}: the statement has no artifact list") from None
    if not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts):
        raise BadInput(f"{bag / ENVELOPE}: the statement's artifact list is malformed")
    return artifacts


def decrypt_bundle(
    bag: Path, identities: list[Identity], out: Path, *, release: Release | None = None
) -> list[DecryptedArtifact]:
    """Decrypt every artifact into `out`, never outside it, all or nothing.

    A plaintext that differs from its signed sha256 fails the whole run. `release` is called
    once the plaintext is in `out` (to record custody); if it fails, `out` is removed again."""
    artifacts = signed_artifacts(bag)
    if out.resolve().is_relative_to(bag.resolve()):
        raise BadInput(f"the plaintext folder {out} is inside the bundle", field="out")
    was_empty_folder = _fresh_target(out)
    created = _missing_parents(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.decrypting-{secrets.token_hex(4)}"
    try:
        with disk_errors(out):
            work.mkdir(mode=0o700)
            done = _decrypt_all(bag, artifacts, identities, work, out)
            os.rename(work, out)  # onto an empty folder at most: never a file of the user's
            fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _remove_folders(created)
        raise
    try:
        if release is not None:
            release(done)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        if was_empty_folder:
            out.mkdir()
        _remove_folders(created)
        raise
    return done


def _fresh_target(out: Path) -> bool:
    """`out` must not exist, or be an empty folder (True then): nothing of the user's is lost."""
    if not os.path.lexists(out):
        return False
    if out.is_symlink() or not out.is_dir() or any(out.iterdir()):
        raise BadInput(
            f"{out} already exists and is not an empty folder; nothing is ever overwritten",
            hint="decrypt into a new folder",
            field="out",
        )
    return True


def _missing_parents(out: Path) -> list[Path]:
    """The folders above `out` that do not exist yet, deepest first (removed on failure)."""
    missing = []
    for parent in out.absolute().parents:
        if os.path.lexists(parent):
            break
        missing.append(parent)
    return missing


def _remove_folders(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _decrypt_all(
    bag: Path, artifacts: list[dict[str, Any]], identities: list[Identity], work: Path, out: Path
) -> list[DecryptedArtifact]:
    done: list[DecryptedArtifact] = []
    mismatches: list[str] = []
    targets = [resolve_inside(work, str(a.get("name"))) for a in artifacts]
    if len(set(targets)) != len(targets):
        raise StepFailed("the signed statement lists one artifact name twice; refusing to decrypt")
    for artifact, target in zip(artifacts, targets, strict=True):
        sha, size = _decrypt_one(bag, artifact, identities, target)
        expected = (artifact.get("plaintext") or {}).get("sha256")
        if sha != expected:
            mismatches.append(
                f"{artifact['name']}: plaintext sha256 {sha[:16]}… differs from the signed {str(expected)[:16]}…"
            )
            continue
        final = out / target.relative_to(work.resolve())
        done.append(DecryptedArtifact(str(artifact["name"]), final, sha, size))
    if mismatches:
        raise StepFailed(
            "decrypted content does not match the signed statement: " + "; ".join(mismatches)
        )
    return done


def _decrypt_one(
    bag: Path, artifact: dict[str, Any], identities: list[Identity], target: Path
) -> tuple[str, int]:
    payload = str(artifact.get("payload"))
    try:
        src = open_regular(bag, payload)
    except FileNotFoundError:
        raise BadInput(f"payload {payload} is missing from the bundle") from None
    with src, atomic_open(target, "wb", perms=0o600) as dst:
        return decrypt(src, dst, identities, name=payload)
