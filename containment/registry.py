"""Adapter names, as `--adapter` (or a playbook's `adapter:`) takes them, each with its own typed
settings, and the one way to build an adapter from them.

    adapter = build("block", "nacl", {"nacl_id": "acl-1"}, Connections(aws=AwsAccount()))

An adapter's settings model holds only its own options and refuses any other, naming the adapter
("the redis adapter takes no option 'preset'"); where the adapter acts (a DSN, a Redis URL, the
AWS account) is `Connections`, shared by every adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from containment.block.nacl import MAX_RULE
from containment.interface import Action, ContainmentAdapter
from core.aws import AwsAccount
from core.errors import BadInput
from core.permissions import AwsCall, PgNeed


class Connections(BaseModel):
    """Where adapters act. Every adapter takes these; each uses what it needs."""

    model_config = ConfigDict(extra="forbid")

    dsn: str | None = Field(default=None, description="PostgreSQL DSN; '' means libpq's PG*")
    redis_url: str | None = None
    aws: AwsAccount = Field(default_factory=AwsAccount)

    def need_dsn(self, adapter: str) -> str:
        if self.dsn is None:
            raise BadInput(f"the {adapter} adapter needs --dsn")
        return self.dsn

    def need_redis_url(self, adapter: str) -> str:
        if not self.redis_url:
            raise BadInput(f"the {adapter} adapter needs --redis-url")
        return self.redis_url


class AdapterSettings(BaseModel):
    """One adapter's own options; `build` makes the adapter with them and the connections."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A required option -> how its absence reads ("the nacl adapter needs <this>"), and a hint.
    needs: ClassVar[dict[str, str]] = {}
    need_hints: ClassVar[dict[str, str]] = {}
    # What the adapter calls and the privileges it uses (core.permissions: `breach playbook
    # policy` builds the incident-response role's policy and grants from these).
    aws_calls: ClassVar[tuple[AwsCall, ...]] = ()
    pg_needs: ClassVar[tuple[PgNeed, ...]] = ()

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        raise NotImplementedError


class NoOptions(AdapterSettings):
    """An adapter with no options of its own (iam-role, iam-user, signing-key)."""


def _preset_table(preset: str | None) -> str:
    from containment.sessions.postgres import PRESETS

    return PRESETS[preset or "generic"].table


# -- sessions ------------------------------------------------------------------------------
class PostgresSessionSettings(AdapterSettings):
    preset: Literal["generic", "django"] = "generic"
    table: str | None = Field(default=None, description="default from the preset")
    user_column: str | None = None
    key_column: str | None = None
    batch_size: int = Field(default=1000, ge=1, description="users or keys per statement")

    # Reads the sessions into the receipt, then deletes them; `table` defaults from the preset.
    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed(
            "SELECT, DELETE",
            on=lambda values: values.get("table") or _preset_table(values.get("preset")),
            why="read the sessions into the receipt, then delete them",
        ),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.sessions.postgres import PRESETS, PostgresSessions, SessionTable

        base = PRESETS[self.preset]
        layout = SessionTable(
            table=self.table or base.table,
            user_column=self.user_column or base.user_column,
            key_column=self.key_column or base.key_column,
            layout=base.layout,
        )
        return PostgresSessions(connections.need_dsn(name), layout, self.batch_size)


class RedisSessionSettings(AdapterSettings):
    pattern: str | None = Field(default=None, description="e.g. session:{user}:* (default)")
    index_key: str | None = Field(default=None, description="e.g. user_sessions:{user}")
    key_prefix: str = ""
    batch_size: int = Field(default=1000, ge=1, description="keys per UNLINK")

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.sessions.redis import RedisSessions

        return RedisSessions(
            connections.need_redis_url(name),
            pattern=self.pattern,
            index_key=self.index_key,
            key_prefix=self.key_prefix,
            batch_size=self.batch_size,
        )


class CognitoPoolSettings(AdapterSettings):
    needs: ClassVar[dict[str, str]] = {"user_pool_id": "--user-pool-id"}

    user_pool_id: str = Field(min_length=1)


