"""What an interrupted command left, finished or removed by the next command that takes the case
lock (breach.case.Case.load with write=True). Each thing done is one line on stderr (a warning
of the `breach.case` logger) and is journaled.

Before case.json is read:
- a torn last journal line is cut off and recorded (chain.repair; the bytes are kept, base64);
- a journal whose chain breaks elsewhere refuses the command (exit 1, naming the line);
- a committed entry whose renames did not all happen is finished (`roll_forward`), and
  .case.json.next becomes case.json when the newest committed case_sha256 is its hash, else
  it is removed (its entry was never written).

After:
- hidden leftovers (temporary files and partial folders) in staging/, bundles/, receipts/ and
  the case folder are removed: nothing hidden is evidence, and an entry naming one as a move's
  source has been finished above;
- a bundle in bundles/ that no journal entry records is recorded as the chain's head when it
  verifies and links to the recorded head, else moved to quarantine/ (each journaled).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import faults
from core.errors import BreachError, StepFailed
from core.fsio import fsync_dir, resolve_inside
from manifests import chain

if TYPE_CHECKING:
    from breach.case import Case

LOG = logging.getLogger("breach.case")
JOURNAL = Path("journal") / "journal.jsonl"
NEXT_CASE_FILE = ".case.json.next"
QUARANTINE = "quarantine"
HIDDEN_IN = ("staging", "bundles", "receipts")


def before_load(folder: Path) -> list[dict[str, Any]]:
    """Repair the journal's tail, refuse a broken chain, finish committed renames; returns the
    journal's entries."""
    from breach.case import repair_entry

    journal = folder / JOURNAL
    if not journal.exists():
        _settle_case_file(folder, None)
        return []
    removed = chain.repair(journal, repair_entry)
    if removed is not None:
        _say(folder, f"cut a torn last journal line ({len(removed)} bytes, kept in its entry)")
    entries, broken = chain.check(journal)
    if broken:
        raise StepFailed(
            f"{journal}: the chain breaks at line {broken[0].line} ({broken[0].message});"
            " refusing to change the case",
            hint="compare the journal with the heads signed in the case's bundles",
        )
    newest_case = None
    for entry in entries:
        commit = _commit_of(entry)
        for target in _finish_moves(folder, commit):
            _say(folder, f"finished committing {target} (journal entry {entry.get('seq')})")
        if isinstance(commit.get("case_sha256"), str):
            newest_case = commit["case_sha256"]
    if _settle_case_file(folder, newest_case):
        _say(folder, "brought case.json up to its last journal entry")
    return entries


def roll_forward(root: Path, entry: dict[str, Any]) -> list[str]:
    """Make a committed entry's change visible: its moves, then its case.json."""
    commit = _commit_of(entry)
    done = _finish_moves(root, commit)
    sha = commit.get("case_sha256")
    if isinstance(sha, str):
        _settle_case_file(root, sha)
    return done


def after_load(case: Case, entries: list[dict[str, Any]]) -> None:
    """Remove hidden leftovers; record or quarantine bundles no entry (of `entries`, the
    journal's as before_load read it) records."""
    removed = _remove_leftovers(case.root)
    if removed:
        case.journal(
            "case.cleanup",
            why="an interrupted command left files that were never committed",
            details={"removed": removed},
        )
    _settle_bundles(case, entries)


# -- commits ------------------------------------------------------------------------------------
def _commit_of(entry: dict[str, Any]) -> dict[str, Any]:
    commit = entry.get("commit")
    return commit if isinstance(commit, dict) else {}


def _finish_moves(root: Path, commit: dict[str, Any]) -> list[str]:
    done = []
    for move in commit.get("moves") or []:
        source, target = resolve_inside(root, move[0]), resolve_inside(root, move[1])
        if os.path.lexists(source) and not os.path.lexists(target):
            os.rename(source, target)
            fsync_dir(target.parent)
            faults.point("case.moved")
            done.append(str(move[1]))
    return done


def _settle_case_file(root: Path, committed_sha: str | None) -> bool:
    """The next case.json replaces case.json when its hash is the one committed; otherwise it
    was never committed and is removed. True when case.json changed."""
    pending = root / NEXT_CASE_FILE
    if not pending.is_file():
        return False
    if committed_sha is not None and _sha256(pending) == committed_sha:
        os.replace(pending, root / "case.json")
        fsync_dir(root)
        faults.point("case.saved")
        return True
    pending.unlink()
    return False


# -- leftovers ----------------------------------------------------------------------------------
def _remove_leftovers(root: Path) -> list[dict[str, Any]]:
    removed = []
    for path in _hidden(root):
        size = _size(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        relative = path.relative_to(root).as_posix()
        removed.append({"path": relative, "bytes": size})
        _say(root, f"removed {relative} ({size} bytes) that an interrupted command left")
    return removed


def _hidden(root: Path) -> list[Path]:
    """Hidden entries (a name starting with '.') under staging/, bundles/ and receipts/, the
    topmost of each, and the case file's temporaries in the case folder."""
    found = [p for p in root.glob(".case.json*") if p.name != NEXT_CASE_FILE]
    for name in HIDDEN_IN:
        top = root / name
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            for entry in [*dirs, *files]:
                if entry.startswith("."):
                    found.append(Path(folder) / entry)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found)


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file())


