"""`breach notify due | draft | send | decide` and `breach postmortem`: the Communicate step.

Thin wrappers: read the case into a plain `IncidentContext`, call notify/, record the result
(receipt in receipts/ and staged as evidence, one journal entry).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from breach import __version__
from breach.case import Case
from breach.options import aws_options, case_option, dry_run_option, json_option
from breach.output import report
from core.artifacts import describe as describe_artifact
from core.errors import BadInput, StepFailed
from core.fsio import read_json, resolve_inside, write_text
from core.operator import operator
from core.timeutil import parse_rfc3339, rfc3339, utcnow
from notify.bulk import Pacer, send_bulk
from notify.channels.file import FileChannel
from notify.channels.interface import Channel, Message, RetryPolicy, deliver, describe
from notify.channels.pagerduty import EVENTS_URL, PagerDutyChannel
from notify.channels.slack import SlackChannel
from notify.channels.smtp import SmtpChannel, SmtpSettings, valid_address
from notify.channels.sns import SnsChannel, sns_client, topic_region
from notify.context import IncidentContext
from notify.obligations import notices_owed, obligations, status
from notify.policy import Policy, load_policy
from notify.postmortem import render_postmortem, unfinished_sections
from notify.recipients import RecipientList
from notify.records import (
    bulk_receipt,
    check_obligations,
    decision_record,
    default_obligations,
    notification_receipt,
    record_name,
    split_receipts,
)
from notify.render import Notice, parse_notice, render_notice

F = TypeVar("F", bound=Callable[..., Any])
CHANNELS = ("smtp", "slack", "sns", "pagerduty", "file")
POSTMORTEM = "postmortem.md"


# -- reading the case ------------------------------------------------------------------------
def case_receipts(case: Case) -> list[dict[str, Any]]:
    found = []
    if case.receipts.is_dir():
        for path in sorted(case.receipts.glob("*.json")):
            data = read_json(path, what="receipt")
            if isinstance(data, dict):
                found.append(data)
    return found


def incident_context(case: Case) -> IncidentContext:
    """The plain data notify/ works from: case.json, its scope, receipts, the journal."""
    record = case.record.model_dump(mode="json")
    containment, notifications, decisions = split_receipts(case_receipts(case))
    try:
        return IncidentContext.model_validate(
            {
                "case": record,
                "scope": record.get("scope"),
                "facts": record.get("facts") or {},
                "containment": containment,
                "notifications": notifications,
                "decisions": decisions,
                "timeline": case.timeline(),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(
            f"{case.root / 'case.json'} or its receipts: field {field}: {first['msg']}"
        ) from None


def drafts_dir(case: Case) -> Path:
    return case.root / "notify" / "drafts"


def postmortem_path(case: Case) -> Path:
    return case.root / POSTMORTEM


# -- shared options --------------------------------------------------------------------------
def policy_option(func: F) -> F:
    return click.option(
        "--policy",
        "policy_file",
        envvar="BREACH_POLICY",
        type=click.Path(path_type=Path),
        help="Policy file (TOML/JSON) merged over the default. [BREACH_POLICY]",
    )(func)


def template_options(func: F) -> F:
    func = click.option(
        "--set",
        "values",
        multiple=True,
        metavar="NAME=VALUE",
        help="Fill a template field, e.g. --set consequences='...'. Repeatable.",
    )(func)
    return click.option(
        "--templates",
        "templates_dir",
        envvar="BREACH_TEMPLATES",
        type=click.Path(path_type=Path),
        help="Folder of your own Jinja2 templates (<notice>.md.j2). [BREACH_TEMPLATES]",
    )(func)


def parse_values(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--set {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def _at(value: str | None) -> datetime:
    return parse_rfc3339(value, field="--at") if value else utcnow()


# -- due -------------------------------------------------------------------------------------
def due_report(case: Case, policy: Policy, now: datetime) -> list[dict[str, Any]]:
    context = incident_context(case)
    owed = obligations(context, policy)
    return [s.as_dict() for s in status(owed, context.notifications, context.decisions, now)]


@click.group("notify")
def notify() -> None:
    """Escalation and regulatory clocks, notices, and the record of who was told when."""


@notify.command("due")
@case_option()
@policy_option
@click.option("--at", "at", help="Evaluate at this time instead of now (RFC 3339).")
@json_option
def due(case_dir: str, policy_file: Path | None, at: str | None, as_json: bool) -> None:
    """Every obligation with its deadline, time left and state; exit 1 if any is overdue."""
    case = Case.load(case_dir)
    policy = load_policy(policy_file)
    now = _at(at)
    rows = due_report(case, policy, now)
    overdue = [r["id"] for r in rows if r["state"] == "overdue"]
    data = {"case": case.id, "at": rfc3339(now), "obligations": rows, "overdue": overdue}

    def human(out: Console) -> None:
        out.print(
            f"[bold]{case.id}[/bold] {case.record.severity}, aware {rfc3339(case.record.aware_at)}"
        )
        colours = {"sent": "green", "not-notified": "cyan", "due": "yellow", "overdue": "red"}
        for row in rows:
            state = f"[{colours[row['state']]}]{row['state']:<12}[/]"
            late = " (late)" if row.get("late") else ""
            out.print(
                f"  {state} {row['id']:<26} {row['deadline_local']:<22} {row['time_left']:>12}"
                f"  {escape(row['label'])}{late}"
            )

    report(as_json, data, human)
    if overdue:
        raise StepFailed(f"{len(overdue)} obligation(s) overdue: {', '.join(overdue)}")


# -- draft -----------------------------------------------------------------------------------
@notify.command("draft")
@case_option()
@policy_option
@template_options
@click.option(
    "--notice", "notices", multiple=True, help="Which notice(s); default: all that apply."
)
@click.option("--force", is_flag=True, help="Overwrite drafts that already exist (edits are lost).")
@json_option
def draft(
    case_dir: str,
    policy_file: Path | None,
    templates_dir: Path | None,
    values: tuple[str, ...],
    notices: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Write notices for review under CASE/notify/drafts/ (existing drafts are kept)."""
    case = Case.load(case_dir)
    policy = load_policy(policy_file)
    context = incident_context(case)
    given = parse_values(values)
    rows: list[dict[str, Any]] = []
    for name in notices or notices_owed(context, policy):
        rendered = render_notice(name, context, policy, templates_dir=templates_dir, values=given)
        target = drafts_dir(case) / f"{name}.md"
        kept = target.exists() and not force
        if not kept:
            write_text(target, rendered.text)
        rows.append(
            {
                "notice": name,
                "path": str(target),
                "written": not kept,
                "sha256": rendered.sha256,
                "template": rendered.template,
                "fill_in": rendered.unfilled(),
            }
        )
    written = [r["notice"] for r in rows if r["written"]]
    if written:
        case.journal(
            "notify.draft",
            details={"notices": {r["notice"]: r["sha256"] for r in rows if r["written"]}},
        )

    def human(out: Console) -> None:
        for row in rows:
            verb = "wrote" if row["written"] else "kept (exists; --force to redo)"
            todo = f", {len(row['fill_in'])} field(s) to fill in" if row["fill_in"] else ""
            out.print(f"{verb} {row['path']}{todo}")

    report(as_json, {"case": case.id, "drafts": rows}, human)