_POOL = "arn:aws:cognito-idp:{region}:{account}:userpool/{user_pool_id}"


class CognitoSessionSettings(CognitoPoolSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("cognito-idp:AdminGetUser", _POOL),
        AwsCall("cognito-idp:AdminUserGlobalSignOut", _POOL),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.sessions.cognito import CognitoSessions

        return CognitoSessions(connections.aws, self.user_pool_id)


_ROLE = "arn:aws:iam::{account}:role/{target}"
_USER = "arn:aws:iam::{account}:user/{target}"


class IamRoleSettings(NoOptions):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("iam:GetRole", _ROLE),
        AwsCall("iam:GetRolePolicy", _ROLE),
        AwsCall("iam:PutRolePolicy", _ROLE),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.sessions.iam_role import IamRoleSessions

        return IamRoleSessions(connections.aws)


# -- accounts ------------------------------------------------------------------------------
class IamUserSettings(NoOptions):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = tuple(
        AwsCall(f"iam:{operation}", _USER)
        for operation in (
            "GetUser",
            "ListAccessKeys",
            "GetLoginProfile",
            "GetUserPolicy",
            "UpdateAccessKey",
            "DeleteLoginProfile",
            "PutUserPolicy",
        )
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.accounts.iam_user import IamUsers

        return IamUsers(connections.aws)


class CognitoUserSettings(CognitoPoolSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("cognito-idp:AdminGetUser", _POOL),
        AwsCall("cognito-idp:AdminDisableUser", _POOL),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.accounts.cognito import CognitoUsers

        return CognitoUsers(connections.aws, self.user_pool_id)


class PostgresRoleSettings(NoOptions):
    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed(attribute="CREATEROLE", why="ALTER ROLE ... NOLOGIN"),
        PgNeed(admin_of="targets", why="ALTER ROLE on PostgreSQL 16 and later"),
        PgNeed(member="pg_signal_backend", why="pg_terminate_backend of the role's backends"),
        PgNeed(member="pg_read_all_stats", why="read the backends' queries into the receipt"),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.accounts.postgres_role import PostgresRoles

        return PostgresRoles(connections.need_dsn(name))


class AppUserSettings(AdapterSettings):
    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed("SELECT, UPDATE", on="table", why="read the flag, then set it to disabled"),
    )

    table: str = "users"
    id_column: str = "id"
    flag_column: str = "is_active"
    disabled_value: str = Field(default="false", description="the flag value meaning disabled")

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.accounts.app_users import AppUsers

        return AppUsers(
            connections.need_dsn(name),
            table=self.table,
            id_column=self.id_column,
            flag_column=self.flag_column,
            disabled_value=self.disabled_value,
        )


# -- keys ----------------------------------------------------------------------------------
_KEY = "arn:aws:kms:{region}:{account}:key/{target}"  # an alias target: any key (see policy)
_REPLACE = "kms_mode=replace"


class KmsSettings(AdapterSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("kms:DescribeKey", _KEY),
        AwsCall("kms:ListKeyRotations", _KEY),
        AwsCall("kms:RotateKeyOnDemand", _KEY, when="kms_mode=rotate"),
        AwsCall("kms:CreateKey", when=_REPLACE),
        AwsCall("kms:UpdateAlias", _KEY, when=_REPLACE),
        AwsCall("kms:UpdateAlias", "arn:aws:kms:{region}:{account}:{target}", when=_REPLACE),
        AwsCall("kms:DisableKey", _KEY, when=_REPLACE),
    )

    kms_mode: Literal["rotate", "replace"] = "rotate"

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.keys.kms import KmsKeys

        return KmsKeys(connections.aws, self.kms_mode)


_SECRET = "arn:aws:secretsmanager:{region}:{account}:secret:{secret_destination:after}-*"
_IN_SECRETS = "secret_destination=secretsmanager:*"


class DestinationSettings(AdapterSettings):
    """An adapter that makes a new secret: where it goes (`secretsmanager:NAME`, `file:PATH`)."""

    needs: ClassVar[dict[str, str]] = {
        "secret_destination": "--secret-destination for the new secret"
    }
    need_hints: ClassVar[dict[str, str]] = {
        "secret_destination": "secretsmanager:NAME or file:PATH; the secret is never printed"
    }

    secret_destination: str = Field(min_length=1)

    # containment.keys.destination: a new version of the secret, or the secret created.
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("secretsmanager:PutSecretValue", _SECRET, when=_IN_SECRETS),
        AwsCall("secretsmanager:CreateSecret", _SECRET, when=_IN_SECRETS),
        AwsCall("secretsmanager:GetSecretValue", _SECRET, when=_IN_SECRETS),
    )


class IamAccessKeySettings(DestinationSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = DestinationSettings.aws_calls + tuple(
        AwsCall(f"iam:{operation}", _USER)
        for operation in ("ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.keys.destination import Destination
        from containment.keys.iam_access_key import IamAccessKeys

        destination = Destination(self.secret_destination, connections.aws)
        return IamAccessKeys(connections.aws, destination)


_TARGET_SECRET = "arn:aws:secretsmanager:{region}:{account}:secret:{target}-*"


class SecretsManagerSettings(AdapterSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        *(
            AwsCall(f"secretsmanager:{operation}", _TARGET_SECRET)
            for operation in ("ListSecretVersionIds", "DescribeSecret", "TagResource")
        ),
        AwsCall("secretsmanager:RotateSecret", _TARGET_SECRET, when="secret_mode=rotate"),
        AwsCall("secretsmanager:GetSecretValue", _TARGET_SECRET, when="secret_mode=new-version"),
        AwsCall("secretsmanager:PutSecretValue", _TARGET_SECRET, when="secret_mode=new-version"),
    )

    secret_mode: Literal["new-version", "rotate"] = "new-version"

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.keys.secretsmanager import SecretsManagerSecrets

        return SecretsManagerSecrets(connections.aws, self.secret_mode)


class PostgresPasswordSettings(DestinationSettings):
    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed(attribute="CREATEROLE", why="ALTER ROLE ... PASSWORD"),
        PgNeed(admin_of="targets", why="ALTER ROLE on PostgreSQL 16 and later"),
        PgNeed("SELECT", on="pg_catalog.pg_authid", why="compare the stored verifier"),
    )

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.keys.destination import Destination
        from containment.keys.postgres_password import PostgresPasswords

        dsn = connections.need_dsn(name)
        return PostgresPasswords(dsn, Destination(self.secret_destination, connections.aws))


class SigningKeySettings(NoOptions):
    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.keys.signing_key import SigningKeys

        return SigningKeys()


# -- block ---------------------------------------------------------------------------------
_IP_SET = "arn:aws:wafv2:{region}:{account}:regional/ipset/{ip_set:head}/*"


class WafSettings(AdapterSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("wafv2:ListIPSets", "arn:aws:wafv2:{region}:{account}:regional/ipset/*"),
        AwsCall("wafv2:GetIPSet", _IP_SET),
        AwsCall("wafv2:UpdateIPSet", _IP_SET),
    )

    needs: ClassVar[dict[str, str]] = {"ip_set": "--ip-set NAME (or NAME/ID)"}

    ip_set: str = Field(min_length=1, description="the IP set, NAME or NAME/ID")
    waf_scope: Literal["REGIONAL", "CLOUDFRONT"] = "REGIONAL"

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.block.wafv2 import WafIpSet

        return WafIpSet(connections.aws, self.ip_set, self.waf_scope)


class NaclSettings(AdapterSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("ec2:DescribeNetworkAcls"),  # Describe* take no resource
        AwsCall(
            "ec2:CreateNetworkAclEntry", "arn:aws:ec2:{region}:{account}:network-acl/{nacl_id}"
        ),
    )

    needs: ClassVar[dict[str, str]] = {"nacl_id": "--nacl-id acl-..."}

    nacl_id: str = Field(min_length=1)
    first_rule: int = Field(default=1, ge=1, le=MAX_RULE, description="lowest rule number used")

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.block.nacl import NetworkAcl

        return NetworkAcl(connections.aws, self.nacl_id, self.first_rule)


class SecurityGroupSettings(AdapterSettings):
    aws_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("ec2:DescribeSecurityGroups"),
        AwsCall("ec2:DescribeSecurityGroupRules"),
        AwsCall(
            "ec2:RevokeSecurityGroupIngress",
            "arn:aws:ec2:{region}:{account}:security-group/{group_id}",
        ),
    )

    needs: ClassVar[dict[str, str]] = {"group_id": "--group-id sg-..."}

    group_id: str = Field(min_length=1)

    def build(self, name: str, connections: Connections) -> ContainmentAdapter:
        from containment.block.security_group import SecurityGroupRules

        return SecurityGroupRules(connections.aws, self.group_id)


# -- the registry --------------------------------------------------------------------------
ADAPTERS: dict[Action, dict[str, type[AdapterSettings]]] = {
    "revoke-sessions": {
        "postgres": PostgresSessionSettings,
        "redis": RedisSessionSettings,
        "cognito": CognitoSessionSettings,
        "iam-role": IamRoleSettings,
    },
    "disable-accounts": {
        "iam-user": IamUserSettings,
        "cognito": CognitoUserSettings,
        "postgres-role": PostgresRoleSettings,
        "app-users": AppUserSettings,
    },
    "rotate-keys": {
        "kms": KmsSettings,
        "iam-access-key": IamAccessKeySettings,
        "secretsmanager": SecretsManagerSettings,
        "postgres-password": PostgresPasswordSettings,
        "signing-key": SigningKeySettings,
    },
    "block": {"wafv2": WafSettings, "nacl": NaclSettings, "security-group": SecurityGroupSettings},
}

Options = Mapping[str, Any] | AdapterSettings


def settings_type(action: Action, adapter: str) -> type[AdapterSettings]:
    """The settings model of the adapter named `adapter`, or one line naming the ones there are."""
    if action not in ADAPTERS:
        raise BadInput(f"unknown action {action!r}", hint=f"one of: {', '.join(ADAPTERS)}")
    known = ADAPTERS[action]
    if adapter not in known:
        raise BadInput(
            f"unknown adapter {adapter!r} for {action}",
            hint=f"one of: {', '.join(known)}",
            field="adapter",
        )
    return known[adapter]


def adapter_settings(
    action: Action, adapter: str, options: Options | None = None
) -> AdapterSettings:
    """The adapter's typed settings from a mapping (a playbook's YAML, the CLI's options) or a
    settings object; an unknown, missing or unusable option is one line naming the adapter."""
    kind = settings_type(action, adapter)
    if isinstance(options, kind):
        return options
    values = options.model_dump() if isinstance(options, AdapterSettings) else dict(options or {})
    try:
        return kind.model_validate(values)
    except ValidationError as exc:
        raise _refusal(adapter, kind, exc) from None


def _refusal(adapter: str, kind: type[AdapterSettings], exc: ValidationError) -> BadInput:
    errors = exc.errors()
    # An unknown option first: a misspelt one is also reported missing under its right name.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        takes = ", ".join(kind.model_fields)
        return BadInput(
            f"the {adapter} adapter takes no option {field!r}",
            hint=f"its options: {takes}" if takes else "it takes no options",
        )
    if error["type"] in ("missing", "string_too_short") and field in kind.needs:
        return BadInput(
            f"the {adapter} adapter needs {kind.needs[field]}",
            hint=kind.need_hints.get(field),
        )
    return BadInput(f"the {adapter} adapter's {field}: {error['msg']}", field=field)


def options_for(action: Action, adapter: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Of `values` (every option a command offers for the action), those this adapter takes and
    that were given (not None). An unknown adapter takes none: building it says so."""
    kind = ADAPTERS[action].get(adapter)
    if kind is None:
        return {}
    return {k: v for k, v in values.items() if k in kind.model_fields and v is not None}


def build(
    action: Action,
    adapter: str,
    options: Options | None = None,
    connections: Connections | None = None,
) -> ContainmentAdapter:
    """The adapter named `adapter` for `action`, with its settings and where it acts."""
    settings = adapter_settings(action, adapter, options)
    return settings.build(adapter, connections or Connections())
