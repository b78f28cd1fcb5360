"""The notify channels by name: each one's typed settings model and how it is built from them.

    settings = SlackSettings(webhook_url="https://hooks.slack.com/services/...")
    channel = build(settings)                     # a Channel; BadInput if it cannot be set up

A new channel is a module in notify/channels/ with a `ChannelSettings` subclass (its `type` is
the channel's name) and a channel class with `from_settings`, added to CHANNELS below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from core.errors import BadInput
from notify.channels.file import FileChannel, FileSettings
from notify.channels.interface import Channel, ChannelSettings
from notify.channels.pagerduty import PagerDutyChannel, PagerDutySettings
from notify.channels.slack import SlackChannel, SlackSettings
from notify.channels.smtp import SmtpChannel, SmtpSettings
from notify.channels.sns import SnsChannel, SnsSettings


@dataclass(frozen=True)
class Registered:
    settings: type[ChannelSettings]
    build: Callable[[Any], Channel]


CHANNELS: dict[str, Registered] = {
    "smtp": Registered(SmtpSettings, SmtpChannel.from_settings),
    "slack": Registered(SlackSettings, SlackChannel.from_settings),
    "sns": Registered(SnsSettings, SnsChannel.from_settings),
    "pagerduty": Registered(PagerDutySettings, PagerDutyChannel.from_settings),
    "file": Registered(FileSettings, FileChannel.from_settings),
}

# Any channel's settings, told apart by `type` (a playbook writes `channel: {type: sns, ...}`).
AnyChannelSettings = Annotated[
    SmtpSettings | SlackSettings | SnsSettings | PagerDutySettings | FileSettings,
    Field(discriminator="type"),
]


def settings_model(name: str) -> type[ChannelSettings]:
    """The settings model of channel `name`."""
    try:
        return CHANNELS[name].settings
    except KeyError:
        raise BadInput(
            f"no notify channel {name!r}", hint=f"channels: {', '.join(CHANNELS)}", field="channel"
        ) from None


def build(settings: ChannelSettings) -> Channel:
    """The channel its settings describe; a set-up mistake is one line (BadInput)."""
    try:
        return CHANNELS[settings.type].build(settings)
    except ValueError as exc:
        raise BadInput(f"the {settings.type} channel: {exc}", field="channel") from None
