"""The evidence locker as a library: push, list, fetch, hold and verify/decrypt from a store.

Every test runs against the three stores: a local folder, moto in-process, and moto's threaded
server on 127.0.0.1 (through endpoint_url); lock state is read back with boto3 itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breach.procedure import locker
from breach.procedure.bundle import (
    DecryptSettings,
    SealSettings,
    VerifySettings,
    decrypt,
    seal,
    verify,
)
from core.aws import AwsCallFailed
from core.errors import BadInput, StepFailed
from evidence.stores.interface import ChecksumMismatch, StoredObject
from manifests import bagit
from manifests.keys import GeneratedKeys, generate

# Every store; the server (moto over HTTP on 127.0.0.1, as --endpoint-url reaches it) for the
# tests that move the most bytes and lock state, the others in-process to keep the suite fast.
EVERY = pytest.mark.parametrize("store", ["local", "moto", "server"], indirect=True)
IN_PROCESS = pytest.mark.parametrize("store", ["local", "moto"], indirect=True)
S3_ONLY = pytest.mark.parametrize("store", ["moto", "server"], indirect=True)
BUCKET = "evidence-locker"
PREFIX = "ir"


@dataclass
class Locker:
    kind: str
    uri: str
    endpoint: str | None
    s3: Any  # a boto3 client reading the bucket behind breachkit's back (None: a folder)
    keys: GeneratedKeys  # the custodian's: every access is signed with them
    sealer_pub: Path  # the sealer's public key, from outside any bundle

    def args(self, **more: Any) -> dict[str, Any]:
        return {
            "store": self.uri,
            "endpoint_url": self.endpoint,
            "signing_key": self.keys.signing_key,
            **more,
        }

    def reading(self, **more: Any) -> dict[str, Any]:
        """args() plus the trust a verifying read needs: the sealer's key for the statement,
        the custodian's for the store's custody entries (keys have roles)."""
        trust = {"pubkeys": [self.sealer_pub], "custody_trust": [self.keys.signing_pub]}
        return self.args(**trust, **more)

    @property
    def canonical(self) -> str:
        """The URI the store reports (a folder's is file:// and absolute)."""
        return f"file://{Path(self.uri).resolve()}" if self.s3 is None else self.uri

    def key(self, bundle_id: str, name: str) -> str:
        return f"{PREFIX}/{bundle_id}/{name}"

    def versions(self, bundle_id: str) -> dict[str, list[str]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=BUCKET, Prefix=f"{PREFIX}/{bundle_id}/"
        )
        found: dict[str, list[str]] = {}
        for page in pages:
            for v in page.get("Versions", []):
                found.setdefault(v["Key"].split("/", 2)[2], []).append(v["VersionId"])
        return found

    def tamper(self, bundle_id: str, name: str) -> None:
        """Replace an object's content behind the locker's back."""
        if self.s3 is None:
            path = Path(self.uri) / bundle_id / name
            path.chmod(0o644)
            path.write_bytes(b"forged" + path.read_bytes()[6:])
        else:  # a new version on top: what someone with write access to the bucket can do
            self.s3.put_object(Bucket=BUCKET, Key=self.key(bundle_id, name), Body=b"forged")


def _make_bucket(client: Any, locked: bool = True, name: str = BUCKET) -> None:
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)


@pytest.fixture
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sealer: GeneratedKeys,
) -> Locker:
    import boto3

    import evidence.stores.s3 as s3_store

    # 5 MiB parts (S3's minimum) so that the 5 MiB + 4 KiB artifact goes up as a multipart upload.
    monkeypatch.setattr(s3_store, "PART_SIZE", 5 << 20)
    keys = generate(tmp_path / "custodian")
    if request.param == "local":
        return Locker("local", str(tmp_path / "locker"), None, None, keys, sealer.signing_pub)
    if request.param == "moto":
        request.getfixturevalue("aws")
        client, endpoint = boto3.client("s3"), None
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        client = boto3.client("s3", endpoint_url=endpoint)
    _make_bucket(client)
    return Locker(
        request.param, f"s3://{BUCKET}/{PREFIX}", endpoint, client, keys, sealer.signing_pub
    )


