"""Seal, verify and decrypt evidence bundles, and keep their chain of custody.

    sealed = seal(SealSettings(case="INC-1", recipients=["age1..."], signing_key=Path("k.pem")))
    checked = verify(VerifySettings(bundle=sealed.bundle, pubkeys=[Path("k.pub.pem")]))
    opened = decrypt(DecryptSettings(bundle=..., identity=..., out=..., signing_key=...))

A case's seal takes its staged artifacts that are new or changed since its last seal and chains
the bundle to the previous one; a plain folder is sealed to `out` under an incident id. Every
custody event of a bundle that lives in a case (<case>/bundles/<id>) is mirrored in the case's
journal. A signing key's passphrase is a setting, else BREACH_KEY_PASSPHRASE; asking a person
for it is the caller's business (`passphrase_needed` tells when).

breach.case is imported only where a case is used, so that verifying a bundle starts fast.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from breach import __version__
from breach.caselock import CommitUnfinished
from core.aws import AwsAccount
from core.errors import BadInput, StepFailed
from core.models import IncidentId
from core.operator import operator
from manifests import custody as custody_log
from manifests import seal as sealing
from manifests.decrypt import DecryptedArtifact, decrypt_bundle
from manifests.keys import load_identities, resolve_recipients
from manifests.signing import Signer, kms_signer, local_signer
from manifests.staging import StagedArtifact, staged_artifacts
from manifests.trust import Trust, load_trusted, standings, statement_signer
from manifests.verify import Check, Report, verify_bundle

if TYPE_CHECKING:
    from breach.case import Case

PASSPHRASE_ENV = "BREACH_KEY_PASSPHRASE"
Severity = Literal["P1", "P2", "P3", "P4"]
# Every custody event but "sealed", which only sealing writes.
RecordableEvent = Literal[
    "stored",
    "locked",
    "legal-hold-on",
    "legal-hold-off",
    "accessed",
    "verified",
    "decrypted",
    "transferred",
]
RECORDABLE_EVENTS: tuple[str, ...] = get_args(RecordableEvent)
Progress = Callable[[int], None]
# Each model's schema is built on first use, not at import: `breach verify` builds only its own.
SETTINGS = ConfigDict(extra="forbid", frozen=True, defer_build=True)
RESULT = ConfigDict(defer_build=True)


# -- settings ---------------------------------------------------------------------------------
class SigningSettings(BaseModel):
    """A local Ed25519 signing key (PEM); its passphrase, else BREACH_KEY_PASSPHRASE."""

    model_config = SETTINGS

    signing_key: Path | None = None
    passphrase: SecretStr | None = None


class SealSettings(SigningSettings):
    """Either `case` (its staged artifacts) or `source` with `out` and `incident`."""

    case: str | None = Field(default=None, description="case folder or incident id")
    source: Path | None = Field(default=None, description="a plain folder to seal")
    out: Path | None = Field(default=None, description="the bundle folder (with source)")
    incident: IncidentId | None = Field(default=None, description="incident id (with source)")
    severity: Severity | None = Field(default=None, description="with source")
    recipients: list[str] = Field(
        default_factory=list, description="age/SSH recipients, or files of them"
    )
    kms_key: str | None = Field(default=None, description="sign with this AWS KMS key instead")
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = Field(default=None, description="role to assume for KMS signing")
    endpoint_url: str | None = None


class FromStore(BaseModel):
    """`store` set: `bundle` is a bundle id in that store (s3://BUCKET/PREFIX, file://PATH or a
    folder), fetched and checked first; the access is a custody entry in the store."""

    store: str | None = Field(default=None, description="read the bundle from this store")
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None


class TrustSettings(BaseModel):
    """Whose keys are trusted for what (manifests.trust): sealers sign statements, custodians
    sign custody entries; and the checks the user chose not to make, each by name."""

    model_config = SETTINGS

    pubkeys: list[Path] = Field(default_factory=list, description="trusted sealer keys (PEM)")
    trust: list[Path] = Field(default_factory=list, description="folders of trusted sealer keys")
    custody_trust: list[Path] = Field(
        default_factory=list, description="trusted custodian keys: PEM files or folders of them"
    )
    no_signer_check: bool = Field(
        default=False, description="go on without a trusted sealer key: who signed is not checked"
    )
    no_custodian_check: bool = Field(
        default=False, description="accept custody entries by keys outside the custody trust set"
    )
    no_previous_check: bool = Field(
        default=False, description="accept that the previous bundle of the chain is not at hand"
    )

    def trusted(self) -> Trust:
        """The trust anchor; none for the sealer and no waiver is refused (exit 2)."""
        waive = [
            name
            for name, chosen in (
                ("signer", self.no_signer_check),
                ("custodians", self.no_custodian_check),
                ("previous", self.no_previous_check),
            )
            if chosen
        ]
        trust = load_trusted(self.pubkeys, self.trust, self.custody_trust, waive=waive)
        trust.require_sealer()
        return trust


class VerifySettings(SigningSettings, FromStore, TrustSettings):
    bundle: Path
    record: bool = Field(default=False, description="record the outcome in the custody log")


class DecryptSettings(SigningSettings, FromStore, TrustSettings):
    bundle: Path
    identity: Path = Field(description="age identity or SSH private key of a recipient")
    out: Path = Field(description="folder for the plaintext")
    reason: str | None = Field(default=None, description="why the evidence is accessed")


class CustodyRecordSettings(SigningSettings):
    bundle: Path
    event: RecordableEvent
    why: str | None = None
    to: str | None = Field(default=None, description="for transferred: who received it")


class CustodyShowSettings(BaseModel):
    model_config = SETTINGS

    bundle: Path
    custody_trust: list[Path] = Field(
        default_factory=list, description="trusted custodian keys: PEM files or folders of them"
    )


# -- results ----------------------------------------------------------------------------------
class CustodyEntry(BaseModel):
    """One signed, hash-chained custody entry as written."""

    model_config = RESULT

    at: str
    event: str
    who: str
    why: str | None = None
    details: dict[str, Any] | None = None
    seq: int
    prev: str
    signature: dict[str, str]


class SealResult(BaseModel):
    model_config = RESULT

    bundle: Path
    id: str
    envelope_sha256: str
    artifacts: list[dict[str, Any]] = Field(description="the signed artifact records")

    @property
    def plaintext_bytes(self) -> int:
        return sum(int(a["plaintext"]["size"]) for a in self.artifacts)


class CheckResult(BaseModel):
    model_config = RESULT

    name: str
    ok: bool | None = Field(description="None: not made, with the reason in detail")
    detail: str
    problems: list[str] = Field(default_factory=list)
    waiver: str | None = Field(default=None, description="the waiver that accepts it not made")
    waived: bool = Field(default=False, description="not made, and waived by the user")


class VerifyResult(BaseModel):
    model_config = RESULT

    bundle: Path
    bundle_id: str | None = Field(description="the id the signed statement names")
    ok: bool = Field(description="every check passed, or was not made and waived by name")
    verdict: str = Field(description="verified | signer-not-checked | incomplete | failed")
    headline: str = Field(description="the verdict in words, naming the signed bundle id")
    signer_checked: bool = Field(description="the signer was compared with a trusted key")
    not_checked: list[dict[str, str]] = Field(description="checks not made, not waived")
    waived: list[dict[str, str]] = Field(description="checks not made, waived by the user")
    notes: list[str] = Field(description="facts that fail nothing (a renamed folder)")
    checks: list[CheckResult]
    custody: CustodyEntry | None = Field(default=None, description="the entry --record wrote")

    @classmethod
    def of(cls, report: Report, entry: CustodyEntry | None = None) -> VerifyResult:
        checks = [CheckResult(**vars(c)) for c in report.checks]
        judged = report.verdict
        return cls(
            bundle=Path(report.bundle),
            bundle_id=report.bundle_id,
            ok=judged.ok,
            verdict=judged.state,
            headline=judged.headline,
            signer_checked=judged.signer_checked,
            not_checked=judged.not_checked,
            waived=judged.waived,
            notes=judged.notes,
            checks=checks,
            custody=entry,
        )

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.ok is False]

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise StepFailed(f"{self.bundle}: {self.headline}")


class DecryptedFile(BaseModel):
    model_config = RESULT

    name: str
    path: Path
    sha256: str
    size: int


class DecryptResult(BaseModel):
    model_config = RESULT

    bundle: Path
    out: Path
    artifacts: list[DecryptedFile]
    custody: CustodyEntry
    verification: str = Field(description="the verdict decrypting relied on (see verify)")
    headline: str = Field(description="that verdict in words: says when the signer was unchecked")


class CustodyShowResult(BaseModel):
    model_config = RESULT

    bundle: Path
    entries: list[dict[str, Any]] = Field(
        description="as found, each with its signer's `role`: sealer, custodian (in the "
        "custody trust set), outside (not in it) or invalid (bad signature); verify checks them"
    )


# -- steps ------------------------------------------------------------------------------------
def seal(settings: SealSettings, *, progress: Progress | None = None) -> SealResult:
    """Encrypt, hash and sign a case's unsealed staged artifacts (chained to its previous bundle),
    or a plain folder, into a BagIt evidence bundle."""
    if bool(settings.case) == bool(settings.source):
        raise BadInput("seal either a case or a source folder (exactly one)", field="case")
    if settings.source and not settings.out:
        raise BadInput("sealing a folder needs the bundle folder to write", field="out")
    if settings.source and not settings.incident:
        raise BadInput("sealing a folder needs the incident id", field="incident")
    names, recipients = resolve_recipients(settings.recipients)  # each file read once
    options = sealing.SealOptions(
        incident_id=settings.incident or "",
        severity=settings.severity,
        recipients=recipients,
        recipient_names=names,
        signer=_signer(settings),
        operator=operator(),
        tool_version=__version__,
        progress=progress,
    )
    if settings.case:
        from breach.case import Case

        return _seal_case(Case.load(settings.case, write=True), options)
    assert settings.source and settings.out
    return _seal_folder(settings.source, settings.out, options)


def verify(settings: VerifySettings) -> VerifyResult:
    """Run every check on the bundle; with `record`, sign its outcome into the custody log.

    A failed verification is a result (ok False, the failing checks named), not an error. From
    a store, the outcome is always recorded there (it is an access), and a stored object that
    fails its checksum is an error naming it.
    """
    trust = settings.trusted()  # refused before anything is read or fetched
    if settings.store:
        return _from_store(
            settings,
            lambda bundle: verify(
                settings.model_copy(update={"bundle": bundle, "store": None, "record": False})
            ),
        )
    signer = None
    if settings.record:
        signer = _local_signer(settings, "recording the verification needs a signing key")
    report = checked_in_case(settings.bundle, trust)
    entry = None
    if signer is not None:
        outcome = "passed" if report.ok else "failed"
        entry = _record(settings.bundle, "verified", signer, f"verification {outcome}")
    return VerifyResult.of(report, entry)


def decrypt(settings: DecryptSettings) -> DecryptResult:
    """Verify the bundle, refuse it when a check fails, decrypt every artifact into `out`
    (each checked against its signed sha256), then record who decrypted it, when and why."""
    trust = settings.trusted()  # refused before anything is read, fetched or decrypted
    if settings.store:
        if not settings.reason:
            raise BadInput("decrypting from a store needs a reason (custody log)", field="reason")
        return _from_store(
            settings,
            lambda bundle: decrypt(settings.model_copy(update={"bundle": bundle, "store": None})),
        )
    signer = _local_signer(settings, "decrypting is a custody event and needs a signing key")
    identities = load_identities(settings.identity)
    checked = VerifyResult.of(checked_in_case(settings.bundle, trust))
    if not checked.ok:
        raise StepFailed(
            f"refusing to decrypt {settings.bundle}: {checked.headline}",
            hint="run `breach verify` for details",
        )
    recorded: list[CustodyEntry] = []

    def record_release(released: list[DecryptedArtifact]) -> None:
        # The custody entry is written when, and only when, the plaintext is in `out`.
        details = {"artifacts": len(released), "out": str(settings.out)}
        details["verification"] = checked.verdict  # says so when the signer was not checked
        recorded.append(_record(settings.bundle, "decrypted", signer, settings.reason, details))

    done = decrypt_bundle(settings.bundle, identities, settings.out, release=record_release)
    entry = recorded[0]
    files = [DecryptedFile(name=d.name, path=d.path, sha256=d.sha256, size=d.size) for d in done]
    return DecryptResult(
        bundle=settings.bundle,
        out=settings.out,
        artifacts=files,
        custody=entry,
        verification=checked.verdict,
        headline=checked.headline,
    )


def custody_record(settings: CustodyRecordSettings) -> CustodyEntry:
    """Append a signed custody event (stored, locked, legal hold, transferred, ...)."""
    custody_log.log_of(settings.bundle)
    signer = _local_signer(settings, "a custody entry must be signed: it needs a signing key")
    details = {"to": settings.to} if settings.to else None
    return _record(settings.bundle, settings.event, signer, settings.why, details)


def custody_show(settings: CustodyShowSettings) -> CustodyShowResult:
    """The bundle's custody entries as found, each with the role of the key that signed it
    (`verify` checks them)."""
    entries = custody_log.entries(settings.bundle)
    trust = load_trusted([], [], settings.custody_trust)
    trust.refuse_inside(settings.bundle)
    roles = standings(entries, statement_signer(settings.bundle), trust.custodians)
    shown = [{**e, "role": r.role} for e, r in zip(entries, roles, strict=True)]
    return CustodyShowResult(bundle=settings.bundle, entries=shown)


def passphrase_needed(signing_key: Path | None) -> bool:
    """True when the key is an encrypted PEM and BREACH_KEY_PASSPHRASE is not set: a CLI may
    then ask a person for the passphrase and pass it as the `passphrase` setting."""
    if signing_key is None or os.environ.get(PASSPHRASE_ENV) or not signing_key.is_file():
        return False
    with open(signing_key, "rb") as handle:
        return b"ENCRYPTED PRIVATE KEY" in handle.read(64 * 1024)


def _from_store(settings: VerifySettings | DecryptSettings, step: Callable[[Path], Any]) -> Any:
    """Run `step` on the bundle fetched (checked) from the store into a temporary folder, then
    record the access in the store: the verification's outcome, or the decryption."""
    import tempfile

    from breach.procedure.locker import StoreSettings, access_from_store

    event = "decrypted" if isinstance(settings, DecryptSettings) else "verified"
    why = settings.reason if isinstance(settings, DecryptSettings) else None
    store = StoreSettings.model_validate(
        settings.model_dump(include={"store", "profile", "region", "role_arn", "endpoint_url"})
        | {"signing_key": settings.signing_key, "passphrase": settings.passphrase}
    )
    bundle_id = str(settings.bundle)
    with tempfile.TemporaryDirectory(prefix="breach-store-") as work:
        fetched, record = access_from_store(store, bundle_id, event, why, Path(work))
        result = step(fetched)
        if isinstance(result, VerifyResult):
            entry = record({"verification": "passed" if result.ok else "failed"})
            return result.model_copy(
                update={"bundle": Path(bundle_id), "custody": CustodyEntry.model_validate(entry)}
            )
        assert isinstance(settings, DecryptSettings)
        entry = record({"artifacts": len(result.artifacts), "out": str(settings.out)})
        return result.model_copy(
            update={"bundle": Path(bundle_id), "custody": CustodyEntry.model_validate(entry)}
        )


