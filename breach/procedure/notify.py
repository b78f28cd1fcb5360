"""Communicate: the clocks, the notices, who was told when, and the post-mortem.

    due(DueSettings(case="INC-1"))                               # every obligation and its state
    draft(DraftSettings(case="INC-1"))                           # notices under notify/drafts/
    send(SendSettings(case="INC-1", notice="internal",
                      channel=SlackSettings(webhook_url="https://hooks.slack.com/...")))
    decide(DecideSettings(case="INC-1", obligation="gdpr-art34", reason="..."))
    postmortem(PostmortemSettings(case="INC-1", author="Dana"))  # CASE/postmortem.md

notify/ never reads a case folder: `incident_context(case)` turns the case (case.json, its scope,
the receipts, the journal) into the IncidentContext it works from. Every send leaves one receipt
(receipts/, staged), the exact text sent (staged), for a mailing the per-address deliveries log
(staged), and one journal entry; a decision not to notify is a receipt and an entry too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from breach.case import Case
from breach.procedure.notify_runs import begin, in_doubt, progress_file
from breach.procedure.policy import policy_for
from core.artifacts import artifact_meta, describe
from core.errors import BadInput, BreachError
from core.faults import point
from core.fsio import read_json, resolve_inside, write_text
from core.models import Moment, UtcDatetime
from core.operator import operator
from core.records import NotificationDecision, NotificationReceipt
from core.timeutil import parse_rfc3339, utcnow
from notify.bulk import Pacer, send_bulk
from notify.channels.file import STDOUT, FileSettings
from notify.channels.interface import ChannelSettings, Delivery, Message, RetryPolicy, deliver
from notify.channels.interface import describe as describe_channel
from notify.channels.registry import AnyChannelSettings, build, settings_model
from notify.channels.smtp import SmtpChannel, valid_address
from notify.context import CaseInfo, IncidentContext
from notify.deadlines import humanize
from notify.obligations import State, next_update, notices_owed, obligations, status
from notify.policy import Policy
from notify.postmortem import (
    FILLED_IN_CODE,
    refresh_postmortem,
    render_postmortem,
    unfinished_sections,
)
from notify.recipients import RecipientList
from notify.records import (
    bulk_receipt,
    check_obligations,
    decision_record,
    default_obligations,
    notification_receipt,
    receipt_json,
    record_name,
    split_receipts,
)
from notify.render import (
    NOTICES,
    Notice,
    draft_header,
    parse_notice,
    render_notice,
    template_fields,
)

# What the journal entry of a send repeats from its receipt.
JOURNALED = (
    "channel", "destination", "obligations", "recipients", "message_sha256",
    "provider_message_id", "status", "attempts", "recipients_in_doubt", "run",
)  # fmt: skip


# -- the case, as notify sees it -------------------------------------------------------------
def incident_context(case: Case) -> IncidentContext:
    """The plain data notify/ works from: case.json, its scope, the receipts, the journal."""
    receipts = []
    if case.receipts.is_dir():
        for path in sorted(case.receipts.glob("*.json")):
            receipts.append((str(path), read_json(path, what="receipt")))
    containment, notifications, decisions = split_receipts(receipts)
    record = case.record
    try:
        info = CaseInfo.model_validate(record.model_dump(mode="json"))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{case.root / 'case.json'}: field {field}: {first['msg']}") from None
    return IncidentContext(
        case=info,
        scope=record.scope,
        facts=dict(record.facts),
        containment=containment,
        notifications=notifications,
        decisions=decisions,
        timeline=case.timeline(),
    )


def drafts_dir(case: Case) -> Path:
    return case.root / "notify" / "drafts"


# -- settings shared by the steps ------------------------------------------------------------
class NotifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str = Field(description="the case folder, or an incident id under $BREACH_CASES_DIR")
    policy: Path | None = Field(
        default=None, description="a policy file (TOML/JSON) over the default"
    )


class TemplateSettings(NotifySettings):
    templates: Path | None = Field(default=None, description="a folder of your own <notice>.md.j2")
    values: dict[str, str] = Field(default_factory=dict, description="template fields filled in")


# -- due -------------------------------------------------------------------------------------
class DueSettings(NotifySettings):
    at: Moment | None = Field(default=None, description="evaluate at this time instead of now")


class ObligationRow(BaseModel):
    id: str
    kind: Literal["escalation", "regulatory", "update"]
    label: str
    audience: str
    rule: str
    deadline: UtcDatetime
    deadline_local: str
    time_zone: str
    notice: str | None
    state: State
    time_left: str
    sent_at: UtcDatetime | None = None
    late: bool = False
    decision_reason: str | None = None


class DueResult(BaseModel):
    case: str
    at: UtcDatetime
    obligations: list[ObligationRow]
    overdue: list[str]
    severity: str = Field(exclude=True)
    aware_at: UtcDatetime = Field(exclude=True)

    def failure(self) -> str | None:
        """Why the step failed (an obligation overdue), or None."""
        if not self.overdue:
            return None
        return f"{len(self.overdue)} obligation(s) overdue: {', '.join(self.overdue)}"


def due(settings: DueSettings) -> DueResult:
    """Every obligation with its deadline, time left and state, from the records made by `at`,
    and the next internal status update the severity's cadence asks for."""
    case = Case.load(settings.case)
    policy = policy_for(case, settings.policy)
    now = settings.at or utcnow()
    context = incident_context(case)
    owed = obligations(context, policy)
    update = next_update(context, policy, now)
    owed += [update] if update is not None else []
    rows = [
        ObligationRow.model_validate(row.as_dict())
        for row in status(owed, context.notifications, context.decisions, now)
    ]
    return DueResult(
        case=case.id,
        at=now,
        obligations=rows,
        overdue=[row.id for row in rows if row.state == "overdue"],
        severity=case.record.severity,
        aware_at=case.record.aware_at,
    )


