"""The responder's view across cases, and notes in a case's timeline.

    list_cases(ListSettings())                                  # every case under the cases folder
    add_note(NoteSettings(case="INC-1", text="called the DBA")) # a note in the journal

A case that cannot be read is listed with the reason instead of hiding the others.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from breach.case import Case, Severity, Status, cases_root
from breach.procedure.incident import Reason, ensure_open
from core.errors import BreachError
from core.models import Moment, UtcDatetime
from core.timeutil import utcnow

NOTE = "incident.note"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- list ------------------------------------------------------------------------------------
class ListSettings(_Settings):
    cases_dir: Path | None = None  # default: $BREACH_CASES_DIR (./cases)
    at: Moment | None = None  # evaluate the clocks at this time instead of now


class Clock(BaseModel):
    id: str
    state: str
    deadline: UtcDatetime


class LastAction(BaseModel):
    at: str
    what: str
    who: str
    why: str | None = None


class CaseRow(BaseModel):
    id: str
    folder: Path
    severity: Severity | None = None
    status: Status | None = None
    title: str = ""
    overdue: list[str] = Field(default_factory=list)
    next_due: Clock | None = Field(default=None, description="the nearest clock still running")
    last_action: LastAction | None = None
    problem: str | None = Field(default=None, description="why the case could not be read")


class CaseList(BaseModel):
    cases_dir: Path
    at: UtcDatetime
    cases: list[CaseRow]


def _row(folder: Path, now: datetime) -> CaseRow:
    from breach.procedure.notify import DueSettings, due

    try:
        case = Case.load(folder)
        clocks = due(DueSettings(case=str(folder), at=now))
    except BreachError as exc:
        return CaseRow(id=folder.name, folder=folder, problem=exc.message)
    running = [r for r in clocks.obligations if r.state in ("due", "overdue")]
    upcoming = [r for r in running if r.state == "due"]
    nearest = min(upcoming, key=lambda r: r.deadline, default=None)
    entries = case.timeline()
    last = entries[-1] if entries else None
    record = case.record
    return CaseRow(
        id=record.id,
        folder=folder,
        severity=record.severity,
        status=record.status,
        title=record.title,
        overdue=clocks.overdue,
        next_due=Clock(id=nearest.id, state=nearest.state, deadline=nearest.deadline)
        if nearest
        else None,
        last_action=LastAction(
            at=str(last.get("at", "?")),
            what=str(last.get("what", "?")),
            who=str(last.get("who", "?")),
            why=last.get("why"),
        )
        if last
        else None,
    )


def list_cases(settings: ListSettings) -> CaseList:
    """Every case under the cases folder with its severity, status, clocks and last action."""
    root = settings.cases_dir or cases_root()
    now = settings.at or utcnow()
    folders = sorted(p.parent for p in root.glob("*/case.json")) if root.is_dir() else []
    return CaseList(cases_dir=root, at=now, cases=[_row(folder, now) for folder in folders])


# -- note ------------------------------------------------------------------------------------
class NoteSettings(_Settings):
    case: str
    text: Reason  # in words, like a reason


class NoteAdded(BaseModel):
    case: str
    at: str
    who: str
    text: str


def add_note(settings: NoteSettings) -> NoteAdded:
    """A responder's note in the case's timeline (journaled; the post-mortem shows it)."""
    case = ensure_open(Case.load(settings.case, write=True))
    entry = case.journal(NOTE, why=settings.text.strip())
    return NoteAdded(case=case.id, at=entry["at"], who=entry["who"], text=settings.text.strip())