@pytest.fixture
def sealer(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "sealer")


@pytest.fixture
def sealed(tmp_path: Path, sealer: GeneratedKeys) -> Path:
    src = tmp_path / "evidence"
    (src / "logs").mkdir(parents=True)
    (src / "logs" / "access.log").write_text("10.0.0.1 GET /admin 200\n" * 100)
    (src / "users.csv").write_text("id,email\n1,a@example.com\n")
    (src / "disk.img").write_bytes(os.urandom((5 << 20) + 4096))
    out = tmp_path / "bundles" / "b1"
    seal(
        SealSettings(
            source=src,
            out=out,
            incident="INC-13",
            recipients=[str(sealer.age_recipient)],
            signing_key=sealer.signing_key,
        )
    )
    return out


def _bundle_id(bundle: Path) -> str:
    return locker._bundle_id(bundle)


def _files(bundle: Path) -> dict[str, str]:
    return locker._expected_files(bundle)


def _log(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "custody.jsonl").read_text().splitlines()]


# -- push -------------------------------------------------------------------------------------
@EVERY
def test_push_stores_every_object_locked_checked_and_recorded(store: Locker, sealed: Path) -> None:
    pushed = locker.push(
        locker.PushSettings(bundle=sealed, retain_days=30, legal_hold=True, **store.args())
    )
    bundle_id = _bundle_id(sealed)
    expected = _files(sealed)
    custody = [f"custody/{i:08d}.json" for i in range(2)]  # sealed, then stored
    assert sorted(pushed.uploaded) == sorted([*expected, *custody[:1]])
    assert pushed.custody_seq == 1
    stored = _log(sealed)[-1]
    assert stored["event"] == "stored" and stored["details"]["store"] == store.canonical
    assert stored["details"]["custodian_keyid"] == stored["signature"]["keyid"]
    soon = datetime.now(UTC) + timedelta(days=29)
    if store.s3 is None:
        assert stored["who"] == "tester@breachkit"  # the operator at this host
        for name, digest in expected.items():
            path = Path(store.uri) / bundle_id / name
            assert path.stat().st_mode & 0o777 == 0o444
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert (Path(store.uri) / bundle_id / custody[1]).read_bytes().rstrip(b"\n") == (
            sealed / "custody.jsonl"
        ).read_bytes().splitlines()[-1]
        return
    versions = {o["key"]: o["version_id"] for o in stored["details"]["objects"]}
    for name, digest in [*expected.items()]:
        key = store.key(bundle_id, name)
        head = store.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] > soon
        assert head["VersionId"] == versions[name]
        hold = store.s3.get_object_legal_hold(Bucket=BUCKET, Key=key, VersionId=head["VersionId"])
        assert hold["LegalHold"]["Status"] == "ON"
        body = store.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest
        if len(body) <= 5 << 20:
            assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    line = store.s3.get_object(Bucket=BUCKET, Key=store.key(bundle_id, custody[1]))["Body"].read()
    assert json.loads(line) == stored
    assert stored["who"].startswith("arn:aws:")  # the AWS caller identity
    for name in custody:  # custody entries are locked objects too
        head = store.s3.head_object(Bucket=BUCKET, Key=store.key(bundle_id, name))
        assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockLegalHoldStatus"] == "ON"


@IN_PROCESS
def test_push_again_sends_nothing_and_records_nothing(store: Locker, sealed: Path) -> None:
    first = locker.push(locker.PushSettings(bundle=sealed, retain_days=1, **store.args()))
    again = locker.push(locker.PushSettings(bundle=sealed, retain_days=1, **store.args()))
    assert first.uploaded and again.uploaded == []
    assert sorted(again.already_stored) == sorted(_files(sealed))
    assert again.custody_seq is None and len(_log(sealed)) == 2
    if store.s3 is not None:
        assert all(len(v) == 1 for v in store.versions(first.bundle_id).values())