# -- draft -----------------------------------------------------------------------------------
class DraftSettings(TemplateSettings):
    notices: list[str] = Field(default_factory=list, description="default: all that apply")
    force: bool = Field(
        default=False, description="overwrite drafts that exist (their edits are lost)"
    )


class DraftRow(BaseModel):
    notice: str
    path: Path
    written: bool
    sha256: str
    template: str
    fill_in: list[str]


class DraftResult(BaseModel):
    case: str
    drafts: list[DraftRow]


def draft(settings: DraftSettings) -> DraftResult:
    """Write notices for review under CASE/notify/drafts/; a draft that exists is kept."""
    case = Case.load(settings.case, write=True)
    policy = policy_for(case, settings.policy)
    context = incident_context(case)
    names = settings.notices or notices_owed(context, policy)
    fields = _fields_of(names, settings.templates, settings.values)
    rows = []
    for name in names:
        values = {k: v for k, v in settings.values.items() if k in fields[name]}
        rendered = render_notice(
            name, context, policy, templates_dir=settings.templates, values=values
        )
        target = drafts_dir(case) / f"{name}.md"
        kept = target.exists() and not settings.force
        if not kept:
            write_text(target, _draft_text(rendered, fields[name], policy))
        rows.append(
            DraftRow(
                notice=name,
                path=target,
                written=not kept,
                sha256=rendered.sha256,
                template=rendered.template,
                fill_in=rendered.unfilled(),
            )
        )
    written = {row.notice: row.sha256 for row in rows if row.written}
    if written:
        case.journal("notify.draft", details={"notices": written})
    return DraftResult(case=case.id, drafts=rows)


def _fields_of(
    names: list[str], templates: Path | None, values: dict[str, str]
) -> dict[str, list[str]]:
    """The --set names each notice takes; a value none of them takes is refused."""
    fields = {name: template_fields(name, templates) for name in names}
    taken = {field for known in fields.values() for field in known}
    unknown = sorted(set(values) - taken)
    if unknown:
        raise BadInput(
            f"no notice drafted here has a field {unknown[0]!r} to set",
            hint=f"they take: {', '.join(sorted(taken))} (see `breach notify fields`)",
            field="values",
        )
    return fields


