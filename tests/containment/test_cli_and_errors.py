"""Human output, the journal entry, and how AWS errors read."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from core.aws import translate


def client_error(code: str, message: str, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "r-1"},
    }
    return ClientError(response, operation)


def test_access_denied_reads_as_one_line_with_the_action() -> None:
    err = translate(
        client_error("AccessDeniedException", "User x is not authorized", "UpdateIPSet")
    )
    assert err.diagnostics() == (
        "UpdateIPSet: AccessDeniedException: User x is not authorized "
        "(hint: the incident-response role needs wafv2:UpdateIPSet)"
    )
    assert err.code == "AccessDeniedException" and err.request_id == "r-1" and err.exit_code == 1
    xml = "<?xml version='1.0'?><ErrorResponse><Error><Code>AccessDenied</Code><Message>nope</Message></Error></ErrorResponse>"
    wrapped = translate(client_error("403", xml, "DisableKey"))
    assert (
        wrapped.code == "AccessDenied"
        and wrapped.hint == "the incident-response role needs kms:DisableKey"
    )
    other = translate(client_error("NoSuchEntity", "no user", "GetUser"))
    assert other.hint is None and other.message == "GetUser: NoSuchEntity: no user"


def test_every_adapter_is_registered_under_its_own_action() -> None:
    """Each name --adapter takes builds an adapter of that action that satisfies the Protocol."""
    from containment import ADAPTERS, Connections, ContainmentAdapter, build

    options = {
        "user_pool_id": "us-east-1_x",
        "secret_destination": "file:/tmp/{target}",
        "ip_set": "blocklist",
        "nacl_id": "acl-1",
        "group_id": "sg-1",
    }
    connections = Connections(dsn="postgresql:///nowhere", redis_url="redis://127.0.0.1:1/0")
    expected = {
        "revoke-sessions": {"postgres", "redis", "cognito", "iam-role"},
        "disable-accounts": {"iam-user", "cognito", "postgres-role", "app-users"},
        "rotate-keys": {
            "kms",
            "iam-access-key",
            "secretsmanager",
            "postgres-password",
            "signing-key",
        },
        "block": {"wafv2", "nacl", "security-group"},
    }
    assert {action: set(names) for action, names in ADAPTERS.items()} == expected
    for action, names in expected.items():
        for name in names:
            kind = ADAPTERS[action][name]  # type: ignore[index]
            own = {k: v for k, v in options.items() if k in kind.model_fields}
            adapter = build(action, name, own, connections)  # type: ignore[arg-type]
            assert isinstance(adapter, ContainmentAdapter)
            assert (adapter.action, adapter.name) == (action, name)


def test_a_long_target_list_shows_every_problem_and_only_the_first_calm_targets() -> None:
    from containment.interface import TargetResult
    from containment.run import SHOWN_TARGETS, targets_to_show

    targets = [TargetResult(name=f"u{n}", status="ok") for n in range(100)]
    targets[70] = TargetResult(name="u70", status="failed", reason="permission denied")
    targets[90] = TargetResult(name="u90", status="missing")
    shown, hidden = targets_to_show(targets)
    assert [t.name for t in shown] == [f"u{n}" for n in range(SHOWN_TARGETS)] + ["u70", "u90"]
    assert hidden == 100 - len(shown)
