"""The typed settings of the AWS collectors other than CloudTrail, and their factories.

evidence.registry names them (`aws.cloudwatch`, `aws.s3-logs`, `aws.snapshot`); this module stays
light (pydantic only): the collector's own module, and with it boto3 and pyarrow, is imported
when one is built.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from core.aws import AwsAccount
from core.errors import BadInput
from core.models import Moment
from core.permissions import AwsCall
from evidence.interface import CollectorSettings

if TYPE_CHECKING:
    from evidence.aws.cloudwatch import LogGroupExport
    from evidence.aws.s3logs import AccessLogCopy
    from evidence.aws.snapshots import CloudSnapshots

SESSION_NAME = "breachkit-evidence"  # how an assumed role's CloudTrail entries name us
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
KMS_KEY = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}|mrk-[0-9a-f]{32}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+)$"
)
S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$", re.S)
# Threads making API calls at once (I/O, not CPU: more than the cores help).
Jobs = Annotated[int, Field(ge=1, le=32, description="API calls at once")]


def evidence_account(value: Any) -> Any:
    """An AwsAccount from its options; unless told otherwise its sessions are named for us."""
    if value is None:
        return AwsAccount(session_name=SESSION_NAME)
    if isinstance(value, dict):
        return {"session_name": SESSION_NAME, **{k: v for k, v in value.items() if v is not None}}
    return value


class AwsCollectorSettings(CollectorSettings):
    aws: AwsAccount = Field(default_factory=lambda: AwsAccount(session_name=SESSION_NAME))

    @field_validator("aws", mode="before")
    @classmethod
    def _account(cls, value: Any) -> Any:
        return evidence_account(value)


_GROUPS = "arn:aws:logs:{region}:{account}:log-group:"


class CloudWatchSettings(AwsCollectorSettings):
    """CloudWatch log groups in a window: flow logs typed, other logs as timestamped lines."""

    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("logs:DescribeLogGroups", _GROUPS + "*"),
        AwsCall("logs:DescribeLogStreams", _GROUPS + "{log_groups}:*"),
        AwsCall("logs:GetLogEvents", _GROUPS + "{log_groups}:log-stream:*"),
        AwsCall("ec2:DescribeFlowLogs", when="format=[av]*"),  # auto or vpc-flow: the fields
    )

    log_groups: list[str] = Field(min_length=1)
    since: Moment
    until: Moment
    format: Literal["auto", "vpc-flow", "lines"] = "auto"
    fields: list[str] | None = Field(
        default=None, description="flow log fields: '${version} ${srcaddr} ...' or names"
    )
    page_size: Annotated[int, Field(ge=1, le=10_000)] = 10_000
    backoff: Annotated[float, Field(ge=0)] = 1.0
    jobs: Jobs = 4

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        from evidence.aws.flowlogs import parse_fields

        if value is None or value == "" or value == []:
            return None
        try:
            return parse_fields(value)
        except BadInput as exc:
            raise ValueError(exc.diagnostics()) from None

    @field_validator("log_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > 512:
                raise ValueError(f"{name!r} is not a log group name (1 to 512 characters)")
        return list(dict.fromkeys(value))


class S3LogsSettings(AwsCollectorSettings):
    """Load-balancer and S3 server access log objects of a window, copied byte for byte."""

    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("s3:ListObjectsV2", "arn:aws:s3:::{prefix:bucket}"),
        AwsCall("s3:GetObject", "arn:aws:s3:::{prefix:bucket}/{prefix:keyprefix}*"),
    )

    prefix: str = Field(description="s3://BUCKET/PREFIX")
    since: Moment
    until: Moment
    delivery_lag: Annotated[int, Field(ge=0, le=24 * 60)] = Field(
        default=60, description="minutes after the window a log object may still be written"
    )
    jobs: Jobs = 4

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not S3_URL.match(value):
            raise ValueError(f"{value!r} is not s3://BUCKET/PREFIX")
        return value

    def bucket_and_prefix(self) -> tuple[str, str]:
        found = S3_URL.match(self.prefix)
        assert found is not None
        return found.group(1), found.group(2) or ""


class SnapshotSettings(AwsCollectorSettings):
    """RDS instances and clusters, EBS volumes and instances' volumes to snapshot."""

    # evidence.aws.snapshots: made tagged, waited for, shared and copied as asked; not scoped
    # to resources (snapshot ARNs are made at run time).
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        *(AwsCall(f"rds:{op}", when="rds_instances") for op in (
            "DescribeDBInstances", "CreateDBSnapshot", "AddTagsToResource", "DescribeDBSnapshots")),
        *(AwsCall(f"rds:{op}", when="rds_clusters") for op in (
            "DescribeDBClusters", "CreateDBClusterSnapshot", "AddTagsToResource",
            "DescribeDBClusterSnapshots")),
        *(AwsCall(f"ec2:{op}", when="ebs_volumes") for op in (
            "CreateSnapshot", "CreateTags", "DescribeSnapshots")),
        *(AwsCall(f"ec2:{op}", when="instances") for op in (
            "DescribeInstances", "CreateSnapshots", "CreateTags", "DescribeSnapshots")),
        *(AwsCall(op, when="share_with") for op in (
            "rds:ModifyDBSnapshotAttribute", "rds:DescribeDBSnapshotAttributes",
            "rds:ModifyDBClusterSnapshotAttribute", "rds:DescribeDBClusterSnapshotAttributes",
            "ec2:ModifySnapshotAttribute", "ec2:DescribeSnapshotAttribute")),
        *(AwsCall(op, when="copy_to") for op in (
            "rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot", "ec2:CopySnapshot")),
        AwsCall("kms:DescribeKey", when="kms_key"),
    )  # fmt: skip

    incident: str = Field(default="", description="the incident id the snapshots are tagged with")
    run: str = Field(
        default="", description="this run's id, tagged too (found again after a crash)"
    )
    rds_instances: list[str] = Field(default_factory=list)
    rds_clusters: list[str] = Field(default_factory=list)
    ebs_volumes: list[str] = Field(default_factory=list)
    instances: list[str] = Field(default_factory=list)
    share_with: list[str] = Field(default_factory=list, description="AWS account ids")
    copy_to: list[str] = Field(default_factory=list, description="regions to copy to")
    kms_key: str | None = Field(
        default=None,
        description="KMS key the copies are encrypted with (alias/NAME, key id, mrk- id or ARN)",
    )
    wait_minutes: Annotated[float, Field(ge=0)] = 60
    poll_seconds: Annotated[float, Field(gt=0)] = 15

    @field_validator("share_with")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for account in value:
            if not ACCOUNT_ID.match(account):
                raise ValueError(f"{account!r} is not an AWS account id (12 digits)")
        return value

    @field_validator("kms_key")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not KMS_KEY.match(value):
            raise ValueError(f"{value!r} is not a KMS key: alias/NAME, a key id, mrk-... or an ARN")
        return value

    @field_validator("copy_to")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not REGION.match(region):
                raise ValueError(f"{region!r} is not an AWS region (like eu-west-1)")
        return value


