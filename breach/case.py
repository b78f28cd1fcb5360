"""The case workspace: one folder per incident.

<case>/case.json    id, severity, title, detected/aware timestamps, status
<case>/journal/     journal.jsonl: append-only, hash-chained timeline of every step
<case>/staging/     artifacts being collected (plaintext, before sealing)
<case>/bundles/     sealed bundles
<case>/receipts/    containment and notification receipts
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.artifacts import describe
from core.errors import BadInput, BreachError
from core.fsio import read_json, resolve_inside, stage_target, write_json
from core.models import IncidentId, UtcDatetime
from core.models import incident_id as check_incident_id
from core.operator import operator
from core.records import ScopeRecord
from core.timeutil import rfc3339, utcnow
from manifests import chain

Severity = Literal["P1", "P2", "P3", "P4"]
Status = Literal["open", "contained", "resolved", "closed"]


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


def resolve_case_dir(value: str | Path) -> Path:
    """`--case` takes a case folder, or an incident id under $BREACH_CASES_DIR (./cases)."""
    path = Path(value)
    if (path / "case.json").is_file():
        return path
    by_id = cases_root() / str(value)
    if (by_id / "case.json").is_file():
        return by_id
    raise BadInput(
        f"no case at {value}", hint="open one with `breach incident open`, or pass its folder"
    )


class Case:
    def __init__(self, root: Path, record: CaseRecord) -> None:
        self.root = root
        self.record = record

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
        if (folder / "case.json").exists():
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
        case = cls(folder, record)
        case.save()
        case.journal(
            "incident.open",
            why=title,
            details={"severity": severity, "aware_at": rfc3339(record.aware_at)},
        )
        return case

    @classmethod
    def load(cls, value: str | Path) -> Case:
        folder = resolve_case_dir(value)
        raw = read_json(folder / "case.json", what="case file")
        try:
            record = CaseRecord.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise BadInput(f"{folder / 'case.json'}: field {field}: {first['msg']}") from None
        return cls(folder, record)

    def save(self) -> None:
        write_json(self.root / "case.json", self.record.model_dump(mode="json"))

    def update(self, reason: str, **fields: Any) -> None:
        """Change case fields, journaling what changed and why."""
        before = {k: getattr(self.record, k, None) for k in fields}
        for key, value in fields.items():
            setattr(self.record, key, value)
        self.save()
        self.journal(
            "case.update",
            why=reason,
            details={
                "before": {k: _jsonable(v) for k, v in before.items()},
                "after": {k: _jsonable(v) for k, v in fields.items()},
            },
        )

    # -- staging ---------------------------------------------------------------------------
    def stage_path(self, name: str) -> Path:
        """Where a collector writes artifact `name` (relative, no '..') in this case's staging."""
        return stage_target(self.staging, name)

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
        try:
            yield outcome
        except BreachError as exc:
            self.journal(what, result="failed", details={**details, "error": exc.message})
            raise
        result = outcome.pop("result")
        self.journal(what, result=result, details={**details, **outcome})

    # -- journal ---------------------------------------------------------------------------
    def journal(
        self,
        what: str,
        *,
        result: str = "ok",
        why: str | None = None,
        where: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one step to the timeline: what, who, when (UTC), where, why, result."""
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
        return chain.append(self.journal_path, entry)

    def timeline(self) -> list[dict[str, Any]]:
        if not self.journal_path.exists():
            return []
        return chain.entries(self.journal_path)

    def verify_journal(self) -> list[chain.ChainProblem]:
        if not self.journal_path.exists():
            return []
        return chain.verify(self.journal_path)[1]


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return rfc3339(value) if isinstance(value, datetime) else value
