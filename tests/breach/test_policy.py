"""`policy_for`: what each step of the shipped playbooks needs, from the plug-ins' declarations,
scoped to the resources the inputs name, '*' with a note where none is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breach.playbook.model import load
from breach.playbook.policy import policy_for
from containment.registry import ADAPTERS
from core.aws import IAM_ACTIONS, translate
from core.errors import BadInput

ROOT = Path(__file__).parents[2]
DATA_BREACH = load(ROOT / "playbooks" / "data-breach.yaml")
CREDENTIAL = load(ROOT / "playbooks" / "credential-compromise.yaml")

STORE = {
    "s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning", "s3:ListBucket",
    "s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:GetObjectLegalHold",
    "s3:GetObjectRetention", "s3:PutObjectLegalHold",
}  # fmt: skip
DATA_BREACH_ACTIONS = {
    "cloudtrail": {"s3:ListBucket", "s3:GetObject"},
    "rotate-keys": {"kms:DescribeKey", "kms:ListKeyRotations", "kms:RotateKeyOnDemand"},
    "block-ips": {"wafv2:ListIPSets", "wafv2:GetIPSet", "wafv2:UpdateIPSet"},
    "push": STORE,
}
CREDENTIAL_ACTIONS = {
    "cloudtrail": {"s3:ListBucket", "s3:GetObject"},
    "replace-access-key": {
        "iam:ListAccessKeys",
        "iam:CreateAccessKey",
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "secretsmanager:PutSecretValue",
        "secretsmanager:CreateSecret",
        "secretsmanager:GetSecretValue",
    },
    "revoke-role-sessions": {"iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"},
    "push": STORE,
}
INPUTS = {
    "trail_bucket": "s3://org-trail/AWSLogs",
    "kms_key": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "waf_ip_set": "attackers/a1b2c3",
    "evidence_store": "s3://evidence-locker/bundles",
    "iam_user": "svc-reporting",
    "iam_role": "app-reporting",
    "new_key_destination": "secretsmanager:ir/{target}",
    "database_roles": "svc_reporting",
    "role": "svc_reporting",
}


def by_step(policy: Any) -> dict[str, set[str]]:
    return {s.step: {p.action for p in s.aws} for s in policy.steps if s.aws}


def resources(policy: Any, step: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for p in next(s for s in policy.steps if s.step == step).aws:
        found.setdefault(p.action, set()).add(p.resource)
    return found


@pytest.mark.parametrize(
    ("playbook", "expected"),
    [(DATA_BREACH, DATA_BREACH_ACTIONS), (CREDENTIAL, CREDENTIAL_ACTIONS)],
    ids=["data-breach", "credential-compromise"],
)
def test_each_step_needs_exactly_what_its_plug_ins_call(playbook: Any, expected: Any) -> None:
    assert by_step(policy_for(playbook, {})) == expected


def test_resources_are_the_ones_the_inputs_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("BREACH_AWS_ACCOUNT", "111122223333")
    breach = policy_for(DATA_BREACH, {k: v for k, v in INPUTS.items() if k in DATA_BREACH.inputs})
    assert resources(breach, "cloudtrail") == {
        "s3:ListBucket": {"arn:aws:s3:::org-trail"},
        "s3:GetObject": {"arn:aws:s3:::org-trail/AWSLogs/*"},
    }
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert resources(breach, "rotate-keys") == {
        a: {key} for a in DATA_BREACH_ACTIONS["rotate-keys"]
    }
    waf = resources(breach, "block-ips")
    assert waf["wafv2:UpdateIPSet"] == {"arn:aws:wafv2:eu-west-1:111122223333:regional/ipset/attackers/*"}  # fmt: skip
    push = resources(breach, "push")
    assert push["s3:GetBucketVersioning"] == {"arn:aws:s3:::evidence-locker"}
    assert push["s3:PutObject"] == {"arn:aws:s3:::evidence-locker/bundles/*"}
    assert breach.notes() == []
    assert all(s["Resource"] != "*" for s in breach.iam_policy()["Statement"][:-1])


def test_iam_targets_and_secret_destinations_are_scoped() -> None:
    found = policy_for(CREDENTIAL, {k: v for k, v in INPUTS.items() if k in CREDENTIAL.inputs})
    keys = resources(found, "replace-access-key")
    assert keys["iam:CreateAccessKey"] == {"arn:aws:iam::*:user/svc-reporting"}
    assert keys["secretsmanager:CreateSecret"] == {"arn:aws:secretsmanager:*:*:secret:ir/svc-reporting-*"}  # fmt: skip
    role = resources(found, "revoke-role-sessions")
    assert role["iam:PutRolePolicy"] == {"arn:aws:iam::*:role/app-reporting"}
    arn = "arn:aws:iam::111122223333:role/app-reporting"
    given = policy_for(CREDENTIAL, {"iam_role": arn})
    assert resources(given, "revoke-role-sessions")["iam:GetRole"] == {arn}


def test_a_resource_not_named_is_a_star_with_a_note_saying_which_input_scopes_it() -> None:
    found = policy_for(DATA_BREACH, {"trail_bucket": "s3://org-trail"})
    assert resources(found, "rotate-keys")["kms:DescribeKey"] == {"*"}
    notes = found.notes()
    assert any(n.startswith("rotate-keys: Resource * for kms:DescribeKey") and "--set kms_key=" in n for n in notes)  # fmt: skip
    assert not any(n.startswith("cloudtrail:") for n in notes)
    # An alias names no key: the key behind it is any key, said so.
    alias = policy_for(DATA_BREACH, {"kms_key": "alias/customer-data"})
    assert resources(alias, "rotate-keys")["kms:DescribeKey"] == {"*"}


def test_a_statement_never_gives_an_action_another_actions_resource() -> None:
    policy = policy_for(CREDENTIAL, {k: v for k, v in INPUTS.items() if k in CREDENTIAL.inputs})
    statements = policy.iam_policy()["Statement"]
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in s["Action"])]
    assert len(secrets) == 1 and all(a.startswith("secretsmanager:") for a in secrets[0]["Action"])
    assert statements[-1] == {
        "Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*",
    }  # fmt: skip
    assert len({s["Sid"] for s in statements}) == len(statements)


def test_the_postgres_grants_of_the_data_breach_playbook() -> None:
    grants = policy_for(DATA_BREACH, {}).pg_grants("breach_responder")
    assert grants == [
        "GRANT USAGE ON SCHEMA public TO breach_responder;",
        "GRANT SELECT ON TABLE public.audit_log TO breach_responder;  -- export-audit",
        "GRANT SELECT ON TABLE public.customers TO breach_responder;  -- snapshot",
        "GRANT SELECT ON TABLE public.payments TO breach_responder;  -- snapshot",
        "GRANT SELECT, DELETE ON TABLE public.sessions TO breach_responder;"
        "  -- snapshot, revoke-sessions",
        "GRANT SELECT ON TABLE public.users TO breach_responder;  -- snapshot",
        "ALTER ROLE breach_responder CREATEROLE;  -- disable-role",
        "GRANT pg_signal_backend TO breach_responder;  -- disable-role",
        "GRANT pg_read_all_stats TO breach_responder;  -- disable-role",
    ]


def test_table_names_are_read_as_the_collectors_read_them_and_quoted() -> None:
    odd = policy_for(DATA_BREACH, {"audit_table": 'app."Audit.Log"', "tables": "orders"})
    grants = odd.pg_grants("r")
    assert 'GRANT SELECT ON TABLE app."Audit.Log" TO r;  -- export-audit' in grants
    assert "GRANT SELECT ON TABLE public.orders TO r;  -- snapshot" in grants
    assert "GRANT USAGE ON SCHEMA app TO r;" in grants
    with pytest.raises(BadInput, match="not a plain role name"):
        odd.pg_grants("r; DROP TABLE users")


def test_every_declared_call_is_an_action_the_hint_names_too() -> None:
    """One truth: the action a declaration grants is the one an AccessDenied hint asks for."""
    for adapters in ADAPTERS.values():
        for settings in adapters.values():
            for call in settings.aws_calls:
                service, _, operation = call.call.partition(":")
                assert call.action.startswith(f"{service}:") or service == "s3"
                if operation in IAM_ACTIONS:
                    assert IAM_ACTIONS[operation] == call.action
    denied = type("E", (Exception,), {})()
    denied.response = {"Error": {"Code": "AccessDenied", "Message": "no"}}
    denied.operation_name = "HeadObject"
    assert translate(denied).hint == (
        "the incident-response role needs s3:GetObject "
        "(and s3:GetObjectRetention, s3:GetObjectLegalHold)"
    )


CLOUD = """\
name: cloud
description: cloud evidence
inputs:
  since: {description: start}