# -- sealing ----------------------------------------------------------------------------------
def _fingerprint(artifact: StagedArtifact) -> dict[str, int]:
    stat = artifact.path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def unsealed_artifacts(case: Case) -> list[StagedArtifact]:
    """Staged artifacts not sealed yet, or changed since they were sealed."""
    sealed = case.record.sealed
    fresh = []
    for artifact in staged_artifacts(case.staging):
        seen = sealed.get(str(artifact.name))
        if seen is None or {k: seen.get(k) for k in ("size", "mtime_ns")} != _fingerprint(artifact):
            fresh.append(artifact)
    return fresh


CASE_RECORD = "case"  # the payload folder of the journal and case.json in a case's bundle


def journal_head(case: Case) -> dict[str, Any] | None:
    """The journal's last entry as the seal signs it: seq, sha256 of its line, entry count."""
    from manifests import chain

    if not case.journal_path.is_file():
        return None
    last: tuple[bytes, dict[str, Any] | None] | None = None
    count = 0
    for _, line, entry in chain.read(case.journal_path):
        last, count = (line, entry), count + 1
    if last is None:
        return None
    seq = last[1].get("seq") if last[1] else None
    return {"seq": seq, "sha256": chain.line_hash(last[0]), "entries": count}


def case_record_artifacts(case: Case) -> list[StagedArtifact]:
    """The case journal and case.json, sealed with every bundle of the case (as they are when
    it is sealed): the record of how the evidence came to be is evidence too."""
    from pathlib import PurePosixPath

    found = []
    for path, media in (
        (case.journal_path, "application/jsonl"),
        (case.root / "case.json", "application/json"),
    ):
        if path.is_file():
            source = {"system": "breachkit case", "case": case.id, "file": path.name}
            meta = {"media_type": media, "source": source}
            found.append(StagedArtifact(PurePosixPath(CASE_RECORD, path.name), path, meta))
    return found


