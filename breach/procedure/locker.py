"""The evidence locker: push sealed bundles to a store, list, fetch, and legal hold.

    pushed = push(PushSettings(bundle=Path("cases/INC-1/bundles/<id>"), store="s3://locker/ev",
                               retain_days=365, signing_key=Path("k.pem")))
    shown = list_bundles(ListSettings(store="s3://locker/ev", signing_key=...))
    got = fetch(FetchSettings(store="s3://locker/ev", bundle_id=pushed.bundle_id, out=Path("x"),
                              reason="counsel review", signing_key=...))
    held = hold(HoldSettings(store=..., bundle_id=..., state="on", reason="litigation", ...))

A store (evidence.stores) keeps a bundle's files under `<bundle id>/` and each custody entry as
an object of its own, `<bundle id>/custody/<seq>.json`, holding the entry's exact line: entries
recorded after the push become new (locked) objects beside the bundle and are never written over
one, so the store's chain shows when a copy of the log has lost its tail. Every access (list,
fetch, verify, decrypt, hold) is a signed custody entry in the store: who (the AWS caller or the
OS user, and the custodian's key id), when, why.

A push journals its intent in the case (when the bundle lives in one), uploads each file with its
SHA-256 compared with the bundle's manifests, reads every object back, and commits with one
custody entry, "stored", naming the URIs, version ids and lock state, and a journal record. Run
again after an interruption, it uploads only what the store does not hold, verified.
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from breach.procedure.bundle import (
    RESULT,
    SETTINGS,
    SigningSettings,
    TrustSettings,
    VerifyResult,
    _local_signer,
    case_of_bundle,
)
from core.aws import AwsAccount
from core.errors import BadInput, StepFailed
from core.faults import point
from core.fsio import resolve_inside
from core.models import IncidentId
from core.operator import operator
from core.timeutil import utcnow
from core.untrusted import loads
from evidence.stores.interface import ChecksumMismatch, Lock, Store, StoredObject
from evidence.stores.registry import open_store
from manifests import bagit, chain
from manifests import custody as custody_log
from manifests.keys import keyid
from manifests.seal import ENVELOPE
from manifests.signing import Signer
from manifests.verify import verify_bundle

if TYPE_CHECKING:
    from breach.case import Case

CUSTODY_DIR = "custody/"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z")  # \Z: no trailing newline
Progress = Callable[[int], None]


# -- settings ---------------------------------------------------------------------------------
class StoreSettings(SigningSettings):
    """The store (s3://BUCKET/PREFIX, file://PATH or a folder), the AWS account for S3, and the
    custodian's signing key: every access is a signed custody entry."""

    model_config = SETTINGS

    store: str = Field(description="s3://BUCKET/PREFIX, file://PATH or a folder")
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None


class PushSettings(StoreSettings):
    bundle: Path
    retain_days: int | None = Field(default=None, ge=1, description="retention from now")
    mode: Literal["compliance", "governance"] = "governance"
    legal_hold: bool = False
    allow_unlocked: bool = Field(default=False, description="store on a bucket without lock")
    reason: str | None = None


class ListSettings(StoreSettings):
    incident: IncidentId | None = None
    reason: str | None = None


class FetchSettings(StoreSettings, TrustSettings):
    bundle_id: str
    out: Path = Field(description="the bundle is written to OUT/<bundle id>")
    reason: str = Field(min_length=1, description="why the evidence is accessed")


class HoldSettings(StoreSettings):
    bundle_id: str
    state: Literal["on", "off"]
    reason: str = Field(min_length=1)


# -- results ----------------------------------------------------------------------------------
class StoredFile(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    key: str
    uri: str
    size: int
    sha256: str | None
    version_id: str | None
    mode: str | None
    retain_until: str | None
    legal_hold: bool | None

    @classmethod
    def of(cls, stored: StoredObject) -> StoredFile:
        return cls.model_validate(stored.record())


class PushResult(BaseModel):
    model_config = RESULT

    bundle: Path
    bundle_id: str
    store: str
    uploaded: list[str] = Field(description="objects sent by this run")
    already_stored: list[str] = Field(description="objects the store held, verified")
    objects: list[StoredFile]
    lock: dict[str, Any]
    custody_seq: int | None = Field(description="the 'stored' entry; None: recorded before")


class BundleSummary(BaseModel):
    model_config = RESULT

    bundle_id: str
    incident: str | None
    created_at: str | None
    signer_keyid: str | None
    size: int
    objects: int
    retain_until: str | None = Field(description="the earliest retention date of its objects")
    legal_hold: Literal["on", "off", "partial"]


class ListResult(BaseModel):
    model_config = RESULT

    store: str
    bundles: list[BundleSummary]


class FetchResult(BaseModel):
    model_config = RESULT

    store: str
    bundle_id: str
    bundle: Path
    objects: list[StoredFile]
    retain_until: str | None
    legal_hold: Literal["on", "off", "partial"]
    verification: VerifyResult
    custody_seq: int


class HoldResult(BaseModel):
    model_config = RESULT

    store: str
    bundle_id: str
    state: Literal["on", "off"]
    objects: list[StoredFile]
    custody_seq: int


# -- steps ------------------------------------------------------------------------------------
def push(
    settings: PushSettings,
    *,
    progress: Progress | None = None,
    after_object: Callable[[str], None] | None = None,
) -> PushResult:
    """Store a sealed bundle: each file with its SHA-256 checked against the bundle's manifests,
    locked, read back; then the custody entries, each a new object, and a signed "stored" entry.

    `after_object(key)` is called after each object is stored (tests interrupt a push with it).
    """
    bundle = settings.bundle
    expected = _expected_files(bundle)
    bundle_id = _bundle_id(bundle)
    signer = _local_signer(settings, "pushing is a custody event and needs a signing key")
    store = _open(settings)
    lock_state = store.check_lock(settings.allow_unlocked)
    until = utcnow() + timedelta(days=settings.retain_days) if settings.retain_days else None
    lock = Lock(settings.mode if until else None, until, settings.legal_hold)
    case = case_of_bundle(bundle, write=True)
    intent = {"bundle": bundle_id, "store": store.uri, "objects": len(expected)}
    if case is not None:
        _reconcile_pushes(case, store, bundle_id, expected)
        point("push.intent.before")
        intent["run"] = case.intend("locker.push", intent, why=settings.reason)
        point("push.intent.after")
    uploaded, held, objects = [], [], []
    try:
        for key, digest in expected.items():
            found = store.head(bundle_id, key)
            if found is not None and _same(found, digest, lock):
                held.append(key)
                objects.append(found)
                continue
            if found is not None:
                raise StepFailed(
                    f"{found.uri} holds other content than {key} of the bundle "
                    f"(sha256 {found.sha256 or found.checksum})",
                    hint="a store never overwrites: push to another prefix",
                )
            objects.append(store.put_file(bundle_id, key, bundle / key, digest, lock, progress))
            uploaded.append(key)
            point("push.object")
            if after_object is not None:
                after_object(key)
        sent = _sync_custody(store, bundle, bundle_id, lock, after_object)
        entry = None
        # A "stored" entry recorded by a run killed before it reached the store went up with
        # the custody sync above: it is that push's record, not a reason for a second one.
        synced_own = bool(sent) and _last_is_stored(bundle, store.uri)
        if uploaded or (sent and not synced_own) or not _recorded_stored(bundle, store.uri):
            details = _stored_details(store.uri, objects, lock, lock_state, signer)
            entry = custody_log.record(bundle, "stored", signer, who=store.who(), details=details)
            point("push.stored.recorded")
            line = chain.canonical(entry) + b"\n"
            store.put_bytes(bundle_id, _custody_key(entry["seq"]), line, lock)
            point("push.stored.put")
        uploaded += sent
    except BaseException as exc:
        if case is not None:
            error = exc.message if isinstance(exc, StepFailed | BadInput) else repr(exc)
            case.journal("locker.push", result="failed", details={**intent, "error": error})
        raise
    if case is not None:
        case.journal(
            "locker.push",
            why=settings.reason,
            where=store.uri,
            details={
                **intent,
                "uploaded": len(uploaded),
                "already_stored": len(held),
                "custody_seq": entry["seq"] if entry else None,
                "versions": {o.key: o.version_id for o in objects},
            },
        )
    return PushResult(
        bundle=bundle,
        bundle_id=bundle_id,
        store=store.uri,
        uploaded=uploaded,
        already_stored=held,
        objects=[StoredFile.of(o) for o in objects],
        lock=_lock_record(lock) | lock_state,
        custody_seq=entry["seq"] if entry else None,
    )


def list_bundles(settings: ListSettings) -> ListResult:
    """Each bundle in the store (of one incident) with its incident, created time, signer key id,
    size, retention and hold; listing is an access, recorded in each listed bundle's custody."""
    signer = _local_signer(settings, "listing is a custody event and needs a signing key")
    store = _open(settings)
    found = []
    for bundle_id in store.bundles():
        if not _SAFE_ID.match(bundle_id):
            continue
        objects = store.objects(bundle_id)
        if not objects:
            continue
        facts = _statement_facts(store, bundle_id)
        if settings.incident and facts["incident"] != settings.incident:
            continue
        until, hold = _lock_summary(objects)
        found.append(
            BundleSummary(
                bundle_id=bundle_id,
                size=sum(o.size for o in objects),
                objects=len(objects),
                retain_until=until,
                legal_hold=hold,
                **facts,
            )
        )
        _record_in_store(store, bundle_id, "accessed", signer, settings.reason or "listed", {})
    return ListResult(store=store.uri, bundles=found)


def fetch(settings: FetchSettings, *, progress: Progress | None = None) -> FetchResult:
    """Download a bundle into OUT/<bundle id>, checking each object's SHA-256 on the way (against
    the manifests and the store's checksum), verify it as `breach verify` does, report retention
    and hold, and record the access. A failed verification is in the result (ok False)."""
    trust = settings.trusted()  # no trust anchor: refused before the store is touched
    signer = _local_signer(settings, "fetching is a custody event and needs a signing key")
    store = _open(settings)
    target = settings.out / _safe_id(settings.bundle_id)
    if target.exists():
        raise BadInput(f"{target} exists; fetch into another folder", field="out")
    settings.out.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=settings.out, prefix=f".{settings.bundle_id}."))
    try:
        objects = download(store, settings.bundle_id, partial, progress)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    report = verify_bundle(target, trust)
    outcome = "passed" if report.ok else "failed"
    details = {"to": str(target), "verification": outcome}
    entry = _record_in_store(
        store, settings.bundle_id, "accessed", signer, settings.reason, details
    )
    with open(target / custody_log.CUSTODY_FILE, "ab") as log:
        log.write(chain.canonical(entry) + b"\n")
    until, hold = _lock_summary(objects)
    return FetchResult(
        store=store.uri,
        bundle_id=settings.bundle_id,
        bundle=target,
        objects=[StoredFile.of(o) for o in objects],
        retain_until=until,
        legal_hold=hold,
        verification=VerifyResult.of(report),
        custody_seq=entry["seq"],
    )


