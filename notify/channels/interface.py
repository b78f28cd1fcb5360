"""What every channel does, and the retry loop they share.

A channel makes one attempt per `send_once` call and says how it failed: `TransientError`
(retry, honouring Retry-After) or `PermanentError` (stop). `deliver` retries with exponential
backoff and returns a `Delivery` that is "sent" only when the provider accepted the message.
Secrets a channel holds are scrubbed from every error it reports.

Each channel has a typed settings model (a `ChannelSettings` whose `type` is the channel's
name) and a `from_settings` constructor; `notify.channels.registry` maps the name to both.
Settings never hold what belongs in the environment (the SMTP password); a channel reads it there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from core.timeutil import utcnow


class ChannelSettings(BaseModel):
    """A channel's own settings, as the CLI's flags or a playbook's YAML give them.

    Subclasses add `type: Literal["<channel name>"]` (the registry's key and the discriminator
    of `notify.channels.registry.AnyChannelSettings`) and their fields; secrets are `SecretStr`,
    so a dump of the settings never shows them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


class Composed:
    """A subject and a body: the exact text that is reviewed, sent, staged and hashed."""

    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"Subject: {self.subject}\n\n{self.body}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Message(Composed):
    subject: str
    body: str
    recipients: tuple[str, ...] = ()  # mail addresses; webhooks and topics ignore them
    severity: str = "P1"
    dedup_key: str | None = None  # groups related alerts (PagerDuty)
    source: str = "breachkit"


@dataclass(frozen=True)
class Accepted:
    """What the provider said when it took the message."""

    provider_message_id: str | None
    response: str | None = None
    refused: tuple[str, ...] = ()  # addresses the provider would not take


@dataclass
class Delivery:
    status: Literal["sent", "partial", "failed"]  # partial: some addresses were refused
    attempts: int
    recipients: int  # that the provider took
    intended: int
    provider_message_id: str | None = None
    provider_response: str | None = None
    sent_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


class TransientError(Exception):
    """Worth retrying (429, 5xx, SMTP 4xx, timeouts); `retry_after` in seconds if told."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (bad credentials, 4xx other than 429, a refused address)."""


class Channel(Protocol):
    """One way of telling someone: built from its settings, it sends one message per call."""

    name: str

    def destination(self) -> str:
        """Where messages go, safe to record (no secrets)."""
        ...

    def secrets(self) -> Iterable[str]:
        """Values that must never appear in a record."""
        ...

    def send_once(self, message: Message) -> Accepted: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 1.0  # first wait; doubles each retry
    max_delay: float = 60.0  # cap, also on a server's Retry-After
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.max_delay))


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def deliver(channel: Channel, message: Message, retry: RetryPolicy | None = None) -> Delivery:
    """Try, back off, try again; a message is "sent" only when the provider accepted it."""
    policy = retry or RetryPolicy()
    secrets = list(channel.secrets())
    errors: list[str] = []
    for attempt in range(1, policy.attempts + 1):
        try:
            accepted = channel.send_once(message)
        except TransientError as exc:
            errors.append(scrub(f"attempt {attempt}: {exc}", secrets))
            if attempt < policy.attempts:
                policy.sleep(policy.delay(attempt, exc.retry_after))
            continue
        except PermanentError as exc:
            errors.append(scrub(f"attempt {attempt}: {exc}", secrets))
            return Delivery("failed", attempt, 0, _count(message), errors=errors)
        refused = len(accepted.refused)
        if refused:
            errors.append(f"attempt {attempt}: refused {refused} of {_count(message)} recipients")
        return Delivery(
            "partial" if refused else "sent",
            attempt,
            _count(message) - refused,
            _count(message),
            provider_message_id=accepted.provider_message_id,
            provider_response=scrub(accepted.response or "", secrets) or None,
            sent_at=utcnow(),
            errors=errors,
        )
    return Delivery("failed", policy.attempts, 0, _count(message), errors=errors)


def _count(message: Message) -> int:
    """Mail counts its addresses; a webhook or topic post counts as one recipient."""
    return max(1, len(message.recipients))


def describe(channel: Channel) -> dict[str, Any]:
    return {"channel": channel.name, "destination": channel.destination()}
