"""The case lifecycle: open, show, classify, set aware-at, set severity or status, close.

    opened = open_case(OpenSettings(incident_id="INC-2026-0042", severity="P2", title="..."))
    classify_case(ClassifySettings(case="INC-2026-0042", data_breach=True, apply=True))
    close_case(CloseSettings(case="INC-2026-0042"))   # a P1/P2 needs a finished post-mortem

The rules of the lifecycle live here, once: awareness is never in the future, a reason is given
in words, a closed case is not changed, and a P1 or P2 case closes only with a finished
post-mortem (staged as evidence). Every change is journaled by `Case.update` with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
)
from pydantic_core import PydanticCustomError

from breach.case import Case, CaseRecord, Severity, Status
from core.artifacts import artifact_meta, describe
from core.errors import BadInput
from core.fsio import write_text
from core.models import IncidentId, Moment, UtcDatetime
from core.records import JournalEntry
from core.timeutil import rfc3339, to_utc, utcnow

if TYPE_CHECKING:
    from notify.classify import Facts

# Clocks disagree a little: awareness up to this far ahead of our clock still counts as now.
CLOCK_SKEW = timedelta(minutes=5)


# -- the rules -------------------------------------------------------------------------------
def not_in_future(moment: datetime) -> datetime:
    """Awareness is a past or present moment (within the clock skew)."""
    if moment > utcnow() + CLOCK_SKEW:
        raise ValueError(
            f"{rfc3339(moment)} is in the future (hint: awareness is a past or present time)"
        )
    return moment


def parse_error_rate(value: str | float | None) -> float | None:
    """An observed error rate as a fraction (0.07) or a percentage ('7%'), within 0..1."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number (hint: e.g. 0.07 or 7%)")
    if isinstance(value, str):
        text = value.strip()
        try:
            rate = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (hint: e.g. 0.07 or 7%)") from None
    else:
        rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError(f"{value!r} is outside 0..1 (or 0%..100%)")
    return rate


def in_words(reason: str) -> str:
    """A change is journaled with why it was made: a few letters are not a reason."""
    if len(reason.strip()) < 3:
        raise ValueError("must say why, in words")
    return reason


def ensure_open(case: Case) -> Case:
    """A closed case stays as closed (a P3 raised to P1 afterwards would skip the post-mortem)."""
    if case.record.status == "closed":
        raise BadInput(f"{case.id} is closed", hint="a closed case is not changed or reopened")
    return case