def hold(settings: HoldSettings) -> HoldResult:
    """Legal hold on or off on every object version of the bundle, read back, and recorded as a
    new custody object (itself under the hold it records)."""
    signer = _local_signer(settings, "a legal hold is a custody event and needs a signing key")
    store = _open(settings)
    bundle_id = _safe_id(settings.bundle_id)
    if not store.objects(bundle_id):
        raise _no_bundle(store, bundle_id)
    on = settings.state == "on"
    held = store.set_hold(bundle_id, on)
    wrong = [o.uri for o in held if o.legal_hold is not None and o.legal_hold != on]
    if wrong:
        raise StepFailed(f"legal hold is not {settings.state} on {', '.join(wrong)} when read back")
    event = "legal-hold-on" if on else "legal-hold-off"
    details = {"objects": len(held), "versions": {o.key: o.version_id for o in held}}
    entry = _record_in_store(store, bundle_id, event, signer, settings.reason, details)
    return HoldResult(
        store=store.uri,
        bundle_id=bundle_id,
        state=settings.state,
        objects=[StoredFile.of(o) for o in held],
        custody_seq=entry["seq"],
    )


def access_from_store(
    settings: StoreSettings, bundle_id: str, event: str, why: str | None, work: Path
) -> tuple[Path, Callable[[dict[str, Any]], dict[str, Any]]]:
    """For `breach verify|decrypt --store`: the bundle downloaded (checked) into `work`, and a
    function that records the access in the store with the given details."""
    signer = _local_signer(
        settings, f"{event} from a store is a custody event: it needs a signing key"
    )
    store = _open(settings)
    target = work / _safe_id(bundle_id)
    target.mkdir()
    download(store, bundle_id, target)

    def record(details: dict[str, Any]) -> dict[str, Any]:
        return _record_in_store(store, bundle_id, event, signer, why, details)

    return target, record