def _seal_case(case: Case, options: sealing.SealOptions) -> SealResult:
    artifacts = unsealed_artifacts(case)
    if not artifacts:
        raise BadInput(
            f"nothing new to seal in {case.staging}", hint="every staged artifact is sealed already"
        )
    last = case.record.last_bundle
    bundle_id = sealing.new_bundle_id(case.id)
    previous = sealing.PreviousBundle(last["id"], last["envelope_sha256"]) if last else None
    options = dataclasses.replace(
        options,
        incident_id=case.id,
        severity=case.record.severity,
        previous=previous,
        bundle_id=bundle_id,
        journal=journal_head(case),
    )
    try:
        bundle, work = sealing.build(
            artifacts + case_record_artifacts(case), case.bundles / bundle_id, options
        )
        _commit_seal(case, artifacts, bundle, work, last)
    except CommitUnfinished:
        raise  # committed: the next command on the case makes it visible
    except StepFailed as exc:  # a full disk, a journal that refuses: nothing is left behind
        said = (
            exc.message
            if exc.message.startswith("evidence.seal ")
            else f"evidence.seal not done: {exc.message}"
        )
        raise StepFailed(f"{said}; nothing was sealed", hint=exc.hint) from None
    return _sealed(bundle)


def _commit_seal(
    case: Case,
    artifacts: list[StagedArtifact],
    bundle: sealing.SealedBundle,
    work: Path,
    last: dict[str, str] | None,
) -> None:
    """The seal's one commit point: the journal entry naming the bundle (and the case.json that
    records it as the chain's head), then the bundle's rename into bundles/, then case.json."""
    sealed = dict(case.record.sealed)
    # The case record artifacts come last; only staged artifacts are bookkept as sealed.
    for artifact, record in zip(artifacts, bundle.artifacts[: len(artifacts)], strict=True):
        sealed[str(artifact.name)] = {
            **_fingerprint(artifact),
            "sha256": record["plaintext"]["sha256"],
            "bundle": bundle.id,
        }
    before = case.record.last_bundle, case.record.sealed
    case.record.last_bundle = {"id": bundle.id, "envelope_sha256": bundle.envelope_sha256}
    case.record.sealed = sealed
    try:
        case.commit(
            "evidence.seal",
            where=str(bundle.path),
            details={
                "bundle": bundle.id,
                "envelope_sha256": bundle.envelope_sha256,
                "artifacts": len(bundle.artifacts),
                "previous": last["id"] if last else None,
            },
            moves=[(work, bundle.path)],
        )
    except CommitUnfinished:
        raise
    except BaseException:
        case.record.last_bundle, case.record.sealed = before
        raise


