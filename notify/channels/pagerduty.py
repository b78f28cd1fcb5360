"""PagerDuty Events API v2: trigger an alert; the dedup key is the provider's message id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, SecretStr

from notify.channels.http import post_json, safe_url
from notify.channels.interface import Accepted, ChannelSettings, Message, PermanentError

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


class PagerDutySettings(ChannelSettings):
    """An Events API v2 integration: its routing key (a secret) and the API's URL."""

    type: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretStr = Field(min_length=1)
    url: str = Field(default=EVENTS_URL, min_length=1, description="the Events API endpoint")
    timeout: float = Field(default=15.0, gt=0)


class PagerDutyChannel:
    name = "pagerduty"

    def __init__(self, routing_key: str, url: str = EVENTS_URL, timeout: float = 15.0) -> None:
        if not routing_key:
            raise ValueError("a PagerDuty routing key is required")
        self._key = routing_key
        self._url = url
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: PagerDutySettings) -> PagerDutyChannel:
        return cls(settings.routing_key.get_secret_value(), settings.url, settings.timeout)

    def destination(self) -> str:
        return safe_url(self._url)

    def secrets(self) -> Iterable[str]:
        return [self._key]

    def payload(self, message: Message) -> dict[str, object]:
        event: dict[str, object] = {
            "routing_key": self._key,
            "event_action": "trigger",
            "payload": {
                "summary": message.subject[:1024],
                "source": message.source,
                "severity": _SEVERITY.get(message.severity, "critical"),
                "custom_details": {"notice": message.body},
            },
        }
        if message.dedup_key:
            event["dedup_key"] = message.dedup_key
        return event

    def send_once(self, message: Message) -> Accepted:
        reply = post_json(self._url, self.payload(message), self._timeout)
        try:
            answer = json.loads(reply.body)
        except json.JSONDecodeError:
            raise PermanentError(f"PagerDuty answered {reply.status} without JSON") from None
        if answer.get("status") != "success":
            raise PermanentError(f"PagerDuty did not accept the event: {answer}")
        return Accepted(answer.get("dedup_key"), str(answer.get("message", "")))