def _draft_text(notice: Notice, fields: list[str], policy: Policy) -> str:
    """The draft as reviewed: a header (its fields; whether it may be sent), then the notice."""
    used = _placeholders_in(notice, policy)
    return draft_header(notice.name, fields, used) + notice.text


def _placeholders_in(notice: Notice, policy: Policy) -> dict[str, str]:
    """The default policy's placeholder organisation values this notice would carry."""
    return {k: v for k, v in policy.organisation.placeholders().items() if v in notice.text}


def refuse_placeholders(notice: Notice, policy: Policy) -> None:
    """A notice is never sent in the name of "Example Ltd" (a draft may be, marked)."""
    used = _placeholders_in(notice, policy)
    if used:
        named = ", ".join(f"organisation.{key}" for key in used)
        raise BadInput(
            f"notice {notice.name} would be sent with the default policy's placeholder"
            f" organisation ({', '.join(repr(v) for v in used.values())})",
            hint=f"set {named} in your policy file, then pin it:"
            " breach incident policy --case CASE --policy FILE --reason '...'",
            field="policy",
        )


# -- fields ----------------------------------------------------------------------------------
class FieldsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notices: list[str] = Field(default_factory=list, description="default: the built-in ones")
    templates: Path | None = Field(default=None, description="a folder of your own <notice>.md.j2")


class FieldsResult(BaseModel):
    fields: dict[str, list[str]] = Field(description="notice -> the names --set fills")


def fields(settings: FieldsSettings) -> FieldsResult:
    """The names each notice template accepts through --set (also in every draft's header)."""
    names = settings.notices or [*NOTICES, "postmortem"]
    return FieldsResult(
        fields={
            name: template_fields(
                name, settings.templates, FILLED_IN_CODE if name == "postmortem" else ()
            )
            for name in names
        }
    )


# -- send ------------------------------------------------------------------------------------
class SendSettings(TemplateSettings):
    notice: str = Field(description="internal, external, gdpr-art33, gdpr-art34, or your own")
    channel: AnyChannelSettings
    obligations: list[str] = Field(
        default_factory=list, description="what this send satisfies; default: the notice's own"
    )
    to: list[str] = Field(default_factory=list, description="smtp: one message to these")
    recipients: Path | None = Field(default=None, description="smtp: one mail each to this list")
    affected_users: bool = Field(
        default=False, description="smtp: one mail each to the scope's list"
    )
    batch_size: int = Field(default=100, ge=1, description="mails per SMTP connection")
    rate: float = Field(default=600.0, gt=0, description="at most this many mails a minute")
    restart: bool = Field(default=False, description="ignore a previous mailing's progress")
    resend_in_doubt: bool = Field(
        default=False,
        description="send again to whoever an interrupted run may or may not have sent to",
    )
    confirm_sent: bool = Field(
        default=False,
        description="the recipient confirmed the message an interrupted run may have sent: "
        "record it as sent by that run, send nothing",
    )
    retries: int = Field(default=4, ge=1, description="attempts per message")
    backoff: float = Field(default=1.0, ge=0, description="first retry wait in seconds; doubles")
    max_wait: float = Field(default=60.0, ge=0, description="cap on any wait, Retry-After included")
    dry_run: bool = False
    stdout_taken: bool = Field(
        default=False, description="stdout carries the result (e.g. as JSON)"
    )

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not valid_address(address):
                raise PydanticCustomError(
                    "address", "{address} is not a mail address", {"address": repr(address)}
                )
        return value


class SendPlan(BaseModel):
    """What is (or would be) sent, where, and what it satisfies."""

    case: str
    notice: str
    source: Literal["draft", "rendered"]
    message_sha256: str
    obligations: list[str]
    channel: str
    destination: str
    recipients: int | None = Field(default=None, description="a mailing: addresses on its list")
    takes: str | None = Field(
        default=None, description="a mailing: how long the rate limit makes it take, at least"
    )

    def would(self) -> str:
        """What a dry run says: the notice, where, and for a mailing how many and how long."""
        line = f"would send {self.notice} via {self.destination} ({self.message_sha256[:12]})"
        if self.recipients is None:
            return line
        return f"{line} to {self.recipients} recipient(s), one mail each: {self.takes} at the rate"