# -- bundles nothing records --------------------------------------------------------------------
def _settle_bundles(case: Case, entries: list[dict[str, Any]]) -> None:
    recorded = {
        str(e["details"]["bundle"])
        for e in entries
        if e.get("what") == "evidence.seal"
        and isinstance(e.get("details"), dict)
        and e["details"].get("bundle")
    }
    pending = (
        sorted(
            p
            for p in case.bundles.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name not in recorded
        )
        if case.bundles.is_dir()
        else []
    )
    reasons: dict[Path, str] = {}
    progress = True
    while pending and progress:  # each one recorded becomes the head the next may link to
        progress = False
        for bundle in pending:
            reason = _why_not_head(case, bundle)
            if reason is None:
                _record_head(case, bundle)
                pending.remove(bundle)
                progress = True
                break
            reasons[bundle] = reason
    for bundle in pending:
        _quarantine(case, bundle, reasons[bundle])


def _statement(bundle: Path) -> dict[str, Any]:
    from manifests import dsse
    from manifests.seal import ENVELOPE

    envelope = (bundle / ENVELOPE).read_bytes()
    _, payload, _ = dsse.parse(envelope, source=ENVELOPE)
    statement = json.loads(payload)
    if not isinstance(statement, dict):
        raise StepFailed("the statement is not a JSON object")
    statement["_envelope_sha256"] = hashlib.sha256(envelope).hexdigest()
    return statement


def _why_not_head(case: Case, bundle: Path) -> str | None:
    """None when `bundle` verifies (signed by the head's signer, or by its own key for a first
    bundle) and links to the recorded head; else why not."""
    import tempfile

    from manifests.seal import SIGNER_PEM
    from manifests.trust import load_trusted
    from manifests.verify import verify_bundle

    head = case.record.last_bundle
    signer = case.bundles / head["id"] / SIGNER_PEM if head else bundle / SIGNER_PEM
    try:
        previous = _statement(bundle)["predicate"]["bundle"]["previous"]
        with tempfile.TemporaryDirectory(prefix="breach-recover-") as keys:
            key = Path(keys) / SIGNER_PEM  # a copy: a key inside the bundle vouches for nothing
            key.write_bytes(signer.read_bytes())
            report = verify_bundle(bundle, load_trusted([key], [], [key]))
    except (BreachError, OSError, KeyError, TypeError, ValueError) as exc:
        return f"unreadable: {exc.message if isinstance(exc, BreachError) else exc}"
    wanted = {"id": head["id"], "envelope_sha256": head["envelope_sha256"]} if head else None
    if previous != wanted:
        return "does not link to the recorded head"
    if not report.ok:
        failed = ", ".join(c.name for c in report.checks if c.ok is False)
        return f"fails verification ({failed})"
    return None


def _record_head(case: Case, bundle: Path) -> None:
    statement = _statement(bundle)
    head = case.record.last_bundle
    sealed = dict(case.record.sealed)
    artifacts = statement["predicate"].get("artifacts") or []
    for artifact in artifacts:
        staged = case.staging / str(artifact.get("name"))
        with contextlib.suppress(OSError, BreachError):
            resolve_inside(case.staging, str(artifact.get("name")))
            if staged.is_file() and _sha256(staged) == artifact["plaintext"]["sha256"]:
                stat = staged.stat()
                sealed[str(artifact["name"])] = {
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "sha256": artifact["plaintext"]["sha256"],
                    "bundle": bundle.name,
                }
    envelope_sha = statement["_envelope_sha256"]
    case.record.last_bundle = {"id": bundle.name, "envelope_sha256": envelope_sha}
    case.record.sealed = sealed
    case.commit(
        "evidence.seal",
        result="recovered",
        why="found in bundles/ unrecorded (a seal interrupted after its rename); it verifies"
        " and links to the recorded head",
        where=str(bundle),
        details={
            "bundle": bundle.name,
            "envelope_sha256": envelope_sha,
            "artifacts": len(artifacts),
            "previous": head["id"] if head else None,
        },
    )
    _say(case.root, f"recorded bundle {bundle.name}, found unrecorded, as the chain's head")


def _quarantine(case: Case, bundle: Path, reason: str) -> None:
    folder = case.root / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / bundle.name
    number = 1
    while os.path.lexists(target):
        number += 1
        target = folder / f"{bundle.name}.{number}"
    case.commit(
        "bundle.quarantine",
        result="quarantined",
        why=f"found in bundles/ unrecorded and {reason}",
        where=str(bundle),
        details={"bundle": bundle.name, "to": target.relative_to(case.root).as_posix()},
        moves=[(bundle, target)],
        save=False,
    )
    _say(case.root, f"moved bundle {bundle.name} ({reason}) to {QUARANTINE}/{target.name}")


# -- helpers ------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _say(root: Path, message: str) -> None:
    LOG.warning("case %s: %s", root.name, message)