def _seal_folder(source: Path, out: Path, options: sealing.SealOptions) -> SealResult:
    if not source.is_dir():
        raise BadInput(f"source folder not found: {source}", field="source")
    artifacts = staged_artifacts(source)
    if not artifacts:
        raise BadInput(f"nothing to seal: {source} holds no file", field="source")
    return _sealed(sealing.seal(artifacts, out, options))


def _sealed(bundle: sealing.SealedBundle) -> SealResult:
    return SealResult(
        bundle=bundle.path,
        id=bundle.id,
        envelope_sha256=bundle.envelope_sha256,
        artifacts=bundle.artifacts,
    )


# -- signers and custody ----------------------------------------------------------------------
def _passphrase(settings: SigningSettings) -> str | None:
    if settings.passphrase is not None:
        return settings.passphrase.get_secret_value() or None
    return os.environ.get(PASSPHRASE_ENV)


def _local_signer(settings: SigningSettings, missing: str) -> Signer:
    """The local key a custody entry is signed with; `missing` is the error without one."""
    if settings.signing_key is None:
        raise BadInput(missing, field="signing_key")
    return local_signer(settings.signing_key, _passphrase(settings))


def _signer(settings: SealSettings) -> Signer:
    """The local key, or the KMS key in the one AWS account (profile, region, role, endpoint)."""
    if settings.signing_key and settings.kms_key:
        raise BadInput("sign with a local key or a KMS key, not both", field="kms_key")
    if settings.signing_key:
        return local_signer(settings.signing_key, _passphrase(settings))
    if settings.kms_key:
        account = AwsAccount(
            profile=settings.profile,
            region=settings.region,
            role_arn=settings.role_arn,
            endpoint_url=settings.endpoint_url,
            session_name="breachkit-seal",
        )
        return kms_signer(settings.kms_key, account)
    raise BadInput("no signer given: a local signing key or a KMS key", field="signing_key")


