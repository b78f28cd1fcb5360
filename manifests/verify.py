"""Verify a bundle: bag, tag manifest, signer, signature, subjects, chain link, custody.

Each check has a name a lawyer can read, passes or fails, and says for a failure which file and
what differs. A check that cannot be made here (no previous bundle at hand, no trust anchor) is
reported as skipped with the reason, never as passed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import BadInput, BreachError
from core.untrusted import LARGE, SMALL, NotRegular, loads, open_regular, read_regular
from manifests import bagit, chain, custody, dsse, statement
from manifests.keys import PublicKey, keyid, load_public_key
from manifests.seal import ENVELOPE, SIGNER_PEM, TAG_FILES
from manifests.signing import verify as verify_signature
from manifests.stream import CHUNK, sha256_handle
from manifests.trust import WAIVERS, Trust, Verdict, standings, verdict
from manifests.trust import load_trusted as load_trusted  # the public name, as before


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not made, with the reason in `detail`
    detail: str
    problems: list[str] = field(default_factory=list)
    waiver: str | None = None  # the check a user may waive (manifests.trust.WAIVERS)
    waived: bool = False  # not made, and the user waived it: named, but not a failure


@dataclass
class Report:
    bundle: str
    bundle_id: str | None
    checks: list[Check]

    @property
    def verdict(self) -> Verdict:
        return verdict(Path(self.bundle), self.bundle_id, self.checks)

    @property
    def ok(self) -> bool:
        """Every check passed, or was not made and waived by name: a check not made fails."""
        return self.verdict.ok

    def to_dict(self) -> dict[str, Any]:
        judged = self.verdict
        return {
            "bundle": self.bundle,
            "bundle_id": self.bundle_id,
            "ok": judged.ok,
            "verdict": judged.state,
            "headline": judged.headline,
            "signer_checked": judged.signer_checked,
            "not_checked": judged.not_checked,
            "waived": judged.waived,
            "notes": judged.notes,
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass
class _Context:
    bag: Path
    trust: Trust
    payload_manifest: dict[str, str] = field(default_factory=dict)
    statement: dict[str, Any] | None = None
    envelope_bytes: bytes = b""
    envelope: tuple[str, bytes, list[dict[str, str]]] | None = None  # type, payload, signatures
    envelope_problem: str = f"{ENVELOPE} is missing or not a DSSE envelope"
    tag_manifest: dict[str, str] = field(default_factory=dict)
    signer_key: PublicKey | None = None
    signer_keyid: str | None = None
    statement_keyid: str | None = None  # the key whose signature over the statement held


def verify_bundle(bag: Path, trust: Trust) -> Report:
    """Run every check. Without a trusted sealer key (and no waiver) there is no verdict to
    give: refused as bad input, as is a trusted key read from inside the bundle itself."""
    trust.require_sealer()
    if not bag.is_dir() or not os.path.lexists(bag / "bagit.txt"):
        raise BadInput(f"{bag} is not a bundle (no bagit.txt)", hint="pass the bundle folder")
    trust.refuse_inside(bag)
    ctx = _Context(bag, trust)
    _load_signed_parts(ctx)
    steps: tuple[Callable[[_Context], Check], ...] = (_check_bag, _check_payload, _check_tags)
    steps += (_check_contents, _check_signer)
    steps += (_check_signature, _check_subjects, _check_chain_link, _check_custody)
    steps += (_check_custodians,)
    checks = [_run(step, ctx) for step in steps]
    bundle_id = _bundle_section(ctx.statement).get("id")
    return Report(str(bag), bundle_id if isinstance(bundle_id, str) else None, checks)


def _bundle_section(statement: dict[str, Any] | None) -> dict[str, Any]:
    """The statement's predicate.bundle; {} where a statement, signed but hostile, has none."""
    predicate = (statement or {}).get("predicate")
    section = predicate.get("bundle") if isinstance(predicate, dict) else None
    return section if isinstance(section, dict) else {}