def cloudwatch(settings: CloudWatchSettings) -> LogGroupExport:
    from evidence.aws.calls import checked_window
    from evidence.aws.cloudwatch import LogGroupExport

    window, now = checked_window(settings.since, settings.until)
    return LogGroupExport(
        account=settings.aws,
        log_groups=list(settings.log_groups),
        window=window,
        collected_at=now,
        format=settings.format,
        fields=list(settings.fields) if settings.fields else None,
        page_size=settings.page_size,
        backoff=settings.backoff,
        jobs=settings.jobs,
    )


def s3_logs(settings: S3LogsSettings) -> AccessLogCopy:
    from evidence.aws.calls import checked_window
    from evidence.aws.s3logs import AccessLogCopy

    window, now = checked_window(settings.since, settings.until)
    bucket, prefix = settings.bucket_and_prefix()
    return AccessLogCopy(
        account=settings.aws,
        bucket=bucket,
        prefix=prefix,
        window=window,
        collected_at=now,
        delivery_lag_minutes=settings.delivery_lag,
        jobs=settings.jobs,
    )


def snapshots(settings: SnapshotSettings) -> CloudSnapshots:
    from evidence.aws.snapshots import CloudSnapshots, check_kms_key

    check_kms_key(settings)
    return CloudSnapshots(settings)
