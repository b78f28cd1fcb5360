"""Slack incoming webhook: POST {"text": ...}; Slack answers 200 "ok"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from notify.channels.http import post_json, safe_url
from notify.channels.interface import Accepted, ChannelSettings, Message, PermanentError

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_NOT_A_WEBHOOK = "a Slack webhook URL starts with https://"


class SlackSettings(ChannelSettings):
    """An incoming webhook. Its URL carries a token: a secret, never dumped or recorded."""

    type: Literal["slack"] = "slack"
    webhook_url: SecretStr
    timeout: float = Field(default=15.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise PydanticCustomError("webhook_url", _NOT_A_WEBHOOK)
        return value


def mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn marks bold with one asterisk, not two."""
    return _BOLD.sub(r"*\1*", markdown)


class SlackChannel:
    name = "slack"

    def __init__(self, webhook_url: str, timeout: float = 15.0) -> None:
        if not webhook_url.startswith(("https://", "http://")):
            raise ValueError(_NOT_A_WEBHOOK)
        self._url = webhook_url
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: SlackSettings) -> SlackChannel:
        return cls(settings.webhook_url.get_secret_value(), settings.timeout)

    def destination(self) -> str:
        return safe_url(self._url)

    def secrets(self) -> Iterable[str]:
        return [self._url, self._url.split("?", 1)[0].rsplit("/", 1)[-1]]

    @staticmethod
    def payload(message: Message) -> dict[str, object]:
        return {
            "text": f"*{message.subject}*\n{mrkdwn(message.body)}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": mrkdwn(message.body)[:3000]},
                },
            ],
        }

    def send_once(self, message: Message) -> Accepted:
        reply = post_json(self._url, self.payload(message), self._timeout)
        if reply.body.strip() not in ("ok", ""):
            raise PermanentError(f"Slack answered {reply.status}: {reply.body[:200]}")
        request_id = reply.headers.get("x-slack-req-id") or reply.headers.get("X-Slack-Req-Id")
        return Accepted(request_id, reply.body.strip() or str(reply.status))