class SendResult(BaseModel):
    plan: SendPlan
    receipt: NotificationReceipt | None = Field(default=None, description="None on a dry run")
    receipt_path: Path | None = None

    @property
    def dry_run(self) -> bool:
        return self.receipt is None

    def report(self) -> dict[str, Any]:
        """The plan, and once sent the receipt over it: what `notify send --json` prints."""
        plan = self.plan.model_dump(mode="json", exclude_none=True)
        if self.receipt is None:
            return {**plan, "dry_run": True}
        return {**plan, "receipt": str(self.receipt_path), **receipt_json(self.receipt)}

    def failure(self) -> str | None:
        """Why the send counts as failed (anything but "sent"), or None."""
        receipt = self.receipt
        if receipt is None or receipt.status == "sent":
            return None
        last = (receipt.errors or ["no detail"])[-1]
        return f"{self.plan.notice} via {self.plan.channel} {receipt.status}: {last}"


def channel_model(name: str) -> type[ChannelSettings]:
    """The settings model of channel `name` (the CLI checks a channel's own flags with it)."""
    return settings_model(name)


def notice_to_send(
    case: Case, name: str, policy: Policy, templates: Path | None, values: dict[str, str]
) -> tuple[Notice, Literal["draft", "rendered"]]:
    """The reviewed draft if there is one, else a fresh rendering (saved as the draft)."""
    path = drafts_dir(case) / f"{name}.md"
    if path.exists() and not values:
        return parse_notice(name, path.read_text(encoding="utf-8"), str(path)), "draft"
    notice = render_notice(
        name, incident_context(case), policy, templates_dir=templates, values=values
    )
    if not path.exists():
        write_text(path, _draft_text(notice, template_fields(name, templates), policy))
    return notice, "rendered"


def _mailing_list(case: Case, settings: SendSettings) -> RecipientList | None:
    """The list a mailing goes to (one mail each), if the send is one."""
    if settings.recipients is not None:
        return RecipientList(settings.recipients)
    if not settings.affected_users:
        return None
    scope = case.record.scope
    artifact = scope.affected_users_artifact if scope else None
    if not artifact:
        raise BadInput(
            "the case scope names no affected_users_artifact",
            hint="run the evidence scope step first, or mail a recipients file",
            field="affected_users",
        )
    return RecipientList(resolve_inside(case.staging, artifact))


def _check_addressing(settings: SendSettings, mailing: bool) -> None:
    """Mistakes that would misdirect mail are refused before anything is sent."""
    given = [f for f in ("to", "recipients", "affected_users") if getattr(settings, f)]
    if settings.channel.type != "smtp":
        if given:
            raise BadInput("mail addresses and lists are for the smtp channel", field=given[0])
        return
    if mailing == bool(settings.to):
        raise BadInput(
            "mail goes either to the addresses given or one each to a list, one of the two",
            field="to",
        )


def rate_time(count: int, per_minute: float) -> str:
    """How long `count` mails take at `per_minute` (the first goes at once): '40s', '1h 6m'."""
    seconds = max(count - 1, 0) * 60.0 / per_minute
    return f"{seconds:.0f}s" if seconds < 120 else humanize(timedelta(seconds=seconds))