CHECK_NAMES = {
    "_check_bag": "bag declaration",
    "_check_payload": "evidence files (payload manifest)",
    "_check_tags": "bundle metadata (tag manifest)",
    "_check_contents": "nothing unlisted in the bag",
    "_check_signer": "signer identity",
    "_check_signature": "signature over the statement",
    "_check_subjects": "statement matches the files",
    "_check_chain_link": "link to the previous bundle",
    "_check_custody": "chain of custody",
    "_check_custodians": "custody signers",
}


def _run(step: Callable[[_Context], Check], ctx: _Context) -> Check:
    """A hostile bundle fails the check it was caught in (a link, a FIFO, an oversized or
    ambiguous file), never the whole run: the other checks still report."""
    try:
        return step(ctx)
    except BreachError as exc:
        return Check(CHECK_NAMES[step.__name__], False, exc.message)
    except OSError as exc:
        return Check(CHECK_NAMES[step.__name__], False, f"cannot read the bundle: {exc.strerror}")


def _check_bag(ctx: _Context) -> Check:
    name = "bag declaration"
    declaration = bagit.read_declaration(ctx.bag)
    problems = []
    if declaration.version != "1.0":
        problems.append(f"bagit.txt declares version {declaration.version!r}, expected 1.0")
    if declaration.encoding != "UTF-8":
        problems.append(f"bagit.txt declares encoding {declaration.encoding!r}, expected UTF-8")
    data_mode = _lmode(ctx.bag / "data")
    if not data_mode:
        problems.append("the data/ folder is missing")
    elif not stat.S_ISDIR(data_mode):
        problems.append("data/ is not a folder (a link or a file)")
    if problems:
        return Check(name, False, "the bag is not BagIt 1.0", problems)
    return Check(name, True, "BagIt 1.0, UTF-8, data/ present")


def _hash_all(root: Path, names: list[str]) -> dict[str, str | None]:
    """sha256 of each file (None when missing; a link or special file is a problem of its
    own, reported by the contents check) on two threads, as hashlib releases the GIL.

    Each thread takes the next name from one shared iterator and reuses one buffer: a task and
    a fresh buffer per file cost more than hashing a small file does.
    """
    pending = iter(names)  # next() on a list iterator is atomic under the GIL
    found: dict[str, str | None] = {}

    def work() -> None:
        buffer = bytearray(CHUNK)
        for name in pending:
            found[name] = _hash_one(root, name, buffer)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for worker in [pool.submit(work) for _ in range(2)]:
            worker.result()
    return {name: found[name] for name in names}


def _hash_one(root: Path, name: str, buffer: bytearray) -> str | None:
    try:
        with open_regular(root, name) as handle:
            return sha256_handle(handle, buffer)
    except (FileNotFoundError, NotRegular):
        return None


def _check_payload(ctx: _Context) -> Check:
    name = "evidence files (payload manifest)"
    manifest = ctx.bag / bagit.PAYLOAD_MANIFEST
    if not os.path.lexists(manifest):
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
    if not os.path.lexists(manifest):
        return Check(name, False, f"{bagit.TAG_MANIFEST} is missing")
    try:
        listed = ctx.tag_manifest = bagit.parse_manifest(manifest)
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
        pem = read_regular(ctx.bag, SIGNER_PEM, SMALL)
        ctx.signer_key = load_public_key(pem, source=SIGNER_PEM)
        ctx.signer_keyid = keyid(ctx.signer_key)
    except (BreachError, FileNotFoundError):
        pass
    try:
        ctx.envelope_bytes = read_regular(ctx.bag, ENVELOPE, LARGE)
        ctx.envelope = dsse.parse(ctx.envelope_bytes, source=ENVELOPE)
    except BreachError as exc:
        ctx.envelope_problem = exc.message
    except FileNotFoundError:
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
    if not ctx.trust.sealers:
        return Check(
            name,
            None,
            f"signed by key {ctx.signer_keyid}; NOT compared with a trusted sealer key "
            f"({WAIVERS['signer']}): the signature is checked only against the key inside "
            "the bundle",
            waiver="signer",
            waived=True,
        )
    if ctx.signer_keyid not in ctx.trust.sealers:
        return Check(
            name,
            False,
            f"signed by key {ctx.signer_keyid}, which is not a trusted sealer key",
        )
    return Check(name, True, f"signed by trusted sealer key {ctx.signer_keyid}")


