"""AWS SNS: publish to a topic (which fans out to mail, SMS, queues); SNS returns a MessageId."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from notify.channels.interface import Accepted, Message, PermanentError, TransientError

_THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "InternalError"}


def sns_client(
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    role_arn: str | None = None,
) -> Any:
    """An SNS client from the usual AWS credential chain (optionally assuming a role).

    Set-up mistakes (unknown profile, no region, a role that cannot be assumed) are ValueError.
    """
    import boto3

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        if role_arn:
            creds = session.client("sts", endpoint_url=endpoint_url).assume_role(
                RoleArn=role_arn, RoleSessionName="breachkit-notify"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region or session.region_name,
            )
        return session.client("sns", endpoint_url=endpoint_url)
    except (BotoCoreError, ClientError) as exc:
        raise ValueError(f"AWS set-up: {exc}") from None


def topic_region(topic_arn: str) -> str | None:
    """The region an SNS topic ARN names (arn:aws:sns:REGION:ACCOUNT:NAME), if it names one."""
    parts = topic_arn.split(":")
    return parts[3] or None if len(parts) == 6 and parts[2] == "sns" else None


class SnsChannel:
    name = "sns"

    def __init__(self, topic_arn: str, client: Any) -> None:
        if not topic_arn.startswith("arn:"):
            raise ValueError(f"{topic_arn!r} is not a topic ARN")
        self._topic = topic_arn
        self._client = client

    def destination(self) -> str:
        return self._topic

    def secrets(self) -> Iterable[str]:
        return []

    def send_once(self, message: Message) -> Accepted:
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
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise TransientError(f"SNS: {exc}") from None
        request_id = answer.get("ResponseMetadata", {}).get("RequestId")
        return Accepted(answer["MessageId"], f"RequestId {request_id}" if request_id else None)