steps:
  - id: open
    kind: incident.open
    with: {incident_id: INC-2026-0001, severity: P1, title: t, policy: "${env.BREACH_POLICY}"}
  - id: logs
    kind: evidence.cloudwatch
    needs: [open]
    with: {log_groups: [/vpc/flow, app], since: "${inputs.since}", until: now, format: lines}
  - id: alb
    kind: evidence.s3-logs
    needs: [open]
    with: {prefix: "s3://alb-logs/AWSLogs/1", since: "${inputs.since}", until: now}
  - id: snaps
    kind: evidence.cloud-snapshot
    needs: [open]
    with: {rds_instances: [shop-db], copy_to: [eu-west-2]}
"""


def test_cloud_collectors_scope_to_their_log_groups_and_bucket_and_ask_only_what_is_used(
    tmp_path: Path,
) -> None:
    book = tmp_path / "cloud.yaml"
    book.write_text(CLOUD)
    found = policy_for(load(book), {})
    logs = resources(found, "logs")
    assert logs["logs:GetLogEvents"] == {
        "arn:aws:logs:*:*:log-group:/vpc/flow:log-stream:*",
        "arn:aws:logs:*:*:log-group:app:log-stream:*",
    }
    assert "ec2:DescribeFlowLogs" not in logs  # format: lines reads no flow log fields
    assert resources(found, "alb") == {
        "s3:ListBucket": {"arn:aws:s3:::alb-logs"},
        "s3:GetObject": {"arn:aws:s3:::alb-logs/AWSLogs/1*"},
    }
    assert by_step(found)["snaps"] == {
        "rds:DescribeDBInstances", "rds:CreateDBSnapshot", "rds:AddTagsToResource",
        "rds:DescribeDBSnapshots", "rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot",
        "ec2:CopySnapshot",
    }  # fmt: skip


def test_every_step_kind_says_where_its_needs_are_declared() -> None:
    """A new kind must declare what it calls (or be known to need nothing): else its policy
    would silently leave it out."""
    from breach.playbook.kinds import KINDS
    from breach.playbook.policy import DECLARED_BY, NEEDS_NOTHING

    contain = {k for k, kind in KINDS.items() if kind.phase == "contain"}
    assert set(KINDS) == set(DECLARED_BY) | contain | NEEDS_NOTHING
    assert not set(DECLARED_BY) & NEEDS_NOTHING


SIGNED_AND_SNS = """\
name: signed
description: a KMS-signed seal and an SNS notice
steps:
  - id: open
    kind: incident.open
    with: {incident_id: INC-2026-0001, severity: P1, title: t, policy: p.toml}
  - id: seal
    kind: seal
    needs: [open]
    with: {kms_key: 1234abcd-0000-0000-0000-000000000000}
  - id: page
    kind: notify.send
    needs: [open]
    with:
      notice: internal
      to: [security]
      channel: {type: sns, topic_arn: "arn:aws:sns:eu-west-1:111122223333:security"}
"""


def test_kms_signing_and_an_sns_channel_are_scoped_to_their_key_and_topic(tmp_path: Path) -> None:
    book = tmp_path / "signed.yaml"
    book.write_text(SIGNED_AND_SNS)
    found = policy_for(load(book), {})
    key = "arn:aws:kms:*:*:key/1234abcd-0000-0000-0000-000000000000"
    assert resources(found, "seal") == {"kms:GetPublicKey": {key}, "kms:Sign": {key}}
    topic = {"sns:Publish": {"arn:aws:sns:eu-west-1:111122223333:security"}}
    assert resources(found, "page") == topic
