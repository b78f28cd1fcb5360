"""Slack and PagerDuty against a local HTTP server on 127.0.0.1: the JSON they received."""

from __future__ import annotations

from notify.channels.interface import Message, RetryPolicy, deliver
from notify.channels.pagerduty import PagerDutyChannel
from notify.channels.slack import SlackChannel
from tests.notify.conftest import Reply, WebhookServer

SLACK_TOKEN = "XyZsecretTOKEN123"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefabcdef"
PD_OK = Reply(
    202, '{"status":"success","message":"Event processed","dedup_key":"INC-2026-0042:internal"}'
)


def _slack_url(server: WebhookServer) -> str:
    return f"{server.url}/services/T000/B000/{SLACK_TOKEN}"


def test_429_with_retry_after_is_honoured_then_succeeds(webhook: WebhookServer) -> None:
    webhook.replies = [Reply(429, "slow down", {"Retry-After": "7"}), Reply(503, "busy")]
    webhook.default = PD_OK
    waits: list[float] = []
    retry = RetryPolicy(attempts=4, backoff=0.5, max_delay=30, sleep=waits.append)
    channel = PagerDutyChannel(ROUTING_KEY, f"{webhook.url}/v2/enqueue")
    delivery = deliver(channel, Message("s", "b", dedup_key="k"), retry)
    assert delivery.status == "sent" and delivery.attempts == 3
    assert waits == [7.0, 1.0]  # the server's Retry-After, then exponential backoff
    assert len(webhook.requests) == 3
    assert "429" in delivery.errors[0] and "503" in delivery.errors[1]


def test_a_4xx_other_than_429_is_not_retried(webhook: WebhookServer) -> None:
    webhook.default = Reply(403, "invalid_token")
    waits: list[float] = []
    url = f"{webhook.url}/services/T/B/{SLACK_TOKEN}"
    delivery = deliver(SlackChannel(url), Message("s", "b"), RetryPolicy(sleep=waits.append))
    assert delivery.status == "failed" and delivery.attempts == 1 and waits == []
    assert SLACK_TOKEN not in " ".join(delivery.errors)


def test_unreachable_webhook_is_transient_and_fails_cleanly() -> None:
    from tests.notify.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/services/T/B/{SLACK_TOKEN}"
    waits: list[float] = []
    delivery = deliver(
        SlackChannel(url), Message("s", "b"), RetryPolicy(attempts=2, sleep=waits.append)
    )
    assert delivery.status == "failed" and delivery.attempts == 2 and len(waits) == 1
    assert "cannot reach" in delivery.errors[0] and SLACK_TOKEN not in delivery.errors[0]


def test_any_5xx_is_retried_and_urls_never_show_their_tokens(webhook: WebhookServer) -> None:
    from notify.channels.http import safe_url

    webhook.default = Reply(501, "not implemented")
    waits: list[float] = []
    delivery = deliver(
        SlackChannel(_slack_url(webhook)),
        Message("s", "b"),
        RetryPolicy(attempts=2, sleep=waits.append),
    )
    assert delivery.status == "failed" and delivery.attempts == 2 and len(webhook.requests) == 2
    assert safe_url("https://hooks.example?token=abc") == "https://hooks.example/***"
    assert safe_url("https://user:pw@hooks.example/T/B/x") == "https://hooks.example/***"
    assert safe_url("https://hooks.example/") == "https://hooks.example"
