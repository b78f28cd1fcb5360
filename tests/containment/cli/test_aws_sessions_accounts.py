"""Sessions and accounts in AWS (moto in-process), read back after apply."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from breach.case import Case
from tests.containment.conftest import by_name, receipts

pytestmark = pytest.mark.aws


def cognito_pool(*users: str) -> tuple[Any, str, str]:
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="customers")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    for user in users:
        idp.admin_create_user(UserPoolId=pool, Username=user)
        idp.admin_set_user_password(
            UserPoolId=pool, Username=user, Password="Passw0rd!x", Permanent=True
        )
    return idp, pool, client_id


def refresh_token(idp: Any, pool: str, client_id: str, user: str) -> str:
    got = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": "Passw0rd!x"},
    )
    return str(got["AuthenticationResult"]["RefreshToken"])


def refresh_works(idp: Any, pool: str, client_id: str, token: str) -> bool:
    try:
        idp.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": token},
        )
    except ClientError:
        return False
    return True


def test_cognito_global_sign_out_kills_refresh_tokens(aws: None, contain: Any) -> None:
    idp, pool, client_id = cognito_pool("alice", "bob")
    alice, bob = (refresh_token(idp, pool, client_id, u) for u in ("alice", "bob"))
    result = contain(
        "revoke-sessions",
        "--adapter",
        "cognito",
        "--user-pool-id",
        pool,
        "--target",
        "alice",
        "--target",
        "ghost",
    )
    assert result.exit_code == 1  # ghost does not exist: reported, the rest done
    targets = by_name(result.json)
    assert targets["alice"]["status"] == "ok" and targets["alice"]["request_ids"]
    assert (
        targets["ghost"]["status"] == "missing"
        and "UserNotFoundException" in targets["ghost"]["reason"]
    )
    assert result.json["status"] == "partial"
    assert result.json["summary"] == "revoked the sessions of 1 user; 1 not found (ghost)"
    assert not refresh_works(idp, pool, client_id, alice)
    assert refresh_works(idp, pool, client_id, bob)


def test_iam_role_revoke_older_sessions_policy(aws: None, contain: Any, case: Case) -> None:
    iam = boto3.client("iam")
    iam.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    cutoff = "2026-11-28T07:00:00Z"
    args = ("--adapter", "iam-role", "--target", "app", "--revoke-before", cutoff)
    dry = contain("revoke-sessions", *args, "--dry-run")
    assert dry.json["targets"][0]["change"] == f"deny tokens issued before {cutoff}"
    with pytest.raises(ClientError):
        iam.get_role_policy(RoleName="app", PolicyName="AWSRevokeOlderSessions")
    result = contain("revoke-sessions", *args)
    assert result.exit_code == 0, result.stderr
    document = iam.get_role_policy(RoleName="app", PolicyName="AWSRevokeOlderSessions")[
        "PolicyDocument"
    ]
    statement = document["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Action"] == ["*"]
    assert statement["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": cutoff}}
    assert result.json["targets"][0]["after"] == {"revoked_before": cutoff}
    assert "delete-role-policy" in result.json["undo"]
    assert result.json["operator"].startswith("arn:aws:")
    assert contain("revoke-sessions", *args).json["status"] == "noop"
    later = contain("revoke-sessions", "--adapter", "iam-role", "--target", "app")  # default: now
    assert later.json["status"] == "ok"
    assert later.json["targets"][0]["before"] == {"revoked_before": cutoff}


def test_iam_user_quarantine(aws: None, contain: Any) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="deploy")
    key = iam.create_access_key(UserName="deploy")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="deploy", Password="Passw0rd!x")
    result = contain(
        "disable-accounts", "--adapter", "iam-user", "--target", "deploy", "--target", "nobody"
    )
    assert result.exit_code == 1
    targets = by_name(result.json)
    assert targets["nobody"]["status"] == "missing"
    deploy = targets["deploy"]
    assert deploy["status"] == "ok"
    assert deploy["before"] == {
        "access_keys": {key: "Active"},
        "console_login": True,
        "quarantine_policy": False,
    }
    assert deploy["after"] == {
        "access_keys": {key: "Inactive"},
        "console_login": False,
        "quarantine_policy": True,
    }
    assert iam.list_access_keys(UserName="deploy")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_login_profile(UserName="deploy")
    policy = iam.get_user_policy(UserName="deploy", PolicyName="BreachkitQuarantine")[
        "PolicyDocument"
    ]
    assert policy["Statement"][0]["Effect"] == "Deny" and policy["Statement"][0]["Action"] == "*"
    assert f"--access-key-id {key} --status Active" in result.json["undo"]
    again = contain("disable-accounts", "--adapter", "iam-user", "--target", "deploy")
    assert again.exit_code == 0 and again.json["status"] == "noop"


def test_cognito_disable_user(aws: None, contain: Any) -> None:
    idp, pool, _ = cognito_pool("alice", "bob")
    result = contain(
        "disable-accounts", "--adapter", "cognito", "--user-pool-id", pool, "--target", "alice"
    )
    assert result.exit_code == 0, result.stderr
    assert idp.admin_get_user(UserPoolId=pool, Username="alice")["Enabled"] is False
    assert idp.admin_get_user(UserPoolId=pool, Username="bob")["Enabled"] is True
    assert result.json["targets"][0]["after"]["enabled"] is False
    assert "admin-enable-user" in result.json["undo"]
    assert (
        contain(
            "disable-accounts", "--adapter", "cognito", "--user-pool-id", pool, "--target", "alice"
        ).json["status"]
        == "noop"
    )


def test_access_denied_names_the_missing_action(
    aws: None, case: Case, breach: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A responder role that may read roles but not write policies: the step fails, with a hint."""
    from moto.core import enable_iam_authentication

    iam = boto3.client("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    iam.create_user(UserName="responder")
    read_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:GetRole", "iam:GetRolePolicy", "sts:GetCallerIdentity"],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName="responder", PolicyName="ro", PolicyDocument=json.dumps(read_only))
    creds = iam.create_access_key(UserName="responder")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    with enable_iam_authentication():
        result = breach(
            "contain",
            "revoke-sessions",
            "--case",
            str(case.root),
            "--adapter",
            "iam-role",
            "--target",
            "app",
            "--json",
        )
    assert result.exit_code == 1
    target = result.json["targets"][0]
    assert target["status"] == "failed"
    assert "AccessDenied" in target["reason"] and "PutRolePolicy" in target["reason"]
    assert target["hint"] == "the incident-response role needs iam:PutRolePolicy"
    assert result.json["status"] == "failed"
    assert receipts(case)[0]["targets"][0]["hint"].endswith("iam:PutRolePolicy")
    assert case.timeline()[-1]["result"] == "failed"


def test_unknown_adapter_and_missing_targets(breach: Any, case: Case, tmp_path: Any) -> None:
    unknown = breach(
        "contain",
        "block",
        "--case",
        str(case.root),
        "--adapter",
        "iptables",
        "--target",
        "10.0.0.1",
    )
    assert unknown.exit_code == 2
    assert (
        "unknown adapter 'iptables' for block" in unknown.stderr
        and "wafv2, nacl, security-group" in unknown.stderr
    )
    none = breach("contain", "block", "--case", str(case.root), "--adapter", "wafv2")
    assert none.exit_code == 2 and "no targets given" in none.stderr
    nofile = breach(
        "contain",
        "block",
        "--case",
        str(case.root),
        "--adapter",
        "wafv2",
        "--targets-file",
        str(tmp_path / "nope"),
    )
    assert nofile.exit_code == 2 and "targets file not found" in nofile.stderr
    need = breach(
        "contain", "block", "--case", str(case.root), "--adapter", "wafv2", "--target", "10.0.0.1"
    )
    assert need.exit_code == 2 and "needs --ip-set" in need.stderr
    for result in (unknown, none, nofile, need):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "iam:Get*",
                "iam:List*",
                "kms:Describe*",
                "kms:List*",
                "sts:GetCallerIdentity",
            ],
            "Resource": "*",
        }
    ],
}


