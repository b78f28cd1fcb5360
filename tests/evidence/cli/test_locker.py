"""`breach bundle push | list | fetch | hold` and `breach verify|decrypt --store`, driven as a
user does: against a folder and against moto's server on 127.0.0.1 through --endpoint-url, with
the lock state read back by boto3 itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from manifests.keys import GeneratedKeys, generate

BUCKET = "legal-locker"


@dataclass
class Store:
    uri: str
    flags: list[str]
    s3: Any  # boto3 client on the server, None for a folder

    def tamper(self, bundle_id: str, name: str) -> None:
        if self.s3 is None:
            path = Path(self.uri) / bundle_id / name
            path.chmod(0o644)
            path.write_bytes(b"forged")
        else:
            self.s3.put_object(Bucket=BUCKET, Key=f"ev/{bundle_id}/{name}", Body=b"forged")


@pytest.fixture(params=["folder", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        return Store(str(tmp_path / "locker"), [], None)
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return Store(f"s3://{BUCKET}/ev", ["--endpoint-url", endpoint], s3)


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


@pytest.fixture
def sealed(breach: Any, tmp_path: Path, keys: GeneratedKeys) -> tuple[Path, str]:
    src = tmp_path / "evidence"
    src.mkdir()
    (src / "users.csv").write_text("id,email\n1,a@example.com\n")
    (src / "dump.bin").write_bytes(os.urandom(300_000))
    out = tmp_path / "bundle"
    sealing = ["-r", keys.age_recipient, "--signing-key", keys.signing_key]
    done = breach("seal", src, "--out", out, "--incident", "INC-9", *sealing, "--json")
    assert done.exit_code == 0, done.stderr
    return out, done.json["id"]


def _run(breach: Any, store: Store, keys: GeneratedKeys, *args: Any) -> Any:
    return breach(*args, "--store", store.uri, *store.flags, "--signing-key", keys.signing_key)


def _trust(keys: GeneratedKeys) -> list[Any]:
    """One key sealed and signs the accesses here: trusted in both roles, given in both."""
    return ["--pubkey", keys.signing_pub, "--custody-trust", keys.signing_pub]


def test_push_list_hold_fetch_verify_decrypt(
    breach: Any, store: Store, keys: GeneratedKeys, sealed: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, bundle_id = sealed
    pushed = _run(breach, store, keys, "bundle", "push", bundle, "--retain-days", "5", "--mode", "compliance", "--legal-hold", "--json")  # fmt: skip
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.json["bundle_id"] == bundle_id and pushed.json["custody_seq"] == 1
    if store.s3 is not None:
        for o in pushed.json["objects"]:
            key = f"ev/{bundle_id}/{o['key']}"
            head = store.s3.head_object(Bucket=BUCKET, Key=key, VersionId=o["version_id"])
            assert head["ObjectLockMode"] == "COMPLIANCE"
            assert head["ObjectLockLegalHoldStatus"] == "ON"
    listed = _run(breach, store, keys, "bundle", "list", "--incident", "INC-9", "--json")
    assert listed.exit_code == 0, listed.stderr
    [row] = listed.json["bundles"]
    assert row["bundle_id"] == bundle_id and row["legal_hold"] == "on" and row["retain_until"]
    off = _run(breach, store, keys, "bundle", "hold", "off", bundle_id, "--reason", "released")
    assert off.exit_code == 0, off.stderr
    assert "legal hold off" in off.stdout
    if store.s3 is not None:
        for v in store.s3.list_object_versions(Bucket=BUCKET)["Versions"]:
            answer = store.s3.get_object_legal_hold(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])  # fmt: skip
            assert answer["LegalHold"].get("Status", "OFF") == "OFF"
    got = _run(breach, store, keys, "bundle", "fetch", bundle_id, "--out", tmp_path / "legal", "--reason", "review", *_trust(keys))  # fmt: skip
    assert got.exit_code == 0, got.stderr
    assert got.stdout.startswith("VERIFIED") and "legal hold off" in got.stdout
    checked = _run(breach, store, keys, "verify", bundle_id, *_trust(keys), "--json")  # fmt: skip
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert checked.json["ok"] is True
    opened = _run(breach, store, keys, "decrypt", bundle_id, "-i", keys.age_identity, "--out", tmp_path / "plain", "--reason", "counsel", *_trust(keys))  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    assert (tmp_path / "plain" / "users.csv").read_text().startswith("id,email")
    shown = breach("custody", "show", tmp_path / "legal" / bundle_id, "--json")
    events = [e["event"] for e in shown.json]
    assert events == ["sealed", "stored", "accessed", "legal-hold-off", "accessed"]


def test_a_tampered_store_fails_fetch_and_verify_naming_the_object(
    breach: Any, store: Store, keys: GeneratedKeys, sealed: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, bundle_id = sealed
    assert _run(breach, store, keys, "bundle", "push", bundle).exit_code == 0
    store.tamper(bundle_id, "data/users.csv.age")
    got = _run(breach, store, keys, "bundle", "fetch", bundle_id, "--out", tmp_path / "o", "--reason", "r", *_trust(keys))  # fmt: skip
    assert got.exit_code == 1
    assert "data/users.csv.age" in got.stderr and "Traceback" not in got.stderr
    assert not (tmp_path / "o" / bundle_id).exists()
    checked = _run(breach, store, keys, "verify", bundle_id, *_trust(keys))
    assert checked.exit_code == 1 and "data/users.csv.age" in checked.stderr


def test_bad_input_is_one_line_exit_2(
    breach: Any, store: Store, keys: GeneratedKeys, sealed: tuple[Path, str], tmp_path: Path
) -> None:
    unknown = _run(breach, store, keys, "bundle", "fetch", "INC-0-nothing", "--out", tmp_path / "o", "--reason", "r", *_trust(keys))  # fmt: skip
    assert unknown.exit_code == 2 and "no bundle INC-0-nothing" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    no_reason = _run(breach, store, keys, "bundle", "hold", "on", "INC-0-nothing")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    unsigned = breach("bundle", "push", sealed[0], "--store", store.uri, *store.flags)
    assert unsigned.exit_code == 2 and "--signing-key" in unsigned.stderr


def test_an_unlocked_bucket_is_refused_unless_allowed(
    breach: Any, moto_endpoint: str, keys: GeneratedKeys, sealed: tuple[Path, str]
) -> None:
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="plain")
    store = Store("s3://plain/ev", ["--endpoint-url", moto_endpoint], None)
    refused = _run(breach, store, keys, "bundle", "push", sealed[0])
    assert refused.exit_code == 2
    assert "no Object Lock" in refused.stderr and "--allow-unlocked" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    allowed = _run(breach, store, keys, "bundle", "push", sealed[0], "--allow-unlocked")
    assert allowed.exit_code == 0, allowed.stderr


def test_a_fetch_that_fails_verification_exits_1_and_says_so(
    breach: Any, store: Store, keys: GeneratedKeys, sealed: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, bundle_id = sealed
    assert _run(breach, store, keys, "bundle", "push", bundle).exit_code == 0
    stranger = generate(tmp_path / "stranger")  # the only key trusted: not the sealer's
    got = _run(breach, store, keys, "bundle", "fetch", bundle_id, "--out", tmp_path / "o", "--reason", "r", "--pubkey", stranger.signing_pub)  # fmt: skip
    assert got.exit_code == 1
    assert "NOT VERIFIED" in got.stdout and "signer identity" in got.stdout
    assert "NOT VERIFIED" in got.stderr
