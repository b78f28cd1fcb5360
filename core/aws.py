"""One AWS account object: the boto3 session, lazy per-service clients, and error translation.

Credentials follow the standard chain (environment, `--profile`, instance role); `--role-arn`
assumes an incident-response role first; `--endpoint-url` points every client at moto or
LocalStack.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import BadInput, StepFailed

# The IAM action each API call needs, for the hint on AccessDenied.
IAM_ACTIONS = {
    "AdminDisableUser": "cognito-idp:AdminDisableUser",
    "AssumeRole": "sts:AssumeRole",
    "AdminGetUser": "cognito-idp:AdminGetUser",
    "AdminUserGlobalSignOut": "cognito-idp:AdminUserGlobalSignOut",
    "AttachUserPolicy": "iam:AttachUserPolicy",
    "AuthorizeSecurityGroupIngress": "ec2:AuthorizeSecurityGroupIngress",
    "CreateAccessKey": "iam:CreateAccessKey",
    "CreateKey": "kms:CreateKey",
    "CreateNetworkAclEntry": "ec2:CreateNetworkAclEntry",
    "CreateSecret": "secretsmanager:CreateSecret",
    "DeleteLoginProfile": "iam:DeleteLoginProfile",
    "DescribeKey": "kms:DescribeKey",
    "DescribeNetworkAcls": "ec2:DescribeNetworkAcls",
    "DescribeSecret": "secretsmanager:DescribeSecret",
    "DescribeSecurityGroupRules": "ec2:DescribeSecurityGroupRules",
    "DisableKey": "kms:DisableKey",
    "GetCallerIdentity": "sts:GetCallerIdentity",
    "GetIPSet": "wafv2:GetIPSet",
    "GetLoginProfile": "iam:GetLoginProfile",
    "GetRole": "iam:GetRole",
    "GetRolePolicy": "iam:GetRolePolicy",
    "GetUser": "iam:GetUser",
    "GetUserPolicy": "iam:GetUserPolicy",
    "ListAccessKeys": "iam:ListAccessKeys",
    "ListAliases": "kms:ListAliases",
    "ListIPSets": "wafv2:ListIPSets",
    "ListKeyRotations": "kms:ListKeyRotations",
    "ListSecretVersionIds": "secretsmanager:ListSecretVersionIds",
    "PutRolePolicy": "iam:PutRolePolicy",
    "PutSecretValue": "secretsmanager:PutSecretValue",
    "PutUserPolicy": "iam:PutUserPolicy",
    "RevokeSecurityGroupIngress": "ec2:RevokeSecurityGroupIngress",
    "RotateKeyOnDemand": "kms:RotateKeyOnDemand",
    "RotateSecret": "secretsmanager:RotateSecret",
    "TagResource": "secretsmanager:TagResource",
    "GetSecretValue": "secretsmanager:GetSecretValue",
    "DeleteAccessKey": "iam:DeleteAccessKey",
    "DescribeSecurityGroups": "ec2:DescribeSecurityGroups",
    "UpdateAccessKey": "iam:UpdateAccessKey",
    "UpdateAlias": "kms:UpdateAlias",
    "UpdateIPSet": "wafv2:UpdateIPSet",
    # Evidence: CloudTrail, the S3 store, KMS signing, SNS notices. S3's operations and IAM
    # actions differ in name; a versioned read needs GetObjectVersion besides GetObject.
    "LookupEvents": "cloudtrail:LookupEvents",
    "ListPublicKeys": "cloudtrail:ListPublicKeys",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "GetObjectVersion": "s3:GetObjectVersion",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectRetention": "s3:PutObjectRetention",
    "PutObjectLegalHold": "s3:PutObjectLegalHold",
    "GetObjectLegalHold": "s3:GetObjectLegalHold",
    "Sign": "kms:Sign",
    "GetPublicKey": "kms:GetPublicKey",
    "Publish": "sns:Publish",
    # CloudWatch Logs, flow logs and snapshots (evidence.aws).
    "CopyDBClusterSnapshot": "rds:CopyDBClusterSnapshot",
    "CopyDBSnapshot": "rds:CopyDBSnapshot",
    "CopySnapshot": "ec2:CopySnapshot",
    "CreateDBClusterSnapshot": "rds:CreateDBClusterSnapshot",
    "CreateDBSnapshot": "rds:CreateDBSnapshot",
    "CreateSnapshot": "ec2:CreateSnapshot",
    "CreateSnapshots": "ec2:CreateSnapshots",
    "DescribeDBClusterSnapshots": "rds:DescribeDBClusterSnapshots",
    "DescribeDBSnapshots": "rds:DescribeDBSnapshots",
    "DescribeFlowLogs": "ec2:DescribeFlowLogs",
    "DescribeInstances": "ec2:DescribeInstances",
    "DescribeLogGroups": "logs:DescribeLogGroups",
    "DescribeLogStreams": "logs:DescribeLogStreams",
    "DescribeSnapshots": "ec2:DescribeSnapshots",
    "FilterLogEvents": "logs:FilterLogEvents",
    "GetLogEvents": "logs:GetLogEvents",
    "HeadBucket": "s3:ListBucket",
    "ModifyDBClusterSnapshotAttribute": "rds:ModifyDBClusterSnapshotAttribute",
    "ModifyDBSnapshotAttribute": "rds:ModifyDBSnapshotAttribute",
    "ModifySnapshotAttribute": "ec2:ModifySnapshotAttribute",
}

# What else a call needs when it carries Object Lock headers or reads them back.
ALSO_NEEDED = {
    "HeadObject": "s3:GetObjectRetention, s3:GetObjectLegalHold",
    "PutObject": "s3:PutObjectRetention, s3:PutObjectLegalHold",
}

DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "NotAuthorizedException",
}


class AwsCallFailed(StepFailed):
    """One API call failed; `code` is the AWS error code (NoSuchEntity, AccessDenied, ...)."""

    def __init__(
        self, message: str, hint: str | None, code: str, request_id: str | None, detail: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        self.request_id = request_id
        self.detail = detail  # the API's own message, without operation and code


def request_id(response: dict[str, Any]) -> str:
    return str(response.get("ResponseMetadata", {}).get("RequestId", ""))


def translate(exc: Exception) -> AwsCallFailed:
    """A botocore ClientError as one line: the API's own message, and for AccessDenied the action."""
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    code = str(error.get("Code", type(exc).__name__))
    message = str(error.get("Message") or exc)
    code, message = _unwrap_xml(code, message)
    operation = str(getattr(exc, "operation_name", "") or "")
    hint = None
    if code in DENIED_CODES or (code == "403" and "not authorized" in message):
        action = IAM_ACTIONS.get(operation, f"the permission for {operation}")
        if operation in ALSO_NEEDED:
            action += f" (and {ALSO_NEEDED[operation]})"
        hint = f"the incident-response role needs {action}"
    return AwsCallFailed(
        f"{operation or 'AWS'}: {code}: {message}",
        hint,
        code,
        request_id(response) or None,
        message,
    )