@pytest.mark.parametrize(
    ("action", "adapter", "target"),
    [
        ("revoke-sessions", "iam-role", "app"),
        ("disable-accounts", "iam-user", "deploy"),
        ("rotate-keys", "kms", "alias/orders"),
    ],
)
def test_dry_run_needs_only_read_permissions(
    aws: None,
    breach: Any,
    case: Case,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    adapter: str,
    target: str,
) -> None:
    """With credentials that may only Get/List/Describe, a dry run plans and an apply is refused."""
    from moto.core import enable_iam_authentication

    iam = boto3.client("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    iam.create_user(UserName="deploy")
    iam.create_access_key(UserName="deploy")
    kms = boto3.client("kms")
    kms.create_alias(AliasName="alias/orders", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="ro", PolicyDocument=json.dumps(READ_ONLY))
    creds = iam.create_access_key(UserName="auditor")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    args = (
        "contain",
        action,
        "--case",
        str(case.root),
        "--adapter",
        adapter,
        "--target",
        target,
        "--json",
    )
    with enable_iam_authentication():
        dry = breach(*args, "--dry-run")
        applied = breach(*args)
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert dry.json["status"] == "planned" and dry.json["targets"][0]["status"] == "planned"
    assert applied.exit_code == 1
    assert "the incident-response role needs" in applied.json["targets"][0]["hint"]


def test_role_arn_assumes_the_incident_response_role(aws: None, contain: Any) -> None:
    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(
        RoleName="incident-response", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam.create_user(UserName="deploy")
    result = contain(
        "disable-accounts", "--adapter", "iam-user", "--target", "deploy",
        "--role-arn", role_arn, "--region", "eu-west-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert ":assumed-role/incident-response/breachkit-contain" in result.json["operator"]
    assert result.json["system"] == "aws account 123456789012 eu-west-1"
    request_ids = result.json["targets"][0]["request_ids"]
    assert len(request_ids) == 8 and len(set(request_ids)) == len(request_ids)  # 5 ok, 3 refused
