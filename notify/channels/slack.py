"""Slack incoming webhook: POST {"text": ...}; Slack answers 200 "ok"."""

from __future__ import annotations

import re
from collections.abc import Iterable

from notify.channels.http import post_json, safe_url
from notify.channels.interface import Accepted, Message, PermanentError

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn marks bold with one asterisk, not two."""
    return _BOLD.sub(r"*\1*", markdown)


class SlackChannel:
    name = "slack"

    def __init__(self, webhook_url: str, timeout: float = 15.0) -> None:
        if not webhook_url.startswith(("https://", "http://")):
            raise ValueError("a Slack webhook URL starts with https://")
        self._url = webhook_url
        self._timeout = timeout

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
