"""The CloudTrail collector's typed settings, and its factory (light: no boto3, no pyarrow)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, model_validator

from core.errors import BadInput
from core.models import Moment
from core.permissions import AwsCall
from evidence.interface import CollectorSettings

if TYPE_CHECKING:
    from evidence.aws.cloudtrail import CloudTrailExport
    from evidence.aws.cloudtrail_lookup import LookupExport

Jobs = Annotated[int, Field(ge=1, le=32)]


class CloudTrailSettings(CollectorSettings):
    """CloudTrail for a window: a trail's S3 delivery, a local copy of it, or LookupEvents."""

    # cloudtrail_source.S3Source lists and reads the delivery (digests included); the digest
    # check fetches CloudTrail's public keys.
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("s3:ListObjectsV2", "arn:aws:s3:::{bucket:bucket}", when="bucket"),
        AwsCall("s3:GetObject", "arn:aws:s3:::{bucket:bucket}/{bucket:prefix}*", when="bucket"),
        AwsCall("cloudtrail:ListPublicKeys", when="validate_digests"),
        AwsCall("cloudtrail:LookupEvents", when="lookup"),
    )

    bucket: str | None = Field(default=None, description="s3://BUCKET[/PREFIX] of the trail")
    source: Path | None = Field(default=None, description="a local copy of the delivery layout")
    lookup: bool = Field(default=False, description="LookupEvents (90 days, management events)")
    since: Moment
    until: Moment
    accounts: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    validate_digests: bool = False
    jobs: Jobs = 2
    artifact: str | None = Field(default=None, description="staged as this name")
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> CloudTrailSettings:
        given = [n for n in ("bucket", "source", "lookup") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of a bucket, a source folder or lookup")
        if self.lookup and self.validate_digests:
            raise ValueError("LookupEvents has no digests: validate a bucket's delivery")
        return self

    def bucket_and_prefix(self) -> tuple[str, str]:
        text = (self.bucket or "").strip()
        if not text.startswith("s3://") or not text[5:].split("/", 1)[0]:
            raise BadInput(f"{text!r} is not s3://BUCKET[/PREFIX]", field="bucket")
        bucket, _, prefix = text[5:].partition("/")
        return bucket, prefix.strip("/")


def build_cloudtrail(settings: CloudTrailSettings) -> CloudTrailExport | LookupExport:
    from core.aws import AwsAccount
    from evidence.interface import Window

    window = Window(settings.since, settings.until)
    account = None
    if settings.bucket or settings.lookup:
        account = AwsAccount(
            profile=settings.profile,
            region=settings.region or (settings.regions[0] if settings.regions else None),
            role_arn=settings.role_arn,
            endpoint_url=settings.endpoint_url,
            session_name="breachkit-evidence",
        )
    if settings.lookup:
        from evidence.aws.cloudtrail_lookup import LookupExport

        assert account is not None
        return LookupExport(
            account, window, regions=list(settings.regions), artifact=settings.artifact
        )
    from evidence.aws.cloudtrail import CloudTrailExport
    from evidence.aws.cloudtrail_source import LocalSource, S3Source, Source

    origin: dict[str, Any]
    source: Source
    prefix = ""
    if settings.bucket:
        assert account is not None
        bucket, prefix = settings.bucket_and_prefix()
        source = S3Source(account, bucket, pool=settings.jobs * 2)
        origin = {"bucket": bucket, "origin": "s3"}
    else:
        assert settings.source is not None
        if not settings.source.is_dir():
            raise BadInput(f"no such folder: {settings.source}", field="source")
        source = LocalSource(settings.source)
        origin = {"folder": str(settings.source.resolve()), "origin": "local copy"}
    return CloudTrailExport(
        source,
        window,
        prefix=prefix,
        accounts=list(settings.accounts),
        regions=list(settings.regions),
        jobs=settings.jobs,
        artifact=settings.artifact,
        validate_digests=settings.validate_digests,
        account_client=account,
        origin=origin,
    )
