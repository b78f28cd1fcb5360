"""Slack and PagerDuty against a local HTTP server on 127.0.0.1: the JSON they received."""

from __future__ import annotations

import pytest

from breach.case import Case
from tests.notify.conftest import Reply, WebhookServer, all_records_text, receipts_of
from tests.notify.test_webhooks import PD_OK, ROUTING_KEY, SLACK_TOKEN, _slack_url


def _internal(breach, case: Case, *args: str):  # type: ignore[no-untyped-def]
    return breach(
        "notify", "send", "--case", case.root, "--notice", "internal",
        "--set", "status=Identified", *args,
    )  # fmt: skip


def test_slack_receives_the_internal_status_update(
    breach, breach_case: Case, webhook: WebhookServer
) -> None:
    result = _internal(
        breach, breach_case, "--channel", "slack", "--webhook-url", _slack_url(webhook),
        "--obligation", "escalation:on-call", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [request] = webhook.requests
    assert request["path"] == f"/services/T000/B000/{SLACK_TOKEN}"
    text = request["json"]["text"]
    assert text.startswith("*[P1] INC-2026-0042: Customer table exfiltrated")
    assert "\n*Severity*: P1 (Critical)" in text  # Slack's mrkdwn bold
    assert "*Impact*: 3 affected users; 1500 records touched" in text
    assert "*Status*: Identified" in text and "*Next update*: " in text
    assert request["json"]["blocks"][0]["type"] == "header"
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "sent" and receipt["obligations"] == ["escalation:on-call"]
    assert receipt["destination"] == f"{webhook.url}/***"
    assert SLACK_TOKEN not in all_records_text(breach_case)


def test_pagerduty_receives_an_events_v2_trigger(
    breach, breach_case: Case, webhook: WebhookServer
) -> None:
    webhook.default = PD_OK
    result = _internal(
        breach, breach_case, "--channel", "pagerduty", "--routing-key", ROUTING_KEY,
        "--pagerduty-url", f"{webhook.url}/v2/enqueue", "--obligation", "escalation:cto",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [request] = webhook.requests
    event = request["json"]
    assert request["path"] == "/v2/enqueue"
    assert event["routing_key"] == ROUTING_KEY and event["event_action"] == "trigger"
    assert event["dedup_key"] == "INC-2026-0042:internal"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["source"] == "breachkit/INC-2026-0042"
    assert event["payload"]["summary"].startswith("[P1] INC-2026-0042")
    assert "**Impact**" in event["payload"]["custom_details"]["notice"]
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["provider_message_id"] == "INC-2026-0042:internal"
    assert ROUTING_KEY not in all_records_text(breach_case)
    due = breach("notify", "due", "--case", breach_case.root, "--json").json
    assert {r["id"]: r["state"] for r in due["obligations"]}["escalation:cto"] == "sent"


@pytest.mark.parametrize("channel", ["slack", "pagerduty"])
def test_a_webhook_answering_500_is_retried_then_recorded_failed(
    breach, breach_case: Case, webhook: WebhookServer, channel: str
) -> None:
    webhook.default = Reply(500, "upstream broken")
    target = (
        ["--webhook-url", _slack_url(webhook)]
        if channel == "slack"
        else ["--routing-key", ROUTING_KEY, "--pagerduty-url", f"{webhook.url}/v2/enqueue"]
    )
    result = _internal(
        breach, breach_case, "--channel", channel, *target, "--obligation", "escalation:cto",
        "--retries", "3", "--backoff", "0.01",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "HTTP 500" in result.stderr
    assert len(webhook.requests) == 3
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "failed" and receipt["sent_at"] is None
    assert receipt["recipients"] == 0 and receipt["attempts"] == 3
    due = breach("notify", "due", "--case", breach_case.root, "--json").json
    assert {r["id"]: r["state"] for r in due["obligations"]}["escalation:cto"] != "sent"
    records = all_records_text(breach_case)
    assert SLACK_TOKEN not in records and ROUTING_KEY not in records


def test_429_through_the_cli_ends_failed_with_the_wait_capped(
    breach, breach_case: Case, webhook: WebhookServer
) -> None:
    webhook.default = Reply(429, "rate limited", {"Retry-After": "3600"})
    result = _internal(
        breach, breach_case, "--channel", "slack", "--webhook-url", _slack_url(webhook),
        "--retries", "2", "--backoff", "0", "--max-wait", "0.01", "--json",
    )  # fmt: skip
    assert result.exit_code == 1 and "HTTP 429" in result.stderr
    assert result.json["status"] == "failed" and len(webhook.requests) == 2


def test_file_channel_to_stdout_and_a_missing_option(breach, breach_case: Case) -> None:
    result = _internal(breach, breach_case, "--channel", "file", "--out", "-")
    assert result.exit_code == 0 and "**Status**: Identified" in result.stdout
    missing = _internal(breach, breach_case, "--channel", "slack")
    assert missing.exit_code == 2 and "--webhook-url" in missing.stderr
    dry = _internal(breach, breach_case, "--channel", "file", "--out", "-", "--dry-run", "--json")
    assert dry.exit_code == 0 and dry.json["dry_run"] is True
    both = _internal(breach, breach_case, "--channel", "file", "--out", "-", "--json")
    assert both.exit_code == 2 and "stdout" in both.stderr and both.stdout == ""
    assert len(receipts_of(breach_case, "notification")) == 1


def test_a_server_that_does_not_speak_http_is_a_failed_send_not_a_crash(
    breach, breach_case: Case
) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_garbage() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    result = _internal(
        breach, breach_case, "--channel", "slack", "--webhook-url",
        f"http://127.0.0.1:{port}/services/T/B/{SLACK_TOKEN}", "--retries", "2", "--backoff", "0",
    )  # fmt: skip
    thread.join(timeout=5)
    listener.close()
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and SLACK_TOKEN not in result.stderr
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "failed" and receipt["attempts"] == 2
