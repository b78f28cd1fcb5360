"""Human output, the journal entry, and how AWS errors read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from breach.case import Case


def test_human_output_and_journal(breach: Any, case: Case, tmp_path: Path) -> None:
    key = tmp_path / "signer.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    args = (
        "contain",
        "rotate-keys",
        "--case",
        str(case.root),
        "--adapter",
        "signing-key",
        "--target",
        str(key),
    )
    dry = breach(*args, "--dry-run", "--reason", "signer exposed on build host")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.startswith("dry run: would rotate 1 key")
    assert "generate a new Ed25519 key beside it" in dry.stdout and "receipt: " in dry.stdout
    assert not list(tmp_path.glob("signer-*.pem"))  # a dry run writes no key
    entry = case.timeline()[-1]
    assert entry["what"] == "contain.rotate-keys" and entry["result"] == "planned"
    assert entry["why"] == "signer exposed on build host"
    assert entry["details"]["dry_run"] is True and entry["details"]["receipt"].endswith(
        "-dry-run.json"
    )
    assert (case.root / entry["details"]["receipt"]).is_file()
    done = breach(*args)
    assert done.exit_code == 0 and done.stdout.startswith("rotated 1 key")
    assert "undo: keep signing with the old key" in done.stdout
    assert len(list(tmp_path.glob("signer-*.pub.pem"))) == 1


def test_unreachable_aws_and_missing_credentials_are_one_line_exit_2(
    breach: Any, case: Case, aws_env: None, monkeypatch: Any
) -> None:
    args = (
        "contain",
        "disable-accounts",
        "--case",
        str(case.root),
        "--adapter",
        "iam-user",
        "--target",
        "x",
    )
    down = breach(*args, "--endpoint-url", "http://127.0.0.1:1")
    assert down.exit_code == 2 and "cannot reach AWS" in down.stderr
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bare = breach(*args, "--endpoint-url", "http://127.0.0.1:1")
    assert bare.exit_code == 2 and "no AWS credentials" in bare.stderr
    for result in (down, bare):
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(case.receipts.glob("*.json")) == []


def test_help_names_every_registered_adapter(breach: Any) -> None:
    """`--adapter`'s help lists the registry's names (written out so --help imports no library)."""
    from containment import ADAPTERS

    for action, names in ADAPTERS.items():
        shown = breach("contain", action, "--help")
        assert shown.exit_code == 0
        text = "".join(shown.stdout.split())  # help wraps lines, even inside app-users
        assert f"Oneof:{','.join(names)}." in text


def test_summary_counts_missing_targets_apart_from_done_ones(aws: None, contain: Any) -> None:
    import boto3

    boto3.client("iam").create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    args = ("--adapter", "iam-role", "--revoke-before", "2026-11-28T07:00:00Z", "--target")
    first = contain("revoke-sessions", *args, "app", "--target", "ghost")
    assert first.exit_code == 1
    assert first.json["summary"] == "revoked the sessions of 1 role; 1 not found (ghost)"
    again = contain("revoke-sessions", *args, "app", "--target", "ghost")
    assert again.json["summary"] == "nothing to do for 1 role; 1 not found (ghost)"
    ghost = contain("revoke-sessions", *args, "ghost")
    assert ghost.exit_code == 1 and ghost.json["summary"] == "nothing done; 1 not found (ghost)"
    assert ghost.json["targets"][0]["change"] == ""  # nothing was done to it
    dry = contain("revoke-sessions", *args, "ghost", "--dry-run")
    assert dry.json["summary"] == "nothing planned; 1 not found (ghost)"


def test_rotate_keys_refuses_a_since_in_the_future(contain: Any, case: Case) -> None:
    """Every key would count as stale, so each apply would rotate again."""
    result = contain(
        "rotate-keys",
        "--adapter",
        "signing-key",
        "--target",
        "k.pem",
        "--since",
        "2999-01-01T00:00:00Z",
    )
    assert result.exit_code == 2 and "is in the future" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(case.receipts.glob("*.json")) == []


def test_profile_picks_credentials_and_region_from_the_aws_files(
    aws: None, contain: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import boto3

    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile ir]\nregion = eu-central-1\n")
    credentials.write_text("[ir]\naws_access_key_id = AKIAIR\naws_secret_access_key = ir-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    boto3.client("iam").create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)  # only the profile names a region and keys now
    args = ("--adapter", "iam-role", "--target", "app")
    result = contain("revoke-sessions", *args, "--profile", "ir")
    assert result.exit_code == 0, result.stderr
    assert result.json["system"].endswith("eu-central-1")
    nowhere = contain("revoke-sessions", *args, "--profile", "absent")
    assert nowhere.exit_code == 2 and "AWS profile 'absent' not found" in nowhere.stderr