def _unwrap_xml(code: str, message: str) -> tuple[str, str]:
    """Some emulators answer a JSON API with an XML error body: take its Code and Message."""
    if not message.lstrip().startswith("<"):
        return code, message
    found_code = re.search(r"<Code>([^<]*)</Code>", message)
    found_message = re.search(r"<Message>([^<]*)</Message>", message)
    return (
        found_code.group(1) if found_code else code,
        found_message.group(1) if found_message else message,
    )


@dataclass
class AwsAccount:
    """The account an adapter acts in. Clients are created on first use and kept."""

    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    session_name: str = "breachkit-contain"  # how an assumed role's CloudTrail entries name us

    def __post_init__(self) -> None:
        # Caches, not fields: settings that hold an account dump its options, never a session.
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._identity: dict[str, Any] | None = None

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = self._make_session()
        return self._session

    def _make_session(self) -> Any:
        import boto3
        import botocore.exceptions

        try:
            base = boto3.Session(profile_name=self.profile, region_name=self.region)
        except botocore.exceptions.ProfileNotFound:
            raise BadInput(f"AWS profile {self.profile!r} not found") from None
        if not base.region_name:
            raise BadInput("no AWS region", hint="pass --region or set AWS_REGION")
        if not self.role_arn:
            return base
        sts = base.client("sts", endpoint_url=self.endpoint_url)
        with self.calls(what=f"assume {self.role_arn}"):
            creds = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=self.session_name)[
                "Credentials"
            ]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=base.region_name,
        )

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    @property
    def region_name(self) -> str:
        return str(self.session.region_name)

    def identity(self) -> dict[str, Any]:
        """sts:GetCallerIdentity, once. No credentials or no endpoint is bad input (exit 2)."""
        if self._identity is None:
            with self.calls(what="identify the AWS caller", fatal=True):
                self._identity = self.client("sts").get_caller_identity()
        return self._identity

    def operator(self) -> str:
        return str(self.identity()["Arn"])

    def describe(self) -> str:
        where = f"aws account {self.identity()['Account']} {self.region_name}"
        return f"{where} via {self.endpoint_url}" if self.endpoint_url else where

    @contextlib.contextmanager
    def calls(self, *, what: str = "", fatal: bool = False) -> Iterator[None]:
        """ClientError -> AwsCallFailed; no credentials or no endpoint -> one line, exit 2."""
        import botocore.exceptions as bex

        try:
            yield
        except bex.ClientError as exc:
            raise translate(exc) from None
        except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
            raise BadInput(
                f"no AWS credentials ({exc})",
                hint="use the standard chain: AWS_PROFILE/--profile, env keys, or an instance role",
            ) from None
        except bex.ParamValidationError as exc:
            raise BadInput(
                f"AWS rejected the request{' to ' + what if what else ''}: {exc}"
            ) from None
        except (bex.ConnectionError, bex.HTTPClientError) as exc:
            # Unreachable before anything was done is bad input (exit 2); later, a failed step.
            error: type[BadInput] | type[StepFailed] = BadInput if fatal else StepFailed
            raise error(f"cannot reach AWS{' to ' + what if what else ''}: {exc}") from None
