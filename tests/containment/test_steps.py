"""The contain step called as a library (no CLI): settings in, a receipt kept in the case out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from psycopg.conninfo import conninfo_to_dict

from breach.case import Case
from breach.procedure.contain import ContainResult, ContainSettings, contain
from containment.registry import (
    ADAPTERS,
    AdapterSettings,
    AppUserSettings,
    CognitoSessionSettings,
    CognitoUserSettings,
    Connections,
    IamAccessKeySettings,
    KmsSettings,
    NaclSettings,
    PostgresPasswordSettings,
    PostgresSessionSettings,
    RedisSessionSettings,
    SecretsManagerSettings,
    SecurityGroupSettings,
    WafSettings,
    adapter_settings,
    build,
)
from core.aws import AwsAccount
from core.errors import BadInput
from core.timeutil import utcnow
from tests.containment.conftest import network_acl


def run(case: Case, action: str, adapter: str, *targets: str, **values: Any) -> ContainResult:
    return contain(
        ContainSettings(
            case=str(case.root), action=action, adapter=adapter, targets=list(targets), **values
        )
    )


def sessions_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE sessions (user_id int, token text, expires_at timestamptz)")
        conn.execute(
            "INSERT INTO sessions VALUES (1, 'a', now()), (1, 'b', now()), (2, 'c', now())"
        )


def session_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM sessions").fetchone()
    return int(row[0]) if row else -1


def contain_entries(case: Case) -> list[dict[str, Any]]:
    return [e for e in case.timeline() if e["what"].startswith("contain.")]


def signing_key(path: Path) -> Path:
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.pg
def test_a_dry_run_changes_nothing_and_records_a_planned_receipt(case: Case, pg_dsn: str) -> None:
    sessions_table(pg_dsn)
    done = run(case, "revoke-sessions", "postgres", "1", "2", "3", dry_run=True, dsn=pg_dsn)
    assert session_count(pg_dsn) == 3  # nothing deleted
    receipt = done.receipt
    assert receipt.dry_run and receipt.status == "planned"
    assert receipt.summary == "would revoke 3 sessions of 2 users; 1 already done"
    assert {t.name: t.status for t in receipt.targets} == {
        "1": "planned",
        "2": "planned",
        "3": "noop",
    }
    assert done.failed == []
    assert done.path.parent == case.receipts and done.path.name.endswith(
        "-revoke-sessions-postgres-dry-run.json"
    )
    kept = json.loads(done.path.read_text())
    assert kept == receipt.model_dump(mode="json")
    assert (case.staging / "receipts" / done.path.name).is_file()  # staged as evidence too
    [entry] = contain_entries(case)
    assert entry["what"] == "contain.revoke-sessions" and entry["result"] == "planned"
    assert entry["details"]["dry_run"] is True
    assert entry["details"]["receipt"] == f"receipts/{done.path.name}"


@pytest.mark.redis
def test_an_apply_keeps_one_receipt_and_one_journal_entry(case: Case, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in ("session:alice:1", "session:alice:2", "session:bob:1", "session:carol:1"):
        client.set(key, "x")
    before = len(case.timeline())
    done = run(
        case,
        "revoke-sessions",
        "redis",
        "alice",
        "bob",
        redis_url=redis_url,
        reason="stolen cookies",
        options={"batch_size": 1},
    )
    assert sorted(k.decode() for k in client.keys("*")) == ["session:carol:1"]
    receipt = done.receipt
    assert receipt.status == "ok" and not receipt.dry_run
    assert receipt.summary == "revoked 3 sessions of 2 users"
    assert [t.after for t in receipt.targets] == [{"sessions": 0}, {"sessions": 0}]
    assert receipt.settings["batch_size"] == 1  # the adapter ran with the option given
    assert [p.name for p in case.receipts.glob("*.json")] == [done.path.name]
    assert len(case.timeline()) == before + 2  # the intent, then the outcome
    intent, entry = contain_entries(case)
    assert intent["result"] == "intent" and intent["why"] == "stolen cookies"
    assert intent["details"]["run"] == receipt.run and receipt.run in done.path.name
    assert intent["details"]["targets"] == 2 and intent["details"]["adapter"] == "redis"
    assert entry["why"] == "stolen cookies" and entry["where"] == receipt.system
    assert entry["result"] == "ok"
    assert entry["details"] == {
        "adapter": "redis",
        "summary": "revoked 3 sessions of 2 users",
        "dry_run": False,
        "operator": receipt.operator,
        "counts": {"ok": 2},
        "run": receipt.run,
        "receipt": f"receipts/{done.path.name}",
    }
    assert case.unfinished() == []


def test_a_future_since_is_refused_and_the_default_is_when_the_case_was_opened(
    case: Case, tmp_path: Path
) -> None:
    key = signing_key(tmp_path / "signer.pem")
    with pytest.raises(BadInput, match="is in the future") as refused:
        run(case, "rotate-keys", "signing-key", str(key), since=utcnow() + timedelta(hours=1))
    assert refused.value.field == "since"  # the CLI names its own flag for it
    assert list(case.receipts.glob("*.json")) == [] and contain_entries(case) == []
    first = run(case, "rotate-keys", "signing-key", str(key))
    assert first.receipt.status == "ok"
    # Rotated after the case was opened: a second run finds nothing to do (with `since` = now,
    # it would rotate again).
    again = run(case, "rotate-keys", "signing-key", str(key))
    assert again.receipt.status == "noop"
    assert len(list(tmp_path.glob("signer-*.pub.pem"))) == 1
    # A cut-off after that rotation makes it stale again.
    later = run(case, "rotate-keys", "signing-key", str(key), since=utcnow(), dry_run=True)
    assert later.receipt.status == "planned"


def test_failed_targets_are_in_the_result_not_raised(case: Case, tmp_path: Path) -> None:
    key = signing_key(tmp_path / "signer.pem")
    done = run(case, "rotate-keys", "signing-key", str(key), str(tmp_path / "ghost.pem"))
    assert done.receipt.status == "partial"
    assert [t.name for t in done.failed] == [str(tmp_path / "ghost.pem")]
    assert done.path.is_file() and contain_entries(case)[-1]["result"] == "partial"


@pytest.mark.redis
def test_an_unknown_adapter_option_is_refused_naming_the_adapter(
    case: Case, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("session:alice:1", "x")
    with pytest.raises(BadInput) as refused:
        run(
            case,
            "revoke-sessions",
            "redis",
            "alice",
            redis_url=redis_url,
            options={"preset": "django"},
        )
    assert refused.value.message == "the redis adapter takes no option 'preset'"
    assert refused.value.hint == "its options: pattern, index_key, key_prefix, batch_size"
    assert client.exists("session:alice:1") == 1
    assert list(case.receipts.glob("*.json")) == [] and contain_entries(case) == []
    with pytest.raises(BadInput, match="the signing-key adapter takes no option 'ip_set'"):
        adapter_settings("rotate-keys", "signing-key", {"ip_set": "x"})
    # Another adapter's typed settings are refused the same way.
    with pytest.raises(BadInput, match="the nacl adapter takes no option 'ip_set'"):
        adapter_settings("block", "nacl", WafSettings(ip_set="blocklist"))
    with pytest.raises(BadInput, match="the wafv2 adapter needs --ip-set"):
        adapter_settings("block", "wafv2", {"waf_scope": "CLOUDFRONT"})
    with pytest.raises(BadInput, match="the nacl adapter's first_rule: Input should be") as high:
        adapter_settings("block", "nacl", {"nacl_id": "acl-1", "first_rule": 32767})
    assert high.value.field == "first_rule"
    with pytest.raises(BadInput, match="unknown adapter 'iptables' for block"):
        adapter_settings("block", "iptables", {})


def test_the_registry_builds_each_adapter_from_typed_settings(tmp_path: Path) -> None:
    aws = AwsAccount(region="eu-west-1")
    connections = Connections(
        dsn="postgresql:///nowhere", redis_url="redis://127.0.0.1:1/0", aws=aws
    )
    typed: dict[tuple[str, str], AdapterSettings] = {
        ("revoke-sessions", "postgres"): PostgresSessionSettings(preset="django", batch_size=7),
        ("revoke-sessions", "redis"): RedisSessionSettings(index_key="idx:{user}", key_prefix="s:"),
        ("revoke-sessions", "cognito"): CognitoSessionSettings(user_pool_id="pool-1"),
        ("disable-accounts", "cognito"): CognitoUserSettings(user_pool_id="pool-2"),
        ("disable-accounts", "app-users"): AppUserSettings(
            table="members", disabled_value="locked"
        ),
        ("rotate-keys", "kms"): KmsSettings(kms_mode="replace"),
        ("rotate-keys", "iam-access-key"): IamAccessKeySettings(
            secret_destination="file:/k/{target}"
        ),
        ("rotate-keys", "secretsmanager"): SecretsManagerSettings(secret_mode="rotate"),
        ("rotate-keys", "postgres-password"): PostgresPasswordSettings(
            secret_destination="secretsmanager:db/{target}"
        ),
        ("block", "wafv2"): WafSettings(ip_set="blocklist/abc", waf_scope="CLOUDFRONT"),
        ("block", "nacl"): NaclSettings(nacl_id="acl-1", first_rule=90),
        ("block", "security-group"): SecurityGroupSettings(group_id="sg-1"),
    }
    expected = {
        "postgres": {"table": "django_session", "layout": "django", "batch_size": 7},
        "redis": {"mode": "index", "template": "idx:{user}", "key_prefix": "s:"},
        "app-users": {"table": "members", "disabled_value": "locked", "flag_column": "is_active"},
        "kms": {"mode": "replace"},
        "iam-access-key": {"secret_destination": "file:/k/{target}"},
        "secretsmanager": {"mode": "rotate"},
        "postgres-password": {"secret_destination": "secretsmanager:db/{target}"},
        "wafv2": {"ip_set": "blocklist", "ip_set_id": "abc", "scope": "CLOUDFRONT"},
        "nacl": {"nacl_id": "acl-1", "first_rule": 90},
        "security-group": {"group_id": "sg-1"},
    }
    for action, names in ADAPTERS.items():
        for name, kind in names.items():
            settings = typed.get((action, name)) or kind()
            assert isinstance(settings, kind)
            adapter = build(action, name, settings, connections)
            assert (adapter.action, adapter.name) == (action, name)
            shown = adapter.settings()
            for key, value in expected.get(name, {}).items():
                assert shown[key] == value, (name, key)
            if name == "cognito":
                assert shown == settings.model_dump()  # the pool the settings name
            assert getattr(adapter, "account", aws) is aws  # the one account object, shared


def test_a_playbooks_yaml_builds_the_same_settings(case: Case) -> None:
    yaml = pytest.importorskip("yaml")
    step = yaml.safe_load(
        f"""
        case: {case.root}
        action: block
        adapter: nacl
        targets: [203.0.113.7]
        since: 2026-11-28T07:00:00Z
        aws: {{region: eu-central-1, role_arn: "arn:aws:iam::1:role/ir"}}
        options: {{nacl_id: acl-0abc, first_rule: 50}}
        """
    )
    settings = ContainSettings.model_validate(step)
    assert settings.aws == AwsAccount(region="eu-central-1", role_arn="arn:aws:iam::1:role/ir")
    assert settings.since is not None and settings.since.tzinfo is not None
    built = adapter_settings(settings.action, settings.adapter, settings.options)
    assert built == NaclSettings(nacl_id="acl-0abc", first_rule=50)
    with pytest.raises(ValueError, match="extra"):
        ContainSettings.model_validate({**step, "nacl_id": "acl-0abc"})  # options go in options


def test_nacl_block_through_the_step(aws: None, case: Case) -> None:
    ec2, acl = network_acl((100, "allow", False, "0.0.0.0/0"), (100, "allow", True, "0.0.0.0/0"))
    done = run(case, "block", "nacl", "203.0.113.7", options={"nacl_id": acl, "first_rule": 10})
    assert done.receipt.status == "ok", done.receipt.targets[0].reason
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    denies = sorted(
        (e["RuleNumber"], e["Egress"]) for e in entries if e.get("CidrBlock") == "203.0.113.7/32"
    )
    assert denies == [(10, False), (10, True)]
    assert done.receipt.targets[0].request_ids  # every AWS call's id is on the target
    assert contain_entries(case)[-1]["details"]["counts"] == {"ok": 1}


@pytest.mark.pg
def test_libpq_variables_stand_in_for_a_missing_dsn(
    case: Case, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no DSN, PGHOST/PGDATABASE... are used (the old registry refused the empty DSN)."""
    for key, value in conninfo_to_dict(pg_dsn).items():
        monkeypatch.setenv(f"PG{key.upper()}" if key != "dbname" else "PGDATABASE", str(value))
    done = run(case, "disable-accounts", "postgres-role", "no_such_role_here", dry_run=True)
    params = conninfo_to_dict(pg_dsn)
    assert done.receipt.system.endswith(f"/{params['dbname']}")
    assert [t.status for t in done.receipt.targets] == ["missing"]
    for key in ("PGHOST", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(BadInput, match="the postgres-role adapter needs --dsn"):
        run(case, "disable-accounts", "postgres-role", "x", dry_run=True)


def test_the_settings_never_show_a_password_or_a_session(case: Case) -> None:
    """A playbook runner may log or journal a step's settings: secrets stay out."""
    account = AwsAccount(region="eu-west-1")
    account._session = object()  # a live session is not part of the settings
    settings = ContainSettings(
        case=str(case.root),
        action="revoke-sessions",
        adapter="postgres",
        dsn="postgresql://app:hunter2@db/app",
        redis_url="redis://:s3cret@cache:6379/0",
        aws=account,
    )
    shown = settings.model_dump_json() + repr(settings)
    assert "hunter2" not in shown and "s3cret" not in shown
    dumped = settings.model_dump(mode="json")["aws"]
    assert dumped["region"] == "eu-west-1" and dumped["profile"] is None
    assert not [key for key in dumped if key.startswith("_")]
    assert AwsAccount(**dumped) == AwsAccount(region="eu-west-1")  # the same options again
    assert settings.aws is account  # the step acts through the account it was given