@EVERY
def test_interrupted_push_resumes_without_sending_anything_twice(
    store: Locker, sealed: Path
) -> None:
    sent: list[str] = []

    def crash_after_third(key: str) -> None:
        sent.append(key)
        if len(sent) == 3:
            raise KeyboardInterrupt("killed mid-push")

    settings = locker.PushSettings(bundle=sealed, retain_days=1, **store.args())
    with pytest.raises(KeyboardInterrupt):
        locker.push(settings, after_object=crash_after_third)
    assert [e["event"] for e in _log(sealed)] == ["sealed"]  # nothing marked stored
    resumed = locker.push(settings)
    assert set(resumed.uploaded).isdisjoint(sent)
    everything = {*_files(sealed), "custody/00000000.json"}
    assert set(resumed.uploaded) | set(sent) == everything
    assert sorted(resumed.already_stored) == sorted(sent)
    if store.s3 is not None:
        assert all(len(v) == 1 for v in store.versions(resumed.bundle_id).values())
    got = locker.fetch(
        locker.FetchSettings(
            bundle_id=resumed.bundle_id,
            out=sealed.parent / "got",
            reason="check",
            **store.reading(),
        )
    )
    assert got.verification.ok, got.verification.failed


@IN_PROCESS
def test_a_file_that_differs_from_its_manifest_is_not_stored(store: Locker, sealed: Path) -> None:
    victim = next((sealed / "data").glob("users*"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"!")
    with pytest.raises(ChecksumMismatch, match=r"users\.csv\.age"):
        locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    assert [e["event"] for e in _log(sealed)] == ["sealed"]
    name = f"data/{victim.name}"
    if store.s3 is None:
        assert not (Path(store.uri) / _bundle_id(sealed) / name).exists()
    else:
        assert name not in store.versions(_bundle_id(sealed))


@S3_ONLY  # a folder has no Object Lock to check
def test_unlocked_bucket_is_refused_naming_the_fix(store: Locker, sealed: Path) -> None:
    assert store.s3 is not None
    _make_bucket(store.s3, locked=False, name="plain-bucket")
    args = store.args(store="s3://plain-bucket/ir")
    with pytest.raises(BadInput, match="no Object Lock") as caught:
        locker.push(locker.PushSettings(bundle=sealed, **args))
    assert "put-object-lock-configuration" in (caught.value.hint or "")
    assert "Contents" not in store.s3.list_objects_v2(Bucket="plain-bucket")
    pushed = locker.push(locker.PushSettings(bundle=sealed, allow_unlocked=True, **args))
    assert pushed.lock["object_lock"] is False and pushed.uploaded


@IN_PROCESS
def test_a_case_bundle_push_is_journaled_intent_first(store: Locker, tmp_path: Path) -> None:
    from breach.case import Case
    from breach.procedure.incident import OpenSettings, open_case

    sealer = generate(tmp_path / "case-keys")
    opened = open_case(OpenSettings(incident_id="INC-77", severity="P2", title="t"))
    case = Case.load(opened.case)
    case.stage_path("notes.txt").write_text("what happened\n")
    sealed = seal(
        SealSettings(
            case=str(case.root),
            recipients=[str(sealer.age_recipient)],
            signing_key=sealer.signing_key,
        )
    )
    locker.push(locker.PushSettings(bundle=sealed.bundle, reason="retention", **store.args()))
    pushes = [e for e in Case.load(case.root).timeline() if e["what"] == "locker.push"]
    assert [e["result"] for e in pushes] == ["intent", "ok"]
    assert pushes[1]["details"]["custody_seq"] == 1 and pushes[1]["where"] == store.canonical


# -- list, fetch, hold ------------------------------------------------------------------------
@IN_PROCESS
def test_list_shows_each_bundle_and_records_the_access(store: Locker, sealed: Path) -> None:
    pushed = locker.push(locker.PushSettings(bundle=sealed, retain_days=7, **store.args()))
    shown = locker.list_bundles(locker.ListSettings(reason="inventory", **store.args()))
    [summary] = shown.bundles
    assert summary.bundle_id == pushed.bundle_id and summary.incident == "INC-13"
    assert summary.signer_keyid == _log(sealed)[0]["signature"]["keyid"]
    files = [*_files(sealed), "custody.jsonl"]  # two entries, stored as two objects
    assert summary.size == sum((sealed / name).stat().st_size for name in files)
    assert summary.legal_hold == "off"
    assert summary.retain_until is not None and summary.created_at
    assert locker.list_bundles(locker.ListSettings(incident="INC-0", **store.args())).bundles == []
    got = locker.fetch(
        locker.FetchSettings(
            bundle_id=pushed.bundle_id, out=sealed.parent / "got", reason="r", **store.reading()
        )
    )
    events = [e["event"] for e in _log(got.bundle)]
    assert events == ["sealed", "stored", "accessed", "accessed"]
    assert _log(got.bundle)[2]["why"] == "inventory"


@EVERY
def test_fetch_checks_verifies_and_reports_lock(
    store: Locker, sealed: Path, tmp_path: Path
) -> None:
    pushed = locker.push(
        locker.PushSettings(bundle=sealed, retain_days=3, legal_hold=True, **store.args())
    )
    got = locker.fetch(
        locker.FetchSettings(
            bundle_id=pushed.bundle_id,
            out=tmp_path / "legal",
            reason="counsel review",
            **store.reading(),
        )
    )
    assert got.verification.ok and got.legal_hold == "on" and got.retain_until
    assert got.bundle == tmp_path / "legal" / pushed.bundle_id
    for name, digest in _files(sealed).items():
        assert hashlib.sha256((got.bundle / name).read_bytes()).hexdigest() == digest
    last = _log(got.bundle)[-1]
    assert last["event"] == "accessed" and last["why"] == "counsel review"
    assert last["details"]["verification"] == "passed"


@IN_PROCESS
@pytest.mark.parametrize("name", ["data", bagit.PAYLOAD_MANIFEST, "custody/00000000.json"])
def test_a_tampered_object_fails_the_fetch_naming_it(
    store: Locker, sealed: Path, tmp_path: Path, name: str
) -> None:
    pushed = locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    if name == "data":
        name = next(k for k in _files(sealed) if "users" in k)
    store.tamper(pushed.bundle_id, name)
    with pytest.raises(StepFailed, match=name.replace(".", r"\.")):
        locker.fetch(
            locker.FetchSettings(
                bundle_id=pushed.bundle_id, out=tmp_path / "legal", reason="r", **store.reading()
            )
        )
    assert list((tmp_path / "legal").iterdir()) == []  # nothing half-fetched left as evidence
    with pytest.raises(StepFailed, match=name.replace(".", r"\.")):
        verify(VerifySettings(bundle=Path(pushed.bundle_id), **store.reading()))


@IN_PROCESS
def test_fetch_of_an_unknown_bundle_is_bad_input(store: Locker, tmp_path: Path) -> None:
    if store.s3 is None:
        Path(store.uri).mkdir()
    with pytest.raises(BadInput, match="no bundle INC-404"):
        locker.fetch(
            locker.FetchSettings(
                bundle_id="INC-404-x", out=tmp_path / "o", reason="r", **store.reading()
            )
        )
    for hostile in ("../etc", "INC-404-x\n"):  # a trailing newline is no bundle id either
        with pytest.raises(BadInput, match="not a bundle id"):
            locker.fetch(
                locker.FetchSettings(
                    bundle_id=hostile, out=tmp_path / "o", reason="r", **store.reading()
                )
            )


@EVERY
def test_hold_on_and_off_every_version_read_back(store: Locker, sealed: Path) -> None:
    pushed = locker.push(locker.PushSettings(bundle=sealed, retain_days=1, **store.args()))
    on = locker.hold(
        locker.HoldSettings(
            bundle_id=pushed.bundle_id, state="on", reason="case 1:26-cv", **store.args()
        )
    )
    assert on.objects and all(o.legal_hold for o in on.objects)
    _assert_hold(store, pushed.bundle_id, "ON")
    off = locker.hold(
        locker.HoldSettings(
            bundle_id=pushed.bundle_id, state="off", reason="released", **store.args()
        )
    )
    assert not any(o.legal_hold for o in off.objects)
    _assert_hold(store, pushed.bundle_id, "OFF")
    got = locker.fetch(
        locker.FetchSettings(
            bundle_id=pushed.bundle_id, out=sealed.parent / "got", reason="r", **store.reading()
        )
    )
    events = [(e["event"], e.get("why")) for e in _log(got.bundle)]
    assert events[2:4] == [("legal-hold-on", "case 1:26-cv"), ("legal-hold-off", "released")]


def _assert_hold(store: Locker, bundle_id: str, status: str) -> None:
    if store.s3 is None:
        locks = Path(store.uri) / ".locks" / bundle_id
        states = {
            p.relative_to(locks).as_posix()[:-5]: json.loads(p.read_text())["legal_hold"]
            for p in locks.rglob("*.json")
        }
        assert states and all(v == (status == "ON") for v in states.values())
        return
    for key, versions in store.versions(bundle_id).items():
        for version in versions:
            answer = store.s3.get_object_legal_hold(
                Bucket=BUCKET, Key=store.key(bundle_id, key), VersionId=version
            )
            # moto answers no Status for a version that never had a hold: that is OFF
            assert answer["LegalHold"].get("Status", "OFF") == status, key


@IN_PROCESS
def test_a_dropped_custody_tail_is_caught_against_the_store(store: Locker, sealed: Path) -> None:
    pushed = locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    log = sealed / "custody.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))  # the "stored" entry dropped
    with pytest.raises(StepFailed, match="lost its tail"):
        locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    log.write_bytes(b"".join(lines))
    locker.list_bundles(locker.ListSettings(**store.args()))  # an access, stored as a new entry
    with pytest.raises(StepFailed, match="lost its tail"):
        locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    assert pushed.custody_seq == 1


@IN_PROCESS
def test_verify_and_decrypt_from_the_store_are_recorded(
    store: Locker, sealed: Path, sealer: GeneratedKeys, tmp_path: Path
) -> None:
    pushed = locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    checked = verify(VerifySettings(bundle=Path(pushed.bundle_id), **store.reading()))
    assert checked.ok and checked.custody is not None and checked.custody.event == "verified"
    with pytest.raises(BadInput, match="reason"):
        decrypt(
            DecryptSettings(
                bundle=Path(pushed.bundle_id),
                identity=sealer.age_identity,
                out=tmp_path / "plain",
                **store.reading(),
            )
        )
    opened = decrypt(
        DecryptSettings(
            bundle=Path(pushed.bundle_id),
            identity=sealer.age_identity,
            out=tmp_path / "plain",
            reason="counsel review",
            **store.reading(),
        )
    )
    assert (tmp_path / "plain" / "users.csv").read_text().startswith("id,email")
    assert opened.custody.event == "decrypted" and opened.custody.why == "counsel review"
    got = locker.fetch(
        locker.FetchSettings(
            bundle_id=pushed.bundle_id, out=tmp_path / "got", reason="r", **store.reading()
        )
    )
    assert [e["event"] for e in _log(got.bundle)][2:] == ["verified", "decrypted", "accessed"]


# -- AccessDenied -----------------------------------------------------------------------------
@pytest.fixture
def act_as_clerk(aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """After the call, moto checks every request against IAM, and the caller is a clerk who may
    read the locker but not set a legal hold. (moto authorizes PutObjectLegalHold as
    s3:PutObject, so the clerk has neither; the explicit Deny is what AWS itself checks.)"""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    iam = boto3.client("iam")
    iam.create_user(UserName="clerk")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:Get*", "s3:List*", "sts:GetCallerIdentity"],
                "Resource": "*",
            },
            {"Effect": "Deny", "Action": "s3:PutObjectLegalHold", "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName="clerk", PolicyName="p", PolicyDocument=json.dumps(policy))
    creds = iam.create_access_key(UserName="clerk")["AccessKey"]
    _make_bucket(boto3.client("s3"))

    def switch() -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)

    return switch


def test_access_denied_on_legal_hold_is_one_line_naming_the_permission(
    act_as_clerk: Callable[[], None], sealed: Path, tmp_path: Path
) -> None:
    keys = generate(tmp_path / "custodian")
    args = {"store": f"s3://{BUCKET}/{PREFIX}", "signing_key": keys.signing_key}
    pushed = locker.push(locker.PushSettings(bundle=sealed, **args))
    act_as_clerk()
    with pytest.raises(AwsCallFailed) as caught:
        locker.hold(locker.HoldSettings(bundle_id=pushed.bundle_id, state="on", reason="r", **args))
    assert caught.value.code == "AccessDenied"
    assert caught.value.message.startswith("PutObjectLegalHold: AccessDenied")
    assert "s3:PutObjectLegalHold" in (caught.value.hint or "")
    import boto3
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # read back as the bucket's owner
    s3 = boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing")
    for version in s3.list_object_versions(Bucket=BUCKET)["Versions"]:
        hold = s3.get_object_legal_hold(
            Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"]
        )
        assert hold["LegalHold"].get("Status", "OFF") == "OFF"


@IN_PROCESS
def test_entries_recorded_after_the_push_are_stored_as_new_objects(
    store: Locker, sealed: Path, sealer: GeneratedKeys
) -> None:
    from breach.procedure.bundle import CustodyRecordSettings, custody_record

    pushed = locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    before = {
        o.key: (o.version_id, o.sha256)
        for o in locker._open(_settings(store)).objects(pushed.bundle_id)
    }
    custody_record(
        CustodyRecordSettings(
            bundle=sealed, event="transferred", to="outside counsel", signing_key=sealer.signing_key
        )
    )
    again = locker.push(locker.PushSettings(bundle=sealed, **store.args()))
    assert again.uploaded == ["custody/00000002.json"] and again.custody_seq == 3
    after = {
        o.key: (o.version_id, o.sha256)
        for o in locker._open(_settings(store)).objects(pushed.bundle_id)
    }
    assert {k: after[k] for k in before} == before  # nothing written over
    assert sorted(set(after) - set(before)) == ["custody/00000002.json", "custody/00000003.json"]


def _settings(store: Locker) -> locker.ListSettings:
    return locker.ListSettings(**store.args())


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000 + b"]" * 100_000, b'{"seq": 1, "seq": 1, "prev": "x"}', b"[1]", b"\xff"],
    ids=["nested deep", "a key twice", "not an object", "not text"],
)
def test_a_hostile_custody_object_is_reported_changed_never_a_crash(
    tmp_path: Path, data: bytes
) -> None:
    """The store's custody objects are read as the untrusted input they are: JSON nested past
    the parser's depth, a key given twice (which value counts?), or not an entry at all is a
    changed entry, named, never an internal error."""
    from evidence.stores.local import LocalStore

    store = LocalStore(tmp_path / "locker")
    uri = f"{tmp_path}/locker/b1/custody/00000001.json"
    stored = StoredObject(
        "custody/00000001.json", uri, len(data), None, None, None, None, None, None
    )
    assert locker._custody_problems(store, stored, data, 1, "x") == [
        f"{uri}: custody entry 1 was changed (it does not link to the one before)"
    ]
