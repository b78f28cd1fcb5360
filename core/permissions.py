"""What a plug-in declares it needs: the AWS calls it makes and the PostgreSQL privileges it uses.

Each adapter, collector, store and channel lists these next to its settings (ClassVars
`aws_calls` and `pg_needs`); `breach playbook policy` turns a playbook's steps into the least
IAM policy and the GRANTs that let them run. The IAM action of a call comes from
`core.aws.IAM_ACTIONS` (the map the AccessDenied hint uses), so both say the same.

A resource is an ARN template: `{target}` is each target of the step, `{account}` and
`{region}` the account and region when known, `{NAME}` the step's setting NAME, and
`{NAME:bucket}`, `{NAME:prefix}` (an s3://BUCKET/PREFIX setting), `{NAME:head}` (before the
first '/'), `{NAME:after}` (after the first ':') parts of it. A resource that cannot be
resolved becomes "*".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.aws import IAM_ACTIONS


@dataclass(frozen=True)
class AwsCall:
    """One AWS API call: `service:Operation` as botocore names it, on `resource`."""

    call: str
    resource: str = "*"
    when: str | None = None  # a setting that must be set (NAME) or match (NAME=VALUE*)

    @property
    def action(self) -> str:
        service, _, operation = self.call.partition(":")
        return IAM_ACTIONS.get(operation, f"{service}:{operation}")


@dataclass(frozen=True)
class PgNeed:
    """One PostgreSQL privilege: `GRANT <privilege> ON TABLE <on>`, a role membership
    (`member`: GRANT pg_signal_backend TO ...) or a role attribute (`attribute`: CREATEROLE)."""

    privilege: str = ""
    # The setting naming the table(s), a literal table, or a function of the settings.
    on: str | Callable[[Mapping[str, Any]], Any] = ""
    member: str = ""
    attribute: str = ""
    # The setting naming roles the step alters: from PostgreSQL 16 on, CREATEROLE alone may
    # alter only roles it holds ADMIN OPTION on (`GRANT <role> TO ... WITH ADMIN OPTION`).
    admin_of: str = ""
    why: str = ""
    when: str | None = None


CALLER_IDENTITY = AwsCall("sts:GetCallerIdentity")  # who acts, for the receipt and custody
