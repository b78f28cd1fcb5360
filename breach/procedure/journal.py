"""Check a case's journal against the heads its bundles signed.

Every seal of a case signs the journal's head (the last entry's seq and the sha256 of its line)
in the bundle's statement, and carries the journal itself as an artifact. The journal links each
line to the one before it, so a line whose hash equals a signed head vouches for every line up
to it: a journal rewritten (even with its links recomputed) or cut short before a bundle's head
no longer matches that bundle. What was appended after the newest seal has only its own chain.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import BreachError, StepFailed
from core.untrusted import LARGE, SMALL, loads, read_regular
from manifests import chain, dsse
from manifests.keys import PublicKey, keyid, load_public_key, load_public_key_file
from manifests.seal import ENVELOPE, SIGNER_PEM
from manifests.signing import verify as verify_signature


class JournalVerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str = Field(description="case folder or incident id")
    pubkeys: list[Path] = Field(
        default_factory=list, description="trusted sealer keys: a head counts only if one signed"
    )


class SignedHead(BaseModel):
    bundle: str
    seq: int | None
    sha256: str | None
    signer: str | None = Field(description="key id of the key the statement verified with")
    matches: bool


class JournalVerifyResult(BaseModel):
    case: Path
    entries: int
    heads: list[SignedHead]
    problems: list[str] = Field(description="one line each; empty when the journal holds")
    notes: list[str] = Field(default_factory=list, description="what could not be checked")

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def headline(self) -> str:
        matched = sum(head.matches for head in self.heads)
        verdict = "NOT INTACT" if self.problems else "intact"
        return (
            f"journal {verdict}: {self.entries} entries, "
            f"{matched} of {len(self.heads)} signed head(s) found unchanged"
        )

    def raise_if_failed(self) -> None:
        if self.problems:
            raise StepFailed(
                f"the journal of {self.case} does not match what its bundles signed "
                f"({len(self.problems)} problem(s))"
            )


def verify_journal(settings: JournalVerifySettings) -> JournalVerifyResult:
    """The journal's chain, and each head signed by a bundle of the case found in it unchanged."""
    from breach.case import Case

    case = Case.load(settings.case)
    pinned = {keyid(k): k for k in map(load_public_key_file, settings.pubkeys)}
    lines = _journal_lines(case.journal_path)
    problems = [f"journal line {p.line} {p.message}" for p in _chain_problems(case.journal_path)]
    heads: list[SignedHead] = []
    notes: list[str] = []
    for bundle in sorted(p for p in case.bundles.iterdir() if p.is_dir() and not p.is_symlink()):
        try:
            head, signer = _signed_head(bundle, pinned)
        except BreachError as exc:
            problems.append(f"bundle {bundle.name}: {exc.message}")
            continue
        if head is None:
            notes.append(f"bundle {bundle.name} signs no journal head (sealed by an older version)")
            continue
        problem = _compare(bundle.name, head, lines)
        problems += [problem] if problem else []
        heads.append(
            SignedHead(
                bundle=bundle.name,
                seq=head.get("seq"),
                sha256=head.get("sha256"),
                signer=signer,
                matches=problem is None,
            )
        )
    if not pinned:
        notes.append("no --pubkey: each statement was checked with the key inside its bundle")
    return JournalVerifyResult(
        case=case.root, entries=len(lines), heads=heads, problems=problems, notes=notes
    )


def _journal_lines(path: Path) -> list[bytes]:
    return [line for _, line, _ in chain.read(path)] if path.is_file() else []


def _chain_problems(path: Path) -> list[chain.ChainProblem]:
    return chain.verify(path)[1] if path.is_file() else []


def _signed_head(bundle: Path, pinned: dict[str, PublicKey]) -> tuple[dict[str, Any] | None, str]:
    """The journal head in the bundle's statement, once its signature is checked; raises when
    the statement is not signed by the bundle's key (or, with pinned keys, by one of them)."""
    payload_type, payload, signatures = dsse.parse(
        read_regular(bundle, ENVELOPE, LARGE), source=ENVELOPE
    )
    keys = pinned or {
        "": load_public_key(read_regular(bundle, SIGNER_PEM, SMALL), source=SIGNER_PEM)
    }
    message = dsse.pae(payload_type, payload)
    signer = next(
        (
            keyid(key)
            for key in keys.values()
            for signature in signatures
            if _signed_by(key, signature, message)
        ),
        None,
    )
    if signer is None:
        trusted = "a trusted key" if pinned else SIGNER_PEM
        raise StepFailed(f"its statement is not signed by {trusted}; its head cannot be used")
    statement = loads(payload, what=f"{bundle.name}'s statement")
    bundle_part = statement.get("predicate", {}).get("bundle", {})
    head = bundle_part.get("journal") if isinstance(bundle_part, dict) else None
    return (head if isinstance(head, dict) else None), signer


def _signed_by(key: PublicKey, signature: dict[str, str], message: bytes) -> bool:
    try:
        raw = base64.b64decode(signature.get("sig", ""), validate=True)
    except (ValueError, AttributeError):
        return False
    return verify_signature(key, raw, message)


def _compare(bundle: str, head: dict[str, Any], lines: list[bytes]) -> str | None:
    """None when the journal holds the signed head at its seq, else what differs."""
    seq = head.get("seq")
    if not isinstance(seq, int) or seq < 0:
        return f"bundle {bundle} signs a journal head without a usable seq"
    if seq >= len(lines):
        return (
            f"the journal ends at entry {len(lines) - 1}, but bundle {bundle} signed entry {seq}: "
            f"it was cut short after that seal"
        )
    if chain.line_hash(lines[seq]) != head.get("sha256"):
        return (
            f"journal entry {seq} differs from the head bundle {bundle} signed: the journal was "
            f"rewritten up to that entry"
        )
    return None