def _check_signature(ctx: _Context) -> Check:
    name = "signature over the statement"
    if ctx.envelope is None:
        return Check(name, False, ctx.envelope_problem)
    payload_type, payload, signatures = ctx.envelope
    if payload_type != dsse.IN_TOTO:
        return Check(name, False, f"payloadType is {payload_type!r}, expected {dsse.IN_TOTO}")
    # Only trusted sealer keys count, so a swapped signer.pub.pem cannot help a forger; the
    # key inside the bundle is used only when the user waived the signer check.
    pinned = list(ctx.trust.sealers.values())
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
        parsed = loads(payload, what="the signed statement")
    except BreachError as exc:
        return Check(name, False, exc.message)
    if not isinstance(parsed, dict):
        return Check(name, False, "the signed statement is not a JSON object")
    ctx.statement = parsed
    ctx.statement_keyid = keyid(key)
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
    previous = _bundle_section(ctx.statement).get("previous")
    if previous is None:
        return Check(name, True, "first bundle of its case (no previous bundle)")
    if not (
        isinstance(previous, dict)
        and isinstance(previous.get("id"), str)
        and isinstance(previous.get("envelope_sha256"), str)
    ):
        return Check(name, False, "the statement's link to the previous bundle is malformed")
    try:
        envelope = read_regular(ctx.bag.parent, f"{previous['id']}/{ENVELOPE}", LARGE)
    except (FileNotFoundError, NotADirectoryError):
        return Check(
            name,
            None,
            f"previous bundle {previous['id']} is not beside this one, so the link to it "
            f"is not checked (its envelope sha256 must be {previous['envelope_sha256']})",
            waiver="previous",
            waived="previous" in ctx.trust.waived,
        )
    actual = hashlib.sha256(envelope).hexdigest()
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
    if not os.path.lexists(log):
        return Check(name, False, f"{custody.CUSTODY_FILE} is missing")
    # Integrity only: each entry's signature by the key embedded in it, the links, the
    # binding to this bag. Whose keys those are is the next check's business.
    count, problems = chain.verify(log, custody.signature_checker(None))
    messages = [f"entry {p.line} {p.message}" for p in problems]
    first = next((entry for _, _, entry in chain.read(log)), None)
    details = (first or {}).get("details", {})
    if not first or first.get("event") != "sealed":
        messages.append("the first entry is not the sealing of this bundle")
    else:
        messages += _sealing_mismatches(ctx, details)
        messages += _sealing_signer(ctx, first)
    if messages:
        return Check(name, False, f"custody log problems in {custody.CUSTODY_FILE}", messages)
    events = ", ".join(str(e.get("event", "?")) for e in chain.entries(log))
    return Check(name, True, f"{count} signed, chained event(s): {events}")


def _sealing_signer(ctx: _Context, first: dict[str, Any]) -> list[str]:
    """The sealing is the sealer's act: its entry is signed by the key that signed the
    statement, or the log was written for another bag or by someone else."""
    signature = first.get("signature")
    key = signature.get("keyid") if isinstance(signature, dict) else None
    if ctx.statement_keyid is None or key == ctx.statement_keyid:
        return []
    return [f"the sealing entry is signed by key {key}, not by the statement's signer"]


def _check_custodians(ctx: _Context) -> Check:
    """Who signed each custody entry, by role: an entry by a key outside the custody trust set
    is listed with its key id; it is not tampering, but nobody vouched for it."""
    name = "custody signers"
    log = ctx.bag / custody.CUSTODY_FILE
    if not os.path.lexists(log):
        return Check(name, False, f"{custody.CUSTODY_FILE} is missing")
    sealer = ctx.statement_keyid or ctx.signer_keyid
    found = standings(chain.entries(log), sealer, ctx.trust.custodians)
    if any(s.role == "invalid" for s in found):
        return Check(name, None, "not judged: an entry's signature is bad (chain of custody)")
    if not found or found[0].role != "sealer":
        return Check(
            name, None, "not judged: the log does not open with the sealing (chain of custody)"
        )
    outside = [s for s in found if s.role == "outside"]
    custodians = sorted({str(s.keyid) for s in found if s.role == "custodian"})
    if not outside:
        by = f", {len(found) - 1} by trusted custodian key(s) {', '.join(custodians)}"
        return Check(
            name, True, f"the sealing by the statement's signer{by if len(found) > 1 else ''}"
        )
    keys = ", ".join(sorted({str(s.keyid) for s in outside}))
    why = (
        "no custody trust was given (--custody-trust)"
        if not ctx.trust.custodians
        else "they are not in the custody trust set"
    )
    return Check(
        name,
        None,
        f"{len(outside)} custody entry(ies) signed by key(s) {keys}, not checked for who signed: "
        f"{why}; their chain and signatures are intact",
        [s.describe() for s in outside],
        waiver="custodians",
        waived="custodians" in ctx.trust.waived,
    )


