"""Survivors of mutmut on manifests/verify.py, group V3 (issue 16): the report's JSON, a step
that raises, the bag declaration, and the payload and tag manifest checks' exact words."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from manifests import verify
from manifests.keys import GeneratedKeys, keyid, load_public_key_file
from manifests.verify import Check, Report, load_trusted, verify_bundle


def _verify(bundle: Path, keys: GeneratedKeys) -> Report:
    return verify_bundle(bundle, load_trusted([keys.signing_pub], []))


def _check(report: Report, name: str) -> Check:
    [found] = [c for c in report.checks if c.name == name]
    return found


def _passed(name: str, detail: str) -> dict[str, object]:
    return {
        "name": name,
        "ok": True,
        "detail": detail,
        "problems": [],
        "waiver": None,
        "waived": False,
    }


def test_the_json_of_a_verified_bundle_names_every_field_and_every_check(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """--json is read by scripts: each key is spelled as documented, and each passed check
    says what it found in its own words."""
    bundle = fresh_copy()
    report = _verify(bundle, keys)
    bundle_id = report.bundle_id
    assert bundle_id and bundle_id.startswith("INC-1-")
    signer = keyid(load_public_key_file(keys.signing_pub))
    assert report.to_dict() == {
        "bundle": str(bundle),
        "bundle_id": bundle_id,
        "ok": True,
        "verdict": "verified",
        "headline": f"VERIFIED: bundle {bundle_id}, signed by a trusted sealer key",
        "signer_checked": True,
        "not_checked": [],
        "waived": [],
        "notes": [f"the folder is named {bundle.name!r}; the signed bundle id is {bundle_id!r}"],
        "checks": [
            _passed("bag declaration", "BagIt 1.0, UTF-8, data/ present"),
            _passed(
                "evidence files (payload manifest)",
                "3 file(s) match their sha256, none missing or added",
            ),
            _passed("bundle metadata (tag manifest)", "6 metadata file(s) unchanged"),
            _passed(
                "nothing unlisted in the bag",
                "only listed regular files, no links or special files",
            ),
            _passed("signer identity", f"signed by trusted sealer key {signer}"),
            _passed("signature over the statement", f"valid signature by key {signer[:16]}…"),
            _passed("statement matches the files", "3 signed subject(s) match the manifest"),
            _passed("link to the previous bundle", "first bundle of its case (no previous bundle)"),
            _passed("chain of custody", "1 signed, chained event(s): sealed"),
            _passed("custody signers", "the sealing by the statement's signer"),
        ],
    }


def test_a_linked_bagit_txt_fails_the_bag_check_by_name_and_the_other_checks_still_report(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, tmp_path: Path
) -> None:
    """The refusal to follow the link is raised inside the bag check: it fails that check,
    named, with the refusal as its detail, in the report and its JSON."""
    bundle = fresh_copy()
    genuine = tmp_path / "genuine-bagit.txt"
    (bundle / "bagit.txt").rename(genuine)
    (bundle / "bagit.txt").symlink_to(genuine)
    report = _verify(bundle, keys)
    failed = {
        "name": "bag declaration",
        "ok": False,
        "detail": "bagit.txt is a symbolic link; refusing to follow it",
        "problems": [],
        "waiver": None,
        "waived": False,
    }
    as_json = report.to_dict()
    assert as_json["checks"][0] == failed
    assert len(as_json["checks"]) == 10
    assert _check(report, "bundle metadata (tag manifest)").problems == [
        "bagit.txt: listed but missing"
    ]
    assert as_json["verdict"] == "failed"
    assert as_json["headline"].startswith(
        f"NOT VERIFIED: bundle {report.bundle_id}: failed: bag declaration, "
    )


def test_a_tag_manifest_name_the_system_cannot_open_fails_that_check_as_unreadable(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    """An OS error while hashing (a name too long to open) fails the tag manifest check with
    the system's reason, never the whole run."""
    bundle = fresh_copy()
    manifest = bundle / "tagmanifest-sha256.txt"
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  {'x' * 300}\n")
    report = _verify(bundle, keys)
    assert report.to_dict()["checks"][2] == {
        "name": "bundle metadata (tag manifest)",
        "ok": False,
        "detail": "cannot read the bundle: File name too long",
        "problems": [],
        "waiver": None,
        "waived": False,
    }
    assert _check(report, "bag declaration").ok is True
    assert report.verdict.state == "failed"


def test_a_data_file_instead_of_the_data_folder_fails_the_bag_declaration_and_says_so(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, tmp_path: Path
) -> None:
    bundle = fresh_copy()
    (bundle / "data").rename(tmp_path / "moved-data")
    (bundle / "data").write_text("not a folder\n")
    check = _check(_verify(bundle, keys), "bag declaration")
    assert (check.ok, check.detail, check.problems) == (
        False,
        "the bag is not BagIt 1.0",
        ["data/ is not a folder (a link or a file)"],
    )


def test_a_changed_evidence_file_names_both_digests_to_16_characters(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    target = bundle / "data" / "users.csv.age"
    sealed = hashlib.sha256(target.read_bytes()).hexdigest()
    target.write_bytes(b"an attacker's version of the encrypted file")
    now = hashlib.sha256(target.read_bytes()).hexdigest()
    check = _check(_verify(bundle, keys), "evidence files (payload manifest)")
    assert (check.ok, check.detail, check.problems) == (
        False,
        "1 evidence file(s) differ from the manifest",
        [f"data/users.csv.age: content changed (sha256 {now[:16]}…, manifest says {sealed[:16]}…)"],
    )


def test_an_evidence_file_that_vanishes_while_it_is_checked_is_reported_without_a_digest(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file deleted after the payload check listed the folder and before it hashed the file
    (another process in the bag while verify runs): it is named as changed, with '?' for the
    digest it no longer has, never a crash. The deletion is made right after the real listing,
    where a race would make it."""
    bundle = fresh_copy()
    vanishing = bundle / "data" / "zz-vanishes"
    vanishing.write_text("here when the folder is listed\n")
    listed = hashlib.sha256(vanishing.read_bytes()).hexdigest()
    manifest = bundle / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text() + f"{listed}  data/zz-vanishes\n")
    list_files = verify._files_under

    def listed_then_deleted(root: Path, folder: str) -> set[str]:
        found = list_files(root, folder)
        vanishing.unlink(missing_ok=True)
        return found

    monkeypatch.setattr(verify, "_files_under", listed_then_deleted)
    check = _check(_verify(bundle, keys), "evidence files (payload manifest)")
    assert (check.ok, check.detail, check.problems) == (
        False,
        "1 evidence file(s) differ from the manifest",
        [f"data/zz-vanishes: content changed (sha256 ?…, manifest says {listed[:16]}…)"],
    )


def test_a_changed_metadata_file_fails_the_tag_manifest_check_in_words(
    fresh_copy: Callable[[], Path], keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    info = bundle / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: someone else\n")
    check = _check(_verify(bundle, keys), "bundle metadata (tag manifest)")
    assert (check.ok, check.detail, check.problems) == (
        False,
        "bundle metadata files were changed",
        ["bag-info.txt: changed since sealing (sha256 differs from the tag manifest)"],
    )
