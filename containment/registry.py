"""Adapter names, as `--adapter` takes them, and how each is built from the user's options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from containment.interface import Action, ContainmentAdapter
from core.aws import AwsAccount
from core.errors import BadInput


@dataclass
class AdapterOptions:
    """Everything any adapter may need; each takes what it uses and names what is missing."""

    dsn: str | None = None
    redis_url: str | None = None
    aws: AwsAccount = field(default_factory=AwsAccount)
    # sessions
    preset: str = "generic"
    table: str | None = None
    user_column: str | None = None
    key_column: str | None = None
    pattern: str | None = None
    index_key: str | None = None
    key_prefix: str = ""
    batch_size: int = 1000
    user_pool_id: str | None = None
    # accounts
    id_column: str = "id"
    flag_column: str = "is_active"
    disabled_value: str = "false"
    # keys
    kms_mode: str = "rotate"
    secret_mode: str = "new-version"
    secret_destination: str | None = None
    # block
    ip_set: str | None = None
    waf_scope: str = "REGIONAL"
    nacl_id: str | None = None
    first_rule: int = 1
    group_id: str | None = None


def _need(value: str | None, flag: str, adapter: str) -> str:
    if not value:
        raise BadInput(f"the {adapter} adapter needs {flag}")
    return value


def _pg_sessions(o: AdapterOptions) -> ContainmentAdapter:
    from containment.sessions.postgres import PRESETS, PostgresSessions, SessionTable

    if o.preset not in PRESETS:
        raise BadInput(f"unknown session preset {o.preset!r}", hint="generic or django")
    base = PRESETS[o.preset]
    layout = SessionTable(
        table=o.table or base.table,
        user_column=o.user_column or base.user_column,
        key_column=o.key_column or base.key_column,
        layout=base.layout,
    )
    return PostgresSessions(_need(o.dsn, "--dsn", "postgres"), layout, o.batch_size)


def _redis_sessions(o: AdapterOptions) -> ContainmentAdapter:
    from containment.sessions.redis import RedisSessions

    return RedisSessions(
        _need(o.redis_url, "--redis-url", "redis"),
        pattern=o.pattern,
        index_key=o.index_key,
        key_prefix=o.key_prefix,
        batch_size=o.batch_size,
    )


def _cognito_sessions(o: AdapterOptions) -> ContainmentAdapter:
    from containment.sessions.cognito import CognitoSessions

    return CognitoSessions(o.aws, o.user_pool_id)


def _iam_role_sessions(o: AdapterOptions) -> ContainmentAdapter:
    from containment.sessions.iam_role import IamRoleSessions

    return IamRoleSessions(o.aws)


def _iam_users(o: AdapterOptions) -> ContainmentAdapter:
    from containment.accounts.iam_user import IamUsers

    return IamUsers(o.aws)


def _cognito_users(o: AdapterOptions) -> ContainmentAdapter:
    from containment.accounts.cognito import CognitoUsers

    return CognitoUsers(o.aws, o.user_pool_id)


def _pg_roles(o: AdapterOptions) -> ContainmentAdapter:
    from containment.accounts.postgres_role import PostgresRoles

    return PostgresRoles(_need(o.dsn, "--dsn", "postgres-role"))


def _app_users(o: AdapterOptions) -> ContainmentAdapter:
    from containment.accounts.app_users import AppUsers

    return AppUsers(
        _need(o.dsn, "--dsn", "app-users"),
        table=o.table or "users",
        id_column=o.id_column,
        flag_column=o.flag_column,
        disabled_value=o.disabled_value,
    )


def _kms(o: AdapterOptions) -> ContainmentAdapter:
    from containment.keys.kms import KmsKeys

    return KmsKeys(o.aws, o.kms_mode)


def _iam_access_keys(o: AdapterOptions) -> ContainmentAdapter:
    from containment.keys.destination import require
    from containment.keys.iam_access_key import IamAccessKeys

    return IamAccessKeys(o.aws, require(o.secret_destination, "iam-access-key", o.aws))


def _secrets(o: AdapterOptions) -> ContainmentAdapter:
    from containment.keys.secretsmanager import SecretsManagerSecrets

    return SecretsManagerSecrets(o.aws, o.secret_mode)


def _pg_passwords(o: AdapterOptions) -> ContainmentAdapter:
    from containment.keys.destination import require
    from containment.keys.postgres_password import PostgresPasswords

    dsn = _need(o.dsn, "--dsn", "postgres-password")
    return PostgresPasswords(dsn, require(o.secret_destination, "postgres-password", o.aws))


def _signing_keys(o: AdapterOptions) -> ContainmentAdapter:
    from containment.keys.signing_key import SigningKeys

    return SigningKeys()


def _wafv2(o: AdapterOptions) -> ContainmentAdapter:
    from containment.block.wafv2 import WafIpSet

    return WafIpSet(o.aws, o.ip_set, o.waf_scope)


def _nacl(o: AdapterOptions) -> ContainmentAdapter:
    from containment.block.nacl import NetworkAcl

    return NetworkAcl(o.aws, o.nacl_id, o.first_rule)


def _security_group(o: AdapterOptions) -> ContainmentAdapter:
    from containment.block.security_group import SecurityGroupRules

    return SecurityGroupRules(o.aws, o.group_id)


Factory = Callable[[AdapterOptions], ContainmentAdapter]

ADAPTERS: dict[Action, dict[str, Factory]] = {
    "revoke-sessions": {
        "postgres": _pg_sessions,
        "redis": _redis_sessions,
        "cognito": _cognito_sessions,
        "iam-role": _iam_role_sessions,
    },
    "disable-accounts": {
        "iam-user": _iam_users,
        "cognito": _cognito_users,
        "postgres-role": _pg_roles,
        "app-users": _app_users,
    },
    "rotate-keys": {
        "kms": _kms,
        "iam-access-key": _iam_access_keys,
        "secretsmanager": _secrets,
        "postgres-password": _pg_passwords,
        "signing-key": _signing_keys,
    },
    "block": {"wafv2": _wafv2, "nacl": _nacl, "security-group": _security_group},
}


def build(action: Action, adapter: str, options: AdapterOptions) -> ContainmentAdapter:
    """The adapter named `adapter` for `action`, or one line naming the ones there are."""
    known = ADAPTERS[action]
    if adapter not in known:
        raise BadInput(
            f"unknown adapter {adapter!r} for {action}", hint=f"one of: {', '.join(known)}"
        )
    return known[adapter](options)
