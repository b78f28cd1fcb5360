"""The case workspace: one folder per incident.

<case>/case.json    id, severity, title, detected/aware timestamps, status
<case>/journal/     journal.jsonl: append-only, hash-chained timeline of every step
<case>/staging/     artifacts being collected (plaintext, before sealing)
<case>/bundles/     sealed bundles
<case>/receipts/    containment and notification receipts
<case>/case.lock    one writer at a time (breach.caselock)

A change is committed by its journal entry: case.json's new content is written aside first
(.case.json.next) and staged folders are finished under hidden names; the entry names them
(its `commit`: case_sha256, moves), and only then are they renamed into place. A command
killed after its entry is finished by the next writer (breach.recovery); one killed before it
left nothing that counts, and the next writer removes it. docs/crash-safety.md.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from breach import recovery
from breach.caselock import CaseLock, CommitUnfinished, hold
from core import faults
from core.artifacts import describe
from core.errors import BadInput, BreachError
from core.fsio import (
    fsync_tree,
    read_json,
    resolve_inside,
    stage_target,
    write_bytes,
    write_json,
)
from core.models import IncidentId, UtcDatetime
from core.models import incident_id as check_incident_id
from core.operator import operator
from core.records import ScopeRecord
from core.timeutil import rfc3339, utcnow
from manifests import chain

Severity = Literal["P1", "P2", "P3", "P4"]
Status = Literal["open", "contained", "resolved", "closed"]
CASE_FILE = "case.json"
NEXT_CASE_FILE = ".case.json.next"  # the next case.json, until its journal entry commits it


class CaseRecord(BaseModel):
    """case.json: the case's current state. The journal is the record of how it got there."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: IncidentId
    severity: Severity
    title: str
    status: Status = "open"
    opened_at: UtcDatetime
    detected_at: UtcDatetime
    aware_at: UtcDatetime
    opened_by: str
    last_bundle: dict[str, str] | None = Field(
        default=None, description="id and envelope sha256 of the newest sealed bundle"
    )
    sealed: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="staged artifact -> size, mtime, sha256 and bundle"
    )
    facts: dict[str, bool | float | int | None] = Field(
        default_factory=dict, description="the classification facts last applied"
    )
    scope: ScopeRecord | None = Field(default=None, description="what the last scope found")
    policy: dict[str, Any] | None = Field(
        default=None,
        description="the notification policy pinned to the case (breach.procedure.policy)",
    )
    closed_at: UtcDatetime | None = None


def cases_root() -> Path:
    return Path(os.environ.get("BREACH_CASES_DIR", "cases"))


def is_case_dir(path: Path) -> bool:
    """A case's folder: its case.json, or a journal (an open killed before case.json was
    renamed into place: the next writer brings case.json up to the journal)."""
    journal = path / "journal" / "journal.jsonl"
    return (path / "case.json").is_file() or (journal.is_file() and journal.stat().st_size > 0)


def resolve_case_dir(value: str | Path) -> Path:
    """`--case` takes a case folder, or an incident id under $BREACH_CASES_DIR (./cases)."""
    path = Path(value)
    if is_case_dir(path):
        return path
    by_id = cases_root() / str(value)
    if is_case_dir(by_id):
        return by_id
    raise BadInput(
        f"no case at {value}", hint="open one with `breach incident open`, or pass its folder"
    )


