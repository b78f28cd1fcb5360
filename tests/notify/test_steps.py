"""The Communicate steps called as a library (breach.procedure.notify), as a playbook would.

Real services throughout: aiosmtpd for mail, a local HTTP server for webhooks, moto for SNS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from pydantic import ValidationError

from breach.case import Case
from breach.procedure.notify import (
    DecideSettings,
    DraftSettings,
    DueSettings,
    PostmortemSettings,
    SendSettings,
    decide,
    draft,
    due,
    incident_context,
    postmortem,
    send,
)
from core.errors import BadInput, BreachError
from core.records import NotificationDecision, NotificationReceipt
from notify.channels.file import FileSettings
from notify.channels.pagerduty import PagerDutySettings
from notify.channels.registry import CHANNELS, AnyChannelSettings, build
from notify.channels.slack import SlackSettings
from notify.channels.smtp import SmtpSettings
from notify.channels.sns import SnsChannel, SnsSettings
from notify.markup import plain_text
from tests.notify.conftest import (
    SMTP_PASSWORD,
    SmtpServer,
    WebhookServer,
    all_records_text,
    receipts_of,
)

AWARE = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
TOKEN = "T0kenInTheWebhookPath42"
# A single message's receipt, field for field (a mailing adds its own, drops these two).
SINGLE_FIELDS = {
    "kind", "case", "notice", "channel", "destination", "status", "recipients",
    "recipients_intended", "message_sha256", "provider_message_id", "provider_response",
    "sent_at", "attempts", "errors", "obligation", "obligations", "recorded_at", "run",
}  # fmt: skip


def _smtp(server: SmtpServer, **extra: Any) -> SmtpSettings:
    return SmtpSettings(
        host=server.host, port=server.port, sender="ir@example.com", security="none", **extra
    )


def _sends(case: Case) -> list[dict[str, object]]:
    return [e for e in case.timeline() if e["what"] == "notify.send" and e["result"] != "intent"]


# -- due -------------------------------------------------------------------------------------
def test_due_on_a_new_case_counts_from_aware_at_and_names_what_is_overdue() -> None:
    case = Case.open("INC-7", "P2", "slow reports", aware_at=AWARE)  # under $BREACH_CASES_DIR
    early = due(DueSettings(case=str(case.root), at=AWARE + dt.timedelta(minutes=30)))
    rows = {row.id: row for row in early.obligations}
    assert set(rows) == {
        "escalation:on-call", "escalation:team-lead", "escalation:cto",
        "escalation:affected-users", "update:internal",
    }  # fmt: skip
    assert rows["escalation:on-call"].deadline == AWARE + dt.timedelta(hours=1)
    assert (
        rows["escalation:on-call"].state == "due" and rows["escalation:on-call"].time_left == "30m"
    )
    assert early.overdue == [] and early.failure() is None
    late = due(DueSettings(case="INC-7", at="2026-11-27T09:30:00+00:00", policy=None))  # type: ignore[arg-type]
    assert "escalation:on-call" in late.overdue
    assert late.failure() == f"{len(late.overdue)} obligation(s) overdue: {', '.join(late.overdue)}"
    dumped = late.model_dump(mode="json")
    assert set(dumped) == {"case", "at", "obligations", "overdue"}  # the JSON `notify due` prints
    assert dumped["at"] == "2026-11-27T09:30:00Z"


def test_a_time_without_a_zone_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="has no time zone"):
        DueSettings(case="INC-7", at="2026-11-27T09:30:00")  # type: ignore[arg-type]


# -- draft -----------------------------------------------------------------------------------
def test_draft_writes_then_keeps_a_reviewed_draft_unless_forced(breach_case: Case) -> None:
    settings = DraftSettings(case=str(breach_case.root), notices=["internal"])
    [first] = draft(settings).drafts
    assert first.written and first.path == breach_case.root / "notify/drafts/internal.md"
    assert "**Impact**: 3 affected users; 1500 records touched" in first.path.read_text()
    header, _, notice = first.path.read_text().partition("\nSubject: ")  # the header is not sent
    assert header.startswith("%% draft of notice internal")
    assert hashlib.sha256(f"Subject: {notice}".encode()).hexdigest() == first.sha256
    first.path.write_text(first.path.read_text().replace("Investigating", "Reviewed by legal"))
    [again] = draft(settings).drafts
    assert not again.written and "Reviewed by legal" in again.path.read_text()
    drafted = [e for e in breach_case.timeline() if e["what"] == "notify.draft"]
    assert len(drafted) == 1 and drafted[0]["details"]["notices"] == {"internal": first.sha256}
    [forced] = draft(settings.model_copy(update={"force": True})).drafts
    assert forced.written and "Reviewed by legal" not in forced.path.read_text()
    everything = draft(DraftSettings(case=str(breach_case.root))).drafts
    assert [d.notice for d in everything] == ["internal", "external", "gdpr-art33", "gdpr-art34"]


# -- send ------------------------------------------------------------------------------------
def test_send_by_smtp_records_one_receipt_the_text_and_one_journal_entry(
    breach_case: Case, smtp_server: SmtpServer
) -> None:
    result = send(
        SendSettings(
            case=str(breach_case.root),
            notice="internal",
            channel=_smtp(smtp_server),
            to=["oncall@example.org"],
            obligations=["escalation:on-call"],
        )
    )
    [(rcpts, mail)] = smtp_server.box.messages
    assert rcpts == ["oncall@example.org"] and mail["Subject"].startswith("[P1] INC-2026-0042")
    assert result.failure() is None and result.receipt is not None
    [on_disk] = receipts_of(breach_case, "notification")
    assert set(on_disk) == SINGLE_FIELDS  # the same JSON as before the records were models
    assert NotificationReceipt.model_validate(on_disk) == result.receipt
    assert on_disk["provider_message_id"] == mail["Message-ID"] and on_disk["status"] == "sent"
    assert result.receipt_path == breach_case.receipts / result.receipt_path.name  # type: ignore[union-attr]
    stem = result.receipt_path.stem  # type: ignore[union-attr]
    text = (breach_case.staging / "notices" / f"{stem}.txt").read_text()
    assert hashlib.sha256(text.encode()).hexdigest() == on_disk["message_sha256"]
    plain = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith(f"Subject: {mail['Subject']}\n\n")  # the notice; the mail: no Markdown
    assert plain == plain_text(text.partition("\n\n")[2]) and "**" in text and "**" not in plain
    meta = json.loads((breach_case.staging / "notices" / f"{stem}.txt.meta.json").read_text())
    assert meta["source"] == {"system": "notify.smtp", "receipt": f"{stem}.json"}
    [entry] = _sends(breach_case)
    assert entry["result"] == "ok" and entry["why"] == "internal via smtp"
    assert entry["details"]["receipt"] == f"receipts/{stem}.json"  # type: ignore[index]
    assert entry["details"]["provider_message_id"] == mail["Message-ID"]  # type: ignore[index]
    report = result.report()
    assert report["receipt"] == str(result.receipt_path) and report["source"] == "rendered"
    assert "dry_run" not in report and report["obligations"] == ["escalation:on-call"]


def test_send_refuses_a_notice_with_fields_to_fill_in_before_anything_is_sent(
    breach_case: Case, smtp_server: SmtpServer
) -> None:
    settings = SendSettings(
        case=str(breach_case.root), notice="gdpr-art34", channel=_smtp(smtp_server), to=["a@b.org"]
    )
    with pytest.raises(BadInput, match=r"still has \d field\(s\) to fill in") as refused:
        send(settings)
    assert refused.value.field == "values"
    assert "gdpr-art34.md" in refused.value.message  # where to fill them in
    assert smtp_server.box.data_calls == 0 and receipts_of(breach_case, "notification") == []
    assert _sends(breach_case) == []
    filled = {"plain_nature": "x", "consequences": "y", "advice": "z"}
    sent = send(settings.model_copy(update={"values": filled}))
    assert sent.failure() is None and len(smtp_server.box.messages) == 1


def test_mailing_the_affected_users_stages_the_deliveries_log_with_its_sidecar(
    breach_case: Case, smtp_server: SmtpServer
) -> None:
    result = send(
        SendSettings(
            case=str(breach_case.root),
            notice="internal",
            channel=_smtp(smtp_server),
            affected_users=True,
            rate=60_000,
        )
    )
    assert sorted(r[0][0] for r in smtp_server.box.messages) == [
        "user1@example.org", "user2@example.org", "user3@example.org",
    ]  # fmt: skip
    assert result.plan.recipients == 3 and result.receipt is not None
    [on_disk] = receipts_of(breach_case, "notification")
    assert on_disk["mode"] == "bulk" and on_disk["recipients"] == 3
    assert "recipients_intended" not in on_disk and "provider_response" not in on_disk
    log = breach_case.root / on_disk["deliveries"]
    assert len(log.read_text().splitlines()) == 3
    sidecar = json.loads(log.with_name(log.name + ".meta.json").read_text())
    assert sidecar["media_type"] == "application/jsonl"
    assert sidecar["collector"]["name"] == "notify.send"


def test_mail_mistakes_are_refused_with_the_setting_at_fault(
    breach_case: Case, smtp_server: SmtpServer
) -> None:
    case = str(breach_case.root)
    with pytest.raises(ValidationError, match="is not a mail address"):
        SendSettings(case=case, notice="internal", channel=_smtp(smtp_server), to=["a@b.org\nBcc: x@y.z"])  # fmt: skip
    with pytest.raises(ValidationError, match="in clear"):
        _smtp(smtp_server, username="notifier")
    both = SendSettings(
        case=case, notice="internal", channel=_smtp(smtp_server), to=["a@b.org"],
        affected_users=True,
    )  # fmt: skip
    with pytest.raises(BadInput, match="either") as refused:
        send(both)
    assert refused.value.field == "to"
    elsewhere = SendSettings(
        case=case, notice="internal", channel=FileSettings(out="x.md"), recipients=Path("x.txt")
    )
    with pytest.raises(BadInput, match="for the smtp channel") as refused:
        send(elsewhere)
    assert refused.value.field == "recipients"
    stdout = SendSettings(
        case=case, notice="internal", channel=FileSettings(out="-"), stdout_taken=True
    )
    with pytest.raises(BadInput, match="stdout"):
        send(stdout)
    assert send(stdout.model_copy(update={"dry_run": True})).dry_run
    assert smtp_server.box.data_calls == 0 and receipts_of(breach_case, "notification") == []


def test_slack_through_the_local_webhook_never_records_the_token(
    breach_case: Case, webhook: WebhookServer
) -> None:
    channel = SlackSettings(webhook_url=f"{webhook.url}/services/T/B/{TOKEN}")  # type: ignore[arg-type]
    assert TOKEN not in repr(channel) and TOKEN not in json.dumps(channel.model_dump(mode="json"))
    result = send(
        SendSettings(
            case=str(breach_case.root),
            notice="internal",
            channel=channel,
            obligations=["escalation:on-call"],
        )
    )
    [request] = webhook.requests
    assert request["path"] == f"/services/T/B/{TOKEN}"
    assert request["json"]["text"].startswith("*[P1] INC-2026-0042")
    assert result.receipt is not None and result.receipt.destination == f"{webhook.url}/***"
    assert TOKEN not in all_records_text(breach_case)
    assert [e["details"]["status"] for e in _sends(breach_case)] == ["sent"]  # type: ignore[index]


def test_a_failed_webhook_is_recorded_failed_and_says_why(
    breach_case: Case, webhook: WebhookServer
) -> None:
    from tests.notify.conftest import Reply

    webhook.default = Reply(500, "boom")
    result = send(
        SendSettings(
            case=str(breach_case.root),
            notice="internal",
            channel=PagerDutySettings(routing_key="R0UTING", url=f"{webhook.url}/v2/enqueue"),  # type: ignore[arg-type]
            retries=2,
            backoff=0,
        )
    )
    assert len(webhook.requests) == 2
    assert result.receipt is not None and result.receipt.status == "failed"
    assert result.failure() is not None and "internal via pagerduty failed" in result.failure()  # type: ignore[operator]
    [entry] = _sends(breach_case)
    assert entry["result"] == "failed"


def test_the_smtp_password_comes_from_the_environment_only(
    breach_case: Case, smtp_tls_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "password" not in SmtpSettings.model_fields
    monkeypatch.setenv("BREACH_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = SmtpSettings(
        host=smtp_tls_server.host,
        port=smtp_tls_server.port,
        sender="ir@example.com",
        username="notifier",
        ca_file=smtp_tls_server.ca_file,
    )
    result = send(
        SendSettings(
            case=str(breach_case.root), notice="internal", channel=settings, to=["a@b.org"]
        )
    )
    assert result.failure() is None and smtp_tls_server.box.logins == ["notifier"]
    assert SMTP_PASSWORD not in all_records_text(breach_case)


# -- SNS through the one AWS account object -------------------------------------------------
@pytest.mark.aws
def test_sns_publishes_as_the_assumed_role_and_in_the_topics_region(
    aws: None, breach_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="ir-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="ir-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    role = boto3.client("iam").create_role(
        RoleName="ir-notifier", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # the topic's own region is the default

    settings = SnsSettings(topic_arn=topic, role_arn=role)
    assert settings.account().region == "us-east-1" and settings.account().role_arn == role
    channel = build(settings)
    assert isinstance(channel, SnsChannel)
    caller = channel.account.identity()["Arn"]
    assert caller.startswith("arn:aws:sts::") and ":assumed-role/ir-notifier/" in caller
    assert channel.account.session.get_credentials().access_key != "testing"

    result = send(SendSettings(case=str(breach_case.root), notice="internal", channel=settings))
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert result.receipt is not None and result.receipt.status == "sent"
    assert result.receipt.provider_message_id == json.loads(message["Body"])["MessageId"]

    with pytest.raises(BreachError):  # a role that cannot be assumed stops the send, unrecorded
        send(
            SendSettings(
                case=str(breach_case.root),
                notice="internal",
                channel=SnsSettings(topic_arn=topic, role_arn="not-a-role"),
            )
        )
    assert len(receipts_of(breach_case, "notification")) == 1


def test_an_explicit_region_wins_over_the_topics() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:alerts"
    assert SnsSettings(topic_arn=topic).account().region == "eu-west-1"
    assert SnsSettings(topic_arn=topic, region="us-east-2").account().region == "us-east-2"
    with pytest.raises(ValidationError, match="not a topic ARN"):
        SnsSettings(topic_arn="alerts")


# -- the registry ----------------------------------------------------------------------------
def test_every_registered_channel_has_typed_settings_that_name_it() -> None:
    union = get_args(get_args(AnyChannelSettings)[0])
    assert {model.model_fields["type"].default for model in union} == set(CHANNELS)
    for name, entry in CHANNELS.items():
        assert entry.settings.model_fields["type"].default == name
        assert entry.settings.model_config.get("extra") == "forbid"


# -- decide ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["no", "..........", "1234567890 42", "   n/a    "])
def test_decide_refuses_a_reason_without_words(breach_case: Case, reason: str) -> None:
    with pytest.raises(BadInput, match="reason in words") as refused:
        decide(DecideSettings(case=str(breach_case.root), obligation="gdpr-art34", reason=reason))
    assert refused.value.field == "reason"
    assert receipts_of(breach_case, "notification-decision") == []


def test_decide_records_the_decision_and_the_clock_shows_it(breach_case: Case) -> None:
    reason = "data was encrypted at rest and the key was not exposed"
    made = decide(
        DecideSettings(case=str(breach_case.root), obligation="gdpr-art34", reason=reason)
    )
    [on_disk] = receipts_of(breach_case, "notification-decision")
    assert NotificationDecision.model_validate(on_disk).reason == reason
    assert set(on_disk) == set(NotificationDecision.model_fields)
    assert made.receipt == breach_case.receipts / made.receipt.name and made.case == breach_case.id
    entry = breach_case.timeline()[-1]
    assert entry["what"] == "notify.decide" and entry["why"] == reason
    assert entry["details"]["receipt"] == f"receipts/{made.receipt.name}"
    rows = {r.id: r for r in due(DueSettings(case=str(breach_case.root))).obligations}
    assert rows["gdpr-art34"].state == "not-notified"
    assert rows["gdpr-art34"].decision_reason == reason
    with pytest.raises(BadInput, match="unknown obligation") as refused:
        decide(DecideSettings(case=str(breach_case.root), obligation="gdpr-99", reason=reason))
    assert refused.value.field == "obligation"


# -- the case as notify sees it, and the post-mortem -----------------------------------------
def test_incident_context_reads_the_records_as_their_models(breach_case: Case) -> None:
    context = incident_context(breach_case)
    assert context.scope == breach_case.record.scope
    assert [c.action for c in context.containment] == ["revoke-sessions", "rotate-keys"]
    assert all(c.changed_something for c in context.containment)
    (breach_case.receipts / "containment-broken.json").write_text(
        json.dumps({"kind": "containment", "action": "block", "status": "ok"})
    )
    with pytest.raises(BadInput, match=r"receipt .*containment-broken.json: field adapter"):
        incident_context(breach_case)


def test_postmortem_writes_the_cases_post_mortem_and_keeps_edits(breach_case: Case) -> None:
    settings = PostmortemSettings(case=str(breach_case.root), author="Dana")
    made = postmortem(settings)
    assert made.path == breach_case.postmortem_path and made.path.is_file()
    text = made.path.read_text()
    assert "Dana" in text and "- Rotated the leaked API key" in text
    assert made.fill_in and all(f"[[FILL IN: {what}]]" in text for what in made.fill_in)
    entry = breach_case.timeline()[-1]
    assert entry["what"] == "postmortem.draft" and entry["details"]["path"] == "postmortem.md"
    made.path.write_text("edited by Dana\n")
    with pytest.raises(BadInput, match="already exists") as refused:
        postmortem(settings)
    assert refused.value.field == "force" and made.path.read_text() == "edited by Dana\n"
    assert postmortem(settings.model_copy(update={"force": True})).path.read_text() != "edited"
