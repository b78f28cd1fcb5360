"""SNS through moto: the message reaches a subscribed SQS queue, and the record says so."""

from __future__ import annotations

import json

import boto3
import pytest

from breach.case import Case
from tests.notify.conftest import receipts_of

pytestmark = pytest.mark.aws


def _topic_with_queue() -> tuple[str, str]:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="breach-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="breach-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def test_sns_publish_reaches_a_subscriber_and_is_recorded(
    breach, aws: None, breach_case: Case
) -> None:
    topic, queue_url = _topic_with_queue()
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal",
        "--channel", "sns", "--topic-arn", topic, "--region", "us-east-1",
        "--obligation", "escalation:team-lead", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    messages = boto3.client("sqs", region_name="us-east-1").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10
    )["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"].startswith("[P1] INC-2026-0042")
    assert "**Impact**: 3 affected users" in envelope["Message"]
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "sent" and receipt["channel"] == "sns"
    assert receipt["provider_message_id"] == envelope["MessageId"]
    assert receipt["destination"] == topic


def test_sns_unknown_topic_is_recorded_failed(breach, aws: None, breach_case: Case) -> None:
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal",
        "--channel", "sns", "--topic-arn", "arn:aws:sns:us-east-1:123456789012:nope",
        "--region", "us-east-1", "--backoff", "0",
    )  # fmt: skip
    assert result.exit_code == 1 and "NotFound" in result.stderr
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "failed" and receipt["attempts"] == 1


def test_the_region_comes_from_the_topic_and_set_up_mistakes_are_one_line(
    breach, aws: None, breach_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, queue_url = _topic_with_queue()
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    args = ("notify", "send", "--case", breach_case.root, "--notice", "internal",
            "--channel", "sns", "--backoff", "0")  # fmt: skip
    sent = breach(*args, "--topic-arn", topic)
    assert sent.exit_code == 0, sent.stderr
    sqs = boto3.client("sqs", region_name="us-east-1")
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 1
    no_region = breach(*args, "--topic-arn", "arn:aws:sns:::breach-alerts")
    assert no_region.exit_code == 2 and "no AWS region" in no_region.stderr
    no_profile = breach(*args, "--topic-arn", topic, "--profile", "no-such-profile")
    assert no_profile.exit_code == 2 and "no-such-profile" in no_profile.stderr
    for refused in (no_region, no_profile):
        assert "\n" not in refused.stderr.strip() and "Traceback" not in refused.stderr
    assert len(receipts_of(breach_case, "notification")) == 1  # set-up mistakes leave no record
