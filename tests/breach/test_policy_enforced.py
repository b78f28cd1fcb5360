"""The derived policy is enough, and each action in it is needed: the AWS steps of the shipped
playbooks run through the runner (the procedure functions `breach run` calls) against moto with
IAM enforcement on, as a user holding exactly `breach playbook policy`'s policy.

moto checks resources only for S3 (bucket and object ARNs) and for IAM calls naming a role; for
every other service it checks the action against Resource "*". So statements of those other
services are given Resource "*" here (their scoping is checked by the unit tests), while S3 and
IAM-role statements keep their scoped ARNs: a wrong ARN there fails the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from breach.playbook.model import load
from breach.playbook.policy import policy_for
from core.timeutil import rfc3339, utcnow
from tests.breach.playbookrun import PLAYBOOKS, inputs_of, reduced, run, said

RESPONDER = "incident-responder"
MOTO_SCOPES = ("s3:", "iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy")


@pytest.fixture
def world(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sandbox's AWS side in moto (in-process), a signing key, and the incident's inputs."""
    from breach.procedure.keys import GenerateKeysSettings, generate_keys
    from breach.procedure.sandbox import POLICY
    from breach.sandbox import seed

    now = utcnow().replace(microsecond=0)
    made = seed.seed_aws(None, now)  # type: ignore[arg-type]  # in-process: no endpoint
    keys = generate_keys(GenerateKeysSettings(out=tmp_path / "keys"))
    legal = generate_keys(GenerateKeysSettings(out=tmp_path / "legal", name="legal"))
    (tmp_path / "policy.toml").write_text(POLICY)
    monkeypatch.setenv("BREACH_POLICY", str(tmp_path / "policy.toml"))
    monkeypatch.setenv("BREACH_SIGNING_KEY", str(keys.signing_key))
    return {
        "incident_id": "INC-2026-0099",
        "since": rfc3339(now - timedelta(days=2)),
        "until": rfc3339(now),
        "trail_bucket": f"s3://{seed.TRAIL_BUCKET}",
        "waf_ip_set": seed.WAF_IP_SET,
        "kms_key": made["kms_key"],
        "attacker_ips": ",".join(seed.ATTACKER_IPS),
        "evidence_store": f"s3://{seed.EVIDENCE_BUCKET}/bundles",
        "recipients": str(legal.age_recipient),
        "iam_user": seed.IAM_USER,
        "iam_role": seed.IAM_ROLE,
        "new_key_destination": "secretsmanager:ir/{target}",
    }


def as_moto_checks(policy: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]  # fmt: skip
        scoped = all(a.startswith(MOTO_SCOPES) for a in actions)
        statements.append({**statement, "Resource": statement["Resource"] if scoped else "*"})
    return {**policy, "Statement": statements}


@pytest.fixture
def responder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Give the responder a policy, then act as the responder with enforcement on."""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    iam = boto3.client("iam")
    iam.create_user(UserName=RESPONDER)
    key = iam.create_access_key(UserName=RESPONDER)["AccessKey"]

    def act_with(policy: dict[str, Any]) -> None:
        iam.put_user_policy(
            UserName=RESPONDER, PolicyName="breach-playbook", PolicyDocument=json.dumps(policy)
        )
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)

    yield act_with


@pytest.mark.parametrize("name", sorted(PLAYBOOKS))
def test_every_aws_step_runs_with_only_the_derived_policy(
    name: str, world: dict[str, Any], responder: Any, tmp_path: Path
) -> None:
    book, aws = reduced(name, tmp_path)
    policy = policy_for(load(PLAYBOOKS[name]), inputs_of(PLAYBOOKS[name], world)).iam_policy()
    assert all(s["Resource"] != "*" for s in policy["Statement"] if s["Sid"] != "WhoAmI")
    responder(as_moto_checks(policy))
    steps = run(book, tmp_path / "case", world)
    assert {i: s.state for i, s in steps.items() if i in aws} == dict.fromkeys(aws, "done")
    assert steps["push"].outputs["uri"].startswith(world["evidence_store"])


# One action of each AWS step (of those moto checks), taken away: that step fails naming it.
REMOVED = [
    ("data-breach", "cloudtrail", "s3:ListBucket"),
    ("data-breach", "rotate-keys", "kms:RotateKeyOnDemand"),
    ("data-breach", "block-ips", "wafv2:UpdateIPSet"),
    ("data-breach", "push", "s3:PutObject"),
    ("credential-compromise", "cloudtrail", "s3:GetObject"),
    ("credential-compromise", "replace-access-key", "iam:CreateAccessKey"),
    ("credential-compromise", "replace-access-key", "secretsmanager:CreateSecret"),
    ("credential-compromise", "revoke-role-sessions", "iam:PutRolePolicy"),
]


def without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = [a for a in statement["Action"] if a != action]
        if actions:
            statements.append({**statement, "Action": actions})
    return {**policy, "Statement": statements}


@pytest.mark.parametrize(("name", "step", "action"), REMOVED)
def test_an_action_taken_away_fails_its_step_naming_it(
    name: str, step: str, action: str, world: dict[str, Any], responder: Any, tmp_path: Path
) -> None:
    book, aws = reduced(name, tmp_path)
    policy = policy_for(load(PLAYBOOKS[name]), inputs_of(PLAYBOOKS[name], world)).iam_policy()
    assert action in json.dumps(policy)
    responder(without(as_moto_checks(policy), action))
    steps = run(book, tmp_path / "case", world)
    assert steps[step].state == "failed"
    assert f"needs {action}" in said(steps[step], tmp_path / "case")
    others = [i for i in aws if i != step and step not in load(book).upstream(i)]
    assert {i: steps[i].state for i in others} == dict.fromkeys(others, "done")
