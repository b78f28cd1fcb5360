"""AWS SNS: publish to a topic (which fans out to mail, SMS, queues); SNS returns a MessageId.

The account is core.aws.AwsAccount (credential chain, profile, role to assume, endpoint), as for
every other AWS call breachkit makes; its region defaults to the topic's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from core.aws import AwsAccount
from core.permissions import AwsCall
from notify.channels.interface import (
    Accepted,
    ChannelSettings,
    Message,
    PermanentError,
    TransientError,
)

_THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "InternalError"}


def _not_a_topic(topic_arn: str) -> str:
    return f"{topic_arn!r} is not a topic ARN"


class SnsSettings(ChannelSettings):
    """A topic, and the AWS account to publish as (region: the topic's own unless given)."""

    type: Literal["sns"] = "sns"
    topic_arn: str
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (AwsCall("sns:Publish", "{topic_arn}"),)
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not value.startswith("arn:"):
            raise PydanticCustomError("topic_arn", "{message}", {"message": _not_a_topic(value)})
        return value

    def account(self) -> AwsAccount:
        region = self.region or topic_region(self.topic_arn)
        return AwsAccount(
            self.profile, region, self.role_arn, self.endpoint_url, session_name="breachkit-notify"
        )


def topic_region(topic_arn: str) -> str | None:
    """The region an SNS topic ARN names (arn:aws:sns:REGION:ACCOUNT:NAME), if it names one."""
    parts = topic_arn.split(":")
    return parts[3] or None if len(parts) == 6 and parts[2] == "sns" else None


class SnsChannel:
    name = "sns"

    def __init__(self, topic_arn: str, account: AwsAccount) -> None:
        """Set-up mistakes (unknown profile, no region, a role that cannot be assumed) are
        raised here, as BreachErrors, before anything is sent."""
        if not topic_arn.startswith("arn:"):
            raise ValueError(_not_a_topic(topic_arn))
        self._topic = topic_arn
        self.account = account
        with account.calls(what="set up SNS", fatal=True):
            self._client: Any = account.client("sns")

    @classmethod
    def from_settings(cls, settings: SnsSettings) -> SnsChannel:
        return cls(settings.topic_arn, settings.account())

    def destination(self) -> str:
        return self._topic

    def secrets(self) -> Iterable[str]:
        return []

    def send_once(self, message: Message) -> Accepted:
        from botocore.exceptions import BotoCoreError, ClientError

        subject = " ".join(message.subject.split())[:100] or "breachkit notice"
        try:
            answer = self._client.publish(
                TopicArn=self._topic, Subject=subject, Message=message.body
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _THROTTLED:
                raise TransientError(f"SNS {code}: {exc}") from None
            raise PermanentError(f"SNS {code}: {exc}") from None
        except BotoCoreError as exc:  # EndpointConnectionError among them
            raise TransientError(f"SNS: {exc}") from None
        request_id = answer.get("ResponseMetadata", {}).get("RequestId")
        return Accepted(answer["MessageId"], f"RequestId {request_id}" if request_id else None)