class Case:
    def __init__(self, root: Path, record: CaseRecord, lock: CaseLock | None = None) -> None:
        self.root = root
        self.record = record
        self._lock = lock
        self._pending: list[tuple[Path, Path]] | None = None  # staged in the current step
        self._read: tuple[int, list[dict[str, Any]]] | None = None  # journal size, its entries

    # -- paths -----------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.root / "journal" / "journal.jsonl"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def postmortem_path(self) -> Path:
        """The post-mortem being written (staged as evidence when the case closes)."""
        return self.root / "postmortem.md"

    @property
    def id(self) -> str:
        return self.record.id

    # -- life cycle ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        incident_id: str,
        severity: Severity,
        title: str,
        *,
        root: Path | None = None,
        detected_at: datetime | None = None,
        aware_at: datetime | None = None,
    ) -> Case:
        check_incident_id(incident_id)
        folder = root if root is not None else cases_root() / incident_id
        folder.mkdir(parents=True, exist_ok=True)
        lock, fresh = hold(folder)
        if fresh:
            recovery.before_load(folder)
            lock.checked = True
        if (folder / CASE_FILE).exists():
            raise BadInput(f"case {folder} already exists", hint="use `breach incident show`")
        now = utcnow()
        record = CaseRecord(
            id=incident_id,
            severity=severity,
            title=title,
            opened_at=now,
            detected_at=detected_at or now,
            aware_at=aware_at or now,
            opened_by=operator(),
        )
        for sub in ("journal", "staging", "bundles", "receipts"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        case = cls(folder, record, lock)
        case.commit(
            "incident.open",
            why=title,
            details={"severity": severity, "aware_at": rfc3339(record.aware_at)},
        )
        if fresh:  # the case is open: the caller's later writes take the lock each time
            case._lock = None
            lock.release()
        return case

    @classmethod
    def load(cls, value: str | Path, *, write: bool = False, wait: float | None = None) -> Case:
        """The case; with `write`, holding its lock (refused after `wait` seconds, default
        $BREACH_WAIT or 0, when another command holds it), having first finished or removed
        what an interrupted command left (breach.recovery)."""
        folder = resolve_case_dir(value)
        lock, fresh = hold(folder, wait) if write else (None, False)
        entries = recovery.before_load(folder) if fresh else []
        if lock is not None and fresh:
            lock.checked = True
        case = cls(folder, read_record(folder), lock)
        if fresh:
            if case.journal_path.exists():
                case._read = (case.journal_path.stat().st_size, entries)
            recovery.after_load(case, entries)
        case.report_unfinished()
        return case

    def save(self) -> None:
        """Write case.json as it is in memory, unjournaled: prefer `update` or `commit`."""
        with self.writing():
            write_json(self.root / CASE_FILE, self.record.model_dump(mode="json"))

    def update(self, reason: str, **fields: Any) -> None:
        """Change case fields: journaled (what changed and why) before case.json changes."""
        before = {k: getattr(self.record, k, None) for k in fields}
        for key, value in fields.items():
            setattr(self.record, key, value)
        try:
            self.commit(
                "case.update",
                why=reason,
                details={
                    "before": {k: _jsonable(v) for k, v in before.items()},
                    "after": {k: _jsonable(v) for k, v in fields.items()},
                },
            )
        except BaseException:
            for key, value in before.items():
                setattr(self.record, key, value)
            raise

    # -- the lock and the commit point -------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the case lock for a write: the one this Case holds, else taken for the write."""
        if self._lock is not None and self._lock.held:
            yield
            return
        lock, fresh = hold(self.root)
        try:
            yield
        finally:
            if fresh:
                lock.release()

    def commit(
        self,
        what: str,
        *,
        result: str = "ok",
        why: str | None = None,
        where: str | None = None,
        details: dict[str, Any] | None = None,
        moves: list[tuple[Path, Path]] | None = None,
        save: bool = True,
    ) -> dict[str, Any]:
        """Journal `what` as the one commit point of a change, then make the change visible.

        With `save`, the record in memory becomes case.json; `moves` are finished hidden files
        or folders (source, target), renamed into place in order. Before the entry is written,
        a failure leaves nothing (the pending files are removed); after it, the next command on
        the case finishes the renames (breach.recovery.roll_forward)."""
        moves = list(moves or [])
        commit: dict[str, Any] = {}
        with self.writing():
            try:
                if save:
                    data = record_bytes(self.record)
                    write_bytes(self.root / NEXT_CASE_FILE, data)
                    faults.point("case.next-written")
                    commit["case_sha256"] = hashlib.sha256(data).hexdigest()
                if moves:
                    commit["moves"] = [[self._relative(a), self._relative(b)] for a, b in moves]
                entry = self.journal(
                    what,
                    result=result,
                    why=why,
                    where=where,
                    details=details,
                    commit=commit or None,
                )
            except BaseException as exc:
                _remove(([self.root / NEXT_CASE_FILE] if save else []) + [a for a, _ in moves])
                if isinstance(exc, BreachError) and not exc.message.startswith(f"{what} "):
                    raise type(exc)(f"{what} not done: {exc.message}", hint=exc.hint) from None
                raise
            faults.point("case.committed")
            try:
                recovery.roll_forward(self.root, entry)
            except (OSError, BreachError) as exc:
                reason = exc.message if isinstance(exc, BreachError) else str(exc)
                raise CommitUnfinished(
                    f"{what} is committed (journal entry {entry['seq']}) but making it visible"
                    f" failed: {reason}",
                    hint="the next command on the case finishes it",
                ) from None
        return entry

    def _relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    # -- staging ---------------------------------------------------------------------------
    def stage_path(self, name: str) -> Path:
        """Where a collector writes artifact `name` (relative, no '..') in this case's staging."""
        return stage_target(self.staging, name)

    def commit_staged(self, tmp: Path, final: Path) -> None:
        """Make finished `tmp` (a hidden file or folder in staging) visible as `final`: inside a
        `step`, with the step's journal entry; otherwise with an entry of its own."""
        fsync_tree(tmp)
        faults.point("stage.ready")
        if self._pending is not None:
            self._pending.append((tmp, final))
            return
        self.commit(
            "staging.commit",
            details={"artifact": self._relative(final)},
            moves=[(tmp, final)],
            save=False,
        )

    def stage_json(self, name: str, data: Any, meta: dict[str, Any] | None = None) -> Path:
        """Stage a JSON artifact (a receipt, a scope report) with its metadata sidecar."""
        target = self.stage_path(name)
        write_json(target, data)
        if meta:
            describe(target, meta)
        return target

    def write_receipt(self, name: str, receipt: Any, meta: dict[str, Any] | None = None) -> Path:
        """Keep a receipt in receipts/ and stage a copy as evidence (staging/receipts/)."""
        target = resolve_inside(self.receipts, name)
        write_json(target, receipt)
        self.stage_json(f"receipts/{name}", receipt, meta)
        return target

    def record_receipt(
        self,
        name: str,
        receipt: BaseModel | dict[str, Any],
        meta: dict[str, Any],
        *,
        what: str,
        result: str,
        why: str | None = None,
        where: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Path:
        """Keep a receipt (receipts/ and staged as evidence) and journal the step that made it."""
        data = receipt.model_dump(mode="json") if isinstance(receipt, BaseModel) else receipt
        path = self.write_receipt(name, data, meta)
        self.journal(
            what,
            result=result,
            why=why,
            where=where,
            details={**(details or {}), "receipt": f"receipts/{name}"},
        )
        return path

    @contextmanager
    def step(self, what: str, details: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Journal a step whatever happens: the body fills the outcome and may set 'result';
        a BreachError is journaled as failed, with its message, and raised on."""
        outcome: dict[str, Any] = {"result": "ok"}
        pending: list[tuple[Path, Path]] = []
        outer, self._pending = self._pending, pending
        try:
            try:
                yield outcome
            finally:
                self._pending = outer
        except BreachError as exc:
            _remove([tmp for tmp, _ in pending])
            self.journal(what, result="failed", details={**details, "error": exc.message})
            raise
        except BaseException:
            _remove([tmp for tmp, _ in pending])
            raise
        result = outcome.pop("result")
        self.commit(what, result=result, details={**details, **outcome}, moves=pending, save=False)

    # -- journal ---------------------------------------------------------------------------
    def journal(
        self,
        what: str,
        *,
        result: str = "ok",
        why: str | None = None,
        where: str | None = None,
        details: dict[str, Any] | None = None,
        commit: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one step to the timeline: what, who, when (UTC), where, why, result; `commit`
        (case_sha256, moves) when the entry is the commit point of a change (see `commit`)."""
        entry: dict[str, Any] = {
            "at": rfc3339(utcnow()),
            "who": operator(),
            "what": what,
            "result": result,
        }
        if where:
            entry["where"] = where
        if why:
            entry["why"] = why
        if details:
            entry["details"] = details
        if commit:
            entry["commit"] = commit
        with self.writing():
            checked = self._lock is not None and self._lock.held and self._lock.checked
            try:
                return chain.append(self.journal_path, entry, repair=repair_entry, checked=checked)
            except BreachError as exc:  # the step that failed is named, not only the file
                raise type(exc)(f"{what} not done: {exc.message}", hint=exc.hint) from None

    def timeline(self) -> list[dict[str, Any]]:
        if not self.journal_path.exists():
            return []
        size = self.journal_path.stat().st_size
        if self._read is not None and self._read[0] == size:  # as checked when the lock was taken
            return list(self._read[1])
        return chain.entries(self.journal_path)

    def verify_journal(self) -> list[chain.ChainProblem]:
        """Where the chain breaks; a torn last line (an append cut short, repaired by the next
        one) is not a break."""
        if not self.journal_path.exists():
            return []
        return chain.problems(self.journal_path)

    def torn_tail(self) -> bytes | None:
        """The bytes of a torn last journal line (a command killed mid-append), if any."""
        return chain.torn_tail(self.journal_path)

    # -- intents: steps that act outside the case -------------------------------------------
    # A step that changes something outside the case (containment, notices, cloud snapshots,
    # pushes) journals its intent with a run id before acting, and its outcome with the same run
    # id after. An intent with no outcome is a run that died in between: the next command on
    # the case says so, and rerunning the step reconciles it by reading the real state back.
    def intend(
        self, what: str, details: dict[str, Any], *, why: str | None = None, run: str | None = None
    ) -> str:
        """Journal that `what` is about to act (targets, adapter, ...); returns the run id its
        outcome entry (any `what` entry with this run id) must carry."""
        run = run or new_run()
        self.journal(what, result=INTENT, why=why, details={"run": run, **details})
        return run

    def unfinished(self, what: str | None = None) -> list[Intent]:
        """Intents (of `what`, or of any step) that no later entry of the same run closed."""
        open_runs: dict[tuple[str, str], Intent] = {}
        for entry in self.timeline():
            details = entry.get("details") or {}
            run = details.get("run")
            if not isinstance(run, str) or not run:
                continue
            key = (str(entry.get("what")), run)
            if entry.get("result") == INTENT:
                open_runs[key] = Intent(
                    what=key[0], run=run, at=str(entry.get("at")), details=details
                )
            else:
                open_runs.pop(key, None)
        return [i for i in open_runs.values() if what is None or i.what == what]

    def report_unfinished(self) -> None:
        """One stderr line (a logging warning) naming the runs that started and never ended."""
        try:
            left = self.unfinished()
        except BreachError:  # a damaged journal is reported by whoever reads it
            return
        if left:
            runs = ", ".join(f"{i.what} run {i.run} ({i.at})" for i in left[:3])
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            LOG.warning(
                "case %s: started but not finished: %s%s; rerun the same step to reconcile it",
                self.id,
                runs,
                more,
            )


def new_run() -> str:
    """A run id: what an intent, its outcome and what the run made outside the case share."""
    return uuid.uuid4().hex[:12]


INTENT = "intent"
LOG = logging.getLogger("breach.case")


class Intent(BaseModel):
    """A journaled intent: what was about to act, its run id, when, and what it named."""

    what: str
    run: str
    at: str
    details: dict[str, Any]


def read_record(folder: Path) -> CaseRecord:
    raw = read_json(folder / CASE_FILE, what="case file")
    try:
        return CaseRecord.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{folder / CASE_FILE}: field {field}: {first['msg']}") from None


def record_bytes(record: CaseRecord) -> bytes:
    """case.json's bytes, exactly as written (their sha256 is what the journal commits)."""
    text = json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True, default=str)
    return (text + "\n").encode("utf-8")


def repair_entry(removed: bytes) -> dict[str, Any]:
    """The journal entry recording a torn last line cut off: the bytes, so nothing is lost."""
    return {
        "at": rfc3339(utcnow()),
        "who": operator(),
        "what": "journal.repair",
        "result": "repaired",
        "why": "the last line was torn (an append cut short by a kill or a full disk)",
        "details": {
            "removed_bytes": len(removed),
            "removed_base64": base64.b64encode(removed).decode("ascii"),
        },
    }


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return rfc3339(value) if isinstance(value, datetime) else value