def download(
    store: Store, bundle_id: str, folder: Path, progress: Progress | None = None
) -> list[StoredObject]:
    """Every object of the bundle into `folder`, each checked: tag files against the tag
    manifest, payload against the payload manifest, every object against the store's own
    checksum, custody entries as an unbroken chain. Any mismatch fails naming the object."""
    bundle_id = _safe_id(bundle_id)
    every = store.objects(bundle_id)
    objects = {o.key: o for o in every}
    if not objects:
        raise _no_bundle(store, bundle_id)
    problems: list[str] = []

    def get(key: str, expected: str | None) -> str | None:
        stored = objects.pop(key, None)
        if stored is None:
            problems.append(f"{key}: missing from the store")
            return None
        dest = resolve_inside(folder, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        actual = store.download(bundle_id, key, dest, progress)
        if expected is not None and actual != expected:
            problems.append(
                f"{stored.uri}: sha256 {actual[:16]}… differs from the manifest's {expected[:16]}…"
            )
        elif stored.sha256 is not None and actual != stored.sha256 and key.startswith(CUSTODY_DIR):
            problems.append(f"{stored.uri}: sha256 differs from the store's checksum")
        return actual

    get(bagit.TAG_MANIFEST, None)
    tags = _parse(folder / bagit.TAG_MANIFEST, problems)
    for key, digest in tags.items():
        get(key, digest)
    payload = _parse(folder / bagit.PAYLOAD_MANIFEST, problems)
    for key, digest in payload.items():
        if not key.startswith("data/"):
            problems.append(f"{key}: a payload entry outside data/")
            continue
        get(key, digest)
    lines, prev = [], chain.GENESIS
    for seq, key in enumerate(sorted(k for k in objects if k.startswith(CUSTODY_DIR))):
        if key != _custody_key(seq):
            problems.append(f"custody entry {seq} is missing from the store (found {key} instead)")
            break
        stored = objects.pop(key)
        data = store.read_bytes(bundle_id, key)
        problems += _custody_problems(store, stored, data, seq, prev)
        prev = chain.line_hash(data)
        lines.append(data if data.endswith(b"\n") else data + b"\n")
    (folder / custody_log.CUSTODY_FILE).write_bytes(b"".join(lines))
    problems += [
        f"{objects[k].uri}: not part of the sealed bundle (added)"
        for k in sorted(objects)
        if not k.startswith(CUSTODY_DIR)
    ]
    if problems:
        raise StepFailed(
            f"{store.uri}/{bundle_id}: {len(problems)} object(s) fail their checksum: "
            + "; ".join(problems),
            hint="the stored evidence was changed; nothing was kept",
        )
    return every


def _custody_problems(
    store: Store, stored: StoredObject, data: bytes, seq: int, prev: str
) -> list[str]:
    """A custody object is one entry's line, written with its checksum, linked to the one before
    it (its signature is checked by the verification that follows)."""
    if store.versioned and stored.checksum is None:
        return [f"{stored.uri}: has no SHA-256 checksum: not written by breachkit"]
    if stored.sha256 is not None and _sha(data) != stored.sha256:
        return [f"{stored.uri}: sha256 differs from the store's checksum"]
    try:  # the store's objects may be hostile: nesting and duplicate keys refused, no crash
        entry = loads(data, what=stored.uri)
        linked = entry["seq"] == seq and entry["prev"] == prev
    except (StepFailed, KeyError, TypeError):
        linked = False
    if not linked:
        return [
            f"{stored.uri}: custody entry {seq} was changed (it does not link to the one before)"
        ]
    return []


# -- inside -----------------------------------------------------------------------------------
def _open(settings: StoreSettings) -> Store:
    account = AwsAccount(
        profile=settings.profile,
        region=settings.region,
        role_arn=settings.role_arn,
        endpoint_url=settings.endpoint_url,
        session_name="breachkit-locker",
    )
    return open_store(settings.store, account)


def _safe_id(bundle_id: str) -> str:
    if not _SAFE_ID.match(bundle_id):
        raise BadInput(f"not a bundle id: {bundle_id!r}", field="bundle_id")
    return bundle_id


def _no_bundle(store: Store, bundle_id: str) -> BadInput:
    return BadInput(
        f"no bundle {bundle_id} in {store.uri}",
        hint=f"breach bundle list --store {store.uri}",
        field="bundle_id",
    )


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _parse(path: Path, problems: list[str]) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        return bagit.parse_manifest(path)
    except BadInput as exc:
        problems.append(exc.message)
        return {}


def _custody_key(seq: int) -> str:
    return f"{CUSTODY_DIR}{seq:08d}.json"


def _bundle_id(bundle: Path) -> str:
    """The id the statement names (the folder name when it names none), as a safe name."""
    try:
        envelope = loads((bundle / ENVELOPE).read_bytes(), what=ENVELOPE)
        payload = loads(base64.b64decode(envelope["payload"]), what="the signed statement")
        named = payload["predicate"]["bundle"]["id"]
    except (OSError, StepFailed, ValueError, KeyError, TypeError):
        named = bundle.name
    return _safe_id(str(named))


def _expected_files(bundle: Path) -> dict[str, str]:
    """{path: sha256} of every file a push stores: payload (manifest), tag files (tag
    manifest) and the tag manifest itself (as the sealing custody entry names it)."""
    if not (bundle / "bagit.txt").is_file():
        raise BadInput(f"{bundle} is not a bundle (no bagit.txt)", field="bundle")
    entries = custody_log.entries(bundle)
    sealing = entries[0].get("details", {}) if entries else {}
    tag_sha = sealing.get("tagmanifest_sha256")
    if not tag_sha or not (bundle / bagit.TAG_MANIFEST).is_file():
        raise BadInput(f"{bundle}: no sealing entry naming its tag manifest", field="bundle")
    payload = bagit.parse_manifest(bundle / bagit.PAYLOAD_MANIFEST)
    tags = bagit.parse_manifest(bundle / bagit.TAG_MANIFEST)
    for name in [*payload, *tags]:
        resolve_inside(bundle, name)
    # The payload first, the tag files next, the tag manifest last: its presence in the store
    # says every file it covers went before it.
    return {**dict(sorted(payload.items())), **tags, bagit.TAG_MANIFEST: str(tag_sha)}


def _same(found: StoredObject, digest: str, lock: Lock) -> bool:
    """The store already holds this file, as locked as asked (a later retention date counts)."""
    if found.sha256 != digest:
        return False
    if lock.legal_hold and not found.legal_hold:
        return False
    return lock.retain_until is None or found.retain_until is not None


def _sync_custody(
    store: Store,
    bundle: Path,
    bundle_id: str,
    lock: Lock,
    after_object: Callable[[str], None] | None,
) -> list[str]:
    """Each local custody entry the store lacks becomes a new object; an entry the store holds
    differently, or one it holds beyond the local log's end, stops the push."""
    lines = [line + b"\n" for _, line, _ in chain.read(custody_log.log_of(bundle))]
    stored = sorted(o.key for o in store.objects(bundle_id) if o.key.startswith(CUSTODY_DIR))
    beyond = [k for k in stored if k > _custody_key(len(lines) - 1)]
    if beyond:
        raise StepFailed(
            f"{bundle}: its custody log ends at entry {len(lines) - 1}, but {store.uri} holds "
            f"{len(beyond)} later entry(ies): the local log lost its tail",
            hint=f"fetch the bundle: breach bundle fetch --store {store.uri} {bundle_id}",
        )
    sent = []
    for seq, line in enumerate(lines):
        key = _custody_key(seq)
        if key in stored:
            if store.read_bytes(bundle_id, key) != line:
                raise StepFailed(f"{store.uri}/{bundle_id}/{key} differs from custody entry {seq}")
            continue
        store.put_bytes(bundle_id, key, line, lock)
        sent.append(key)
        point("push.custody")
        if after_object is not None:
            after_object(key)
    return sent


def _reconcile_pushes(case: Case, store: Store, bundle_id: str, expected: dict[str, str]) -> None:
    """A push of this bundle to this store that never journaled its outcome: what it stored,
    read back from the store (each object's SHA-256 against the bundle's), recorded as its own;
    the push that follows sends only the rest."""
    for open_run in case.unfinished("locker.push"):
        details = open_run.details
        if details.get("bundle") != bundle_id or details.get("store") != store.uri:
            continue
        point("push.reconcile")
        stored = [k for k, sha in expected.items() if _holds(store.head(bundle_id, k), sha)]
        custody = [o.key for o in store.objects(bundle_id) if o.key.startswith(CUSTODY_DIR)]
        case.journal(
            "locker.push",
            result="reconciled",
            where=store.uri,
            details={
                **details,
                "stored": len(stored),
                "missing": len(expected) - len(stored),
                "custody_entries": len(custody),
            },
        )


def _holds(found: StoredObject | None, sha256: str) -> bool:
    return found is not None and found.sha256 == sha256


def _last_is_stored(bundle: Path, uri: str) -> bool:
    entries = custody_log.entries(bundle)
    last = entries[-1] if entries else {}
    return last.get("event") == "stored" and last.get("details", {}).get("store") == uri


def _recorded_stored(bundle: Path, uri: str) -> bool:
    return any(
        e.get("event") == "stored" and e.get("details", {}).get("store") == uri
        for e in custody_log.entries(bundle)
    )


def _lock_record(lock: Lock) -> dict[str, Any]:
    return {
        "mode": lock.mode,
        "retain_until": lock.retain_until.isoformat() if lock.retain_until else None,
        "legal_hold": lock.legal_hold,
    }


def _stored_details(
    uri: str, objects: list[StoredObject], lock: Lock, state: dict[str, Any], signer: Signer
) -> dict[str, Any]:
    return {
        "store": uri,
        "operator": operator(),
        "custodian_keyid": keyid(signer.public_key),
        "lock": _lock_record(lock) | state,
        "objects": [
            {"key": o.key, "version_id": o.version_id, "sha256": o.sha256, "mode": o.mode}
            for o in objects
        ],
    }


def _record_in_store(
    store: Store,
    bundle_id: str,
    event: str,
    signer: Signer,
    why: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    """Append a signed custody entry to the store's chain of the bundle, as a new object locked
    like the bundle's tag manifest."""
    keys = sorted(o.key for o in store.objects(bundle_id) if o.key.startswith(CUSTODY_DIR))
    anchor = store.head(bundle_id, bagit.TAG_MANIFEST)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        lines = [store.read_bytes(bundle_id, k) for k in keys]
        (folder / custody_log.CUSTODY_FILE).write_bytes(b"".join(lines))
        details = {
            **details,
            "operator": operator(),
            "custodian_keyid": keyid(signer.public_key),
        }
        entry = custody_log.record(folder, event, signer, who=store.who(), why=why, details=details)
    lock = Lock(
        mode=anchor.mode.lower() if anchor and anchor.mode else None,  # type: ignore[arg-type]
        retain_until=anchor.retain_until if anchor and anchor.mode else None,
        legal_hold=bool(anchor and anchor.legal_hold),
    )
    store.put_bytes(bundle_id, _custody_key(entry["seq"]), chain.canonical(entry) + b"\n", lock)
    return entry


def _statement_facts(store: Store, bundle_id: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"incident": None, "created_at": None, "signer_keyid": None}
    try:
        envelope = loads(store.read_bytes(bundle_id, ENVELOPE), what=ENVELOPE)
        payload = loads(base64.b64decode(envelope["payload"]), what="the signed statement")
        bundle = payload["predicate"]["bundle"]
        facts["incident"] = bundle.get("incident", {}).get("id")
        facts["created_at"] = bundle.get("created_at")
        facts["signer_keyid"] = (envelope.get("signatures") or [{}])[0].get("keyid")
    except (StepFailed, ValueError, KeyError, TypeError, AttributeError):
        pass
    return facts


def _lock_summary(
    objects: list[StoredObject],
) -> tuple[str | None, Literal["on", "off", "partial"]]:
    dates = [o.retain_until for o in objects if o.retain_until is not None]
    until = min(dates).isoformat() if dates and len(dates) == len(objects) else None
    holds = {bool(o.legal_hold) for o in objects}
    hold: Literal["on", "off", "partial"] = (
        "partial" if len(holds) > 1 else ("on" if holds == {True} else "off")
    )
    return until, hold


__all__ = [
    "ChecksumMismatch",
    "FetchResult",
    "FetchSettings",
    "HoldResult",
    "HoldSettings",
    "ListResult",
    "ListSettings",
    "PushResult",
    "PushSettings",
    "download",
    "fetch",
    "hold",
    "list_bundles",
    "push",
]
