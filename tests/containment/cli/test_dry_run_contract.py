"""The contract every adapter keeps, checked on all of them: a dry run only reads (AWS credentials
allowed only Get/List/Describe, a read-only PostgreSQL session, a Redis user without write
commands), the apply then changes exactly the planned targets, and a second apply has nothing
to do."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import psycopg
import pytest

from breach.case import Case
from core.timeutil import utcnow
from tests.containment.conftest import by_name, network_acl, security_group

READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "sts:GetCallerIdentity",
                "iam:Get*",
                "iam:List*",
                "kms:Describe*",
                "kms:List*",
                "cognito-idp:AdminGetUser",
                "secretsmanager:Describe*",
                "secretsmanager:List*",
                "secretsmanager:GetSecretValue",
                "wafv2:Get*",
                "wafv2:List*",
                "ec2:Describe*",
            ],
            "Resource": "*",
        }
    ],
}


def _cognito_pool() -> list[str]:
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="customers")["UserPool"]["Id"]
    idp.admin_create_user(UserPoolId=pool, Username="alice")
    return ["--user-pool-id", pool, "--target", "alice"]


def _iam_role() -> list[str]:
    boto3.client("iam").create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    # A fixed cutoff: the default (now) moves on, and a later run denies the newer tokens too.
    return ["--target", "app", "--revoke-before", "2026-11-28T07:00:00Z"]


def _iam_user() -> list[str]:
    iam = boto3.client("iam")
    iam.create_user(UserName="deploy")
    iam.create_access_key(UserName="deploy")
    iam.create_login_profile(UserName="deploy", Password="Xy9!long-enough")
    return ["--target", "deploy"]


def _kms() -> list[str]:
    kms = boto3.client("kms")
    kms.create_alias(AliasName="alias/orders", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    return ["--target", "alias/orders"]


def _iam_access_key() -> list[str]:
    iam = boto3.client("iam")
    iam.create_user(UserName="ci")
    iam.create_access_key(UserName="ci")
    time.sleep(1.001 - utcnow().microsecond / 1e6)  # IAM dates are whole seconds
    since = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return ["--target", "ci", "--since", since, "--secret-destination", "secretsmanager:k/{target}"]


def _secret() -> list[str]:
    boto3.client("secretsmanager").create_secret(Name="db/app", SecretString="old-value-123456")
    return ["--target", "db/app"]


def _wafv2() -> list[str]:
    boto3.client("wafv2").create_ip_set(
        Name="blocklist", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[]
    )
    return ["--ip-set", "blocklist", "--target", "203.0.113.0/24"]


def _nacl() -> list[str]:
    _, acl = network_acl()
    return ["--nacl-id", acl, "--target", "203.0.113.0/24"]


def _security_group() -> list[str]:
    _, group = security_group((22, ["203.0.113.7/32"]))
    return ["--group-id", group, "--target", "203.0.113.7"]


AWS_ADAPTERS: list[tuple[str, str, Callable[[], list[str]]]] = [
    ("revoke-sessions", "cognito", _cognito_pool),
    ("revoke-sessions", "iam-role", _iam_role),
    ("disable-accounts", "iam-user", _iam_user),
    ("disable-accounts", "cognito", _cognito_pool),
    ("rotate-keys", "kms", _kms),
    ("rotate-keys", "iam-access-key", _iam_access_key),
    ("rotate-keys", "secretsmanager", _secret),
    ("block", "wafv2", _wafv2),
    ("block", "nacl", _nacl),
    ("block", "security-group", _security_group),
]


def _planned(result: Any) -> set[str]:
    return {t["name"] for t in result.json["targets"] if t["status"] == "planned"}


def _done(result: Any) -> set[str]:
    return {t["name"] for t in result.json["targets"] if t["status"] == "ok"}


@pytest.mark.aws
@pytest.mark.parametrize(
    ("action", "adapter", "setup"), AWS_ADAPTERS, ids=[f"{a}-{b}" for a, b, _ in AWS_ADAPTERS]
)
def test_aws_dry_run_reads_only_then_apply_does_the_plan_once(
    aws: None,
    contain: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    adapter: str,
    setup: Callable[[], list[str]],
) -> None:
    from moto.core import enable_iam_authentication

    args = ["--adapter", adapter, *setup()]
    iam = boto3.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="ro", PolicyDocument=json.dumps(READ_ONLY))
    creds = iam.create_access_key(UserName="auditor")["AccessKey"]
    with monkeypatch.context() as env, enable_iam_authentication():
        env.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
        env.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
        dry = contain(action, *args, "--dry-run")
        refused = contain(action, *args)
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert dry.json["status"] == "planned" and _planned(dry)
    assert refused.exit_code == 1  # the same credentials may not change anything
    assert refused.json["targets"][0]["hint"].startswith("the incident-response role needs ")

    applied = contain(action, *args)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert _done(applied) == _planned(dry)  # exactly what the dry run planned
    again = contain(action, *args)
    assert again.exit_code == 0
    if adapter == "cognito" and action == "revoke-sessions":
        return  # Cognito cannot list tokens: a sign-out is always repeated (docs/containment.md)
    assert again.json["status"] == "noop" and again.json["summary"].startswith("nothing to do")


@pytest.fixture
def pg_tables(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sessions (user_id int, token text, expires_at timestamptz);"
            "INSERT INTO sessions SELECT g % 3, md5(g::text), now() FROM generate_series(1, 9) g;"
            "CREATE TABLE users (id int PRIMARY KEY, is_active boolean NOT NULL DEFAULT true);"
            "INSERT INTO users VALUES (1), (2);"
        )
        role = f"bk_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'old-password'")
    return role


def _pg_state(dsn: str, role: str) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        return (
            conn.execute("SELECT user_id, count(*) FROM sessions GROUP BY 1 ORDER BY 1").fetchall(),
            conn.execute("SELECT id, is_active FROM users ORDER BY id").fetchall(),
            conn.execute(
                "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", (role,)
            ).fetchone(),
        )


def _read_only(dsn: str) -> str:
    """The same server, but every transaction read-only: any write the plan tried would fail."""
    return psycopg.conninfo.make_conninfo(dsn, options="-c default_transaction_read_only=on")


def test_pg_dry_runs_read_only_then_apply_does_the_plan_once(
    contain: Any, pg_dsn: str, pg_tables: str, tmp_path: Any
) -> None:
    role = pg_tables
    password = f"file:{tmp_path}/{{target}}.pw"
    runs = [
        ("revoke-sessions", ["--adapter", "postgres", "--target", "1", "--target", "2"]),
        ("disable-accounts", ["--adapter", "app-users", "--target", "1", "--target", "2"]),
        ("disable-accounts", ["--adapter", "postgres-role", "--target", role]),
        (
            "rotate-keys",
            ["--adapter", "postgres-password", "--target", role, "--secret-destination", password],
        ),
    ]
    before = _pg_state(pg_dsn, role)
    for action, args in runs:
        dry = contain(action, *args, "--dsn", _read_only(pg_dsn), "--dry-run")
        assert dry.exit_code == 0 and dry.json["status"] == "planned", dry.stdout + dry.stderr
        refused = contain(action, *args, "--dsn", _read_only(pg_dsn))
        assert refused.exit_code == 1 and "read-only transaction" in refused.stdout
        assert _pg_state(pg_dsn, role) == before, f"{action} {args[1]} changed something"
        applied = contain(action, *args, "--dsn", pg_dsn)
        assert applied.exit_code == 0 and _done(applied) == _planned(dry), applied.stdout
        again = contain(action, *args, "--dsn", pg_dsn)
        assert again.exit_code == 0 and again.json["status"] == "noop", again.stdout
        before = _pg_state(pg_dsn, role)
    sessions, users, (can_login, _) = before
    assert sessions == [(0, 3)] and users == [(1, False), (2, False)] and not can_login


def test_redis_dry_run_needs_no_write_command(contain: Any, redis_url: str, case: Case) -> None:
    import redis

    admin = redis.Redis.from_url(redis_url)
    for n in range(3):
        admin.set(f"session:alice:{n}", "x")
        admin.sadd("user_sessions:bob", f"tok-bob-{n}")
        admin.set(f"tok-bob-{n}", "x")
    user = f"bk-ro-{uuid.uuid4().hex[:8]}"
    admin.acl_setuser(
        user,
        enabled=True,
        passwords=["+ro-pass"],
        keys=["*"],
        commands=["+@read", "+@connection", "-@write", "-@dangerous"],
    )
    read_only_url = redis_url.replace("redis://", f"redis://{user}:ro-pass@")
    try:
        for args in (
            ["--target", "alice"],
            ["--index-key", "user_sessions:{user}", "--target", "bob"],
        ):
            common = ["--adapter", "redis", *args]
            keys = admin.dbsize()
            dry = contain("revoke-sessions", *common, "--redis-url", read_only_url, "--dry-run")
            assert dry.exit_code == 0 and dry.json["status"] == "planned", dry.stderr
            refused = contain("revoke-sessions", *common, "--redis-url", read_only_url)
            assert refused.exit_code == 1 and "no permissions to run" in refused.stdout
            # The refused command's arguments are session keys (bearer tokens): never recorded.
            assert "session:alice:" not in refused.stdout and "tok-bob-" not in refused.stdout
            assert admin.dbsize() == keys  # nothing changed
            applied = contain("revoke-sessions", *common, "--redis-url", redis_url)
            assert applied.exit_code == 0 and _done(applied) == _planned(dry)
            assert (
                contain("revoke-sessions", *common, "--redis-url", redis_url).json["status"]
                == "noop"
            )
        assert admin.dbsize() == 0
        assert "ro-pass" not in (case.root / "journal" / "journal.jsonl").read_text()
        assert by_name(dry.json)["bob"]["count"] == 3
    finally:
        admin.acl_deluser(user)
