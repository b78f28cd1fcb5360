"""Who may do what: a verification's trust anchor, and the roles keys play.

- A sealer's key signs a bundle's statement (and the custody log's first entry, the sealing).
  Only keys given as sealers (--pubkey, --trust, BREACH_TRUST) can make a statement verify.
- A custodian's key (legal, outside counsel, whoever stores or moves the bundle) signs custody
  entries after sealing. Only keys given as custodians (--custody-trust, BREACH_CUSTODY_TRUST)
  make an entry count as recorded by a trusted custodian. A custodian's key never verifies a
  statement, and a sealer's key is a custodian only when it is given as one too.
- A recipient's age identity decrypts; it signs nothing and plays no part here.

A key found in the bundle (signer.pub.pem, the key embedded in a custody entry) is never trusted:
it only names the key to look for among the trusted ones. A check that cannot be made (no
previous bundle at hand, custody entries by keys nobody vouched for) fails the verification
unless the user waived it by name; a waived check is named in the headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInput, BreachError
from core.untrusted import SMALL, read_regular
from manifests import custody
from manifests.keys import PublicKey, keyid, load_public_key, load_public_key_file
from manifests.seal import SIGNER_PEM

if TYPE_CHECKING:
    from manifests.verify import Check

# A check the user may waive -> the flag that waives it, named for what is lost.
WAIVERS = {
    "signer": "--no-signer-check",
    "custodians": "--no-custodian-check",
    "previous": "--no-previous-check",
}
SIGNER_CHECK = "signer identity"


@dataclass(frozen=True)
class Trust:
    """The keys trusted per role, the files they came from, and the checks waived by name."""

    sealers: dict[str, PublicKey] = field(default_factory=dict)
    custodians: dict[str, PublicKey] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()
    waived: frozenset[str] = frozenset()

    def require_sealer(self) -> None:
        """No trusted sealer key and no waiver: there can be no verdict, so refuse (exit 2)."""
        if not self.sealers and "signer" not in self.waived:
            raise BadInput(
                "no trusted sealer key given: nothing could say who signed the bundle",
                hint="pass --pubkey FILE or --trust DIR (BREACH_TRUST) with the sealer's public "
                "key, or --no-signer-check to go on without checking who signed",
                field="pubkeys",
            )

    def refuse_inside(self, bag: Path) -> None:
        """A key read from inside the bundle under test would vouch for itself."""
        root = bag.resolve()
        for source in self.sources:
            if source.resolve().is_relative_to(root):
                raise BadInput(
                    f"trusted key {source} lies inside the bundle being verified: a key found "
                    "in the bundle is never a trust anchor (pass the sealer's own copy)",
                    field="pubkeys",
                )


def _public_pems(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BadInput(f"trust folder not found: {folder}")
    # Public keys only: a trust folder may also hold the private key next to them.
    return [p for p in sorted(folder.glob("*.pem")) if b"PUBLIC KEY-----" in p.read_bytes()]


def _load(files: list[Path]) -> dict[str, PublicKey]:
    keys = [load_public_key_file(path) for path in files]
    return {keyid(k): k for k in keys}


def load_trusted(
    pubkeys: Sequence[Path],
    trust_dirs: Sequence[Path],
    custodians: Sequence[Path] = (),
    *,
    waive: Sequence[str] = (),
) -> Trust:
    """Sealer keys from --pubkey files and --trust folders; custodian keys from --custody-trust
    files or folders (*.pem public keys); the checks waived by name (see WAIVERS)."""
    unknown = sorted(set(waive) - set(WAIVERS))
    if unknown:
        raise BadInput(f"no check named {unknown[0]!r} can be waived", hint=", ".join(WAIVERS))
    shared = {d.resolve() for d in trust_dirs} & {c.resolve() for c in custodians if c.is_dir()}
    if shared:
        raise BadInput(
            f"{sorted(shared)[0]} is given both as the sealers' and the custodians' trust "
            "folder: keys have roles, keep the two folders apart",
            field="custody_trust",
        )
    sealer_files = [*pubkeys, *(p for d in trust_dirs for p in _public_pems(d))]
    custodian_files = [p for c in custodians for p in (_public_pems(c) if c.is_dir() else [c])]
    return Trust(
        sealers=_load(sealer_files),
        custodians=_load(custodian_files),
        sources=(*sealer_files, *custodian_files),
        waived=frozenset(waive),
    )


# -- custody entries: who signed each, in which role --------------------------------------------
@dataclass(frozen=True)
class Standing:
    """One custody entry's signer and the role its key holds for this verification."""

    seq: int
    event: str
    who: str
    keyid: str | None
    role: str  # "sealer" | "custodian" | "outside" (not in the custody trust set) | "invalid"

    def describe(self) -> str:
        key = self.keyid or "no key"
        return f"entry {self.seq + 1} ({self.event} by {self.who}) signed by key {key}"