JOURNAL_CHECK = "custody log against the case journal"


def checked_in_case(bundle: Path, trust: Trust) -> Report:
    """Every check of the bundle; for one that lives in a case, also its custody log against
    the case journal, which mirrors each custody event: the log alone cannot show that entries
    were dropped from its end, the journal can."""
    report = verify_bundle(bundle, trust)
    case = case_of_bundle(bundle)
    if case is not None:
        report.checks.append(_journal_mirror(case, bundle))
    return report


def _journal_mirror(case: Case, bundle: Path) -> Check:
    mirrored = {}  # custody seq -> event, as the case journal recorded it
    for record in case.timeline():
        details = record.get("details")
        details = details if isinstance(details, dict) else {}
        what, seq = str(record.get("what", "")), details.get("custody_seq")
        if (
            what.startswith("custody.")
            and details.get("bundle") == bundle.name
            and isinstance(seq, int)
        ):
            mirrored[seq] = what.removeprefix("custody.")
    held = len(custody_log.entries(bundle))
    beyond = sorted(seq for seq in mirrored if seq >= held)
    if beyond:
        return Check(
            JOURNAL_CHECK,
            False,
            f"the case journal records custody entry {beyond[-1] + 1} "
            f"({mirrored[beyond[-1]]}), but the log holds {held}: entries were dropped from it",
            [f"entry {seq + 1} ({mirrored[seq]}) is missing from the log" for seq in beyond],
        )
    return Check(
        JOURNAL_CHECK,
        True,
        f"{len(mirrored)} custody event(s) journaled in {case.id}, all in the log",
    )


def case_of_bundle(bundle: Path, *, write: bool = False) -> Case | None:
    """The case a bundle lives in (<case>/bundles/<id>), if any; with `write`, locked."""
    parent = bundle.resolve().parent
    if parent.name == "bundles" and (parent.parent / "case.json").is_file():
        from breach.case import Case

        return Case.load(parent.parent, write=write)
    return None


def _record(
    bundle: Path, event: str, signer: Signer, why: str | None, details: dict[str, Any] | None = None
) -> CustodyEntry:
    """Append a custody event to the bundle's log, and to its case's journal when it has one
    (whose lock is taken first: a busy case refuses before the custody log changes)."""
    case = case_of_bundle(bundle, write=True)
    entry = custody_log.record(bundle, event, signer, who=operator(), why=why, details=details)
    if case is not None:
        case.journal(
            f"custody.{event}",
            why=why,
            where=str(bundle),
            details={"bundle": bundle.name, "custody_seq": entry["seq"], **(details or {})},
        )
    return CustodyEntry.model_validate(entry)
