"""Channel paths that once ran in no test (issue 16): the file channel writing to a path, SMTP
TLS failure and an unreachable host retried, SNS through an assumed role and throttled, and
Retry-After as an HTTP date. Real servers on 127.0.0.1 and moto; nothing else is reached."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from notify.channels.file import FileChannel
from notify.channels.http import retry_after
from notify.channels.interface import Message, RetryPolicy, deliver
from notify.channels.pagerduty import PagerDutyChannel
from notify.channels.smtp import SmtpChannel, SmtpSettings
from tests.notify.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Reply,
    SmtpServer,
    WebhookServer,
    free_port,
)

MESSAGE = Message("[P1] INC-1 notice", "What happened, and what to do.", dedup_key="k")


def _policy(waits: list[float], attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, backoff=0.5, max_delay=60, sleep=waits.append)


# -- file ------------------------------------------------------------------------------------
def test_the_file_channel_writes_the_notice_to_its_path(tmp_path: Path) -> None:
    target = tmp_path / "out" / "notice.txt"
    delivery = deliver(FileChannel(target), MESSAGE, _policy([]))
    assert delivery.status == "sent" and delivery.attempts == 1
    assert target.read_text() == MESSAGE.text
    assert FileChannel(target).destination() == str(target)


def test_a_file_channel_path_that_cannot_be_written_fails_once_not_retried(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    waits: list[float] = []
    delivery = deliver(FileChannel(tmp_path / "blocker" / "notice.txt"), MESSAGE, _policy(waits))
    assert delivery.status == "failed" and delivery.attempts == 1 and waits == []
    assert delivery.errors and "blocker" in delivery.errors[0]


# -- SMTP ------------------------------------------------------------------------------------
def test_smtp_tls_with_an_untrusted_certificate_is_a_permanent_failure(
    smtp_tls_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's certificate is self-signed and not trusted (no ca_file): refused, never
    retried, never sent in clear, and the password is not in the error."""
    monkeypatch.setenv("BREACH_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = SmtpSettings(
        host=smtp_tls_server.host, port=smtp_tls_server.port, sender="ir@example.com",
        security="starttls", username=SMTP_USER, timeout=5,
    )  # fmt: skip
    waits: list[float] = []
    to = Message(MESSAGE.subject, MESSAGE.body, recipients=("dpo@example.org",))
    delivery = deliver(SmtpChannel.from_settings(settings), to, _policy(waits))
    assert delivery.status == "failed" and delivery.attempts == 1 and waits == []
    error = delivery.errors[0]
    assert f"TLS with {smtp_tls_server.host}:{smtp_tls_server.port} failed" in error
    assert "CERTIFICATE_VERIFY_FAILED" in error and SMTP_PASSWORD not in error
    assert smtp_tls_server.box.messages == [] and smtp_tls_server.box.logins == []


def test_implicit_tls_against_a_plain_server_is_a_tls_failure(smtp_server: SmtpServer) -> None:
    settings = SmtpSettings(
        host=smtp_server.host, port=smtp_server.port, sender="ir@example.com",
        security="tls", timeout=5,
    )  # fmt: skip
    to = Message(MESSAGE.subject, MESSAGE.body, recipients=("dpo@example.org",))
    delivery = deliver(SmtpChannel(settings), to, _policy([]))
    assert delivery.status == "failed" and delivery.attempts == 1
    assert f"TLS with {smtp_server.host}:{smtp_server.port} failed" in delivery.errors[0]
    assert "WRONG_VERSION_NUMBER" in delivery.errors[0]
    assert smtp_server.box.messages == []


def test_an_unreachable_smtp_host_is_retried_with_backoff_then_fails() -> None:
    port = free_port()  # nothing listens there
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender="ir@example.com", security="none", timeout=2
    )
    waits: list[float] = []
    to = Message(MESSAGE.subject, MESSAGE.body, recipients=("dpo@example.org",))
    delivery = deliver(SmtpChannel(settings), to, _policy(waits, attempts=3))
    assert delivery.status == "failed" and delivery.attempts == 3
    assert waits == [0.5, 1.0]  # backoff between the three attempts
    assert len(delivery.errors) == 3
    assert all(f"cannot reach 127.0.0.1:{port}" in e for e in delivery.errors)


