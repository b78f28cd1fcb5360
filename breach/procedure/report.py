"""Report: one self-contained HTML file about a sealed bundle, for counsel and courts.

    done = report(ReportSettings(bundle=Path("cases/INC-1/bundles/<id>"), out=Path("r.html"),
                                 pubkeys=[Path("keys/signing.pub.pem")]))
    done.verdict, done.sha256      # "verified" | "failed" | "no-verdict"; the report's own hash

The bundle is verified exactly as `breach verify` verifies it. The report then lays out the
incident, each check and what it proves, the signer and the trust anchor, every artifact of the
signed statement, the chain of bundles, the custody log, the containment receipts and notices
(the case's, when the bundle lives in a case, and those sealed in the statement) and a timeline
(an inline SVG) drawn from the case journal, else from the statement and the custody log.

Everything read from the bundle or the case is HTML-escaped by the template. The same inputs give
the same bytes (nothing depends on when or where it is rendered unless `generated_at` is given),
so the report's SHA-256 can be recorded. Rendering only reads: it records no custody event. A
bundle that fails verification still gets its report, whose first line says so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from breach import __version__
from breach.procedure.bundle import (
    SigningSettings,
    TrustSettings,
    VerifyResult,
    case_of_bundle,
    checked_in_case,
)
from core.errors import BadInput, BreachError
from core.fsio import read_json, write_text
from core.models import Moment
from core.records import ContainmentReceipt, NotificationDecision, NotificationReceipt
from core.timeutil import parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from breach.case import Case
    from breach.report.timeline import Event

Verdict = Literal["verified", "failed", "no-verdict"]
ENVELOPE = "statement.dsse.json"
SIGNER_PEM = "signer.pub.pem"
TAG_MANIFEST = "tagmanifest-sha256.txt"
CUSTODY_FILE = "custody.jsonl"
# Source fields shown first, in this order, with their labels; the rest follow sorted.
SOURCE_FIELDS = (
    ("system", "System"),
    ("table", "Table"),
    ("time_column", "Time column"),
    ("window", "Time window"),
    ("row_count", "Rows"),
    ("estimated_rows", "Rows estimated by the server"),
    ("oldest_event", "Oldest event"),
    ("newest_event", "Newest event"),
    ("taken_at", "Taken at"),
    ("pg_snapshot", "Database snapshot"),
    ("lsn", "WAL position (LSN)"),
    ("server_version", "Server version"),
    ("dsn", "Connection (password removed)"),
    ("schema_sha256", "Schema SHA-256"),
)
HIDDEN_SOURCE = {"query", "arrow_schema", "partitions"}


class ReportSettings(SigningSettings, TrustSettings):
    """A bundle folder, or with `store` a bundle id there: fetched (checked, and recorded in the
    store's custody log as an access, signed with `signing_key`, for `reason`) and reported."""

    bundle: Path = Field(description="the sealed bundle's folder; with `store`, its bundle id")
    out: Path = Field(description="the HTML file to write")
    case: str | None = Field(
        default=None,
        description="the bundle's case (folder or incident id); default: the case folder the "
        "bundle lives in (<case>/bundles/<id>), if any",
    )
    generated_at: Moment | None = Field(
        default=None, description="a time to print as the report's own (default: none)"
    )
    store: str | None = Field(
        default=None,
        description="fetch the bundle from this store (s3://BUCKET/PREFIX, file://PATH)",
    )
    reason: str | None = Field(default=None, description="with store: why it is fetched")
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None


class ReportResult(BaseModel):
    out: Path
    sha256: str = Field(description="SHA-256 of the report file")
    size: int
    bundle: Path
    bundle_id: str | None
    verdict: Verdict
    failed: list[str] = Field(description="the checks that failed")
    not_checked: list[str] = Field(description="checks not made and not waived: no verdict")
    artifacts: int
    custody_entries: int
    receipts: int = Field(description="containment, notice and decision receipts shown")
    timeline_events: int

    @property
    def ok(self) -> bool:
        return self.verdict != "failed" and not self.not_checked


def report(settings: ReportSettings) -> ReportResult:
    """Verify the bundle as `breach verify` does and write the report of it to `out`; from a
    store, fetch it first (each object checked on the way, the access recorded there)."""
    if settings.store:
        return _from_store(settings)
    return _report(settings, settings.bundle, None)


def _from_store(settings: ReportSettings) -> ReportResult:
    from breach.procedure.locker import FetchSettings, fetch

    if not settings.reason:
        raise BadInput(
            "fetching a bundle from a store is an access recorded in its custody log: say why",
            field="reason",
        )
    _check_out(settings.out, None)
    fields = ("signing_key", "passphrase", "reason", "store", *TrustSettings.model_fields)
    aws = ("profile", "region", "role_arn", "endpoint_url")
    with tempfile.TemporaryDirectory(prefix="breach-report-") as folder:
        got = fetch(
            FetchSettings(
                bundle_id=str(settings.bundle),
                out=Path(folder),
                **{name: getattr(settings, name) for name in (*fields, *aws)},
            )
        )
        stored = {
            "uri": f"{got.store}/{got.bundle_id}",
            "objects": len(got.objects),
            "retain_until": got.retain_until or "none set",
            "legal_hold": got.legal_hold,
            "access": got.custody_seq,
        }
        return _report(settings, got.bundle, stored)


def _report(settings: ReportSettings, bag: Path, stored: dict[str, Any] | None) -> ReportResult:
    from breach.report import render

    _check_out(settings.out, bag)
    checked = VerifyResult.of(checked_in_case(bag, settings.trusted()))
    statement, statement_note = _statement(bag, checked)
    case, case_note = _case(settings, bag)
    predicate = _dict(statement.get("predicate"))
    meta = _dict(predicate.get("bundle"))
    artifacts = [_artifact(i, a) for i, a in enumerate(_artifacts(predicate), start=1)]
    custody = _custody(bag, checked)
    receipts = _receipts(case, artifacts)
    events, source = _events(case, bag, meta, custody["entries"], artifacts)
    context = {
        "verdict": _verdict(checked),
        "generated": {
            "tool": f"breachkit {__version__}",
            "at": rfc3339(settings.generated_at) if settings.generated_at else None,
        },
        "bundle": _bundle(bag, meta, checked, statement_note),
        "stored": stored,
        "incident": _incident(meta, case, case_note),
        "checks": [_check(c) for c in checked.checks],
        "signer": _signer(bag, checked, settings),
        "artifacts": artifacts,
        "custody": custody,
        "receipts": receipts,
        **_chain(bag, meta),
        **_timeline(events, source),
    }
    html = render(context)
    data = html.encode("utf-8")
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(settings.out, html)
    shown = sum(len(receipts[k]) for k in ("containment", "notifications", "decisions"))
    return ReportResult(
        out=settings.out,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        bundle=settings.bundle,
        bundle_id=checked.bundle_id or _text(meta.get("id")) or None,
        verdict=context["verdict"]["state"],
        failed=checked.failed,
        not_checked=[c["check"] for c in checked.not_checked],
        artifacts=len(artifacts),
        custody_entries=len(custody["entries"]),
        receipts=shown,
        timeline_events=len(events),
    )


# -- inputs -----------------------------------------------------------------------------------
def _check_out(out: Path, bag: Path | None) -> None:
    if out.is_dir():
        raise BadInput(f"{out} is a folder; name the report's file", field="out")
    if bag is not None and bag.is_dir() and out.resolve().is_relative_to(bag.resolve()):
        raise BadInput("the report would be written inside the bundle it reports on", field="out")


def _statement(bag: Path, checked: VerifyResult) -> tuple[dict[str, Any], str | None]:
    """The statement as found in the envelope, and a warning when it cannot be relied on."""
    try:
        envelope = json.loads((bag / ENVELOPE).read_bytes())
        found = json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (OSError, ValueError, KeyError, TypeError):
        return {}, f"The signed statement ({ENVELOPE}) is missing or unreadable."
    if not isinstance(found, dict):
        return {}, "The signed statement is not a JSON object."
    signature = next((c for c in checked.checks if c.name == "signature over the statement"), None)
    if signature is None or signature.ok is not True:
        return found, (
            "The statement's signature did not verify: what this report shows of the incident "
            "and the artifacts is what the bundle claims, as found, not what was signed."
        )
    return found, None


def _case(settings: ReportSettings, bag: Path) -> tuple[Case | None, str | None]:
    """The bundle's case: the one named, else the case folder around the bundle (whose damage
    is a note in the report, not a reason to refuse it)."""
    if settings.case:
        from breach.case import Case

        return Case.load(settings.case), None
    try:
        return case_of_bundle(bag), None
    except BreachError as exc:
        return None, f"The case folder around the bundle could not be read: {exc.message}"


# -- the parts of the report ------------------------------------------------------------------
def _verdict(checked: VerifyResult) -> dict[str, Any]:
    failed = checked.failed
    signer = next((c for c in checked.checks if c.name == "signer identity"), None)
    skipped = [c.name for c in checked.checks if c.ok is None]
    if failed:
        return {
            "state": "failed",
            "word": "NOT VERIFIED",
            "comment": f"NOT VERIFIED: the bundle FAILED verification ({', '.join(failed)})",
            "headline": "NOT VERIFIED: this bundle FAILED verification; it was altered or "
            f"damaged after sealing. Failed: {', '.join(failed)}.",
            "body": "Nothing below can be relied on as the sealed evidence. Section 3 names "
            "each failed check and what differs.",
        }
    if checked.not_checked:
        names = ", ".join(c["check"] for c in checked.not_checked)
        return {
            "state": "no-verdict",
            "word": "NO VERDICT",
            "comment": f"NO VERDICT: not every check could be made ({names})",
            "headline": f"NO VERDICT: no check failed, but these could not be made: {names}.",
            "body": "Section 3 says why each was not made and what would make it.",
        }
    if signer is None or signer.ok is not True:
        return {
            "state": "no-verdict",
            "word": "NO VERDICT",
            "comment": "NO VERDICT: intact, but the signer was not checked against a trusted key",
            "headline": "NO VERDICT: the bundle is intact and consistent, but its signer was not "
            "compared with a trusted key.",
            "body": "Give the sealer's public key (breach report --pubkey or --trust) for a "
            "verdict on who signed it.",
        }
    body = "Every check passed against the trusted key in section 4."
    if skipped:
        body = f"Every check made passed; not made, by choice: {', '.join(skipped)} (section 3)."
    return {
        "state": "verified",
        "word": "VERIFIED",
        "comment": "VERIFIED: every check passed",
        "headline": "VERIFIED: this bundle is intact and was signed by the trusted key.",
        "body": body,
    }


def _check(check: Any) -> dict[str, Any]:
    from breach.report import PROVES, UNKNOWN_CHECK

    word, css = {True: ("pass", "pass"), False: ("FAIL", "fail"), None: ("not made", "skip")}[
        check.ok
    ]
    proves = PROVES.get(check.name, UNKNOWN_CHECK)
    if check.ok is False:
        proves = f"Not proven. When it passes: {proves}"
    elif check.ok is None:
        proves = f"Not proven here. When made: {proves}"
    return {
        "name": check.name,
        "word": word,
        "css": css,
        "detail": check.detail,
        "problems": check.problems,
        "proves": proves,
    }


def _bundle(
    bag: Path, meta: dict[str, Any], checked: VerifyResult, note: str | None
) -> dict[str, Any]:
    tool = _dict(meta.get("tool"))
    recipients = meta.get("recipients")
    return {
        "id": checked.bundle_id or _text(meta.get("id")),
        "name": bag.name,
        "path": str(bag),
        "created_at": _text(meta.get("created_at")),
        "created_by": _text(meta.get("created_by")),
        "tool": " ".join(_text(tool.get(k)) for k in ("name", "version") if tool.get(k)),
        "recipients": sorted(_text(r) for r in recipients) if isinstance(recipients, list) else [],
        "envelope_sha256": _file_sha256(bag / ENVELOPE),
        "tagmanifest_sha256": _file_sha256(bag / TAG_MANIFEST),
        "statement_note": note,
    }


def _incident(meta: dict[str, Any], case: Case | None, note: str | None) -> dict[str, Any]:
    incident = _dict(meta.get("incident"))
    stated_id, stated_severity = _text(incident.get("id")), _text(incident.get("severity"))
    notes = [note] if note else []
    if case is None:
        return {
            "id": stated_id,
            "severity": stated_severity,
            "title": "",
            "status": "",
            "times": [("Sealed at", _text(meta.get("created_at")) or "(not stated)")],
            "source": "the bundle's statement (the case folder was not at hand)",
            "from_case": False,
            "notes": notes,
        }
    record = case.record
    if stated_id and stated_id != record.id:
        notes.append(
            f"The bundle names incident {stated_id}, but the case is {record.id}: "
            "this bundle was not sealed from this case."
        )
    times = [
        ("Detected at", rfc3339(record.detected_at)),
        ("Aware at", rfc3339(record.aware_at)),
        ("Case opened at", rfc3339(record.opened_at)),
    ]
    if record.closed_at:
        times.append(("Closed at", rfc3339(record.closed_at)))
    return {
        "id": record.id,
        "severity": record.severity
        + (
            f" (sealed as {stated_severity})"
            if stated_severity not in ("", record.severity)
            else ""
        ),
        "title": record.title,
        "status": record.status,
        "times": times,
        "source": f"the case file {case.root / 'case.json'} and the bundle's statement",
        "from_case": True,
        "notes": notes,
    }


def _signer(bag: Path, checked: VerifyResult, settings: ReportSettings) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from manifests.keys import keyid, load_public_key_file

    signer_keyid, algorithm = None, ""
    with contextlib.suppress(BreachError, OSError, ValueError):
        key = load_public_key_file(bag / SIGNER_PEM)
        signer_keyid = keyid(key)
        algorithm = "Ed25519" if isinstance(key, Ed25519PublicKey) else "ECDSA P-256, SHA-256"
    anchors = [
        {"kind": "--pubkey", "path": str(p), "keyids": _keyids([p])} for p in settings.pubkeys
    ]
    for folder in settings.trust:
        pems = sorted(p for p in folder.glob("*.pem") if b"PUBLIC KEY-----" in p.read_bytes())
        anchors.append({"kind": "--trust", "path": str(folder), "keyids": _keyids(pems)})
    check = next((c for c in checked.checks if c.name == "signer identity"), None)
    state = None if check is None else check.ok
    pinned = {
        True: "yes: the signing key is one of the trust anchor's keys",
        False: "NO: the signing key is not one of the trusted keys",
        None: "not checked: no trust anchor was given",
    }[state]
    return {
        "keyid": signer_keyid,
        "algorithm": algorithm,
        "anchors": anchors,
        "pinned": pinned,
        "css": {True: "pass", False: "fail", None: "skip"}[state],
    }


def _keyids(paths: list[Path]) -> list[str]:
    from manifests.keys import keyid, load_public_key_file

    return sorted({keyid(load_public_key_file(p)) for p in paths})


def _artifacts(predicate: dict[str, Any]) -> list[dict[str, Any]]:
    found = predicate.get("artifacts")
    records = [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []
    return sorted(records, key=lambda a: (_text(a.get("name")), _text(a.get("payload"))))


def _artifact(index: int, record: dict[str, Any]) -> dict[str, Any]:
    source = _dict(record.get("source"))
    collector = _dict(record.get("collector"))
    plain, cipher = _dict(record.get("plaintext")), _dict(record.get("ciphertext"))
    fields: list[tuple[str, str]] = [
        ("Payload file", _text(record.get("payload"))),
        ("Media type", _text(record.get("media_type"))),
        ("Collector", " ".join(_text(collector.get(k)) for k in ("name", "version")).strip()),
        ("Size", f"{_number(plain.get('size'))} bytes ({_number(cipher.get('size'))} encrypted)"),
    ]
    for key, label in SOURCE_FIELDS:
        if source.get(key) not in (None, "", {}, []):
            fields.append((label, _value(key, source[key])))
    shown = {key for key, _ in SOURCE_FIELDS} | HIDDEN_SOURCE
    for key in sorted(k for k in source if k not in shown):
        if source[key] not in (None, "", {}, []):
            fields.append((f"Source: {key}", _value(key, source[key])))
    return {
        "anchor": f"artifact-{index}",
        "name": _text(record.get("name")),
        "payload": _text(record.get("payload")),
        "fields": fields,
        "plaintext_sha256": _text(plain.get("sha256")) or "(not stated)",
        "ciphertext_sha256": _text(cipher.get("sha256")) or "(not stated)",
        "query": _text(source.get("query")) if not source.get("table") else "",
        "notes": _completeness(source, collector),
        "source": source,
    }


def _completeness(source: dict[str, Any], collector: dict[str, Any]) -> list[str]:
    """What the statement says of how complete the artifact is, in words."""
    notes: list[str] = []
    if not source:
        notes.append("no source recorded: the file was sealed as given, not collected by breachkit")
    if not collector:
        notes.append("no collector recorded")
    rows = source.get("row_count")
    window = _dict(source.get("window"))
    if isinstance(rows, int) and rows == 0:
        notes.append("no rows: the source held nothing for the window (an empty artifact)")
    elif isinstance(rows, int):
        notes.append(f"{rows:,} rows")
    since, until = _when(window.get("since")), _when(window.get("until"))
    oldest, newest = _when(source.get("oldest_event")), _when(source.get("newest_event"))
    if since and until:
        notes.append(f"the whole window {rfc3339(since)} to {rfc3339(until)} was requested")
        if (oldest and oldest < since) or (newest and newest > until):
            notes.append("some events lie outside the requested window")
    estimated = source.get("estimated_rows")
    if isinstance(rows, int) and isinstance(estimated, int) and estimated > 0:
        notes.append(f"the server estimated {estimated:,} rows before the copy")
    if source.get("pg_snapshot"):
        notes.append(
            f"read in one consistent database snapshot ({_text(source['pg_snapshot'])}): every "
            "table of the same snapshot shows one instant"
        )
    partitions = source.get("partitions")
    if isinstance(partitions, list) and partitions:
        notes.append(f"one of {len(partitions)} day partition file(s) of one export")
    filters = _dict(source.get("filters"))
    chosen = {k: v for k, v in filters.items() if v}
    if chosen:
        notes.append(
            "filtered to " + "; ".join(f"{k}: {_value(k, v)}" for k, v in sorted(chosen.items()))
        )
    for key in ("warnings", "notes", "failed"):
        extra = source.get(key)
        if isinstance(extra, list):
            notes += [f"{key}: {_value(key, item)}" for item in extra]
    return notes


def _chain(bag: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The bundles before this one (by their links) and after it (bundles beside it that name it),
    with whether each link holds; a bundle not beside this one is named, not guessed."""
    this_sha = _file_sha256(bag / ENVELOPE)
    rows = [
        {
            "id": _text(meta.get("id")) or bag.name,
            "this": True,
            "created_at": _text(meta.get("created_at")),
            "envelope_sha256": this_sha or "(missing)",
            "link": "this bundle",
            "css": "",
        }
    ]
    notes: list[str] = []
    seen = {bag.name}
    previous = _dict(meta.get("previous"))
    while previous:
        wanted, expected = _text(previous.get("id")), _text(previous.get("envelope_sha256"))
        folder = (
            bag.parent / wanted
            if wanted and "/" not in wanted and wanted not in (".", "..")
            else None
        )
        if folder is None or wanted in seen or not (folder / ENVELOPE).is_file():
            rows.insert(
                0, _link_row(wanted, "", expected, "not beside this bundle: not checked", "skip")
            )
            break
        seen.add(wanted)
        actual = _file_sha256(folder / ENVELOPE)
        earlier = _dict(_dict(_peek_statement(folder).get("predicate")).get("bundle"))
        holds = actual == expected
        rows.insert(
            0,
            _link_row(
                wanted,
                _text(earlier.get("created_at")),
                actual or "",
                "unchanged: matches the link" if holds else f"DIFFERS from the link ({expected})",
                "pass" if holds else "fail",
            ),
        )
        previous = _dict(earlier.get("previous"))
    later = _later_bundles(bag, this_sha)
    rows += later
    if len(rows) == 1:
        notes.append("This is the first bundle of its case, and no later bundle is beside it.")
    notes.append(
        "Bundles other than this one are identified by their statements as found; only the link "
        "hashes are checked here (verify each bundle for its own verdict)."
    )
    return {"chain": rows, "chain_notes": notes}


def _later_bundles(bag: Path, this_sha: str | None) -> list[dict[str, Any]]:
    if not bag.parent.is_dir():
        return []
    found = []
    for folder in sorted(p for p in bag.parent.iterdir() if p.is_dir() and p != bag):
        if not (folder / ENVELOPE).is_file():
            continue
        meta = _dict(_dict(_peek_statement(folder).get("predicate")).get("bundle"))
        previous = _dict(meta.get("previous"))
        if _text(previous.get("id")) != bag.name:
            continue
        holds = _text(previous.get("envelope_sha256")) == this_sha
        found.append(
            _link_row(
                _text(meta.get("id")) or folder.name,
                _text(meta.get("created_at")),
                _file_sha256(folder / ENVELOPE) or "",
                "later bundle, chained to this one"
                if holds
                else "later bundle naming this one with a DIFFERENT hash",
                "pass" if holds else "fail",
            )
        )
    return sorted(found, key=lambda r: (r["created_at"], r["id"]))


def _link_row(bundle_id: str, created: str, sha: str, link: str, css: str) -> dict[str, Any]:
    return {
        "id": bundle_id or "(unnamed)",
        "this": False,
        "created_at": created,
        "envelope_sha256": sha,
        "link": link,
        "css": css,
    }


def _custody(bag: Path, checked: VerifyResult) -> dict[str, Any]:
    from manifests import chain

    check = next((c for c in checked.checks if c.name == "chain of custody"), None)
    state = None if check is None else check.ok
    entries = []
    log = bag / CUSTODY_FILE
    found = chain.entries(log) if log.is_file() else []
    for entry in sorted(found, key=lambda e: (_sortable(e.get("seq")), _text(e.get("at")))):
        details = _dict(entry.get("details"))
        entries.append(
            {
                "seq": _text(entry.get("seq")),
                "at": _text(entry.get("at")),
                "event": _text(entry.get("event")),
                "who": _text(entry.get("who")),
                "why": _text(entry.get("why")),
                "details": [(k, _value(k, details[k])) for k in sorted(details)],
                "keyid": _text(_dict(entry.get("signature")).get("keyid"))[:16] + "…",
            }
        )
    problems = "; ".join(check.problems) if check and check.problems else ""
    return {
        "entries": entries,
        "word": {True: "intact", False: "FAILED", None: "not made"}[state],
        "css": {True: "pass", False: "fail", None: "skip"}[state],
        "detail": problems or (check.detail if check else ""),
    }


def _receipts(case: Case | None, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    sealed_here = {a["name"]: a["plaintext_sha256"] for a in artifacts}
    sealed = [
        {
            "name": a["name"],
            "anchor": a["anchor"],
            "what": _sealed_what(a),
            "sha256": a["plaintext_sha256"],
        }
        for a in artifacts
        if a["name"].startswith(("receipts/", "notices/"))
    ]
    found: dict[str, Any] = {
        "from_case": case is not None,
        "containment": [],
        "notifications": [],
        "decisions": [],
        "malformed": [],
        "sealed": sealed,
    }
    if case is None or not case.receipts.is_dir():
        return found
    for index, path in enumerate(sorted(case.receipts.glob("*.json")), start=1):
        digest = _file_sha256(path) or ""
        where = _sealed_where(case, path.name, digest, sealed_here)
        try:
            data = read_json(path, what="receipt")
            kind = data.get("kind") if isinstance(data, dict) else None
            row = {"name": path.name, "anchor": f"receipt-{index}", "sha256": digest, **where}
            if kind == "containment":
                found["containment"].append(
                    {**row, **_containment(ContainmentReceipt.model_validate(data))}
                )
            elif kind == "notification":
                found["notifications"].append(
                    {**row, **_notification(NotificationReceipt.model_validate(data))}
                )
            elif kind == "notification-decision":
                found["decisions"].append(
                    {**row, **_decision(NotificationDecision.model_validate(data))}
                )
        except (BreachError, ValueError) as exc:
            reason = exc.message if isinstance(exc, BreachError) else str(exc).splitlines()[0]
            found["malformed"].append(f"{path.name} could not be read: {reason}")
    return found


def _sealed_what(artifact: dict[str, Any]) -> str:
    source = artifact["source"]
    parts = [f"{k}: {_value(k, source[k])}" for k in sorted(source) if k not in HIDDEN_SOURCE]
    return "; ".join(parts) or "(no source recorded)"


def _sealed_where(
    case: Case, name: str, digest: str, sealed_here: dict[str, str]
) -> dict[str, str]:
    staged = f"receipts/{name}"
    if sealed_here.get(staged) == digest:
        return {"sealed": "sealed in this bundle (same SHA-256)", "sealed_css": "pass"}
    record = case.record.sealed.get(staged)
    if record is None:
        return {"sealed": "not sealed yet", "sealed_css": "skip"}
    if record.get("sha256") == digest:
        return {
            "sealed": f"sealed in bundle {record.get('bundle')} (same SHA-256)",
            "sealed_css": "pass",
        }
    return {
        "sealed": f"CHANGED since it was sealed in bundle {record.get('bundle')}",
        "sealed_css": "fail",
    }


def _containment(receipt: ContainmentReceipt) -> dict[str, Any]:
    targets = []
    for target in sorted(receipt.targets, key=lambda t: t.name):
        line = f"{target.name}: {target.status}"
        if target.change:
            line += f", {target.change}"
        if target.reason:
            line += f" ({target.reason})"
        if target.request_ids:
            line += f"; request ids {', '.join(target.request_ids)}"
        targets.append(line)
    return {
        "action": receipt.action,
        "adapter": receipt.adapter,
        "system": receipt.system,
        "dry_run": receipt.dry_run,
        "status": receipt.status,
        "summary": receipt.summary,
        "started_at": rfc3339(receipt.started_at),
        "finished_at": rfc3339(receipt.finished_at),
        "operator": receipt.operator,
        "targets": targets,
        "undo": receipt.undo,
    }


def _notification(receipt: NotificationReceipt) -> dict[str, Any]:
    count = receipt.recipients_total if receipt.mode == "bulk" else receipt.recipients
    return {
        "notice": receipt.notice,
        "channel": receipt.channel,
        "destination": receipt.destination,
        "status": receipt.status,
        "status_css": "" if receipt.status == "sent" else "fail",
        "errors": receipt.errors,
        "sent_at": rfc3339(receipt.sent_at) if receipt.sent_at else "(not sent)",
        "recipients": _text(count),
        "obligations": ", ".join(receipt.obligations),
        "message_sha256": receipt.message_sha256,
        "provider_message_id": receipt.provider_message_id or "",
    }


def _decision(record: NotificationDecision) -> dict[str, Any]:
    return {
        "obligation": record.obligation,
        "reason": record.reason,
        "decided_by": record.decided_by,
        "decided_at": rfc3339(record.decided_at),
    }


# -- the timeline -----------------------------------------------------------------------------
def _events(
    case: Case | None,
    bag: Path,
    meta: dict[str, Any],
    custody: list[dict[str, Any]],
    artifacts: list[dict[str, Any]],
) -> tuple[list[Event], str]:
    from breach.report.timeline import Event

    events: list[Event] = []
    for entry in custody:
        when = _when(entry["at"])
        if when:
            detail = ", ".join(
                f"{k}: {v}" for k, v in entry["details"] if k != "bundle" and "sha256" not in k
            )
            what = f"custody: {entry['event']}" + (f" ({entry['why']})" if entry["why"] else "")
            events.append(Event(when, "custody", what, entry["who"], detail))
    if case is not None:
        record = case.record
        events.append(Event(record.detected_at, "detection", "breach detected"))
        events.append(Event(record.aware_at, "awareness", "the organisation became aware"))
        for entry in case.timeline():
            event = _journal_event(entry, bag.name)
            if event is not None:
                events.append(event)
        return events, "the case journal, the case file and the bundle's custody log"
    sealed_at = _when(meta.get("created_at"))
    if sealed_at and not any(e.what.startswith("custody: sealed") for e in events):
        events.append(Event(sealed_at, "evidence", "bundle sealed", _text(meta.get("created_by"))))
    for artifact in artifacts:
        taken = _when(artifact["source"].get("taken_at"))
        if taken:
            events.append(Event(taken, "evidence", f"snapshot taken: {artifact['name']}"))
    return events, "the bundle's statement and custody log (the case journal was not at hand)"


def _journal_event(entry: dict[str, Any], bundle_name: str) -> Event | None:
    from breach.report.timeline import Event

    when = _when(entry.get("at"))
    what = _text(entry.get("what"))
    if when is None or not what:
        return None
    details = _dict(entry.get("details"))
    if what.startswith("custody.") and _text(details.get("bundle")) == bundle_name:
        return None  # the custody log has it, signed
    if what.startswith(("evidence.", "scope.")):
        lane = "evidence"
    elif what.startswith("contain."):
        lane = "containment"
    elif what.startswith(("notify.send", "notify.decide")):
        lane = "notices"
    elif what.startswith("custody."):
        lane = "custody"
    else:
        lane = "case"
    why = _text(entry.get("why"))
    summary = _text(details.get("summary") or details.get("bundle") or details.get("error"))
    detail = "; ".join(p for p in (why, summary) if p)
    return Event(
        when, lane, what, _text(entry.get("who")), detail, _text(entry.get("result")) or "ok"
    )


def _timeline(events: list[Event], source: str) -> dict[str, Any]:
    from breach.report.timeline import LANES, layout, ordered

    titles = dict(LANES)
    events = ordered(events)
    rows = [
        {
            "at": rfc3339(e.at),
            "lane": titles.get(e.lane, e.lane),
            "what": e.what,
            "who": e.who,
            "detail": e.detail,
            "result": e.result,
        }
        for e in events
    ]
    notes = [] if events else ["No dated event was found."]
    return {
        "timeline": {
            "source": source,
            "events": rows,
            "failed": any(e.result == "failed" for e in events),
            "notes": notes,
        },
        "chart": layout(events),
    }


# -- reading untrusted data -------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _value(key: str, value: Any) -> str:
    """A source field for a person: windows as 'since to until', numbers grouped, the rest text."""
    if key == "window" and isinstance(value, dict):
        return f"{_text(value.get('since')) or '?'} to {_text(value.get('until')) or '?'}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return _text(value)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except BreachError:
        return None


def _sortable(value: Any) -> tuple[int, str]:
    return (
        (value, "")
        if isinstance(value, int) and not isinstance(value, bool)
        else (1 << 62, _text(value))
    )


def _file_sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _peek_statement(folder: Path) -> dict[str, Any]:
    """Another bundle's statement as found (unverified), or {}."""
    try:
        envelope = json.loads((folder / ENVELOPE).read_bytes())
        found = json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return _dict(found)