# -- send ------------------------------------------------------------------------------------
def channel_options(func: F) -> F:
    options = [
        click.option("--to", "to", multiple=True, help="smtp: an address. Repeatable."),
        click.option(
            "--recipients",
            "recipients_file",
            type=click.Path(path_type=Path),
            help="smtp: one mail each to the addresses in this file (.parquet/.csv 'email', .txt).",
        ),
        click.option(
            "--affected-users",
            is_flag=True,
            help="smtp: one mail each to the scope's affected-users list (staged Parquet).",
        ),
        click.option("--batch-size", default=100, show_default=True, help="Mails per connection."),
        click.option("--rate", default=600.0, show_default=True, help="At most this many mails a minute."),
        click.option("--restart", is_flag=True, help="Ignore a previous bulk run's progress."),
        click.option("--smtp-host", envvar="BREACH_SMTP_HOST", help="[BREACH_SMTP_HOST]"),
        click.option("--smtp-port", envvar="BREACH_SMTP_PORT", type=int, default=587, show_default=True),
        click.option(
            "--smtp-security",
            envvar="BREACH_SMTP_SECURITY",
            type=click.Choice(["starttls", "tls", "none"]),
            default="starttls",
            show_default=True,
        ),
        click.option("--smtp-user", envvar="BREACH_SMTP_USER", help="[BREACH_SMTP_USER]; password from $BREACH_SMTP_PASSWORD."),
        click.option("--smtp-ca-file", envvar="BREACH_SMTP_CA_FILE", help="Trust this CA for the server."),
        click.option("--from", "sender", envvar="BREACH_SMTP_FROM", help="From address. [BREACH_SMTP_FROM]"),
        click.option("--webhook-url", envvar="BREACH_SLACK_WEBHOOK_URL", help="slack: [BREACH_SLACK_WEBHOOK_URL]"),
        click.option("--routing-key", envvar="BREACH_PAGERDUTY_ROUTING_KEY", help="pagerduty: [BREACH_PAGERDUTY_ROUTING_KEY]"),
        click.option("--pagerduty-url", envvar="BREACH_PAGERDUTY_URL", default=EVENTS_URL, show_default=True),
        click.option("--topic-arn", envvar="BREACH_SNS_TOPIC_ARN", help="sns: [BREACH_SNS_TOPIC_ARN]"),
        click.option("--out", "out_path", help="file: write here ('-' for stdout)."),
        click.option("--retries", default=4, show_default=True, help="Attempts per message."),
        click.option("--backoff", envvar="BREACH_NOTIFY_BACKOFF", type=float, default=1.0, show_default=True, help="First retry wait in seconds; doubles. [BREACH_NOTIFY_BACKOFF]"),
        click.option("--max-wait", envvar="BREACH_NOTIFY_MAX_WAIT", type=float, default=60.0, show_default=True, help="Cap on any wait, Retry-After included."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return aws_options(func)


def _require(value: Any, flag: str, channel: str) -> Any:
    if not value:
        raise BadInput(f"--channel {channel} needs {flag}")
    return value


def build_channel(name: str, opts: dict[str, Any]) -> Channel:
    """The channel the options describe; secrets come from options or the environment only."""
    try:
        if name == "smtp":
            return SmtpChannel(
                SmtpSettings(
                    host=_require(opts["smtp_host"], "--smtp-host", name),
                    sender=_require(opts["sender"], "--from", name),
                    port=opts["smtp_port"],
                    security=opts["smtp_security"],
                    username=opts["smtp_user"],
                    password=os.environ.get("BREACH_SMTP_PASSWORD"),
                    ca_file=opts["smtp_ca_file"],
                )
            )
        if name == "slack":
            return SlackChannel(_require(opts["webhook_url"], "--webhook-url", name))
        if name == "pagerduty":
            key = _require(opts["routing_key"], "--routing-key", name)
            return PagerDutyChannel(key, opts["pagerduty_url"])
        if name == "sns":
            topic = _require(opts["topic_arn"], "--topic-arn", name)
            region = opts["region"] or topic_region(topic)  # the topic's own region by default
            client = sns_client(region, opts["profile"], opts["endpoint_url"], opts["role_arn"])
            return SnsChannel(topic, client)
        return FileChannel(_require(opts["out_path"], "--out", name))
    except ValueError as exc:
        raise BadInput(f"--channel {name}: {exc}") from None


def notice_to_send(
    case: Case, name: str, policy: Policy, templates_dir: Path | None, values: dict[str, str]
) -> tuple[Notice, str]:
    """The reviewed draft if there is one, else a fresh rendering (saved as the draft)."""
    path = drafts_dir(case) / f"{name}.md"
    if path.exists() and not values:
        return parse_notice(name, path.read_text(encoding="utf-8"), str(path)), "draft"
    notice = render_notice(
        name, incident_context(case), policy, templates_dir=templates_dir, values=values
    )
    if not path.exists():
        write_text(path, notice.text)
    return notice, "rendered"


def _bulk_source(case: Case, opts: dict[str, Any]) -> RecipientList | None:
    if opts["recipients_file"]:
        return RecipientList(opts["recipients_file"])
    if not opts["affected_users"]:
        return None
    scope = case.record.scope
    artifact = scope.affected_users_artifact if scope else None
    if not artifact:
        raise BadInput(
            "the case scope names no affected_users_artifact",
            hint="run the evidence scope step first, or pass --recipients FILE",
        )
    return RecipientList(resolve_inside(case.staging, str(artifact)))


def _check_mail_options(channel: str, bulk: bool, opts: dict[str, Any]) -> None:
    """Mistakes that would misdirect mail or leak a password are refused before any sending."""
    if channel != "smtp":
        return
    if bulk == bool(opts["to"]):
        raise BadInput("--channel smtp needs either --to, or --recipients / --affected-users")
    bad = [addr for addr in opts["to"] if not valid_address(addr)]
    if bad:
        raise BadInput(f"--to {bad[0]!r} is not a mail address")
    if opts["smtp_user"] and opts["smtp_security"] == "none":
        raise BadInput(
            "--smtp-user with --smtp-security none would send the password in clear",
            hint="use starttls or tls",
        )


def _retry(opts: dict[str, Any]) -> RetryPolicy:
    if opts["retries"] < 1 or opts["backoff"] < 0 or opts["max_wait"] < 0:
        raise BadInput("--retries must be at least 1; --backoff and --max-wait at least 0")
    return RetryPolicy(
        attempts=opts["retries"], backoff=opts["backoff"], max_delay=opts["max_wait"]
    )


def _record(case: Case, receipt: dict[str, Any], name: str, message: Message, stem: str) -> None:
    """ContainmentReceipt to receipts/ (staged too), the exact text staged beside it, one journal entry."""
    case.write_receipt(stem + ".json", receipt, {"media_type": "application/json"})
    body = case.stage_path(f"notices/{stem}.txt")
    write_text(body, message.text)
    describe_artifact(
        body,
        {
            "media_type": "text/plain",
            "source": {"system": f"notify.{receipt['channel']}", "receipt": f"{stem}.json"},
            "collector": {"name": "notify.send", "version": __version__},
        },
    )
    ok = receipt["status"] == "sent"
    case.journal(
        "notify.send",
        result="ok" if ok else receipt["status"],
        why=f"{name} via {receipt['channel']}",
        details={
            k: receipt.get(k)
            for k in (
                "channel", "destination", "obligations", "recipients", "message_sha256",
                "provider_message_id", "status", "attempts",
            )
        }
        | {"receipt": f"receipts/{stem}.json"},
    )  # fmt: skip


@notify.command("send")
@case_option()
@policy_option
@template_options
@click.option(
    "--notice", "name", required=True, help="internal, external, gdpr-art33, gdpr-art34, or yours."
)
@click.option("--channel", "channel_name", required=True, type=click.Choice(CHANNELS))
@click.option(
    "--obligation",
    "wanted",
    multiple=True,
    help="Obligation(s) this satisfies, e.g. escalation:cto.",
)
@channel_options
@dry_run_option
@json_option
def send(
    case_dir: str,
    policy_file: Path | None,
    templates_dir: Path | None,
    values: tuple[str, ...],
    name: str,
    channel_name: str,
    wanted: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    **opts: Any,
) -> None:
    """Send a notice (the reviewed draft if there is one) and record it."""
    case = Case.load(case_dir)
    policy = load_policy(policy_file)
    notice, source = notice_to_send(case, name, policy, templates_dir, parse_values(values))
    unfilled = notice.unfilled()
    if unfilled:
        raise BadInput(
            f"notice {name} still has {len(unfilled)} field(s) to fill in: {'; '.join(unfilled[:3])}",
            hint=f"edit {drafts_dir(case) / (name + '.md')} or pass --set NAME=VALUE",
        )
    owed = check_obligations(policy, list(wanted) or default_obligations(policy, name))
    bulk = _bulk_source(case, opts) if channel_name == "smtp" else None
    if channel_name != "smtp" and (opts["to"] or opts["recipients_file"] or opts["affected_users"]):
        raise BadInput("--to, --recipients and --affected-users are for --channel smtp")
    _check_mail_options(channel_name, bulk is not None, opts)
    if channel_name == "file" and opts["out_path"] == "-" and as_json and not dry_run:
        raise BadInput("--out - and --json would both write to stdout", hint="use --out FILE")
    channel = build_channel(channel_name, opts)
    message = Message(
        notice.subject,
        notice.body,
        recipients=tuple(opts["to"]),
        severity=case.record.severity,
        dedup_key=f"{case.id}:{name}",
        source=f"breachkit/{case.id}",
    )
    plan = {
        "case": case.id,
        "notice": name,
        "source": source,
        "message_sha256": message.sha256,
        "obligations": owed,
        **describe(channel),
    }
    if bulk is not None:
        plan["recipients"] = bulk.fingerprint()[1]
    if dry_run:
        report(
            as_json,
            {**plan, "dry_run": True},
            lambda out: out.print(
                f"would send {name} via {channel.destination()} ({message.sha256[:12]})"
            ),
        )
        return
    stem = record_name("notification", name, channel_name).removesuffix(".json")
    if bulk is not None:
        assert isinstance(channel, SmtpChannel)
        deliveries = case.stage_path(f"notices/{name}-deliveries.jsonl")
        try:
            result = send_bulk(
                channel,
                message,
                bulk,
                case.root / "notify" / "progress" / f"{name}-smtp.json",
                deliveries,
                batch_size=opts["batch_size"],
                pacer=Pacer(opts["rate"]),
                retry=_retry(opts),
                restart=opts["restart"],
            )
        finally:  # the per-address log is evidence too, even of an interrupted run
            if deliveries.exists():
                describe_artifact(
                    deliveries,
                    {
                        "media_type": "application/jsonl",
                        "source": {"system": "notify.smtp", "notice": name},
                        "collector": {"name": "notify.send", "version": __version__},
                    },
                )
        receipt = bulk_receipt(
            case_id=case.id, notice=name, channel=describe(channel), obligations=owed,
            result=result, deliveries=f"staging/notices/{name}-deliveries.jsonl",
        )  # fmt: skip
    else:
        delivery = deliver(channel, message, _retry(opts))
        receipt = notification_receipt(
            case_id=case.id, notice=name, channel=describe(channel), obligations=owed,
            message_sha256=message.sha256, delivery=delivery,
        )  # fmt: skip
    _record(case, receipt, name, message, stem)
    data = {**plan, "receipt": str(case.receipts / f"{stem}.json"), **receipt}

    def human(out: Console) -> None:
        out.print(
            f"{receipt['status']}: {name} via {receipt['destination']} to {receipt['recipients']} "
            f"recipient(s), {receipt['attempts']} attempt(s), id {receipt['provider_message_id']}"
        )

    report(as_json, data, human)
    if receipt["status"] != "sent":
        last = (receipt["errors"] or ["no detail"])[-1]
        raise StepFailed(f"{name} via {channel_name} {receipt['status']}: {last}")


# -- decide ----------------------------------------------------------------------------------
@notify.command("decide")
@case_option()
@policy_option
@click.option("--obligation", required=True, help="e.g. gdpr-art34.")
@click.option("--reason", required=True, help="Why this obligation is not notified.")
@json_option
def decide(
    case_dir: str, policy_file: Path | None, obligation: str, reason: str, as_json: bool
) -> None:
    """Record a decision not to notify, with its reason (the GDPR Art. 33(5) register)."""
    case = Case.load(case_dir)
    policy = load_policy(policy_file)
    check_obligations(policy, [obligation])
    record = decision_record(obligation, reason, decided_by=operator())
    name = record_name("decision", obligation)
    case.write_receipt(name, record, {"media_type": "application/json"})
    case.journal(
        "notify.decide",
        why=record["reason"],
        details={
            "obligation": obligation,
            "decision": "not-notified",
            "receipt": f"receipts/{name}",
        },
    )
    report(
        as_json,
        {"case": case.id, "receipt": str(case.receipts / name), **record},
        lambda out: out.print(f"recorded: {obligation} not notified ({record['reason']})"),
    )


# -- post-mortem -----------------------------------------------------------------------------
@click.command("postmortem")
@case_option()
@policy_option
@template_options
@click.option("--author", help="Your name, for the Author line.")
@click.option("--force", is_flag=True, help="Overwrite an existing post-mortem (edits are lost).")
@json_option
def postmortem(
    case_dir: str,
    policy_file: Path | None,
    templates_dir: Path | None,
    values: tuple[str, ...],
    author: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Fill the seed's post-mortem template from the case into CASE/postmortem.md."""
    case = Case.load(case_dir)
    target = postmortem_path(case)
    if target.exists() and not force:
        raise BadInput(
            f"{target} already exists; it may hold your edits",
            hint="edit it, or pass --force to render it again",
        )
    given = parse_values(values) | ({"author": author} if author else {})
    rendered = render_postmortem(
        incident_context(case), load_policy(policy_file), templates_dir=templates_dir, values=given
    )
    write_text(target, rendered.body)
    todo = unfinished_sections(rendered.body)
    case.journal(
        "postmortem.draft",
        details={"path": POSTMORTEM, "sha256": rendered.sha256, "fill_in": len(todo)},
    )
    report(
        as_json,
        {"case": case.id, "path": str(target), "fill_in": todo},
        lambda out: out.print(f"wrote {target}; {len(todo)} section(s) for a person to write"),
    )