# -- Retry-After -----------------------------------------------------------------------------
def test_retry_after_as_an_http_date(webhook: WebhookServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    webhook.replies = [Reply(429, "slow down", {"Retry-After": later})]
    webhook.default = Reply(202, '{"status":"success","dedup_key":"k"}')
    waits: list[float] = []
    channel = PagerDutyChannel("R" * 32, f"{webhook.url}/v2/enqueue")
    delivery = deliver(channel, MESSAGE, _policy(waits))
    assert delivery.status == "sent" and delivery.attempts == 2
    assert len(waits) == 1 and 25 <= waits[0] <= 30  # the date, not the 0.5 s backoff


def test_retry_after_parsing() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=120)
    assert 115 <= (retry_after(format_datetime(soon, usegmt=True)) or 0) <= 120
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: now
    assert retry_after(" 7 ") == 7.0
    assert retry_after("soon") is None and retry_after("") is None and retry_after(None) is None


# -- SNS -------------------------------------------------------------------------------------
def _policy_doc(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.aws
def test_sns_through_an_assumed_role(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A responder whose own credentials may only assume the notifier role: with role_arn
    the message is published (the role's permission), without it SNS refuses."""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    from core.aws import AwsAccount
    from notify.channels.sns import SnsChannel

    iam, sns, sqs = boto3.client("iam"), boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="breach-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    trust = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    role = iam.create_role(RoleName="notifier", AssumeRolePolicyDocument=_policy_doc(trust))
    role_arn = role["Role"]["Arn"]
    publish = {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}
    iam.put_role_policy(RoleName="notifier", PolicyName="p", PolicyDocument=_policy_doc(publish))
    iam.create_user(UserName="responder")
    assume = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
    iam.put_user_policy(UserName="responder", PolicyName="a", PolicyDocument=_policy_doc(assume))
    key = iam.create_access_key(UserName="responder")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)

    as_role = SnsChannel(topic, AwsAccount(region="us-east-1", role_arn=role_arn))
    delivery = deliver(as_role, MESSAGE, _policy([]))
    assert delivery.status == "sent", delivery.errors
    as_self = SnsChannel(topic, AwsAccount(region="us-east-1"))
    refused = deliver(as_self, MESSAGE, _policy([]))
    assert refused.status == "failed" and refused.attempts == 1  # permanent: not retried
    assert "AuthorizationError" in refused.errors[0] or "AccessDenied" in refused.errors[0]

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    got = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    assert [b["Message"] for b in bodies] == [MESSAGE.body]


THROTTLED = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>req-throttled</RequestId></ErrorResponse>"
)
PUBLISHED = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>msg-42</MessageId></PublishResult><ResponseMetadata>"
    "<RequestId>req-ok</RequestId></ResponseMetadata></PublishResponse>"
)


@pytest.fixture
def throttling_sns() -> Iterator[tuple[str, list[str]]]:
    """An SNS endpoint on 127.0.0.1 that throttles the first two publishes, then accepts."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
            status, body = (400, THROTTLED) if len(seen) <= 2 else (200, PUBLISHED)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_sns_throttling_is_retried_then_sent(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, throttling_sns: tuple[str, list[str]]
) -> None:
    from core.aws import AwsAccount
    from notify.channels.sns import SnsChannel

    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries off: ours are tested
    endpoint, seen = throttling_sns
    topic = "arn:aws:sns:us-east-1:123456789012:breach-alerts"
    channel = SnsChannel(topic, AwsAccount(region="us-east-1", endpoint_url=endpoint))
    waits: list[float] = []
    delivery = deliver(channel, MESSAGE, _policy(waits, attempts=4))
    assert delivery.status == "sent" and delivery.attempts == 3, delivery.errors
    assert waits == [0.5, 1.0] and len(seen) == 3
    assert all("SNS Throttling" in e for e in delivery.errors)
    assert all("Action=Publish" in body for body in seen)