def statement_signer(bag: Path) -> str | None:
    """The key id of the bundle's signer.pub.pem: it names the key that signed, it is never
    trusted for being there (None when missing or unreadable)."""
    try:
        return keyid(load_public_key(read_regular(bag, SIGNER_PEM, SMALL), source=SIGNER_PEM))
    except (BreachError, OSError):
        return None


def standings(
    entries: list[dict[str, Any]], signer_keyid: str | None, custodians: dict[str, PublicKey]
) -> list[Standing]:
    """The role of each entry's signer: the sealing by the key that signed the statement is the
    sealer's; an entry by a key in the custody trust set is a custodian's; any other validly
    signed entry is 'outside' (listed, not tampering); a bad signature is 'invalid'."""
    check = custody.signature_checker(None)
    found = []
    for position, entry in enumerate(entries):
        signature = entry.get("signature")
        key = signature.get("keyid") if isinstance(signature, dict) else None
        key = key if isinstance(key, str) else None
        if check(entry) is not None:
            role = "invalid"
        elif position == 0 and entry.get("event") == "sealed" and key == signer_keyid:
            role = "sealer"
        elif key in custodians:
            role = "custodian"
        else:
            role = "outside"
        event, who = str(entry.get("event", "?")), str(entry.get("who", "?"))
        found.append(Standing(position, event, who, key, role))
    return found


# -- the verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """verified | signer-not-checked | incomplete | failed, and the headline that says so."""

    state: str
    headline: str
    signer_checked: bool
    not_checked: list[dict[str, str]]
    waived: list[dict[str, str]]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.state in ("verified", "signer-not-checked")


def verdict(bag: Path, bundle_id: str | None, checks: list[Check]) -> Verdict:
    """A failed check fails; a check not made fails too unless waived; the headline names the
    signed bundle id and everything not checked, and a note says when the folder is named
    otherwise."""
    failed = [c.name for c in checks if c.ok is False]
    not_checked = [_gap(c) for c in checks if c.ok is None and not c.waived]
    waived = [
        {"check": c.name, "waived_by": WAIVERS[c.waiver or "signer"]}
        for c in checks
        if c.ok is None and c.waived
    ]
    signer_checked = any(c.name == SIGNER_CHECK and c.ok is True for c in checks)
    if failed:
        state = "failed"
    elif not_checked:
        state = "incomplete"
    else:
        state = "verified" if signer_checked else "signer-not-checked"
    headline = _headline(state, bundle_id, failed, not_checked, waived)
    notes = []
    if bundle_id and bag.name != bundle_id:
        notes.append(f"the folder is named {bag.name!r}; the signed bundle id is {bundle_id!r}")
    return Verdict(state, headline, signer_checked, not_checked, waived, notes)


def _gap(check: Check) -> dict[str, str]:
    """A check not made: which, why, and the waiver that would accept it."""
    accept = WAIVERS.get(check.waiver or "", "")
    return {"check": check.name, "reason": check.detail, "accept_with": accept}


def _headline(
    state: str,
    bundle_id: str | None,
    failed: list[str],
    not_checked: list[dict[str, str]],
    waived: list[dict[str, str]],
) -> str:
    named = f"bundle {bundle_id}" if bundle_id else "bundle (id unknown: no valid signed statement)"
    missing = "; ".join(
        f"{g['check']} ({g['reason']}"
        + (f"; {g['accept_with']} accepts that)" if g["accept_with"] else ")")
        for g in not_checked
    )
    if state == "failed":
        line = f"NOT VERIFIED: {named}: failed: {', '.join(failed)}"
        return line + (f"; not checked: {missing}" if missing else "")
    if state == "incomplete":
        line = f"NOT VERIFIED: {named}: not checked: {missing}"
    elif state == "signer-not-checked":
        line = (
            f"SIGNER NOT CHECKED: {named} is intact and consistent, but who signed it was not "
            f"checked against a trusted key ({WAIVERS['signer']}): anyone could have re-signed it"
        )
    else:
        line = f"VERIFIED: {named}, signed by a trusted sealer key"
    chosen = [f"{w['check']} ({w['waived_by']})" for w in waived if w["check"] != SIGNER_CHECK]
    return line + ("; not checked, by choice: " + ", ".join(chosen) if chosen else "")