def _sealing_mismatches(ctx: _Context, details: dict[str, Any]) -> list[str]:
    """The sealing entry binds the log to this bag: the envelope and tag manifest it names."""
    problems = []
    envelope_sha = hashlib.sha256(ctx.envelope_bytes).hexdigest() if ctx.envelope_bytes else None
    if envelope_sha and details.get("envelope_sha256") != envelope_sha:
        problems.append("the sealing entry names a different statement envelope")
    tag_manifest = ctx.bag / bagit.TAG_MANIFEST
    digest = _hash_one(ctx.bag, tag_manifest.name, bytearray(CHUNK))
    if digest is not None and details.get("tagmanifest_sha256") != digest:
        problems.append(f"the sealing entry names a different {bagit.TAG_MANIFEST}")
    return problems


def _lmode(path: Path) -> int:
    """The mode of `path` itself (a link is a link), 0 when it does not exist."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def _files_under(root: Path, folder: str) -> set[str]:
    """Every regular file below root/folder (links are never followed; they, and FIFOs and
    devices, are the contents check's), as '/'-separated paths relative to root."""
    found: set[str] = set()
    if not stat.S_ISDIR(_lmode(root / folder)):
        return found
    for parent, _, names in os.walk(root / folder):
        rel = Path(parent).relative_to(root).as_posix()
        found.update(
            f"{rel}/{name}"
            for name in names
            if stat.S_ISREG(os.lstat(os.path.join(parent, name)).st_mode)
        )
    return found


MAX_LISTED = 50  # problems named one by one; --json has the count of the rest


def _check_contents(ctx: _Context) -> Check:
    """Everything in the bag is a regular file the bag lists, or a folder holding one: a link,
    a FIFO, a device, an unlisted file or an unlisted folder anywhere is reported."""
    name = "nothing unlisted in the bag"
    listed = {*TAG_FILES, bagit.TAG_MANIFEST, custody.CUSTODY_FILE, *ctx.tag_manifest}
    listed |= set(ctx.payload_manifest)
    folders = {p.rsplit("/", i)[0] for p in listed for i in range(1, p.count("/") + 1)}
    folders.add("data")  # every bag has it (the bag check says when it is missing)
    problems: list[str] = []
    for parent, dirs, files in os.walk(ctx.bag):
        for entry in sorted(dirs + files):
            path = os.path.join(parent, entry)
            rel = Path(path).relative_to(ctx.bag).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode) and rel.startswith("data/") and not ctx.payload_manifest:
                continue  # an unreadable manifest lists nothing: the payload check says why
            problem = _unlisted(rel, mode, listed, folders)
            if problem:
                problems.append(problem)
    if problems:
        count = len(problems)
        if count > MAX_LISTED:
            problems = [*problems[:MAX_LISTED], f"... and {count - MAX_LISTED} more"]
        return Check(name, False, f"{count} unexpected item(s) in the bag", problems)
    return Check(name, True, "only listed regular files, no links or special files")


def _unlisted(rel: str, mode: int, files: set[str], folders: set[str]) -> str | None:
    if stat.S_ISLNK(mode):
        return f"{rel}: a symbolic link (never followed)"
    if stat.S_ISDIR(mode):
        return None if rel in folders else f"{rel}/: a folder holding no listed file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        return f"{rel}: {kind}, not a regular file"
    if rel in files or rel.startswith("data/"):  # an added payload file: the payload check's
        return None
    return f"{rel}: a file the bag does not list"