def send(
    settings: SendSettings, *, progress: Callable[[int, int], None] | None = None
) -> SendResult:
    """Send a notice (the reviewed draft if there is one) and record it: receipt, text, journal.
    A mailing calls `progress(done, total)` after each address."""
    case = Case.load(settings.case, write=True)
    policy = policy_for(case, settings.policy)
    name = settings.notice
    notice, source = notice_to_send(case, name, policy, settings.templates, settings.values)
    refuse_placeholders(notice, policy)
    unfilled = notice.unfilled()
    if unfilled:
        raise BadInput(
            f"notice {name} still has {len(unfilled)} field(s) to fill in: "
            f"{'; '.join(unfilled[:3])}; edit {drafts_dir(case) / (name + '.md')} or fill them in",
            field="values",
        )
    owed = check_obligations(policy, settings.obligations or default_obligations(policy, name))
    mailing = _mailing_list(case, settings) if settings.channel.type == "smtp" else None
    _check_addressing(settings, mailing is not None)
    out = settings.channel
    to_stdout = isinstance(out, FileSettings) and out.out == STDOUT
    if to_stdout and settings.stdout_taken and not settings.dry_run:  # a dry run writes none
        raise BadInput(
            "the notice and the result would both be written to stdout",
            hint="write the notice to a file",
            field="out",
        )
    channel = build(settings.channel)
    message = Message(
        notice.subject,
        notice.body,
        recipients=tuple(settings.to),
        severity=case.record.severity,
        dedup_key=f"{case.id}:{name}",
        source=f"breachkit/{case.id}",
    )
    where = describe_channel(channel)
    count = mailing.fingerprint()[1] if mailing is not None else None
    plan = SendPlan(
        case=case.id,
        notice=name,
        source=source,
        message_sha256=message.sha256,
        obligations=owed,
        recipients=count,
        takes=rate_time(count, settings.rate) if count is not None else None,
        **where,
    )
    if settings.dry_run:
        return SendResult(plan=plan)
    retry = RetryPolicy(
        attempts=settings.retries, backoff=settings.backoff, max_delay=settings.max_wait
    )
    intent = {**where, "notice": name, "message_sha256": message.sha256, "recipients": count}
    if settings.confirm_sent:
        receipt = _confirmed(case, settings, intent, mailing is not None, message, owed)
        path = _record(case, receipt, message, record_name("notification", name, channel.name))
        return SendResult(plan=plan, receipt=receipt, receipt_path=path)
    resend = settings.resend_in_doubt
    run = begin(case, intent, mailing=mailing is not None, resend_in_doubt=resend)
    try:
        if mailing is not None:
            assert isinstance(channel, SmtpChannel)
            deliveries = case.stage_path(f"notices/{name}-deliveries.jsonl")
            try:
                result = send_bulk(
                    channel,
                    message,
                    mailing,
                    progress_file(case, name),
                    deliveries,
                    batch_size=settings.batch_size,
                    pacer=Pacer(settings.rate),
                    retry=retry,
                    restart=settings.restart,
                    on_progress=progress,
                    run=run,
                    resend_in_doubt=settings.resend_in_doubt,
                )
            finally:  # the per-address log is evidence too, even of an interrupted run
                if deliveries.exists():
                    source_ = {"system": "notify.smtp", "notice": name}
                    describe(deliveries, artifact_meta("application/jsonl", source_, "notify.send"))
            receipt = bulk_receipt(
                case_id=case.id, notice=name, channel=where, obligations=owed, result=result,
                deliveries=f"staging/notices/{name}-deliveries.jsonl",
            )  # fmt: skip
        else:
            receipt = notification_receipt(
                case_id=case.id, notice=name, channel=where, obligations=owed,
                message_sha256=message.sha256, delivery=deliver(channel, message, retry),
            )  # fmt: skip
    except BreachError as exc:  # the run ends here: its sends, if any, are in the sent log
        case.journal("notify.send", result="failed", details={"run": run, "error": exc.message})
        raise
    receipt.run = run
    point("notify.sent")
    path = _record(case, receipt, message, record_name("notification", name, channel.name))
    return SendResult(plan=plan, receipt=receipt, receipt_path=path)


