"""Verify a bundle: bag, tag manifest, signer, signature, subjects, chain link, custody.

Each check has a name a lawyer can read, passes or fails, and says for a failure which file and
what differs. A check that cannot be made here (no previous bundle at hand, no trust anchor) is
reported as skipped with the reason, never as passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import BadInput
from manifests import bagit, chain, custody, dsse, statement
from manifests.keys import PublicKey, keyid, load_public_key
from manifests.seal import ENVELOPE, SIGNER_PEM, TAG_FILES
from manifests.signing import verify as verify_signature
from manifests.stream import CHUNK, sha256_file


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped, with the reason in `detail`
    detail: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    bundle: str
    bundle_id: str | None
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "bundle_id": self.bundle_id,
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass
class _Context:
    bag: Path
    trusted: dict[str, PublicKey]
    payload_manifest: dict[str, str] = field(default_factory=dict)
    statement: dict[str, Any] | None = None
    envelope_bytes: bytes = b""
    envelope: tuple[str, bytes, list[dict[str, str]]] | None = None  # type, payload, signatures
    signer_key: PublicKey | None = None
    signer_keyid: str | None = None


def load_trusted(pubkeys: list[Path], trust_dirs: list[Path]) -> dict[str, PublicKey]:
    """{keyid: key} from --pubkey files and every public-key *.pem in --trust folders."""
    from manifests.keys import load_public_key_file

    files = list(pubkeys)
    for folder in trust_dirs:
        if not folder.is_dir():
            raise BadInput(f"trust folder not found: {folder}")
        # Public keys only: a trust folder may also hold the private key next to them.
        files.extend(
            p for p in sorted(folder.glob("*.pem")) if b"PUBLIC KEY-----" in p.read_bytes()
        )
    keys = [load_public_key_file(path) for path in files]
    return {keyid(k): k for k in keys}


def verify_bundle(bag: Path, trusted: dict[str, PublicKey]) -> Report:
    if not bag.is_dir() or not (bag / "bagit.txt").is_file():
        raise BadInput(f"{bag} is not a bundle (no bagit.txt)", hint="pass the bundle folder")
    ctx = _Context(bag, trusted)
    _load_signed_parts(ctx)
    checks = [
        _check_bag(ctx),
        _check_payload(ctx),
        _check_tags(ctx),
        _check_signer(ctx),
        _check_signature(ctx),
        _check_subjects(ctx),
        _check_chain_link(ctx),
        _check_custody(ctx),
    ]
    bundle_id = None
    if ctx.statement:
        bundle_id = ctx.statement.get("predicate", {}).get("bundle", {}).get("id")
    return Report(str(bag), bundle_id, checks)


def _check_bag(ctx: _Context) -> Check:
    name = "bag declaration"
    declaration = bagit.read_declaration(ctx.bag)
    problems = []
    if declaration.version != "1.0":
        problems.append(f"bagit.txt declares version {declaration.version!r}, expected 1.0")
    if declaration.encoding != "UTF-8":
        problems.append(f"bagit.txt declares encoding {declaration.encoding!r}, expected UTF-8")
    if not (ctx.bag / "data").is_dir():
        problems.append("the data/ folder is missing")
    if problems:
        return Check(name, False, "the bag is not BagIt 1.0", problems)
    return Check(name, True, "BagIt 1.0, UTF-8, data/ present")


def _hash_all(root: Path, names: list[str]) -> dict[str, str | None]:
    """sha256 of each file (None when missing) on two threads, as hashlib releases the GIL.

    Each thread takes the next name from one shared iterator and reuses one buffer: a task and
    a fresh buffer per file cost more than hashing a small file does.
    """
    pending = iter(names)  # next() on a list iterator is atomic under the GIL
    found: dict[str, str | None] = {}

    def work() -> None:
        buffer = bytearray(CHUNK)
        for name in pending:
            path = root / name
            found[name] = sha256_file(path, buffer) if path.is_file() else None

    with ThreadPoolExecutor(max_workers=2) as pool:
        for worker in [pool.submit(work) for _ in range(2)]:
            worker.result()
    return {name: found[name] for name in names}


def _check_payload(ctx: _Context) -> Check:
    name = "evidence files (payload manifest)"
    manifest = ctx.bag / bagit.PAYLOAD_MANIFEST
    if not manifest.is_file():
        return Check(name, False, f"{bagit.PAYLOAD_MANIFEST} is missing")
    try:
        ctx.payload_manifest = bagit.parse_manifest(manifest)
    except BadInput as exc:
        return Check(name, False, exc.message)
    on_disk = _files_under(ctx.bag, "data")
    problems = [
        f"{n}: listed in the manifest but missing"
        for n in sorted(set(ctx.payload_manifest) - on_disk)
    ]
    problems += [
        f"{n}: present but not listed in the manifest (added)"
        for n in sorted(on_disk - set(ctx.payload_manifest))
    ]
    actual = _hash_all(ctx.bag, sorted(set(ctx.payload_manifest) & on_disk))
    for path, digest in actual.items():
        if digest != ctx.payload_manifest[path]:
            problems.append(
                f"{path}: content changed (sha256 {digest[:16] if digest else '?'}…, "
                f"manifest says {ctx.payload_manifest[path][:16]}…)"
            )
    if problems:
        return Check(
            name, False, f"{len(problems)} evidence file(s) differ from the manifest", problems
        )
    return Check(name, True, f"{len(actual)} file(s) match their sha256, none missing or added")


def _check_tags(ctx: _Context) -> Check:
    name = "bundle metadata (tag manifest)"
    manifest = ctx.bag / bagit.TAG_MANIFEST
    if not manifest.is_file():
        return Check(name, False, f"{bagit.TAG_MANIFEST} is missing")
    try:
        listed = bagit.parse_manifest(manifest)
    except BadInput as exc:
        return Check(name, False, exc.message)
    problems = [f"{t}: not listed in {bagit.TAG_MANIFEST}" for t in TAG_FILES if t not in listed]
    for path, digest in _hash_all(ctx.bag, sorted(listed)).items():
        if digest is None:
            problems.append(f"{path}: listed but missing")
        elif digest != listed[path]:
            problems.append(f"{path}: changed since sealing (sha256 differs from the tag manifest)")
    if problems:
        return Check(name, False, "bundle metadata files were changed", problems)
    return Check(name, True, f"{len(listed)} metadata file(s) unchanged")


def _load_signed_parts(ctx: _Context) -> None:
    """Read the envelope and signer.pub.pem once; a missing or malformed one stays None and the
    checks that need it say so."""
    try:
        ctx.signer_key = load_public_key((ctx.bag / SIGNER_PEM).read_bytes(), source=SIGNER_PEM)
        ctx.signer_keyid = keyid(ctx.signer_key)
    except (BadInput, FileNotFoundError):
        pass
    try:
        ctx.envelope_bytes = (ctx.bag / ENVELOPE).read_bytes()
        ctx.envelope = dsse.parse(ctx.envelope_bytes, source=ENVELOPE)
    except (BadInput, FileNotFoundError):
        pass


def _check_signer(ctx: _Context) -> Check:
    name = "signer identity"
    if ctx.signer_keyid is None:
        return Check(name, False, f"{SIGNER_PEM} is missing or not a public key")
    named = ctx.envelope[2][0].get("keyid") if ctx.envelope else None
    if named and named != ctx.signer_keyid:
        return Check(
            name,
            False,
            f"{SIGNER_PEM} is not the key that signed (envelope names key {named[:16]}…, "
            f"file holds {ctx.signer_keyid[:16]}…): the signer key was replaced",
        )
    if not ctx.trusted:
        return Check(
            name,
            None,
            f"signed by key {ctx.signer_keyid}; not compared with a trusted key "
            "(pass --pubkey or --trust to pin it)",
        )
    if ctx.signer_keyid not in ctx.trusted:
        return Check(
            name, False, f"signed by key {ctx.signer_keyid[:16]}…, which is not a trusted key"
        )
    return Check(name, True, f"signed by trusted key {ctx.signer_keyid[:16]}…")


def _check_signature(ctx: _Context) -> Check:
    name = "signature over the statement"
    if ctx.envelope is None:
        return Check(name, False, f"{ENVELOPE} is missing or not a DSSE envelope")
    payload_type, payload, signatures = ctx.envelope
    if payload_type != dsse.IN_TOTO:
        return Check(name, False, f"payloadType is {payload_type!r}, expected {dsse.IN_TOTO}")
    # With pinned keys, only they count, so a swapped signer.pub.pem cannot help a forger.
    pinned = list(ctx.trusted.values())
    candidates = pinned or ([ctx.signer_key] if ctx.signer_key else [])
    if not candidates:
        return Check(name, False, "no key to check the signature with")
    message = dsse.pae(payload_type, payload)
    key = next((k for k in candidates for s in signatures if _sig_ok(k, s, message)), None)
    if key is None:
        return Check(
            name,
            False,
            f"the signature does not match the statement in {ENVELOPE} under "
            f"{'any trusted key' if pinned else SIGNER_PEM}: the statement or signature was altered",
        )
    try:
        ctx.statement = json.loads(payload)
    except json.JSONDecodeError:
        return Check(name, False, "the signed payload is not JSON")
    return Check(name, True, f"valid signature by key {keyid(key)[:16]}…")


def _sig_ok(key: PublicKey, signature: dict[str, str], message: bytes) -> bool:
    try:
        raw = base64.b64decode(signature.get("sig", ""), validate=True)
    except ValueError:
        return False
    return verify_signature(key, raw, message)


def _check_subjects(ctx: _Context) -> Check:
    name = "statement matches the files"
    if ctx.statement is None:
        return Check(name, False, "no valid signed statement to compare with")
    try:
        subjects = statement.subjects_of(ctx.statement)
    except (KeyError, TypeError):
        return Check(name, False, "the statement's subject list is malformed")
    problems = [
        f"{n}: signed in the statement but not in the manifest"
        for n in sorted(set(subjects) - set(ctx.payload_manifest))
    ]
    problems += [
        f"{n}: in the manifest but not in the signed statement"
        for n in sorted(set(ctx.payload_manifest) - set(subjects))
    ]
    problems += [
        f"{n}: manifest sha256 differs from the signed statement"
        for n in sorted(set(subjects) & set(ctx.payload_manifest))
        if subjects[n] != ctx.payload_manifest[n]
    ]
    if problems:
        return Check(name, False, "the manifest does not match what was signed", problems)
    return Check(name, True, f"{len(subjects)} signed subject(s) match the manifest")


def _check_chain_link(ctx: _Context) -> Check:
    name = "link to the previous bundle"
    if ctx.statement is None:
        return Check(name, None, "no valid statement to read the link from")
    previous = ctx.statement.get("predicate", {}).get("bundle", {}).get("previous")
    if not previous:
        return Check(name, True, "first bundle of its case (no previous bundle)")
    candidate = ctx.bag.parent / previous["id"] / ENVELOPE
    if not candidate.is_file():
        return Check(
            name,
            None,
            f"previous bundle {previous['id']} is not beside this one; "
            f"its envelope sha256 must be {previous['envelope_sha256']}",
        )
    actual = hashlib.sha256(candidate.read_bytes()).hexdigest()
    if actual != previous["envelope_sha256"]:
        return Check(
            name,
            False,
            f"previous bundle {previous['id']} differs from the one this bundle "
            f"was chained to (envelope sha256 {actual[:16]}…, expected {previous['envelope_sha256'][:16]}…)",
        )
    return Check(name, True, f"chained to {previous['id']}, whose envelope is unchanged")


def _check_custody(ctx: _Context) -> Check:
    name = "chain of custody"
    log = ctx.bag / custody.CUSTODY_FILE
    if not log.is_file():
        return Check(name, False, f"{custody.CUSTODY_FILE} is missing")
    trusted = set(ctx.trusted) if ctx.trusted else None
    count, problems = chain.verify(log, custody.signature_checker(trusted))
    messages = [f"entry {p.line} {p.message}" for p in problems]
    first = next((entry for _, _, entry in chain.read(log)), None)
    details = (first or {}).get("details", {})
    if not first or first.get("event") != "sealed":
        messages.append("the first entry is not the sealing of this bundle")
    else:
        messages += _sealing_mismatches(ctx, details)
    if messages:
        return Check(name, False, f"custody log problems in {custody.CUSTODY_FILE}", messages)
    entries = chain.entries(log)
    events = ", ".join(e.get("event", "?") for e in entries)
    signers = {e.get("signature", {}).get("keyid") for e in entries} - {ctx.signer_keyid}
    pinned = (
        ""
        if trusted is not None or not signers
        else f"; {len(signers)} other signer key(s), not pinned"
    )
    return Check(name, True, f"{count} signed, chained event(s): {events}{pinned}")


def _sealing_mismatches(ctx: _Context, details: dict[str, Any]) -> list[str]:
    """The sealing entry binds the log to this bag: the envelope and tag manifest it names."""
    problems = []
    envelope_sha = hashlib.sha256(ctx.envelope_bytes).hexdigest() if ctx.envelope_bytes else None
    if envelope_sha and details.get("envelope_sha256") != envelope_sha:
        problems.append("the sealing entry names a different statement envelope")
    tag_manifest = ctx.bag / bagit.TAG_MANIFEST
    if tag_manifest.is_file() and details.get("tagmanifest_sha256") != sha256_file(tag_manifest):
        problems.append(f"the sealing entry names a different {bagit.TAG_MANIFEST}")
    return problems


def _files_under(root: Path, folder: str) -> set[str]:
    """Every regular file below root/folder, as '/'-separated paths relative to root."""
    found: set[str] = set()
    for parent, _, names in os.walk(root / folder):
        rel = Path(parent).relative_to(root).as_posix()
        found.update(
            f"{rel}/{name}" for name in names if os.path.isfile(os.path.join(parent, name))
        )
    return found
