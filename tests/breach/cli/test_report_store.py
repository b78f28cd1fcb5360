"""`breach report --store URI BUNDLE_ID`: the bundle fetched from the evidence locker (a local
folder, and S3 Object Lock on moto's threaded server through --endpoint-url), checked on the way,
the access recorded in the store, and reported with its retention and legal hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breach.procedure import locker
from tests.breach.test_report import build_case, statement_of

BUCKET = "report-locker"


@pytest.fixture(params=["local", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the bundle is pushed: the URI, and the flags `breach` needs to reach it."""
    if request.param == "local":
        return {"uri": str(tmp_path / "locker"), "flags": [], "endpoint": None}
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return {"uri": f"s3://{BUCKET}/ir", "flags": ["--endpoint-url", endpoint], "endpoint": endpoint}


def test_a_stored_bundle_is_fetched_checked_and_reported_with_its_lock(
    breach, tmp_path: Path, store: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    pushed = locker.push(
        locker.PushSettings(
            bundle=built.first,
            store=store["uri"],
            retain_days=30,
            legal_hold=True,
            signing_key=built.keys.signing_key,
            endpoint_url=store["endpoint"],
        )
    )
    out = tmp_path / "report.html"
    args = ["report", "--store", store["uri"], pushed.bundle_id, "--out", out]
    args += ["--pubkey", built.keys.signing_pub, "--signing-key", built.keys.signing_key]
    args += ["--custody-trust", built.keys.signing_pub]  # who signed the custody entries
    args += ["--reason", "counsel's review", *store["flags"], "--json"]
    done = breach(*args)
    assert done.exit_code == 0, done.stderr
    assert done.json["verdict"] == "verified" and done.json["bundle"] == pushed.bundle_id
    html = out.read_text(encoding="utf-8")
    assert f"{pushed.store}/{pushed.bundle_id}" in html
    assert "<tr><th>Legal hold</th><td>on</td></tr>" in html
    assert pushed.objects[0].retain_until and pushed.objects[0].retain_until[:10] in html
    for artifact in statement_of(built.first)["predicate"]["artifacts"]:
        assert artifact["ciphertext"]["sha256"] in html
    # the custody log as the store keeps it: sealed, transferred, stored, and this access
    assert done.json["custody_entries"] == 4
    assert "counsel&#39;s review" in html and ">accessed</td>" in html
    assert "breach-report-" not in str(list(tmp_path.iterdir()))  # the fetched copy is gone


def test_a_tampered_object_in_the_store_stops_the_report_naming_it(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    uri = str(tmp_path / "locker")
    pushed = locker.push(
        locker.PushSettings(bundle=built.first, store=uri, signing_key=built.keys.signing_key)
    )
    target = next((tmp_path / "locker" / pushed.bundle_id / "data" / "receipts").glob("contain-*"))
    target.chmod(0o644)
    target.write_bytes(b"forged" + target.read_bytes()[6:])
    out = tmp_path / "report.html"
    args = ["report", "--store", uri, pushed.bundle_id, "--out", out, "--reason", "review"]
    args += ["--pubkey", built.keys.signing_pub]
    done = breach(*args, "--signing-key", built.keys.signing_key)
    assert done.exit_code == 1 and not out.exists()
    [line] = done.stderr.strip().splitlines()
    assert target.name in line and "Traceback" not in done.stderr
    missing = breach("report", "--store", uri, "no-such-bundle", "--out", out, "--reason", "x",
                     "--signing-key", built.keys.signing_key, "--pubkey", built.keys.signing_pub)  # fmt: skip
    assert missing.exit_code != 0 and "no-such-bundle" in missing.stderr
    unsaid = breach("report", "--store", uri, pushed.bundle_id, "--out", out,
                    "--signing-key", built.keys.signing_key)  # fmt: skip
    assert unsaid.exit_code == 2 and "--reason" in unsaid.stderr and not out.exists()