def _field(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A check's ValueError as the field's own message (no "Value error, " prefix)."""

    def run(value: Any) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            raise PydanticCustomError("invalid", str(exc)) from None

    return run


AwareAt = Annotated[Moment, AfterValidator(_field(not_in_future))]
ErrorRate = Annotated[float | None, BeforeValidator(_field(parse_error_rate))]
Reason = Annotated[str, AfterValidator(_field(in_words))]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- open ------------------------------------------------------------------------------------
class OpenSettings(_Settings):
    incident_id: IncidentId
    severity: Severity
    title: str
    detected_at: Moment | None = None
    aware_at: AwareAt | None = None
    case_dir: Path | None = None  # default: $BREACH_CASES_DIR/<incident_id>
    policy: Path | None = None  # a notification policy file, pinned to the case


class OpenedCase(CaseRecord):
    """The new case's record, and where its folder is."""

    case: Path


def open_case(settings: OpenSettings) -> OpenedCase:
    """Create the case folder (case.json, journal, staging, bundles, receipts), journaled;
    a policy file given is read first (a bad one opens nothing), then pinned to the case."""
    from breach.procedure.policy import pin
    from notify.policy import load_policy

    policy = load_policy(settings.policy) if settings.policy is not None else None
    case = Case.open(
        settings.incident_id,
        settings.severity,
        settings.title,
        root=settings.case_dir,
        # Detection comes no later than awareness: without a detection time, the same moment.
        detected_at=settings.detected_at or settings.aware_at,
        aware_at=settings.aware_at,
    )
    if policy is not None:
        pin(case, policy, f"notification policy {settings.policy} pinned at opening")
    return OpenedCase(case=case.root, **case.record.model_dump())


# -- show ------------------------------------------------------------------------------------
class ShowSettings(_Settings):
    case: str


class CaseView(CaseRecord):
    """The case's record, its folder, and its timeline with whether the hash chain holds."""

    case: Path
    journal_entries: int
    journal_intact: bool
    journal_breaks: str | None = Field(
        default=None, description="where the chain breaks first (line and why), when it does"
    )
    journal_torn: int | None = Field(
        default=None, description="bytes of a torn last line, which the next command repairs"
    )
    # Entries as the journal holds them; one that is not a valid entry (edited by hand) stays raw.
    timeline: list[JournalEntry | dict[str, Any]]

    @field_serializer("timeline")
    def _as_written(self, timeline: list[JournalEntry | dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            e.model_dump(mode="json", exclude_unset=True) if isinstance(e, JournalEntry) else e
            for e in timeline
        ]

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(at, what, result, who) of each entry, in order."""
        return [
            (
                str(e.get("at", "?")),
                str(e.get("what", "?")),
                str(e.get("result", "?")),
                str(e.get("who", "?")),
            )
            for e in self._as_written(self.timeline)
        ]


def _entry(raw: dict[str, Any]) -> JournalEntry | dict[str, Any]:
    try:
        return JournalEntry.model_validate(raw)
    except ValidationError:
        return raw


def show_case(settings: ShowSettings) -> CaseView:
    """The case and its timeline; `journal_intact` is False when any line breaks the chain."""
    case = Case.load(settings.case)
    timeline = [_entry(raw) for raw in case.timeline()]
    problems = case.verify_journal()
    torn = case.torn_tail()
    return CaseView(
        case=case.root,
        journal_entries=len(timeline),
        journal_intact=not problems,
        journal_breaks=f"line {problems[0].line} {problems[0].message}" if problems else None,
        journal_torn=len(torn) if torn is not None else None,
        timeline=timeline,
        **case.record.model_dump(),
    )


# -- classify --------------------------------------------------------------------------------
class ClassifySettings(_Settings):
    """Facts given now (None: not given, the case's recorded facts stand) and whether to apply."""

    case: str
    data_breach: bool | None = None
    security_compromise: bool | None = None
    service_down: bool | None = None
    major_feature_degraded: bool | None = None
    minor_feature_degraded: bool | None = None
    error_rate: ErrorRate = None
    workaround: bool | None = None
    cosmetic: bool | None = None
    apply: bool = False
    policy_file: Path | None = None  # merged over the shipped policy

    def given_facts(self) -> dict[str, Any]:
        return self.model_dump(exclude={"case", "apply", "policy_file"}, exclude_none=True)


class Classified(BaseModel):
    case: str  # the incident id
    current: Severity  # the severity before (unchanged when only proposed)
    applied: bool
    severity: Severity
    reasons: list[str]
    definition: str
    response_time: str
    facts: dict[str, Any]


def case_facts(case: Case, given: dict[str, Any] | None = None) -> Facts:
    """Facts given now, over those the case recorded and the counts its scope found."""
    from notify.classify import Facts

    recorded: dict[str, Any] = dict(case.record.facts)
    scope = case.record.scope
    for key in ("affected_users", "records_touched"):
        count = getattr(scope, key, None)
        if isinstance(count, int):
            recorded.setdefault(key, count)
    now = {k: v for k, v in (given or {}).items() if v is not None}
    try:
        return Facts.model_validate(recorded | now)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInput(f"fact {first['loc'][0]}: {first['msg']}") from None


def classify_case(settings: ClassifySettings) -> Classified:
    """Propose a severity from the facts and say why; `apply` sets it and records the facts."""
    from breach.procedure.policy import policy_for
    from notify.classify import classify

    case = Case.load(settings.case, write=True)
    facts = case_facts(case, settings.given_facts())
    result = classify(facts, policy_for(case, settings.policy_file))
    current = case.record.severity
    if settings.apply:
        ensure_open(case)
        changes: dict[str, Any] = {"facts": facts.model_dump(exclude_defaults=True)}
        if result.severity != current:
            changes["severity"] = result.severity
        case.update("; ".join(result.reasons[:-1]), **changes)
    else:
        case.journal("incident.classify", why="; ".join(result.reasons), details=result.as_dict())
    return Classified(case=case.id, current=current, applied=settings.apply, **result.as_dict())


# -- aware-at, severity, status --------------------------------------------------------------
class SetAwareAtSettings(_Settings):
    case: str
    at: AwareAt  # when the organisation became aware
    reason: Reason


class AwareAtChanged(BaseModel):
    case: str
    before: UtcDatetime
    aware_at: UtcDatetime
    reason: str


def set_aware_at(settings: SetAwareAtSettings) -> AwareAtChanged:
    """Move the moment of awareness that starts the regulatory clocks (journaled, with why)."""
    case = ensure_open(Case.load(settings.case, write=True))
    before = case.record.aware_at
    case.update(settings.reason, aware_at=to_utc(settings.at))
    return AwareAtChanged(
        case=case.id, before=before, aware_at=case.record.aware_at, reason=settings.reason
    )


class SetSeveritySettings(_Settings):
    case: str
    to: Severity
    reason: Reason


class SeverityChanged(BaseModel):
    case: str
    before: Severity
    severity: Severity
    reason: str


def set_severity(settings: SetSeveritySettings) -> SeverityChanged:
    """Change an open case's severity (journaled, with why)."""
    case = ensure_open(Case.load(settings.case, write=True))
    before = case.record.severity
    case.update(settings.reason, severity=settings.to)
    return SeverityChanged(
        case=case.id, before=before, severity=settings.to, reason=settings.reason
    )


class SetStatusSettings(_Settings):
    case: str
    to: Literal["open", "contained", "resolved"]  # closing is close_case
    reason: Reason


class StatusChanged(BaseModel):
    case: str
    before: Status
    status: Status
    reason: str


def set_status(settings: SetStatusSettings) -> StatusChanged:
    """Move an open case to open, contained or resolved (journaled, with why)."""
    case = ensure_open(Case.load(settings.case, write=True))
    before = case.record.status
    case.update(settings.reason, status=settings.to)
    return StatusChanged(case=case.id, before=before, status=settings.to, reason=settings.reason)


# -- close -----------------------------------------------------------------------------------
class CloseSettings(_Settings):
    case: str
    reason: Reason = "incident closed"
    # Given both, the case's last bundle is sealed at close: the post-mortem and the close in it.
    recipients: list[str] = []
    signing_key: Path | None = None


class CaseClosed(BaseModel):
    case: str
    status: Literal["closed"] = "closed"
    closed_at: UtcDatetime
    postmortem: Path | None  # the staged copy, for a P1 or P2 case
    bundle: str | None = None  # the last bundle, sealed at close
    unsealed: str | None = None  # what is staged but not yet sealed, and how to seal it


def finished_postmortem(case: Case) -> str:
    """The post-mortem's text, refused while it is missing or has sections left to write."""
    from notify.postmortem import unfinished_sections

    path = case.postmortem_path
    if not path.exists():
        raise BadInput(
            f"{case.id} is {case.record.severity}: a post-mortem is required before closing",
            hint=f"run `breach postmortem --case {case.root}`, finish it, then close",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    todo = unfinished_sections(text)
    if todo:
        raise BadInput(
            f"{path} still has {len(todo)} section(s) to write: {'; '.join(todo[:3])}",
            hint="replace every [[FILL IN: ...]] marker, then close",
        )
    return text


def close_case(settings: CloseSettings) -> CaseClosed:
    """Close the case; a P1 or P2 case first stages its finished post-mortem as evidence."""
    from notify.postmortem import REQUIRED_FOR

    case = Case.load(settings.case, write=True)
    if case.record.status == "closed":
        raise BadInput(f"{case.id} is already closed")
    staged = None
    closed_at = utcnow()
    if case.record.severity in REQUIRED_FOR:
        from breach.procedure.notify import postmortem_at_close

        # Duration and Timeline made again up to the close, in the case's copy and the staged one
        text = postmortem_at_close(case, finished_postmortem(case), closed_at)
        write_text(case.postmortem_path, text)
        staged = case.stage_path(case.postmortem_path.name)
        write_text(staged, text)
        source = {"system": "breach.postmortem", "case": case.id}
        describe(staged, artifact_meta("text/markdown", source, "incident.close"))
    case.update(settings.reason, status="closed", closed_at=closed_at)
    closed = CaseClosed(case=case.id, closed_at=closed_at, postmortem=staged)
    return _seal_last(case, closed, settings)


def _seal_last(case: Case, closed: CaseClosed, settings: CloseSettings) -> CaseClosed:
    """Seal the case's last bundle (post-mortem included), or say how, when keys are missing."""
    from breach.procedure.bundle import SealSettings, seal

    if settings.recipients and settings.signing_key:
        sealed = seal(
            SealSettings(
                case=str(case.root),
                recipients=settings.recipients,
                signing_key=settings.signing_key,
            )
        )
        return closed.model_copy(update={"bundle": sealed.id})
    if closed.postmortem is not None:
        hint = f"breach seal --case {case.root} -r RECIPIENT --signing-key KEY"
        return closed.model_copy(update={"unsealed": f"the post-mortem is not sealed yet: {hint}"})
    return closed
