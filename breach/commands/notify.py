"""`breach notify due | draft | send | decide` and `breach postmortem`: the Communicate step.

Each command parses its options, calls its step in breach.procedure.notify and renders the
result; the step does the work (checks, sending, receipts, journal).
"""

from __future__ import annotations

import functools
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import LazyGroup, invoke
from breach.options import (
    PATH,
    POLICY_HELP,
    aws_options,
    case_option,
    dry_run_option,
    json_option,
    options,
)
from breach.output import count_progress, report

CHANNELS = ("smtp", "slack", "sns", "pagerduty", "file")  # notify.channels.registry.CHANNELS


def _pairs(ctx: click.Context, param: click.Parameter, pairs: tuple[str, ...]) -> dict[str, str]:
    """--set NAME=VALUE, repeated, as a dict."""
    from core.errors import BadInput

    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--set {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


POLICY = (("--policy", "policy"), dict(envvar="BREACH_POLICY", type=PATH, help=POLICY_HELP))  # fmt: skip
TEMPLATES = (
    (("--templates", "templates"), dict(envvar="BREACH_TEMPLATES", type=PATH, help="Folder of your own Jinja2 templates (<notice>.md.j2). [BREACH_TEMPLATES]")),
    (("--set", "values"), dict(multiple=True, metavar="NAME=VALUE", callback=_pairs, help="Fill a template field, e.g. --set consequences='...'. Repeatable.")),
)  # fmt: skip
CHANNEL_OPTIONS = (
    (("--to",), dict(multiple=True, help="smtp: an address. Repeatable.")),
    (("--recipients", "recipients"), dict(type=PATH, help="smtp: one mail each to the addresses in this file (.parquet/.csv 'email', .txt).")),
    (("--affected-users",), dict(is_flag=True, help="smtp: one mail each to the scope's affected-users list (staged Parquet).")),
    (("--batch-size",), dict(default=100, show_default=True, help="Mails per connection.")),
    (("--rate",), dict(default=600.0, show_default=True, help="At most this many mails a minute.")),
    (("--restart",), dict(is_flag=True, help="Ignore a previous bulk run's progress.")),
    (("--resend-in-doubt",), dict(is_flag=True, help="Send again where an interrupted run may or may not have sent (mail is not read back).")),
    (("--confirm-sent",), dict(is_flag=True, help="The recipient confirmed the one message an interrupted run may have sent: record it as sent then, send nothing.")),
    (("--smtp-host", "host"), dict(envvar="BREACH_SMTP_HOST", help="smtp: the mail server. [BREACH_SMTP_HOST]")),
    (("--smtp-port", "port"), dict(envvar="BREACH_SMTP_PORT", type=int, default=587, show_default=True, help="smtp: its port. [BREACH_SMTP_PORT]")),
    (("--smtp-security", "security"), dict(envvar="BREACH_SMTP_SECURITY", type=click.Choice(["starttls", "tls", "none"]), default="starttls", show_default=True, help="smtp: how to encrypt. [BREACH_SMTP_SECURITY]")),
    (("--smtp-user", "username"), dict(envvar="BREACH_SMTP_USER", help="[BREACH_SMTP_USER]; password from $BREACH_SMTP_PASSWORD.")),
    (("--smtp-ca-file", "ca_file"), dict(envvar="BREACH_SMTP_CA_FILE", help="Trust this CA for the server.")),
    (("--from", "sender"), dict(envvar="BREACH_SMTP_FROM", help="From address. [BREACH_SMTP_FROM]")),
    (("--webhook-url",), dict(envvar="BREACH_SLACK_WEBHOOK_URL", help="slack: [BREACH_SLACK_WEBHOOK_URL]")),
    (("--routing-key",), dict(envvar="BREACH_PAGERDUTY_ROUTING_KEY", help="pagerduty: [BREACH_PAGERDUTY_ROUTING_KEY]")),
    (("--pagerduty-url", "url"), dict(envvar="BREACH_PAGERDUTY_URL", help="pagerduty: Events API URL (default: https://events.pagerduty.com/v2/enqueue). [BREACH_PAGERDUTY_URL]")),
    (("--topic-arn",), dict(envvar="BREACH_SNS_TOPIC_ARN", help="sns: [BREACH_SNS_TOPIC_ARN]")),
    (("--out",), dict(help="file: write here ('-' for stdout).")),
    (("--retries",), dict(default=4, show_default=True, help="Attempts per message.")),
    (("--backoff",), dict(envvar="BREACH_NOTIFY_BACKOFF", type=float, default=1.0, show_default=True, help="First retry wait in seconds; doubles. [BREACH_NOTIFY_BACKOFF]")),
    (("--max-wait",), dict(envvar="BREACH_NOTIFY_MAX_WAIT", type=float, default=60.0, show_default=True, help="Cap on any wait, Retry-After included.")),
)  # fmt: skip


@click.group("notify", cls=LazyGroup, lazy={"fields": ("breach.commands.casework:fields", "The names each notice template accepts through --set.")})  # fmt: skip
def notify() -> None:
    """Escalation and regulatory clocks, notices, and the record of who was told when."""


@notify.command("due")
@case_option()
@options(POLICY, (("--at",), dict(help="Evaluate at this time instead of now (RFC 3339).")))
@json_option
def due(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Every obligation with its deadline, time left and state; exit 1 if any is overdue."""
    from breach.procedure.notify import DueSettings
    from breach.procedure.notify import due as step
    from core.errors import StepFailed
    from core.timeutil import rfc3339

    found = invoke(step, DueSettings, case=case_dir, **opts)
    colours = {"sent": "green", "not-notified": "cyan", "due": "yellow", "overdue": "red"}

    def human(out: Console) -> None:
        out.print(f"[bold]{found.case}[/bold] {found.severity}, aware {rfc3339(found.aware_at)}")
        for row in found.obligations:
            state = f"[{colours[row.state]}]{row.state:<12}[/]"
            late = " (late)" if row.late else ""
            out.print(
                f"  {state} {row.id:<26} {row.deadline_local:<22} {row.time_left:>12}"
                f"  {escape(row.label)}{late}"
            )

    report(as_json, found.model_dump(mode="json"), human)
    if problem := found.failure():
        raise StepFailed(problem)


@notify.command("draft")
@case_option()
@options(
    POLICY,
    *TEMPLATES,
    (
        ("--notice", "notices"),
        dict(multiple=True, help="Which notice(s); default: all that apply."),
    ),
    (
        ("--force",),
        dict(is_flag=True, help="Overwrite drafts that already exist (edits are lost)."),
    ),
)
@json_option
def draft(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Write notices for review under CASE/notify/drafts/ (existing drafts are kept)."""
    from breach.procedure.notify import DraftSettings
    from breach.procedure.notify import draft as step

    made = invoke(step, DraftSettings, case=case_dir, **opts)

    def human(out: Console) -> None:
        for row in made.drafts:
            verb = "wrote" if row.written else "kept (exists; --force to redo)"
            todo = f", {len(row.fill_in)} field(s) to fill in" if row.fill_in else ""
            out.print(escape(f"{verb} {row.path}{todo}"))

    report(as_json, made.model_dump(mode="json"), human)


@notify.command("send")
@case_option()
@options(
    POLICY,
    *TEMPLATES,
    (("--notice",), dict(required=True, help="internal, external, gdpr-art33, gdpr-art34, or yours.")),
    (("--channel",), dict(required=True, type=click.Choice(CHANNELS), help="Where the notice goes.")),
    (("--obligation", "obligations"), dict(multiple=True, help="Obligation(s) this satisfies, e.g. escalation:cto.")),
)  # fmt: skip
@aws_options
@options(*CHANNEL_OPTIONS)
@dry_run_option
@json_option
def send(case_dir: str, channel: str, as_json: bool, **opts: Any) -> None:
    """Send a notice (the reviewed draft if there is one) and record it."""
    from breach.procedure.notify import SendSettings, channel_model
    from breach.procedure.notify import send as step
    from core.errors import StepFailed

    model = channel_model(channel)
    given = {k: v for k, v in opts.items() if k in model.model_fields and v is not None}
    via = invoke(lambda settings: settings, model, **given)
    rest = {k: v for k, v in opts.items() if k in SendSettings.model_fields}
    with count_progress(f"mailing {opts['notice']}", not as_json) as bar:
        run = functools.partial(step, progress=bar)
        sent = invoke(run, SendSettings, case=case_dir, channel=via, stdout_taken=as_json, **rest)

    report(as_json, sent.report(), lambda out: _said(out, sent, bool(opts.get("confirm_sent"))))
    if problem := sent.failure():
        raise StepFailed(problem)


def _said(out: Console, sent: Any, confirmed: bool) -> None:
    """What a send did, for people: the plan of a dry run, the receipt, or the confirmation."""
    plan, receipt = sent.plan, sent.receipt
    if receipt is None:
        out.print(escape(plan.would()))
    elif confirmed:
        out.print(escape(
            f"recorded: {plan.notice} via {receipt.destination} as sent by run {receipt.run}"
            f" at {receipt.sent_at}, confirmed by the recipient; nothing sent now"
        ))  # fmt: skip
    else:
        out.print(escape(
            f"{receipt.status}: {plan.notice} via {receipt.destination} to {receipt.recipients} "
            f"recipient(s), {receipt.attempts} attempt(s), id {receipt.provider_message_id}"
        ))  # fmt: skip


@notify.command("decide")
@case_option()
@options(
    POLICY,
    (("--obligation",), dict(required=True, help="e.g. gdpr-art34.")),
    (("--reason",), dict(required=True, help="Why this obligation is not notified.")),
)
@json_option
def decide(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Record a decision not to notify, with its reason (the GDPR Art. 33(5) register)."""
    from breach.procedure.notify import DecideSettings
    from breach.procedure.notify import decide as step

    made = invoke(step, DecideSettings, case=case_dir, **opts)
    said = escape(f"recorded: {made.obligation} not notified ({made.reason})")
    report(as_json, made.model_dump(mode="json"), lambda out: out.print(said))


@click.command("postmortem")
@case_option()
@options(
    POLICY,
    *TEMPLATES,
    (("--author",), dict(help="Your name, for the Author line.")),
    (("--force",), dict(is_flag=True, help="Overwrite an existing post-mortem (edits are lost).")),
)
@json_option
def postmortem(case_dir: str, as_json: bool, **opts: Any) -> None:
    """Fill the seed's post-mortem template from the case into CASE/postmortem.md."""
    from breach.procedure.notify import PostmortemSettings
    from breach.procedure.notify import postmortem as step

    made = invoke(step, PostmortemSettings, case=case_dir, **opts)
    said = escape(f"wrote {made.path}; {len(made.fill_in)} section(s) for a person to write")
    report(as_json, made.model_dump(mode="json"), lambda out: out.print(said))