def _confirmed(
    case: Case,
    settings: SendSettings,
    intent: dict[str, Any],
    mailing: bool,
    message: Message,
    owed: list[str],
) -> NotificationReceipt:
    """The receipt of a message in doubt that the recipient confirmed: sent by the interrupted
    run, when that run started; its receipt closes the run's intent. Nothing is sent."""
    if mailing or settings.resend_in_doubt:
        raise BadInput(
            "--confirm-sent is for one message left in doubt, not a mailing or a resend",
            hint="a mailing's sent log says what it sent; rerun it to resume",
            field="confirm_sent",
        )
    run = in_doubt(case, intent)
    if run is None:
        raise BadInput(
            f"no interrupted send of notice {intent['notice']} via {intent['channel']} with this"
            " message is in doubt: nothing to confirm",
            field="confirm_sent",
        )
    intended = len(message.recipients) or 1
    delivery = Delivery(
        status="sent", attempts=0, recipients=intended, intended=intended,
        sent_at=parse_rfc3339(run.at),
        provider_response=f"not read back; confirmed by the recipient to {operator()}",
    )  # fmt: skip
    where = {k: intent[k] for k in ("channel", "destination")}
    receipt = notification_receipt(
        case_id=case.id, notice=intent["notice"], channel=where, obligations=owed,
        message_sha256=message.sha256, delivery=delivery,
    )  # fmt: skip
    receipt.run = run.run
    return receipt


def _record(case: Case, receipt: NotificationReceipt, message: Message, name: str) -> Path:
    """The exact text sent (staged, described), then the receipt and its journal entry."""
    stem = name.removesuffix(".json")
    body = case.stage_path(f"notices/{stem}.txt")
    write_text(body, message.text)
    source = {"system": f"notify.{receipt.channel}", "receipt": name}
    describe(body, artifact_meta("text/plain", source, "notify.send"))
    data = receipt_json(receipt)
    case.record_receipt(
        name,
        data,
        {"media_type": "application/json"},
        what="notify.send",
        result="ok" if receipt.status == "sent" else receipt.status,
        why=f"{receipt.notice} via {receipt.channel}",
        details={key: data.get(key) for key in JOURNALED},
    )
    return case.receipts / name


# -- decide ----------------------------------------------------------------------------------
class DecideSettings(NotifySettings):
    obligation: str = Field(description="e.g. gdpr-art34")
    reason: str = Field(description="why it is not notified, in words")


class DecideResult(NotificationDecision):
    case: str
    receipt: Path


def decide(settings: DecideSettings) -> DecideResult:
    """Record a decision not to notify, with its reason (the GDPR Art. 33(5) register)."""
    case = Case.load(settings.case, write=True)
    policy = policy_for(case, settings.policy)
    check_obligations(policy, [settings.obligation], field="obligation")
    record = decision_record(settings.obligation, settings.reason, decided_by=operator())
    name = record_name("decision", settings.obligation)
    case.record_receipt(
        name,
        record,
        {"media_type": "application/json"},
        what="notify.decide",
        result="ok",
        why=record.reason,
        details={"obligation": settings.obligation, "decision": record.decision},
    )
    return DecideResult(**dict(record), case=case.id, receipt=case.receipts / name)


# -- post-mortem -----------------------------------------------------------------------------
class PostmortemSettings(TemplateSettings):
    author: str | None = Field(default=None, description="the Author line")
    force: bool = Field(
        default=False, description="overwrite a post-mortem that exists (edits are lost)"
    )


class PostmortemResult(BaseModel):
    case: str
    path: Path
    fill_in: list[str] = Field(description="sections still for a person to write")


def postmortem_at_close(case: Case, text: str, closed_at: datetime) -> str:
    """The post-mortem with its Duration and Timeline brought up to the close."""
    return refresh_postmortem(text, incident_context(case), closed_at)


def postmortem(settings: PostmortemSettings) -> PostmortemResult:
    """Fill the seed's post-mortem template from the case into CASE/postmortem.md."""
    case = Case.load(settings.case, write=True)
    target = case.postmortem_path
    if target.exists() and not settings.force:
        raise BadInput(f"{target} already exists; it may hold your edits", field="force")
    values = settings.values | ({"author": settings.author} if settings.author else {})
    rendered = render_postmortem(
        incident_context(case),
        policy_for(case, settings.policy),
        templates_dir=settings.templates,
        values=values,
    )
    write_text(target, rendered.body)
    todo = unfinished_sections(rendered.body)
    details = {"path": target.name, "sha256": rendered.sha256, "fill_in": len(todo)}
    case.journal("postmortem.draft", details=details)
    return PostmortemResult(case=case.id, path=target, fill_in=todo)
